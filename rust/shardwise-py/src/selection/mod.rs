//! Python bindings for `shardwise_core::selection`: one file per balancer, the shared machinery
//! in `common` (the generic [`common::Shared`] and `balancer_class!`), leases in `lease`.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

pub mod common;
mod lease;
mod least_connections;
mod load_aware;
mod power_of_two;
mod round_robin;
mod weighted_random;

/// The registry: every balancer class, in the order Python lists them (`_core.BALANCERS`).
/// One line per class.
fn classes(py: Python<'_>) -> Vec<Bound<'_, pyo3::types::PyType>> {
    vec![
        py.get_type::<round_robin::RoundRobin>(),
        py.get_type::<weighted_random::WeightedRandom>(),
        py.get_type::<least_connections::LeastConnections>(),
        py.get_type::<power_of_two::PowerOfTwo>(),
        py.get_type::<load_aware::LoadAware>(),
    ]
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let classes = classes(m.py());
    for class in &classes {
        m.add(class.name()?, class)?;
    }
    m.add("BALANCERS", PyTuple::new(m.py(), classes)?)?;
    m.add_class::<lease::Lease>()?;
    Ok(())
}
