//! Python bindings for `shardwise_core::selection`.

use pyo3::prelude::*;

mod balancers;
mod common;
mod lease;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<balancers::RoundRobin>()?;
    m.add_class::<balancers::WeightedRandom>()?;
    m.add_class::<balancers::LoadAware>()?;
    m.add_class::<balancers::LeastConnections>()?;
    m.add_class::<balancers::PowerOfTwo>()?;
    m.add_class::<lease::Lease>()?;
    Ok(())
}
