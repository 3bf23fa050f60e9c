//! Bulk keys from Arrow and pandas: any object exporting the Arrow PyCapsule interface
//! (`__arrow_c_array__` or `__arrow_c_stream__`: pyarrow, polars, pandas, nanoarrow, DuckDB...)
//! is read through Arrow's stable C data interface, with no Arrow library (README-dev says why);
//! pandas Series and Index go through `shardwise._key_inputs.pandas_keys`.
//!
//! String and binary keys stay in the producer's buffers (a [`KeyColumn`] of slices); 64-bit
//! integers of one chunk are borrowed too; narrower or chunked integers are widened into one
//! u64 buffer, as numpy integer arrays are. Nulls are refused with the first one's position.

use std::ffi::{c_char, c_int, c_void, CStr};

use numpy::PyUntypedArray;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCapsule;
use shardwise_core::column::{Chunk, Indices, KeyColumn};
use shardwise_core::keys::Keys;

use crate::keys::{extract_bulk, BulkKeys};

/// `struct ArrowSchema` of the C data interface.
#[repr(C)]
struct FfiSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut FfiSchema,
    dictionary: *mut FfiSchema,
    release: Option<unsafe extern "C" fn(*mut FfiSchema)>,
    private_data: *mut c_void,
}

/// `struct ArrowArray` of the C data interface.
#[repr(C)]
struct FfiArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut FfiArray,
    dictionary: *mut FfiArray,
    release: Option<unsafe extern "C" fn(*mut FfiArray)>,
    private_data: *mut c_void,
}

/// `struct ArrowArrayStream` of the C stream interface.
#[repr(C)]
struct FfiStream {
    get_schema: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut FfiStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut FfiStream)>,
    private_data: *mut c_void,
}

/// A C-interface struct this module owns: released (its producer's memory freed) on drop.
struct Owned<T: Release>(Box<T>);

trait Release {
    fn released() -> Self;
    fn is_released(&self) -> bool;
    /// # Safety
    /// `this` is a live struct whose release callback has not been called.
    unsafe fn release(this: *mut Self);
}

macro_rules! release {
    ($t:ty) => {
        impl Release for $t {
            fn released() -> Self {
                // SAFETY: all-zero is a valid released struct (null pointers, `release: None`).
                unsafe { std::mem::zeroed() }
            }
            fn is_released(&self) -> bool {
                self.release.is_none()
            }
            unsafe fn release(this: *mut Self) {
                if let Some(release) = (*this).release {
                    release(this);
                }
            }
        }
    };
}
release!(FfiSchema);
release!(FfiArray);
release!(FfiStream);

impl<T: Release> Owned<T> {
    fn empty() -> Self {
        Owned(Box::new(T::released()))
    }

    fn ptr(&mut self) -> *mut T {
        &mut *self.0
    }
}

impl<T: Release> Drop for Owned<T> {
    fn drop(&mut self) {
        if !self.0.is_released() {
            // SAFETY: we own the struct and have not released it.
            unsafe { T::release(&mut *self.0) };
        }
    }
}

/// Move the struct out of a PyCapsule named `name` (the capsule is left released, as the
/// PyCapsule interface prescribes for a consumer that takes ownership).
fn take<T: Release>(capsule: &Bound<'_, PyAny>, name: &CStr) -> PyResult<Owned<T>> {
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(format!(
            "the Arrow export did not return a {:?} capsule",
            name
        ))
    })?;
    let ptr = capsule.pointer_checked(Some(name))?.as_ptr().cast::<T>();
    // SAFETY: a capsule named `name` holds a `T` (the interface's contract); reading it moves
    // it out, and overwriting the original with a released struct stops the capsule's
    // destructor from releasing what we now own.
    let moved = unsafe {
        let moved = std::ptr::read(ptr);
        std::ptr::write(ptr, T::released());
        moved
    };
    if moved.is_released() {
        return Err(PyValueError::new_err(format!(
            "the Arrow {:?} capsule was already consumed",
            name
        )));
    }
    Ok(Owned(Box::new(moved)))
}

fn malformed(what: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("malformed Arrow data: {what}"))
}

/// A readable name of an Arrow type that cannot be keys, from its format string (the pure
/// twin names pyarrow types the same way; see `shardwise.pure.arrow_keys`).
fn type_name(format: &str) -> String {
    let named = [
        ("n", "null"),
        ("b", "bool"),
        ("e", "float16"),
        ("f", "float32"),
        ("g", "float64"),
        ("+s", "struct"),
        ("+m", "map"),
        ("+r", "run-end encoded"),
    ];
    if let Some((_, name)) = named.iter().find(|(f, _)| *f == format) {
        return (*name).to_owned();
    }
    let prefixed = [
        ("d:", "decimal"),
        ("td", "date"),
        ("tt", "time"),
        ("ts", "timestamp"),
        ("tD", "duration"),
        ("ti", "interval"),
        ("+l", "list"),
        ("+L", "list"),
        ("+vl", "list"),
        ("+vL", "list"),
        ("+w:", "list"),
        ("+u", "union"),
    ];
    match prefixed.iter().find(|(p, _)| format.starts_with(p)) {
        Some((_, name)) => (*name).to_owned(),
        None => format!("format {format:?}"),
    }
}

fn unsupported(name: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "Arrow keys must be strings, binary or integers (or a dictionary of them), not {name}"
    ))
}

/// An integer type: width in bytes and signedness.
#[derive(Clone, Copy, PartialEq, Eq)]
struct IntType {
    bytes: usize,
    signed: bool,
}

fn int_type(format: &str) -> Option<IntType> {
    let (bytes, signed) = match format {
        "c" => (1, true),
        "C" => (1, false),
        "s" => (2, true),
        "S" => (2, false),
        "i" => (4, true),
        "I" => (4, false),
        "l" => (8, true),
        "L" => (8, false),
        _ => return None,
    };
    Some(IntType { bytes, signed })
}

/// The layouts keys can come in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Int(IntType),
    Offsets32,
    Offsets64,
    Views,
    Fixed(usize),
}

/// A key column's type: its layout, and its index type when dictionary-encoded.
struct KeyType {
    layout: Layout,
    dictionary: Option<IntType>,
    binary: bool,
}

fn format_of(schema: &FfiSchema) -> PyResult<String> {
    if schema.format.is_null() {
        return Err(malformed("schema without a format"));
    }
    // SAFETY: a live schema's format is a NUL-terminated string.
    let format = unsafe { CStr::from_ptr(schema.format) };
    Ok(format.to_string_lossy().into_owned())
}

/// The layout of a plain (not dictionary) type, and whether it holds bytes rather than text.
fn plain_layout(format: &str) -> Option<(Layout, bool)> {
    if let Some(t) = int_type(format) {
        return Some((Layout::Int(t), false));
    }
    Some(match format {
        "u" => (Layout::Offsets32, false),
        "z" => (Layout::Offsets32, true),
        "U" => (Layout::Offsets64, false),
        "Z" => (Layout::Offsets64, true),
        "vu" => (Layout::Views, false),
        "vz" => (Layout::Views, true),
        _ => {
            let width = format.strip_prefix("w:")?.parse().ok()?;
            (Layout::Fixed(width), true)
        }
    })
}

fn key_type(schema: &FfiSchema) -> PyResult<KeyType> {
    let format = format_of(schema)?;
    if schema.dictionary.is_null() {
        let (layout, binary) =
            plain_layout(&format).ok_or_else(|| unsupported(&type_name(&format)))?;
        return Ok(KeyType {
            layout,
            dictionary: None,
            binary,
        });
    }
    let index = int_type(&format).ok_or_else(|| malformed("dictionary index is not an integer"))?;
    // SAFETY: a non-null dictionary pointer of a live schema is a live schema.
    let values = unsafe { &*schema.dictionary };
    let value_format = format_of(values)?;
    if !values.dictionary.is_null() {
        return Err(unsupported("dictionary of dictionary"));
    }
    let (layout, binary) = plain_layout(&value_format)
        .ok_or_else(|| unsupported(&format!("dictionary of {}", type_name(&value_format))))?;
    Ok(KeyType {
        layout,
        dictionary: Some(index),
        binary,
    })
}

/// One imported array with the checked geometry of its top level.
struct ArrayView<'a> {
    array: &'a FfiArray,
    offset: usize,
    len: usize,
}

impl<'a> ArrayView<'a> {
    fn new(array: &'a FfiArray) -> PyResult<Self> {
        let offset = usize::try_from(array.offset).map_err(|_| malformed("negative offset"))?;
        let len = usize::try_from(array.length).map_err(|_| malformed("negative length"))?;
        Ok(ArrayView { array, offset, len })
    }

    fn buffer(&self, i: usize) -> PyResult<*const u8> {
        if (self.array.n_buffers as usize) <= i || self.array.buffers.is_null() {
            return Err(malformed(format!("array has no buffer {i}")));
        }
        // SAFETY: `buffers` holds `n_buffers` pointers.
        Ok(unsafe { *self.array.buffers.add(i) }.cast::<u8>())
    }

    /// The first null slot, if any (from the validity bitmap, buffer 0).
    fn first_null(&self) -> PyResult<Option<usize>> {
        if self.array.null_count == 0 || self.len == 0 {
            return Ok(None);
        }
        let bits = self.buffer(0)?;
        if bits.is_null() {
            return Ok(None);
        }
        let end = self.offset + self.len;
        // SAFETY: the validity bitmap holds at least `offset + length` bits.
        let bytes = unsafe { std::slice::from_raw_parts(bits, end.div_ceil(8)) };
        let mut i = self.offset;
        while i < end {
            if i.is_multiple_of(8) && end - i >= 8 && bytes[i / 8] == 0xff {
                i += 8;
                continue;
            }
            if bytes[i / 8] >> (i % 8) & 1 == 0 {
                return Ok(Some(i - self.offset));
            }
            i += 1;
        }
        Ok(None)
    }

    /// `count` items of `T` starting at item `start` of buffer `i`.
    fn slice<T: Copy>(
        &self,
        i: usize,
        start: usize,
        count: usize,
        copies: &mut Vec<Vec<u64>>,
    ) -> PyResult<&'static [T]> {
        let ptr = self.buffer(i)?;
        if count == 0 {
            return Ok(&[]);
        }
        if ptr.is_null() {
            return Err(malformed(format!("buffer {i} is missing")));
        }
        // SAFETY: the producer guarantees buffer `i` holds the items the array's type, offset
        // and length imply (`start + count` of them); the memory stays valid until the array
        // is released, which `ArrowKeys` does only after dropping every slice it handed out.
        unsafe {
            let first = ptr.cast::<T>().wrapping_add(start);
            if first.is_aligned() {
                return Ok(std::slice::from_raw_parts(first, count));
            }
            // Buffers need not be aligned: copy a misaligned one into aligned memory.
            let bytes = count * std::mem::size_of::<T>();
            let mut copy = vec![0u64; bytes.div_ceil(8)];
            std::ptr::copy_nonoverlapping(
                first.cast::<u8>(),
                copy.as_mut_ptr().cast::<u8>(),
                bytes,
            );
            let slice = std::slice::from_raw_parts(copy.as_ptr().cast::<T>(), count);
            copies.push(copy); // the heap block does not move when `copies` grows
            Ok(slice)
        }
    }

    /// The keys of a string/binary array as a core chunk.
    fn chunk(&self, layout: Layout, copies: &mut Vec<Vec<u64>>) -> PyResult<Chunk<'static>> {
        let (offset, len) = (self.offset, self.len);
        Ok(match layout {
            Layout::Offsets32 => {
                let offsets =
                    self.slice::<i32>(1, offset, if len == 0 { 0 } else { len + 1 }, copies)?;
                let end = offsets.last().map_or(Ok(0), |&e| usize::try_from(e));
                let end = end.map_err(|_| malformed("negative string offset"))?;
                Chunk::Offsets32 {
                    offsets,
                    data: self.slice::<u8>(2, 0, end, copies)?,
                }
            }
            Layout::Offsets64 => {
                let offsets =
                    self.slice::<i64>(1, offset, if len == 0 { 0 } else { len + 1 }, copies)?;
                let end = offsets.last().map_or(Ok(0), |&e| usize::try_from(e));
                let end = end.map_err(|_| malformed("negative string offset"))?;
                Chunk::Offsets64 {
                    offsets,
                    data: self.slice::<u8>(2, 0, end, copies)?,
                }
            }
            Layout::Views => {
                let views = self.slice::<[u8; 16]>(1, offset, len, copies)?;
                let n_buffers = usize::try_from(self.array.n_buffers).unwrap_or(0);
                if n_buffers < 3 {
                    return Err(malformed("view array without its buffer-size list"));
                }
                let data_buffers = n_buffers - 3;
                let sizes = self.slice::<i64>(n_buffers - 1, 0, data_buffers, copies)?;
                let mut buffers = Vec::with_capacity(data_buffers);
                for (b, &size) in sizes.iter().enumerate() {
                    let size =
                        usize::try_from(size).map_err(|_| malformed("negative buffer size"))?;
                    buffers.push(self.slice::<u8>(2 + b, 0, size, copies)?);
                }
                Chunk::Views { views, buffers }
            }
            Layout::Fixed(width) => Chunk::Fixed {
                width,
                len,
                data: self.slice::<u8>(1, offset * width, len * width, copies)?,
            },
            Layout::Int(_) => unreachable!("integer arrays are read by ints()"),
        })
    }

    /// The values of an integer array or the indices of a dictionary array (buffer 1).
    fn indices(&self, t: IntType, copies: &mut Vec<Vec<u64>>) -> PyResult<Indices<'static>> {
        let (o, n) = (self.offset, self.len);
        Ok(match (t.bytes, t.signed) {
            (1, true) => Indices::I8(self.slice(1, o, n, copies)?),
            (1, false) => Indices::U8(self.slice(1, o, n, copies)?),
            (2, true) => Indices::I16(self.slice(1, o, n, copies)?),
            (2, false) => Indices::U16(self.slice(1, o, n, copies)?),
            (4, true) => Indices::I32(self.slice(1, o, n, copies)?),
            (4, false) => Indices::U32(self.slice(1, o, n, copies)?),
            (8, true) => Indices::I64(self.slice(1, o, n, copies)?),
            _ => Indices::U64(self.slice(1, o, n, copies)?),
        })
    }

    /// The dictionary of a dictionary array.
    fn dictionary(&self) -> PyResult<ArrayView<'a>> {
        if self.array.dictionary.is_null() {
            return Err(malformed("dictionary array without its dictionary"));
        }
        // SAFETY: a non-null dictionary pointer of a live array is a live array.
        ArrayView::new(unsafe { &*self.array.dictionary })
    }
}

/// Integers as the key contract encodes them: sign-extended or zero-extended to 64 bits.
fn int_bits(values: &Indices<'_>, i: usize) -> u64 {
    match *values {
        Indices::I8(v) => v[i] as i64 as u64,
        Indices::U8(v) => u64::from(v[i]),
        Indices::I16(v) => v[i] as i64 as u64,
        Indices::U16(v) => u64::from(v[i]),
        Indices::I32(v) => v[i] as i64 as u64,
        Indices::U32(v) => u64::from(v[i]),
        Indices::I64(v) => v[i] as u64,
        Indices::U64(v) => v[i],
    }
}

/// Integer keys: borrowed from one 64-bit chunk, else widened.
enum IntKeys {
    Borrowed(&'static [u64]),
    Owned(Vec<u64>),
}

/// Keys imported from an Arrow exporter. The views (`column`, `ints`) point into the imported
/// arrays' buffers, so they are declared (and dropped) before the arrays, which are released
/// last.
pub struct ArrowKeys {
    column: KeyColumn<'static>,
    ints: Option<IntKeys>,
    binary: bool,
    _copies: Vec<Vec<u64>>,
    _arrays: Vec<Owned<FfiArray>>,
    _schema: Owned<FfiSchema>,
    _stream: Option<Owned<FfiStream>>,
}

impl ArrowKeys {
    pub fn keys(&self) -> Keys<'_> {
        match &self.ints {
            Some(IntKeys::Borrowed(v)) => Keys::Ints(v),
            Some(IntKeys::Owned(v)) => Keys::Ints(v),
            None => Keys::Column(&self.column),
        }
    }

    /// Whether the keys are bytes (binary columns) rather than text or integers.
    pub fn is_binary(&self) -> bool {
        self.binary
    }
}

fn null_at(position: usize) -> PyErr {
    PyValueError::new_err(format!(
        "keys[{position}] is null; keys cannot be null: drop them first ({})",
        "pyarrow.compute.drop_null(col), pandas col.dropna(), polars col.drop_nulls()"
    ))
}

/// The first position whose (non-null) index points at a null dictionary entry, before `limit`.
fn first_null_entry(
    dict: &ArrayView<'_>,
    indices: &Indices<'_>,
    limit: usize,
) -> PyResult<Option<usize>> {
    if dict.first_null()?.is_none() {
        return Ok(None);
    }
    let null_entry: Vec<bool> = {
        let mut flags = vec![false; dict.len];
        let mut at = 0;
        while let Some(i) = (ArrayView {
            array: dict.array,
            offset: dict.offset + at,
            len: dict.len - at,
        })
        .first_null()?
        {
            flags[at + i] = true;
            at += i + 1;
        }
        flags
    };
    Ok((0..limit).find(|&i| null_entry.get(indices.at(i)).copied().unwrap_or(false)))
}

/// Build the keys of every imported array (all of type `schema`).
fn read_arrays(
    schema: Owned<FfiSchema>,
    arrays: Vec<Owned<FfiArray>>,
    stream: Option<Owned<FfiStream>>,
) -> PyResult<ArrowKeys> {
    let t = key_type(&schema.0)?;
    let mut copies = Vec::new();
    let mut column = KeyColumn::default();
    let mut ints: Option<IntKeys> = None;
    let views: Vec<ArrayView<'_>> = arrays
        .iter()
        .map(|a| ArrayView::new(&a.0))
        .collect::<PyResult<_>>()?;
    let total: usize = views.iter().map(|v| v.len).sum();
    let mut start = 0;
    for view in &views {
        if let Some(i) = view.first_null()? {
            return Err(null_at(start + i));
        }
        if view.len == 0 {
            continue;
        }
        match (t.dictionary, t.layout) {
            (None, Layout::Int(it)) => {
                let values = view.indices(it, &mut copies)?;
                ints = Some(match (ints, values) {
                    (None, Indices::U64(v)) if v.len() == total => IntKeys::Borrowed(v),
                    (None, Indices::I64(v)) if v.len() == total => {
                        // SAFETY: i64 and u64 have the same size and alignment.
                        IntKeys::Borrowed(unsafe {
                            std::slice::from_raw_parts(v.as_ptr().cast::<u64>(), v.len())
                        })
                    }
                    (previous, values) => {
                        let mut all = match previous {
                            Some(IntKeys::Owned(v)) => v,
                            _ => Vec::with_capacity(total),
                        };
                        all.extend((0..values.len()).map(|i| int_bits(&values, i)));
                        IntKeys::Owned(all)
                    }
                });
            }
            (None, layout) => column.push(view.chunk(layout, &mut copies)?),
            (Some(index), layout) => {
                let indices = view.indices(index, &mut copies)?;
                let dict = view.dictionary()?;
                if let Some(i) = first_null_entry(&dict, &indices, view.len)? {
                    return Err(null_at(start + i));
                }
                let outside = |i: usize| {
                    malformed(format!(
                        "the index of keys[{}] is outside its dictionary of {} entries",
                        start + i,
                        dict.len
                    ))
                };
                if let Layout::Int(it) = layout {
                    if let Some(i) = indices.first_outside(dict.len) {
                        return Err(outside(i));
                    }
                    let values = dict.indices(it, &mut copies)?;
                    let mut all = match ints {
                        Some(IntKeys::Owned(v)) => v,
                        _ => Vec::with_capacity(total),
                    };
                    all.extend((0..indices.len()).map(|i| int_bits(&values, indices.at(i))));
                    ints = Some(IntKeys::Owned(all));
                } else {
                    let values = dict.chunk(layout, &mut copies)?;
                    column.push_dictionary(indices, values).map_err(outside)?;
                }
            }
        }
        start += view.len;
    }
    if matches!(t.layout, Layout::Int(_)) && ints.is_none() {
        ints = Some(IntKeys::Owned(Vec::new()));
    }
    drop(views);
    Ok(ArrowKeys {
        column,
        ints,
        binary: t.binary,
        _copies: copies,
        _arrays: arrays,
        _schema: schema,
        _stream: stream,
    })
}

/// The stream's last error message, if it gives one.
fn stream_error(stream: &mut Owned<FfiStream>, code: c_int) -> PyErr {
    let text = stream.0.get_last_error.and_then(|f| {
        // SAFETY: a live stream's get_last_error returns null or a NUL-terminated string
        // valid until the next call on the stream.
        let p = unsafe { f(stream.ptr()) };
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    });
    PyValueError::new_err(format!(
        "reading the Arrow stream failed: {}",
        text.unwrap_or_else(|| format!("error code {code}"))
    ))
}

fn read_stream(mut stream: Owned<FfiStream>) -> PyResult<ArrowKeys> {
    let (Some(get_schema), Some(get_next)) = (stream.0.get_schema, stream.0.get_next) else {
        return Err(malformed("stream without callbacks"));
    };
    let mut schema = Owned::<FfiSchema>::empty();
    // SAFETY: a live stream and a struct to fill, as the stream interface requires.
    let code = unsafe { get_schema(stream.ptr(), schema.ptr()) };
    if code != 0 {
        return Err(stream_error(&mut stream, code));
    }
    let mut arrays = Vec::new();
    loop {
        let mut array = Owned::<FfiArray>::empty();
        // SAFETY: as above; a released array back marks the end of the stream.
        let code = unsafe { get_next(stream.ptr(), array.ptr()) };
        if code != 0 {
            return Err(stream_error(&mut stream, code));
        }
        if array.0.is_released() {
            break;
        }
        arrays.push(array);
    }
    read_arrays(schema, arrays, Some(stream))
}

static PANDAS_KEYS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `shardwise._key_inputs.pandas_keys(obj)`: what a pandas Series/Index is read as, or None.
fn pandas_keys<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let pandas_keys = PANDAS_KEYS.get_or_try_init(py, || {
        PyResult::Ok(
            py.import("shardwise._key_inputs")?
                .getattr("pandas_keys")?
                .unbind(),
        )
    })?;
    pandas_keys.bind(py).call1((obj,))
}

/// The numpy array or Arrow exporter a pandas object is read as; any other object as it is.
pub fn unwrap_pandas<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.cast::<PyUntypedArray>().is_ok() {
        return Ok(obj.clone());
    }
    let unwrapped = pandas_keys(obj)?;
    Ok(if unwrapped.is_none() {
        obj.clone()
    } else {
        unwrapped
    })
}

/// Keys from a pandas object or an Arrow exporter; `None` for anything else.
pub fn extract<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<BulkKeys<'py>>> {
    let unwrapped = pandas_keys(obj)?;
    let source = if unwrapped.is_none() {
        obj.clone()
    } else if unwrapped.cast::<PyUntypedArray>().is_ok() {
        return Ok(Some(extract_bulk(&unwrapped)?));
    } else {
        unwrapped
    };
    if source.hasattr("__arrow_c_array__")? {
        let pair = source.call_method0("__arrow_c_array__")?;
        let (schema, array): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair.extract()?;
        let schema = take::<FfiSchema>(&schema, c"arrow_schema")?;
        let array = take::<FfiArray>(&array, c"arrow_array")?;
        return read_arrays(schema, vec![array], None).map(|k| Some(BulkKeys::Arrow(k)));
    }
    if source.hasattr("__arrow_c_stream__")? {
        let capsule = source.call_method0("__arrow_c_stream__")?;
        let stream = take::<FfiStream>(&capsule, c"arrow_array_stream")?;
        return read_stream(stream).map(|k| Some(BulkKeys::Arrow(k)));
    }
    Ok(None)
}
