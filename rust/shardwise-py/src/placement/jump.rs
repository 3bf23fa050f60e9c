//! `JumpHash` binding and the raw `jump` / `jump_many` functions.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::jump::{jump as jump_fn, jump_key, jump_keys_into};
use shardwise_core::placement::{JumpHash, NodeSet};

use super::common::{class_err, placement_class, PyPlacement, Shared};
use crate::errors::Result;
use crate::keys::{extract_bulk, with_key_ref};
use crate::validate::filled;
use crate::validate::int_param;

impl PyPlacement for JumpHash {
    const CLASS: &'static str = "JumpHash";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        Ok(PyDict::new(py))
    }

    fn from_params(nodes: NodeSet, _params: &Bound<'_, PyDict>) -> Result<Self> {
        JumpHash::new(nodes).map_err(class_err::<Self>)
    }
}

/// Jump consistent hash (Lamping & Veach 2014) over the node list: no memory, no weights.
///
/// ``JumpHash(nodes=None)``. Integer keys are used as they are (as the paper's reference code);
/// other keys are hashed with XXH3-64 first. Node ``i`` is bucket ``i``. Only the **last** node
/// can be removed — removing another would renumber buckets and move most keys; use
/// ``MementoHash`` for arbitrary removal. ``get_nodes`` draws replica ``r`` with jump over the
/// nodes not yet chosen, keyed by ``splitmix64(k + r)``.
#[pyclass(frozen, module = "shardwise._core", name = "JumpHash")]
pub struct PyJumpHash {
    inner: Shared<JumpHash>,
}

placement_class!(PyJumpHash: JumpHash() {});

const MAX_BUCKETS: u64 = i32::MAX as u64;

/// Jump consistent hash of ``key`` into ``[0, num_buckets)``, identical to the paper's reference
/// code (and the ``jump-consistent-hash`` package) for int keys; other keys go through XXH3-64.
#[pyfunction]
pub fn jump(key: &Bound<'_, PyAny>, num_buckets: &Bound<'_, PyAny>) -> Result<u32> {
    let n = int_param("num_buckets", num_buckets, 1, MAX_BUCKETS)? as u32;
    Ok(with_key_ref(key, |k| jump_fn(jump_key(k), n))?)
}

/// ``jump`` of every key (numpy array, list or tuple) as an int32 array (GIL released); into
/// ``out`` (a contiguous int32 array, one slot per key) when given.
#[pyfunction]
#[pyo3(signature = (keys, num_buckets, *, out = None))]
pub fn jump_many<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyAny>,
    num_buckets: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyArray1<i32>>> {
    let n = int_param("num_buckets", num_buckets, 1, MAX_BUCKETS)? as u32;
    let bulk = extract_bulk(keys)?;
    let bulk_keys = bulk.keys();
    filled(py, &[bulk_keys.len()], out, keys, |slots| {
        // A dictionary-encoded column is jumped once per distinct value.
        let distinct = bulk_keys.by_distinct(slots, |k, o| {
            jump_keys_into(k, n, o);
            Ok::<(), ()>(())
        });
        if distinct.is_none() {
            jump_keys_into(bulk_keys, n, slots);
        }
        Ok(bulk_keys.verify()?)
    })
}
