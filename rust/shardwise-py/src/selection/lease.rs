//! `Lease`: a handle holding one backend of a `LeastConnections` or `PowerOfTwo` balancer.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::common::BalancerClass;
use crate::errors::Result;

/// The balancer a lease came from, as far as the lease needs it.
pub trait LeaseOwner: Send + Sync {
    fn release_lease(
        &self,
        py: Python<'_>,
        id: u64,
        hint: usize,
        latency: Option<f64>,
        start: f64,
    ) -> Result<()>;
}

impl<C> LeaseOwner for Py<C>
where
    C: BalancerClass + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
{
    fn release_lease(
        &self,
        py: Python<'_>,
        id: u64,
        hint: usize,
        latency: Option<f64>,
        start: f64,
    ) -> Result<()> {
        self.get()
            .shared()
            .release_lease(py, id, hint, latency, start)
    }
}

/// A held backend: `node` names it; `release()` (or leaving a `with` block, even by an
/// exception) gives it back once — later calls do nothing. With peak EWMA on, release records
/// the latency since `acquire()` unless `latency=` (seconds) is given.
#[pyclass(frozen, module = "shardwise._core")]
pub struct Lease {
    owner: Box<dyn LeaseOwner>,
    node: Py<PyString>,
    id: u64,
    hint: usize,
    start: f64,
    released: AtomicBool,
}

impl Lease {
    /// Take the chosen backend of `owner`.
    pub fn acquire<C>(owner: &Bound<'_, C>) -> Result<Lease>
    where
        C: BalancerClass + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
    {
        let (hint, id, node, start) = owner.get().shared().acquire(owner.py())?;
        Ok(Lease {
            owner: Box::new(owner.clone().unbind()),
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
        self.owner
            .release_lease(py, self.id, self.hint, latency, self.start)
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
