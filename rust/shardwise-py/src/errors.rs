//! Raising the package's own exception classes (defined in `shardwise/errors.py`) from Rust.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

#[allow(dead_code)]
static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// A `PyErr` of class `shardwise.errors.<class_name>` carrying `message`.
#[allow(dead_code)] // used by the capability modules as they land
pub fn shardwise_error(py: Python<'_>, class_name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    let class = ERRORS_MODULE
        .get_or_try_init(py, || py.import("shardwise.errors").map(Bound::unbind))
        .and_then(|m| m.bind(py).getattr(class_name))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, message),
        Err(e) => {
            let err = PyRuntimeError::new_err(format!("{class_name}: {message}"));
            err.set_cause(py, Some(e));
            err
        }
    }
}
