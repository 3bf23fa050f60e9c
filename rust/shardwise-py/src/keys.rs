//! Turning Python keys into core keys, following the encoding contract of `shardwise.hashing`:
//! `str` → UTF-8; `bytes`/`bytearray`/`memoryview` → as is; `int` (and numpy integer scalars)
//! → 8 bytes little-endian, two's complement for negatives, range [-2**63, 2**64).

use numpy::{PyArray1, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyMemoryError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyList, PyMemoryView, PyString, PyTuple};
use shardwise_core::keys::{KeyRef, Keys, PackedKeys};
use std::os::raw::c_int;

use crate::errors::{Error, Result};

mod string_dtype;

const ACCEPTED: &str = "str, bytes, bytearray, memoryview or int";

use crate::validate::type_name;

/// An `int` key as its 64-bit pattern.
///
/// Uses the C API's overflow flag rather than trying `i64` then `u64`: keys >= 2**63 are common
/// (hash values, random ids) and must not cost a raised-and-cleared exception each.
fn int_bits(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let py = obj.py();
    let mut overflow: c_int = 0;
    // SAFETY: `obj` is a live object and we hold the GIL (it is a `Bound`).
    let signed = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if signed == -1 {
            if let Some(err) = PyErr::take(py) {
                return Err(err);
            }
        }
        return Ok(signed as u64);
    }
    if overflow > 0 && obj.is_instance_of::<PyInt>() {
        // SAFETY: as above; `obj` is an int, as PyLong_AsUnsignedLongLong requires.
        let unsigned = unsafe { ffi::PyLong_AsUnsignedLongLong(obj.as_ptr()) };
        if unsigned != u64::MAX || PyErr::take(py).is_none() {
            return Ok(unsigned);
        }
    }
    let shown = obj.str().map_or_else(|_| "?".to_owned(), |s| s.to_string());
    Err(PyOverflowError::new_err(format!(
        "int key {shown} is outside the key range [-2**63, 2**64)"
    )))
}

/// Python `bool` or numpy `bool_` (whose type is named `bool` since numpy 2).
fn is_bool(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyBool>() || matches!(type_name(obj).as_str(), "bool" | "bool_")
}

/// A numpy integer scalar (or any other non-bool object with `__index__`) as an int.
fn index_bits(obj: &Bound<'_, PyAny>) -> Option<PyResult<u64>> {
    if is_bool(obj) || !obj.hasattr("__index__").unwrap_or(false) {
        return None;
    }
    let index = obj.call_method0("__index__").map_err(|e| {
        // e.g. a numpy array of several items: not an int key, whatever numpy says.
        if e.is_instance_of::<PyTypeError>(obj.py()) {
            bad_key(obj, None)
        } else {
            e
        }
    });
    Some(index.and_then(|i| int_bits(&i)))
}

fn bad_key(obj: &Bound<'_, PyAny>, position: Option<usize>) -> PyErr {
    let kind = type_name(obj);
    let hint = if is_bool(obj) {
        " (bool is refused: it is almost always a bug)"
    } else {
        ""
    };
    match position {
        Some(i) => PyTypeError::new_err(format!("keys[{i}] must be {ACCEPTED}, not {kind}{hint}")),
        None => PyTypeError::new_err(format!("key must be {ACCEPTED}, not {kind}{hint}")),
    }
}

/// Call `f` with one key.
pub fn with_key_ref<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(KeyRef<'_>) -> R) -> PyResult<R> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(f(KeyRef::Bytes(s.to_str()?.as_bytes())));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(f(KeyRef::Bytes(b.as_bytes())));
    }
    if obj.is_instance_of::<PyInt>() {
        // Among int subclasses only `bool` is refused (numpy's bool_ is not an int subclass).
        if obj.is_instance_of::<PyBool>() {
            return Err(bad_key(obj, None));
        }
        return Ok(f(KeyRef::Int(int_bits(obj)?)));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        // A copy (the bytearray could change under us), made fallibly: a huge key that cannot
        // be copied is a MemoryError, not an abort.
        // SAFETY: the GIL is held and no Python code runs until the copy is made.
        let bytes = unsafe { b.as_bytes() };
        let mut copy = Vec::new();
        copy.try_reserve_exact(bytes.len()).map_err(|_| {
            PyMemoryError::new_err(format!(
                "cannot copy a bytearray key of {} bytes",
                bytes.len()
            ))
        })?;
        copy.extend_from_slice(bytes);
        return Ok(f(KeyRef::Bytes(&copy)));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let copy = obj.call_method0("tobytes")?;
        return Ok(f(KeyRef::Bytes(copy.cast::<PyBytes>()?.as_bytes())));
    }
    match index_bits(obj) {
        Some(bits) => Ok(f(KeyRef::Int(bits?))),
        None => Err(bad_key(obj, None)),
    }
}

/// Call `f` with one key's encoded bytes.
pub fn with_key<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    with_key_ref(obj, |k| k.with_bytes(f))
}

/// Keys taken from a bulk input, borrowed from numpy where possible.
pub enum BulkKeys<'py> {
    U64(numpy::PyReadonlyArray1<'py, u64>),
    I64(numpy::PyReadonlyArray1<'py, i64>),
    Ints(Vec<u64>),
    Packed(PackedKeys),
    /// Read in place from an Arrow exporter (see `crate::arrow`).
    Arrow(crate::arrow::ArrowKeys),
}

impl BulkKeys<'_> {
    pub fn keys(&self) -> Keys<'_> {
        match self {
            BulkKeys::U64(a) => Keys::Ints(a.as_slice().expect("checked contiguous")),
            BulkKeys::I64(a) => {
                let s = a.as_slice().expect("checked contiguous");
                // SAFETY: i64 and u64 have the same size and alignment; every bit pattern is valid.
                Keys::Ints(unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u64>(), s.len()) })
            }
            BulkKeys::Ints(v) => Keys::Ints(v),
            BulkKeys::Packed(p) => Keys::Packed(p),
            BulkKeys::Arrow(a) => a.keys(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Bytes,
    Int,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Text => "str",
            Kind::Bytes => "bytes-like",
            Kind::Int => "int",
        }
    }
}

fn at_position(item: &Bound<'_, PyAny>, i: usize, e: PyErr) -> PyErr {
    let py = item.py();
    if e.is_instance_of::<PyTypeError>(py) {
        return bad_key(item, Some(i));
    }
    // Re-raise as the base class: subclasses such as UnicodeEncodeError take other arguments.
    if e.is_instance_of::<PyOverflowError>(py) {
        return PyOverflowError::new_err(format!("keys[{i}]: {}", e.value(py)));
    }
    if e.is_instance_of::<PyValueError>(py) {
        return PyValueError::new_err(format!("keys[{i}]: {}", e.value(py)));
    }
    e
}

fn mixed_kinds(first: Kind, this: Kind, i: usize) -> PyErr {
    PyTypeError::new_err(format!(
        "mixed key kinds: keys[0] is {} but keys[{i}] is {}; use one kind per batch",
        first.name(),
        this.name()
    ))
}

/// Record that keys[i] is of kind `this`; a batch holds one kind only.
#[inline]
fn note_kind(kind: &mut Option<Kind>, this: Kind, i: usize) -> PyResult<()> {
    match *kind {
        None => *kind = Some(this),
        Some(k) if k != this => return Err(mixed_kinds(k, this, i)),
        _ => {}
    }
    Ok(())
}

/// `v` with room for `n` more, or `MemoryError`.
fn reserved<T>(mut v: Vec<T>, n: usize) -> Result<Vec<T>> {
    v.try_reserve_exact(n)
        .map_err(|_| shardwise_core::Error::out_of_memory::<T>(n))?;
    Ok(v)
}

fn seq_keys<'py>(items: impl ExactSizeIterator<Item = Bound<'py, PyAny>>) -> Result<BulkKeys<'py>> {
    let n = items.len();
    let mut kind: Option<Kind> = None;
    let mut ints: Vec<u64> = Vec::new();
    let mut packed = PackedKeys::default();
    // Room for every key is reserved at the first one (sized by it, within limits); every
    // allocation is fallible, so a huge batch is a MemoryError, never an abort.
    let push_bytes = |packed: &mut PackedKeys, b: &[u8]| -> Result<()> {
        if packed.is_empty() {
            *packed = PackedKeys::try_with_capacity(n, b.len())?;
        }
        Ok(packed.try_push(b)?)
    };
    for (i, item) in items.enumerate() {
        // Fast paths for the common batches (str, exact int, bytes): one type check each.
        if let Ok(text) = item.cast::<PyString>() {
            let utf8 = text.to_str().map_err(|e| at_position(&item, i, e))?;
            push_bytes(&mut packed, utf8.as_bytes())?;
            note_kind(&mut kind, Kind::Text, i)?;
            continue;
        }
        if item.cast_exact::<PyInt>().is_ok() {
            let bits = int_bits(&item).map_err(|e| at_position(&item, i, e))?;
            if ints.capacity() == 0 {
                ints = reserved(ints, n)?;
            }
            ints.push(bits);
            note_kind(&mut kind, Kind::Int, i)?;
            continue;
        }
        if let Ok(bytes) = item.cast::<PyBytes>() {
            push_bytes(&mut packed, bytes.as_bytes())?;
            note_kind(&mut kind, Kind::Bytes, i)?;
            continue;
        }
        let mut this = Kind::Bytes;
        with_key_ref(&item, |k| match k {
            KeyRef::Int(v) => {
                this = Kind::Int;
                if ints.capacity() == 0 {
                    ints = reserved(std::mem::take(&mut ints), n)?;
                }
                ints.push(v);
                Ok(())
            }
            KeyRef::Bytes(b) => push_bytes(&mut packed, b),
        })
        .map_err(|e| at_position(&item, i, e))??;
        note_kind(&mut kind, this, i)?;
    }
    Ok(if kind == Some(Kind::Int) || kind.is_none() {
        BulkKeys::Ints(ints)
    } else {
        BulkKeys::Packed(packed)
    })
}

/// Every item of `items` as a u64, into memory allocated fallibly.
fn widened(items: impl ExactSizeIterator<Item = u64>) -> Result<BulkKeys<'static>> {
    let mut v = reserved(Vec::new(), items.len())?;
    v.extend(items);
    Ok(BulkKeys::Ints(v))
}

fn int_array<'py>(arr: &Bound<'py, PyUntypedArray>) -> Result<Option<BulkKeys<'py>>> {
    if let Ok(a) = arr.cast::<PyArray1<u64>>() {
        if a.is_contiguous() && a.is_aligned() {
            return Ok(Some(BulkKeys::U64(a.try_readonly()?)));
        }
    }
    if let Ok(a) = arr.cast::<PyArray1<i64>>() {
        if a.is_contiguous() && a.is_aligned() {
            return Ok(Some(BulkKeys::I64(a.try_readonly()?)));
        }
    }
    macro_rules! widen {
        ($($t:ty),*) => {$(
            if let Ok(a) = arr.cast::<PyArray1<$t>>() {
                let view = a.try_readonly()?;
                return Ok(Some(widened(view.as_array().iter().map(|&v| v as i64 as u64))?));
            }
        )*};
    }
    widen!(i8, i16, i32, i64);
    macro_rules! zero_extend {
        ($($t:ty),*) => {$(
            if let Ok(a) = arr.cast::<PyArray1<$t>>() {
                let view = a.try_readonly()?;
                return Ok(Some(widened(view.as_array().iter().map(|&v| v as u64))?));
            }
        )*};
    }
    zero_extend!(u8, u16, u32, u64);
    Ok(None)
}

/// `arr` as a contiguous, aligned, native-byte-order array viewed as `unit` (e.g. "uint8").
fn raw_units<'py>(arr: &Bound<'py, PyUntypedArray>, unit: &str) -> PyResult<Bound<'py, PyAny>> {
    let np = arr.py().import("numpy")?;
    let native = arr.getattr("dtype")?.call_method1("newbyteorder", ("=",))?;
    let contiguous = np.call_method1("require", (arr, native, "CA"))?;
    contiguous.call_method1("view", (np.getattr(unit)?,))
}

/// Room for `n` keys of up to `width` units; for width 0, the `n` empty keys themselves.
fn packed_for(n: usize, width: usize) -> Result<PackedKeys> {
    let mut packed = PackedKeys::try_with_capacity(n, width)?;
    if width == 0 {
        for _ in 0..n {
            packed.try_push(b"")?;
        }
    }
    Ok(packed)
}

fn fixed_bytes(arr: &Bound<'_, PyUntypedArray>, width: usize) -> Result<PackedKeys> {
    let n = arr.len();
    let mut packed = packed_for(n, width)?;
    if width == 0 {
        return Ok(packed);
    }
    let units = raw_units(arr, "uint8")?;
    let units = units.cast::<PyArray1<u8>>()?.try_readonly()?;
    for item in units.as_slice()?.chunks_exact(width) {
        let end = item.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        packed.try_push(&item[..end])?;
    }
    Ok(packed)
}

fn fixed_text(arr: &Bound<'_, PyUntypedArray>, width: usize) -> Result<PackedKeys> {
    let n = arr.len();
    let mut packed = packed_for(n, width)?;
    if width == 0 {
        return Ok(packed);
    }
    let units = raw_units(arr, "uint32")?;
    let units = units.cast::<PyArray1<u32>>()?.try_readonly()?;
    let mut utf8: Vec<u8> = Vec::with_capacity(width * 4);
    for (i, item) in units.as_slice()?.chunks_exact(width).enumerate() {
        let end = item.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
        let codes = &item[..end];
        utf8.clear();
        if codes.iter().all(|&c| c < 0x80) {
            // ASCII: one byte per code point.
            utf8.extend(codes.iter().map(|&c| c as u8));
        } else {
            for &code in codes {
                let c = char::from_u32(code).ok_or_else(|| {
                    Error::value_error(format!(
                        "keys[{i}] holds code point U+{code:04X}, which cannot be encoded as UTF-8"
                    ))
                })?;
                utf8.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
            }
        }
        packed.try_push(&utf8)?;
    }
    Ok(packed)
}

fn array_keys<'py>(arr: &Bound<'py, PyUntypedArray>) -> Result<BulkKeys<'py>> {
    if arr.ndim() != 1 {
        return Err(Error::value_error(format!(
            "keys must be a 1-D array, got a {}-D array of shape ({})",
            arr.ndim(),
            arr.shape()
                .iter()
                .map(|d| format!("{d},"))
                .collect::<Vec<_>>()
                .join(" ")
                .trim_end_matches(',')
        )));
    }
    let dtype = arr.dtype();
    let kind = dtype.kind();
    let itemsize = dtype.itemsize();
    match kind {
        b'i' | b'u' => {
            // Unaligned data (e.g. a field of a packed record array) cannot be borrowed.
            if arr.is_aligned() {
                if let Some(keys) = int_array(arr)? {
                    return Ok(keys);
                }
            }
            let units = raw_units(
                arr,
                &format!(
                    "{}{}",
                    if kind == b'i' { "int" } else { "uint" },
                    itemsize * 8
                ),
            )?;
            int_array(units.cast::<PyUntypedArray>()?)?
                .ok_or_else(|| Error::type_error(format!("unsupported integer dtype {dtype}")))
        }
        b'S' => Ok(BulkKeys::Packed(fixed_bytes(arr, itemsize)?)),
        b'U' => Ok(BulkKeys::Packed(fixed_text(arr, itemsize / 4)?)),
        b'T' => match string_dtype::string_keys(arr)? {
            Some(packed) => Ok(BulkKeys::Packed(packed)),
            None => seq_keys(arr.call_method0("tolist")?.cast::<PyList>()?.iter()),
        },
        b'O' => {
            let list = arr.call_method0("tolist")?;
            let list = list.cast::<PyList>()?;
            seq_keys(list.iter())
        }
        _ => Err(Error::type_error(format!(
            "keys array has dtype {dtype}; use an integer, bytes (S), str (U) or object array"
        ))),
    }
}

/// Extract a batch of keys from a numpy array, list or tuple.
pub fn extract_bulk<'py>(obj: &Bound<'py, PyAny>) -> Result<BulkKeys<'py>> {
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        return array_keys(arr);
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return seq_keys(list.iter());
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return seq_keys(tuple.iter());
    }
    if let Some(keys) = crate::arrow::extract(obj)? {
        return Ok(keys);
    }
    Err(Error::type_error(format!(
        "keys must be a numpy array, list, tuple, pandas Series/Index or Arrow array, not {}{}",
        type_name(obj),
        if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
            " (for one key use the function without _many)"
        } else {
            ""
        }
    )))
}
