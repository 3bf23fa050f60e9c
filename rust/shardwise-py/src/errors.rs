//! The binding layer's one error type: a Python exception, with `From` impls so that `?` turns
//! core errors ([`shardwise_core::Error`]) into the classes of `shardwise/errors.py`.

use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use shardwise_core::text::quoted;
use shardwise_core::Error as CoreError;

pyo3::import_exception!(shardwise.errors, ConfigurationError);
pyo3::import_exception!(shardwise.errors, NoNodesError);
pyo3::import_exception!(shardwise.errors, UnknownNodeError);
pyo3::import_exception!(shardwise.errors, NoAvailableBackendError);

/// A Python exception on its way out of a binding function.
#[derive(Debug)]
pub struct Error(PyErr);

/// The result type of the binding functions.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A `TypeError`.
    pub fn type_error(msg: impl Into<String>) -> Error {
        Error(PyTypeError::new_err(msg.into()))
    }

    /// A `ValueError`.
    pub fn value_error(msg: impl Into<String>) -> Error {
        Error(PyValueError::new_err(msg.into()))
    }

    /// A `ConfigurationError` (a `ValueError`).
    pub fn config(msg: impl Into<String>) -> Error {
        Error(ConfigurationError::new_err(msg.into()))
    }

    /// A core error raised by a placement of class `class` (named in the message).
    pub fn placement(class: &str, e: CoreError) -> Error {
        match e {
            CoreError::NoNodes => Error(NoNodesError::new_err(format!(
                "{class} has no nodes; add one with add_node()"
            ))),
            CoreError::UnknownNode(name) => Error(UnknownNodeError::new_err(format!(
                "{class} has no node {}",
                quoted(&name)
            ))),
            other => other.into(),
        }
    }
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Error {
        let msg = e.to_string();
        Error(match e {
            CoreError::NoNodes => NoNodesError::new_err(msg),
            CoreError::UnknownNode(_) => UnknownNodeError::new_err(msg),
            CoreError::Config(_) => ConfigurationError::new_err(msg),
            CoreError::NoBackend(_) => NoAvailableBackendError::new_err(msg),
            CoreError::OutOfMemory(_) => PyMemoryError::new_err(msg),
            CoreError::Malformed(_) => PyValueError::new_err(msg),
        })
    }
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Error {
        Error(e)
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        e.0
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Error {
        match e {}
    }
}

/// Errors PyO3 and numpy raise as Python exceptions, for `?`.
macro_rules! from_py_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error(e.into())
            }
        }
    )*};
}

from_py_errors!(
    pyo3::CastError<'_, '_>,
    pyo3::CastIntoError<'_>,
    numpy::BorrowError,
    numpy::AsSliceError
);
