//! Shared plumbing of the balancer classes: errors, clocks, argument parsing, pickled state.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use shardwise_core::selection::{Backend, Health, SelectError};

use crate::errors::shardwise_error;

/// A core selection error as the matching `shardwise.errors` class.
pub fn to_py(py: Python<'_>, e: SelectError) -> PyErr {
    match e {
        SelectError::UnknownNode(m) => shardwise_error(py, "UnknownNodeError", m),
        SelectError::Config(m) => shardwise_error(py, "ConfigurationError", m),
        SelectError::NoBackend(m) => shardwise_error(py, "NoAvailableBackendError", m),
    }
}

/// Seconds on the process's monotonic clock.
pub fn monotonic() -> f64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Read the time: the user's clock if given, else the monotonic clock.
pub fn read_clock(py: Python<'_>, clock: Option<&Py<PyAny>>) -> PyResult<f64> {
    match clock {
        None => Ok(monotonic()),
        Some(c) => {
            let t: f64 = c.call0(py)?.extract(py).map_err(|_| {
                PyTypeError::new_err("clock() must return a number of seconds (float)")
            })?;
            if t.is_finite() {
                Ok(t)
            } else {
                Err(PyValueError::new_err(format!(
                    "clock() returned {t}, not a finite time"
                )))
            }
        }
    }
}

/// A seed from the OS when the caller gave none.
pub fn fresh_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.finish()
}

/// `backends` as `(name, weight)` pairs: a mapping name → weight, or an iterable of names.
pub fn parse_backends(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<(String, f64)>> {
    let Some(obj) = obj else {
        return Ok(Vec::new());
    };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a mapping name -> weight or an iterable of names, not a single string"
        )));
    }
    let mut out = Vec::new();
    if obj.hasattr("items")? {
        for item in obj.call_method0("items")?.try_iter()? {
            let (name, weight): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            out.push((node_name(&name, what)?, weight_value(&name, &weight)?));
        }
    } else {
        let iter = obj.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be a mapping name -> weight or an iterable of names"
            ))
        })?;
        for item in iter {
            out.push((node_name(&item?, what)?, 1.0));
        }
    }
    Ok(out)
}

fn node_name(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    obj.extract::<String>().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".into(), |n| n.to_string());
        PyTypeError::new_err(format!("{what}: node names must be str, got {ty}"))
    })
}

/// A weight given from Python: a real number (validated later by the core).
pub fn weight_value(name: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    obj.extract::<f64>().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".into(), |n| n.to_string());
        PyTypeError::new_err(format!("weight of {name} must be a number, got {ty}"))
    })
}

/// One backend as pickled: `(name, weight, backup, state, factor, load, current)`.
pub type BackendState = (String, f64, bool, String, f64, f64, f64);

pub fn backend_state(b: &Backend) -> BackendState {
    (
        b.name.clone(),
        b.weight,
        b.backup,
        b.health.as_str().to_owned(),
        b.factor,
        b.load,
        b.current,
    )
}

/// Rebuild a backend from its pickled form (`min_share` turns its load into a multiplier).
pub fn backend_from_state(s: BackendState, min_share: f64, initial_ewma: f64) -> PyResult<Backend> {
    let (name, weight, backup, state, factor, load, current) = s;
    let health = Health::parse(&state).ok_or_else(|| {
        PyValueError::new_err(format!("bad pickled state {state:?} for {name:?}"))
    })?;
    Ok(Backend {
        name,
        weight,
        factor,
        load,
        load_mult: (1.0 - load).max(min_share),
        health,
        backup,
        id: 0,
        up_since: None,
        current,
        active: 0,
        ewma: initial_ewma,
        stamp: 0.0,
    })
}
