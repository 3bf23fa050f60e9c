//! `SkeletonRendezvous`: rendezvous hashing in O(log n) per key over a virtual hierarchy (after
//! Wang & Ravishankar's skeleton-based HRW).
//!
//! The skeleton is a complete tree of fanout `f` whose `f^levels` leaves are *slots*; a node of
//! whole-number weight `w` occupies `w` slots. A key descends from the root, each virtual node
//! choosing among its `f` children by HRW (the child with the highest draw; the children of a
//! complete tree weigh the same), to a slot. An occupied slot owns the key; a vacant one sends
//! the key down again: the `c`-th descent through a virtual node uses draws seeded with `c`,
//! so every virtual node deals out its own fixed sequence of children. Hence:
//!
//! - balance: descents land on every slot with the same probability, so node `x` owns a share
//!   `w_x / sum(w)` of the keys (exactly, in expectation);
//! - minimal disruption: a key's landing sequence depends only on the skeleton, and its owner
//!   is its first occupied landing. Vacating slots (removing a node, lowering a weight) moves
//!   only the keys of those slots, spread over all other nodes by weight; occupying slots
//!   (adding a node, raising a weight) moves keys only onto them;
//! - growth: when every slot is taken the tree gets a new root whose first child is the old
//!   root: old descents are unchanged (each virtual node keeps its own sequence) and the new
//!   subtrees are vacant, so growing moves no key.
//!
//! Lookups cost `f * levels` draws per descent and `slots / occupied` descents on average (at
//! most `f` after a growth, more after many removals). After [`MAX_DESCENTS`] vacant landings a
//! key takes the first occupied slot after its last landing.

use super::nodes::{check_integral_weight, Error, NodeSet};
use super::{check_n, Placement};
use crate::hash::{splitmix64, xxh3_64, GOLDEN_GAMMA};
use crate::keys::KeyRef;
use crate::text::quoted;

/// Default fanout of the skeleton.
pub const DEFAULT_FANOUT: u32 = 2;
/// Largest fanout accepted.
pub const MAX_FANOUT: u32 = 16;
/// Most slots a skeleton may have (64M: 256 MB of slot owners).
pub const MAX_SLOTS: usize = 1 << 26;
/// Descents that may land on vacant slots before a key falls back to the next occupied slot.
pub const MAX_DESCENTS: u32 = 1024;

/// A slot no node occupies.
const VACANT: u32 = u32::MAX;
const WHY_INTEGRAL: &str = "(SkeletonRendezvous gives a node of weight w exactly w slots)";
/// Salt of the virtual nodes' seeds (ASCII "skeleton").
const SALT: u64 = 0x736b_656c_6574_6f6e;
/// Multiplier of the descent count in a draw (an odd constant unrelated to the golden gamma).
const VISIT_MIX: u64 = 0xd1b5_4a32_d192_ed03;

/// The identity of the virtual node at `height` (slots are height 0), position `index`:
/// distinct for every node, spread over 64 bits (Weyl steps of the golden gamma).
#[inline(always)]
pub fn node_key(height: u32, index: usize) -> u64 {
    ((u64::from(height) << 40) | index as u64)
        .wrapping_add(1)
        .wrapping_mul(GOLDEN_GAMMA)
}

/// The draw of the virtual node `node` (its [`node_key`]) for key hash `k` on the key's
/// `visit`-th descent through the node's parent.
#[inline(always)]
pub fn draw(k: u64, node: u64, visit: u32) -> u64 {
    splitmix64(k ^ SALT ^ u64::from(visit).wrapping_mul(VISIT_MIX) ^ node)
}

/// Descents whose paths a lookup keeps on the stack before counting visits in a map.
const FEW_DESCENTS: usize = 8;
/// Most levels a skeleton can have (`2^26` slots at fanout 2).
const MAX_LEVELS: usize = 27;

/// Weighted rendezvous hashing over a skeleton of slots.
#[derive(Clone, Debug, PartialEq)]
pub struct SkeletonRendezvous {
    nodes: NodeSet,
    fanout: u32,
    levels: u32,
    /// The owner of every slot (`VACANT` if none); `fanout^levels` of them.
    slots: Vec<u32>,
    occupied: usize,
}

impl SkeletonRendezvous {
    /// Nodes in order take consecutive slots (a node of weight `w`, `w` of them).
    pub fn new(nodes: NodeSet, fanout: u32) -> Result<Self, Error> {
        check_fanout(fanout)?;
        let counts = slot_counts(&nodes)?;
        let total: usize = counts.iter().sum();
        let mut s = SkeletonRendezvous {
            nodes: NodeSet::default(),
            fanout,
            levels: 0,
            slots: vec![VACANT],
            occupied: 0,
        };
        s.grow_for(total)?;
        let mut at = 0;
        for (i, &c) in counts.iter().enumerate() {
            s.slots[at..at + c].fill(i as u32);
            at += c;
        }
        s.occupied = total;
        s.nodes = nodes;
        Ok(s)
    }

    /// Restore from a layout: `layout[j]` names the node in slot `j` (`None`: vacant), slots
    /// past the layout are vacant, and there are `capacity` slots (a power of `fanout`).
    pub fn from_layout(
        nodes: NodeSet,
        fanout: u32,
        capacity: usize,
        layout: &[Option<String>],
    ) -> Result<Self, Error> {
        check_fanout(fanout)?;
        let counts = slot_counts(&nodes)?;
        let bad = |why: String| Error::Config(format!("invalid SkeletonRendezvous state: {why}"));
        let mut levels = 0;
        let mut size = 1usize;
        while size < capacity && size <= MAX_SLOTS {
            size *= fanout as usize;
            levels += 1;
        }
        if size != capacity || capacity > MAX_SLOTS || layout.len() > capacity {
            return Err(bad(format!(
                "capacity {capacity} is not a power of the fanout {fanout} of at most {MAX_SLOTS} \
                 slots holding the {} of the layout",
                layout.len()
            )));
        }
        let mut slots = crate::mem::try_zeroed_vec::<u32>(capacity)?;
        slots.fill(VACANT);
        let mut seen = vec![0usize; nodes.len()];
        for (slot, name) in slots.iter_mut().zip(layout) {
            if let Some(name) = name {
                let i = nodes
                    .index_of(name)
                    .ok_or_else(|| bad(format!("slot of unknown node {}", quoted(name))))?;
                seen[i as usize] += 1;
                *slot = i;
            }
        }
        for (i, (&want, &got)) in counts.iter().zip(&seen).enumerate() {
            if want != got {
                return Err(bad(format!(
                    "node {} has weight {want} but {got} slots",
                    quoted(nodes.name(i as u32))
                )));
            }
        }
        Ok(SkeletonRendezvous {
            occupied: counts.iter().sum(),
            nodes,
            fanout,
            levels,
            slots,
        })
    }

    pub fn fanout(&self) -> u32 {
        self.fanout
    }

    /// Number of slots (`fanout^levels`).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The node index in every slot (`None`: vacant), up to the last occupied slot.
    pub fn layout(&self) -> Vec<Option<u32>> {
        let end = self
            .slots
            .iter()
            .rposition(|&o| o != VACANT)
            .map_or(0, |p| p + 1);
        self.slots[..end]
            .iter()
            .map(|&o| (o != VACANT).then_some(o))
            .collect()
    }

    /// Grow the skeleton (new roots) until at least `needed` slots are vacant.
    fn grow_for(&mut self, needed: usize) -> Result<(), Error> {
        let mut capacity = self.slots.len();
        while capacity - self.occupied < needed {
            capacity *= self.fanout as usize;
            if capacity > MAX_SLOTS {
                return Err(too_many_slots());
            }
            self.levels += 1;
        }
        if capacity > self.slots.len() {
            self.slots.try_reserve_exact(capacity - self.slots.len())?;
            self.slots.resize(capacity, VACANT);
        }
        Ok(())
    }

    /// The slot of one descent of key hash `k`: `visit(height, index)` says how many earlier
    /// descents passed through that virtual node; `path[height]` receives the node taken at
    /// every height.
    #[inline(always)]
    fn descend(
        &self,
        k: u64,
        path: &mut [u32; MAX_LEVELS],
        mut visit: impl FnMut(u32, usize) -> u32,
    ) -> usize {
        let f = self.fanout as usize;
        let mut index = 0usize;
        for height in (1..=self.levels).rev() {
            let c = visit(height, index);
            let first = index * f;
            let mut node = node_key(height - 1, first);
            let mut best = first;
            let mut top = draw(k, node, c);
            for child in first + 1..first + f {
                node = node.wrapping_add(GOLDEN_GAMMA);
                let d = draw(k, node, c);
                if d > top {
                    top = d;
                    best = child;
                }
            }
            index = best;
            path[height as usize - 1] = index as u32;
        }
        index
    }

    /// The occupied slots of key hash `k` in order of preference, each descent's slot once at
    /// most (`f(slot)` returns whether to go on). The first is the key's owner.
    fn landings(&self, k: u64, mut f: impl FnMut(usize) -> bool) {
        if self.occupied == 0 {
            return;
        }
        let mut paths = [[0u32; MAX_LEVELS]; FEW_DESCENTS];
        // The first descent passes every virtual node for the first time.
        let slot = self.descend(k, &mut paths[0], |_, _| 0);
        if self.slots[slot] != VACANT && !f(slot) {
            return;
        }
        let mut last = slot;
        // The next few: a node's visits are the earlier paths through it (the root: all).
        for d in 1..FEW_DESCENTS {
            let (done, rest) = paths.split_at_mut(d);
            let slot = self.descend(k, &mut rest[0], |h, i| {
                if h == self.levels {
                    return d as u32;
                }
                done.iter().filter(|p| p[h as usize] as usize == i).count() as u32
            });
            last = slot;
            if self.slots[slot] != VACANT && !f(slot) {
                return;
            }
        }
        // A mostly vacant skeleton: count visits in a map.
        let mut visits = std::collections::HashMap::<(u32, usize), u32>::new();
        for p in &paths {
            *visits.entry((self.levels, 0)).or_insert(0) += 1;
            for h in 1..self.levels {
                *visits.entry((h, p[h as usize] as usize)).or_insert(0) += 1;
            }
        }
        let mut scratch = [0u32; MAX_LEVELS];
        for _ in FEW_DESCENTS as u32..MAX_DESCENTS {
            let slot = self.descend(k, &mut scratch, |h, i| {
                let count = visits.entry((h, i)).or_insert(0);
                *count += 1;
                *count - 1
            });
            last = slot;
            if self.slots[slot] != VACANT && !f(slot) {
                return;
            }
        }
        // Fallback (a skeleton mostly vacant): every slot once, from the last landing on.
        let n = self.slots.len();
        for step in 1..=n {
            let slot = (last + step) % n;
            if self.slots[slot] != VACANT && !f(slot) {
                return;
            }
        }
    }

    #[inline]
    fn key_hash(key: KeyRef<'_>) -> u64 {
        key.with_bytes(|b| xxh3_64(b, 0))
    }

    /// The lowest `count` vacant slots (after growing if needed) now owned by node `i`.
    fn occupy(&mut self, i: u32, count: usize) -> Result<(), Error> {
        self.grow_for(count)?;
        let mut left = count;
        for slot in self.slots.iter_mut().filter(|s| **s == VACANT) {
            if left == 0 {
                break;
            }
            *slot = i;
            left -= 1;
        }
        self.occupied += count;
        Ok(())
    }

    /// Vacate node `i`'s `count` highest slots.
    fn vacate(&mut self, i: u32, count: usize) {
        let mut left = count;
        for slot in self.slots.iter_mut().rev().filter(|s| **s == i) {
            if left == 0 {
                break;
            }
            *slot = VACANT;
            left -= 1;
        }
        self.occupied -= count - left;
    }
}

/// The error of a skeleton that would need more than [`MAX_SLOTS`] slots.
fn too_many_slots() -> Error {
    Error::Config(format!(
        "SkeletonRendezvous holds at most {MAX_SLOTS} slots (the weights sum to more)"
    ))
}

fn check_fanout(fanout: u32) -> Result<(), Error> {
    if !(2..=MAX_FANOUT).contains(&fanout) {
        return Err(Error::Config(format!(
            "fanout must be in [2, {MAX_FANOUT}], got {fanout}"
        )));
    }
    Ok(())
}

/// Slots of every node (its whole-number weight), refused past [`MAX_SLOTS`] in total.
fn slot_counts(nodes: &NodeSet) -> Result<Vec<usize>, Error> {
    let mut total = 0usize;
    let mut counts = Vec::with_capacity(nodes.len());
    for (name, &w) in nodes.names().iter().zip(nodes.weights()) {
        let c = check_integral_weight(name, w, WHY_INTEGRAL)?;
        total = total.saturating_add(c.min(MAX_SLOTS as u64 + 1) as usize);
        if total > MAX_SLOTS {
            return Err(too_many_slots());
        }
        counts.push(c as usize);
    }
    Ok(counts)
}

impl Placement for SkeletonRendezvous {
    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + std::mem::size_of_val(self.slots.as_slice())
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        let mut owner = None;
        self.landings(Self::key_hash(key), |slot| {
            owner = Some(self.slots[slot]);
            false
        });
        owner
    }

    /// Distinct owners in landing order: the `j`-th is where the key goes once the first `j`
    /// nodes are removed.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let mut seen = vec![false; self.nodes.len()];
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return Ok(out);
        }
        self.landings(Self::key_hash(key), |slot| {
            let owner = self.slots[slot];
            if !std::mem::replace(&mut seen[owner as usize], true) {
                out.push(owner);
            }
            out.len() < n
        });
        Ok(out)
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        let count = check_integral_weight(name, weight, WHY_INTEGRAL)?;
        if self.occupied as u64 + count > MAX_SLOTS as u64 {
            return Err(too_many_slots());
        }
        let mut next = self.clone();
        let i = next.nodes.push(name.to_owned(), weight)?;
        next.occupy(i, count as usize)?;
        *self = next;
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        let i = self.nodes.require(name)?;
        for slot in &mut self.slots {
            if *slot == i {
                *slot = VACANT;
                self.occupied -= 1;
            } else if *slot != VACANT && *slot > i {
                *slot -= 1;
            }
        }
        self.nodes.remove(name)?;
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        let i = self.nodes.require(name)?;
        let new = check_integral_weight(name, weight, WHY_INTEGRAL)? as usize;
        let old = self.nodes.weight(i) as usize;
        if new > old && self.occupied + (new - old) > MAX_SLOTS {
            return Err(too_many_slots());
        }
        let mut next = self.clone();
        if new > old {
            next.occupy(i, new - old)?;
        } else {
            next.vacate(i, old - new);
        }
        next.nodes.set_weight(name, weight)?;
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    fn skeleton(n: usize, fanout: u32) -> SkeletonRendezvous {
        let nodes = NodeSet::new(names(n).into_iter().map(|s| (s, 1.0))).unwrap();
        SkeletonRendezvous::new(nodes, fanout).unwrap()
    }

    fn owners(s: &SkeletonRendezvous, keys: u64) -> Vec<String> {
        (0..keys)
            .map(|k| {
                let i = s.locate(KeyRef::Int(k)).unwrap();
                s.nodes().name(i).to_owned()
            })
            .collect()
    }

    #[test]
    fn descent_is_hrw_among_children() {
        // One level of fanout 5: the slot is the child with the highest draw.
        let s = skeleton(5, 5);
        assert_eq!((s.capacity(), s.levels), (5, 1));
        for k in 0..2_000u64 {
            let h = SkeletonRendezvous::key_hash(KeyRef::Int(k));
            let want = (0..5)
                .max_by_key(|&j| (draw(h, node_key(0, j), 0), std::cmp::Reverse(j)))
                .unwrap();
            assert_eq!(s.locate(KeyRef::Int(k)), Some(want as u32));
        }
    }

    #[test]
    fn balanced_and_minimal_on_add_remove_and_growth() {
        let s = skeleton(16, 4); // exactly full: adding a node grows the tree
        let before = owners(&s, 40_000);
        let mut counts = std::collections::HashMap::new();
        for o in &before {
            *counts.entry(o.clone()).or_insert(0usize) += 1;
        }
        let max = *counts.values().max().unwrap() as f64;
        assert!(max / 2_500.0 < 1.1, "peak/mean {}", max / 2_500.0);
        let mut grown = s.clone();
        grown.add_node("new", 1.0).unwrap();
        assert_eq!(grown.capacity(), 64);
        let after = owners(&grown, 40_000);
        let moved: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
        assert!(moved.iter().all(|(_, a)| a.as_str() == "new"));
        let share = moved.len() as f64 / 40_000.0;
        assert!((share - 1.0 / 17.0).abs() < 0.01, "share {share}");
        let mut shrunk = grown.clone();
        shrunk.remove_node("node-3").unwrap();
        let last = owners(&shrunk, 40_000);
        for (a, l) in after.iter().zip(&last) {
            assert!(a == l || a == "node-3", "{a} -> {l}");
        }
        // the freed slot is taken again by the next node: back to the same owners
        shrunk.add_node("node-3b", 1.0).unwrap();
        let again = owners(&shrunk, 40_000);
        for (a, g) in after.iter().zip(&again) {
            assert_eq!(a.replace("node-3", "node-3b").as_str(), g);
        }
    }

    #[test]
    fn weights_are_slots_and_changes_move_only_that_node() {
        let nodes = NodeSet::new([("a", 1.0), ("b", 3.0)]).unwrap();
        let mut s = SkeletonRendezvous::new(nodes, 4).unwrap();
        let before = owners(&s, 40_000);
        let b = before.iter().filter(|o| o.as_str() == "b").count() as f64 / 40_000.0;
        assert!((b - 0.75).abs() < 0.01, "share {b}");
        s.set_weight("b", 1.0).unwrap();
        let after = owners(&s, 40_000);
        for (x, y) in before.iter().zip(&after) {
            assert!(x == y || (x == "b" && y == "a"));
        }
        assert!(SkeletonRendezvous::new(NodeSet::new([("a", 1.5)]).unwrap(), 4).is_err());
        assert!(SkeletonRendezvous::new(NodeSet::default(), 1).is_err());
        assert!(SkeletonRendezvous::new(NodeSet::new([("a", 1e9)]).unwrap(), 4).is_err());
    }

    #[test]
    fn replicas_follow_removals_and_layout_restores() {
        let mut s = skeleton(10, 3);
        s.remove_node("node-0").unwrap(); // a vacant slot in the way
        for k in 0..500u64 {
            let all = s.locate_n(KeyRef::Int(k), 9).unwrap();
            let mut sorted = all.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 9);
            assert_eq!(Some(all[0]), s.locate(KeyRef::Int(k)));
            let mut without = s.clone();
            without.remove_node(s.nodes().name(all[0])).unwrap();
            let second = s.nodes().name(all[1]);
            let got = without.locate(KeyRef::Int(k)).unwrap();
            assert_eq!(without.nodes().name(got), second);
        }
        let layout: Vec<Option<String>> = s
            .layout()
            .into_iter()
            .map(|o| o.map(|i| s.nodes().name(i).to_owned()))
            .collect();
        let restored =
            SkeletonRendezvous::from_layout(s.nodes().clone(), 3, s.capacity(), &layout).unwrap();
        assert_eq!(restored, s);
        assert!(SkeletonRendezvous::from_layout(s.nodes().clone(), 3, 10, &layout).is_err());
        assert!(SkeletonRendezvous::from_layout(s.nodes().clone(), 3, 27, &layout[2..]).is_err());
    }

    #[test]
    fn a_mostly_vacant_skeleton_still_places_every_key() {
        let mut s = skeleton(300, 2);
        for i in 1..300 {
            s.remove_node(&format!("node-{i}")).unwrap();
        }
        for k in 0..200u64 {
            assert_eq!(s.locate(KeyRef::Int(k)), Some(0));
        }
        assert_eq!(s.locate_n(KeyRef::Int(5), 1).unwrap(), vec![0]);
    }
}
