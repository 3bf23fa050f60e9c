//! The key types of Arrow columns, and imported arrays checked against their type before any
//! buffer is read: lengths, offsets, null counts and buffer counts must agree, and every slice
//! handed out fits in memory. Buffer sizes themselves are not in the C interface: the sizes
//! that length, offset and the last string offset imply are trusted, as by every consumer.

use std::ffi::CStr;
use std::fmt::Display;

use shardwise_core::column::{Chunk, Indices};
use shardwise_core::Error as CoreError;

use super::ffi::{FfiArray, FfiSchema};
use crate::errors::{Error, Result};

/// Where an array sits in its input, for messages: chunk `chunk` of `chunks`.
#[derive(Clone, Copy)]
pub struct Site {
    pub chunk: usize,
    pub chunks: usize,
}

impl Site {
    /// A malformed-data error about this array.
    pub fn malformed(self, what: impl Display) -> Error {
        self.within(CoreError::Malformed(what.to_string()))
    }

    /// `e`, with this array's chunk named when the input has several.
    pub fn within(self, e: CoreError) -> Error {
        match e {
            CoreError::Malformed(m) if self.chunks > 1 => CoreError::Malformed(format!(
                "{m} (in chunks[{}] of {})",
                self.chunk, self.chunks
            ))
            .into(),
            e => e.into(),
        }
    }
}

/// A malformed type (no chunk involved).
fn malformed_type(what: &str) -> Error {
    CoreError::Malformed(what.to_owned()).into()
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

fn unsupported(name: &str) -> Error {
    Error::type_error(format!(
        "Arrow keys must be strings, binary or integers (or a dictionary of them), not {name}"
    ))
}

/// An integer type: width in bytes and signedness.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IntType {
    pub bytes: usize,
    pub signed: bool,
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
pub enum Layout {
    Int(IntType),
    Offsets32,
    Offsets64,
    Views,
    Fixed(usize),
}

impl Layout {
    /// The buffers an array of this layout has (views: at least this many), and what they are.
    fn buffers(self) -> (i64, &'static str) {
        match self {
            Layout::Int(_) => (2, "an integer array has 2"),
            Layout::Offsets32 | Layout::Offsets64 => (3, "a string or binary array has 3"),
            Layout::Views => (3, "a view array has at least 3"),
            Layout::Fixed(_) => (2, "a fixed-size binary array has 2"),
        }
    }
}

/// A key column's type: its layout, and its index type when dictionary-encoded.
pub struct KeyType {
    pub layout: Layout,
    pub dictionary: Option<IntType>,
    pub binary: bool,
}

fn format_of(schema: &FfiSchema) -> Result<String> {
    if schema.format.is_null() {
        return Err(malformed_type("schema without a format"));
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

pub fn key_type(schema: &FfiSchema) -> Result<KeyType> {
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
    let index =
        int_type(&format).ok_or_else(|| malformed_type("dictionary index is not an integer"))?;
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

/// Misaligned buffers copied into aligned memory, kept as long as the keys that point into them.
pub type Copies = Vec<Vec<u64>>;

/// One imported array (a chunk, or a chunk's dictionary), checked against its layout.
pub struct ArrayView<'a> {
    pub array: &'a FfiArray,
    pub offset: usize,
    pub len: usize,
    /// "the array" or "the dictionary", for messages.
    who: &'static str,
    pub site: Site,
}

impl<'a> ArrayView<'a> {
    /// `array` checked as an array of `layout` (`dictionary`: the indices of a dictionary array
    /// whose dictionary is of `layout`).
    pub fn new(
        array: &'a FfiArray,
        layout: Layout,
        dictionary: Option<IntType>,
        site: Site,
    ) -> Result<Self> {
        let who = "the array";
        let view = Self::checked(array, who, site)?;
        match dictionary {
            Some(index) => {
                view.check_buffers(Layout::Int(index))?;
                if array.dictionary.is_null() {
                    return Err(site.malformed("the array of a dictionary type has no dictionary"));
                }
            }
            None => {
                view.check_buffers(layout)?;
                if !array.dictionary.is_null() {
                    return Err(site.malformed("the array has a dictionary but its type has none"));
                }
            }
        }
        Ok(view)
    }

    /// The dictionary of a dictionary array, checked as an array of `layout`.
    pub fn dictionary(&self, layout: Layout) -> Result<ArrayView<'a>> {
        // SAFETY: `new` checked that the dictionary pointer is not null; a non-null dictionary
        // pointer of a live array is a live array.
        let dict = unsafe { &*self.array.dictionary };
        let view = Self::checked(dict, "the dictionary", self.site)?;
        view.check_buffers(layout)?;
        if !dict.dictionary.is_null() {
            return Err(self
                .site
                .malformed("the dictionary has a dictionary of its own"));
        }
        Ok(view)
    }

    /// Length, offset and null count checked.
    fn checked(array: &'a FfiArray, who: &'static str, site: Site) -> Result<Self> {
        let bad = |what: String| Err(site.malformed(format!("{who} has {what}")));
        if array.length < 0 {
            return bad(format!("a negative length ({})", array.length));
        }
        if array.offset < 0 {
            return bad(format!("a negative offset ({})", array.offset));
        }
        if array.offset.checked_add(array.length).is_none() {
            return bad(format!(
                "an offset ({}) and a length ({}) that overflow together",
                array.offset, array.length
            ));
        }
        if array.null_count < -1 {
            return bad(format!("a null count of {}", array.null_count));
        }
        Ok(ArrayView {
            array,
            offset: array.offset as usize,
            len: array.length as usize,
            who,
            site,
        })
    }

    /// The buffer count of `layout`, a buffer list, and a validity bitmap if there are nulls.
    fn check_buffers(&self, layout: Layout) -> Result<()> {
        let (want, rule) = layout.buffers();
        let n = self.array.n_buffers;
        let fits = if layout == Layout::Views {
            n >= want
        } else {
            n == want
        };
        if !fits {
            return Err(self.bad(format!("{n} buffers ({rule})")));
        }
        if self.array.buffers.is_null() {
            return Err(self.bad("no buffer list".into()));
        }
        if self.array.null_count > 0 && self.buffer(0).is_null() {
            return Err(self.bad(format!(
                "a null count of {} but no validity bitmap",
                self.array.null_count
            )));
        }
        Ok(())
    }

    fn bad(&self, what: String) -> Error {
        self.site.malformed(format!("{} has {what}", self.who))
    }

    /// Buffer `i` (below the checked buffer count).
    fn buffer(&self, i: usize) -> *const u8 {
        debug_assert!((i as i64) < self.array.n_buffers);
        // SAFETY: `buffers` holds `n_buffers` pointers (checked non-null, and `i` below it).
        unsafe { *self.array.buffers.add(i) }.cast::<u8>()
    }

    /// The first null slot, if any (from the validity bitmap, buffer 0).
    pub fn first_null(&self) -> Option<usize> {
        if self.array.null_count == 0 || self.len == 0 {
            return None;
        }
        let bits = self.buffer(0);
        if bits.is_null() {
            return None;
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
                return Some(i - self.offset);
            }
            i += 1;
        }
        None
    }

    /// `count` items of `T` starting at item `start` of buffer `i`.
    fn slice<T: Copy>(
        &self,
        i: usize,
        start: usize,
        count: usize,
        copies: &mut Copies,
    ) -> Result<&'static [T]> {
        if count == 0 {
            return Ok(&[]);
        }
        let ptr = self.buffer(i);
        if ptr.is_null() {
            return Err(self.bad(format!("no buffer {i}")));
        }
        let size = std::mem::size_of::<T>();
        let fits = start
            .checked_add(count)
            .and_then(|items| items.checked_mul(size))
            .is_some_and(|bytes| bytes <= isize::MAX as usize);
        if !fits {
            return Err(self.bad(format!(
                "a length and offset that put {} items of {size} bytes in buffer {i}, more \
                 than memory holds",
                start as u128 + count as u128
            )));
        }
        // SAFETY: the producer guarantees buffer `i` holds the items the array's type, offset
        // and length imply (`start + count` of them, which fit in memory: checked above); the
        // memory stays valid until the array is released, which `ArrowKeys` does only after
        // dropping every slice it handed out.
        unsafe {
            let first = ptr.cast::<T>().wrapping_add(start);
            if first.is_aligned() {
                return Ok(std::slice::from_raw_parts(first, count));
            }
            // Buffers need not be aligned: copy a misaligned one into aligned memory.
            let bytes = count * size;
            let mut copy = shardwise_core::error::try_vec(bytes.div_ceil(8), 0u64)?;
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

    /// The offsets of keys `offset..offset + len` (`len + 1` of them) and the data they index
    /// (up to the last offset; the core checks the offsets against it).
    fn offsets<O: Copy + TryInto<usize>>(
        &self,
        copies: &mut Copies,
    ) -> Result<(&'static [O], &'static [u8])> {
        let count = if self.len == 0 { 0 } else { self.len + 1 };
        let offsets = self.slice::<O>(1, self.offset, count, copies)?;
        let end = offsets.last().map_or(0, |&e| e.try_into().unwrap_or(0));
        Ok((offsets, self.slice::<u8>(2, 0, end, copies)?))
    }

    /// The keys of a string/binary array as a core chunk.
    pub fn chunk(&self, layout: Layout, copies: &mut Copies) -> Result<Chunk<'static>> {
        let (offset, len) = (self.offset, self.len);
        Ok(match layout {
            Layout::Offsets32 => {
                let (offsets, data) = self.offsets::<i32>(copies)?;
                Chunk::Offsets32 { offsets, data }
            }
            Layout::Offsets64 => {
                let (offsets, data) = self.offsets::<i64>(copies)?;
                Chunk::Offsets64 { offsets, data }
            }
            Layout::Views => {
                let views = self.slice::<[u8; 16]>(1, offset, len, copies)?;
                let n_buffers = self.array.n_buffers as usize;
                let data_buffers = n_buffers - 3;
                let sizes = self.slice::<i64>(n_buffers - 1, 0, data_buffers, copies)?;
                let mut buffers = Vec::with_capacity(data_buffers);
                for (b, &size) in sizes.iter().enumerate() {
                    let size = usize::try_from(size).map_err(|_| {
                        self.bad(format!("data buffer {b} of negative size {size}"))
                    })?;
                    buffers.push(self.slice::<u8>(2 + b, 0, size, copies)?);
                }
                Chunk::Views { views, buffers }
            }
            Layout::Fixed(width) => {
                let (Some(start), Some(bytes)) =
                    (offset.checked_mul(width), len.checked_mul(width))
                else {
                    return Err(self.bad(format!(
                        "{} keys of {width} bytes, more than memory holds",
                        offset + len
                    )));
                };
                Chunk::Fixed {
                    width,
                    len,
                    data: self.slice::<u8>(1, start, bytes, copies)?,
                }
            }
            Layout::Int(_) => unreachable!("integer arrays are read by indices()"),
        })
    }

    /// The values of an integer array or the indices of a dictionary array (buffer 1).
    pub fn indices(&self, t: IntType, copies: &mut Copies) -> Result<Indices<'static>> {
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

    /// The same array from slot `skip` on.
    pub fn from(&self, skip: usize) -> ArrayView<'a> {
        ArrayView {
            array: self.array,
            offset: self.offset + skip,
            len: self.len - skip,
            who: self.who,
            site: self.site,
        }
    }
}
