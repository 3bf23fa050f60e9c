//! Least connections: the backend with the fewest held handles per unit of weight.
//!
//! Score of a candidate = `active / effective_weight`; the lowest wins, ties go to the larger
//! effective weight, then to the first candidate scanning from a rotating cursor (round robin).

use super::balancer::{Algorithm, Balancer};
use super::pool::Pool;
use super::SelectError;

/// The round-robin cursor over the view members.
#[derive(Clone, Debug, Default)]
pub struct Fewest {
    cursor: usize,
}

impl Algorithm for Fewest {
    fn rebuild(&mut self, pool: &Pool) {
        let m = pool.view.members.len();
        self.cursor = if m == 0 { 0 } else { self.cursor % m };
    }
}

/// The least-connections balancer.
pub type LeastConnections = Balancer<Fewest>;

impl Balancer<Fewest> {
    /// Position of the chosen backend; `acquire` also counts a handle on it.
    #[inline]
    pub fn pick(&mut self, now: f64, acquire: bool) -> Result<usize, SelectError> {
        let (pool, alg) = self.ready(now)?;
        let m = pool.view.members.len();
        let mut best = alg.cursor;
        let mut best_score = f64::INFINITY;
        let mut best_weight = 0.0;
        let mut k = alg.cursor;
        for _ in 0..m {
            let w = pool.member_weight(k, now);
            let score = pool.backends[pool.view.members[k]].active as f64 / w;
            if score < best_score || (score == best_score && w > best_weight) {
                best = k;
                best_score = score;
                best_weight = w;
            }
            k += 1;
            if k == m {
                k = 0;
            }
        }
        alg.cursor = if best + 1 == m { 0 } else { best + 1 };
        let i = pool.view.members[best];
        if acquire {
            pool.backends[i].active += 1;
        }
        Ok(i)
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
