//! `RangePartitioner` binding. Its methods are spelled out (not `placement_class!`) because
//! lookups first check that the key's kind matches the boundaries'.

use numpy::PyArray1;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use shardwise_core::keys::KeyRef;
use shardwise_core::placement::range::Boundaries;
use shardwise_core::placement::{NodeSet, Placement, RangePartitioner};

use super::common::{config_err, param, to_py_err, PyPlacement, Shared};
use crate::keys::with_key_ref;

const CLASS: &str = "RangePartitioner";

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// Boundaries from Python: all ints (signed 64-bit), all str, or all bytes-like.
fn parse_boundaries(obj: &Bound<'_, PyAny>) -> PyResult<(Boundaries, bool)> {
    let obj = if obj.hasattr("tolist")? && !obj.is_instance_of::<PyList>() {
        obj.call_method0("tolist")?
    } else {
        obj.clone()
    };
    if !(obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()) {
        return Err(PyTypeError::new_err(format!(
            "boundaries must be a list or tuple (or 1-D array), not {}",
            type_name(&obj)
        )));
    }
    let mut ints = Vec::new();
    let mut bytes = Vec::new();
    let mut kinds = [false; 3]; // int, str, bytes
    for (i, b) in obj.try_iter()?.enumerate() {
        let b = b?;
        if b.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err(format!(
                "boundaries[{i}] must be int, str or bytes, not bool"
            )));
        }
        if b.is_instance_of::<PyInt>()
            || (b.hasattr("__index__")? && !b.is_instance_of::<PyString>())
        {
            let v: i64 = b.call_method0("__index__")?.extract().map_err(|_| {
                PyOverflowError::new_err(format!(
                    "boundaries[{i}] = {} is outside the signed 64-bit range",
                    b.str().map_or_else(|_| "?".to_owned(), |s| s.to_string())
                ))
            })?;
            ints.push(v);
            kinds[0] = true;
        } else if let Ok(s) = b.cast::<PyString>() {
            bytes.push(s.to_str()?.as_bytes().to_vec());
            kinds[1] = true;
        } else if b.is_instance_of::<PyBytes>()
            || b.is_instance_of::<PyByteArray>()
            || b.is_instance_of::<PyMemoryView>()
        {
            bytes.push(with_key_ref(&b, |k| k.with_bytes(|x| x.to_vec()))?);
            kinds[2] = true;
        } else {
            return Err(PyTypeError::new_err(format!(
                "boundaries[{i}] must be int, str or bytes, not {}",
                type_name(&b)
            )));
        }
    }
    match kinds {
        [_, false, false] => Ok((Boundaries::Ints(ints), false)),
        [false, true, false] => Ok((Boundaries::Bytes(bytes), true)),
        [false, false, true] => Ok((Boundaries::Bytes(bytes), false)),
        _ => Err(PyTypeError::new_err(
            "boundaries must all be of one kind (int, str or bytes)",
        )),
    }
}

fn owner_names(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "nodes must be a list of node names (one per range), not a single string",
        ));
    }
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        let s = item.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!("node names must be str, not {}", type_name(&item)))
        })?;
        out.push(s.to_str()?.to_owned());
    }
    Ok(out)
}

fn build(
    py: Python<'_>,
    boundaries: &Bound<'_, PyAny>,
    nodes: &Bound<'_, PyAny>,
) -> PyResult<RangePartitioner> {
    let (bounds, text) = parse_boundaries(boundaries)?;
    let owners = owner_names(nodes)?;
    RangePartitioner::new(bounds, &owners)
        .map(|r| r.with_text_bounds(text))
        .map_err(|e| to_py_err(py, CLASS, e))
}

fn boundaries_list<'py>(py: Python<'py>, core: &RangePartitioner) -> PyResult<Bound<'py, PyList>> {
    match core.boundaries() {
        Boundaries::Ints(v) => PyList::new(py, v),
        Boundaries::Bytes(v) if core.text_bounds() => PyList::new(
            py,
            v.iter().map(|b| String::from_utf8_lossy(b).into_owned()),
        ),
        Boundaries::Bytes(v) => PyList::new(py, v.iter().map(|b| PyBytes::new(py, b))),
    }
}

impl PyPlacement for RangePartitioner {
    const CLASS: &'static str = CLASS;

    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("boundaries", boundaries_list(py, self)?)?;
        let owners: Vec<&str> = self
            .range_owners()
            .iter()
            .map(|&i| self.nodes().name(i))
            .collect();
        d.set_item("owners", owners)?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> PyResult<Self> {
        let py = params.py();
        let (Some(b), Some(o)) = (param(params, "boundaries")?, param(params, "owners")?) else {
            return Err(config_err(
                py,
                "invalid RangePartitioner state: needs 'boundaries' and 'owners'",
            ));
        };
        let core = build(py, &b, &o)?;
        if core.nodes().names() != nodes.names() {
            return Err(config_err(
                py,
                "invalid RangePartitioner state: nodes do not match the range owners",
            ));
        }
        Ok(core)
    }
}

/// Range partitioning: sorted split points, each range owned by a node.
///
/// ``RangePartitioner(boundaries, nodes)``: ``boundaries`` are strictly increasing split points,
/// all ints (compared with int keys as signed 64-bit values: an int key from a uint64 array
/// above 2**63 counts as negative, per the key contract) or all str/bytes (compared with str/bytes
/// keys as UTF-8/raw bytes, lexicographically); ``nodes`` names the owner of each of the
/// ``len(boundaries) + 1`` ranges (a node may own several). Range ``i`` holds keys with
/// ``boundaries[i-1] <= key < boundaries[i]``, so a key's range is
/// ``numpy.searchsorted(boundaries, key, side="right")``; bulk ``place`` runs binary searches in
/// parallel. ``nodes`` (the property) lists distinct owners in first-seen order.
/// ``get_nodes(key, n)``: the key's owner, then the owners of the following ranges, wrapping.
/// Ranges are fixed: ``add_node``/``remove_node``/``set_weight`` raise ``ConfigurationError``
/// (build a new partitioner instead). Keys of the other kind raise ``ConfigurationError``.
#[pyclass(frozen, module = "shardwise._core", name = "RangePartitioner")]
pub struct PyRangePartitioner {
    inner: Shared<RangePartitioner>,
}

impl PyRangePartitioner {
    fn check_key(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let is_int = with_key_ref(key, |k| matches!(k, KeyRef::Int(_)))?;
        self.inner
            .read()
            .core
            .check_kind(is_int)
            .map_err(|e| to_py_err(py, CLASS, e))
    }
}

#[pymethods]
impl PyRangePartitioner {
    #[new]
    fn new(
        py: Python<'_>,
        boundaries: &Bound<'_, PyAny>,
        nodes: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        Ok(PyRangePartitioner {
            inner: Shared::new(py, build(py, boundaries, nodes)?),
        })
    }

    /// The split points, as given (ints, str or bytes).
    #[getter]
    fn boundaries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let core = self.inner.core();
        PyTuple::new(py, boundaries_list(py, &core)?)
    }

    /// The owner of each range, in range order.
    #[getter]
    fn range_owners<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let core = self.inner.core();
        PyTuple::new(
            py,
            core.range_owners().iter().map(|&i| core.nodes().name(i)),
        )
    }

    /// The node that owns `key`.
    fn get_node(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyString>> {
        self.check_key(py, key)?;
        self.inner.get_node(py, key)
    }

    /// `n` distinct nodes for `key`: its owner, then the owners of the following ranges.
    fn get_nodes(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Py<PyString>>> {
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
    ) -> PyResult<Bound<'py, PyArray1<i32>>> {
        self.inner.place(py, keys, out)
    }

    /// The distinct owners, in first-seen order (the indices `place` returns).
    #[getter(nodes)]
    fn node_names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        self.inner.nodes(py)
    }

    /// A new dict of node name -> weight (always 1.0).
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.inner.weights(py)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        self.inner.contains(name)
    }

    /// Not supported (raises ConfigurationError): ranges are fixed by their boundaries.
    #[pyo3(signature = (name, weight = None))]
    fn add_node(
        &self,
        py: Python<'_>,
        name: &str,
        weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let one = 1.0f64.into_pyobject(py)?.into_any();
        self.inner.add_node(py, name, weight.unwrap_or(&one))
    }

    /// Not supported (raises ConfigurationError, or UnknownNodeError for an unknown name).
    fn remove_node(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        self.inner.remove_node(py, name)
    }

    /// Not supported (raises ConfigurationError, or UnknownNodeError for an unknown name).
    fn set_weight(&self, py: Python<'_>, name: &str, weight: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.set_weight(py, name, weight)
    }

    /// An independent copy.
    fn copy(&self, py: Python<'_>) -> Self {
        Self {
            inner: self.inner.copy(py),
        }
    }

    fn __copy__(&self, py: Python<'_>) -> Self {
        self.copy(py)
    }

    fn __deepcopy__(&self, py: Python<'_>, _memo: &Bound<'_, PyAny>) -> Self {
        self.copy(py)
    }

    /// The plain-data state (version, class, nodes, weights, params: boundaries and owners).
    fn to_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.inner.to_state(py)
    }

    /// Rebuild an object from `to_state()` output.
    #[staticmethod]
    fn from_state(py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            inner: Shared::from_state(py, state)?,
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        self.inner.reduce(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.repr(py)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match other.cast::<Self>() {
            Ok(o) => Ok(PyBool::new(py, self.inner.eq(py, &o.get().inner)?)
                .to_owned()
                .into_any()
                .unbind()),
            Err(_) => Ok(py.NotImplemented()),
        }
    }
}
