//! Python bindings for `shardwise_core::placement`: one file per class, the shared machinery
//! in `common` (see `python/shardwise/placement/README-dev.md`).

use pyo3::prelude::*;

pub mod common;
mod jump;
mod ketama;
mod maglev;
mod rendezvous;
mod ring;

mod bounded;
mod memento;
mod multiprobe;
mod range;
mod redis_slots;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ring::PyHashRing>()?;
    m.add_class::<ketama::PyKetamaRing>()?;
    m.add_class::<jump::PyJumpHash>()?;
    m.add_class::<rendezvous::PyRendezvous>()?;
    m.add_class::<maglev::PyMaglev>()?;
    m.add_function(wrap_pyfunction!(jump::jump, m)?)?;
    m.add_function(wrap_pyfunction!(jump::jump_many, m)?)?;
    register_extra(m)?;
    Ok(())
}

/// MementoHash, MultiProbe, BoundedLoadRing, RangePartitioner, RedisClusterSlots.
fn register_extra(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<memento::PyMementoHash>()?;
    m.add_class::<multiprobe::PyMultiProbe>()?;
    m.add_class::<bounded::PyBoundedLoadRing>()?;
    m.add_class::<range::PyRangePartitioner>()?;
    m.add_class::<redis_slots::PyRedisClusterSlots>()?;
    Ok(())
}
