//! Least connections: the backend with the fewest held handles per unit of weight.
//!
//! Score of a candidate = `active * (1 / effective_weight)`; the lowest wins, ties go to the larger
//! effective weight, then to the first candidate scanning from a rotating cursor (round robin).

use super::balancer::{Algorithm, Balancer};
use super::pool::Pool;
use super::SelectError;

/// The round-robin cursor and, for the view members, their held counts and weights.
#[derive(Clone, Debug, Default)]
pub struct Fewest {
    cursor: usize,
    /// Held handles per view member (authoritative while the view is current).
    act: Vec<f64>,
    /// `1 / static weight` per view member.
    inv: Vec<f64>,
    /// View position of each pool position (`u32::MAX` when not a member).
    pos_of: Vec<u32>,
}

impl Algorithm for Fewest {
    fn rebuild(&mut self, pool: &Pool) {
        let members = &pool.view.members;
        let m = members.len();
        self.cursor = if m == 0 { 0 } else { self.cursor % m };
        self.act.clear();
        self.act
            .extend(members.iter().map(|&i| pool.backends[i].active as f64));
        self.inv.clear();
        self.inv.extend(pool.view.base.iter().map(|w| 1.0 / w));
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
                let a = &mut self.act[k as usize];
                *a = (*a - 1.0).max(0.0);
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
    pub fn pick(&mut self, now: f64, acquire: bool) -> Result<usize, SelectError> {
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
            let (act, inv, base) = (&alg.act[..m], &alg.inv[..m], &pool.view.base[..m]);
            let f = |k: usize| (act[k] * inv[k], base[k]);
            scan(0..c, scan(c..m, start, f), f)
        };
        alg.cursor = if best + 1 == m { 0 } else { best + 1 };
        if acquire {
            alg.act[best] += 1.0;
        }
        Ok(pool.view.members[best])
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
}
