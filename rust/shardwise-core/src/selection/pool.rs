//! The backends of a balancer, their health, and the view of those that may be picked now.
//!
//! Which backends a pick may choose (the *view*), recomputed lazily after any change:
//! 1. if the panic threshold `P` (percent, 0 = off) is set and fewer than `P`% of the primaries are
//!    up: the up backups when no primary is up and a backup is, otherwise every primary whatever
//!    its state (panic mode, as Envoy: better to hit some failing nodes than overload the few);
//! 2. otherwise the up primaries, if any;
//! 3. otherwise the up backups, if any; otherwise nothing (`NoBackend`).
//!
//! A member's static weight is `weight × factor × load_multiplier`; during slow start it is
//! further multiplied by the ramp `max(floor, elapsed / window)` (1 once `elapsed ≥ window`).

use std::collections::HashMap;

use super::Error;
use crate::text::{py_float, quoted};

/// Largest accepted weight (keeps every sum finite).
pub const MAX_WEIGHT: f64 = 1e15;

/// A backend's health state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Receives new picks.
    Up,
    /// Receives nothing (unless the balancer panics).
    Down,
    /// Receives no new picks; handles already held finish normally.
    Draining,
}

impl Health {
    /// The lower-case name used by the Python API.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
            Health::Draining => "draining",
        }
    }

    /// Parse `"up"`, `"down"` or `"draining"`.
    pub fn parse(s: &str) -> Option<Health> {
        match s {
            "up" => Some(Health::Up),
            "down" => Some(Health::Down),
            "draining" => Some(Health::Draining),
            _ => None,
        }
    }
}

/// One backend with every per-backend field any balancer needs.
#[derive(Clone, Debug)]
pub struct Backend {
    pub name: String,
    pub weight: f64,
    pub factor: f64,
    pub load: f64,
    pub load_mult: f64,
    pub health: Health,
    pub backup: bool,
    pub id: u64,
    /// Start of the slow-start ramp, if ramping.
    pub up_since: Option<f64>,
    /// Smooth weighted round robin's current weight.
    pub current: f64,
    /// Handles held (least connections, power of two).
    pub active: u64,
    /// Peak-EWMA latency estimate (seconds) and the time it was last updated.
    pub ewma: f64,
    pub stamp: f64,
}

/// Why the view holds what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Backup,
    Panic,
    Empty,
}

/// The backends a pick may choose now, with their static weights.
#[derive(Clone, Debug)]
pub struct View {
    pub members: Vec<usize>,
    pub base: Vec<f64>,
    pub total: f64,
    pub ramping: bool,
    pub ramp_end: f64,
    pub mode: Mode,
}

/// Settings shared by every balancer.
#[derive(Clone, Copy, Debug)]
pub struct PoolConfig {
    /// Percent of primaries that must be up to respect health (0 = never panic).
    pub panic_threshold: f64,
    /// Slow-start window in seconds (0 = off).
    pub slow_start: f64,
    /// Slow-start starting fraction of the weight, in (0, 1].
    pub slow_start_floor: f64,
    /// Smallest load multiplier `LoadAware` gives an overloaded node, in (0, 1].
    pub min_share: f64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            panic_threshold: 0.0,
            slow_start: 0.0,
            slow_start_floor: 0.1,
            min_share: 0.05,
        }
    }
}

impl PoolConfig {
    /// Check every field, naming the bad one.
    pub fn validate(&self) -> Result<(), Error> {
        let c = self;
        if !(c.panic_threshold.is_finite() && (0.0..=100.0).contains(&c.panic_threshold)) {
            return Err(Error::Config(format!(
                "panic_threshold must be a percentage in [0, 100], got {}",
                py_float(c.panic_threshold)
            )));
        }
        if !(c.slow_start.is_finite() && c.slow_start >= 0.0) {
            return Err(Error::Config(format!(
                "slow_start must be a finite number of seconds >= 0, got {}",
                py_float(c.slow_start)
            )));
        }
        if !(c.slow_start_floor > 0.0 && c.slow_start_floor <= 1.0) {
            return Err(Error::Config(format!(
                "slow_start_floor must be in (0, 1], got {}",
                py_float(c.slow_start_floor)
            )));
        }
        if !(c.min_share > 0.0 && c.min_share <= 1.0) {
            return Err(Error::Config(format!(
                "min_share must be in (0, 1], got {}",
                py_float(c.min_share)
            )));
        }
        Ok(())
    }
}

/// Check a weight: finite, > 0, at most [`MAX_WEIGHT`].
pub fn check_weight(name: &str, weight: f64) -> Result<(), Error> {
    if weight.is_finite() && weight > 0.0 && weight <= MAX_WEIGHT {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "weight of node {} must be a finite number in (0, 1e15], got {}",
            quoted(name),
            py_float(weight)
        )))
    }
}

/// Check a weight factor: finite and > 0.
pub fn check_factor(name: &str, factor: f64) -> Result<(), Error> {
    if factor.is_finite() && factor > 0.0 && factor <= MAX_WEIGHT {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "weight factor of node {} must be a finite number in (0, 1e15], got {}",
            quoted(name),
            py_float(factor)
        )))
    }
}

/// The backends, their index by name, and the cached view.
#[derive(Clone, Debug)]
pub struct Pool {
    pub backends: Vec<Backend>,
    index: HashMap<String, usize>,
    next_id: u64,
    pub config: PoolConfig,
    pub view: View,
}

impl Pool {
    pub fn new(config: PoolConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Pool {
            backends: Vec::new(),
            index: HashMap::new(),
            next_id: 1,
            config,
            view: View {
                members: Vec::new(),
                base: Vec::new(),
                total: 0.0,
                ramping: false,
                ramp_end: 0.0,
                mode: Mode::Empty,
            },
        })
    }

    /// Position of `name` in `backends`.
    pub fn position(&self, name: &str) -> Result<usize, Error> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| Error::UnknownNode(name.to_owned()))
    }

    /// Whether `name` is a backend.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Add a backend; `ramp_from` starts its slow start (when slow start is on).
    /// `now` stamps its latency estimate, which starts at `initial_ewma`.
    pub fn add(
        &mut self,
        name: &str,
        weight: f64,
        backup: bool,
        ramp_from: Option<f64>,
        now: f64,
        initial_ewma: f64,
    ) -> Result<usize, Error> {
        check_weight(name, weight)?;
        if self.index.contains_key(name) {
            return Err(Error::Config(format!(
                "duplicate node name {}",
                quoted(name)
            )));
        }
        let up_since = ramp_from.filter(|_| self.config.slow_start > 0.0);
        self.backends.push(Backend {
            name: name.to_owned(),
            weight,
            factor: 1.0,
            load: 0.0,
            load_mult: 1.0,
            health: Health::Up,
            backup,
            id: self.next_id,
            up_since,
            current: 0.0,
            active: 0,
            ewma: initial_ewma,
            stamp: now,
        });
        self.next_id += 1;
        let pos = self.backends.len() - 1;
        self.index.insert(name.to_owned(), pos);
        Ok(pos)
    }

    /// Remove a backend, returning it.
    pub fn remove(&mut self, name: &str) -> Result<Backend, Error> {
        let pos = self.position(name)?;
        let gone = self.backends.remove(pos);
        self.reindex();
        Ok(gone)
    }

    fn reindex(&mut self) {
        self.index = self
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.clone(), i))
            .collect();
    }

    /// Replace every backend (restoring a pickled balancer). Ids are renumbered.
    pub fn replace_all(&mut self, backends: Vec<Backend>) -> Result<(), Error> {
        let mut seen = HashMap::new();
        for b in &backends {
            check_weight(&b.name, b.weight)?;
            check_factor(&b.name, b.factor)?;
            if seen.insert(b.name.clone(), ()).is_some() {
                return Err(Error::Config(format!(
                    "duplicate node name {}",
                    quoted(&b.name)
                )));
            }
        }
        self.backends = backends;
        for b in &mut self.backends {
            b.id = self.next_id;
            self.next_id += 1;
        }
        self.reindex();
        Ok(())
    }

    pub fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        let pos = self.position(name)?;
        check_weight(name, weight)?;
        self.backends[pos].weight = weight;
        Ok(())
    }

    pub fn set_factor(&mut self, name: &str, factor: f64) -> Result<(), Error> {
        let pos = self.position(name)?;
        check_factor(name, factor)?;
        self.backends[pos].factor = factor;
        Ok(())
    }

    /// Record a node's reported load (utilisation, >= 0): its load multiplier becomes
    /// `max(1 − load, min_share)`.
    pub fn set_load(&mut self, name: &str, load: f64) -> Result<(), Error> {
        let pos = self.position(name)?;
        if !(load.is_finite() && load >= 0.0) {
            return Err(Error::Config(format!(
                "load of node {} must be a finite number >= 0, got {}",
                quoted(name),
                py_float(load)
            )));
        }
        let b = &mut self.backends[pos];
        b.load = load;
        b.load_mult = (1.0 - load).max(self.config.min_share);
        Ok(())
    }

    /// Set a node's health; coming up from down starts slow start at `now`.
    pub fn set_health(&mut self, name: &str, health: Health, now: f64) -> Result<(), Error> {
        let pos = self.position(name)?;
        let slow = self.config.slow_start > 0.0;
        let b = &mut self.backends[pos];
        if health == Health::Up && b.health == Health::Down && slow {
            b.up_since = Some(now);
        } else if health != Health::Up {
            b.up_since = None;
        }
        b.health = health;
        Ok(())
    }

    /// Recompute the view from the backends (see the module documentation).
    pub fn rebuild_view(&mut self) {
        let n_primary = self.backends.iter().filter(|b| !b.backup).count();
        let up = |b: &Backend, backup: bool| b.backup == backup && b.health == Health::Up;
        let n_up_primary = self.backends.iter().filter(|b| up(b, false)).count();
        let any_up_backup = self.backends.iter().any(|b| up(b, true));
        let threshold = self.config.panic_threshold;
        let panicking = n_primary > 0
            && threshold > 0.0
            && (n_up_primary as f64) * 100.0 < threshold * n_primary as f64;
        let mode = if panicking {
            if n_up_primary == 0 && any_up_backup {
                Mode::Backup
            } else {
                Mode::Panic
            }
        } else if n_up_primary > 0 {
            Mode::Normal
        } else if any_up_backup {
            Mode::Backup
        } else {
            Mode::Empty
        };
        let keep = |b: &Backend| match mode {
            Mode::Normal => up(b, false),
            Mode::Backup => up(b, true),
            Mode::Panic => !b.backup,
            Mode::Empty => false,
        };
        let v = &mut self.view;
        v.members.clear();
        v.base.clear();
        v.total = 0.0;
        v.mode = mode;
        for (i, b) in self.backends.iter().enumerate() {
            if keep(b) {
                let w = b.weight * b.factor * b.load_mult;
                v.members.push(i);
                v.base.push(w);
                v.total += w;
            }
        }
        self.refresh_ramp();
    }

    fn refresh_ramp(&mut self) {
        let window = self.config.slow_start;
        let mut end = f64::NEG_INFINITY;
        for b in &self.backends {
            if let Some(t0) = b.up_since {
                end = end.max(t0 + window);
            }
        }
        self.view.ramping = end > f64::NEG_INFINITY;
        self.view.ramp_end = end;
    }

    /// End slow start for everyone once every ramp is over (cheap when nothing ramps).
    #[inline]
    pub fn tick(&mut self, now: f64) {
        if self.view.ramping && now >= self.view.ramp_end {
            for b in &mut self.backends {
                b.up_since = None;
            }
            self.view.ramping = false;
        }
    }

    /// Slow-start multiplier of backend `i` at `now`.
    #[inline]
    pub fn ramp(&self, i: usize, now: f64) -> f64 {
        match self.backends[i].up_since {
            None => 1.0,
            Some(t0) => {
                let frac = (now - t0) / self.config.slow_start;
                if frac >= 1.0 {
                    1.0
                } else {
                    frac.max(self.config.slow_start_floor)
                }
            }
        }
    }

    /// Effective weight of view member `k` at `now`.
    #[inline]
    pub fn member_weight(&self, k: usize, now: f64) -> f64 {
        let w = self.view.base[k];
        if self.view.ramping {
            w * self.ramp(self.view.members[k], now)
        } else {
            w
        }
    }

    /// The error for an empty view.
    pub fn no_backend(&self) -> Error {
        let msg = if self.backends.is_empty() {
            "no backend can be picked: the balancer has no nodes".to_owned()
        } else {
            format!(
                "no backend can be picked: none of the {} nodes is up",
                self.backends.len()
            )
        };
        Error::NoBackend(msg)
    }
}
