//! Range partitioning: sorted split points, each range owned by a node.
//!
//! With boundaries `b_0 < b_1 < … < b_{k-1}`, range `0` is `key < b_0`, range `i` is
//! `b_{i-1} <= key < b_i` and range `k` is `key >= b_{k-1}`: the range index is the number of
//! boundaries `<= key` (numpy's `searchsorted(boundaries, key, side="right")`). Integer
//! boundaries compare integer keys as signed 64-bit values; byte-string boundaries compare byte
//! keys lexicographically (for text that is code-point order).

use super::nodes::{Error, NodeSet};
use super::util::fixed_layout;
use super::{check_n, Placement};
use crate::keys::{KeyRef, Keys};

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

    /// The range index of a key, or `None` when the key's kind does not match the boundaries'
    /// (with no boundaries every key is in range 0).
    #[inline]
    pub fn range_of(&self, key: KeyRef<'_>) -> Option<usize> {
        if self.is_empty() {
            return Some(0);
        }
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

/// Range partitioning over named nodes; a node may own several ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct RangePartitioner {
    nodes: NodeSet,
    bounds: Boundaries,
    owners: Vec<u32>,
    text: bool,
}

fn fixed(what: &str) -> Error {
    fixed_layout(
        "RangePartitioner",
        what,
        "ranges are fixed by their boundaries; build a new RangePartitioner with the \
         boundaries and owners you want",
    )
}

impl RangePartitioner {
    /// `owners[i]` owns range `i`; there must be one more owner than boundaries, and the
    /// boundaries must be strictly increasing. Nodes are the distinct owners in first-seen order.
    pub fn new(bounds: Boundaries, owners: &[String]) -> Result<Self, Error> {
        if owners.len() != bounds.len() + 1 {
            return Err(Error::Config(format!(
                "{} boundaries make {} ranges, so {} owners are needed, got {}",
                bounds.len(),
                bounds.len() + 1,
                bounds.len() + 1,
                owners.len()
            )));
        }
        if let Some(i) = bounds.first_unsorted() {
            return Err(Error::Config(format!(
                "boundaries must be strictly increasing: boundaries[{i}] is not greater than \
                 boundaries[{}]",
                i - 1
            )));
        }
        let mut nodes = NodeSet::default();
        let mut index = Vec::with_capacity(owners.len());
        for name in owners {
            let i = match nodes.index_of(name) {
                Some(i) => i,
                None => nodes.push(name.clone(), 1.0)?,
            };
            index.push(i);
        }
        Ok(RangePartitioner {
            nodes,
            bounds,
            owners: index,
            text: false,
        })
    }

    /// Mark byte boundaries as having been given as text (so they are shown back as `str`).
    pub fn with_text_bounds(mut self, text: bool) -> Self {
        self.text = text && !self.bounds.takes_ints();
        self
    }

    /// Whether the byte boundaries were given as text.
    pub fn text_bounds(&self) -> bool {
        self.text
    }

    pub fn boundaries(&self) -> &Boundaries {
        &self.bounds
    }

    /// The owner (node index) of each range.
    pub fn range_owners(&self) -> &[u32] {
        &self.owners
    }

    /// An error if `keys` are not of the kind the boundaries compare.
    pub fn check_kind(&self, key_is_int: bool) -> Result<(), Error> {
        if self.bounds.is_empty() {
            return Ok(());
        }
        match (self.bounds.takes_ints(), key_is_int) {
            (true, false) => Err(Error::Config(
                "this RangePartitioner has int boundaries, so keys must be ints (got str/bytes keys)"
                    .to_owned(),
            )),
            (false, true) => Err(Error::Config(
                "this RangePartitioner has str/bytes boundaries, so keys must be str or bytes (got int keys)"
                    .to_owned(),
            )),
            _ => Ok(()),
        }
    }
}

impl Placement for RangePartitioner {
    fn memory_bytes(&self) -> usize {
        let bounds = match &self.bounds {
            Boundaries::Ints(v) => 8 * v.len(),
            Boundaries::Bytes(v) => v.iter().map(|b| b.len() + 24).sum(),
        };
        self.nodes.memory_bytes() + bounds + 4 * self.owners.len()
    }

    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    fn check_key(&self, key: KeyRef<'_>) -> Result<(), Error> {
        self.check_kind(matches!(key, KeyRef::Int(_)))
    }

    /// `None` when the key's kind does not match the boundaries' (see `check_kind`).
    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        self.bounds.range_of(key).map(|r| self.owners[r])
    }

    /// The key's owner, then the owners of the following ranges (wrapping), each once.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        self.check_kind(matches!(key, KeyRef::Int(_)))?;
        let start = self.bounds.range_of(key).unwrap_or(0);
        let ranges = self.owners.len();
        let mut out: Vec<u32> = Vec::with_capacity(n);
        for step in 0..ranges {
            if out.len() == n {
                break;
            }
            let o = self.owners[(start + step) % ranges];
            if !out.contains(&o) {
                out.push(o);
            }
        }
        Ok(out)
    }

    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if !keys.is_empty() {
            self.check_kind(matches!(keys, Keys::Ints(_)))?;
        }
        keys.map_into(out, |k| self.locate(k).map_or(-1, |i| i as i32));
        Ok(())
    }

    fn add_node(&mut self, _name: &str, _weight: f64) -> Result<(), Error> {
        Err(fixed("add a node"))
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        self.nodes.require(name)?;
        Err(fixed("remove a node"))
    }

    fn set_weight(&mut self, name: &str, _weight: f64) -> Result<(), Error> {
        self.nodes.require(name)?;
        Err(fixed("weight nodes"))
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

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn named_ranges() {
        let r = RangePartitioner::new(
            Boundaries::Ints(vec![10, 20, 30]),
            &owned(&["a", "b", "a", "c"]),
        )
        .unwrap();
        assert_eq!(r.nodes().names(), ["a", "b", "c"]);
        assert_eq!(r.range_owners(), [0, 1, 0, 2]);
        assert_eq!(r.locate(KeyRef::Int(25)), Some(0));
        assert_eq!(r.locate(KeyRef::Int(35)), Some(2));
        assert_eq!(r.locate_n(KeyRef::Int(15), 3).unwrap(), vec![1, 0, 2]);
        assert_eq!(r.locate_n(KeyRef::Int(35), 2).unwrap(), vec![2, 0]);
        assert!(r.locate_n(KeyRef::Bytes(b"x"), 1).is_err());
        let v: Vec<u64> = vec![5, 15, 25, 35];
        assert_eq!(r.place(Keys::Ints(&v)).unwrap(), vec![0, 1, 0, 2]);
        let mut p = crate::keys::PackedKeys::default();
        p.push(b"x");
        assert!(r.place(Keys::Packed(&p)).is_err());
        let mut r2 = r.clone();
        assert!(r2.add_node("d", 1.0).is_err());
        assert!(matches!(r2.remove_node("zz"), Err(Error::UnknownNode(_))));
        assert!(
            RangePartitioner::new(Boundaries::Ints(vec![1, 1]), &owned(&["a", "b", "c"])).is_err()
        );
        assert!(RangePartitioner::new(Boundaries::Ints(vec![1]), &owned(&["a"])).is_err());
        assert!(RangePartitioner::new(Boundaries::Ints(vec![]), &owned(&["a"])).is_ok());
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
