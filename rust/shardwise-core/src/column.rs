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
//! Nothing is copied: a key is a slice of the caller's memory. Every access is bounds-checked
//! against the slices given, so a malformed column (offsets out of order, an index past its
//! dictionary) panics instead of reading outside them. Integer columns never come here: they
//! are [`Keys::Ints`] already.

use crate::keys::Keys;
use crate::mem::prefetch;
use crate::par;

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

    /// The first position whose index is negative or `>= entries`, if any.
    pub fn first_outside(&self, entries: usize) -> Option<usize> {
        with_indices!(self, |v| {
            // One branch-free pass for the smallest and largest index (it vectorises), then a
            // search only when one of them is out of range.
            let first = *v.first()?;
            let (low, high) = v
                .iter()
                .fold((first, first), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            if low.position() < entries && high.position() < entries {
                return None;
            }
            v.iter().position(|&x| x.position() >= entries)
        })
    }

    /// `out[j] = table[indices[first + j]]`.
    ///
    /// # Safety
    /// Every index in `first..first + out.len()` is below `table.len()`.
    unsafe fn gather<T: Copy>(&self, first: usize, table: &[T], out: &mut [T]) {
        let n = out.len();
        with_indices!(self, |v| {
            for (o, &x) in out.iter_mut().zip(&v[first..first + n]) {
                // SAFETY: in range, as the caller guarantees.
                *o = unsafe { *table.get_unchecked(x.position()) };
            }
        })
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
const AHEAD: usize = 1024;

/// The bytes of one 16-byte view: length (4 bytes), then the key itself when it has at most
/// 12 bytes, else a 4-byte prefix, the buffer number and the offset in that buffer.
#[inline(always)]
fn view_bytes<'a>(view: &'a [u8; 16], buffers: &[&'a [u8]]) -> &'a [u8] {
    let word = |at: usize| u32::from_ne_bytes([view[at], view[at + 1], view[at + 2], view[at + 3]]);
    let len = word(0) as usize;
    if len <= 12 {
        return &view[4..4 + len];
    }
    let start = word(12) as usize;
    &buffers[word(8) as usize][start..start + len]
}

/// How many views ahead of the one being read the views are prefetched.
const VIEWS_AHEAD: usize = 64;

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

    /// `f(j, key first + j)` for `j` in `0..len`, one dispatch for the whole run.
    ///
    /// # Panics
    /// On a dictionary chunk (the column resolves those) or a malformed chunk.
    #[inline(always)]
    fn for_each_plain(&self, first: usize, len: usize, mut f: impl FnMut(usize, &'a [u8])) {
        match self {
            Chunk::Offsets32 { offsets, data } => {
                for (j, w) in offsets[first..first + len + 1].windows(2).enumerate() {
                    prefetch(data.as_ptr().wrapping_add(w[0] as usize + AHEAD));
                    f(j, &data[w[0] as usize..w[1] as usize]);
                }
            }
            Chunk::Offsets64 { offsets, data } => {
                for (j, w) in offsets[first..first + len + 1].windows(2).enumerate() {
                    prefetch(data.as_ptr().wrapping_add(w[0] as usize + AHEAD));
                    f(j, &data[w[0] as usize..w[1] as usize]);
                }
            }
            Chunk::Views { views, buffers } => {
                for (j, v) in views[first..first + len].iter().enumerate() {
                    // The views well ahead; then, as out-of-line bytes are usually laid out in
                    // view order, the bytes ahead of this key's.
                    prefetch(views.as_ptr().wrapping_add(first + j + VIEWS_AHEAD));
                    let key = view_bytes(v, buffers);
                    prefetch(key.as_ptr().wrapping_add(AHEAD));
                    f(j, key);
                }
            }
            Chunk::Fixed { width, data, .. } => {
                for j in 0..len {
                    let at = (first + j) * width;
                    f(j, &data[at..at + width]);
                }
            }
            Chunk::Dict { .. } => unreachable!("dictionary chunks are resolved by the column"),
        }
    }

    /// Key `i` of a chunk that is not a dictionary chunk.
    #[inline(always)]
    fn plain(&self, i: usize) -> &'a [u8] {
        match self {
            Chunk::Offsets32 { offsets, data } => {
                &data[offsets[i] as usize..offsets[i + 1] as usize]
            }
            Chunk::Offsets64 { offsets, data } => {
                &data[offsets[i] as usize..offsets[i + 1] as usize]
            }
            Chunk::Views { views, buffers } => view_bytes(&views[i], buffers),
            Chunk::Fixed { width, data, .. } => &data[i * width..(i + 1) * width],
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
    /// The distinct dictionaries of the dictionary chunks (never themselves dictionaries);
    /// every index of a dictionary chunk is below its dictionary's length.
    dicts: Vec<Chunk<'a>>,
}

impl<'a> KeyColumn<'a> {
    /// Append a chunk of keys.
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

    /// Append a dictionary-encoded chunk: key `i` is `values[indices[i]]`. A dictionary that is
    /// the same memory as an earlier one is stored once. Refused, with the chunk position of
    /// the first offending index, when an index is negative or past the dictionary's end.
    ///
    /// # Panics
    /// If `values` is itself a dictionary chunk.
    pub fn push_dictionary(
        &mut self,
        indices: Indices<'a>,
        values: Chunk<'a>,
    ) -> Result<(), usize> {
        assert!(
            !matches!(values, Chunk::Dict { .. }),
            "dictionaries of dictionaries are not keys"
        );
        if let Some(bad) = indices.first_outside(values.len()) {
            return Err(bad);
        }
        let dict = match self.dicts.iter().position(|d| d.same_memory(&values)) {
            Some(d) => d,
            None => {
                self.dicts.push(values);
                self.dicts.len() - 1
            }
        };
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
            Chunk::Dict { indices, dict } => self.dicts[*dict].plain(indices.at(at)),
            chunk => chunk.plain(at),
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
            f(done, chunk, at, take);
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
                    f(base + j, values.plain(indices.at(at + j)));
                }
            }
            plain => plain.for_each_plain(
                at,
                take,
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
                    // SAFETY: push_dictionary checked every index against the dictionary's
                    // length, which is the table's.
                    unsafe { indices.gather(at, table, &mut part[base..base + take]) };
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
                .map(|d| (0..d.len()).map(|i| f(d.plain(i))).collect())
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
        col.push(Chunk::Offsets64 {
            offsets: &[0, 2],
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

    #[test]
    fn indices_outside_their_dictionary_are_refused() {
        let values = Chunk::Fixed {
            width: 1,
            len: 2,
            data: b"ab",
        };
        let mut col = KeyColumn::default();
        assert_eq!(
            col.push_dictionary(Indices::I16(&[0, 1, 2]), values.clone()),
            Err(2)
        );
        assert_eq!(col.push_dictionary(Indices::I16(&[-1]), values), Err(0));
        assert!(col.is_empty());
    }

    #[test]
    fn indices_outside_the_dictionary_are_found() {
        assert_eq!(Indices::I8(&[0, 1, -1]).first_outside(2), Some(2));
        assert_eq!(Indices::U32(&[0, 5, 1]).first_outside(2), Some(1));
        assert_eq!(Indices::U64(&[0, 1]).first_outside(2), None);
    }

    #[test]
    #[should_panic]
    fn offsets_out_of_order_panic_rather_than_read_outside() {
        let mut col = KeyColumn::default();
        col.push(Chunk::Offsets32 {
            offsets: &[0, 5, 2],
            data: b"hello",
        });
        col.get(1);
    }
}
