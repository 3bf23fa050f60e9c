//! `Rendezvous`: highest random weight hashing, weighted by the logarithmic method
//! (Schindelhauer & Schomaker; "Weighted distributed hash tables").
//!
//! For key hash `k = xxh3_64(key)` and node seed `s_i = xxh3_64(name_i)`, the node draw is
//! `h_i = splitmix64(k ^ s_i)`, `u_i = ((h_i >> 11) + 0.5) / 2**53` in (0, 1), and the score is
//! `w_i / -ln(u_i)`; the highest score wins (ties: lower index). When every weight is equal
//! the score is monotone in `h_i >> 11`, so the draw itself is compared (same winner, no log);
//! ties again go to the lower index. Node `i` wins with probability `w_i / sum(w)`.
//!
//! O(nodes) per key; [`super::SkeletonRendezvous`] is the O(log n) variant (faster past about
//! 16 nodes with equal weights, 4 with unequal ones: `benches/bench_placement_scale.py`).

use super::nodes::{Error, NodeSet};
use super::{check_n, Placement};
use crate::hash;
use crate::hash::splitmix64;
use crate::keys::KeyRef;

/// Weighted rendezvous (HRW) hashing.
#[derive(Clone, Debug)]
pub struct Rendezvous {
    nodes: NodeSet,
    seeds: Vec<u64>,
    uniform: bool,
}

/// The draw of a node with seed `seed` for key hash `k`: the top 53 bits of `splitmix64(k ^ seed)`.
#[inline]
pub fn draw(k: u64, seed: u64) -> u64 {
    splitmix64(k ^ seed) >> 11
}

/// The weighted score of a draw.
#[inline]
pub fn score(draw: u64, weight: f64) -> f64 {
    let u = (draw as f64 + 0.5) / 9_007_199_254_740_992.0;
    weight / -u.ln()
}

impl Rendezvous {
    pub fn new(nodes: NodeSet) -> Result<Self, Error> {
        let mut r = Rendezvous {
            nodes,
            seeds: Vec::new(),
            uniform: true,
        };
        r.refresh();
        Ok(r)
    }

    fn refresh(&mut self) {
        self.seeds = self
            .nodes
            .names()
            .iter()
            .map(|n| hash::xxh3_64(n.as_bytes(), 0))
            .collect();
        let w = self.nodes.weights();
        self.uniform = w.iter().all(|&x| x == w[0]);
    }

    #[inline]
    fn key_hash(key: KeyRef<'_>) -> u64 {
        key.with_bytes(|b| hash::xxh3_64(b, 0))
    }

    /// Every node's weighted score for `k`.
    fn scores(&self, k: u64) -> Vec<f64> {
        let w = self.nodes.weights();
        self.seeds
            .iter()
            .zip(w)
            .map(|(&s, &wi)| score(draw(k, s), wi))
            .collect()
    }
}

impl Placement for Rendezvous {
    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        if self.seeds.is_empty() {
            return None;
        }
        let k = Self::key_hash(key);
        let mut best = 0u32;
        if self.uniform {
            let mut top = draw(k, self.seeds[0]);
            for (i, &s) in self.seeds.iter().enumerate().skip(1) {
                let d = draw(k, s);
                if d > top {
                    top = d;
                    best = i as u32;
                }
            }
        } else {
            let w = self.nodes.weights();
            let mut top = score(draw(k, self.seeds[0]), w[0]);
            for (i, &s) in self.seeds.iter().enumerate().skip(1) {
                let v = score(draw(k, s), w[i]);
                if v > top {
                    top = v;
                    best = i as u32;
                }
            }
        }
        Some(best)
    }

    /// The `n` highest-scoring nodes, best first (ties: lower index first).
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        if self.uniform {
            // Draws compare exactly as integers; avoid float rounding of 53-bit values.
            let k = Self::key_hash(key);
            let mut order: Vec<(u64, u32)> = self
                .seeds
                .iter()
                .enumerate()
                .map(|(i, &s)| (draw(k, s), i as u32))
                .collect();
            order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            return Ok(order.into_iter().take(n).map(|(_, i)| i).collect());
        }
        let scores = self.scores(Self::key_hash(key));
        let mut order: Vec<u32> = (0..scores.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            scores[b as usize]
                .total_cmp(&scores[a as usize])
                .then(a.cmp(&b))
        });
        order.truncate(n);
        Ok(order)
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.push(name.to_owned(), weight)?;
        self.refresh();
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        self.nodes.remove(name)?;
        self.refresh();
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.set_weight(name, weight)?;
        self.refresh();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_shares_follow_weights() {
        let nodes = NodeSet::new([("a", 1.0), ("b", 3.0)]).unwrap();
        let r = Rendezvous::new(nodes).unwrap();
        let n = 40_000u64;
        let b = (0..n)
            .filter(|&k| r.locate(KeyRef::Int(k)) == Some(1))
            .count();
        let share = b as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.01, "share {share}");
    }

    #[test]
    fn replicas_start_with_owner() {
        let nodes = NodeSet::new([("a", 1.0), ("b", 2.0), ("c", 0.5)]).unwrap();
        let r = Rendezvous::new(nodes).unwrap();
        for k in 0..300u64 {
            let got = r.locate_n(KeyRef::Int(k), 3).unwrap();
            assert_eq!(Some(got[0]), r.locate(KeyRef::Int(k)));
        }
    }
}
