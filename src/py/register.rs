//! `io_uring_register(2)`: registered files and buffers, the ring fd.
//!
//! Called from the thin `#[pymethods]` wrappers on `Ring` in pyring.rs.
//! Buffers registered with the kernel stay pinned (their exporting object
//! alive and unable to move) until unregistered or the ring is closed; an op
//! that uses one (read_fixed/write_fixed) pins the object again itself, so
//! unregistering while it is in flight cannot free its memory.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::engine::sys;
use crate::py::args;
use crate::py::error::register_error;
use crate::py::error::{Kind, UringErr};
use crate::py::keep::PinnedBuf;
use crate::py::ring::{RegBuf, Ring};

/// `struct io_uring_rsrc_register` (IORING_REGISTER_FILES2/BUFFERS2).
#[repr(C)]
#[derive(Default)]
struct RsrcRegister {
    nr: u32,
    flags: u32,
    resv2: u64,
    data: u64,
    tags: u64,
}

/// `struct io_uring_files_update`.
#[repr(C)]
struct FilesUpdate {
    offset: u32,
    resv: u32,
    fds: u64,
}

/// `struct io_uring_rsrc_update` (ring fd registration).
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

const _: () = {
    assert!(std::mem::size_of::<RsrcRegister>() == 32);
    assert!(std::mem::size_of::<FilesUpdate>() == 16);
    assert!(std::mem::size_of::<RsrcUpdate>() == 16);
};

const IORING_RSRC_REGISTER_SPARSE: u32 = 1 << 0;

fn fds_arg(fds: &Bound<'_, PyAny>) -> PyResult<Vec<i32>> {
    fds.try_iter()?
        .map(|item| {
            let item = item?;
            args::fd(&item, "fds[i]")
        })
        .collect()
}

fn call(ring: &Ring, what: &str, opcode: u32, arg: *const libc::c_void, nr: u32) -> PyResult<i32> {
    let raw = ring.raw()?;
    // SAFETY: every caller passes an `arg` that points to what `opcode`
    // expects, `nr` elements long, alive for the duration of the call; the
    // kernel copies it (files, eventfd, probe) or pins the memory it names
    // (buffers), which the caller keeps alive in `Held`.
    unsafe { raw.register(opcode, arg, nr) }.map_err(|e| register_error(what, e).into())
}

pub fn register_files(ring: &Ring, fds: &Bound<'_, PyAny>) -> PyResult<()> {
    let fds = fds_arg(fds)?;
    if fds.is_empty() {
        return Err(PyValueError::new_err(
            "register_files needs at least one fd (or use register_files_sparse)",
        ));
    }
    call(
        ring,
        "IORING_REGISTER_FILES",
        sys::IORING_REGISTER_FILES,
        fds.as_ptr().cast(),
        fds.len() as u32,
    )?;
    Ok(())
}

pub fn register_files_sparse(ring: &Ring, count: i64) -> PyResult<()> {
    let nr = args::count32(count, "count")?;
    let reg = RsrcRegister {
        nr,
        flags: IORING_RSRC_REGISTER_SPARSE,
        ..Default::default()
    };
    call(
        ring,
        "IORING_REGISTER_FILES2 (sparse)",
        sys::IORING_REGISTER_FILES2,
        (&reg as *const RsrcRegister).cast(),
        std::mem::size_of::<RsrcRegister>() as u32,
    )?;
    Ok(())
}

/// Replaces registered files from `offset` on (-1 clears a slot); returns
/// how many were updated.
pub fn register_files_update(ring: &Ring, offset: i64, fds: &Bound<'_, PyAny>) -> PyResult<i32> {
    let offset = args::count32(offset, "offset")?;
    let fds = fds_arg(fds)?;
    let up = FilesUpdate {
        offset,
        resv: 0,
        fds: fds.as_ptr() as u64,
    };
    call(
        ring,
        "IORING_REGISTER_FILES_UPDATE",
        sys::IORING_REGISTER_FILES_UPDATE,
        (&up as *const FilesUpdate).cast(),
        fds.len() as u32,
    )
}

pub fn unregister_files(ring: &Ring) -> PyResult<()> {
    call(
        ring,
        "IORING_UNREGISTER_FILES",
        sys::IORING_UNREGISTER_FILES,
        std::ptr::null(),
        0,
    )?;
    Ok(())
}

fn memlock_hint() -> String {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return String::new();
    }
    let show = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            format!("{v} bytes")
        }
    };
    format!(
        "; registered buffers are locked memory: RLIMIT_MEMLOCK is {} (hard limit {}), raise it \
         (ulimit -l, or resource.setrlimit(resource.RLIMIT_MEMLOCK, ...)) or register less",
        show(lim.rlim_cur),
        show(lim.rlim_max)
    )
}

pub fn register_buffers(ring: &Ring, buffers: &Bound<'_, PyAny>) -> PyResult<()> {
    let mut regs = Vec::new();
    for item in buffers.try_iter()? {
        let item = item?;
        // The kernel pins the pages for writing, so read-only memory fails.
        let pin = PinnedBuf::get(&item, true, "buffers")?;
        if pin.is_empty() {
            return Err(PyValueError::new_err("register_buffers: a buffer is empty"));
        }
        regs.push(RegBuf {
            obj: item.unbind(),
            pin,
        });
    }
    if regs.is_empty() {
        return Err(PyValueError::new_err(
            "register_buffers needs at least one buffer",
        ));
    }
    let iovecs: Vec<libc::iovec> = regs
        .iter()
        .map(|r| libc::iovec {
            iov_base: r.pin.ptr().cast(),
            iov_len: r.pin.len(),
        })
        .collect();
    let result = ring.with_held(|raw, _, held| {
        if !held.reg_bufs.is_empty() {
            return Err(UringErr::errno(
                Kind::ArgumentsInvalid,
                libc::EBUSY,
                "buffers are already registered: unregister_buffers() first",
            ));
        }
        // SAFETY: iovecs describe the pinned exports in `regs`, which move
        // into `held` on success and stay there until unregistered.
        match unsafe {
            raw.register(
                sys::IORING_REGISTER_BUFFERS,
                iovecs.as_ptr().cast(),
                iovecs.len() as u32,
            )
        } {
            Ok(_) => {
                held.reg_bufs = std::mem::take(&mut regs);
                Ok(())
            }
            Err(e) => {
                let mut err = register_error("IORING_REGISTER_BUFFERS", e);
                if e == libc::ENOMEM {
                    err.msg.push_str(&memlock_hint());
                }
                Err(err)
            }
        }
    })?;
    drop(regs); // released outside the lock (empty on success)
    result.map_err(Into::into)
}

pub fn unregister_buffers(ring: &Ring) -> PyResult<()> {
    let released = ring.with_held(|raw, _, held| {
        // SAFETY: UNREGISTER_BUFFERS takes no argument.
        unsafe { raw.register(sys::IORING_UNREGISTER_BUFFERS, std::ptr::null(), 0) }
            .map(|_| std::mem::take(&mut held.reg_bufs))
            .map_err(|e| register_error("IORING_UNREGISTER_BUFFERS", e))
    })??;
    // In-flight fixed ops hold their own pins; these can go.
    drop(released);
    Ok(())
}

/// The registered buffer `index`: its object (to pin again for an op), its
/// address and length.
pub fn registered_buffer(
    ring: &Ring,
    py: Python<'_>,
    index: u16,
) -> PyResult<(Py<PyAny>, u64, usize)> {
    ring.with_held(|_, _, held| {
        held.reg_bufs
            .get(index as usize)
            .map(|r| (r.obj.clone_ref(py), r.pin.ptr() as u64, r.pin.len()))
    })?
    .ok_or_else(|| {
        PyValueError::new_err(format!(
            "no registered buffer at index {index}: register_buffers() first"
        ))
    })
}

/// Registers the ring fd with the calling thread, so `enter` skips the fd
/// lookup (IORING_REGISTER_RING_FDS); returns the registered index.
pub fn register_ring_fd(ring: &Ring) -> PyResult<u32> {
    let raw = ring.raw()?;
    let mut up = RsrcUpdate {
        offset: u32::MAX,
        resv: 0,
        data: raw.fd as u64,
    };
    // SAFETY: one io_uring_rsrc_update, read and written by the kernel
    // during the call only.
    unsafe {
        raw.register(
            sys::IORING_REGISTER_RING_FDS,
            (&mut up as *mut RsrcUpdate).cast(),
            1,
        )
    }
    .map_err(|e| register_error("IORING_REGISTER_RING_FDS", e))?;
    raw.set_registered_index(Some(up.offset));
    Ok(up.offset)
}

pub fn unregister_ring_fd(ring: &Ring) -> PyResult<()> {
    let raw = ring.raw()?;
    let Some((index, owner)) = raw.registered_index() else {
        return Err(PyValueError::new_err("the ring fd is not registered"));
    };
    if owner != crate::engine::ring::thread_id() {
        return Err(PyValueError::new_err(
            "the ring fd was registered by another thread; unregister it from that thread",
        ));
    }
    let up = RsrcUpdate {
        offset: index,
        resv: 0,
        data: 0,
    };
    // SAFETY: one io_uring_rsrc_update, read by the kernel during the call.
    unsafe {
        raw.register(
            sys::IORING_UNREGISTER_RING_FDS,
            (&up as *const RsrcUpdate).cast(),
            1,
        )
    }
    .map_err(|e| register_error("IORING_UNREGISTER_RING_FDS", e))?;
    raw.set_registered_index(None);
    Ok(())
}
