//! The `shardwise._core` extension module: a thin PyO3 layer over `shardwise-core`.

use pyo3::prelude::*;

mod arrow;
mod errors;
mod failover;
mod hashing;
mod keys;
mod placement;
mod selection;
mod state;
mod validate;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    hashing::register(m)?;
    placement::register(m)?;
    selection::register(m)?;
    failover::register(m)?;
    Ok(())
}
