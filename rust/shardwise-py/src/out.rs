//! The `out=` argument of bulk functions: a caller's numpy array to fill instead of a new one.
//! The pure twins (`shardwise.pure.keys.check_out`) make the same checks, in the same order,
//! with the same messages.

use numpy::{Element, PyArray, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// `out` as a C-contiguous array of `T` with exactly `shape`, or a clear TypeError/ValueError.
pub fn checked_out<'py, T: Element, D: numpy::ndarray::Dimension>(
    out: &Bound<'py, PyAny>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArray<T, D>>> {
    let py = out.py();
    let kind = if shape.len() == 1 {
        "1-D".to_owned()
    } else {
        shape_text(shape)
    };
    let array = out.cast::<PyArray<T, D>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "out must be a {kind} numpy array of {}, not {}",
            numpy::dtype::<T>(py),
            describe(out)
        ))
    })?;
    if array.shape() != shape {
        return Err(PyValueError::new_err(if shape.len() == 1 {
            format!(
                "out has {} slots but there are {} keys",
                array.len(),
                shape[0]
            )
        } else {
            format!(
                "out has shape {} but {} is needed",
                shape_text(array.shape()),
                shape_text(shape)
            )
        }));
    }
    Ok(array.clone())
}

/// Run `fill` on the array's memory with the GIL released. Refuses a read-only array, one whose
/// memory is borrowed (for instance the keys themselves) and a non-contiguous one.
pub fn fill_out<T, D, R>(
    py: Python<'_>,
    array: &Bound<'_, PyArray<T, D>>,
    fill: impl FnOnce(&mut [T]) -> R + Send,
) -> PyResult<R>
where
    T: Element + Send,
    D: numpy::ndarray::Dimension,
    R: Send,
{
    let mut guard = array
        .try_readwrite()
        .map_err(|_| PyValueError::new_err("out is not writable or is in use by another call"))?;
    let slots = guard
        .as_slice_mut()
        .map_err(|_| PyValueError::new_err("out must be C-contiguous"))?;
    Ok(py.detach(|| fill(slots)))
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("({})", dims.join(", "))
}

/// `out`'s type, with dtype and shape for numpy arrays.
fn describe(out: &Bound<'_, PyAny>) -> String {
    match out.cast::<PyUntypedArray>() {
        Ok(a) => format!("an array of dtype {} and shape {:?}", a.dtype(), a.shape()),
        Err(_) => out
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string()),
    }
}
