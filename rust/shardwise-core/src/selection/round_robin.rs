//! Smooth weighted round robin, pick for pick as nginx's upstream module.
//!
//! Each pick adds every candidate's effective weight to its current weight, chooses the first
//! candidate with the largest current weight, and subtracts the total of the effective weights
//! from the chosen one. For a=5, b=1, c=1 the cycle is a a b a c a a.

use super::balancer::{Algorithm, Balancer};
use super::pool::Pool;
use super::SelectError;

/// Current weights of the view members (flushed into the backends on change).
#[derive(Clone, Debug, Default)]
pub struct SmoothWeighted {
    cur: Vec<f64>,
}

impl Algorithm for SmoothWeighted {
    fn rebuild(&mut self, pool: &Pool) {
        self.cur.clear();
        self.cur
            .extend(pool.view.members.iter().map(|&i| pool.backends[i].current));
    }

    fn flush(&mut self, pool: &mut Pool) {
        for (k, &i) in pool.view.members.iter().enumerate() {
            if let Some(&c) = self.cur.get(k) {
                pool.backends[i].current = c;
            }
        }
    }
}

/// The smooth weighted round robin balancer.
pub type RoundRobin = Balancer<SmoothWeighted>;

impl Balancer<SmoothWeighted> {
    /// Position (in the pool) of the next backend.
    #[inline]
    pub fn pick(&mut self, now: f64) -> Result<usize, SelectError> {
        let (pool, alg) = self.ready(now)?;
        let view = &pool.view;
        let cur = &mut alg.cur[..view.members.len()];
        let total = if view.ramping {
            let mut total = 0.0;
            for (k, c) in cur.iter_mut().enumerate() {
                let w = pool.member_weight(k, now);
                *c += w;
                total += w;
            }
            total
        } else {
            for (c, w) in cur.iter_mut().zip(&view.base) {
                *c += *w;
            }
            view.total
        };
        let mut best = 0;
        let mut best_value = cur[0];
        for (k, &c) in cur.iter().enumerate().skip(1) {
            if c > best_value {
                best = k;
                best_value = c;
            }
        }
        cur[best] -= total;
        Ok(view.members[best])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selection::pool::PoolConfig;

    fn rr(weights: &[(&str, f64)]) -> RoundRobin {
        let mut b = RoundRobin::new(PoolConfig::default(), SmoothWeighted::default()).unwrap();
        for (n, w) in weights {
            b.add_node(n, *w, false, false, 0.0).unwrap();
        }
        b
    }

    #[test]
    fn nginx_example() {
        let mut b = rr(&[("a", 5.0), ("b", 1.0), ("c", 1.0)]);
        let seq: String = (0..14)
            .map(|_| {
                let i = b.pick(0.0).unwrap();
                b.pool().backends[i].name.clone()
            })
            .collect();
        assert_eq!(seq, "aabacaaaabacaa");
    }

    #[test]
    fn down_node_is_skipped_and_state_kept() {
        let mut b = rr(&[("a", 1.0), ("b", 1.0)]);
        b.set_health("a", crate::selection::Health::Down, 0.0)
            .unwrap();
        for _ in 0..5 {
            assert_eq!(b.pick(0.0).unwrap(), 1);
        }
        b.set_health("a", crate::selection::Health::Up, 0.0)
            .unwrap();
        let picks: Vec<usize> = (0..4).map(|_| b.pick(0.0).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 2);
    }

    #[test]
    fn empty_errors() {
        let mut b = rr(&[]);
        assert!(matches!(b.pick(0.0), Err(SelectError::NoBackend(_))));
    }
}
