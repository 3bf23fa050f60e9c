//! Redis Cluster placement: key → hash slot (`CRC16(hash tag) mod 16384`) → the node serving it.

use super::nodes::{Error, NodeSet};
use super::util::fixed_layout;
use super::{check_n, Placement};
use crate::hash::{redis_slot, REDIS_SLOTS};
use crate::keys::KeyRef;
use crate::text::quoted;

const SLOTS: usize = REDIS_SLOTS as usize;

/// An owner for each of the 16384 slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMap {
    owners: Vec<u32>,
}

/// Why a set of slot ranges is not a valid map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotMapError {
    /// A range with `start > end` or `end >= 16384`.
    BadRange { start: u32, end: u32 },
    /// A slot claimed by two ranges (the owners given).
    Overlap { slot: u16, first: u32, second: u32 },
    /// Slots no range covers: the first missing run, inclusive.
    Gap { start: u16, end: u16 },
}

impl std::fmt::Display for SlotMapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            SlotMapError::BadRange { start, end } => write!(
                f,
                "slot range {start}-{end} is invalid: need 0 <= start <= end <= {}",
                REDIS_SLOTS - 1
            ),
            SlotMapError::Overlap { slot, .. } => {
                write!(f, "slot {slot} is assigned by two ranges (ranges overlap)")
            }
            SlotMapError::Gap { start, end } => {
                write!(
                    f,
                    "slots {start}-{end} are not assigned to any node (every slot 0-16383 must be)"
                )
            }
        }
    }
}

impl SlotMap {
    /// Build from inclusive `(start, end, owner)` ranges that must cover every slot exactly once.
    pub fn new(ranges: &[(u32, u32, u32)]) -> Result<Self, SlotMapError> {
        let mut owners = vec![u32::MAX; SLOTS];
        for &(start, end, owner) in ranges {
            if start > end || end as usize >= SLOTS {
                return Err(SlotMapError::BadRange { start, end });
            }
            for slot in start..=end {
                let current = owners[slot as usize];
                if current != u32::MAX {
                    return Err(SlotMapError::Overlap {
                        slot: slot as u16,
                        first: current,
                        second: owner,
                    });
                }
                owners[slot as usize] = owner;
            }
        }
        if let Some(start) = owners.iter().position(|&o| o == u32::MAX) {
            let len = owners[start..]
                .iter()
                .take_while(|&&o| o == u32::MAX)
                .count();
            return Err(SlotMapError::Gap {
                start: start as u16,
                end: (start + len - 1) as u16,
            });
        }
        Ok(SlotMap { owners })
    }

    /// The owner of every slot.
    pub fn owners(&self) -> &[u32] {
        &self.owners
    }

    #[inline]
    pub fn owner_of_slot(&self, slot: u16) -> u32 {
        self.owners[usize::from(slot)]
    }

    /// The owner of a key (its encoded bytes).
    #[inline]
    pub fn locate(&self, key: &[u8]) -> u32 {
        self.owners[usize::from(redis_slot(key))]
    }

    /// `n` distinct owners: the key's slot owner, then the owners of the following slots
    /// (wrapping), each once.
    pub fn locate_n(&self, key: &[u8], n: usize) -> Vec<u32> {
        let start = usize::from(redis_slot(key));
        let mut out: Vec<u32> = Vec::with_capacity(n);
        for step in 0..SLOTS {
            if out.len() == n {
                break;
            }
            let o = self.owners[(start + step) % SLOTS];
            if !out.contains(&o) {
                out.push(o);
            }
        }
        out
    }

    /// Owner indices after removing owner `removed` is impossible (its slots need a new owner):
    /// renumber instead, for a map whose owner `removed` no longer owns any slot.
    pub fn renumber_without(&mut self, removed: u32) {
        for o in &mut self.owners {
            if *o > removed {
                *o -= 1;
            }
        }
    }

    /// Give slots `start..=end` to `owner`.
    pub fn assign(&mut self, start: u16, end: u16, owner: u32) {
        for slot in start..=end {
            self.owners[usize::from(slot)] = owner;
        }
    }

    /// Inclusive `(start, end, owner)` runs, in slot order.
    pub fn ranges(&self) -> Vec<(u32, u32, u32)> {
        let mut out = Vec::new();
        let mut start = 0usize;
        for slot in 1..=SLOTS {
            if slot == SLOTS || self.owners[slot] != self.owners[start] {
                out.push((start as u32, slot as u32 - 1, self.owners[start]));
                start = slot;
            }
        }
        out
    }
}

/// Redis Cluster placement over named nodes (usually `"host:port"` of each master).
#[derive(Clone, Debug, PartialEq)]
pub struct RedisClusterSlots {
    nodes: NodeSet,
    map: SlotMap,
}

fn slots_fixed(what: &str) -> Error {
    fixed_layout(
        "RedisClusterSlots",
        what,
        "slots belong to the nodes the cluster says; build a new RedisClusterSlots from the \
         new slot map (or from CLUSTER SHARDS / CLUSTER SLOTS again)",
    )
}

impl RedisClusterSlots {
    /// `ranges` are inclusive `(start, end, node index)`; every slot exactly once, every node
    /// owning at least one slot.
    pub fn new(nodes: NodeSet, ranges: &[(u32, u32, u32)]) -> Result<Self, Error> {
        for &(_, _, o) in ranges {
            if o as usize >= nodes.len() {
                return Err(Error::Config(format!(
                    "slot range owner index {o} is out of range for {} nodes",
                    nodes.len()
                )));
            }
        }
        let map = SlotMap::new(ranges).map_err(|e| Error::Config(e.to_string()))?;
        let mut owns = vec![false; nodes.len()];
        for &o in map.owners() {
            owns[o as usize] = true;
        }
        if let Some(i) = owns.iter().position(|&x| !x) {
            return Err(Error::Config(format!(
                "node {} owns no slots",
                quoted(nodes.name(i as u32))
            )));
        }
        Ok(RedisClusterSlots { nodes, map })
    }

    pub fn slot_map(&self) -> &SlotMap {
        &self.map
    }
}

impl Placement for RedisClusterSlots {
    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + 4 * self.map.owners.len()
    }

    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        Some(key.with_bytes(|b| self.map.locate(b)))
    }

    /// The slot's owner, then the owners of the following slots (wrapping), each once.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        Ok(key.with_bytes(|b| self.map.locate_n(b, n)))
    }

    fn add_node(&mut self, _name: &str, _weight: f64) -> Result<(), Error> {
        Err(slots_fixed("add a node"))
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        self.nodes.require(name)?;
        Err(slots_fixed("remove a node"))
    }

    fn set_weight(&mut self, name: &str, _weight: f64) -> Result<(), Error> {
        self.nodes.require(name)?;
        Err(slots_fixed("weight nodes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_masters() {
        let m = SlotMap::new(&[(0, 5460, 0), (5461, 10922, 1), (10923, 16383, 2)]).unwrap();
        assert_eq!(m.locate(b"foo"), 2); // slot 12182
        assert_eq!(m.locate(b"123456789"), 2); // slot 12739
        assert_eq!(m.locate(b"{user1000}.a"), m.locate(b"user1000"));
        assert_eq!(m.owner_of_slot(5460), 0);
        assert_eq!(m.owner_of_slot(5461), 1);
        assert_eq!(
            m.ranges(),
            vec![(0, 5460, 0), (5461, 10922, 1), (10923, 16383, 2)]
        );
        assert_eq!(m.locate_n(b"foo", 3), vec![2, 0, 1]);
    }

    #[test]
    fn rejects_gaps_overlaps_and_bad_ranges() {
        assert_eq!(
            SlotMap::new(&[(0, 100, 0), (102, 16383, 1)]),
            Err(SlotMapError::Gap {
                start: 101,
                end: 101
            })
        );
        assert!(matches!(
            SlotMap::new(&[(0, 100, 0), (100, 16383, 1)]),
            Err(SlotMapError::Overlap { slot: 100, .. })
        ));
        assert!(matches!(
            SlotMap::new(&[(0, 16384, 0)]),
            Err(SlotMapError::BadRange { .. })
        ));
        assert!(matches!(
            SlotMap::new(&[(5, 4, 0)]),
            Err(SlotMapError::BadRange { .. })
        ));
        assert_eq!(
            SlotMap::new(&[]),
            Err(SlotMapError::Gap {
                start: 0,
                end: 16383
            })
        );
    }

    #[test]
    fn named_cluster() {
        let nodes = NodeSet::new([("a:1", 1.0), ("b:2", 1.0)]).unwrap();
        let r = RedisClusterSlots::new(nodes.clone(), &[(0, 8191, 0), (8192, 16383, 1)]).unwrap();
        assert_eq!(r.locate(KeyRef::Bytes(b"foo")), Some(1));
        assert_eq!(r.locate_n(KeyRef::Bytes(b"foo"), 2).unwrap(), vec![1, 0]);
        assert!(RedisClusterSlots::new(nodes.clone(), &[(0, 16383, 0)]).is_err());
        assert!(RedisClusterSlots::new(nodes.clone(), &[(0, 16383, 2)]).is_err());
        assert!(r.clone().add_node("c:3", 1.0).is_err());
    }

    #[test]
    fn interleaved_ranges_and_reassignment() {
        let mut m = SlotMap::new(&[(0, 99, 1), (100, 199, 0), (200, 16383, 1)]).unwrap();
        assert_eq!(m.ranges().len(), 3);
        m.assign(100, 199, 1);
        assert_eq!(m.ranges(), vec![(0, 16383, 1)]);
        m.renumber_without(0);
        assert_eq!(m.ranges(), vec![(0, 16383, 0)]);
    }
}
