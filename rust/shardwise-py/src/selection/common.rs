//! What every balancer class shares: the core balancer and the interned node names behind one
//! mutex, the settings, the clock, the versioned state (`to_state()`, pickles), and the
//! `balancer_class!` macro that gives each class the common Python methods.
//!
//! The mutex is taken only while the GIL is held and released before any Python code runs or
//! any Python object is allocated, and no work done without the GIL holds it (bulk sampling
//! works on a [`shardwise_core::selection::Sampler`] copy). So no other thread can hold it
//! while this one holds the GIL: lock waits never block the interpreter, and a process forked
//! from Python never inherits it locked.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Instant, SystemTime};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use shardwise_core::selection::{
    Algorithm, Backend, Balancer, Choose, Health, Mode, PoolConfig, Rng,
};

use crate::errors::{Error, Result};
use crate::state;
use crate::validate::{self, int_param, node_name, type_name, Given};

/// Version of the plain-data state. Bump only with a migration.
pub const STATE_VERSION: i64 = 1;

/// A balancer pyclass around its [`Shared`] state (written by `balancer_class!`).
pub trait Wrapper: Sized {
    /// The core algorithm.
    type Alg: Choose + Send + 'static;

    fn wrap(inner: Shared<Self::Alg>) -> Self;

    fn shared(&self) -> &Shared<Self::Alg>;
}

/// What a balancer class adds to the shared machinery.
pub trait BalancerClass: Wrapper {
    /// The Python class name.
    const CLASS: &'static str;
    /// The keyword settings of the class beyond those every balancer takes
    /// ([`COMMON_SETTINGS`]).
    const SETTINGS: &'static [&'static str];

    /// The algorithm from the class's own entries of `settings` (absent = defaults); their
    /// checked values go into `kept`, what `to_state()` keeps.
    fn algorithm(settings: &Bound<'_, PyDict>, kept: &Bound<'_, PyDict>) -> Result<Self::Alg>;

    /// Whether picks need the time even without slow start (peak EWMA does).
    fn timed(_alg: &Self::Alg) -> bool {
        false
    }
}

/// A balancer class whose leases (`acquire()`) give backends back (frozen, shareable).
pub trait LeaseHolder:
    BalancerClass + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync
{
}

impl<C> LeaseHolder for C where
    C: BalancerClass + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync
{
}

/// Seconds on the process's monotonic clock.
fn monotonic() -> f64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// A seed from the OS when the caller gave none.
fn fresh_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.finish()
}

/// The `seed` setting: an int in `[0, 2**64)`, or a fresh seed when absent or `None`.
pub fn seed(settings: &Bound<'_, PyDict>) -> Result<u64> {
    match settings.get_item("seed")? {
        Some(s) if !s.is_none() => int_param("seed", &s, 0, u64::MAX),
        _ => Ok(fresh_seed()),
    }
}

/// A number setting of `settings` (absent = `default`), kept in `kept`.
pub fn number_setting(
    settings: &Bound<'_, PyDict>,
    kept: &Bound<'_, PyDict>,
    name: &str,
    default: f64,
) -> Result<f64> {
    let value = match settings.get_item(name)? {
        Some(v) => validate::number(name, &v)?,
        None => default,
    };
    kept.set_item(name, value)?;
    Ok(value)
}

/// The keyword settings every balancer takes.
pub const COMMON_SETTINGS: [&str; 4] =
    ["panic_threshold", "slow_start", "slow_start_floor", "clock"];

/// A constructor's keyword settings, refusing any the class does not take.
fn known_settings<'py, C: BalancerClass>(
    py: Python<'py>,
    settings: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyDict>> {
    let Some(settings) = settings else {
        return Ok(PyDict::new(py));
    };
    for key in settings.keys() {
        let key: String = key.extract()?;
        if !COMMON_SETTINGS.contains(&key.as_str()) && !C::SETTINGS.contains(&key.as_str()) {
            return Err(Error::type_error(format!(
                "{}() got an unexpected keyword argument {}",
                C::CLASS,
                shardwise_core::text::quoted(&key)
            )));
        }
    }
    Ok(settings.clone())
}

/// A new balancer object of class `C` (what every `__new__` does).
pub fn construct<'py, C: BalancerClass>(
    py: Python<'py>,
    backends: Option<&Bound<'py, PyAny>>,
    backups: Option<&Bound<'py, PyAny>>,
    settings: Option<&Bound<'py, PyDict>>,
) -> Result<C> {
    let settings = known_settings::<C>(py, settings)?;
    Ok(C::wrap(Shared::new::<C>(backends, backups, &settings)?))
}

/// `backends` as `(name, weight)` pairs: a mapping name → weight, or an iterable of names.
fn parse_backends(obj: Option<&Bound<'_, PyAny>>, what: &str) -> Result<Vec<(String, f64)>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(Error::type_error(format!(
            "{what} must be a mapping name -> weight or an iterable of names, not a single string"
        )));
    }
    let mut out = Vec::new();
    if obj.hasattr("items")? {
        for item in obj.call_method0("items")?.try_iter()? {
            let (name, weight): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            let name = node_name(&name)?;
            let weight = validate::weight(&name, &weight)?;
            out.push((name, weight));
        }
    } else {
        let iter = obj.try_iter().map_err(|_| {
            Error::type_error(format!(
                "{what} must be a mapping name -> weight or an iterable of names, not {}",
                type_name(obj)
            ))
        })?;
        for item in iter {
            out.push((node_name(&item?)?, 1.0));
        }
    }
    Ok(out)
}

/// The core balancer and the node names, index-aligned with its backends.
struct Inner<A: Algorithm> {
    bal: Balancer<A>,
    names: Vec<Py<PyString>>,
}

/// The shared state of one Python balancer object.
pub struct Shared<A: Algorithm> {
    inner: Mutex<Inner<A>>,
    clock: Option<Py<PyAny>>,
    timed: bool,
    /// The checked settings (what `to_state()` keeps).
    settings: Py<PyDict>,
    min_share: f64,
}

impl<A: Choose + Send + 'static> Shared<A> {
    /// A balancer of class `C` over `backends` and `backups` with keyword `settings`.
    pub fn new<C: BalancerClass<Alg = A>>(
        backends: Option<&Bound<'_, PyAny>>,
        backups: Option<&Bound<'_, PyAny>>,
        settings: &Bound<'_, PyDict>,
    ) -> Result<Self> {
        let py = settings.py();
        let kept = PyDict::new(py);
        let defaults = PoolConfig::default();
        let config = PoolConfig {
            panic_threshold: number_setting(
                settings,
                &kept,
                "panic_threshold",
                defaults.panic_threshold,
            )?,
            slow_start: number_setting(settings, &kept, "slow_start", defaults.slow_start)?,
            slow_start_floor: number_setting(
                settings,
                &kept,
                "slow_start_floor",
                defaults.slow_start_floor,
            )?,
            min_share: match settings.get_item("min_share")? {
                Some(_) => number_setting(settings, &kept, "min_share", defaults.min_share)?,
                None => defaults.min_share,
            },
        };
        config.validate()?;
        let clock = match settings.get_item("clock")? {
            Some(c) if !c.is_none() => {
                validate::callable("clock", &c)?;
                kept.set_item("clock", &c)?;
                Some(c.unbind())
            }
            _ => None,
        };
        let alg = C::algorithm(settings, &kept)?;
        let timed = config.slow_start > 0.0 || C::timed(&alg);
        let primaries = parse_backends(backends, "backends")?;
        let backups = parse_backends(backups, "backups")?;
        let shared = Shared {
            inner: Mutex::new(Inner {
                bal: Balancer::new(config, alg)?,
                names: Vec::new(),
            }),
            clock,
            timed,
            settings: kept.unbind(),
            min_share: config.min_share,
        };
        let now = shared.now(py)?;
        let all = primaries
            .iter()
            .map(|p| (p, false))
            .chain(backups.iter().map(|p| (p, true)));
        for ((name, weight), backup) in all {
            let node = PyString::new(py, name).unbind();
            let mut g = shared.lock(py);
            g.bal.add_node(name, *weight, backup, false, now)?;
            g.names.push(node);
        }
        Ok(shared)
    }

    /// Lock the state (see the module docs: only with the GIL, never across Python code).
    #[inline]
    fn lock(&self, _py: Python<'_>) -> MutexGuard<'_, Inner<A>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The time picks use: the user's clock if given, else the monotonic clock (0 when no
    /// setting needs the time).
    #[inline]
    pub fn now(&self, py: Python<'_>) -> Result<f64> {
        if !self.timed {
            return Ok(0.0);
        }
        let Some(clock) = &self.clock else {
            return Ok(monotonic());
        };
        let t = clock.call0(py)?;
        let t = validate::number("clock()", t.bind(py))
            .map_err(|_| Error::type_error("clock() must return a number of seconds (float)"))?;
        if t.is_finite() {
            Ok(t)
        } else {
            Err(Error::value_error(format!(
                "clock() returned {}, not a finite time",
                shardwise_core::text::py_float(t)
            )))
        }
    }

    /// `f` on the core balancer, under the lock (`f` must not call into Python).
    pub fn with_balancer<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Balancer<A>) -> R) -> R {
        f(&mut self.lock(py).bal)
    }

    pub fn pick(&self, py: Python<'_>) -> Result<Py<PyString>> {
        let now = self.now(py)?;
        let g = &mut *self.lock(py);
        let i = A::choose(&mut g.bal, now, false)?;
        Ok(g.names[i].clone_ref(py))
    }

    /// Take the chosen backend: `(pool position, backend id, name, time)`.
    pub fn acquire(&self, py: Python<'_>) -> Result<(usize, u64, Py<PyString>, f64)> {
        let now = self.now(py)?;
        let g = &mut *self.lock(py);
        let i = A::choose(&mut g.bal, now, true)?;
        Ok((
            i,
            g.bal.pool().backends[i].id,
            g.names[i].clone_ref(py),
            now,
        ))
    }

    /// Give back one lease on backend `id` (last seen at `hint`). The lease is released even
    /// when the clock fails (then without a latency sample), and the clock's error is raised.
    pub fn release_lease(
        &self,
        py: Python<'_>,
        id: u64,
        hint: usize,
        latency: Option<f64>,
        start: f64,
    ) -> Result<()> {
        let now = self.now(py);
        let (latency, at) = match &now {
            Ok(t) => (latency.or_else(|| self.timed.then_some(t - start)), *t),
            Err(_) => (latency, start),
        };
        self.lock(py).bal.release(id, hint, latency, at);
        now.map(drop)
    }

    /// How many leases on a node are held.
    pub fn active(&self, name: &Bound<'_, PyAny>) -> Result<u64> {
        let py = name.py();
        let name = node_name(name)?;
        let g = self.lock(py);
        let i = g.bal.pool().position(&name)?;
        Ok(g.bal.active(i))
    }

    pub fn nodes(&self, py: Python<'_>) -> Vec<Py<PyString>> {
        self.lock(py)
            .names
            .iter()
            .map(|n| n.clone_ref(py))
            .collect()
    }

    pub fn weights<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let pairs: Vec<(Py<PyString>, f64)> = {
            let g = self.lock(py);
            let backends = &g.bal.pool().backends;
            g.names
                .iter()
                .zip(backends)
                .map(|(n, b)| (n.clone_ref(py), b.weight))
                .collect()
        };
        let d = PyDict::new(py);
        for (n, w) in pairs {
            d.set_item(n, w)?;
        }
        Ok(d)
    }

    pub fn backups(&self, py: Python<'_>) -> Vec<Py<PyString>> {
        let g = self.lock(py);
        g.names
            .iter()
            .zip(&g.bal.pool().backends)
            .filter(|(_, b)| b.backup)
            .map(|(n, _)| n.clone_ref(py))
            .collect()
    }

    pub fn mode(&self, py: Python<'_>) -> Result<&'static str> {
        let now = self.now(py)?;
        let mut g = self.lock(py);
        let _ = g.bal.ready(now);
        Ok(match g.bal.pool().view.mode {
            Mode::Normal => "normal",
            Mode::Backup => "backup",
            Mode::Panic => "panic",
            Mode::Empty => "empty",
        })
    }

    pub fn add_node(&self, name: &Bound<'_, PyAny>, weight: Given<'_>, backup: bool) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        let weight = match weight.0 {
            Some(w) => validate::weight(&name, &w)?,
            None => 1.0,
        };
        let now = self.now(py)?;
        let node = PyString::new(py, &name).unbind();
        let mut g = self.lock(py);
        g.bal.add_node(&name, weight, backup, true, now)?;
        g.names.push(node);
        Ok(())
    }

    pub fn remove_node(&self, name: &Bound<'_, PyAny>) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        let removed = {
            let mut g = self.lock(py);
            let pos = g.bal.remove_node(&name)?;
            g.names.remove(pos)
        };
        drop(removed); // outside the lock
        Ok(())
    }

    pub fn set_weight(&self, name: &Bound<'_, PyAny>, weight: &Bound<'_, PyAny>) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        let weight = validate::weight(&name, weight)?;
        Ok(self.lock(py).bal.set_weight(&name, weight)?)
    }

    pub fn weight_factor(&self, name: &Bound<'_, PyAny>) -> Result<f64> {
        let py = name.py();
        let name = node_name(name)?;
        let g = self.lock(py);
        let i = g.bal.pool().position(&name)?;
        Ok(g.bal.pool().backends[i].factor)
    }

    pub fn set_weight_factor(
        &self,
        name: &Bound<'_, PyAny>,
        factor: &Bound<'_, PyAny>,
    ) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        let factor = validate::number(
            &format!(
                "weight factor of node {}",
                shardwise_core::text::quoted(&name)
            ),
            factor,
        )?;
        Ok(self.lock(py).bal.set_weight_factor(&name, factor)?)
    }

    pub fn set_health(&self, name: &Bound<'_, PyAny>, health: Health) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        let now = self.now(py)?;
        Ok(self.lock(py).bal.set_health(&name, health, now)?)
    }

    pub fn state(&self, name: &Bound<'_, PyAny>) -> Result<&'static str> {
        let py = name.py();
        let name = node_name(name)?;
        let g = self.lock(py);
        let i = g.bal.pool().position(&name)?;
        Ok(g.bal.pool().backends[i].health.as_str())
    }

    /// Record a node's load (`LoadAware`).
    pub fn report_load(&self, name: &Bound<'_, PyAny>, load: &Bound<'_, PyAny>) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        let load = validate::number(
            &format!("load of node {}", shardwise_core::text::quoted(&name)),
            load,
        )?;
        Ok(self.lock(py).bal.report_load(&name, load)?)
    }

    /// The last load reported for a node.
    pub fn load(&self, name: &Bound<'_, PyAny>) -> Result<f64> {
        let py = name.py();
        let name = node_name(name)?;
        let g = self.lock(py);
        let i = g.bal.pool().position(&name)?;
        Ok(g.bal.pool().backends[i].load)
    }

    pub fn len(&self, py: Python<'_>) -> usize {
        self.lock(py).names.len()
    }

    pub fn contains(&self, name: &Bound<'_, PyAny>) -> bool {
        match name.cast::<PyString>() {
            Ok(s) => s
                .to_str()
                .is_ok_and(|n| self.lock(name.py()).bal.pool().contains(n)),
            Err(_) => false,
        }
    }

    /// The versioned plain-data state: `{"version", "class", "settings", "backends", "rng"}`,
    /// the same dict the pure twin writes.
    pub fn to_state<'py>(&self, py: Python<'py>, class: &str) -> Result<Bound<'py, PyDict>> {
        let (backends, rng) = {
            let mut g = self.lock(py);
            let backends = g.bal.snapshot();
            let rng = g.bal.alg.rng().map(|r| r.state());
            (backends, rng)
        };
        let d = state::new(py, class, STATE_VERSION)?;
        d.set_item("settings", self.settings.bind(py).copy()?)?;
        let list = PyList::empty(py);
        for b in &backends {
            let item = PyDict::new(py);
            item.set_item("name", &b.name)?;
            item.set_item("weight", b.weight)?;
            item.set_item("backup", b.backup)?;
            item.set_item("state", b.health.as_str())?;
            item.set_item("factor", b.factor)?;
            item.set_item("load", b.load)?;
            item.set_item("current", b.current)?;
            list.append(item)?;
        }
        d.set_item("backends", list)?;
        d.set_item("rng", rng.map(|s| s.to_vec()))?;
        Ok(d)
    }

    /// Rebuild a balancer of class `C` from `to_state()` output.
    pub fn from_state<C: BalancerClass<Alg = A>>(state: &Bound<'_, PyAny>) -> Result<Self> {
        let py = state.py();
        let state = state::checked(state, C::CLASS, STATE_VERSION)?;
        let settings = state::entry(&state, "settings")?;
        let settings = settings
            .cast::<PyDict>()
            .map_err(|_| Error::type_error("state settings must be a dict"))?;
        let shared = Shared::new::<C>(None, None, settings)?;
        let ewma = shared.lock(py).bal.alg.initial_ewma();
        let mut backends = Vec::new();
        let mut names = Vec::new();
        for item in state::entry(&state, "backends")?.try_iter()? {
            let b = backend_from_state(&item?, shared.min_share, ewma)?;
            names.push(PyString::new(py, &b.name).unbind());
            backends.push(b);
        }
        let rng: Option<[u64; 4]> = state::entry(&state, "rng")?.extract()?;
        {
            let mut g = shared.lock(py);
            g.bal.restore(backends)?;
            g.names = names;
            if let (Some(s), Some(r)) = (rng, g.bal.alg.rng()) {
                *r = Rng::from_state(s);
            }
        }
        Ok(shared)
    }
}

/// One backend of a state dict.
fn backend_from_state(item: &Bound<'_, PyAny>, min_share: f64, ewma: f64) -> Result<Backend> {
    let get = |key: &str| -> Result<Bound<'_, PyAny>> {
        item.get_item(key).map_err(|_| {
            Error::config(format!(
                "state backend has no {} entry",
                shardwise_core::text::quoted(key)
            ))
        })
    };
    let name: String = get("name")?.extract()?;
    let state: String = get("state")?.extract()?;
    let health = Health::parse(&state).ok_or_else(|| {
        Error::config(format!(
            "state of node {} is {state:?}, not \"up\", \"down\" or \"draining\"",
            shardwise_core::text::quoted(&name)
        ))
    })?;
    let load: f64 = get("load")?.extract()?;
    Ok(Backend {
        weight: get("weight")?.extract()?,
        backup: get("backup")?.extract()?,
        factor: get("factor")?.extract()?,
        current: get("current")?.extract()?,
        load,
        load_mult: (1.0 - load).max(min_share),
        health,
        name,
        id: 0,
        up_since: None,
        active: 0,
        ewma,
        stamp: 0.0,
    })
}

/// `(shardwise.selection.from_state, (state,))`.
pub fn reduce<'py>(state: Bound<'py, PyDict>) -> Result<Bound<'py, PyTuple>> {
    state::reduce(state, "shardwise.selection")
}

/// A balancer pyclass `$ty` over core algorithm `$alg` (first constructor argument named
/// `$backends`) with the common Python methods, plus the class's own methods given in braces;
/// the class implements [`BalancerClass`] beside it.
macro_rules! balancer_class {
    ($(#[$meta:meta])* $ty:ident($backends:ident): $alg:ty { $($extra:tt)* }) => {
        $(#[$meta])*
        #[pyclass(frozen, module = "shardwise._core")]
        pub struct $ty {
            inner: $crate::selection::common::Shared<$alg>,
        }

        impl $crate::selection::common::Wrapper for $ty {
            type Alg = $alg;

            fn wrap(inner: $crate::selection::common::Shared<$alg>) -> Self {
                $ty { inner }
            }

            fn shared(&self) -> &$crate::selection::common::Shared<$alg> {
                &self.inner
            }
        }

        #[pymethods]
        impl $ty {
            $($extra)*

            #[new]
            #[pyo3(signature = ($backends = None, *, backups = None, **settings))]
            fn new<'py>(
                py: Python<'py>,
                $backends: Option<&Bound<'py, PyAny>>,
                backups: Option<&Bound<'py, PyAny>>,
                settings: Option<&Bound<'py, pyo3::types::PyDict>>,
            ) -> $crate::errors::Result<Self> {
                $crate::selection::common::construct::<Self>(py, $backends, backups, settings)
            }

            /// The backend for the next request.
            fn pick(&self, py: Python<'_>) -> $crate::errors::Result<Py<pyo3::types::PyString>> {
                self.inner.pick(py)
            }

            /// Every node (primaries and backups), in insertion order.
            #[getter]
            fn nodes(&self, py: Python<'_>) -> Vec<Py<pyo3::types::PyString>> {
                self.inner.nodes(py)
            }

            /// Node name → configured weight.
            #[getter]
            fn weights<'py>(&self, py: Python<'py>) -> $crate::errors::Result<Bound<'py, pyo3::types::PyDict>> {
                self.inner.weights(py)
            }

            /// The backup nodes (used only when no primary is up).
            #[getter]
            fn backups(&self, py: Python<'_>) -> Vec<Py<pyo3::types::PyString>> {
                self.inner.backups(py)
            }

            /// What picks choose from now: "normal", "backup", "panic" or "empty".
            #[getter]
            fn mode(&self, py: Python<'_>) -> $crate::errors::Result<&'static str> {
                self.inner.mode(py)
            }

            /// Add a node (up, slow-starting if slow start is on).
            #[pyo3(signature = (name, weight = $crate::validate::Given::ABSENT, *, backup = false))]
            fn add_node(
                &self,
                name: &Bound<'_, PyAny>,
                weight: $crate::validate::Given<'_>,
                backup: bool,
            ) -> $crate::errors::Result<()> {
                self.inner.add_node(name, weight, backup)
            }

            /// Remove a node; leases still held on it are then released as no-ops.
            fn remove_node(&self, name: &Bound<'_, PyAny>) -> $crate::errors::Result<()> {
                self.inner.remove_node(name)
            }

            /// Change a node's configured weight.
            fn set_weight(&self, name: &Bound<'_, PyAny>, weight: &Bound<'_, PyAny>) -> $crate::errors::Result<()> {
                self.inner.set_weight(name, weight)
            }

            /// A node's health weight factor (1.0 unless set).
            fn weight_factor(&self, name: &Bound<'_, PyAny>) -> $crate::errors::Result<f64> {
                self.inner.weight_factor(name)
            }

            /// Scale a node's weight by `factor` (> 0) without changing its configured weight.
            fn set_weight_factor(&self, name: &Bound<'_, PyAny>, factor: &Bound<'_, PyAny>) -> $crate::errors::Result<()> {
                self.inner.set_weight_factor(name, factor)
            }

            /// Take a node out of rotation at once.
            fn mark_down(&self, name: &Bound<'_, PyAny>) -> $crate::errors::Result<()> {
                self.inner.set_health(name, shardwise_core::selection::Health::Down)
            }

            /// Put a node back (slow start applies when it was down).
            fn mark_up(&self, name: &Bound<'_, PyAny>) -> $crate::errors::Result<()> {
                self.inner.set_health(name, shardwise_core::selection::Health::Up)
            }

            /// Stop giving a node new requests; held leases finish normally.
            fn drain(&self, name: &Bound<'_, PyAny>) -> $crate::errors::Result<()> {
                self.inner.set_health(name, shardwise_core::selection::Health::Draining)
            }

            /// A node's state: "up", "down" or "draining".
            fn state(&self, name: &Bound<'_, PyAny>) -> $crate::errors::Result<&'static str> {
                self.inner.state(name)
            }

            fn __len__(&self, py: Python<'_>) -> usize {
                self.inner.len(py)
            }

            fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
                self.inner.contains(name)
            }

            fn __repr__(&self, py: Python<'_>) -> String {
                format!("{}({} nodes)", <Self as $crate::selection::common::BalancerClass>::CLASS, self.inner.len(py))
            }

            /// The plain-data state (version, class, settings, backends, generator); `from_state`
            /// (or `shardwise.selection.from_state`) rebuilds it. Held leases are not part of it.
            fn to_state<'py>(&self, py: Python<'py>) -> $crate::errors::Result<Bound<'py, pyo3::types::PyDict>> {
                self.inner.to_state(py, <Self as $crate::selection::common::BalancerClass>::CLASS)
            }

            /// Rebuild a balancer from `to_state()` output.
            #[staticmethod]
            fn from_state(state: &Bound<'_, PyAny>) -> $crate::errors::Result<Self> {
                Ok(Self { inner: $crate::selection::common::Shared::from_state::<Self>(state)? })
            }

            fn __reduce__<'py>(&self, py: Python<'py>) -> $crate::errors::Result<Bound<'py, pyo3::types::PyTuple>> {
                $crate::selection::common::reduce(self.to_state(py)?)
            }
        }
    };
}

pub(crate) use balancer_class;
