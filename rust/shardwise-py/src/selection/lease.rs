//! `Lease`: a handle holding one backend of a `LeastConnections` or `PowerOfTwo` balancer.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::common::LeaseHolder;
use crate::errors::Result;

/// How a lease gives its backend back to a balancer of class `C`.
fn give_back<C: LeaseHolder>(
    owner: &Bound<'_, PyAny>,
    lease: &Lease,
    latency: Option<f64>,
) -> Result<()> {
    let owner = owner.cast::<C>()?;
    owner
        .get()
        .shared()
        .release_lease(owner.py(), lease.id, lease.hint, latency, lease.start)
}

/// A held backend: `node` names it; `release()` (or leaving a `with` block, even by an
/// exception) gives it back once — later calls do nothing. With peak EWMA on, release records
/// the latency since `acquire()` unless `latency=` (seconds) is given.
#[pyclass(frozen, module = "shardwise._core")]
pub struct Lease {
    owner: Py<PyAny>,
    give_back: fn(&Bound<'_, PyAny>, &Lease, Option<f64>) -> Result<()>,
    node: Py<PyString>,
    id: u64,
    hint: usize,
    start: f64,
    released: AtomicBool,
}

impl Lease {
    /// Take the chosen backend of `owner`.
    pub fn acquire<C: LeaseHolder>(owner: &Bound<'_, C>) -> Result<Lease> {
        let (hint, id, node, start) = owner.get().shared().acquire(owner.py())?;
        Ok(Lease {
            owner: owner.clone().into_any().unbind(),
            give_back: give_back::<C>,
            node,
            id,
            hint,
            start,
            released: AtomicBool::new(false),
        })
    }
}

#[pymethods]
impl Lease {
    /// The backend this lease holds.
    #[getter]
    fn node(&self, py: Python<'_>) -> Py<PyString> {
        self.node.clone_ref(py)
    }

    /// Whether the lease was released.
    #[getter]
    fn released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// Give the backend back (idempotent); `latency` overrides the measured one.
    #[pyo3(signature = (latency = None))]
    fn release(&self, py: Python<'_>, latency: Option<f64>) -> Result<()> {
        if self.released.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        (self.give_back)(self.owner.bind(py), self, latency)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> Result<bool> {
        self.release(py, None)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.released() { "released" } else { "held" };
        format!("<Lease {} ({state})>", self.node)
    }
}
