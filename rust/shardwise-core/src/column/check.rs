//! Checks of a chunk's buffers against each other, naming the first offending key: run when a
//! dictionary is added, and by [`super::KeyColumn::verify`] once a read found a key outside its
//! buffers. Each check is one branch-free pass (it vectorises) that only says whether all is
//! well; the search for the first offending key, and its message, runs only when it is not.

use super::{view_word, Chunk, Indices, Position};
use crate::Error;

/// How messages name item `i` of the chunk being checked (`keys[p]`, `dictionary entry i`).
pub(super) type Name<'n> = &'n dyn Fn(usize) -> String;

/// Check that every key of `chunk` (not a dictionary chunk) lies inside its buffers.
pub(super) fn chunk(chunk: &Chunk<'_>, name: Name<'_>) -> Result<(), Error> {
    match chunk {
        Chunk::Offsets32 { offsets, data } => check_offsets(offsets, data.len(), name),
        Chunk::Offsets64 { offsets, data } => check_offsets(offsets, data.len(), name),
        Chunk::Views { views, buffers } => check_views(views, buffers, name),
        Chunk::Fixed { width, len, data } => match len.checked_mul(*width) {
            Some(bytes) if bytes <= data.len() => Ok(()),
            _ => Err(Error::Malformed(format!(
                "{len} keys of {width} bytes do not fit in the {} bytes of data",
                data.len()
            ))),
        },
        Chunk::Dict { .. } => unreachable!("dictionary chunks are checked by push_dictionary"),
    }
}

/// Offsets of 32 or 64 bits.
trait Offset: Copy + PartialOrd {
    fn wide(self) -> i64;
}

impl Offset for i32 {
    #[inline(always)]
    fn wide(self) -> i64 {
        i64::from(self)
    }
}

impl Offset for i64 {
    #[inline(always)]
    fn wide(self) -> i64 {
        self
    }
}

/// Key `i` is `data[offsets[i]..offsets[i + 1]]`: offsets must start at 0 or later, never
/// decrease, and end within the data.
fn check_offsets<O: Offset>(offsets: &[O], data_len: usize, name: Name<'_>) -> Result<(), Error> {
    if offsets.len() < 2 {
        return Ok(()); // no key
    }
    let end = i64::try_from(data_len).unwrap_or(i64::MAX);
    let (first, last) = (offsets[0].wide(), offsets[offsets.len() - 1].wide());
    let pairs = offsets[..offsets.len() - 1].iter().zip(&offsets[1..]);
    let ordered = pairs.fold(true, |ok, (a, b)| ok & (a <= b));
    if ordered && first >= 0 && last <= end {
        return Ok(());
    }
    for (i, w) in offsets.windows(2).enumerate() {
        let (a, b) = (w[0].wide(), w[1].wide());
        let what = if a < 0 {
            format!("offset {a} is negative")
        } else if b < a {
            format!("offsets run backwards ({a} then {b})")
        } else if b > end {
            format!("offsets {a}..{b} pass the end of the data ({end} bytes)")
        } else {
            continue;
        };
        return Err(Error::Malformed(format!("{}: {what}", name(i))));
    }
    Err(Error::Malformed(format!(
        "{}..: malformed offsets",
        name(0)
    )))
}

/// A view longer than 12 bytes points into one of the data buffers: its buffer number must be
/// one of them, its length and offset non-negative (int32), and its bytes within the buffer.
fn check_views(views: &[[u8; 16]], buffers: &[&[u8]], name: Name<'_>) -> Result<(), Error> {
    const I32_MAX: u32 = i32::MAX as u32;
    // Buffer sizes, with a 0 past the last so that any buffer number can be looked up.
    let sizes: Vec<u64> = buffers.iter().map(|b| b.len() as u64).chain([0]).collect();
    let last = buffers.len();
    let ok = views.iter().fold(true, |ok, v| {
        let (len, buffer, offset) = (view_word(v, 0), view_word(v, 8), view_word(v, 12));
        let size = sizes[(buffer as usize).min(last)];
        let inside =
            (len <= I32_MAX) & (offset <= I32_MAX) & (u64::from(offset) + u64::from(len) <= size);
        ok & ((len <= 12) | inside)
    });
    if ok {
        return Ok(());
    }
    for (i, v) in views.iter().enumerate() {
        let (len, buffer, offset) = (view_word(v, 0), view_word(v, 8), view_word(v, 12));
        if len <= 12 {
            continue;
        }
        let what = if len > I32_MAX {
            format!("view length {} is negative", len as i32)
        } else if buffer as usize >= last {
            format!("view of {len} bytes names data buffer {buffer}, but there are {last}")
        } else if offset > I32_MAX {
            format!("view offset {} is negative", offset as i32)
        } else if u64::from(offset) + u64::from(len) > sizes[buffer as usize] {
            format!(
                "view of {len} bytes at offset {offset} passes the end of data buffer {buffer} \
                 ({} bytes)",
                sizes[buffer as usize]
            )
        } else {
            continue;
        };
        return Err(Error::Malformed(format!("{}: {what}", name(i))));
    }
    Err(Error::Malformed(format!("{}..: malformed views", name(0))))
}

impl Indices<'_> {
    /// Check that every index is within a dictionary of `entries` entries; messages name the
    /// keys as `keys[start + i]`.
    pub fn check_within(&self, entries: usize, start: usize) -> Result<(), Error> {
        match self.first_outside(entries) {
            None => Ok(()),
            Some(i) => Err(Error::Malformed(format!(
                "the index of keys[{}] is {}, outside its dictionary of {entries} entries",
                start + i,
                self.shown(i)
            ))),
        }
    }

    /// Index `i` as written (negative ones included).
    fn shown(&self, i: usize) -> String {
        with_indices!(self, |v| v[i].to_string())
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
}
