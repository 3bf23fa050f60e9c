//! What every placement class shares: the locked core, node-list parsing, error mapping,
//! key preparation, the versioned state used by pickling, and the `placement_class!` macro
//! that gives each class the common Python methods.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use numpy::{PyArray1, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple};
use shardwise_core::keys::{KeyRef, PackedKeys};
use shardwise_core::placement::{check_n, place_keys_into, NodeSet, Placement};
use shardwise_core::Error as CoreError;

use crate::errors::{Error, Result};
use crate::keys::{extract_bulk, with_key_ref, BulkKeys};
use crate::state::entry;
use crate::validate::{self, filled, int_param, node_name, type_name, Given};

/// Version of the plain-data state (`to_state()`, pickles). Bump only with a migration.
pub const STATE_VERSION: i64 = 1;

/// What the bindings need from a core algorithm beyond [`Placement`].
pub trait PyPlacement: Placement + 'static {
    /// The Python class name.
    const CLASS: &'static str;

    /// Constructor parameters other than the nodes (keyword names as in `__init__`).
    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>>;

    /// Rebuild from nodes and the `params` of a state.
    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self>;

    /// Whether bytes keys must be hashed as their Python `repr` (uhashring's `str(key)`).
    fn bytes_as_repr(&self) -> bool {
        false
    }
}

/// `e` raised by class `T`.
pub fn class_err<T: PyPlacement>(e: CoreError) -> Error {
    Error::placement(T::CLASS, e)
}

/// The keyword parameters a constructor was given, as the `params` dict `from_params` reads
/// (parameters left out fall back to the algorithm's defaults there).
pub fn given_params<'py>(
    py: Python<'py>,
    params: &[(&str, Option<&Bound<'py, PyAny>>)],
) -> Result<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in params {
        if let Some(value) = value {
            dict.set_item(*name, value)?;
        }
    }
    Ok(dict)
}

/// Parse the `nodes` argument: `None`, an iterable of names, or a mapping name -> weight.
/// Every name and weight is type-checked first, then the set is validated in order.
pub fn parse_nodes(nodes: Option<&Bound<'_, PyAny>>) -> Result<NodeSet> {
    let Some(nodes) = nodes.filter(|n| !n.is_none()) else {
        return Ok(NodeSet::default());
    };
    if nodes.is_instance_of::<PyString>() || nodes.is_instance_of::<PyBytes>() {
        return Err(Error::type_error(
            "nodes must be an iterable of names or a mapping name -> weight, not a single string \
             (wrap it in a list)",
        ));
    }
    let mut pairs: Vec<(String, f64)> = Vec::new();
    if nodes.is_instance_of::<PyDict>() || (nodes.hasattr("items")? && nodes.hasattr("keys")?) {
        let items = nodes.call_method0("items")?;
        for item in items.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            let name = node_name(&k)?;
            let w = validate::weight(&name, &v)?;
            pairs.push((name, w));
        }
    } else {
        let iter = nodes.try_iter().map_err(|_| {
            Error::type_error(format!(
                "nodes must be an iterable of names or a mapping name -> weight, not {}",
                type_name(nodes)
            ))
        })?;
        for item in iter {
            pairs.push((node_name(&item?)?, 1.0));
        }
    }
    Ok(NodeSet::new(pairs)?)
}

/// Python's `repr()` of a bytes object, as bytes (what `str(key)` gives for a bytes key).
pub fn python_bytes_repr(b: &[u8]) -> Vec<u8> {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = Vec::with_capacity(b.len() + 3);
    out.push(b'b');
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            c if c == quote => out.extend_from_slice(&[b'\\', c]),
            c if !(0x20..0x7f).contains(&c) => {
                out.extend_from_slice(format!("\\x{c:02x}").as_bytes());
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn is_bytes_like(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyMemoryView>()
}

/// Whether a bulk input holds bytes keys (as opposed to str or int keys).
fn bulk_is_bytes(obj: &Bound<'_, PyAny>) -> Result<bool> {
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        return match arr.dtype().kind() {
            b'S' => Ok(true),
            b'O' if arr.len() > 0 => Ok(is_bytes_like(&obj.get_item(0)?)),
            _ => Ok(false),
        };
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return Ok(list.len() > 0 && is_bytes_like(&list.get_item(0)?));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return Ok(tuple.len() > 0 && is_bytes_like(&tuple.get_item(0)?));
    }
    Ok(false)
}

/// The per-object state behind the lock: the core (shared copy-on-write so bulk work can run
/// without the lock) and the node names as Python strings (so lookups allocate nothing).
pub struct State<T> {
    pub core: Arc<T>,
    names: Vec<Py<PyString>>,
}

/// The lock-protected core of one Python placement object.
pub struct Shared<T> {
    state: RwLock<State<T>>,
    repr_bytes: bool,
}

/// The node names of `core` as Python strings, in index order.
fn py_names<T: Placement>(py: Python<'_>, core: &T) -> Vec<Py<PyString>> {
    core.nodes()
        .names()
        .iter()
        .map(|n| PyString::new(py, n).unbind())
        .collect()
}

impl<T: PyPlacement> Shared<T> {
    pub fn new(py: Python<'_>, core: T) -> Self {
        let names = py_names(py, &core);
        Shared {
            repr_bytes: core.bytes_as_repr(),
            state: RwLock::new(State {
                core: Arc::new(core),
                names,
            }),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State<T>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State<T>> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot of the core (cheap: shares it until the next change).
    pub fn core(&self) -> Arc<T> {
        Arc::clone(&self.read().core)
    }

    /// Call `f` with the key as the algorithm sees it.
    fn with_key<R>(&self, key: &Bound<'_, PyAny>, f: impl FnOnce(KeyRef<'_>) -> R) -> PyResult<R> {
        if self.repr_bytes && is_bytes_like(key) {
            let raw = with_key_ref(key, |k| k.with_bytes(|b| b.to_vec()))?;
            return Ok(f(KeyRef::Bytes(&python_bytes_repr(&raw))));
        }
        with_key_ref(key, f)
    }

    pub fn get_node(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> Result<Py<PyString>> {
        let found = self.with_key(key, |k| {
            let s = self.read();
            if s.core.nodes().is_empty() {
                return Err(CoreError::NoNodes);
            }
            s.core.check_key(k)?;
            s.core
                .locate(k)
                .map(|i| s.names[i as usize].clone_ref(py))
                .ok_or(CoreError::NoNodes)
        })?;
        found.map_err(class_err::<T>)
    }

    pub fn get_nodes(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
    ) -> Result<Vec<Py<PyString>>> {
        let n = int_param("n", n, 0, u64::from(u32::MAX))? as usize;
        let found = self.with_key(key, |k| {
            let s = self.read();
            check_n(s.core.nodes(), n)?;
            s.core.check_key(k)?;
            s.core.locate_n(k, n).map(|ids| {
                ids.iter()
                    .map(|&i| s.names[i as usize].clone_ref(py))
                    .collect()
            })
        })?;
        found.map_err(class_err::<T>)
    }

    /// Bulk placement into a new int32 array, or into `out` (a writable, contiguous, 1-D int32
    /// numpy array with one slot per key), which is then returned.
    pub fn place<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> Result<Bound<'py, PyArray1<i32>>> {
        let mut bulk = extract_bulk(keys)?;
        let arrow_bytes = matches!(&bulk, BulkKeys::Arrow(a) if a.is_binary());
        if self.repr_bytes && (arrow_bytes || bulk_is_bytes(&crate::arrow::unwrap_pandas(keys)?)?) {
            let given = bulk.keys();
            let mut packed = PackedKeys::try_with_capacity(given.len(), 16)?;
            for i in 0..given.len() {
                given
                    .get(i)
                    .with_bytes(|b| packed.try_push(&python_bytes_repr(b)))?;
            }
            given.verify()?;
            bulk = BulkKeys::Packed(packed);
        }
        let core = self.core();
        let bulk_keys = bulk.keys();
        let len = bulk_keys.len();
        filled(py, &[len], out, keys, |slots| {
            place_keys_into(&*core, bulk_keys, slots).map_err(class_err::<T>)?;
            Ok(bulk_keys.verify()?)
        })
    }

    /// The cached names and the core, taken together (no lock is held afterwards, so building
    /// Python containers from them cannot re-enter this object while it is locked).
    fn snapshot(&self, py: Python<'_>) -> (Vec<Py<PyString>>, Arc<T>) {
        let s = self.read();
        (
            s.names.iter().map(|n| n.clone_ref(py)).collect(),
            Arc::clone(&s.core),
        )
    }

    pub fn nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.snapshot(py).0)
    }

    pub fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (names, core) = self.snapshot(py);
        let d = PyDict::new(py);
        for (n, &w) in names.into_iter().zip(core.nodes().weights()) {
            d.set_item(n, w)?;
        }
        Ok(d)
    }

    pub fn len(&self) -> usize {
        self.read().core.nodes().len()
    }

    pub fn contains(&self, name: &Bound<'_, PyAny>) -> bool {
        match name.cast::<PyString>() {
            Ok(s) => s
                .to_str()
                .is_ok_and(|s| self.read().core.nodes().index_of(s).is_some()),
            Err(_) => false,
        }
    }

    /// Apply a change to the core (copy-on-write) and refresh the cached names. The change
    /// runs on a copy with the GIL released and no lock held (rebuilding a large ring takes
    /// milliseconds); the result replaces the core only if no other change landed meanwhile,
    /// else it is redone on top of that one, so concurrent changes are never lost.
    fn change(
        &self,
        py: Python<'_>,
        f: impl Fn(&mut T) -> std::result::Result<(), CoreError> + Send + Sync,
    ) -> Result<()> {
        loop {
            let base = self.core();
            let next = py.detach(|| {
                let mut next = T::clone(&base);
                f(&mut next).map(|()| next)
            });
            let next = next.map_err(class_err::<T>)?;
            let names = py_names(py, &next);
            let mut s = self.write();
            if Arc::ptr_eq(&s.core, &base) {
                s.core = Arc::new(next);
                s.names = names;
                return Ok(());
            }
        }
    }

    /// Add a node; `weight` absent means 1.
    pub fn add_node(&self, name: &Bound<'_, PyAny>, weight: Given<'_>) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        let w = match weight.0 {
            Some(w) => validate::weight(&name, &w)?,
            None => 1.0,
        };
        self.change(py, |c| c.add_node(&name, w))
    }

    pub fn remove_node(&self, name: &Bound<'_, PyAny>) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        self.change(py, |c| c.remove_node(&name))
    }

    pub fn set_weight(&self, name: &Bound<'_, PyAny>, weight: &Bound<'_, PyAny>) -> Result<()> {
        let py = name.py();
        let name = node_name(name)?;
        let w = validate::weight(&name, weight)?;
        self.change(py, |c| c.set_weight(&name, w))
    }

    pub fn copy(&self, py: Python<'_>) -> Self {
        let s = self.read();
        Shared {
            repr_bytes: self.repr_bytes,
            state: RwLock::new(State {
                core: Arc::clone(&s.core),
                names: s.names.iter().map(|n| n.clone_ref(py)).collect(),
            }),
        }
    }

    /// The versioned plain-data state: `{"version", "class", "nodes", "weights", "params"}`.
    pub fn to_state<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let core = self.core();
        let d = crate::state::new(py, T::CLASS, STATE_VERSION)?;
        d.set_item("nodes", PyList::new(py, core.nodes().names())?)?;
        d.set_item("weights", PyList::new(py, core.nodes().weights())?)?;
        d.set_item("params", core.params(py)?)?;
        Ok(d)
    }

    /// Rebuild from a state made by `to_state` (any version this build understands).
    pub fn from_state(py: Python<'_>, state: &Bound<'_, PyAny>) -> Result<Self> {
        let state = crate::state::checked(state, T::CLASS, STATE_VERSION)?;
        let names: Vec<String> = entry(&state, "nodes")?.extract()?;
        let weights: Vec<f64> = entry(&state, "weights")?.extract()?;
        if names.len() != weights.len() {
            return Err(Error::config(
                "state has different numbers of nodes and weights",
            ));
        }
        let nodes = NodeSet::new(names.into_iter().zip(weights)).map_err(class_err::<T>)?;
        let params = entry(&state, "params")?;
        let params = params
            .cast::<PyDict>()
            .map_err(|_| Error::type_error("state params must be a dict"))?;
        Ok(Shared::new(py, T::from_params(nodes, params)?))
    }

    /// `(shardwise.placement.from_state, (state,))`.
    pub fn reduce<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyTuple>> {
        crate::state::reduce(self.to_state(py)?, "shardwise.placement")
    }

    pub fn repr(&self, py: Python<'_>) -> Result<String> {
        let core = self.core();
        let names = core.nodes().names();
        let mut shown = Vec::new();
        for n in names.iter().take(5) {
            shown.push(PyString::new(py, n).repr()?.to_string());
        }
        if names.len() > 5 {
            shown.push(format!("... {} more", names.len() - 5));
        }
        let params = core.params(py)?;
        let mut parts = vec![format!("nodes=[{}]", shown.join(", "))];
        for (k, v) in params.iter() {
            parts.push(format!("{}={}", k.str()?, v.repr()?));
        }
        Ok(format!("{}({})", T::CLASS, parts.join(", ")))
    }

    pub fn eq(&self, py: Python<'_>, other: &Self) -> Result<bool> {
        Ok(self.to_state(py)?.eq(other.to_state(py)?)?)
    }
}

/// The common Python methods of a placement class `$ty` (a `#[pyclass(frozen)]` struct with
/// a field `inner: Shared<Core>`), plus the class's own methods given in braces.
macro_rules! placement_class {
    // A class built from a node list and keyword-only parameters: `Class: Core(param, ...)`.
    ($ty:ident: $core:ident($($param:ident),*) { $($extra:tt)* }) => {
        placement_class!($ty {
            #[new]
            #[pyo3(signature = (nodes = None, * $(, $param = None)*))]
            fn new(
                py: Python<'_>,
                nodes: Option<&Bound<'_, PyAny>>,
                $($param: Option<&Bound<'_, PyAny>>,)*
            ) -> $crate::errors::Result<Self> {
                let nodes = $crate::placement::common::parse_nodes(nodes)?;
                let given = [$((stringify!($param), $param)),*];
                let params = $crate::placement::common::given_params(py, &given)?;
                let core = <$core as $crate::placement::common::PyPlacement>::from_params(nodes, &params)?;
                Ok(Self { inner: $crate::placement::common::Shared::new(py, core) })
            }

            $($extra)*
        });
    };
    ($ty:ident { $($extra:tt)* }) => {
        #[pymethods]
        impl $ty {
            $($extra)*

            /// The node that owns `key`.
            fn get_node(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> $crate::errors::Result<Py<PyString>> {
                self.inner.get_node(py, key)
            }

            /// `n` distinct nodes for `key`, in preference order (the first is `get_node(key)`).
            fn get_nodes(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                n: &Bound<'_, PyAny>,
            ) -> $crate::errors::Result<Vec<Py<PyString>>> {
                self.inner.get_nodes(py, key, n)
            }

            /// The owner of every key as an int32 array of indices into `nodes` (GIL released);
            /// into `out` (a contiguous int32 array, one slot per key) when given.
            #[pyo3(signature = (keys, *, out = None))]
            fn place<'py>(
                &self,
                py: Python<'py>,
                keys: &Bound<'py, PyAny>,
                out: Option<&Bound<'py, PyAny>>,
            ) -> $crate::errors::Result<Bound<'py, numpy::PyArray1<i32>>> {
                self.inner.place(py, keys, out)
            }

            /// The node names, in index order (the indices `place` returns).
            #[getter(nodes)]
            fn node_names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
                self.inner.nodes(py)
            }

            /// A new dict of node name -> weight.
            #[getter]
            fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                self.inner.weights(py)
            }

            fn __len__(&self) -> usize {
                self.inner.len()
            }

            /// Bytes of memory held for lookups (what `sys.getsizeof` reports).
            fn __sizeof__(&self) -> usize {
                std::mem::size_of::<Self>()
                    + shardwise_core::placement::Placement::memory_bytes(&*self.inner.read().core)
            }

            fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
                self.inner.contains(name)
            }

            /// Add a node (it gets the next index).
            #[pyo3(signature = (name, weight = $crate::validate::Given::ABSENT))]
            fn add_node(
                &self,
                name: &Bound<'_, PyAny>,
                weight: $crate::validate::Given<'_>,
            ) -> $crate::errors::Result<()> {
                self.inner.add_node(name, weight)
            }

            /// Remove a node; the nodes after it move down one index.
            fn remove_node(&self, name: &Bound<'_, PyAny>) -> $crate::errors::Result<()> {
                self.inner.remove_node(name)
            }

            /// Change a node's weight.
            fn set_weight(&self, name: &Bound<'_, PyAny>, weight: &Bound<'_, PyAny>) -> $crate::errors::Result<()> {
                self.inner.set_weight(name, weight)
            }

            /// An independent copy.
            fn copy(&self, py: Python<'_>) -> Self {
                Self { inner: self.inner.copy(py) }
            }

            fn __copy__(&self, py: Python<'_>) -> Self {
                self.copy(py)
            }

            fn __deepcopy__(&self, py: Python<'_>, _memo: &Bound<'_, PyAny>) -> Self {
                self.copy(py)
            }

            /// The plain-data state (version, class, nodes, weights, params); stable across
            /// processes and versions. `from_state` (or `shardwise.placement.from_state`) rebuilds it.
            fn to_state<'py>(&self, py: Python<'py>) -> $crate::errors::Result<Bound<'py, pyo3::types::PyDict>> {
                self.inner.to_state(py)
            }

            /// Rebuild an object from `to_state()` output.
            #[staticmethod]
            fn from_state(py: Python<'_>, state: &Bound<'_, PyAny>) -> $crate::errors::Result<Self> {
                Ok(Self { inner: $crate::placement::common::Shared::from_state(py, state)? })
            }

            fn __reduce__<'py>(&self, py: Python<'py>) -> $crate::errors::Result<Bound<'py, pyo3::types::PyTuple>> {
                self.inner.reduce(py)
            }

            fn __repr__(&self, py: Python<'_>) -> $crate::errors::Result<String> {
                self.inner.repr(py)
            }

            fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> $crate::errors::Result<Py<PyAny>> {
                match other.cast::<Self>() {
                    Ok(o) => Ok(pyo3::types::PyBool::new(py, self.inner.eq(py, &o.get().inner)?)
                        .to_owned()
                        .into_any()
                        .unbind()),
                    Err(_) => Ok(py.NotImplemented()),
                }
            }
        }
    };
}

pub(crate) use placement_class;

/// `params[key]`, or `None` when absent.
pub fn param<'py>(params: &Bound<'py, PyDict>, key: &str) -> Result<Option<Bound<'py, PyAny>>> {
    Ok(params.get_item(key)?)
}
