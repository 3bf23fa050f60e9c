//! Bulk keys from Arrow and pandas: any object exporting the Arrow PyCapsule interface
//! (`__arrow_c_array__` or `__arrow_c_stream__`: pyarrow, polars, pandas, nanoarrow, DuckDB...)
//! is read through Arrow's stable C data interface, with no Arrow library (README-dev says why);
//! pandas Series and Index go through `shardwise._key_inputs.pandas_keys`.
//!
//! String and binary keys stay in the producer's buffers (a [`KeyColumn`] of slices); 64-bit
//! integers of one chunk are borrowed too; narrower or chunked integers are widened into one
//! u64 buffer, as numpy integer arrays are. Nulls are refused with the first one's position, and
//! malformed arrays with a `ValueError` naming the chunk and the first offending key: structure
//! (lengths, offsets, buffer counts: `array.rs`) and dictionaries before any key is read, string
//! offsets and views as they are read (the core's `KeyColumn::verify`, which every bulk
//! operation runs through `Keys::verify`).

mod array;
mod ffi;

use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use shardwise_core::column::{Indices, KeyColumn};
use shardwise_core::keys::Keys;

use self::array::{key_type, ArrayView, Copies, Layout, Site};
use self::ffi::{take, FfiArray, FfiSchema, FfiStream, Owned};
use crate::errors::{Error, Result};
use crate::keys::{extract_bulk, BulkKeys};

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
    _copies: Copies,
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

fn null_at(position: usize) -> Error {
    Error::value_error(format!(
        "keys[{position}] is null; keys cannot be null: drop them first ({})",
        "pyarrow.compute.drop_null(col), pandas col.dropna(), polars col.drop_nulls()"
    ))
}

/// The first position whose (non-null) index points at a null dictionary entry.
fn first_null_entry(dict: &ArrayView<'_>, indices: &Indices<'_>) -> Result<Option<usize>> {
    let Some(mut at) = dict.first_null() else {
        return Ok(None);
    };
    let mut null_entry = shardwise_core::error::try_vec(dict.len, false)?;
    loop {
        null_entry[at] = true;
        match dict.from(at + 1).first_null() {
            Some(i) => at += i + 1,
            None => break,
        }
    }
    Ok((0..indices.len()).find(|&i| null_entry.get(indices.at(i)).copied().unwrap_or(false)))
}

/// Room in `v` for `total` items in all, or `MemoryError`.
fn reserve(v: &mut Vec<u64>, total: usize) -> Result<()> {
    v.try_reserve(total - v.len())
        .map_err(|_| shardwise_core::Error::out_of_memory::<u64>(total))?;
    Ok(())
}

/// Build the keys of every imported array (all of type `schema`).
fn read_arrays(
    schema: Owned<FfiSchema>,
    arrays: Vec<Owned<FfiArray>>,
    stream: Option<Owned<FfiStream>>,
) -> Result<ArrowKeys> {
    let t = key_type(&schema.0)?;
    let chunks = arrays.len();
    let mut copies = Vec::new();
    let mut column = KeyColumn::default();
    let mut ints: Option<IntKeys> = None;
    let views: Vec<ArrayView<'_>> = arrays
        .iter()
        .enumerate()
        .map(|(chunk, a)| ArrayView::new(&a.0, t.layout, t.dictionary, Site { chunk, chunks }))
        .collect::<Result<_>>()?;
    let total = views
        .iter()
        .try_fold(0usize, |n, v| n.checked_add(v.len))
        .ok_or_else(|| {
            views[0]
                .site
                .malformed("the chunks hold more keys than memory does")
        })?;
    let mut start = 0;
    for view in &views {
        let site = view.site;
        if let Some(i) = view.first_null() {
            return Err(null_at(start + i));
        }
        match (t.dictionary, t.layout) {
            // Empty chunks of strings are kept, so that the column numbers chunks as the input
            // does.
            (_, Layout::Int(_)) if view.len == 0 => {}
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
                            _ => Vec::new(),
                        };
                        reserve(&mut all, total)?;
                        all.extend((0..values.len()).map(|i| int_bits(&values, i)));
                        IntKeys::Owned(all)
                    }
                });
            }
            (None, layout) => column.push(view.chunk(layout, &mut copies)?),
            (Some(index), layout) => {
                let indices = view.indices(index, &mut copies)?;
                let dict = view.dictionary(layout)?;
                if let Layout::Int(it) = layout {
                    indices
                        .check_within(dict.len, start)
                        .map_err(|e| site.within(e))?;
                    if let Some(i) = first_null_entry(&dict, &indices)? {
                        return Err(null_at(start + i));
                    }
                    let values = dict.indices(it, &mut copies)?;
                    let mut all = match ints {
                        Some(IntKeys::Owned(v)) => v,
                        _ => Vec::new(),
                    };
                    reserve(&mut all, total)?;
                    all.extend((0..indices.len()).map(|i| int_bits(&values, indices.at(i))));
                    ints = Some(IntKeys::Owned(all));
                } else {
                    let values = dict.chunk(layout, &mut copies)?;
                    column
                        .push_dictionary(indices, values)
                        .map_err(|e| site.within(e))?;
                    if let Some(i) = first_null_entry(&dict, &indices)? {
                        return Err(null_at(start + i));
                    }
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

static PANDAS_KEYS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `shardwise._key_inputs.pandas_keys(obj)`: what a pandas Series/Index is read as, or None.
fn pandas_keys<'py>(obj: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
    let py = obj.py();
    let pandas_keys = PANDAS_KEYS.get_or_try_init(py, || {
        PyResult::Ok(
            py.import("shardwise._key_inputs")?
                .getattr("pandas_keys")?
                .unbind(),
        )
    })?;
    Ok(pandas_keys.bind(py).call1((obj,))?)
}

/// The numpy array or Arrow exporter a pandas object is read as; any other object as it is.
pub fn unwrap_pandas<'py>(obj: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
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
pub fn extract<'py>(obj: &Bound<'py, PyAny>) -> Result<Option<BulkKeys<'py>>> {
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
        let mut stream = take::<FfiStream>(&capsule, c"arrow_array_stream")?;
        let (schema, arrays) = ffi::drain(&mut stream)?;
        return read_arrays(schema, arrays, Some(stream)).map(|k| Some(BulkKeys::Arrow(k)));
    }
    Ok(None)
}
