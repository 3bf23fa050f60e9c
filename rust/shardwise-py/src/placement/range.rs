//! `RangePartitioner` binding (lookups check that the key's kind matches the boundaries' in
//! the core's `check_key`).

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use shardwise_core::placement::range::Boundaries;
use shardwise_core::placement::{NodeSet, Placement, RangePartitioner};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::{Error, Result};
use crate::keys::with_key_ref;
use crate::validate::{node_name, type_name};

const CLASS: &str = "RangePartitioner";

/// Boundaries from Python: all ints (signed 64-bit), all str, or all bytes-like.
fn parse_boundaries(obj: &Bound<'_, PyAny>) -> Result<(Boundaries, bool)> {
    let obj = if obj.hasattr("tolist")? && !obj.is_instance_of::<PyList>() {
        obj.call_method0("tolist")?
    } else {
        obj.clone()
    };
    if !(obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()) {
        return Err(Error::type_error(format!(
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
            return Err(Error::type_error(format!(
                "boundaries[{i}] must be int, str or bytes, not bool"
            )));
        }
        if b.is_instance_of::<PyInt>()
            || (b.hasattr("__index__")? && !b.is_instance_of::<PyString>())
        {
            let v: i64 = b.call_method0("__index__")?.extract().map_err(|_| {
                Error::config(format!(
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
            return Err(Error::type_error(format!(
                "boundaries[{i}] must be int, str or bytes, not {}",
                type_name(&b)
            )));
        }
    }
    match kinds {
        [_, false, false] => Ok((Boundaries::Ints(ints), false)),
        [false, true, false] => Ok((Boundaries::Bytes(bytes), true)),
        [false, false, true] => Ok((Boundaries::Bytes(bytes), false)),
        _ => Err(Error::type_error(
            "boundaries must all be of one kind (int, str or bytes)",
        )),
    }
}

fn owner_names(obj: &Bound<'_, PyAny>) -> Result<Vec<String>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(Error::type_error(
            "nodes must be a list of node names (one per range), not a single string",
        ));
    }
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        out.push(node_name(&item?)?);
    }
    Ok(out)
}

fn build(boundaries: &Bound<'_, PyAny>, nodes: &Bound<'_, PyAny>) -> Result<RangePartitioner> {
    let (bounds, text) = parse_boundaries(boundaries)?;
    let owners = owner_names(nodes)?;
    RangePartitioner::new(bounds, &owners)
        .map(|r| r.with_text_bounds(text))
        .map_err(class_err::<RangePartitioner>)
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

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
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

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let (Some(b), Some(o)) = (param(params, "boundaries")?, param(params, "owners")?) else {
            return Err(Error::config(
                "invalid RangePartitioner state: needs 'boundaries' and 'owners'",
            ));
        };
        let core = build(&b, &o)?;
        if core.nodes().names() != nodes.names() {
            return Err(Error::config(
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

placement_class!(PyRangePartitioner {
    #[new]
    fn new(
        py: Python<'_>,
        boundaries: &Bound<'_, PyAny>,
        nodes: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        Ok(PyRangePartitioner {
            inner: Shared::new(py, build(boundaries, nodes)?),
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
});
