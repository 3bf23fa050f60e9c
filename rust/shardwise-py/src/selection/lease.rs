//! `Lease`: a handle holding one backend of a `LeastConnections` or `PowerOfTwo` balancer.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::balancers::{LeastConnections, PowerOfTwo};

/// The balancer a lease came from.
pub enum Owner {
    Least(Py<LeastConnections>),
    Two(Py<PowerOfTwo>),
}

/// A held backend: `node` names it; `release()` (or leaving a `with` block, even by an
/// exception) gives it back once — later calls do nothing. With peak EWMA on, release records
/// the latency since `acquire()` unless `latency=` (seconds) is given.
#[pyclass(frozen, module = "shardwise._core")]
pub struct Lease {
    pub owner: Owner,
    pub node: Py<PyString>,
    pub id: u64,
    pub hint: usize,
    pub start: f64,
    pub released: AtomicBool,
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
    fn release(&self, py: Python<'_>, latency: Option<f64>) -> PyResult<()> {
        if self.released.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        match &self.owner {
            Owner::Least(o) => o
                .get()
                .release_lease(py, self.id, self.hint, latency, self.start),
            Owner::Two(o) => o
                .get()
                .release_lease(py, self.id, self.hint, latency, self.start),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.release(py, None)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.released() { "released" } else { "held" };
        format!("<Lease {} ({state})>", self.node)
    }
}
