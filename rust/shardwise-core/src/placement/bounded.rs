//! Consistent hashing with bounded loads (Mirrokni, Thorup & Zadimoghaddam, 2018).
//!
//! A ring of virtual nodes; a *batch* of `m` keys is assigned in order, each to the first node
//! clockwise from its hash that still has room, where node `i` may take at most
//! `ceil(c * m * w_i / W)` keys (`W` = total weight; with equal weights `ceil(c * m / n)`).
//! The result depends on the order of the keys: an earlier key may fill a node that a later key
//! would have preferred. One key alone (or a batch that fills nobody) lands as on a plain ring.

use super::continuum::Continuum;
use super::multiprobe::named_circle;
use super::nodes::{Error, NodeSet};
use super::util::{check_vnodes, point_count, total_points};
use super::{check_n, rebuilt, Placement};
use crate::hash::xxh3_64;
use crate::keys::{KeyRef, Keys};

/// Default load factor `c`.
pub const DEFAULT_LOAD_FACTOR: f64 = 1.25;

/// Per-node capacities for a batch of `m` keys: `ceil(c * m * w_i / W)` (`c >= 1`). Should
/// floating-point rounding leave the total below `m`, nodes get one more each in index order.
pub fn capacities(weights: &[f64], m: usize, load_factor: f64) -> Vec<u64> {
    let total: f64 = weights.iter().sum();
    let mut cap: Vec<u64> = weights
        .iter()
        .map(|&w| (load_factor * m as f64 * w / total).ceil() as u64)
        .collect();
    let mut sum: u64 = cap.iter().sum();
    let mut i = 0;
    while sum < m as u64 && !cap.is_empty() {
        cap[i] += 1;
        sum += 1;
        i = (i + 1) % cap.len();
    }
    cap
}

/// The ring over node indices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BoundedRing {
    ring: Continuum,
}

impl BoundedRing {
    /// A ring for nodes given as `(name, point count)`, indexed in order.
    pub fn new<'a>(nodes: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        BoundedRing {
            ring: named_circle(nodes),
        }
    }

    pub fn ring(&self) -> &Continuum {
        &self.ring
    }

    /// Plain ring lookup (no load bound); `None` on an empty ring.
    #[inline]
    pub fn locate(&self, key_hash: u64) -> Option<u32> {
        if self.ring.is_empty() {
            return None;
        }
        Some(self.ring.owner_at(self.ring.position(key_hash, false)))
    }

    /// `n` distinct owners walking clockwise from the key's hash.
    pub fn locate_n(&self, key_hash: u64, n: usize) -> Vec<u32> {
        let len = self.ring.len();
        let mut out: Vec<u32> = Vec::with_capacity(n);
        if len == 0 {
            return out;
        }
        let start = self.ring.position(key_hash, false);
        for step in 0..len {
            if out.len() == n {
                break;
            }
            let owner = self.ring.owner_at((start + step) % len);
            if !out.contains(&owner) {
                out.push(owner);
            }
        }
        out
    }

    /// Assign a batch of key hashes in order; `capacity[i]` is node `i`'s limit and the
    /// capacities must sum to at least the batch size. Returns the owner of every key.
    pub fn assign(&self, key_hashes: &[u64], capacity: &[u64]) -> Vec<u32> {
        let mut out = vec![0i32; key_hashes.len()];
        self.assign_into(key_hashes, capacity, &mut out);
        out.into_iter().map(|o| o as u32).collect()
    }

    /// [`BoundedRing::assign`] into `out` (one slot per key hash; left as is on an empty ring).
    pub fn assign_into(&self, key_hashes: &[u64], capacity: &[u64], out: &mut [i32]) {
        let len = self.ring.len();
        let owners: Vec<u32> = (0..len).map(|p| self.ring.owner_at(p)).collect();
        if len == 0 {
            return;
        }
        // Points of each node (CSR), to retire them all when the node fills.
        let nodes = capacity.len();
        let mut start = vec![0usize; nodes + 1];
        for &o in &owners {
            start[o as usize + 1] += 1;
        }
        for i in 0..nodes {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut points_of = vec![0usize; len];
        for (p, &o) in owners.iter().enumerate() {
            points_of[fill[o as usize]] = p;
            fill[o as usize] += 1;
        }
        // next[p] == p while point p's node has room; a full node's points link to p + 1.
        // Index `len` stands for "wrap to 0".
        let mut next: Vec<usize> = (0..=len).collect();
        let mut load = vec![0u64; nodes];
        for (&h, slot) in key_hashes.iter().zip(out.iter_mut()) {
            let mut p = find(&mut next, self.ring.position(h, false));
            if p == len {
                p = find(&mut next, 0);
            }
            if p == len {
                // Every node is full: only possible when `capacity` sums below the batch size.
                p = self.ring.position(h, false);
            }
            let owner = owners[p] as usize;
            *slot = owner as i32;
            load[owner] += 1;
            if load[owner] == capacity[owner] {
                for &q in &points_of[start[owner]..start[owner + 1]] {
                    next[q] = q + 1;
                }
            }
        }
    }
}

/// The first live index at or after `i` (path halving).
#[inline]
fn find(next: &mut [usize], mut i: usize) -> usize {
    while next[i] != i {
        let up = next[next[i]];
        next[i] = up;
        i = up;
    }
    i
}

#[inline(always)]
fn key_hash(key: KeyRef<'_>) -> u64 {
    key.with_bytes(|b| xxh3_64(b, 0))
}

/// Consistent hashing with bounded loads over named, weighted nodes.
///
/// `locate` is a plain ring lookup; `place` assigns the batch in order with no node above
/// `ceil(c * m * w_i / W)` keys.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundedLoadRing {
    nodes: NodeSet,
    ring: BoundedRing,
    vnodes: u32,
    load_factor: f64,
}

impl BoundedLoadRing {
    pub fn new(nodes: NodeSet, vnodes: u32, load_factor: f64) -> Result<Self, Error> {
        check_vnodes(vnodes)?;
        if !(load_factor.is_finite() && load_factor >= 1.0) {
            return Err(Error::Config(format!(
                "load_factor must be a finite number >= 1, got {}",
                crate::text::py_float(load_factor)
            )));
        }
        total_points(vnodes, nodes.weights())?;
        let counts: Vec<u32> = nodes
            .weights()
            .iter()
            .map(|&w| point_count(vnodes, w) as u32)
            .collect();
        let ring = BoundedRing::new(nodes.names().iter().map(String::as_str).zip(counts));
        Ok(BoundedLoadRing {
            nodes,
            ring,
            vnodes,
            load_factor,
        })
    }

    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    pub fn load_factor(&self) -> f64 {
        self.load_factor
    }

    /// The per-node limits for a batch of `m` keys.
    pub fn capacities(&self, m: usize) -> Vec<u64> {
        capacities(self.nodes.weights(), m, self.load_factor)
    }

    /// The same settings over `nodes`.
    fn with(&self, nodes: NodeSet) -> Result<Self, Error> {
        BoundedLoadRing::new(nodes, self.vnodes, self.load_factor)
    }
}

impl Placement for BoundedLoadRing {
    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + self.ring.ring.memory_bytes()
    }

    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        self.ring.locate(key_hash(key))
    }

    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        Ok(self.ring.locate_n(key_hash(key), n))
    }

    /// The bounded-load batch assignment, in key order (hashing runs in parallel).
    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        assert_eq!(keys.len(), out.len(), "place_into: output length differs");
        let hashes = keys.map(key_hash)?;
        let cap = self.capacities(hashes.len());
        self.ring.assign_into(&hashes, &cap, out);
        Ok(())
    }

    /// A key's owner depends on how full its candidates already are.
    fn owners_depend_on_batch(&self) -> bool {
        true
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        *self = rebuilt(
            &self.nodes,
            |n| n.push(name.to_owned(), weight),
            |n| self.with(n),
        )?;
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        *self = rebuilt(&self.nodes, |n| n.remove(name), |n| self.with(n))?;
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        *self = rebuilt(
            &self.nodes,
            |n| n.set_weight(name, weight),
            |n| self.with(n),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::murmur_fmix64 as mix64;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn ring(names: &[String], count: u32) -> BoundedRing {
        BoundedRing::new(names.iter().map(|s| (s.as_str(), count)))
    }

    /// Reference: walk the ring point by point.
    fn naive(r: &BoundedRing, hashes: &[u64], cap: &[u64]) -> Vec<u32> {
        let len = r.ring.len();
        let mut load = vec![0u64; cap.len()];
        hashes
            .iter()
            .map(|&h| {
                let mut p = r.ring.position(h, false);
                loop {
                    let o = r.ring.owner_at(p) as usize;
                    if load[o] < cap[o] {
                        load[o] += 1;
                        return o as u32;
                    }
                    p = (p + 1) % len;
                }
            })
            .collect()
    }

    #[test]
    fn cap_respected_and_matches_naive_walk() {
        for (n, m, c, vnodes) in [(5, 1000, 1.25, 20), (17, 5000, 1.0, 7), (3, 10, 1.5, 1)] {
            let ns = names(n);
            let r = ring(&ns, vnodes);
            let hashes: Vec<u64> = (0..m as u64).map(|k| mix64(k * 31 + 1)).collect();
            let cap = capacities(&vec![1.0; n], m, c);
            let got = r.assign(&hashes, &cap);
            assert_eq!(got, naive(&r, &hashes, &cap));
            let mut load = vec![0u64; n];
            for &o in &got {
                load[o as usize] += 1;
            }
            let bound = (c * m as f64 / n as f64).ceil() as u64;
            assert!(load.iter().all(|&l| l <= bound), "{load:?} > {bound}");
        }
    }

    #[test]
    fn named_batch_respects_weighted_caps() {
        let set = NodeSet::new([("a", 1.0), ("b", 2.0), ("c", 1.0)]).unwrap();
        let r = BoundedLoadRing::new(set, 40, 1.1).unwrap();
        let ints: Vec<u64> = (0..4000).collect();
        let got = r.place(Keys::Ints(&ints)).unwrap();
        let mut load = [0u64; 3];
        for &o in &got {
            load[o as usize] += 1;
        }
        let cap = r.capacities(4000);
        assert_eq!(cap, vec![1100, 2200, 1100]);
        assert!(load.iter().zip(&cap).all(|(l, c)| l <= c), "{load:?}");
        assert!(BoundedLoadRing::new(NodeSet::default(), 0, 1.25).is_err());
        assert!(BoundedLoadRing::new(NodeSet::default(), 10, 0.9).is_err());
        assert!(BoundedLoadRing::new(NodeSet::default(), 10, f64::NAN).is_err());
        let huge = NodeSet::new([("a", 1e9)]).unwrap();
        assert!(BoundedLoadRing::new(huge, 160, 1.25).is_err());
        assert_eq!(r.place(Keys::Ints(&[])).unwrap(), Vec::<i32>::new());
    }

    #[test]
    fn weighted_caps() {
        let cap = capacities(&[1.0, 3.0], 100, 1.25);
        assert_eq!(cap, vec![32, 94]);
    }

    #[test]
    fn light_batch_is_plain_ring() {
        let ns = names(10);
        let r = ring(&ns, 50);
        let hashes: Vec<u64> = (0..10u64).map(mix64).collect();
        let cap = vec![100; 10];
        let plain: Vec<u32> = hashes.iter().map(|&h| r.locate(h).unwrap()).collect();
        assert_eq!(r.assign(&hashes, &cap), plain);
    }

    #[test]
    fn locate_n_walks_distinct() {
        let ns = names(6);
        let r = ring(&ns, 10);
        for k in 0..200u64 {
            let all = r.locate_n(mix64(k), 6);
            assert_eq!(all.len(), 6);
            assert_eq!(all[0], r.locate(mix64(k)).unwrap());
            let mut s = all.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 6);
        }
    }
}
