//! The versioned plain-data state of every class (placement and selection alike): a dict
//! `{"version", "class", ...}` used by `to_state()`/`from_state()` and by pickling. The pure
//! twins write and read the same dicts.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use shardwise_core::text::quoted;

use crate::errors::{Error, Result};

/// A new state dict for `class` at `version`.
pub fn new<'py>(py: Python<'py>, class: &str, version: i64) -> Result<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("version", version)?;
    d.set_item("class", class)?;
    Ok(d)
}

/// `state` as a dict made by `to_state()` of `class` at `version`, or a clear error.
pub fn checked<'py>(
    state: &Bound<'py, PyAny>,
    class: &str,
    version: i64,
) -> Result<Bound<'py, PyDict>> {
    let state = state
        .cast::<PyDict>()
        .map_err(|_| Error::type_error("state must be a dict made by to_state()"))?;
    let found: i64 = entry(state, "version")?.extract()?;
    if found != version {
        return Err(Error::config(format!(
            "unsupported state version {found} (this build reads {version})"
        )));
    }
    let found: String = entry(state, "class")?.extract()?;
    if found != class {
        return Err(Error::config(format!("state is for {found}, not {class}")));
    }
    Ok(state.clone())
}

/// `state[key]`, or a `ConfigurationError` naming the missing entry.
pub fn entry<'py>(state: &Bound<'py, PyDict>, key: &str) -> Result<Bound<'py, PyAny>> {
    state
        .get_item(key)?
        .ok_or_else(|| Error::config(format!("state has no {} entry", quoted(key))))
}

/// `(restore, (state,))` for `__reduce__`: `restore` is `module.from_state`.
pub fn reduce<'py>(
    state: Bound<'py, PyDict>,
    module: &str,
) -> Result<Bound<'py, pyo3::types::PyTuple>> {
    let py = state.py();
    let restore = py.import(module)?.getattr("from_state")?;
    let args = pyo3::types::PyTuple::new(py, [state])?;
    Ok(pyo3::types::PyTuple::new(py, [restore, args.into_any()])?)
}
