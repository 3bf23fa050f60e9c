//! Weighted random picks in O(1) with Vose's alias method (also the engine of `LoadAware`).
//!
//! Table build (identical in the twin): with `n` members of weights `w` and total `W`, scale
//! `p[i] = w[i] * n / W`; push indices with `p < 1` on `small`, others on `large` (in order);
//! while both are non-empty pop `l` from `small` and `g` from `large`, set `prob[l] = p[l]`,
//! `alias[l] = g`, `p[g] = (p[g] + p[l]) - 1` and push `g` back on `small` or `large`; leftovers
//! get `prob = 1`. `prob` is stored as a `u64` threshold `trunc(prob * 2**64)` (`u64::MAX` for 1).
//!
//! A draw takes one `u64` `u`: with `x = u * n` (128-bit), column `k = x >> 64` and the coin
//! passes when `x mod 2**64 < threshold[k]`; otherwise the alias is taken. During slow start a
//! drawn member with ramp `r < 1` is kept only if a further `unit() < r` (thinning, exact);
//! after 64 refusals a linear scan over the effective weights with one `unit()` decides.

use super::balancer::{Algorithm, Balancer, Choose};
use super::pool::Pool;
use super::rng::Rng;
use super::Error;

const MAX_THINNING_TRIES: usize = 64;

/// One column of the alias table, resolved to pool positions.
#[derive(Clone, Copy, Debug)]
struct Column {
    threshold: u64,
    keep: u32,
    alias: u32,
}

/// Alias table over the view members, and the generator.
#[derive(Clone, Debug)]
pub struct Alias {
    pub rng: Rng,
    table: Vec<Column>,
}

impl Alias {
    pub fn new(seed: u64) -> Self {
        Alias {
            rng: Rng::new(seed),
            table: Vec::new(),
        }
    }
}

/// Vose's alias table for `weights` (all > 0): `(threshold, alias)` per column.
pub fn build_alias(weights: &[f64], total: f64) -> Vec<(u64, u32)> {
    let n = weights.len();
    let mut p: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
    let mut table: Vec<(u64, u32)> = (0..n).map(|i| (u64::MAX, i as u32)).collect();
    let mut small: Vec<usize> = Vec::new();
    let mut large: Vec<usize> = Vec::new();
    for (i, &pi) in p.iter().enumerate() {
        if pi < 1.0 {
            small.push(i);
        } else {
            large.push(i);
        }
    }
    while let (Some(&l), Some(&g)) = (small.last(), large.last()) {
        small.pop();
        large.pop();
        table[l] = (threshold(p[l]), g as u32);
        p[g] = (p[g] + p[l]) - 1.0;
        if p[g] < 1.0 {
            small.push(g);
        } else {
            large.push(g);
        }
    }
    table
}

fn threshold(prob: f64) -> u64 {
    if prob >= 1.0 {
        u64::MAX
    } else {
        (prob * 18_446_744_073_709_551_616.0) as u64
    }
}

impl Algorithm for Alias {
    fn rebuild(&mut self, pool: &Pool) {
        let members = &pool.view.members;
        self.table = build_alias(&pool.view.base, pool.view.total)
            .into_iter()
            .enumerate()
            .map(|(k, (threshold, alias))| Column {
                threshold,
                keep: members[k] as u32,
                alias: members[alias as usize] as u32,
            })
            .collect();
    }
}

/// The weighted random balancer.
pub type WeightedRandom = Balancer<Alias>;

/// One alias draw: the pool position of the chosen backend.
#[inline(always)]
fn alias_draw(rng: &mut Rng, table: &[Column]) -> u32 {
    let x = u128::from(rng.next_u64()) * table.len() as u128;
    let c = table[(x >> 64) as usize];
    if (x as u64) < c.threshold {
        c.keep
    } else {
        c.alias
    }
}

fn draw(pool: &Pool, alg: &mut Alias, now: f64) -> usize {
    let members = &pool.view.members;
    if !pool.view.ramping {
        return alias_draw(&mut alg.rng, &alg.table) as usize;
    }
    for _ in 0..MAX_THINNING_TRIES {
        let i = alias_draw(&mut alg.rng, &alg.table) as usize;
        let r = pool.ramp(i, now);
        if r >= 1.0 || alg.rng.unit() < r {
            return i;
        }
    }
    let total: f64 = (0..members.len()).map(|k| pool.member_weight(k, now)).sum();
    let x = alg.rng.unit() * total;
    let mut acc = 0.0;
    for (k, &i) in members.iter().enumerate() {
        acc += pool.member_weight(k, now);
        if x < acc {
            return i;
        }
    }
    members[members.len() - 1]
}

impl Balancer<Alias> {
    /// Position (in the pool) of a random backend, by weight.
    #[inline]
    pub fn pick(&mut self, now: f64) -> Result<usize, Error> {
        let (pool, alg) = self.ready(now)?;
        Ok(draw(pool, alg, now))
    }

    /// Fill `out` with positions of random backends, by weight (see [`Sampler`]).
    pub fn sample_into(&mut self, out: &mut [i32], now: f64) -> Result<(), Error> {
        self.sampler(now)?.fill(out);
        Ok(())
    }

    /// A [`Sampler`] for the current view: it draws from this balancer's current random
    /// stream, and the balancer's generator jumps 2**128 draws ahead, so the sampler can work
    /// without the balancer (and its lock) while picks go on, and never repeats their draws.
    pub fn sampler(&mut self, now: f64) -> Result<Sampler, Error> {
        let (pool, alg) = self.ready(now)?;
        let rng = alg.rng.split_off();
        Ok(Sampler {
            pool: pool.clone(),
            alg: Alias {
                rng,
                table: alg.table.clone(),
            },
            now,
        })
    }
}

/// A copy of a weighted random balancer's view and alias table with a random stream of its
/// own: bulk draws without holding the balancer.
#[derive(Clone, Debug)]
pub struct Sampler {
    pool: Pool,
    alg: Alias,
    now: f64,
}

impl Sampler {
    /// Fill `out` with positions of random backends, by weight.
    pub fn fill(&mut self, out: &mut [i32]) {
        let (pool, alg, now) = (&self.pool, &mut self.alg, self.now);
        if pool.view.ramping {
            for o in out.iter_mut() {
                *o = draw(pool, alg, now) as i32;
            }
        } else {
            let table = &alg.table[..];
            let mut rng = alg.rng.clone();
            for o in out.iter_mut() {
                *o = alias_draw(&mut rng, table) as i32;
            }
            alg.rng = rng;
        }
    }
}

impl Choose for Alias {
    #[inline]
    fn choose(bal: &mut Balancer<Self>, now: f64, _acquire: bool) -> Result<usize, Error> {
        bal.pick(now)
    }

    fn rng(&mut self) -> Option<&mut Rng> {
        Some(&mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selection::pool::PoolConfig;

    #[test]
    fn alias_is_exact_for_dyadic_weights() {
        // Weights 1, 3 over n = 2: p = 0.5, 1.5 → column 0 keeps itself with probability 1/2.
        let t = build_alias(&[1.0, 3.0], 4.0);
        assert_eq!(t[0], (1u64 << 63, 1));
        assert_eq!(t[1], (u64::MAX, 1));
    }

    #[test]
    fn frequencies_follow_weights() {
        let mut b = WeightedRandom::new(PoolConfig::default(), Alias::new(42)).unwrap();
        for (n, w) in [("a", 1.0), ("b", 2.0), ("c", 7.0)] {
            b.add_node(n, w, false, false, 0.0).unwrap();
        }
        let mut out = vec![0i32; 100_000];
        b.sample_into(&mut out, 0.0).unwrap();
        let mut counts = [0usize; 3];
        for o in out {
            counts[o as usize] += 1;
        }
        assert!(
            (counts[2] as f64 / 100_000.0 - 0.7).abs() < 0.01,
            "{counts:?}"
        );
        assert!(
            (counts[0] as f64 / 100_000.0 - 0.1).abs() < 0.01,
            "{counts:?}"
        );
    }
}
