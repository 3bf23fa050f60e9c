//! Byte-string keys read in place from columnar buffers laid out as Apache Arrow arrays.
//!
//! A [`KeyColumn`] is a run of [`Chunk`]s (one per array of a chunked array), each one of:
//! - offsets (32- or 64-bit): key `i` is `data[offsets[i]..offsets[i + 1]]` (`utf8`, `binary`
//!   and their `large_` forms);
//! - views (`utf8_view`, `binary_view`): a 16-byte view per key, keys of up to 12 bytes inline,
//!   longer ones in one of the data buffers;
//! - fixed width (`fixed_size_binary`): key `i` is `data[i * width..(i + 1) * width]`;
//! - dictionary: key `i` is entry `indices[i]` of one of the column's dictionaries (chunks that
//!   share a dictionary's memory share one entry, so its values are processed once).
//!
//! Nothing is copied: a key is a slice of the caller's memory. A malformed column (offsets out
//! of order, a view past its buffer, an index past its dictionary) is never a panic or a read
//! outside the slices given. Dictionaries and indices are checked when added. Plain chunks are
//! checked as they are read, by the bounds checks every key needs anyway: a key outside its
//! buffers reads as empty and marks the column, and [`KeyColumn::verify`], which callers run
//! after reading, then names the first offending key (see [`check`]). A separate checking pass
//! would cost as much as reading the keys' offsets or views once more (up to half the time
//! of a placement for views). Integer columns never come here: they are [`Keys::Ints`] already.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::keys::Keys;
use crate::mem::prefetch;
use crate::par;
use crate::Error;

/// Dictionary indices of one integer width, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum Indices<'a> {
    I8(&'a [i8]),
    U8(&'a [u8]),
    I16(&'a [i16]),
    U16(&'a [u16]),
    I32(&'a [i32]),
    U32(&'a [u32]),
    I64(&'a [i64]),
    U64(&'a [u64]),
}

/// An index value as a position (a negative one becomes `usize::MAX`, which no dictionary holds).
trait Position: Copy {
    fn position(self) -> usize;
}

macro_rules! position {
    (small: $($t:ty),*) => { $(impl Position for $t {
        #[inline(always)]
        fn position(self) -> usize { usize::from(self) }
    })* };
    (wide: $($t:ty),*) => { $(impl Position for $t {
        #[inline(always)]
        fn position(self) -> usize { usize::try_from(self).unwrap_or(usize::MAX) }
    })* };
}
position!(small: u8, u16);
position!(wide: i8, i16, i32, u32, i64, u64);

/// `$body` with `$v` bound to the typed index slice (one dispatch for a whole loop).
macro_rules! with_indices {
    ($indices:expr, |$v:ident| $body:expr) => {
        match $indices {
            Indices::I8($v) => $body,
            Indices::U8($v) => $body,
            Indices::I16($v) => $body,
            Indices::U16($v) => $body,
            Indices::I32($v) => $body,
            Indices::U32($v) => $body,
            Indices::I64($v) => $body,
            Indices::U64($v) => $body,
        }
    };
}

mod check;
mod gather;

impl Indices<'_> {
    pub fn len(&self) -> usize {
        with_indices!(self, |v| v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index `i` (a negative one becomes `usize::MAX`, which no dictionary holds).
    #[inline(always)]
    pub fn at(&self, i: usize) -> usize {
        with_indices!(self, |v| v[i].position())
    }
}

/// One array of keys (see the module documentation).
#[derive(Clone, Debug)]
pub enum Chunk<'a> {
    Offsets32 {
        offsets: &'a [i32],
        data: &'a [u8],
    },
    Offsets64 {
        offsets: &'a [i64],
        data: &'a [u8],
    },
    Views {
        views: &'a [[u8; 16]],
        buffers: Vec<&'a [u8]>,
    },
    Fixed {
        width: usize,
        len: usize,
        data: &'a [u8],
    },
    /// Entry `indices[i]` of the column's dictionary number `dict`.
    Dict {
        indices: Indices<'a>,
        dict: usize,
    },
}

/// How far ahead of the key being read its successors' bytes are prefetched. The hardware
/// prefetcher alone leaves key loads waiting on memory when a lookup pass runs in between.
const AHEAD: usize = 4096;

/// The same for the out-of-line bytes of views (their views are prefetched too, see
/// [`VIEWS_AHEAD`]).
const VIEW_BYTES_AHEAD: usize = 1024;

/// Whether a read found a key outside its buffers (it then read as empty).
#[derive(Debug, Default)]
struct Defect(AtomicBool);

impl Defect {
    /// Record a key outside its buffers; the empty key it reads as.
    #[cold]
    #[inline(never)]
    fn found<'a>(&self) -> &'a [u8] {
        self.0.store(true, Ordering::Relaxed);
        &[]
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Clone for Defect {
    fn clone(&self) -> Self {
        Defect(AtomicBool::new(self.any()))
    }
}

/// `data[start..end]` for offsets of a key, or the defect's empty key.
#[inline(always)]
fn between<'a>(data: &'a [u8], start: usize, end: usize, defect: &Defect) -> &'a [u8] {
    match data.get(start..end) {
        Some(key) => key,
        None => defect.found(),
    }
}

/// The bytes of one 16-byte view: length (4 bytes), then the key itself when it has at most
/// 12 bytes, else a 4-byte prefix, the buffer number and the offset in that buffer.
#[inline(always)]
fn view_bytes<'a>(view: &'a [u8; 16], buffers: &[&'a [u8]], defect: &Defect) -> &'a [u8] {
    let len = view_word(view, 0);
    if len <= 12 {
        return &view[4..4 + len as usize];
    }
    let (start, buffer) = (view_word(view, 12), view_word(view, 8) as usize);
    if let Some(data) = buffers.get(buffer) {
        let end = start as usize + len as usize;
        // Length and offset are int32: neither may be negative.
        if len <= i32::MAX as u32 && start <= i32::MAX as u32 && end <= data.len() {
            return &data[start as usize..end];
        }
    }
    defect.found()
}

/// The native-endian u32 at byte `at` of a view.
#[inline(always)]
fn view_word(view: &[u8; 16], at: usize) -> u32 {
    // One 4-byte load (`at` is a constant where this is inlined).
    u32::from_ne_bytes(view[at..at + 4].try_into().unwrap_or([0; 4]))
}

/// How many views ahead of the one being read the views are prefetched.
const VIEWS_AHEAD: usize = 256;

impl<'a> Chunk<'a> {
    /// Keys in the chunk.
    pub fn len(&self) -> usize {
        match self {
            Chunk::Offsets32 { offsets, .. } => offsets.len().saturating_sub(1),
            Chunk::Offsets64 { offsets, .. } => offsets.len().saturating_sub(1),
            Chunk::Views { views, .. } => views.len(),
            Chunk::Fixed { len, .. } => *len,
            Chunk::Dict { indices, .. } => indices.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether two chunks are the same memory (how shared dictionaries are recognised).
    fn same_memory(&self, other: &Chunk<'_>) -> bool {
        fn same<T, U>(a: &[T], b: &[U]) -> bool {
            std::ptr::eq(a.as_ptr().cast::<u8>(), b.as_ptr().cast::<u8>())
                && std::mem::size_of_val(a) == std::mem::size_of_val(b)
        }
        match (self, other) {
            (
                Chunk::Offsets32 { offsets, data },
                Chunk::Offsets32 {
                    offsets: o,
                    data: d,
                },
            ) => same(offsets, o) && same(data, d),
            (
                Chunk::Offsets64 { offsets, data },
                Chunk::Offsets64 {
                    offsets: o,
                    data: d,
                },
            ) => same(offsets, o) && same(data, d),
            (
                Chunk::Views { views, buffers },
                Chunk::Views {
                    views: v,
                    buffers: b,
                },
            ) => {
                same(views, v)
                    && buffers.len() == b.len()
                    && buffers.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (
                Chunk::Fixed { width, len, data },
                Chunk::Fixed {
                    width: w,
                    len: l,
                    data: d,
                },
            ) => width == w && len == l && same(data, d),
            _ => false,
        }
    }

    /// `f(j, key first + j)` for `j` in `0..len` (`first + len <= self.len()`), one dispatch
    /// for the whole run; a key outside its buffers reads as empty and marks `defect`.
    ///
    /// # Panics
    /// On a dictionary chunk (the column resolves those).
    #[inline(always)]
    fn for_each_plain(
        &self,
        first: usize,
        len: usize,
        defect: &Defect,
        mut f: impl FnMut(usize, &'a [u8]),
    ) {
        match self {
            // A negative offset becomes a huge usize: outside the data, like any other.
            Chunk::Offsets32 { offsets, data } => {
                for (j, w) in offsets[first..first + len + 1].windows(2).enumerate() {
                    let (start, end) = (w[0] as usize, w[1] as usize);
                    prefetch(data.as_ptr().wrapping_add(start.wrapping_add(AHEAD)));
                    f(j, between(data, start, end, defect));
                }
            }
            Chunk::Offsets64 { offsets, data } => {
                for (j, w) in offsets[first..first + len + 1].windows(2).enumerate() {
                    let (start, end) = (w[0] as usize, w[1] as usize);
                    prefetch(data.as_ptr().wrapping_add(start.wrapping_add(AHEAD)));
                    f(j, between(data, start, end, defect));
                }
            }
            Chunk::Views { views, buffers } => {
                for (j, v) in views[first..first + len].iter().enumerate() {
                    // The views well ahead; then, as out-of-line bytes are usually laid out in
                    // view order, the bytes ahead of this key's.
                    prefetch(views.as_ptr().wrapping_add(first + j + VIEWS_AHEAD));
                    let key = view_bytes(v, buffers, defect);
                    prefetch(key.as_ptr().wrapping_add(VIEW_BYTES_AHEAD));
                    f(j, key);
                }
            }
            Chunk::Fixed { .. } => {
                for j in 0..len {
                    f(j, self.plain(first + j, defect));
                }
            }
            Chunk::Dict { .. } => unreachable!("dictionary chunks are resolved by the column"),
        }
    }

    /// Key `i` of a chunk that is not a dictionary chunk; empty (and `defect` marked) when
    /// it lies outside the chunk's buffers or `i` is past the chunk's end.
    #[inline(always)]
    fn plain(&self, i: usize, defect: &Defect) -> &'a [u8] {
        match self {
            Chunk::Offsets32 { offsets, data } => match offsets.get(i..).and_then(|o| o.get(..2)) {
                Some(w) => between(data, w[0] as usize, w[1] as usize, defect),
                None => defect.found(),
            },
            Chunk::Offsets64 { offsets, data } => match offsets.get(i..).and_then(|o| o.get(..2)) {
                Some(w) => between(data, w[0] as usize, w[1] as usize, defect),
                None => defect.found(),
            },
            Chunk::Views { views, buffers } => match views.get(i) {
                Some(v) => view_bytes(v, buffers, defect),
                None => defect.found(),
            },
            Chunk::Fixed { width, data, .. } => {
                let key = i
                    .checked_mul(*width)
                    .and_then(|at| data.get(at..))
                    .and_then(|rest| rest.get(..*width));
                match key {
                    Some(key) => key,
                    None => defect.found(),
                }
            }
            Chunk::Dict { .. } => unreachable!("dictionary chunks are resolved by the column"),
        }
    }
}

/// Byte-string keys in chunks (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct KeyColumn<'a> {
    chunks: Vec<Chunk<'a>>,
    /// `ends[c]`: keys in chunks `0..=c`.
    ends: Vec<usize>,
    /// The distinct dictionaries of the dictionary chunks (never themselves dictionaries),
    /// checked when added.
    dicts: Vec<Chunk<'a>>,
    /// Set when a read found a key outside its buffers or an index outside its dictionary.
    defect: Defect,
}

impl<'a> KeyColumn<'a> {
    /// Append a chunk of keys (checked as it is read: see [`KeyColumn::verify`]). Empty chunks
    /// count too, so that chunk numbers in messages are those of the input.
    ///
    /// # Panics
    /// On a [`Chunk::Dict`] (use [`KeyColumn::push_dictionary`]).
    pub fn push(&mut self, chunk: Chunk<'a>) {
        assert!(
            !matches!(chunk, Chunk::Dict { .. }),
            "use push_dictionary for dictionary chunks"
        );
        self.ends.push(self.len() + chunk.len());
        self.chunks.push(chunk);
    }

    /// After reading keys: [`Error::Malformed`] naming the first key outside its buffers or
    /// with an index outside its dictionary (by its position in the column, and its chunk when
    /// there are several) if a read found one, else `Ok`. Every bulk operation on a column runs
    /// this before trusting its results.
    pub fn verify(&self) -> Result<(), Error> {
        if !self.defect.any() {
            return Ok(());
        }
        for (c, chunk) in self.chunks.iter().enumerate() {
            let start = if c == 0 { 0 } else { self.ends[c - 1] };
            let found = match chunk {
                Chunk::Dict { indices, dict } => {
                    indices.check_within(self.dicts[*dict].len(), start)
                }
                plain => check::chunk(plain, &|i| format!("keys[{}]", start + i)),
            };
            found.map_err(|e| match e {
                Error::Malformed(m) if self.chunks.len() > 1 => {
                    Error::Malformed(format!("{m} (in chunks[{c}] of {})", self.chunks.len()))
                }
                e => e,
            })?;
        }
        Err(Error::Malformed("a key lies outside its buffers".into()))
    }

    /// Append a dictionary-encoded chunk: key `i` is `values[indices[i]]`. A dictionary that is
    /// the same memory as an earlier one is stored (and checked) once. [`Error::Malformed`] when
    /// the dictionary's buffers contradict each other (naming the entry); indices are checked
    /// as they are read (see [`KeyColumn::verify`]).
    ///
    /// # Panics
    /// If `values` is itself a dictionary chunk.
    pub fn push_dictionary(
        &mut self,
        indices: Indices<'a>,
        values: Chunk<'a>,
    ) -> Result<(), Error> {
        assert!(
            !matches!(values, Chunk::Dict { .. }),
            "dictionaries of dictionaries are not keys"
        );
        let known = self.dicts.iter().position(|d| d.same_memory(&values));
        if known.is_none() {
            check::chunk(&values, &|e| format!("dictionary entry {e}"))?;
        }
        let dict = known.unwrap_or_else(|| {
            self.dicts.push(values);
            self.dicts.len() - 1
        });
        self.ends.push(self.len() + indices.len());
        self.chunks.push(Chunk::Dict { indices, dict });
        Ok(())
    }

    /// Keys in the column.
    pub fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The chunk holding key `i`, and `i`'s position in it.
    #[inline(always)]
    fn locate(&self, i: usize) -> (usize, usize) {
        if self.chunks.len() == 1 {
            return (0, i);
        }
        let c = self.ends.partition_point(|&e| e <= i);
        (c, i - if c == 0 { 0 } else { self.ends[c - 1] })
    }

    /// Key `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    #[inline(always)]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (c, at) = self.locate(i);
        match &self.chunks[c] {
            Chunk::Dict { indices, dict } => self.dicts[*dict].plain(indices.at(at), &self.defect),
            chunk => chunk.plain(at, &self.defect),
        }
    }

    /// `f(out_at, chunk, first, len)` for the pieces of chunks that hold keys
    /// `first..first + len` (`out_at` counts from `first`).
    fn segments(
        &self,
        first: usize,
        len: usize,
        mut f: impl FnMut(usize, &Chunk<'a>, usize, usize),
    ) {
        if len == 0 {
            return;
        }
        let (mut c, mut at) = self.locate(first);
        let mut done = 0;
        while done < len {
            let chunk = &self.chunks[c];
            let take = (chunk.len() - at).min(len - done);
            if take > 0 {
                f(done, chunk, at, take);
            }
            done += take;
            c += 1;
            at = 0;
        }
    }

    /// `f(j, key first + j)` for `j` in `0..len`, in order, one dispatch per chunk.
    #[inline(always)]
    pub fn for_each_in(&self, first: usize, len: usize, mut f: impl FnMut(usize, &'a [u8])) {
        self.segments(first, len, |base, chunk, at, take| match chunk {
            Chunk::Dict { indices, dict } => {
                let values = &self.dicts[*dict];
                for j in 0..take {
                    f(base + j, values.plain(indices.at(at + j), &self.defect));
                }
            }
            plain => plain.for_each_plain(
                at,
                take,
                &self.defect,
                #[inline(always)]
                |j, b| f(base + j, b),
            ),
        });
    }

    /// Whether every chunk is dictionary-encoded and the dictionaries together are no longer
    /// than the column (so working per distinct value does less, never more).
    fn distinct_pays(&self) -> bool {
        !self.chunks.is_empty()
            && self.chunks.iter().all(|c| matches!(c, Chunk::Dict { .. }))
            && self.dicts.iter().map(Chunk::len).sum::<usize>() <= self.len()
    }

    /// `out[i] = table[d][indices[i]]` for every key, `d` its chunk's dictionary, in parallel.
    fn gather_into<T: Copy + Send + Sync>(&self, tables: &[Vec<T>], out: &mut [T]) {
        par::fill_parts(out, |start, part| {
            self.segments(start, part.len(), |base, chunk, at, take| {
                if let Chunk::Dict { indices, dict } = chunk {
                    let table = &tables[*dict];
                    assert_eq!(table.len(), self.dicts[*dict].len(), "one result per entry");
                    if !gather::gather(indices, at, table, &mut part[base..base + take]) {
                        self.defect.found();
                    }
                }
            });
        });
    }

    /// `out[i] = f(key i)`, in parallel for large columns. A dictionary-encoded column computes
    /// `f` once per dictionary entry and then copies the results by index.
    ///
    /// # Panics
    /// If `out.len() != self.len()` (a programming error).
    pub fn map_into<T, F>(&self, out: &mut [T], f: F)
    where
        T: Copy + Send + Sync,
        F: Fn(&'a [u8]) -> T + Sync,
    {
        assert_eq!(out.len(), self.len(), "map_into: output length differs");
        if self.distinct_pays() {
            let tables: Vec<Vec<T>> = self
                .dicts
                .iter()
                .map(|d| (0..d.len()).map(|i| f(d.plain(i, &self.defect))).collect())
                .collect();
            self.gather_into(&tables, out);
            return;
        }
        par::fill_parts(out, |start, part| {
            self.for_each_in(start, part.len(), |j, b| part[j] = f(b));
        });
    }

    /// For a dictionary-encoded column: `batch(dictionary, results)` once per distinct
    /// dictionary, then `out[i]` = the result of key `i`'s entry. `None` (and `out` untouched)
    /// when the column is not dictionary-encoded or its dictionaries are longer than it.
    pub fn by_distinct<T, E>(
        &self,
        out: &mut [T],
        mut batch: impl FnMut(Keys<'_>, &mut [T]) -> Result<(), E>,
    ) -> Option<Result<(), E>>
    where
        T: Copy + Default + Send + Sync,
    {
        if !self.distinct_pays() {
            return None;
        }
        assert_eq!(out.len(), self.len(), "by_distinct: output length differs");
        let mut tables = Vec::with_capacity(self.dicts.len());
        for d in &self.dicts {
            let mut values = KeyColumn::default();
            values.push(d.clone());
            let mut table = vec![T::default(); d.len()];
            if let Err(e) = batch(Keys::Column(&values), &mut table) {
                return Some(Err(e));
            }
            tables.push(table);
        }
        self.gather_into(&tables, out);
        Some(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_of(col: &KeyColumn<'_>) -> Vec<Vec<u8>> {
        (0..col.len()).map(|i| col.get(i).to_vec()).collect()
    }

    fn view(bytes: &[u8], buffer: u32, offset: u32) -> [u8; 16] {
        let mut v = [0u8; 16];
        v[..4].copy_from_slice(&(bytes.len() as u32).to_ne_bytes());
        if bytes.len() <= 12 {
            v[4..4 + bytes.len()].copy_from_slice(bytes);
        } else {
            v[4..8].copy_from_slice(&bytes[..4]);
            v[8..12].copy_from_slice(&buffer.to_ne_bytes());
            v[12..16].copy_from_slice(&offset.to_ne_bytes());
        }
        v
    }

    #[test]
    fn every_layout_reads_its_keys() {
        let data = b"xxhelloworld!";
        let mut col = KeyColumn::default();
        // A sliced array: offsets need not start at 0.
        col.push(Chunk::Offsets32 {
            offsets: &[2, 7, 7, 13],
            data,
        });
        // Empty chunks (an empty stream chunk may have no offsets at all) are skipped.
        col.push(Chunk::Offsets32 { offsets: &[], data });
        col.push(Chunk::Offsets64 {
            offsets: &[0, 2],
            data,
        });
        col.push(Chunk::Offsets64 {
            offsets: &[4],
            data,
        });
        let long = b"a key longer than twelve bytes";
        let views = [view(b"short", 0, 0), view(long, 1, 3)];
        let mut buffer = b"...".to_vec();
        buffer.extend_from_slice(long);
        col.push(Chunk::Views {
            views: &views,
            buffers: vec![b"", &buffer],
        });
        col.push(Chunk::Fixed {
            width: 3,
            len: 2,
            data: b"abcdef",
        });
        let expected: Vec<&[u8]> = vec![
            b"hello", b"", b"world!", b"xx", b"short", long, b"abc", b"def",
        ];
        assert_eq!(keys_of(&col), expected);
        // Every starting point and length walks the chunks like get() does.
        for first in 0..col.len() {
            for len in 0..=col.len() - first {
                let mut seen = Vec::new();
                col.for_each_in(first, len, |j, b| seen.push((j, b.to_vec())));
                let want: Vec<_> = (0..len)
                    .map(|j| (j, expected[first + j].to_vec()))
                    .collect();
                assert_eq!(seen, want);
            }
        }
    }

    #[test]
    fn shared_dictionaries_are_stored_once() {
        let data = b"redgreenblue";
        let values = Chunk::Offsets32 {
            offsets: &[0, 3, 8, 12],
            data,
        };
        let mut col = KeyColumn::default();
        col.push_dictionary(Indices::U8(&[2, 0, 0]), values.clone())
            .unwrap();
        col.push_dictionary(Indices::I32(&[1, 2]), values.clone())
            .unwrap();
        assert_eq!(col.dicts.len(), 1);
        let other = Chunk::Offsets32 {
            offsets: &[0, 3],
            data,
        };
        col.push_dictionary(Indices::I64(&[0]), other).unwrap();
        assert_eq!(col.dicts.len(), 2);
        let expected: Vec<&[u8]> = vec![b"blue", b"red", b"red", b"green", b"blue", b"red"];
        assert_eq!(keys_of(&col), expected);
    }

    #[test]
    fn distinct_route_matches_key_by_key() {
        let data = b"abcdefgh";
        let values = Chunk::Fixed {
            width: 2,
            len: 4,
            data,
        };
        let idx: Vec<u16> = (0..100_000u32).map(|i| (i * 7 % 4) as u16).collect();
        let mut col = KeyColumn::default();
        col.push_dictionary(Indices::U16(&idx[..40_000]), values.clone())
            .unwrap();
        col.push_dictionary(Indices::U16(&idx[40_000..]), values)
            .unwrap();
        let f = |b: &[u8]| u32::from(b[0]) * 256 + u32::from(b[1]);
        let want: Vec<u32> = (0..col.len()).map(|i| f(col.get(i))).collect();
        let mut got = vec![0u32; col.len()];
        col.map_into(&mut got, f);
        assert_eq!(got, want);
        let mut calls = 0;
        let mut got = vec![0u32; col.len()];
        let done = col.by_distinct(&mut got, |k, out| {
            calls += 1;
            k.map_bytes_into(out, f);
            Ok::<(), ()>(())
        });
        assert_eq!(done, Some(Ok(())));
        assert_eq!(calls, 1);
        assert_eq!(got, want);
    }

    #[test]
    fn plain_columns_do_not_take_the_distinct_route() {
        let mut col = KeyColumn::default();
        col.push(Chunk::Fixed {
            width: 1,
            len: 2,
            data: b"ab",
        });
        let mut out = [0u8; 2];
        assert!(col.by_distinct(&mut out, |_, _| Ok::<(), ()>(())).is_none());
    }

    fn malformed(result: Result<(), Error>) -> String {
        match result {
            Err(Error::Malformed(m)) => m,
            other => panic!("expected a malformed-data error, got {other:?}"),
        }
    }

    #[test]
    fn indices_outside_their_dictionary_are_refused_once_read() {
        let values = Chunk::Fixed {
            width: 1,
            len: 2,
            data: b"ab",
        };
        let three = Chunk::Fixed {
            width: 1,
            len: 3,
            data: b"xyz",
        };
        let mut col = KeyColumn::default();
        col.push(three.clone());
        col.push_dictionary(Indices::I16(&[0, 1, 2]), values.clone())
            .unwrap();
        assert_eq!(
            malformed(read_all(&col)),
            "the index of keys[5] is 2, outside its dictionary of 2 entries (in chunks[1] of 2)"
        );
        let mut col = KeyColumn::default();
        col.push_dictionary(Indices::I64(&[-1]), values).unwrap();
        let mut out = [0u8; 1];
        col.map_into(&mut out, |b| b.len() as u8);
        assert_eq!(
            malformed(col.verify()),
            "the index of keys[0] is -1, outside its dictionary of 2 entries"
        );
    }

    #[test]
    fn gathers_of_every_index_type_match_key_by_key_and_catch_bad_indices() {
        // Long enough for the vector loop and a tail; entries of 4 bytes (the vector path) and
        // of 8 (the portable one).
        let table32: Vec<u32> = (0..300).map(|i| i * 3 + 1).collect();
        let table64: Vec<u64> = table32.iter().map(|&v| u64::from(v) << 20).collect();
        let raw: Vec<i64> = (0..203).map(|i| (i * 37 % 120) as i64).collect();
        let i8s: Vec<i8> = raw.iter().map(|&v| v as i8).collect();
        let u8s: Vec<u8> = raw.iter().map(|&v| v as u8).collect();
        let i16s: Vec<i16> = raw.iter().map(|&v| v as i16).collect();
        let u16s: Vec<u16> = raw.iter().map(|&v| v as u16).collect();
        let i32s: Vec<i32> = raw.iter().map(|&v| v as i32).collect();
        let u32s: Vec<u32> = raw.iter().map(|&v| v as u32).collect();
        let u64s: Vec<u64> = raw.iter().map(|&v| v as u64).collect();
        let all = [
            Indices::I8(&i8s),
            Indices::U8(&u8s),
            Indices::I16(&i16s),
            Indices::U16(&u16s),
            Indices::I32(&i32s),
            Indices::U32(&u32s),
            Indices::I64(&raw),
            Indices::U64(&u64s),
        ];
        for indices in all {
            for first in [0, 5] {
                let n = raw.len() - first;
                let mut out32 = vec![0u32; n];
                assert!(gather::gather(&indices, first, &table32, &mut out32));
                let want: Vec<u32> = raw[first..].iter().map(|&i| table32[i as usize]).collect();
                assert_eq!(out32, want, "{indices:?}");
                let mut out64 = vec![0u64; n];
                assert!(gather::gather(&indices, first, &table64, &mut out64));
                assert!(out64
                    .iter()
                    .zip(&want)
                    .all(|(&a, &b)| a == u64::from(b) << 20));
                // A table one entry short of the largest index: caught, in the body or tail.
                let short = &table32[..119];
                assert!(!gather::gather(&indices, first, short, &mut out32));
            }
        }
        // Negative indices (and, for unsigned types, their huge two's complement) are outside.
        for at in [3, 200] {
            let mut bad = i32s.clone();
            bad[at] = -1;
            let mut out = vec![0u32; bad.len()];
            assert!(!gather::gather(&Indices::I32(&bad), 0, &table32, &mut out));
            let mut bad8 = i8s.clone();
            bad8[at] = -128;
            assert!(!gather::gather(&Indices::I8(&bad8), 0, &table32, &mut out));
        }
        let mut out = vec![0u32; 1];
        assert!(!gather::gather(
            &Indices::U8(&[0]),
            0,
            &table32[..0],
            &mut out
        ));
    }

    #[test]
    fn indices_outside_the_dictionary_are_found() {
        assert_eq!(Indices::I8(&[0, 1, -1]).first_outside(2), Some(2));
        assert_eq!(Indices::U32(&[0, 5, 1]).first_outside(2), Some(1));
        assert_eq!(Indices::U64(&[0, 1]).first_outside(2), None);
    }

    /// Every key read (as the bulk operations do), then the column's verdict.
    fn read_all(col: &KeyColumn<'_>) -> Result<(), Error> {
        let mut total = 0;
        col.for_each_in(0, col.len(), |_, b| total += b.len());
        let single: usize = (0..col.len()).map(|i| col.get(i).len()).sum();
        assert_eq!(total, single);
        col.verify()
    }

    fn offsets_error(offsets: &[i32], data: &[u8]) -> String {
        let ten = Chunk::Fixed {
            width: 1,
            len: 10,
            data: b"0123456789",
        };
        let wide: Vec<i64> = offsets.iter().map(|&o| i64::from(o)).collect();
        let mut narrow = KeyColumn::default();
        narrow.push(ten.clone());
        narrow.push(Chunk::Offsets32 { offsets, data });
        let mut other = KeyColumn::default();
        other.push(ten);
        other.push(Chunk::Offsets64 {
            offsets: &wide,
            data,
        });
        let message = malformed(read_all(&narrow));
        assert_eq!(message, malformed(read_all(&other)));
        message
    }

    #[test]
    fn malformed_offsets_name_the_first_bad_key() {
        // Long enough for the vectorised pass to handle whole blocks.
        let mut offsets: Vec<i32> = (0..100).collect();
        offsets[60] = 58;
        let data = [b'x'; 99];
        assert_eq!(
            offsets_error(&offsets, &data),
            "keys[69]: offsets run backwards (59 then 58) (in chunks[1] of 2)"
        );
        assert_eq!(
            offsets_error(&[0, 5, 2, 6], b"abcdef"),
            "keys[11]: offsets run backwards (5 then 2) (in chunks[1] of 2)"
        );
        assert_eq!(
            offsets_error(&[0, 50, 2, 6], b"abcdef"),
            "keys[10]: offsets 0..50 pass the end of the data (6 bytes) (in chunks[1] of 2)"
        );
        assert_eq!(
            offsets_error(&[-5, 2, 6], b"abcdef"),
            "keys[10]: offset -5 is negative (in chunks[1] of 2)"
        );
        assert_eq!(
            offsets_error(&[0, 2, 7], b"abcdef"),
            "keys[11]: offsets 2..7 pass the end of the data (6 bytes) (in chunks[1] of 2)"
        );
        let mut good = KeyColumn::default();
        good.push(Chunk::Offsets32 {
            offsets: &[1, 1, 6],
            data: b"abcdef",
        });
        assert_eq!(read_all(&good), Ok(()));
    }

    #[test]
    fn malformed_views_name_the_first_bad_key() {
        let buffer = [b'y'; 40];
        let check = |v: [u8; 16]| {
            let views = [view(b"short", 0, 0), v];
            let mut col = KeyColumn::default();
            col.push(Chunk::Views {
                views: &views,
                buffers: vec![&buffer],
            });
            malformed(read_all(&col))
        };
        let long = [b'z'; 20];
        assert_eq!(
            check(view(&long, 1, 0)),
            "keys[1]: view of 20 bytes names data buffer 1, but there are 1"
        );
        assert_eq!(
            check(view(&long, 0, 30)),
            "keys[1]: view of 20 bytes at offset 30 passes the end of data buffer 0 (40 bytes)"
        );
        let mut negative = view(&long, 0, 0);
        negative[..4].copy_from_slice(&(-20i32).to_ne_bytes());
        assert_eq!(check(negative), "keys[1]: view length -20 is negative");
        assert_eq!(
            check(view(&long, 0, u32::MAX - 3)),
            "keys[1]: view offset -4 is negative"
        );
        // A view that exactly reaches the end is fine, and so are inline views whatever their
        // prefix bytes say.
        let views = [view(&long, 0, 20), view(b"\xff\xff\xff\xff\xff\xff", 9, 9)];
        let mut col = KeyColumn::default();
        col.push(Chunk::Views {
            views: &views,
            buffers: vec![&buffer],
        });
        assert_eq!(read_all(&col), Ok(()));
        assert_eq!(col.get(0), &buffer[20..]);
    }

    #[test]
    fn malformed_dictionaries_name_the_entry() {
        let values = Chunk::Offsets32 {
            offsets: &[0, 3, 1],
            data: b"abc",
        };
        let mut col = KeyColumn::default();
        assert_eq!(
            malformed(col.push_dictionary(Indices::U8(&[0]), values)),
            "dictionary entry 1: offsets run backwards (3 then 1)"
        );
        assert!(col.is_empty());
        col.push(Chunk::Fixed {
            width: 4,
            len: 2,
            data: b"abcdefg",
        });
        assert_eq!(
            malformed(read_all(&col)),
            "2 keys of 4 bytes do not fit in the 7 bytes of data"
        );
    }
}
