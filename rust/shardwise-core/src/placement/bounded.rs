//! Consistent hashing with bounded loads (Mirrokni, Thorup & Zadimoghaddam, 2018).
//!
//! A ring of virtual nodes; a *batch* of `m` keys is assigned in order, each to the first node
//! clockwise from its hash that still has room, where node `i` may take at most
//! `ceil(c * m * w_i / W)` keys (`W` = total weight; with equal weights `ceil(c * m / n)`).
//! The result depends on the order of the keys: an earlier key may fill a node that a later key
//! would have preferred. One key alone (or a batch that fills nobody) lands as on a plain ring.

use crate::placement::multiprobe::{point_hash, SortedPoints};

/// Default virtual nodes per unit of weight.
pub const DEFAULT_VNODES: u32 = 160;
/// Default load factor `c`.
pub const DEFAULT_LOAD_FACTOR: f64 = 1.25;

/// Number of ring points for a node of weight `weight`: `round(vnodes * weight)`, at least 1.
pub fn point_count(vnodes: u32, weight: f64) -> u64 {
    ((f64::from(vnodes) * weight).round() as u64).max(1)
}

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
    ring: SortedPoints,
}

impl BoundedRing {
    /// A ring for nodes given as `(name, point count)`, indexed in order.
    pub fn new<'a>(nodes: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        let mut pairs = Vec::new();
        for (i, (name, count)) in nodes.into_iter().enumerate() {
            pairs.extend((0..count).map(|j| (point_hash(name, j), i as u32)));
        }
        BoundedRing {
            ring: SortedPoints::new(pairs),
        }
    }

    pub fn ring(&self) -> &SortedPoints {
        &self.ring
    }

    /// Plain ring lookup (no load bound); `None` on an empty ring.
    #[inline]
    pub fn locate(&self, key_hash: u64) -> Option<u32> {
        if self.ring.is_empty() {
            return None;
        }
        Some(self.ring.owners()[self.ring.successor(key_hash)])
    }

    /// `n` distinct owners walking clockwise from the key's hash.
    pub fn locate_n(&self, key_hash: u64, n: usize) -> Vec<u32> {
        let len = self.ring.len();
        let mut out: Vec<u32> = Vec::with_capacity(n);
        if len == 0 {
            return out;
        }
        let start = self.ring.successor(key_hash);
        for step in 0..len {
            if out.len() == n {
                break;
            }
            let owner = self.ring.owners()[(start + step) % len];
            if !out.contains(&owner) {
                out.push(owner);
            }
        }
        out
    }

    /// Assign a batch of key hashes in order; `capacity[i]` is node `i`'s limit and the
    /// capacities must sum to at least the batch size. Returns the owner of every key.
    pub fn assign(&self, key_hashes: &[u64], capacity: &[u64]) -> Vec<u32> {
        let len = self.ring.len();
        let owners = self.ring.owners();
        let mut out = Vec::with_capacity(key_hashes.len());
        if len == 0 {
            return out;
        }
        // Points of each node (CSR), to retire them all when the node fills.
        let nodes = capacity.len();
        let mut start = vec![0usize; nodes + 1];
        for &o in owners {
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
        for &h in key_hashes {
            let mut p = find(&mut next, self.ring.successor(h));
            if p == len {
                p = find(&mut next, 0);
            }
            if p == len {
                // Every node is full: only possible when `capacity` sums below the batch size.
                p = self.ring.successor(h);
            }
            let owner = owners[p] as usize;
            out.push(owner as u32);
            load[owner] += 1;
            if load[owner] == capacity[owner] {
                for &q in &points_of[start[owner]..start[owner + 1]] {
                    next[q] = q + 1;
                }
            }
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::memento::mix64;

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
                let mut p = r.ring.successor(h);
                loop {
                    let o = r.ring.owners()[p] as usize;
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
