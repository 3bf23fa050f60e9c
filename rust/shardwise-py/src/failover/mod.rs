//! Python bindings for `shardwise_core::failover`.

use pyo3::prelude::*;

mod detector;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<detector::PhiAccrualDetector>()?;
    Ok(())
}
