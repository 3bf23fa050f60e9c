//! `AnchorHash` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::slots::{default_capacity, MAX_CAPACITY};
use shardwise_core::placement::{AnchorHash, NodeSet};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::{Error, Result};
use crate::validate::{int_param, u32_list};

/// The `capacity` parameter (default: twice the nodes, at least 16).
pub fn capacity_param(nodes: &NodeSet, params: &Bound<'_, PyDict>) -> Result<u32> {
    Ok(match param(params, "capacity")? {
        Some(v) if !v.is_none() => int_param("capacity", &v, 1, u64::from(MAX_CAPACITY))? as u32,
        _ => default_capacity(nodes.len()),
    })
}

/// The saved `slots` and `removed` of a fixed-capacity placement's state, if present.
pub fn saved_slots(
    class: &str,
    params: &Bound<'_, PyDict>,
) -> Result<Option<(Vec<u32>, Vec<u32>)>> {
    match (param(params, "slots")?, param(params, "removed")?) {
        (None, None) => Ok(None),
        (Some(slots), Some(removed)) => match (u32_list(&slots), u32_list(&removed)) {
            (Some(slots), Some(removed)) => Ok(Some((slots, removed))),
            _ => Err(Error::config(format!(
                "invalid {class} state: params need int lists 'slots' and 'removed'"
            ))),
        },
        _ => Err(Error::config(format!(
            "invalid {class} state: 'slots' and 'removed' go together"
        ))),
    }
}

impl PyPlacement for AnchorHash {
    const CLASS: &'static str = "AnchorHash";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("capacity", self.capacity())?;
        d.set_item("slots", self.slots().to_vec())?;
        d.set_item("removed", self.removed().to_vec())?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let capacity = capacity_param(&nodes, params)?;
        let core = match saved_slots(Self::CLASS, params)? {
            None => AnchorHash::new(nodes, capacity),
            Some((slots, removed)) => AnchorHash::from_parts(nodes, capacity, slots, removed),
        };
        core.map_err(class_err::<Self>)
    }
}

/// AnchorHash (Mendelson et al. 2020): any node removable within a fixed capacity, O(1) lookups.
///
/// ``AnchorHash(nodes=None, *, capacity=None)``: ``capacity`` is the most nodes it can ever
/// hold (default: twice the initial nodes, at least 16); memory is about 24 bytes per unit of
/// capacity. Every key goes through XXH3-64 of its bytes (ints: 8 bytes little-endian) and the
/// algorithm takes the low 32 bits; from there it equals the ``anchorhash`` crate bit for bit.
/// ``remove_node`` works for **any** node: only its keys move, spread over the others.
/// ``add_node`` takes back the most recently freed bucket (last out, first in: re-adding the
/// most recently removed node restores exactly its keys; a node added in another order takes
/// that bucket's keys, as the algorithm requires), and fails once ``capacity`` nodes are held. No
/// weights. The removal history is part of the state (``to_state()``, pickles). Balance: the
/// crate's rehash (FNV-1a seeded with the key) leaves the most loaded node a few percent over its
/// share when much of the capacity is free (max/mean 1.05 for 10 nodes in a capacity of 20, 1.003
/// in a capacity of 11, on 2M keys): size ``capacity`` near the most nodes you expect.
/// ``get_nodes(key, n)``: the ``j``-th node is where the key goes once the first ``j`` are removed.
#[pyclass(frozen, module = "shardwise._core", name = "AnchorHash")]
pub struct PyAnchorHash {
    inner: Shared<AnchorHash>,
}

placement_class!(PyAnchorHash: AnchorHash(capacity) {
    /// The most nodes this placement can hold.
    #[getter]
    fn capacity(&self) -> u32 {
        self.inner.read().core.capacity()
    }
});
