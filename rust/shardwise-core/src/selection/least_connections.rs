//! Least connections: the backend with the fewest held handles per unit of weight.
//!
//! Score of a candidate = `active * (1 / effective_weight)`; the lowest wins, ties go to the larger
//! effective weight, then to the first candidate scanning from a rotating cursor (round robin).

use super::balancer::{Algorithm, Balancer, Choose};
use super::pool::Pool;
use super::Error;

/// The round-robin cursor and, for the view members, their held counts and weights.
#[derive(Clone, Debug, Default)]
pub struct Fewest {
    cursor: usize,
    /// Held handles per view member (authoritative while the view is current).
    act: Vec<f64>,
    /// Static weight and its inverse per view member.
    wt: Vec<f64>,
    inv: Vec<f64>,
    /// View position of each pool position (`u32::MAX` when not a member).
    pos_of: Vec<u32>,
    /// Cache, when nothing ramps: the positions (ascending) with the lowest score `low` and,
    /// among those, the largest weight `heavy`. Kept up to date by acquire and release.
    tied: Vec<u32>,
    low: f64,
    heavy: f64,
    tied_valid: bool,
}

impl Fewest {
    #[inline]
    fn score(&self, k: usize) -> f64 {
        self.act[k] * self.inv[k]
    }

    /// Recompute the tie cache from scratch.
    fn refresh_tied(&mut self, base: &[f64]) {
        let (mut low, mut heavy) = (f64::INFINITY, f64::NEG_INFINITY);
        for (k, &w) in base.iter().enumerate() {
            let s = self.score(k);
            if s < low || (s == low && w > heavy) {
                low = s;
                heavy = w;
            }
        }
        self.tied.clear();
        for (k, &w) in base.iter().enumerate() {
            if w == heavy && self.score(k) == low {
                self.tied.push(k as u32);
            }
        }
        self.low = low;
        self.heavy = heavy;
        self.tied_valid = true;
    }

    /// The choice `scan` would make from cursor `c` when nothing ramps, from the tie cache;
    /// `acquire` takes the chosen position out of the ties (its score goes up).
    #[inline]
    fn cached_choice(&mut self, base: &[f64], c: usize, acquire: bool) -> usize {
        if !self.tied_valid {
            self.refresh_tied(base);
        }
        if self.tied.is_empty() {
            self.tied_valid = false; // no comparable score (degenerate weights): as `scan`
            return c;
        }
        let at = self.tied.partition_point(|&t| (t as usize) < c);
        let at = if at < self.tied.len() { at } else { 0 };
        let k = self.tied[at] as usize;
        if acquire {
            self.tied.remove(at);
            self.tied_valid = !self.tied.is_empty();
        }
        k
    }

    /// View position `k`'s score just went down (a release): update the tie cache.
    fn lowered(&mut self, k: usize, w: f64) {
        if !self.tied_valid {
            return;
        }
        let s = self.score(k);
        if s < self.low || (s == self.low && w > self.heavy) {
            self.low = s;
            self.heavy = w;
            self.tied.clear();
            self.tied.push(k as u32);
        } else if s == self.low && w == self.heavy {
            if let Err(at) = self.tied.binary_search(&(k as u32)) {
                self.tied.insert(at, k as u32);
            }
        }
    }
}

impl Algorithm for Fewest {
    fn rebuild(&mut self, pool: &Pool) {
        let members = &pool.view.members;
        let m = members.len();
        self.cursor = if m == 0 { 0 } else { self.cursor % m };
        self.act.clear();
        self.act
            .extend(members.iter().map(|&i| pool.backends[i].active as f64));
        self.wt.clear();
        self.wt.extend_from_slice(&pool.view.base);
        self.inv.clear();
        self.inv.extend(pool.view.base.iter().map(|w| 1.0 / w));
        self.tied_valid = false;
        self.pos_of.clear();
        self.pos_of.resize(pool.backends.len(), u32::MAX);
        for (k, &i) in members.iter().enumerate() {
            self.pos_of[i] = k as u32;
        }
    }

    fn flush(&mut self, pool: &mut Pool) {
        for (k, &i) in pool.view.members.iter().enumerate() {
            if let Some(&a) = self.act.get(k) {
                pool.backends[i].active = a as u64;
            }
        }
    }

    fn release_held(&mut self, i: usize) -> bool {
        match self.pos_of.get(i) {
            Some(&k) if k != u32::MAX => {
                let k = k as usize;
                self.act[k] = (self.act[k] - 1.0).max(0.0);
                self.lowered(k, self.wt[k]);
                true
            }
            _ => false,
        }
    }

    fn held(&self, i: usize) -> Option<u64> {
        match self.pos_of.get(i) {
            Some(&k) if k != u32::MAX => Some(self.act[k as usize] as u64),
            _ => None,
        }
    }
}

/// The least-connections balancer.
pub type LeastConnections = Balancer<Fewest>;

/// Best of view positions `range` as `(position, score, weight)`, continuing from `best`.
#[inline(always)]
fn scan(
    range: std::ops::Range<usize>,
    mut best: (usize, f64, f64),
    score_weight: impl Fn(usize) -> (f64, f64),
) -> (usize, f64, f64) {
    for k in range {
        let (score, w) = score_weight(k);
        if score < best.1 || (score == best.1 && w > best.2) {
            best = (k, score, w);
        }
    }
    best
}

impl Balancer<Fewest> {
    /// Position of the chosen backend; `acquire` also counts a handle on it.
    /// Score = `active * (1 / weight)`, scanning from the cursor (see the module docs).
    #[inline]
    pub fn pick(&mut self, now: f64, acquire: bool) -> Result<usize, Error> {
        let (pool, alg) = self.ready(now)?;
        let m = pool.view.members.len();
        let c = alg.cursor;
        let start = (c, f64::INFINITY, 0.0);
        let (best, _, _) = if pool.view.ramping {
            let f = |k: usize| {
                let w = pool.member_weight(k, now);
                (alg.act[k] * (1.0 / w), w)
            };
            scan(0..c, scan(c..m, start, f), f)
        } else {
            (
                alg.cached_choice(&pool.view.base[..m], c, acquire),
                0.0,
                0.0,
            )
        };
        alg.cursor = if best + 1 == m { 0 } else { best + 1 };
        if acquire {
            alg.act[best] += 1.0;
        }
        Ok(pool.view.members[best])
    }
}

impl Choose for Fewest {
    #[inline]
    fn choose(bal: &mut Balancer<Self>, now: f64, acquire: bool) -> Result<usize, Error> {
        bal.pick(now, acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selection::pool::PoolConfig;

    #[test]
    fn fills_evenly_then_releases() {
        let mut b = LeastConnections::new(PoolConfig::default(), Fewest::default()).unwrap();
        for n in ["a", "b", "c"] {
            b.add_node(n, 1.0, false, false, 0.0).unwrap();
        }
        let picks: Vec<usize> = (0..6).map(|_| b.pick(0.0, true).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        let id = b.pool().backends[1].id;
        assert!(b.release(id, 1, None, 0.0));
        assert_eq!(b.pick(0.0, true).unwrap(), 1);
    }

    /// The tie cache makes the same choices as a plain scan, under random acquire/release.
    #[test]
    fn cache_matches_naive_scan() {
        use crate::selection::Rng;
        let weights = [1.0, 2.0, 2.0, 0.5, 3.0, 2.0, 1.0];
        let mut b = LeastConnections::new(PoolConfig::default(), Fewest::default()).unwrap();
        for (i, w) in weights.iter().enumerate() {
            b.add_node(&format!("n{i}"), *w, false, false, 0.0).unwrap();
        }
        let mut active = [0u64; 7];
        let mut cursor = 0usize;
        let mut held: Vec<usize> = Vec::new();
        let mut rng = Rng::new(5);
        for _ in 0..20_000 {
            if held.is_empty() || rng.below(3) > 0 {
                let mut best = (cursor, f64::INFINITY, 0.0);
                for t in 0..7 {
                    let k = (cursor + t) % 7;
                    let s = active[k] as f64 * (1.0 / weights[k]);
                    if s < best.1 || (s == best.1 && weights[k] > best.2) {
                        best = (k, s, weights[k]);
                    }
                }
                cursor = (best.0 + 1) % 7;
                let acquire = rng.below(4) > 0;
                assert_eq!(b.pick(0.0, acquire).unwrap(), best.0);
                if acquire {
                    active[best.0] += 1;
                    held.push(best.0);
                }
            } else {
                let k = held.swap_remove(rng.below(held.len()));
                active[k] -= 1;
                let id = b.pool().backends[k].id;
                assert!(b.release(id, k, None, 0.0));
            }
            if held.len() > 40 {
                let k = held.swap_remove(0);
                active[k] -= 1;
                let id = b.pool().backends[k].id;
                b.release(id, k, None, 0.0);
            }
        }
    }
}
