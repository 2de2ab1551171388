//! Objects the kernel writes into while an op runs, read from Python after
//! its completion: `Statx` (statx), `MsgHdr` (recvmsg's flags, source
//! address and ancillary data) and `Siginfo` (waitid).
//!
//! Their memory is a heap block owned by the object, never moved or freed
//! while an op uses it: the op's slot holds a [`Claim`], which keeps the
//! object alive and marks it busy until the op's final completion has been
//! consumed. A busy object cannot be handed to a second op (ValueError), so
//! two ops never share one. Reads from Python are volatile copies: reading
//! while the op is still in flight gives stale or torn values, never UB,
//! because the memory stays valid and is only ever accessed through raw
//! pointers (the cell is an `UnsafeCell`).

use std::cell::UnsafeCell;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::engine::sys;

/// Plain old data: any bit pattern (all zeroes included) is a valid value.
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of integers, raw pointers and
/// arrays of them.
pub unsafe trait Pod: Copy {}
// SAFETY: repr(C) integer structs.
unsafe impl Pod for sys::Statx {}
// SAFETY: as above.
unsafe impl Pod for sys::Siginfo {}
// SAFETY: msghdr (pointers, lengths, flags) and sockaddr_storage (bytes).
unsafe impl Pod for MsgMem {}

/// One `T` on the heap that the kernel may write at any time while an op
/// holds it; accessed only through raw pointers.
pub struct KernelBox<T: Pod> {
    cell: Box<UnsafeCell<T>>,
}

// SAFETY: the cell is only accessed through volatile reads and writes of
// plain data, by whichever thread holds the GIL (the module is not
// free-threaded) and by the kernel; nothing hands out references into it.
unsafe impl<T: Pod> Send for KernelBox<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Sync for KernelBox<T> {}

impl<T: Pod> KernelBox<T> {
    fn zeroed() -> Self {
        // SAFETY: T is Pod, for which all-zero is a valid value.
        KernelBox {
            cell: Box::new(UnsafeCell::new(unsafe { std::mem::zeroed() })),
        }
    }

    /// The address handed to the kernel.
    pub fn ptr(&self) -> *mut T {
        self.cell.get()
    }

    /// A copy of the current contents.
    fn snapshot(&self) -> T {
        // SAFETY: the box is live, aligned and initialised; volatile because
        // the kernel may write it behind the compiler's back.
        unsafe { self.ptr().read_volatile() }
    }

    /// Overwrites the contents (only while no op holds the object).
    pub fn store(&self, value: T) {
        // SAFETY: as in snapshot; the caller holds the object's Claim, so no
        // kernel op writes it concurrently.
        unsafe { self.ptr().write_volatile(value) }
    }
}

/// A byte area (8-aligned) the kernel writes: recvmsg's control buffer.
pub struct KernelBytes {
    cells: Box<[UnsafeCell<u64>]>,
    len: usize,
}

// SAFETY: as for KernelBox.
unsafe impl Send for KernelBytes {}
// SAFETY: as for KernelBox.
unsafe impl Sync for KernelBytes {}

impl KernelBytes {
    fn zeroed(len: usize) -> Self {
        let cells = (0..len.div_ceil(8)).map(|_| UnsafeCell::new(0)).collect();
        KernelBytes { cells, len }
    }

    /// The address handed to the kernel (null when empty); its provenance
    /// covers the whole slice.
    pub fn ptr(&self) -> *mut u8 {
        if self.len == 0 {
            std::ptr::null_mut()
        } else {
            self.cells.as_ptr().cast::<u8>().cast_mut()
        }
    }

    /// A copy of the first `n` bytes (at most the area's length).
    fn snapshot(&self, n: usize) -> Vec<u8> {
        let p = self.ptr();
        (0..n.min(self.len))
            // SAFETY: i < len, inside the live allocation; the bytes sit in
            // UnsafeCells, so writing them through the kernel is allowed.
            .map(|i| unsafe { p.add(i).read_volatile() })
            .collect()
    }
}

/// Marks an out-parameter object as used by one op. Lives in the op's slot
/// (`Keep.obj`); dropping it (when the op's final completion is consumed)
/// releases the object. If the ring cannot confirm the op finished, the
/// slot is leaked and the object stays busy and alive forever, as it must.
#[pyclass(frozen, module = "uring_rs._native")]
pub struct Claim {
    _owner: Py<PyAny>,
    busy: Arc<AtomicBool>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.busy.store(false, Ordering::Release);
    }
}

/// Marks `owner` busy for one op; the returned object goes in `Keep.obj`.
fn claim(owner: &Bound<'_, PyAny>, busy: &Arc<AtomicBool>, what: &str) -> PyResult<Py<PyAny>> {
    if busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Err(PyValueError::new_err(format!(
            "this {what} is in use by an op in flight: wait for its completion, or use another {what}"
        )));
    }
    let guard = Claim {
        _owner: owner.clone().unbind(),
        busy: busy.clone(),
    };
    // If this fails, `guard` is dropped and releases the claim.
    Ok(Py::new(owner.py(), guard)?.into_any())
}

fn seconds(ts: sys::StatxTimestamp) -> f64 {
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn nanoseconds(ts: sys::StatxTimestamp) -> i128 {
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// The result of `ops.statx`: `Statx()` makes an empty one (all zero);
/// pass it as `statxbuf` and read the fields once the completion has been
/// consumed. Fields outside the returned `mask` are zero.
#[pyclass(frozen, weakref, module = "uring_rs", name = "Statx")]
pub struct Statx {
    mem: KernelBox<sys::Statx>,
    busy: Arc<AtomicBool>,
}

impl Statx {
    /// Claims `obj` (a `Statx`) for one op: returns the Claim to keep and
    /// the address for the kernel.
    pub fn claim(obj: &Bound<'_, Statx>) -> PyResult<(Py<PyAny>, u64)> {
        let s = obj.get();
        let guard = claim(obj.as_any(), &s.busy, "Statx")?;
        Ok((guard, s.mem.ptr() as u64))
    }

    /// Clears the previous result, once the op is queued (under its Claim).
    pub fn reset(&self) {
        self.mem.store(sys::Statx::default());
    }

    fn get(&self) -> sys::Statx {
        self.mem.snapshot()
    }
}

#[pymethods]
impl Statx {
    #[new]
    fn new() -> Self {
        Statx {
            mem: KernelBox::zeroed(),
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// An op holding this object has not finished (its final completion
    /// has not been consumed): the fields are not final.
    #[getter]
    fn in_flight(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
    /// `STATX_*` bits: which fields the kernel filled in.
    #[getter]
    fn mask(&self) -> u32 {
        self.get().stx_mask
    }
    /// Preferred I/O block size (`st_blksize`).
    #[getter]
    fn blksize(&self) -> u32 {
        self.get().stx_blksize
    }
    /// `STATX_ATTR_*` bits.
    #[getter]
    fn attributes(&self) -> u64 {
        self.get().stx_attributes
    }
    /// Which `STATX_ATTR_*` bits the filesystem supports.
    #[getter]
    fn attributes_mask(&self) -> u64 {
        self.get().stx_attributes_mask
    }
    /// Number of hard links.
    #[getter]
    fn nlink(&self) -> u32 {
        self.get().stx_nlink
    }
    /// Owner's user id.
    #[getter]
    fn uid(&self) -> u32 {
        self.get().stx_uid
    }
    /// Owner's group id.
    #[getter]
    fn gid(&self) -> u32 {
        self.get().stx_gid
    }
    /// File type and permission bits, as `os.stat_result.st_mode`.
    #[getter]
    fn mode(&self) -> u16 {
        self.get().stx_mode
    }
    /// Inode number.
    #[getter]
    fn ino(&self) -> u64 {
        self.get().stx_ino
    }
    /// Size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.get().stx_size
    }
    /// Number of 512-byte blocks allocated.
    #[getter]
    fn blocks(&self) -> u64 {
        self.get().stx_blocks
    }
    /// Last access, in seconds since the epoch.
    #[getter]
    fn atime(&self) -> f64 {
        seconds(self.get().stx_atime)
    }
    /// Last access, in nanoseconds since the epoch.
    #[getter]
    fn atime_ns(&self) -> i128 {
        nanoseconds(self.get().stx_atime)
    }
    /// Creation (birth) time, in seconds (`STATX_BTIME`).
    #[getter]
    fn btime(&self) -> f64 {
        seconds(self.get().stx_btime)
    }
    /// Creation (birth) time, in nanoseconds.
    #[getter]
    fn btime_ns(&self) -> i128 {
        nanoseconds(self.get().stx_btime)
    }
    /// Last status change, in seconds.
    #[getter]
    fn ctime(&self) -> f64 {
        seconds(self.get().stx_ctime)
    }
    /// Last status change, in nanoseconds.
    #[getter]
    fn ctime_ns(&self) -> i128 {
        nanoseconds(self.get().stx_ctime)
    }
    /// Last modification, in seconds.
    #[getter]
    fn mtime(&self) -> f64 {
        seconds(self.get().stx_mtime)
    }
    /// Last modification, in nanoseconds.
    #[getter]
    fn mtime_ns(&self) -> i128 {
        nanoseconds(self.get().stx_mtime)
    }
    /// Major number of the device this file is (device files).
    #[getter]
    fn rdev_major(&self) -> u32 {
        self.get().stx_rdev_major
    }
    /// Minor number of the device this file is.
    #[getter]
    fn rdev_minor(&self) -> u32 {
        self.get().stx_rdev_minor
    }
    /// Major number of the device holding the file.
    #[getter]
    fn dev_major(&self) -> u32 {
        self.get().stx_dev_major
    }
    /// Minor number of the device holding the file.
    #[getter]
    fn dev_minor(&self) -> u32 {
        self.get().stx_dev_minor
    }
    /// `dev_major`/`dev_minor` combined, as `os.stat_result.st_dev`.
    #[getter]
    fn dev(&self) -> u64 {
        let s = self.get();
        libc::makedev(s.stx_dev_major, s.stx_dev_minor)
    }
    /// `rdev_major`/`rdev_minor` combined, as `os.stat_result.st_rdev`.
    #[getter]
    fn rdev(&self) -> u64 {
        let s = self.get();
        libc::makedev(s.stx_rdev_major, s.stx_rdev_minor)
    }
    /// Mount id (`STATX_MNT_ID`, `STATX_MNT_ID_UNIQUE`).
    #[getter]
    fn mnt_id(&self) -> u64 {
        self.get().stx_mnt_id
    }
    /// Memory alignment O_DIRECT needs (`STATX_DIOALIGN`).
    #[getter]
    fn dio_mem_align(&self) -> u32 {
        self.get().stx_dio_mem_align
    }
    /// File offset alignment O_DIRECT needs (`STATX_DIOALIGN`).
    #[getter]
    fn dio_offset_align(&self) -> u32 {
        self.get().stx_dio_offset_align
    }
    /// File offset alignment O_DIRECT reads need (`STATX_DIO_READ_ALIGN`).
    #[getter]
    fn dio_read_offset_align(&self) -> u32 {
        self.get().stx_dio_read_offset_align
    }
    /// Subvolume id (`STATX_SUBVOL`, btrfs and bcachefs).
    #[getter]
    fn subvol(&self) -> u64 {
        self.get().stx_subvol
    }
    /// Smallest atomic write, in bytes (`STATX_WRITE_ATOMIC`).
    #[getter]
    fn atomic_write_unit_min(&self) -> u32 {
        self.get().stx_atomic_write_unit_min
    }
    /// Largest atomic write, in bytes.
    #[getter]
    fn atomic_write_unit_max(&self) -> u32 {
        self.get().stx_atomic_write_unit_max
    }
    /// Largest atomic write that performs well, in bytes.
    #[getter]
    fn atomic_write_unit_max_opt(&self) -> u32 {
        self.get().stx_atomic_write_unit_max_opt
    }
    /// Most iovec segments an atomic write may have.
    #[getter]
    fn atomic_write_segments_max(&self) -> u32 {
        self.get().stx_atomic_write_segments_max
    }

    fn __repr__(&self) -> String {
        let s = self.get();
        format!(
            "<uring_rs.Statx mask={:#x} mode={:#o} ino={} size={} nlink={}{}>",
            s.stx_mask,
            s.stx_mode,
            s.stx_ino,
            s.stx_size,
            s.stx_nlink,
            if self.in_flight() { " in_flight" } else { "" }
        )
    }
}

/// recvmsg's header and the source address it fills in, side by side.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MsgMem {
    pub hdr: libc::msghdr,
    pub name: libc::sockaddr_storage,
}

/// What `ops.recvmsg` fills in besides the data: `MsgHdr(controllen=0)`
/// makes one with room for `controllen` bytes of ancillary data; pass it as
/// `msg`, then read `flags` (`MSG_TRUNC`, `MSG_CTRUNC`, ...), `address`
/// (the sender, as the socket module writes addresses, or None) and
/// `ancdata` (`[(level, type, data)]`, as `socket.recvmsg` returns it) once
/// the completion has been consumed.
#[pyclass(frozen, weakref, module = "uring_rs", name = "MsgHdr")]
pub struct MsgHdr {
    mem: KernelBox<MsgMem>,
    control: KernelBytes,
    busy: Arc<AtomicBool>,
}

/// The kernel refuses more (ENOBUFS) well before this (net.core.optmem_max).
const MAX_CONTROLLEN: usize = 1 << 20;

impl MsgHdr {
    /// Claims `obj` for one recvmsg: points its header at `iov` (`iovlen`
    /// entries, in the op's scratch memory) and at its own name and control
    /// areas. Returns the Claim to keep and the msghdr's address.
    pub fn claim(obj: &Bound<'_, MsgHdr>) -> PyResult<(Py<PyAny>, u64)> {
        let m = obj.get();
        let guard = claim(obj.as_any(), &m.busy, "MsgHdr")?;
        Ok((guard, m.mem.ptr() as u64))
    }

    /// Fills in the header for one op (under the op's Claim).
    pub fn prepare(&self, iov: u64, iovlen: usize) {
        // SAFETY: MsgMem is Pod; all-zero is valid.
        let mut mem: MsgMem = unsafe { std::mem::zeroed() };
        // SAFETY: a pointer into our own live allocation, computed without
        // creating a reference.
        let name = unsafe { std::ptr::addr_of_mut!((*self.mem.ptr()).name) };
        mem.hdr.msg_name = name.cast();
        mem.hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        mem.hdr.msg_iov = iov as *mut libc::iovec;
        mem.hdr.msg_iovlen = iovlen as _;
        mem.hdr.msg_control = self.control.ptr().cast();
        mem.hdr.msg_controllen = self.control.len as _;
        self.mem.store(mem);
    }
}

/// `CMSG_ALIGN`: control messages are padded to the size of a `size_t`.
pub const fn cmsg_align(len: usize) -> usize {
    (len + std::mem::size_of::<usize>() - 1) & !(std::mem::size_of::<usize>() - 1)
}

/// `CMSG_LEN(0)`: the aligned header before a control message's data.
pub const CMSG_HDR: usize = cmsg_align(std::mem::size_of::<libc::cmsghdr>());

/// Splits control data into `(level, type, data)` as `socket.recvmsg` does
/// (a truncated last message keeps what arrived).
fn parse_cmsgs(control: &[u8]) -> Vec<(i32, i32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + CMSG_HDR <= control.len() {
        // SAFETY: cmsghdr is plain data (all-zero is valid), and the copy
        // reads size_of::<cmsghdr>() <= CMSG_HDR bytes inside `control`.
        let h = unsafe {
            let mut h: libc::cmsghdr = std::mem::zeroed();
            std::ptr::copy_nonoverlapping(
                control.as_ptr().add(off),
                (&mut h as *mut libc::cmsghdr).cast::<u8>(),
                std::mem::size_of::<libc::cmsghdr>(),
            );
            h
        };
        let len = h.cmsg_len as usize;
        if len < CMSG_HDR {
            break;
        }
        let end = off.saturating_add(len).min(control.len());
        out.push((
            h.cmsg_level,
            h.cmsg_type,
            control[off + CMSG_HDR..end].to_vec(),
        ));
        off = off.saturating_add(cmsg_align(len));
    }
    out
}

/// A `sockaddr` as the socket module returns it (`makesockaddr`).
fn sockaddr_to_py<'py>(
    py: Python<'py>,
    storage: &libc::sockaddr_storage,
    len: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let len = len.min(std::mem::size_of::<libc::sockaddr_storage>());
    if len == 0 {
        return Ok(py.None().into_bound(py));
    }
    let p = (storage as *const libc::sockaddr_storage).cast::<u8>();
    // SAFETY: storage is a live sockaddr_storage of at least `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(p, len) };
    match storage.ss_family as i32 {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: sockaddr_storage is larger than and as aligned as
            // sockaddr_in, and the family says this is one.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Ok(PyTuple::new(
                py,
                [
                    ip.to_string().into_pyobject(py)?.into_any(),
                    u16::from_be(sin.sin_port).into_pyobject(py)?.into_any(),
                ],
            )?
            .into_any())
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(PyTuple::new(
                py,
                [
                    ip.to_string().into_pyobject(py)?.into_any(),
                    u16::from_be(sin6.sin6_port).into_pyobject(py)?.into_any(),
                    u32::from_be(sin6.sin6_flowinfo)
                        .into_pyobject(py)?
                        .into_any(),
                    sin6.sin6_scope_id.into_pyobject(py)?.into_any(),
                ],
            )?
            .into_any())
        }
        libc::AF_UNIX => {
            let path = bytes
                .get(std::mem::offset_of!(libc::sockaddr_un, sun_path)..)
                .unwrap_or_default();
            if path.first() == Some(&0) {
                // Linux's abstract namespace: the bytes as they are.
                Ok(PyBytes::new(py, path).into_any())
            } else {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                Ok(OsStr::from_bytes(&path[..end])
                    .into_pyobject(py)?
                    .into_any())
            }
        }
        family => Ok(PyTuple::new(
            py,
            [
                family.into_pyobject(py)?.into_any(),
                PyBytes::new(py, bytes).into_any(),
            ],
        )?
        .into_any()),
    }
}

#[pymethods]
impl MsgHdr {
    #[new]
    #[pyo3(signature = (controllen = 0))]
    fn new(controllen: i64) -> PyResult<Self> {
        let controllen = usize::try_from(controllen)
            .ok()
            .filter(|&n| n <= MAX_CONTROLLEN)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "controllen must be in 0..{MAX_CONTROLLEN}, got {controllen}"
                ))
            })?;
        Ok(MsgHdr {
            mem: KernelBox::zeroed(),
            control: KernelBytes::zeroed(controllen),
            busy: Arc::new(AtomicBool::new(false)),
        })
    }

    /// An op holding this object has not finished.
    #[getter]
    fn in_flight(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// Room for ancillary data, in bytes.
    #[getter]
    fn controllen(&self) -> usize {
        self.control.len
    }

    /// `msg_flags` from the last recvmsg (`socket.MSG_TRUNC`, ...), without
    /// the `MSG_CMSG_CLOEXEC` the kernel echoes back (an input flag, which
    /// recvmsg always adds).
    #[getter]
    fn flags(&self) -> i32 {
        self.mem.snapshot().hdr.msg_flags & !libc::MSG_CMSG_CLOEXEC
    }

    /// The sender's address, as `socket.recvfrom` returns it (None when
    /// the socket reports none, as for a connected stream).
    #[getter]
    fn address<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mem = self.mem.snapshot();
        let len = if mem.hdr.msg_name.is_null() {
            0
        } else {
            mem.hdr.msg_namelen as usize
        };
        sockaddr_to_py(py, &mem.name, len)
    }

    /// Ancillary data as `socket.recvmsg` returns it: a list of
    /// `(level, type, data)`.
    #[getter]
    fn ancdata(&self) -> Vec<(i32, i32, Vec<u8>)> {
        // msg_controllen is a size_t with glibc, a socklen_t with musl.
        #[allow(clippy::unnecessary_cast)]
        let used = self.mem.snapshot().hdr.msg_controllen as usize;
        let used = if self.control.len == 0 { 0 } else { used };
        parse_cmsgs(&self.control.snapshot(used))
    }

    fn __repr__(&self) -> String {
        format!(
            "<uring_rs.MsgHdr controllen={} flags={:#x}{}>",
            self.control.len,
            self.flags(),
            if self.in_flight() { " in_flight" } else { "" }
        )
    }
}

/// What `ops.waitid` fills in: `Siginfo()` makes an empty one; pass it as
/// `infop` and read the fields (named as `os.waitid`'s result) once the
/// completion has been consumed.
#[pyclass(frozen, weakref, module = "uring_rs", name = "Siginfo")]
pub struct Siginfo {
    mem: KernelBox<sys::Siginfo>,
    busy: Arc<AtomicBool>,
}

impl Siginfo {
    pub fn claim(obj: &Bound<'_, Siginfo>) -> PyResult<(Py<PyAny>, u64)> {
        let s = obj.get();
        let guard = claim(obj.as_any(), &s.busy, "Siginfo")?;
        Ok((guard, s.mem.ptr() as u64))
    }

    /// Clears the previous result, once the op is queued (under its Claim).
    pub fn reset(&self) {
        self.mem.store(sys::Siginfo::default());
    }
}

#[pymethods]
impl Siginfo {
    #[new]
    fn new() -> Self {
        Siginfo {
            mem: KernelBox::zeroed(),
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// An op holding this object has not finished (its final completion
    /// has not been consumed): the fields are not final.
    #[getter]
    fn in_flight(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
    /// `signal.SIGCHLD` when a child changed state, 0 when none had (WNOHANG).
    #[getter]
    fn si_signo(&self) -> i32 {
        self.mem.snapshot().si_signo
    }
    /// `os.CLD_EXITED`, `os.CLD_KILLED`, ...
    #[getter]
    fn si_code(&self) -> i32 {
        self.mem.snapshot().si_code
    }
    /// The child's process id.
    #[getter]
    fn si_pid(&self) -> i32 {
        self.mem.snapshot().si_pid
    }
    /// The child's real user id.
    #[getter]
    fn si_uid(&self) -> u32 {
        self.mem.snapshot().si_uid
    }
    /// The exit status, or the signal that stopped or killed the child.
    #[getter]
    fn si_status(&self) -> i32 {
        self.mem.snapshot().si_status
    }

    fn __repr__(&self) -> String {
        let s = self.mem.snapshot();
        format!(
            "<uring_rs.Siginfo si_signo={} si_code={} si_pid={} si_status={}{}>",
            s.si_signo,
            s.si_code,
            s.si_pid,
            s.si_status,
            if self.in_flight() { " in_flight" } else { "" }
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Statx>()?;
    m.add_class::<MsgHdr>()?;
    m.add_class::<Siginfo>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmsgs_parse_like_socket_recvmsg() {
        let mut buf = vec![0u8; 2 * CMSG_HDR + 16];
        let put = |buf: &mut Vec<u8>, off: usize, len: usize, level: i32, kind: i32| {
            buf[off..off + 8].copy_from_slice(&(len as u64).to_ne_bytes());
            buf[off + 8..off + 12].copy_from_slice(&level.to_ne_bytes());
            buf[off + 12..off + 16].copy_from_slice(&kind.to_ne_bytes());
        };
        put(&mut buf, 0, CMSG_HDR + 4, 1, 1);
        buf[CMSG_HDR..CMSG_HDR + 4].copy_from_slice(&7i32.to_ne_bytes());
        put(&mut buf, CMSG_HDR + 8, CMSG_HDR + 8, 0, 2);
        let got = parse_cmsgs(&buf);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (1, 1, 7i32.to_ne_bytes().to_vec()));
        assert_eq!(got[1].0, 0);
        assert_eq!(got[1].2.len(), 8);
        assert!(parse_cmsgs(&buf[..CMSG_HDR - 1]).is_empty());
    }
}
