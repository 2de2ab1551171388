//! Integer arguments converted with errors that name the argument and its
//! range (PyO3's own conversion errors name neither). One function per
//! (argument, type), all made by one macro, used with `from_py_with`.

use pyo3::prelude::*;

macro_rules! named_ints {
    ($($fn_:ident: $name:literal, $ty:ty, $lo:expr, $hi:expr, $range:literal;)*) => {
        $(
            pub fn $fn_(obj: &Bound<'_, PyAny>) -> PyResult<$ty> {
                crate::py::args::int_named(obj, $name, $lo, $hi, $range).map(|v| v as $ty)
            }
        )*
    };
}

macro_rules! named_opt_ints {
    ($($fn_:ident: $name:literal, $ty:ty, $lo:expr, $hi:expr, $range:literal;)*) => {
        $(
            pub fn $fn_(obj: &Bound<'_, PyAny>) -> PyResult<Option<$ty>> {
                if obj.is_none() {
                    return Ok(None);
                }
                crate::py::args::int_named(obj, $name, $lo, $hi, $range).map(|v| Some(v as $ty))
            }
        )*
    };
}

named_ints! {
    type_i64: "type", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    advice_i64: "advice", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    backlog_i64: "backlog", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    buf_group_u16: "buf_group", u16, 0, u16::MAX as i128, "0..65535";
    buf_offset_usize: "buf_offset", usize, 0, usize::MAX as i128, "0..2**64-1";
    count_i64: "count", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    count_u32: "count", u32, 0, u32::MAX as i128, "0..2**32-1";
    domain_i64: "domain", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    events_i64: "events", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    file_index_i64: "file_index", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    flags_i64: "flags", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    flags_u32: "flags", u32, 0, u32::MAX as i128, "0..2**32-1";
    futex_flags_i64: "futex_flags", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    group_id_u16: "group_id", u16, 0, u16::MAX as i128, "0..65535";
    how_i64: "how", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    id_i64: "id", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    idtype_i64: "idtype", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    length_i64: "length", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    mask_i64: "mask", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    min_complete_i64: "min_complete", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    mode_i64: "mode", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    nbytes_i64: "nbytes", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    new_user_data_u64: "new_user_data", u64, 0, u64::MAX as i128, "0..2**64-1";
    off_in_i64: "off_in", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    off_out_i64: "off_out", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    offset_i64: "offset", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    old_user_data_u64: "old_user_data", u64, 0, u64::MAX as i128, "0..2**64-1";
    options_i64: "options", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    protocol_i64: "protocol", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    res_i32: "res", i32, i32::MIN as i128, i32::MAX as i128, "-2**31..2**31-1";
    resolve_i64: "resolve", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    size_u32: "size", u32, 0, u32::MAX as i128, "0..2**32-1";
    size_usize: "size", usize, 0, usize::MAX as i128, "0..2**64-1";
    sq_thread_idle_i64: "sq_thread_idle", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    start_id_u16: "start_id", u16, 0, u16::MAX as i128, "0..65535";
    target_user_data_u64: "target_user_data", u64, 0, u64::MAX as i128, "0..2**64-1";
    timeout_user_data_u64: "timeout_user_data", u64, 0, u64::MAX as i128, "0..2**64-1";
    to_submit_i64: "to_submit", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    val_i64: "val", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    wait_nr_i64: "wait_nr", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    zc_flags_i64: "zc_flags", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
}

named_opt_ints! {
    cq_entries_opt_i64: "cq_entries", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
    nbytes_opt_usize: "nbytes", usize, 0, usize::MAX as i128, "0..2**64-1";
    sq_thread_cpu_opt_i64: "sq_thread_cpu", i64, i64::MIN as i128, i64::MAX as i128, "-2**63..2**63-1";
}
