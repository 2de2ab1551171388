//! `Handle` and `TimerHandle`: callbacks scheduled on a `Loop`, as asyncio's
//! `events.Handle` / `events.TimerHandle` behave (cancel, cancelled, when,
//! get_context, repr, exceptions to the loop's handler).
//!
//! Owns: running one callback in its context. May not touch: the ready
//! queue or the timer heap (core.rs owns them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

/// A callback with its arguments and context.
// No freelist: TimerHandle subclasses Handle, and a freelist class may not be
// subclassed (its tp_free would keep subclass blocks).
#[pyclass(subclass, frozen, module = "uring_rs", name = "Handle")]
pub struct Handle {
    pub(crate) callback: Py<PyAny>,
    pub(crate) args: Py<PyTuple>,
    pub(crate) context: Py<PyAny>,
    pub(crate) loop_: Py<PyAny>,
    /// Shared with the timer heap's entry, which must see a cancel without
    /// the interpreter.
    pub(crate) cancelled: Arc<AtomicBool>,
    /// `format_helpers.extract_stack` at creation, in debug mode.
    pub(crate) source_traceback: Option<Py<PyAny>>,
}

pub(crate) fn asyncio_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import(module)?.getattr(name)?.unbind())
    })
    .map(|o| o.bind(py).clone())
}

/// `asyncio.format_helpers._format_callback_source`.
pub fn format_callback_source<'py>(
    py: Python<'py>,
    callback: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
) -> PyResult<String> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = asyncio_attr(py, &F, "asyncio.format_helpers", "_format_callback_source")?;
    f.call1((callback, args))?.extract()
}

/// `asyncio.format_helpers.extract_stack(sys._getframe(0))`, for debug mode:
/// from native code, frame 0 is the Python code that scheduled the callback.
pub fn extract_stack(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static GETFRAME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = asyncio_attr(py, &F, "asyncio.format_helpers", "extract_stack")?;
    let getframe = asyncio_attr(py, &GETFRAME, "sys", "_getframe")?;
    let frame = getframe.call1((0,))?;
    Ok(f.call1((frame,))?.unbind())
}

impl Handle {
    pub fn new(
        py: Python<'_>,
        callback: Py<PyAny>,
        args: Py<PyTuple>,
        context: Option<Py<PyAny>>,
        loop_: Py<PyAny>,
        debug: bool,
    ) -> PyResult<Handle> {
        let context = match context {
            Some(c) if !c.is_none(py) => c,
            _ => copy_context(py)?,
        };
        let source_traceback = if debug {
            Some(extract_stack(py)?)
        } else {
            None
        };
        Ok(Handle {
            callback,
            args,
            context,
            loop_,
            cancelled: Arc::new(AtomicBool::new(false)),
            source_traceback,
        })
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Runs the callback in its context. An exception goes to the loop's
    /// exception handler, except KeyboardInterrupt and SystemExit, which
    /// are returned for the run loop to raise.
    pub fn run(slf: &Bound<'_, Handle>) -> PyResult<()> {
        let py = slf.py();
        let h = slf.get();
        let r = run_in_context(py, &h.context, &h.callback, &h.args);
        match r {
            Ok(_) => Ok(()),
            Err(e) => report(
                slf.as_any(),
                &h.callback,
                &h.args,
                &h.loop_,
                &h.source_traceback,
                e,
            ),
        }
    }
}

/// Whether an exception from user code ends the run loop (KeyboardInterrupt,
/// SystemExit) rather than going to the exception handler, as in asyncio.
pub fn ends_the_loop(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<PySystemExit>(py)
}

/// Hands a callback's exception to `loop.call_exception_handler` as
/// `Handle._run` does (found by attribute lookup: tests and users patch it).
pub fn report(
    handle: &Bound<'_, PyAny>,
    callback: &Py<PyAny>,
    args: &Py<PyTuple>,
    loop_: &Py<PyAny>,
    source_traceback: &Option<Py<PyAny>>,
    e: PyErr,
) -> PyResult<()> {
    let py = handle.py();
    if ends_the_loop(py, &e) {
        return Err(e);
    }
    let cb = format_callback_source(py, callback.bind(py), args.bind(py))
        .unwrap_or_else(|_| "<callback>".into());
    let ctx = PyDict::new(py);
    ctx.set_item("message", format!("Exception in callback {cb}"))?;
    ctx.set_item("exception", e.value(py))?;
    ctx.set_item("handle", handle)?;
    if let Some(tb) = source_traceback {
        ctx.set_item("source_traceback", tb)?;
    }
    loop_
        .bind(py)
        .call_method1(pyo3::intern!(py, "call_exception_handler"), (ctx,))?;
    Ok(())
}

#[pymethods]
impl Handle {
    /// Cancels the callback; a cancelled callback never runs.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether `cancel()` was called.
    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }

    /// The `contextvars.Context` the callback runs in.
    fn get_context(&self, py: Python<'_>) -> Py<PyAny> {
        self.context.clone_ref(py)
    }

    #[getter]
    fn _callback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        (!self.is_cancelled()).then(|| self.callback.clone_ref(py))
    }

    #[getter]
    fn _args(&self, py: Python<'_>) -> Option<Py<PyTuple>> {
        (!self.is_cancelled()).then(|| self.args.clone_ref(py))
    }

    #[getter]
    fn _cancelled(&self) -> bool {
        self.is_cancelled()
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.loop_.clone_ref(py)
    }

    #[getter]
    fn _source_traceback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.source_traceback.as_ref().map(|t| t.clone_ref(py))
    }

    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        Handle::run(slf)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        repr(slf.as_any(), slf.get(), None)
    }
}

/// asyncio's `Handle._repr_info`: class, cancelled, callback source, `when`.
fn repr(obj: &Bound<'_, PyAny>, h: &Handle, when: Option<f64>) -> PyResult<String> {
    let py = obj.py();
    let name = obj.get_type().name()?.to_string();
    let mut info = vec![name];
    if h.is_cancelled() {
        info.push("cancelled".into());
    }
    if let Some(w) = when {
        info.push(format!("when={w}"));
    }
    if !h.is_cancelled() {
        info.push(format_callback_source(
            py,
            h.callback.bind(py),
            h.args.bind(py),
        )?);
    }
    Ok(format!("<{}>", info.join(" ")))
}

/// A callback scheduled at `when` on the loop's clock.
#[pyclass(extends = Handle, frozen, module = "uring_rs", name = "TimerHandle")]
pub struct TimerHandle {
    pub(crate) when: f64,
    /// Still in the loop's timer heap.
    pub(crate) scheduled: AtomicBool,
}

impl TimerHandle {
    pub fn create(py: Python<'_>, base: Handle, when: f64) -> PyResult<Py<TimerHandle>> {
        let init = PyClassInitializer::from(base).add_subclass(TimerHandle {
            when,
            scheduled: AtomicBool::new(true),
        });
        Py::new(py, init)
    }
}

#[pymethods]
impl TimerHandle {
    /// The loop time at which the callback is due.
    fn when(&self) -> f64 {
        self.when
    }

    /// Cancels; the loop is told so it can drop cancelled timers in bulk.
    fn cancel(slf: &Bound<'_, Self>) -> PyResult<()> {
        let base = slf.as_super().get();
        if !base.cancelled.swap(true, Ordering::Relaxed)
            && slf.get().scheduled.load(Ordering::Relaxed)
        {
            let loop_ = base.loop_.bind(slf.py());
            loop_.call_method1(pyo3::intern!(slf.py(), "_timer_handle_cancelled"), (slf,))?;
        }
        Ok(())
    }

    #[getter]
    fn _scheduled(&self) -> bool {
        self.scheduled.load(Ordering::Relaxed)
    }

    #[getter]
    fn _when(&self) -> f64 {
        self.when
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        repr(slf.as_any(), slf.as_super().get(), Some(slf.get().when))
    }

    fn __hash__(&self) -> u64 {
        self.when.to_bits()
    }

    fn __lt__(&self, other: &Bound<'_, TimerHandle>) -> bool {
        self.when < other.get().when
    }

    fn __le__(&self, other: &Bound<'_, TimerHandle>) -> bool {
        self.when <= other.get().when
    }

    fn __gt__(&self, other: &Bound<'_, TimerHandle>) -> bool {
        self.when > other.get().when
    }

    fn __ge__(&self, other: &Bound<'_, TimerHandle>) -> bool {
        self.when >= other.get().when
    }
}

/// `contextvars.copy_context()`.
#[cfg(not(feature = "abi3"))]
fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: PyContext_CopyCurrent returns a new reference (or NULL with an
    // exception set), which from_owned_ptr_or_err takes.
    Ok(unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyContext_CopyCurrent())?.unbind() })
}

#[cfg(feature = "abi3")]
fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(py
        .import("contextvars")?
        .call_method0("copy_context")?
        .unbind())
}

/// `context.run(callback, *args)`: entered and exited around one call.
#[cfg(not(feature = "abi3"))]
fn run_in_context<'py>(
    py: Python<'py>,
    context: &Py<PyAny>,
    callback: &Py<PyAny>,
    args: &Py<PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    let ctx = context.as_ptr();
    // SAFETY: ctx is a live contextvars.Context we hold; Enter fails only
    // if it is already entered (asyncio raises RuntimeError then too).
    if unsafe { pyo3::ffi::PyContext_Enter(ctx) } != 0 {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: callback and args are live objects; PyObject_Call returns a
    // new reference or NULL with an exception set.
    let r = unsafe {
        let r = pyo3::ffi::PyObject_Call(callback.as_ptr(), args.as_ptr(), std::ptr::null_mut());
        Bound::from_owned_ptr_or_err(py, r)
    };
    // SAFETY: exits the context entered above, on this thread.
    unsafe { pyo3::ffi::PyContext_Exit(ctx) };
    r
}

#[cfg(feature = "abi3")]
fn run_in_context<'py>(
    py: Python<'py>,
    context: &Py<PyAny>,
    callback: &Py<PyAny>,
    args: &Py<PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut all = vec![callback.clone_ref(py).into_bound(py)];
    all.extend(args.bind(py).iter());
    context
        .bind(py)
        .call_method1(pyo3::intern!(py, "run"), PyTuple::new(py, all)?)
}
