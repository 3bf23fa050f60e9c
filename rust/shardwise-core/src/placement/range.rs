//! Range partitioning: sorted split points, each range owned by a node.
//!
//! With boundaries `b_0 < b_1 < … < b_{k-1}`, range `0` is `key < b_0`, range `i` is
//! `b_{i-1} <= key < b_i` and range `k` is `key >= b_{k-1}`: the range index is the number of
//! boundaries `<= key` (numpy's `searchsorted(boundaries, key, side="right")`). Integer
//! boundaries compare integer keys as signed 64-bit values; byte-string boundaries compare byte
//! keys lexicographically (for text that is code-point order).

use crate::keys::KeyRef;

/// The split points, all of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boundaries {
    Ints(Vec<i64>),
    Bytes(Vec<Vec<u8>>),
}

impl Boundaries {
    pub fn len(&self) -> usize {
        match self {
            Boundaries::Ints(v) => v.len(),
            Boundaries::Bytes(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The position of the first boundary that is not greater than the one before it.
    pub fn first_unsorted(&self) -> Option<usize> {
        match self {
            Boundaries::Ints(v) => (1..v.len()).find(|&i| v[i] <= v[i - 1]),
            Boundaries::Bytes(v) => (1..v.len()).find(|&i| v[i] <= v[i - 1]),
        }
    }

    /// The range index of a key, or `None` when the key's kind does not match the boundaries'.
    #[inline]
    pub fn range_of(&self, key: KeyRef<'_>) -> Option<usize> {
        match (self, key) {
            (Boundaries::Ints(v), KeyRef::Int(bits)) => {
                let k = bits as i64;
                Some(v.partition_point(|&b| b <= k))
            }
            (Boundaries::Bytes(v), KeyRef::Bytes(k)) => {
                Some(v.partition_point(|b| b.as_slice() <= k))
            }
            _ => None,
        }
    }

    /// Whether keys of this kind can be placed (`true` for ints).
    pub fn takes_ints(&self) -> bool {
        matches!(self, Boundaries::Ints(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_ranges_follow_searchsorted_right() {
        let b = Boundaries::Ints(vec![-5, 0, 10]);
        let cases = [
            (-6i64, 0),
            (-5, 1),
            (-1, 1),
            (0, 2),
            (9, 2),
            (10, 3),
            (i64::MAX, 3),
            (i64::MIN, 0),
        ];
        for (k, want) in cases {
            assert_eq!(b.range_of(KeyRef::Int(k as u64)), Some(want), "key {k}");
        }
        assert_eq!(b.range_of(KeyRef::Bytes(b"x")), None);
        assert_eq!(Boundaries::Ints(vec![]).range_of(KeyRef::Int(3)), Some(0));
    }

    #[test]
    fn byte_ranges_are_lexicographic() {
        let b = Boundaries::Bytes(vec![b"b".to_vec(), b"m".to_vec(), b"ma".to_vec()]);
        let cases: [(&[u8], usize); 7] = [
            (b"", 0),
            (b"a", 0),
            (b"b", 1),
            (b"lz", 1),
            (b"m", 2),
            (b"ma", 3),
            (b"z", 3),
        ];
        for (k, want) in cases {
            assert_eq!(b.range_of(KeyRef::Bytes(k)), Some(want));
        }
        assert_eq!(b.range_of(KeyRef::Int(1)), None);
    }

    #[test]
    fn detects_unsorted() {
        assert_eq!(Boundaries::Ints(vec![1, 2, 2]).first_unsorted(), Some(2));
        assert_eq!(Boundaries::Ints(vec![3, 1]).first_unsorted(), Some(1));
        assert_eq!(Boundaries::Ints(vec![1, 2, 3]).first_unsorted(), None);
        let b = Boundaries::Bytes(vec![b"a".to_vec(), b"ab".to_vec(), b"aa".to_vec()]);
        assert_eq!(b.first_unsorted(), Some(2));
    }
}
