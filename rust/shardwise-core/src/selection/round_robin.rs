//! Smooth weighted round robin, pick for pick as nginx's upstream module.
//!
//! Each pick adds every candidate's effective weight to its current weight, chooses the first
//! candidate with the largest current weight, and subtracts the total of the effective weights
//! from the chosen one. For a=5, b=1, c=1 the cycle is a a b a c a a.

use super::balancer::{Algorithm, Balancer, Choose};
use super::pool::Pool;
use super::Error;

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

const LANES: usize = 8;

#[inline(always)]
fn fold_lanes(lanes: [f64; LANES], rest: &[f64]) -> f64 {
    let mut top = lanes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for &x in rest {
        top = if x > top { x } else { top };
    }
    top
}

/// Largest value of a slice of finite floats (independent lanes, branch-free).
#[inline]
fn max_of(v: &[f64]) -> f64 {
    let mut lanes = [f64::NEG_INFINITY; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            lanes[j] = if c[j] > lanes[j] { c[j] } else { lanes[j] };
        }
    }
    fold_lanes(lanes, rest)
}

/// `cur[k] += w[k]` for every k, returning the largest new `cur[k]`.
#[inline]
fn add_and_max(cur: &mut [f64], w: &[f64]) -> f64 {
    let mut lanes = [f64::NEG_INFINITY; LANES];
    let split = cur.len() / LANES * LANES;
    let (head, tail) = cur.split_at_mut(split);
    for (c, w) in head.chunks_exact_mut(LANES).zip(w.chunks_exact(LANES)) {
        for j in 0..LANES {
            c[j] += w[j];
            lanes[j] = if c[j] > lanes[j] { c[j] } else { lanes[j] };
        }
    }
    for (c, w) in tail.iter_mut().zip(&w[split..]) {
        *c += *w;
    }
    fold_lanes(lanes, tail)
}

/// The smooth weighted round robin balancer.
pub type RoundRobin = Balancer<SmoothWeighted>;

impl Balancer<SmoothWeighted> {
    /// Position (in the pool) of the next backend.
    #[inline]
    pub fn pick(&mut self, now: f64) -> Result<usize, Error> {
        let (pool, alg) = self.ready(now)?;
        let view = &pool.view;
        let cur = &mut alg.cur[..view.members.len()];
        let (total, top) = if view.ramping {
            let mut total = 0.0;
            for (k, c) in cur.iter_mut().enumerate() {
                let w = pool.member_weight(k, now);
                *c += w;
                total += w;
            }
            (total, max_of(cur))
        } else {
            (view.total, add_and_max(cur, &view.base))
        };
        // First position holding the largest current weight (values are finite).
        let best = cur.iter().position(|&c| c == top).unwrap_or(0);
        cur[best] -= total;
        Ok(view.members[best])
    }
}

impl Choose for SmoothWeighted {
    #[inline]
    fn choose(bal: &mut Balancer<Self>, now: f64, _acquire: bool) -> Result<usize, Error> {
        bal.pick(now)
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
        assert!(matches!(b.pick(0.0), Err(Error::NoBackend(_))));
    }
}
