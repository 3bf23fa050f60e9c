//! Power of two choices: draw two distinct candidates, keep the cheaper.
//!
//! Cost of a candidate = `load / effective_weight` where `load` is its number of held handles,
//! or, with peak EWMA on, `decayed_rtt * (active + 1)`. The latency estimate jumps up to any
//! slower observation (peak) and otherwise moves toward it with weight `1 - exp(-dt / decay)`;
//! at pick time it is read decayed by `exp(-dt / decay)` since its last update, so a backend
//! not heard from for a while is tried again. New backends start at `default_rtt`.
//! Candidates: `a = below(m)`, `b = below(m - 1)`, `b += 1 if b >= a`; ties keep `a`.

use super::balancer::{Algorithm, Balancer, Choose};
use super::pool::{Backend, Pool};
use super::rng::Rng;
use super::Error;
use crate::text::py_float;

/// Peak-EWMA settings.
#[derive(Clone, Copy, Debug)]
pub struct PeakEwma {
    /// Decay time constant, seconds (> 0).
    pub decay: f64,
    /// Estimate of a backend never measured, seconds (>= 0).
    pub default_rtt: f64,
}

impl PeakEwma {
    /// The defaults: a 10 s decay, 30 ms for a backend never measured.
    pub const DEFAULT: PeakEwma = PeakEwma {
        decay: 10.0,
        default_rtt: 0.03,
    };
}

/// The generator and the optional latency model.
#[derive(Clone, Debug)]
pub struct TwoChoices {
    pub rng: Rng,
    pub ewma: Option<PeakEwma>,
}

impl TwoChoices {
    pub fn new(seed: u64, ewma: Option<PeakEwma>) -> Result<Self, Error> {
        if let Some(e) = ewma {
            if !(e.decay.is_finite() && e.decay > 0.0) {
                return Err(Error::Config(format!(
                    "decay must be a finite number of seconds > 0, got {}",
                    py_float(e.decay)
                )));
            }
            if !(e.default_rtt.is_finite() && e.default_rtt >= 0.0) {
                return Err(Error::Config(format!(
                    "default_rtt must be a finite number of seconds >= 0, got {}",
                    py_float(e.default_rtt)
                )));
            }
        }
        Ok(TwoChoices {
            rng: Rng::new(seed),
            ewma,
        })
    }
}

impl Algorithm for TwoChoices {
    fn rebuild(&mut self, _pool: &Pool) {}

    fn initial_ewma(&self) -> f64 {
        self.ewma.map_or(0.0, |e| e.default_rtt)
    }

    fn on_release(&mut self, b: &mut Backend, latency: Option<f64>, now: f64) {
        if let (Some(e), Some(rtt)) = (self.ewma, latency) {
            if rtt.is_finite() && rtt >= 0.0 {
                let w = (-((now - b.stamp).max(0.0)) / e.decay).exp();
                b.ewma = if rtt > b.ewma {
                    rtt
                } else {
                    b.ewma * w + rtt * (1.0 - w)
                };
                b.stamp = now;
            }
        }
    }
}

/// The power-of-two-choices balancer.
pub type PowerOfTwo = Balancer<TwoChoices>;

fn cost(pool: &Pool, ewma: Option<PeakEwma>, k: usize, now: f64) -> f64 {
    let b = &pool.backends[pool.view.members[k]];
    let load = match ewma {
        None => b.active as f64,
        Some(e) => {
            let decayed = b.ewma * (-((now - b.stamp).max(0.0)) / e.decay).exp();
            decayed * (b.active as f64 + 1.0)
        }
    };
    load / pool.member_weight(k, now)
}

impl Balancer<TwoChoices> {
    /// Position of the chosen backend; `acquire` also counts a handle on it.
    #[inline]
    pub fn pick(&mut self, now: f64, acquire: bool) -> Result<usize, Error> {
        let (pool, alg) = self.ready(now)?;
        let m = pool.view.members.len();
        let k = if m == 1 {
            0
        } else {
            let a = alg.rng.below(m);
            let mut b = alg.rng.below(m - 1);
            if b >= a {
                b += 1;
            }
            if cost(pool, alg.ewma, b, now) < cost(pool, alg.ewma, a, now) {
                b
            } else {
                a
            }
        };
        let i = pool.view.members[k];
        if acquire {
            pool.backends[i].active += 1;
        }
        Ok(i)
    }
}

impl Choose for TwoChoices {
    #[inline]
    fn choose(bal: &mut Balancer<Self>, now: f64, acquire: bool) -> Result<usize, Error> {
        bal.pick(now, acquire)
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
    fn spread_stays_small() {
        let mut b =
            PowerOfTwo::new(PoolConfig::default(), TwoChoices::new(1, None).unwrap()).unwrap();
        for i in 0..10 {
            b.add_node(&format!("n{i}"), 1.0, false, false, 0.0)
                .unwrap();
        }
        for _ in 0..1000 {
            b.pick(0.0, true).unwrap();
        }
        let act: Vec<u64> = b.pool().backends.iter().map(|x| x.active).collect();
        let (lo, hi) = (act.iter().min().unwrap(), act.iter().max().unwrap());
        assert!(hi - lo <= 3, "{act:?}");
    }

    #[test]
    fn peak_ewma_jumps_up() {
        let mut alg = TwoChoices::new(
            1,
            Some(PeakEwma {
                decay: 10.0,
                default_rtt: 0.03,
            }),
        )
        .unwrap();
        let mut pool = Pool::new(PoolConfig::default()).unwrap();
        pool.add("a", 1.0, false, None, 0.0, 0.03).unwrap();
        let b = &mut pool.backends[0];
        alg.on_release(b, Some(0.5), 1.0);
        assert_eq!(b.ewma, 0.5);
        alg.on_release(b, Some(0.0), 1.0);
        assert_eq!(b.ewma, 0.5); // dt = 0: no movement
    }
}
