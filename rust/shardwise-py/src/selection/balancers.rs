//! The balancer classes. Each is a frozen pyclass holding its core balancer and the interned
//! node names behind one mutex (never held while Python code runs).

use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard, PoisonError};

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyDict, PyString, PyTuple};
use shardwise_core::selection::{
    Algorithm, Alias, Balancer, Fewest, Health, Mode, PeakEwma, PoolConfig, Rng, SelectError,
    SmoothWeighted, TwoChoices,
};

use super::common::{
    backend_from_state, backend_state, fresh_seed, parse_backends, read_clock, to_py, BackendState,
};
use super::lease::{Lease, Owner};

/// The core balancer and the node names, index-aligned with its backends.
pub struct Inner<A: Algorithm> {
    bal: Balancer<A>,
    names: Vec<Py<PyString>>,
}

/// What differs between algorithms in the shared methods.
pub trait Flavour {
    fn pick_one(&mut self, now: f64) -> Result<usize, SelectError>;
    fn rng_state(&self) -> Option<[u64; 4]> {
        None
    }
    fn set_rng_state(&mut self, _s: [u64; 4]) {}
}

impl Flavour for Balancer<SmoothWeighted> {
    #[inline]
    fn pick_one(&mut self, now: f64) -> Result<usize, SelectError> {
        self.pick(now)
    }
}

impl Flavour for Balancer<Alias> {
    #[inline]
    fn pick_one(&mut self, now: f64) -> Result<usize, SelectError> {
        self.pick(now)
    }
    fn rng_state(&self) -> Option<[u64; 4]> {
        Some(self.alg.rng.state())
    }
    fn set_rng_state(&mut self, s: [u64; 4]) {
        self.alg.rng = Rng::from_state(s);
    }
}

impl Flavour for Balancer<Fewest> {
    #[inline]
    fn pick_one(&mut self, now: f64) -> Result<usize, SelectError> {
        self.pick(now, false)
    }
}

impl Flavour for Balancer<TwoChoices> {
    #[inline]
    fn pick_one(&mut self, now: f64) -> Result<usize, SelectError> {
        self.pick(now, false)
    }
    fn rng_state(&self) -> Option<[u64; 4]> {
        Some(self.alg.rng.state())
    }
    fn set_rng_state(&mut self, s: [u64; 4]) {
        self.alg.rng = Rng::from_state(s);
    }
}

/// Settings every constructor takes.
struct Common<'py> {
    backends: Option<Bound<'py, PyAny>>,
    backups: Option<Bound<'py, PyAny>>,
    config: PoolConfig,
    clock: Option<Py<PyAny>>,
    timed: bool,
    kwargs: Bound<'py, PyDict>,
}

impl<'py> Common<'py> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'py>,
        backends: Option<Bound<'py, PyAny>>,
        backups: Option<Bound<'py, PyAny>>,
        panic_threshold: f64,
        slow_start: f64,
        slow_start_floor: f64,
        min_share: f64,
        clock: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let config = PoolConfig {
            panic_threshold,
            slow_start,
            slow_start_floor,
            min_share,
        };
        config.validate().map_err(|e| to_py(py, e))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("panic_threshold", panic_threshold)?;
        kwargs.set_item("slow_start", slow_start)?;
        kwargs.set_item("slow_start_floor", slow_start_floor)?;
        if let Some(c) = &clock {
            if !c.bind(py).is_callable() {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "clock must be a callable returning seconds",
                ));
            }
            kwargs.set_item("clock", c)?;
        }
        Ok(Common {
            backends,
            backups,
            config,
            clock,
            timed: slow_start > 0.0,
            kwargs,
        })
    }
}

macro_rules! balancer_class {
    ($T:ident, $A:ty, $doc:literal, { $($extra:tt)* }) => {
        #[doc = $doc]
        #[pyclass(frozen, module = "shardwise._core")]
        pub struct $T {
            inner: Mutex<Inner<$A>>,
            clock: Option<Py<PyAny>>,
            timed: bool,
            kwargs: Py<PyDict>,
            min_share: f64,
        }

        impl $T {
            /// Lock the state; while waiting, other Python threads may run.
            #[inline]
            fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Inner<$A>> {
                self.inner.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner)
            }

            #[inline]
            fn now(&self, py: Python<'_>) -> PyResult<f64> {
                if self.timed {
                    read_clock(py, self.clock.as_ref())
                } else {
                    Ok(0.0)
                }
            }

            fn build(py: Python<'_>, c: Common<'_>, alg: $A) -> PyResult<Self> {
                let primaries = parse_backends(c.backends.as_ref(), "backends")?;
                let backups = parse_backends(c.backups.as_ref(), "backups")?;
                let now = if c.timed { read_clock(py, c.clock.as_ref())? } else { 0.0 };
                let mut bal = Balancer::new(c.config, alg).map_err(|e| to_py(py, e))?;
                let mut names = Vec::new();
                let all = primaries.iter().map(|p| (p, false)).chain(backups.iter().map(|p| (p, true)));
                for ((name, weight), backup) in all {
                    bal.add_node(name, *weight, backup, false, now).map_err(|e| to_py(py, e))?;
                    names.push(PyString::new(py, name).unbind());
                }
                Ok($T {
                    inner: Mutex::new(Inner { bal, names }),
                    clock: c.clock,
                    timed: c.timed,
                    kwargs: c.kwargs.unbind(),
                    min_share: c.config.min_share,
                })
            }

            fn health(&self, py: Python<'_>, name: &str, health: Health) -> PyResult<()> {
                let now = self.now(py)?;
                let r = self.lock(py).bal.set_health(name, health, now);
                r.map_err(|e| to_py(py, e))
            }
        }

        #[pymethods]
        impl $T {
            $($extra)*

            /// The backend for the next request.
            fn pick(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
                let now = self.now(py)?;
                let r = {
                    let g = &mut *self.lock(py);
                    g.bal.pick_one(now).map(|i| g.names[i].clone_ref(py))
                };
                r.map_err(|e| to_py(py, e))
            }

            /// Every node (primaries and backups), in insertion order.
            #[getter]
            fn nodes(&self, py: Python<'_>) -> Vec<Py<PyString>> {
                self.lock(py).names.iter().map(|n| n.clone_ref(py)).collect()
            }

            /// Node name → configured weight.
            #[getter]
            fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let pairs: Vec<(Py<PyString>, f64)> = {
                    let g = self.lock(py);
                    g.names.iter().zip(&g.bal.pool().backends).map(|(n, b)| (n.clone_ref(py), b.weight)).collect()
                };
                let d = PyDict::new(py);
                for (n, w) in pairs {
                    d.set_item(n, w)?;
                }
                Ok(d)
            }

            /// The backup nodes (used only when no primary is up).
            #[getter]
            fn backups(&self, py: Python<'_>) -> Vec<Py<PyString>> {
                let g = self.lock(py);
                g.names.iter().zip(&g.bal.pool().backends).filter(|(_, b)| b.backup).map(|(n, _)| n.clone_ref(py)).collect()
            }

            /// What picks choose from now: "normal", "backup", "panic" or "empty".
            #[getter]
            fn mode(&self, py: Python<'_>) -> PyResult<&'static str> {
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

            /// Add a node (up, slow-starting if slow start is on).
            #[pyo3(signature = (name, weight = 1.0, *, backup = false))]
            fn add_node(&self, py: Python<'_>, name: &str, weight: f64, backup: bool) -> PyResult<()> {
                let now = self.now(py)?;
                let node = PyString::new(py, name).unbind();
                let r = {
                    let mut g = self.lock(py);
                    let r = g.bal.add_node(name, weight, backup, true, now);
                    if r.is_ok() {
                        g.names.push(node);
                    }
                    r
                };
                r.map(|_| ()).map_err(|e| to_py(py, e))
            }

            /// Remove a node; handles still held on it are then released as no-ops.
            fn remove_node(&self, py: Python<'_>, name: &str) -> PyResult<()> {
                let r = {
                    let mut g = self.lock(py);
                    g.bal.remove_node(name).map(|pos| g.names.remove(pos))
                };
                r.map(drop).map_err(|e| to_py(py, e))
            }

            /// Change a node's configured weight.
            fn set_weight(&self, py: Python<'_>, name: &str, weight: f64) -> PyResult<()> {
                let r = self.lock(py).bal.set_weight(name, weight);
                r.map_err(|e| to_py(py, e))
            }

            /// A node's health weight factor (1.0 unless set).
            fn weight_factor(&self, py: Python<'_>, name: &str) -> PyResult<f64> {
                let g = self.lock(py);
                let r = g.bal.pool().position(name).map(|i| g.bal.pool().backends[i].factor);
                drop(g);
                r.map_err(|e| to_py(py, e))
            }

            /// Scale a node's weight by `factor` (> 0) without changing its configured weight.
            fn set_weight_factor(&self, py: Python<'_>, name: &str, factor: f64) -> PyResult<()> {
                let r = self.lock(py).bal.set_weight_factor(name, factor);
                r.map_err(|e| to_py(py, e))
            }

            /// Take a node out of rotation at once.
            fn mark_down(&self, py: Python<'_>, name: &str) -> PyResult<()> {
                self.health(py, name, Health::Down)
            }

            /// Put a node back (slow start applies when it was down).
            fn mark_up(&self, py: Python<'_>, name: &str) -> PyResult<()> {
                self.health(py, name, Health::Up)
            }

            /// Stop giving a node new requests; held handles finish normally.
            fn drain(&self, py: Python<'_>, name: &str) -> PyResult<()> {
                self.health(py, name, Health::Draining)
            }

            /// A node's state: "up", "down" or "draining".
            fn state(&self, py: Python<'_>, name: &str) -> PyResult<&'static str> {
                let g = self.lock(py);
                let r = g.bal.pool().position(name).map(|i| g.bal.pool().backends[i].health.as_str());
                drop(g);
                r.map_err(|e| to_py(py, e))
            }

            fn __len__(&self, py: Python<'_>) -> usize {
                self.lock(py).names.len()
            }

            fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
                let py = name.py();
                match name.extract::<&str>() {
                    Ok(n) => self.lock(py).bal.pool().contains(n),
                    Err(_) => false,
                }
            }

            fn __repr__(&self, py: Python<'_>) -> String {
                format!("{}({} nodes)", stringify!($T), self.lock(py).names.len())
            }

            fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
                Ok((PyTuple::empty(py), self.kwargs.bind(py).copy()?))
            }

            fn __getstate__(&self, py: Python<'_>) -> (Vec<BackendState>, Option<[u64; 4]>) {
                let mut g = self.lock(py);
                let backends = g.bal.snapshot().iter().map(backend_state).collect();
                (backends, g.bal.rng_state())
            }

            fn __setstate__(&self, py: Python<'_>, state: (Vec<BackendState>, Option<[u64; 4]>)) -> PyResult<()> {
                let (states, rng) = state;
                let ewma = self.lock(py).bal.alg.initial_ewma();
                let backends = states
                    .into_iter()
                    .map(|s| backend_from_state(s, self.min_share, ewma))
                    .collect::<PyResult<Vec<_>>>()?;
                let names: Vec<Py<PyString>> = backends.iter().map(|b| PyString::new(py, &b.name).unbind()).collect();
                let r = {
                    let mut g = self.lock(py);
                    let r = g.bal.restore(backends);
                    if r.is_ok() {
                        g.names = names;
                        if let Some(s) = rng {
                            g.bal.set_rng_state(s);
                        }
                    }
                    r
                };
                r.map_err(|e| to_py(py, e))
            }
        }
    };
}

fn seed_or_fresh(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(fresh_seed)
}

balancer_class!(
    RoundRobin,
    SmoothWeighted,
    "Smooth weighted round robin, pick for pick as nginx.",
    {
        #[new]
        #[pyo3(signature = (backends = None, *, backups = None, panic_threshold = 0.0, slow_start = 0.0, slow_start_floor = 0.1, clock = None))]
        fn py_new<'py>(
            py: Python<'py>,
            backends: Option<Bound<'py, PyAny>>,
            backups: Option<Bound<'py, PyAny>>,
            panic_threshold: f64,
            slow_start: f64,
            slow_start_floor: f64,
            clock: Option<Py<PyAny>>,
        ) -> PyResult<Self> {
            let c = Common::new(
                py,
                backends,
                backups,
                panic_threshold,
                slow_start,
                slow_start_floor,
                0.05,
                clock,
            )?;
            Self::build(py, c, SmoothWeighted::default())
        }
    }
);

macro_rules! sample_impl {
    ($T:ident) => {
        impl $T {
            fn sample_impl<'py>(
                &self,
                py: Python<'py>,
                n: i64,
            ) -> PyResult<Bound<'py, PyArray1<i32>>> {
                let n = usize::try_from(n).map_err(|_| {
                    PyValueError::new_err(format!("sample size must be >= 0, got {n}"))
                })?;
                let now = self.now(py)?;
                let mut out = vec![0i32; n];
                let r = py.detach(|| {
                    self.inner
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .bal
                        .sample_into(&mut out, now)
                });
                r.map_err(|e| to_py(py, e))?;
                Ok(out.into_pyarray(py))
            }
        }
    };
}

balancer_class!(
    WeightedRandom,
    Alias,
    "Weighted random picks in O(1) (Vose alias method), reproducible with `seed=`.",
    {
        #[new]
        #[pyo3(signature = (backends = None, *, seed = None, backups = None, panic_threshold = 0.0, slow_start = 0.0, slow_start_floor = 0.1, clock = None))]
        #[allow(clippy::too_many_arguments)]
        fn py_new<'py>(
            py: Python<'py>,
            backends: Option<Bound<'py, PyAny>>,
            seed: Option<u64>,
            backups: Option<Bound<'py, PyAny>>,
            panic_threshold: f64,
            slow_start: f64,
            slow_start_floor: f64,
            clock: Option<Py<PyAny>>,
        ) -> PyResult<Self> {
            let c = Common::new(
                py,
                backends,
                backups,
                panic_threshold,
                slow_start,
                slow_start_floor,
                0.05,
                clock,
            )?;
            Self::build(py, c, Alias::new(seed_or_fresh(seed)))
        }

        /// `n` random picks at once, as positions in `nodes` (int32 array; GIL released).
        fn sample<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyArray1<i32>>> {
            self.sample_impl(py, n)
        }
    }
);

sample_impl!(WeightedRandom);

balancer_class!(
    LoadAware,
    Alias,
    "Weighted random picks with weights `capacity × max(1 − load, min_share)` from reported load.",
    {
        #[new]
        #[pyo3(signature = (capacities = None, *, min_share = 0.05, seed = None, backups = None, panic_threshold = 0.0, slow_start = 0.0, slow_start_floor = 0.1, clock = None))]
        #[allow(clippy::too_many_arguments)]
        fn py_new<'py>(
            py: Python<'py>,
            capacities: Option<Bound<'py, PyAny>>,
            min_share: f64,
            seed: Option<u64>,
            backups: Option<Bound<'py, PyAny>>,
            panic_threshold: f64,
            slow_start: f64,
            slow_start_floor: f64,
            clock: Option<Py<PyAny>>,
        ) -> PyResult<Self> {
            let c = Common::new(
                py,
                capacities,
                backups,
                panic_threshold,
                slow_start,
                slow_start_floor,
                min_share,
                clock,
            )?;
            c.kwargs.set_item("min_share", min_share)?;
            Self::build(py, c, Alias::new(seed_or_fresh(seed)))
        }

        /// Record a node's load (utilisation: 0 = idle, 1 = full; > 1 overloaded).
        fn report_load(&self, py: Python<'_>, node: &str, load: f64) -> PyResult<()> {
            let r = self.lock(py).bal.report_load(node, load);
            r.map_err(|e| to_py(py, e))
        }

        /// The last load reported for a node (0.0 if none).
        fn load(&self, py: Python<'_>, node: &str) -> PyResult<f64> {
            let g = self.lock(py);
            let r = g
                .bal
                .pool()
                .position(node)
                .map(|i| g.bal.pool().backends[i].load);
            drop(g);
            r.map_err(|e| to_py(py, e))
        }

        /// `n` random picks at once, as positions in `nodes` (int32 array; GIL released).
        fn sample<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyArray1<i32>>> {
            self.sample_impl(py, n)
        }
    }
);

sample_impl!(LoadAware);

macro_rules! lease_impl {
    ($T:ident, $variant:ident) => {
        impl $T {
            fn acquire_impl(slf: &Bound<'_, Self>) -> PyResult<Lease> {
                let py = slf.py();
                let me = slf.get();
                let now = me.now(py)?;
                let r = {
                    let g = &mut *me.lock(py);
                    g.bal
                        .pick(now, true)
                        .map(|i| (i, g.bal.pool().backends[i].id, g.names[i].clone_ref(py)))
                };
                let (hint, id, node) = r.map_err(|e| to_py(py, e))?;
                Ok(Lease {
                    owner: Owner::$variant(slf.clone().unbind()),
                    node,
                    id,
                    hint,
                    start: now,
                    released: AtomicBool::new(false),
                })
            }

            fn active_impl(&self, py: Python<'_>, node: &str) -> PyResult<u64> {
                let g = self.lock(py);
                let r = g.bal.pool().position(node).map(|i| g.bal.active(i));
                drop(g);
                r.map_err(|e| to_py(py, e))
            }
        }
    };
}

macro_rules! release_impl {
    ($T:ident) => {
        impl $T {
            pub fn release_lease(
                &self,
                py: Python<'_>,
                id: u64,
                hint: usize,
                latency: Option<f64>,
                start: f64,
            ) -> PyResult<()> {
                let now = self.now(py)?;
                let latency = latency.or_else(|| self.timed.then_some(now - start));
                self.lock(py).bal.release(id, hint, latency, now);
                Ok(())
            }
        }
    };
}

balancer_class!(
    LeastConnections,
    Fewest,
    "The backend with the fewest held leases per unit of weight; ties: larger weight, then round robin.",
    {
        #[new]
        #[pyo3(signature = (backends = None, *, backups = None, panic_threshold = 0.0, slow_start = 0.0, slow_start_floor = 0.1, clock = None))]
        fn py_new<'py>(
            py: Python<'py>,
            backends: Option<Bound<'py, PyAny>>,
            backups: Option<Bound<'py, PyAny>>,
            panic_threshold: f64,
            slow_start: f64,
            slow_start_floor: f64,
            clock: Option<Py<PyAny>>,
        ) -> PyResult<Self> {
            let c = Common::new(py, backends, backups, panic_threshold, slow_start, slow_start_floor, 0.05, clock)?;
            Self::build(py, c, Fewest::default())
        }

        /// Take the chosen backend: a `Lease` (context manager) holding it until released.
        fn acquire(slf: &Bound<'_, Self>) -> PyResult<Lease> {
            Self::acquire_impl(slf)
        }

        /// How many leases on a node are held.
        fn active(&self, py: Python<'_>, node: &str) -> PyResult<u64> {
            self.active_impl(py, node)
        }
    }
);
release_impl!(LeastConnections);
lease_impl!(LeastConnections, Least);

balancer_class!(
    PowerOfTwo,
    TwoChoices,
    "Power of two choices on held leases, optionally weighted by peak-EWMA latency.",
    {
        #[new]
        #[pyo3(signature = (backends = None, *, seed = None, peak_ewma = false, decay = 10.0, default_rtt = 0.03, backups = None, panic_threshold = 0.0, slow_start = 0.0, slow_start_floor = 0.1, clock = None))]
        #[allow(clippy::too_many_arguments)]
        fn py_new<'py>(
            py: Python<'py>,
            backends: Option<Bound<'py, PyAny>>,
            seed: Option<u64>,
            peak_ewma: bool,
            decay: f64,
            default_rtt: f64,
            backups: Option<Bound<'py, PyAny>>,
            panic_threshold: f64,
            slow_start: f64,
            slow_start_floor: f64,
            clock: Option<Py<PyAny>>,
        ) -> PyResult<Self> {
            let mut c = Common::new(
                py,
                backends,
                backups,
                panic_threshold,
                slow_start,
                slow_start_floor,
                0.05,
                clock,
            )?;
            c.kwargs.set_item("peak_ewma", peak_ewma)?;
            c.kwargs.set_item("decay", decay)?;
            c.kwargs.set_item("default_rtt", default_rtt)?;
            c.timed = c.timed || peak_ewma;
            let ewma = peak_ewma.then_some(PeakEwma { decay, default_rtt });
            let alg = TwoChoices::new(seed_or_fresh(seed), ewma).map_err(|e| to_py(py, e))?;
            Self::build(py, c, alg)
        }

        /// Take the chosen backend: a `Lease` (context manager) holding it until released.
        fn acquire(slf: &Bound<'_, Self>) -> PyResult<Lease> {
            Self::acquire_impl(slf)
        }

        /// How many leases on a node are held.
        fn active(&self, py: Python<'_>, node: &str) -> PyResult<u64> {
            self.active_impl(py, node)
        }
    }
);
release_impl!(PowerOfTwo);
lease_impl!(PowerOfTwo, Two);
