//! `PhiAccrualDetector`: a frozen pyclass around the core detector behind a mutex.
//!
//! Locking rule: the detector mutex is never held while Python code runs (the clock is read
//! before locking) and is held without the GIL during bulk φ computation.

use std::sync::{Mutex, MutexGuard};

use numpy::IntoPyArray;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};
use shardwise_core::failover::{self as core, HeartbeatError, PhiConfig};

use crate::errors::Error;

static MONOTONIC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

struct State {
    detector: core::PhiAccrualDetector,
    /// Bumped whenever the set or order of nodes changes.
    generation: u64,
}

/// Names tuple cached for `phi_all`, valid for one generation.
struct NamesCache {
    generation: u64,
    names: Option<Py<PyTuple>>,
}

/// φ accrual failure detector over many nodes (Hayashibara et al., as Akka implements it).
///
/// `heartbeat(node)` records that `node` is alive; `phi(node)` is the suspicion level
/// (−log10 of the probability that a heartbeat still comes this late); a node is available
/// while φ < `threshold`. Durations are in seconds. Time comes from `clock()` (default
/// `time.monotonic`) unless a call passes `at=`. Safe to share between threads.
#[pyclass(frozen, module = "shardwise._core")]
pub struct PhiAccrualDetector {
    state: Mutex<State>,
    names_cache: Mutex<NamesCache>,
    clock: Py<PyAny>,
    config: PhiConfig,
}

fn node_name(node: &Bound<'_, PyAny>) -> PyResult<String> {
    node.cast::<PyString>()
        .map_err(|_| {
            let kind = node
                .get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string());
            PyTypeError::new_err(format!("node must be a str, got {kind}"))
        })?
        .to_str()
        .map(str::to_owned)
}

impl PhiAccrualDetector {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `at` if given, else the clock; always a finite float.
    fn now(&self, py: Python<'_>, at: Option<f64>) -> PyResult<f64> {
        let t = match at {
            Some(t) => t,
            None => self.clock.bind(py).call0()?.extract::<f64>().map_err(|_| {
                PyTypeError::new_err("clock() must return a number of seconds (float)")
            })?,
        };
        if t.is_finite() {
            Ok(t)
        } else {
            Err(PyValueError::new_err(format!(
                "time must be a finite number of seconds, got {t}"
            )))
        }
    }

    /// (names tuple, φ values) consistent with each other.
    fn snapshot<'py>(&self, py: Python<'py>, at: f64) -> PyResult<(Bound<'py, PyTuple>, Vec<f64>)> {
        // The cached tuple may be replaced by another thread between the check and the read;
        // the last attempt always copies the names.
        for attempt in 0..3 {
            let force = attempt == 2;
            let (values, generation, names) = py.detach(|| {
                let state = self.lock();
                let values = state.detector.phi_all(at);
                let cached = !force
                    && self
                        .names_cache
                        .lock()
                        .map(|c| c.generation == state.generation && c.names.is_some())
                        .unwrap_or(false);
                let names = (!cached).then(|| state.detector.names().to_vec());
                (values, state.generation, names)
            });
            if let Some(names) = names {
                let tuple = PyTuple::new(py, names)?;
                let mut cache = self.names_cache.lock().unwrap_or_else(|e| e.into_inner());
                if generation >= cache.generation {
                    cache.generation = generation;
                    cache.names = Some(tuple.clone().unbind());
                }
                return Ok((tuple, values));
            }
            let cached = {
                let cache = self.names_cache.lock().unwrap_or_else(|e| e.into_inner());
                match &cache.names {
                    Some(t) if cache.generation == generation => Some(t.clone_ref(py)),
                    _ => None,
                }
            };
            if let Some(tuple) = cached {
                return Ok((tuple.into_bound(py), values));
            }
        }
        Err(PyValueError::new_err(
            "internal: names snapshot not consistent",
        ))
    }
}

#[pymethods]
impl PhiAccrualDetector {
    #[new]
    #[pyo3(signature = (
        threshold = 8.0,
        max_sample_size = 1000,
        min_std_deviation = 0.1,
        acceptable_heartbeat_pause = 0.0,
        first_heartbeat_estimate = 1.0,
        *,
        clock = None,
    ))]
    fn new(
        py: Python<'_>,
        threshold: f64,
        max_sample_size: i64,
        min_std_deviation: f64,
        acceptable_heartbeat_pause: f64,
        first_heartbeat_estimate: f64,
        clock: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        if max_sample_size < 1 {
            return Err(Error::config(format!(
                "max_sample_size must be >= 1, got {max_sample_size}"
            ))
            .into());
        }
        let config = PhiConfig {
            threshold,
            max_sample_size: usize::try_from(max_sample_size).unwrap_or(usize::MAX),
            min_std_deviation,
            acceptable_heartbeat_pause,
            first_heartbeat_estimate,
        };
        let detector = core::PhiAccrualDetector::new(config)
            .map_err(|e| PyErr::from(Error::config(e.to_string())))?;
        let clock = match clock {
            Some(c) => {
                if !c.bind(py).is_callable() {
                    return Err(PyTypeError::new_err(
                        "clock must be a callable returning seconds",
                    ));
                }
                c
            }
            None => MONOTONIC
                .get_or_try_init(py, || {
                    py.import("time")?.getattr("monotonic").map(Bound::unbind)
                })?
                .clone_ref(py),
        };
        Ok(Self {
            state: Mutex::new(State {
                detector,
                generation: 0,
            }),
            names_cache: Mutex::new(NamesCache {
                generation: 0,
                names: None,
            }),
            clock,
            config,
        })
    }

    /// Record a heartbeat from `node` (at `at`, default now).
    #[pyo3(signature = (node, at = None))]
    fn heartbeat(&self, py: Python<'_>, node: &Bound<'_, PyAny>, at: Option<f64>) -> PyResult<()> {
        let name = node_name(node)?;
        let t = self.now(py, at)?;
        let mut state = self.lock();
        let before = state.detector.len();
        let result = state.detector.heartbeat(&name, t);
        if state.detector.len() != before {
            state.generation += 1;
        }
        drop(state);
        result.map_err(|e| match e {
            HeartbeatError::NotFinite => PyValueError::new_err("at must be finite"),
            HeartbeatError::Earlier { last } => PyValueError::new_err(format!(
                "heartbeat for {name:?} at {t} is earlier than its last heartbeat at {last}"
            )),
        })
    }

    /// Suspicion level φ of `node` at `at` (default now); 0.0 for a node never heard from.
    #[pyo3(signature = (node, at = None))]
    fn phi(&self, py: Python<'_>, node: &Bound<'_, PyAny>, at: Option<f64>) -> PyResult<f64> {
        let name = node_name(node)?;
        let t = self.now(py, at)?;
        Ok(self.lock().detector.phi(&name, t))
    }

    /// True while φ(node) < threshold (a node never heard from is available).
    #[pyo3(signature = (node, at = None))]
    fn is_available(
        &self,
        py: Python<'_>,
        node: &Bound<'_, PyAny>,
        at: Option<f64>,
    ) -> PyResult<bool> {
        let name = node_name(node)?;
        let t = self.now(py, at)?;
        Ok(self.lock().detector.is_available(&name, t))
    }

    /// φ of every node at `at` (default now), in one call with the GIL released.
    ///
    /// Returns `{node: φ}`, or with `as_array=True` a tuple `(names, phis)`: a tuple of names and
    /// a float64 numpy array in the same order (the order of `nodes`).
    #[pyo3(signature = (at = None, *, as_array = false))]
    fn phi_all<'py>(
        &self,
        py: Python<'py>,
        at: Option<f64>,
        as_array: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let t = self.now(py, at)?;
        let (names, values) = self.snapshot(py, t)?;
        if as_array {
            let array = values.into_pyarray(py);
            return Ok(PyTuple::new(py, [names.into_any(), array.into_any()])?.into_any());
        }
        let dict = PyDict::new(py);
        for (name, value) in names.iter().zip(values) {
            dict.set_item(name, value)?;
        }
        Ok(dict.into_any())
    }

    /// Forget `node` and its history; returns whether it was known.
    fn remove(&self, node: &Bound<'_, PyAny>) -> PyResult<bool> {
        let name = node_name(node)?;
        let mut state = self.lock();
        let removed = state.detector.remove(&name);
        if removed {
            state.generation += 1;
        }
        Ok(removed)
    }

    /// Time of `node`'s last heartbeat, or None.
    fn last_heartbeat(&self, node: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
        let name = node_name(node)?;
        Ok(self.lock().detector.last_heartbeat(&name))
    }

    /// `(mean, std_deviation, samples)` of `node`'s inter-arrival window (unadjusted), or None.
    fn stats(&self, node: &Bound<'_, PyAny>) -> PyResult<Option<(f64, f64, usize)>> {
        let name = node_name(node)?;
        Ok(self.lock().detector.stats(&name))
    }

    /// Names of the nodes heard from, in first-heartbeat order.
    #[getter]
    fn nodes(&self) -> Vec<String> {
        self.lock().detector.names().to_vec()
    }

    #[getter]
    fn threshold(&self) -> f64 {
        self.config.threshold
    }

    #[getter]
    fn max_sample_size(&self) -> usize {
        self.config.max_sample_size
    }

    #[getter]
    fn min_std_deviation(&self) -> f64 {
        self.config.min_std_deviation
    }

    #[getter]
    fn acceptable_heartbeat_pause(&self) -> f64 {
        self.config.acceptable_heartbeat_pause
    }

    #[getter]
    fn first_heartbeat_estimate(&self) -> f64 {
        self.config.first_heartbeat_estimate
    }

    /// The clock callable (seconds).
    #[getter]
    fn clock(&self, py: Python<'_>) -> Py<PyAny> {
        self.clock.clone_ref(py)
    }

    fn __len__(&self) -> usize {
        self.lock().detector.len()
    }

    fn __contains__(&self, node: &Bound<'_, PyAny>) -> bool {
        node_name(node)
            .map(|n| self.lock().detector.contains(&n))
            .unwrap_or(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "PhiAccrualDetector(threshold={}, max_sample_size={}, min_std_deviation={}, \
             acceptable_heartbeat_pause={}, first_heartbeat_estimate={}, nodes={})",
            self.config.threshold,
            self.config.max_sample_size,
            self.config.min_std_deviation,
            self.config.acceptable_heartbeat_pause,
            self.config.first_heartbeat_estimate,
            self.lock().detector.len()
        )
    }
}
