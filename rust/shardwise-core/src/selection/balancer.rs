//! The generic balancer: a [`Pool`] plus an [`Algorithm`], with every common operation.

use super::pool::{Backend, Health, Pool, PoolConfig};
use super::Error;

/// What a balancing algorithm keeps beside the pool.
pub trait Algorithm {
    /// Derive per-view data after the view was rebuilt.
    fn rebuild(&mut self, pool: &Pool);
    /// Write per-view state back into the backends before the pool changes.
    fn flush(&mut self, _pool: &mut Pool) {}
    /// Starting latency estimate of a new backend.
    fn initial_ewma(&self) -> f64 {
        0.0
    }
    /// A handle on backend `b` was released after `latency` seconds (if measured).
    fn on_release(&mut self, _b: &mut Backend, _latency: Option<f64>, _now: f64) {}
    /// Count one handle on backend `i` as released in per-view state, if the algorithm keeps
    /// the counts of view members itself (then `true`). Only called while the view is current.
    fn release_held(&mut self, _i: usize) -> bool {
        false
    }
    /// Handles held on backend `i` per the algorithm's own counts, if it keeps them.
    fn held(&self, _i: usize) -> Option<u64> {
        None
    }
}

/// How an algorithm picks: what differs between the balancers once the pool is shared.
pub trait Choose: Algorithm + Sized {
    /// Position (in the pool) of the chosen backend; `acquire` also counts a held handle on
    /// it (for the algorithms that count handles; the others ignore it).
    fn choose(bal: &mut Balancer<Self>, now: f64, acquire: bool) -> Result<usize, Error>;

    /// The algorithm's random generator, if it draws.
    fn rng(&mut self) -> Option<&mut super::Rng> {
        None
    }
}

/// A pool of backends balanced by `A`.
#[derive(Clone, Debug)]
pub struct Balancer<A: Algorithm> {
    pool: Pool,
    pub alg: A,
    fresh: bool,
}

impl<A: Algorithm> Balancer<A> {
    /// An empty balancer.
    pub fn new(config: PoolConfig, alg: A) -> Result<Self, Error> {
        Ok(Balancer {
            pool: Pool::new(config)?,
            alg,
            fresh: false,
        })
    }

    /// Read access to the pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn changing(&mut self) {
        if self.fresh {
            self.alg.flush(&mut self.pool);
            self.fresh = false;
        }
    }

    /// Make the view current; then `(pool, alg)` for a pick.
    #[inline]
    pub fn ready(&mut self, now: f64) -> Result<(&mut Pool, &mut A), Error> {
        if !self.fresh {
            self.pool.rebuild_view();
            self.alg.rebuild(&self.pool);
            self.fresh = true;
        }
        self.pool.tick(now);
        if self.pool.view.members.is_empty() {
            return Err(self.pool.no_backend());
        }
        Ok((&mut self.pool, &mut self.alg))
    }

    /// Add a backend; `ramp` starts its slow start at `now`. Returns its position.
    pub fn add_node(
        &mut self,
        name: &str,
        weight: f64,
        backup: bool,
        ramp: bool,
        now: f64,
    ) -> Result<usize, Error> {
        self.changing();
        let ewma = self.alg.initial_ewma();
        self.pool
            .add(name, weight, backup, ramp.then_some(now), now, ewma)
    }

    /// Remove a backend, returning its former position.
    pub fn remove_node(&mut self, name: &str) -> Result<usize, Error> {
        let pos = self.pool.position(name)?;
        self.changing();
        self.pool.remove(name)?;
        Ok(pos)
    }

    pub fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.changing();
        self.pool.set_weight(name, weight)
    }

    pub fn set_weight_factor(&mut self, name: &str, factor: f64) -> Result<(), Error> {
        self.changing();
        self.pool.set_factor(name, factor)
    }

    pub fn set_health(&mut self, name: &str, health: Health, now: f64) -> Result<(), Error> {
        self.changing();
        self.pool.set_health(name, health, now)
    }

    pub fn report_load(&mut self, name: &str, load: f64) -> Result<(), Error> {
        self.changing();
        self.pool.set_load(name, load)
    }

    /// A copy of every backend (current state flushed in).
    pub fn snapshot(&mut self) -> Vec<Backend> {
        self.changing();
        self.pool.backends.clone()
    }

    /// Replace every backend.
    pub fn restore(&mut self, backends: Vec<Backend>) -> Result<(), Error> {
        self.changing();
        self.pool.replace_all(backends)
    }

    /// Handles held on backend `i`.
    pub fn active(&self, i: usize) -> u64 {
        let fallback = self.pool.backends[i].active;
        if self.fresh {
            self.alg.held(i).unwrap_or(fallback)
        } else {
            fallback
        }
    }

    /// Release one handle on backend `id` (last seen at position `hint`). Returns false when
    /// the backend is gone (removed since the handle was taken).
    pub fn release(&mut self, id: u64, hint: usize, latency: Option<f64>, now: f64) -> bool {
        let pos = match self.pool.backends.get(hint) {
            Some(b) if b.id == id => Some(hint),
            _ => self.pool.backends.iter().position(|b| b.id == id),
        };
        match pos {
            Some(i) => {
                let counted = self.fresh && self.alg.release_held(i);
                let b = &mut self.pool.backends[i];
                if !counted {
                    b.active = b.active.saturating_sub(1);
                }
                self.alg.on_release(b, latency, now);
                true
            }
            None => false,
        }
    }
}
