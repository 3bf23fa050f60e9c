//! Every argument check of the binding, in one place. The pure twins' `shardwise.pure.validate`
//! makes the same checks, in the same order, with the same messages (tests feed both the same
//! table of bad inputs).
//!
//! Rules: node names are `str`; numbers (weights, settings) are `int`, `float` or numpy
//! integer/floating scalars — never `bool`, `str`, `None`, `Decimal`, `Fraction` or arrays — and
//! an int too large for a float counts as infinite (then refused by the range check); integer
//! parameters are `int` (not `bool`) within their range; `out=` buffers are writable, aligned,
//! C-contiguous numpy arrays of the result dtype and shape that share no memory with the keys.

use std::os::raw::c_int;

use numpy::npyffi::{self, npy_intp, NpyTypes, PY_ARRAY_API};
use numpy::{
    Element, PyArray, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::{Error, Result};

/// `type(obj).__name__`.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// A node name: a `str`.
pub fn node_name(obj: &Bound<'_, PyAny>) -> Result<String> {
    let s = obj.cast::<PyString>().map_err(|_| {
        Error::type_error(format!("node names must be str, not {}", type_name(obj)))
    })?;
    Ok(s.to_str()?.to_owned())
}

/// `(numpy.integer, numpy.floating)`, imported once.
fn numpy_reals(py: Python<'_>) -> Result<&Bound<'_, PyTuple>> {
    static REALS: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
    let reals = REALS.get_or_try_init(py, || -> PyResult<Py<PyTuple>> {
        let np = py.import("numpy")?;
        let kinds = [np.getattr("integer")?, np.getattr("floating")?];
        Ok(PyTuple::new(py, kinds)?.unbind())
    })?;
    Ok(reals.bind(py))
}

/// A real number as a float; `what` names it in the error ("weight of node 'a'", "slow_start").
pub fn number(what: &str, obj: &Bound<'_, PyAny>) -> Result<f64> {
    let py = obj.py();
    let real = !obj.is_instance_of::<PyBool>()
        && (obj.is_instance_of::<PyInt>()
            || obj.is_instance_of::<PyFloat>()
            || obj.is_instance(numpy_reals(py)?.as_any())?);
    if !real {
        return Err(Error::type_error(format!(
            "{what} must be a number, not {}",
            type_name(obj)
        )));
    }
    match obj.extract::<f64>() {
        Ok(v) => Ok(v),
        // An int beyond the float range: infinite, refused by the caller's range check.
        Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
            let negative = obj.lt(0)?;
            Ok(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// A node's weight (a real number; its range is checked by the core).
pub fn weight(name: &str, obj: &Bound<'_, PyAny>) -> Result<f64> {
    number(
        &format!("weight of node {}", shardwise_core::text::quoted(name)),
        obj,
    )
}

/// A text parameter: a `str`.
pub fn text_param(name: &str, obj: &Bound<'_, PyAny>) -> Result<String> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| Error::type_error(format!("{name} must be a str, not {}", type_name(obj))))?;
    Ok(s.to_str()?.to_owned())
}

/// An integer parameter in `[min, max]`: a `TypeError` for a non-int, a `ConfigurationError`
/// naming it otherwise (huge values included, before anything is allocated).
pub fn int_param(name: &str, obj: &Bound<'_, PyAny>, min: u64, max: u64) -> Result<u64> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(Error::type_error(format!(
            "{name} must be an int, not {}",
            type_name(obj)
        )));
    }
    match obj.extract::<i128>() {
        Ok(v) if v >= i128::from(min) && v <= i128::from(max) => Ok(v as u64),
        _ => Err(Error::config(format!(
            "{name} must be an int in [{min}, {max}], got {}",
            obj.str()?
        ))),
    }
}

/// A saved state's int in `[0, 2**32)` (not a bool); `None` for anything else.
pub fn u32_value(obj: &Bound<'_, PyAny>) -> Option<u32> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return None;
    }
    obj.extract::<u32>().ok()
}

/// A saved state's list (or tuple) of such ints; `None` for anything else.
pub fn u32_list(obj: &Bound<'_, PyAny>) -> Option<Vec<u32>> {
    if !(obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()) {
        return None;
    }
    obj.try_iter()
        .ok()?
        .map(|item| u32_value(&item.ok()?))
        .collect()
}

/// An argument as given: absent (`None` here) is not the same as an explicit `None`, which
/// the checks refuse like any other wrong type.
pub struct Given<'py>(pub Option<Bound<'py, PyAny>>);

impl<'py> Given<'py> {
    pub const ABSENT: Given<'static> = Given(None);
}

impl<'a, 'py> FromPyObject<'a, 'py> for Given<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Given(Some(obj.to_owned())))
    }
}

/// A new uninitialised numpy array of `T` with shape `dims`, or `MemoryError` (numpy's own,
/// never an abort or a panic) when it cannot be allocated.
pub fn empty_array<'py, T: Element, D: numpy::ndarray::Dimension>(
    py: Python<'py>,
    dims: &[usize],
) -> Result<Bound<'py, PyArray<T, D>>> {
    let mut shape = Vec::with_capacity(dims.len());
    for &d in dims {
        shape.push(
            npy_intp::try_from(d)
                .map_err(|_| Error::from(shardwise_core::Error::out_of_memory::<T>(d)))?,
        );
    }
    // SAFETY: we hold the GIL; the type object, the new dtype reference (stolen by the call)
    // and the shape (valid for `shape.len()` items) are what PyArray_NewFromDescr expects; null
    // strides/data ask numpy to allocate a C-contiguous buffer. The result is a new reference,
    // or null with a Python exception set.
    let ptr = unsafe {
        PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, NpyTypes::PyArray_Type),
            T::get_dtype(py).into_dtype_ptr(),
            shape.len() as c_int,
            shape.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: `ptr` is a new reference or null (then the exception is fetched).
    let array = unsafe { Bound::from_owned_ptr_or_err(py, ptr) }?;
    Ok(array.cast_into::<PyArray<T, D>>().map_err(PyErr::from)?)
}

/// `out` as a C-contiguous array of `T` with exactly `shape`, or a clear TypeError/ValueError.
/// `keys` is the caller's keys object: a numpy array sharing memory with `out` is refused.
pub fn checked_out<'py, T: Element, D: numpy::ndarray::Dimension>(
    out: &Bound<'py, PyAny>,
    shape: &[usize],
    keys: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyArray<T, D>>> {
    let py = out.py();
    let kind = if shape.len() == 1 {
        "1-D".to_owned()
    } else {
        shape_text(shape)
    };
    let array = out.cast::<PyArray<T, D>>().map_err(|_| {
        Error::type_error(format!(
            "out must be a {kind} numpy array of {}, not {}",
            numpy::dtype::<T>(py),
            describe(out)
        ))
    })?;
    if array.shape() != shape {
        return Err(Error::value_error(if shape.len() == 1 {
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
    let untyped = array.as_untyped();
    if !is_writeable(untyped) {
        return Err(Error::value_error("out is not writable"));
    }
    if !untyped.is_c_contiguous() {
        return Err(Error::value_error("out must be C-contiguous"));
    }
    if !untyped.is_aligned() {
        return Err(Error::value_error("out must be aligned"));
    }
    if let Ok(keys) = keys.cast::<PyUntypedArray>() {
        if overlaps(memory_range(untyped), memory_range(keys)) {
            return Err(Error::value_error(
                "out must not share memory with the keys",
            ));
        }
    }
    Ok(array.clone())
}

fn is_writeable(a: &Bound<'_, PyUntypedArray>) -> bool {
    // SAFETY: `a` is a live numpy array (we hold the GIL); its flags field is plain data.
    let flags = unsafe { (*npyffi::_PyArray_GET_ITEM_DATA(a.as_array_ptr())).flags };
    flags & npyffi::NPY_ARRAY_WRITEABLE != 0
}

/// The bytes an array's items may touch, `[start, end)` (numpy's bounds, as
/// `numpy.may_share_memory` uses them): whatever objects own the memory.
fn memory_range(a: &Bound<'_, PyUntypedArray>) -> (usize, usize) {
    // SAFETY: as in `is_writeable`; the data pointer is only compared, never dereferenced.
    let start = unsafe { (*npyffi::_PyArray_GET_ITEM_DATA(a.as_array_ptr())).data } as usize;
    if a.shape().contains(&0) {
        return (start, start);
    }
    let (mut low, mut high) = (0isize, 0isize);
    for (&dim, &stride) in a.shape().iter().zip(a.strides()) {
        let reach = (dim as isize - 1) * stride;
        if reach < 0 {
            low += reach;
        } else {
            high += reach;
        }
    }
    let item = a.dtype().itemsize() as isize;
    (
        start.wrapping_add_signed(low),
        start.wrapping_add_signed(high + item),
    )
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1
}

/// Run `fill` on the array's memory with the GIL released. Refuses an array borrowed
/// elsewhere (another call filling it right now).
pub fn fill_out<T, D, R>(
    py: Python<'_>,
    array: &Bound<'_, PyArray<T, D>>,
    fill: impl FnOnce(&mut [T]) -> R + Send,
) -> Result<R>
where
    T: Element + Send,
    D: numpy::ndarray::Dimension,
    R: Send,
{
    let mut guard = array
        .try_readwrite()
        .map_err(|_| Error::value_error("out is in use by another call"))?;
    let slots = guard
        .as_slice_mut()
        .map_err(|_| Error::value_error("out must be C-contiguous"))?;
    Ok(py.detach(|| fill(slots)))
}

/// A new array of `T` with `shape` filled by `fill` (GIL released), or the caller's `out`
/// (checked, see [`checked_out`]) filled and returned.
pub fn filled<'py, T, D, F>(
    py: Python<'py>,
    shape: &[usize],
    out: Option<&Bound<'py, PyAny>>,
    keys: &Bound<'py, PyAny>,
    fill: F,
) -> Result<Bound<'py, PyArray<T, D>>>
where
    T: Element + Send,
    D: numpy::ndarray::Dimension,
    F: FnOnce(&mut [T]) -> std::result::Result<(), Error> + Send,
{
    let array = match out {
        Some(out) => checked_out::<T, D>(out, shape, keys)?,
        // An uninitialised array: `fill` writes every item before it is returned (on an error
        // the array is dropped unseen), as `numpy.empty` would be used.
        None => empty_array::<T, D>(py, shape)?,
    };
    fill_out(py, &array, fill)??;
    Ok(array)
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("({})", dims.join(", "))
}

/// `out`'s type, with dtype and shape for numpy arrays.
fn describe(out: &Bound<'_, PyAny>) -> String {
    match out.cast::<PyUntypedArray>() {
        Ok(a) => format!("an array of dtype {} and shape {:?}", a.dtype(), a.shape()),
        Err(_) => type_name(out),
    }
}

/// A callable (the `clock=` setting), or a TypeError.
pub fn callable(what: &str, obj: &Bound<'_, PyAny>) -> Result<()> {
    if obj.is_callable() {
        return Ok(());
    }
    Err(Error::type_error(format!(
        "{what} must be a callable returning seconds, not {}",
        type_name(obj)
    )))
}
