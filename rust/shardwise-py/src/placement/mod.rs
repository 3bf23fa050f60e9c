//! Python bindings for `shardwise_core::placement`: one file per class, the shared machinery
//! in `common` (see `python/shardwise/placement/README-dev.md`).

use pyo3::prelude::*;
use pyo3::types::PyTuple;

mod anchor;
mod bounded;
pub mod common;
mod dx;
mod jump;
mod ketama;
mod maglev;
mod memento;
mod multiprobe;
mod range;
mod redis_slots;
mod rendezvous;
mod ring;
mod sequential;
mod skeleton;

/// The registry: every placement class, in the order Python lists them (`_core.PLACEMENTS`
/// drives `shardwise.placement`, the pure twins, the tests and the CLI). One line per class.
fn classes(py: Python<'_>) -> Vec<Bound<'_, pyo3::types::PyType>> {
    vec![
        py.get_type::<ring::PyHashRing>(),
        py.get_type::<ketama::PyKetamaRing>(),
        py.get_type::<jump::PyJumpHash>(),
        py.get_type::<rendezvous::PyRendezvous>(),
        py.get_type::<skeleton::PySkeletonRendezvous>(),
        py.get_type::<maglev::PyMaglev>(),
        py.get_type::<memento::PyMementoHash>(),
        py.get_type::<multiprobe::PyMultiProbe>(),
        py.get_type::<bounded::PyBoundedLoadRing>(),
        py.get_type::<range::PyRangePartitioner>(),
        py.get_type::<redis_slots::PyRedisClusterSlots>(),
        py.get_type::<sequential::PyJumpBackHash>(),
        py.get_type::<sequential::PyFlipHash>(),
        py.get_type::<sequential::PyBinomialHash>(),
        py.get_type::<anchor::PyAnchorHash>(),
        py.get_type::<dx::PyDxHash>(),
    ]
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let classes = classes(m.py());
    for class in &classes {
        m.add(class.name()?, class)?;
    }
    m.add("PLACEMENTS", PyTuple::new(m.py(), classes)?)?;
    m.add_function(wrap_pyfunction!(jump::jump, m)?)?;
    m.add_function(wrap_pyfunction!(jump::jump_many, m)?)?;
    Ok(())
}
