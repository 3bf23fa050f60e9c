//! Python bindings for `shardwise_core::placement`: one file per class, the shared machinery
//! in `common` (see `python/shardwise/placement/README-dev.md`).

use pyo3::prelude::*;

pub mod common;
mod ring;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ring::PyHashRing>()?;
    Ok(())
}
