//! The key model: what a key is once it has left Python.
//!
//! Encoding contract (permanent): text is UTF-8, byte strings are taken as is, integers are
//! 8 bytes little-endian (two's complement for negatives). Integer keys stay integers here so
//! that algorithms which use them raw (jump hash) can, and everything else hashes their bytes.

pub use crate::column::KeyColumn;
use crate::Error;

/// One key, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRef<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

impl KeyRef<'_> {
    /// Call `f` with the key's encoded bytes.
    #[inline(always)]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            KeyRef::Int(v) => f(&v.to_le_bytes()),
            KeyRef::Bytes(b) => f(b),
        }
    }
}

/// Variable-length keys packed end to end: key `i` is `data[ends[i-1]..ends[i]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedKeys {
    data: Vec<u8>,
    ends: Vec<usize>,
}

/// Bytes reserved up front per key when packing a batch: the first key's length up to this,
/// plus [`RESERVE_SLACK`] (a first key of 1 MB must not reserve a megabyte for every key); more
/// grows as needed.
const RESERVE_PER_KEY: usize = 64;
/// Room for later keys a little longer than the first ("key-9" then "key-10"...).
const RESERVE_SLACK: usize = 8;

impl PackedKeys {
    /// Room for `keys` keys of about `first_len` bytes each, or [`Error::OutOfMemory`].
    pub fn try_with_capacity(keys: usize, first_len: usize) -> Result<Self, Error> {
        let mut packed = PackedKeys::default();
        let bytes = keys.saturating_mul(first_len.min(RESERVE_PER_KEY) + RESERVE_SLACK);
        packed.data.try_reserve_exact(bytes)?;
        packed.ends.try_reserve_exact(keys)?;
        Ok(packed)
    }

    /// Append one key, or [`Error::OutOfMemory`] (the batch is left as it was).
    #[inline(always)]
    pub fn try_push(&mut self, key: &[u8]) -> Result<(), Error> {
        if self.data.capacity() - self.data.len() < key.len()
            || self.ends.len() == self.ends.capacity()
        {
            self.grow(key.len())?;
        }
        self.data.extend_from_slice(key);
        self.ends.push(self.data.len());
        Ok(())
    }

    /// Room for one more key of `len` bytes (the rare path of [`PackedKeys::try_push`]).
    #[cold]
    #[inline(never)]
    fn grow(&mut self, len: usize) -> Result<(), Error> {
        self.data.try_reserve(len)?;
        self.ends.try_reserve(1)?;
        Ok(())
    }

    /// Append one key (for batches whose size the caller bounded; aborts if memory runs out).
    pub fn push(&mut self, key: &[u8]) {
        self.data.extend_from_slice(key);
        self.ends.push(self.data.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }
}

/// A batch of keys: all integers, or all byte strings.
#[derive(Clone, Copy, Debug)]
pub enum Keys<'a> {
    Ints(&'a [u64]),
    Packed(&'a PackedKeys),
    /// Byte strings read in place from columnar (Arrow-layout) buffers.
    Column(&'a KeyColumn<'a>),
}

impl<'a> Keys<'a> {
    pub fn len(&self) -> usize {
        match self {
            Keys::Ints(v) => v.len(),
            Keys::Packed(p) => p.len(),
            Keys::Column(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> KeyRef<'a> {
        match *self {
            Keys::Ints(v) => KeyRef::Int(v[i]),
            Keys::Packed(p) => KeyRef::Bytes(p.get(i)),
            Keys::Column(c) => KeyRef::Bytes(c.get(i)),
        }
    }

    /// `f(j, key first + j)` for `j` in `0..len`, in order, matching the batch kind once rather
    /// than per key: the loop of per-block kernels (hash a block, then look it up).
    #[inline(always)]
    pub fn for_each_in(&self, first: usize, len: usize, mut f: impl FnMut(usize, KeyRef<'a>)) {
        match *self {
            Keys::Ints(v) => {
                for (j, &x) in v[first..first + len].iter().enumerate() {
                    f(j, KeyRef::Int(x));
                }
            }
            Keys::Packed(p) => (0..len).for_each(|j| f(j, KeyRef::Bytes(p.get(first + j)))),
            Keys::Column(c) => c.for_each_in(
                first,
                len,
                #[inline(always)]
                |j, b| f(j, KeyRef::Bytes(b)),
            ),
        }
    }

    /// `f` applied to every key, in parallel for large batches (see [`crate::par`]), or
    /// [`Error::OutOfMemory`] when the output cannot be allocated.
    pub fn map<T, F>(&self, f: F) -> Result<Vec<T>, Error>
    where
        T: Send + Sync + Copy + Default,
        F: Fn(KeyRef<'a>) -> T + Sync,
    {
        let mut out = crate::error::try_vec(self.len(), T::default())?;
        self.map_into(&mut out, f);
        Ok(out)
    }

    /// `out[i] = f(key i)` for every key, in parallel for large batches. Lets a caller fill
    /// memory it allocated itself (e.g. a numpy array), with no copy afterwards. A
    /// dictionary-encoded column runs `f` once per distinct value (see [`KeyColumn::map_into`]).
    ///
    /// # Panics
    /// If `out.len() != self.len()` (a programming error).
    pub fn map_into<T, F>(&self, out: &mut [T], f: F)
    where
        T: Send + Sync + Copy,
        F: Fn(KeyRef<'a>) -> T + Sync,
    {
        assert_eq!(
            out.len(),
            self.len(),
            "map_into: output length differs from key count"
        );
        // Match the batch kind once, outside the per-key loop.
        match *self {
            Keys::Ints(v) => crate::par::map_slice(v, out, |&x| f(KeyRef::Int(x))),
            Keys::Packed(p) => crate::par::fill(out, |i| f(KeyRef::Bytes(p.get(i)))),
            Keys::Column(c) => c.map_into(out, |b| f(KeyRef::Bytes(b))),
        }
    }

    /// [`Keys::map_into`] over every key's encoded bytes.
    pub fn map_bytes_into<T, F>(&self, out: &mut [T], f: F)
    where
        T: Send + Sync + Copy,
        F: Fn(&[u8]) -> T + Sync,
    {
        self.map_into(out, |k| k.with_bytes(&f));
    }

    /// `f` applied to every key's encoded bytes, in parallel for large batches.
    pub fn map_bytes<T, F>(&self, f: F) -> Result<Vec<T>, Error>
    where
        T: Send + Sync + Copy + Default,
        F: Fn(&[u8]) -> T + Sync,
    {
        self.map(|k| k.with_bytes(&f))
    }

    /// After reading the keys: [`Error::Malformed`] if a key of a column lay outside its
    /// buffers (it was read as empty; see [`KeyColumn::verify`]). Bulk operations that read
    /// keys run this before returning their results.
    pub fn verify(&self) -> Result<(), Error> {
        match self {
            Keys::Column(c) => c.verify(),
            _ => Ok(()),
        }
    }

    /// For a dictionary-encoded column, `batch` run once per distinct dictionary and its
    /// results copied to every key by index (see [`KeyColumn::by_distinct`]); `None` for
    /// every other batch, which the caller then processes itself.
    pub fn by_distinct<T, E>(
        &self,
        out: &mut [T],
        batch: impl FnMut(Keys<'_>, &mut [T]) -> Result<(), E>,
    ) -> Option<Result<(), E>>
    where
        T: Copy + Default + Send + Sync,
    {
        match self {
            Keys::Column(c) => c.by_distinct(out, batch),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_keys_round_trip() {
        let mut p = PackedKeys::default();
        for k in [&b""[..], b"a", b"", b"hello"] {
            p.push(k);
        }
        assert_eq!(p.len(), 4);
        assert_eq!(p.get(0), b"");
        assert_eq!(p.get(1), b"a");
        assert_eq!(p.get(2), b"");
        assert_eq!(p.get(3), b"hello");
    }

    #[test]
    fn ints_encode_little_endian() {
        let v = [0x0102_0304_0506_0708u64, u64::MAX];
        let keys = Keys::Ints(&v);
        let firsts = keys.map_bytes(|b| (b.len(), b[0])).unwrap();
        assert_eq!(firsts, vec![(8, 0x08), (8, 0xff)]);
    }
}
