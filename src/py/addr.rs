//! Socket addresses as the `socket` module writes them, turned into the
//! `sockaddr` bytes the kernel reads, and back (`address`, for what a
//! `recvmsg` reports). Numeric hosts only: resolving names would block,
//! which is what io_uring is meant to avoid.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

/// A socket address ready to hand to the kernel.
pub struct SockAddr {
    pub storage: libc::sockaddr_storage,
    pub len: u32,
}

/// The address family of socket `fd` (SO_DOMAIN), if it is a socket.
fn socket_family(fd: i32) -> Option<i32> {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: domain/len are valid out-parameters of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(domain)
}

/// Converts `address` for socket `fd`: the socket's own family decides the
/// form, as `socket.connect` does; for a non-socket fd the form is guessed
/// and the kernel's ENOTSOCK arrives in the completion.
pub fn sockaddr(fd: i32, address: &Bound<'_, PyAny>) -> PyResult<SockAddr> {
    let family = socket_family(fd).unwrap_or_else(|| guess_family(address));
    match family {
        libc::AF_INET => inet(address),
        libc::AF_INET6 => inet6(address),
        libc::AF_UNIX => unix(address),
        other => Err(PyValueError::new_err(format!(
            "address family {other} is not supported (AF_INET, AF_INET6 and AF_UNIX are)"
        ))),
    }
}

fn guess_family(address: &Bound<'_, PyAny>) -> i32 {
    match address.cast::<PyTuple>() {
        Ok(t) if t.len() == 2 => match t.get_item(0).and_then(|h| h.extract::<String>()) {
            Ok(h) if h.contains(':') => libc::AF_INET6,
            _ => libc::AF_INET,
        },
        Ok(_) => libc::AF_INET6,
        Err(_) => libc::AF_UNIX,
    }
}

fn empty() -> SockAddr {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    SockAddr {
        storage: unsafe { std::mem::zeroed() },
        len: 0,
    }
}

fn host_port<'py>(
    address: &Bound<'py, PyAny>,
    what: &str,
    max: usize,
) -> PyResult<(String, u16, Bound<'py, PyTuple>)> {
    let t = address.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} address must be a tuple (host, port), got {}",
            address.get_type()
        ))
    })?;
    if t.len() < 2 || t.len() > max {
        return Err(PyTypeError::new_err(format!(
            "{what} address must be a tuple of 2{} items, got {}",
            if max > 2 { " to 4" } else { "" },
            t.len()
        )));
    }
    let host: String = t
        .get_item(0)?
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{what} host must be a str")))?;
    let port: i64 = t
        .get_item(1)?
        .extract()
        .map_err(|_| PyTypeError::new_err("port must be an int"))?;
    let port = u16::try_from(port)
        .map_err(|_| PyOverflowError::new_err(format!("port must be 0-65535, got {port}")))?;
    Ok((host, port, t.clone()))
}

fn not_numeric(host: &str, what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "{host:?} is not a numeric {what} address; uring_rs does not resolve names (that would \
         block): resolve it first, e.g. with socket.getaddrinfo"
    ))
}

fn inet(address: &Bound<'_, PyAny>) -> PyResult<SockAddr> {
    let (host, port, _) = host_port(address, "AF_INET", 2)?;
    let ip = match host.as_str() {
        "" => Ipv4Addr::UNSPECIFIED,
        "<broadcast>" => Ipv4Addr::BROADCAST,
        h => h.parse::<Ipv4Addr>().map_err(|_| not_numeric(h, "IPv4"))?,
    };
    let mut out = empty();
    // SAFETY: sockaddr_in fits in sockaddr_storage, which is suitably aligned.
    let sin = unsafe { &mut *(&mut out.storage as *mut _ as *mut libc::sockaddr_in) };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = port.to_be();
    sin.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
    out.len = std::mem::size_of::<libc::sockaddr_in>() as u32;
    Ok(out)
}

fn inet6(address: &Bound<'_, PyAny>) -> PyResult<SockAddr> {
    let (host, port, t) = host_port(address, "AF_INET6", 4)?;
    let flowinfo: u32 = if t.len() > 2 {
        t.get_item(2)?.extract()?
    } else {
        0
    };
    let mut scope_id: u32 = if t.len() > 3 {
        t.get_item(3)?.extract()?
    } else {
        0
    };
    let (addr_part, scope) = match host.split_once('%') {
        Some((a, s)) => (a, Some(s)),
        None => (host.as_str(), None),
    };
    let ip = if addr_part.is_empty() {
        Ipv6Addr::UNSPECIFIED
    } else {
        addr_part
            .parse::<Ipv6Addr>()
            .map_err(|_| not_numeric(&host, "IPv6"))?
    };
    if let Some(s) = scope {
        scope_id = match s.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let c = std::ffi::CString::new(s).map_err(|_| not_numeric(&host, "IPv6"))?;
                // SAFETY: c is a valid NUL-terminated string.
                let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
                if idx == 0 {
                    return Err(PyValueError::new_err(format!(
                        "unknown interface {s:?} in {host:?}"
                    )));
                }
                idx
            }
        };
    }
    let mut out = empty();
    // SAFETY: sockaddr_in6 fits in sockaddr_storage, which is suitably aligned.
    let sin6 = unsafe { &mut *(&mut out.storage as *mut _ as *mut libc::sockaddr_in6) };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = port.to_be();
    sin6.sin6_flowinfo = flowinfo.to_be();
    sin6.sin6_addr.s6_addr = ip.octets();
    sin6.sin6_scope_id = scope_id;
    out.len = std::mem::size_of::<libc::sockaddr_in6>() as u32;
    Ok(out)
}

fn unix(address: &Bound<'_, PyAny>) -> PyResult<SockAddr> {
    let path: Vec<u8> = if let Ok(b) = address.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if address.is_instance_of::<PyString>() || address.hasattr("__fspath__")? {
        let p: PathBuf = address.extract()?;
        p.as_os_str().as_bytes().to_vec()
    } else {
        return Err(PyTypeError::new_err(format!(
            "AF_UNIX address must be str, bytes or os.PathLike, got {}",
            address.get_type()
        )));
    };
    let mut out = empty();
    // SAFETY: sockaddr_un fits in sockaddr_storage, which is suitably aligned.
    let sun = unsafe { &mut *(&mut out.storage as *mut _ as *mut libc::sockaddr_un) };
    let abstract_ns = path.first() == Some(&0);
    // A filesystem path needs room for its terminating NUL; an abstract one
    // (leading NUL) is taken as is.
    let room = sun.sun_path.len() - usize::from(!abstract_ns);
    if path.len() > room {
        return Err(PyValueError::new_err(format!(
            "AF_UNIX path too long: {} bytes, at most {room}",
            path.len()
        )));
    }
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in sun.sun_path.iter_mut().zip(&path) {
        *d = *s as libc::c_char;
    }
    let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    out.len = (base + path.len() + usize::from(!abstract_ns && !path.is_empty())) as u32;
    Ok(out)
}

/// The `socket` module's form of the `len` bytes of `sa` the kernel wrote:
/// `(host, port)` for AF_INET, `(host, port, flowinfo, scope_id)` for
/// AF_INET6, a path (`str`, or `bytes` for Linux's abstract namespace) for
/// AF_UNIX; `None` for no address. None (the Rust value) for other families.
pub fn address<'py>(
    py: Python<'py>,
    sa: &libc::sockaddr_storage,
    len: u32,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if len == 0 {
        return Ok(Some(py.None().into_bound(py)));
    }
    let p = sa as *const libc::sockaddr_storage;
    match sa.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (its family says so)
            // into storage large enough for any address.
            let a = unsafe { &*(p as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            let t = (ip.to_string(), u16::from_be(a.sin_port));
            Ok(Some(t.into_pyobject(py)?.into_any()))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let a = unsafe { &*(p as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let t = (
                ip.to_string(),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            );
            Ok(Some(t.into_pyobject(py)?.into_any()))
        }
        libc::AF_UNIX => {
            // SAFETY: as above, a sockaddr_un.
            let a = unsafe { &*(p as *const libc::sockaddr_un) };
            let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
            let n = (len as usize).saturating_sub(base).min(a.sun_path.len());
            let path: Vec<u8> = a.sun_path[..n].iter().map(|&c| c as u8).collect();
            if n > 0 && path[0] == 0 {
                return Ok(Some(PyBytes::new(py, &path).into_any()));
            }
            // A regular path ends at its NUL, as the socket module reads it.
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            let os = std::ffi::OsStr::from_bytes(&path[..end]);
            Ok(Some(os.into_pyobject(py)?.into_any()))
        }
        _ => Ok(None),
    }
}
