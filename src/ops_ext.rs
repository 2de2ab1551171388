//! Ops beyond the seed's (files, network), in the same shape as ops.rs.

use pyo3::prelude::*;

pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
