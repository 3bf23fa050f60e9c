//! The one error type of the core crate: why a placement, selection or bulk call failed.

use std::fmt;

use crate::text::quoted;

/// Why a core operation failed. Messages name what was wrong; the Python bindings map each
/// variant to one exception class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A lookup on a placement with no nodes.
    NoNodes,
    /// A node name the placement or balancer does not hold (the name).
    UnknownNode(String),
    /// An invalid parameter, weight, name or request (the message says which).
    Config(String),
    /// A balancer has nothing it can pick (the message says why).
    NoBackend(String),
    /// A buffer sized by the input could not be allocated (the message says how large).
    OutOfMemory(String),
    /// Columnar key data whose buffers contradict each other (the message names the first
    /// offending key and what is wrong).
    Malformed(String),
}

impl Error {
    /// The error for a buffer of `count` items of `T` that could not be allocated.
    pub fn out_of_memory<T>(count: usize) -> Error {
        let bytes = (count as u128) * std::mem::size_of::<T>() as u128;
        Error::OutOfMemory(format!("cannot allocate {bytes} bytes for {count} items"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoNodes => f.write_str("the placement has no nodes"),
            Error::UnknownNode(name) => write!(f, "unknown node {}", quoted(name)),
            Error::Config(msg) | Error::NoBackend(msg) | Error::OutOfMemory(msg) => {
                f.write_str(msg)
            }
            Error::Malformed(msg) => write!(f, "malformed Arrow data: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::collections::TryReserveError> for Error {
    fn from(e: std::collections::TryReserveError) -> Error {
        Error::OutOfMemory(format!("cannot allocate memory for the input: {e}"))
    }
}

/// A vector of `count` copies of `value`, or [`Error::OutOfMemory`] instead of aborting.
pub fn try_vec<T: Clone>(count: usize, value: T) -> Result<Vec<T>, Error> {
    let mut v = Vec::new();
    v.try_reserve_exact(count)
        .map_err(|_| Error::out_of_memory::<T>(count))?;
    v.resize(count, value);
    Ok(v)
}
