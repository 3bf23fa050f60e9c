//! `MementoHash` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::{MementoHash, NodeSet};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::{Error, Result};
use crate::validate::{u32_list, u32_value};

impl PyPlacement for MementoHash {
    const CLASS: &'static str = "MementoHash";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("slots", self.slots().to_vec())?;
        d.set_item("size", self.engine().size())?;
        let removed: Vec<u32> = self.engine().removed().iter().map(|r| r.0).collect();
        d.set_item("removed", removed)?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let slots = param(params, "slots")?;
        let size = param(params, "size")?;
        let removed = param(params, "removed")?;
        let core = match (slots, size, removed) {
            (None, None, None) => MementoHash::new(nodes),
            (Some(slots), Some(size), Some(removed)) => {
                let (Some(slots), Some(size), Some(removed)) =
                    (u32_list(&slots), u32_value(&size), u32_list(&removed))
                else {
                    return Err(Error::config(
                        "invalid MementoHash state: params need int lists 'slots', 'removed' and an int 'size'",
                    ));
                };
                MementoHash::from_parts(nodes, slots, size, &removed)
            }
            _ => {
                return Err(Error::config(
                    "invalid MementoHash state: 'slots', 'size' and 'removed' go together",
                ))
            }
        };
        core.map_err(class_err::<Self>)
    }
}

/// MementoHash (Coluzzi et al., 2023): jump-hash speed with arbitrary node removal.
///
/// ``MementoHash(nodes=None)``: ``nodes`` is an iterable of names (weights must all be 1).
/// With no node removed it places exactly as ``JumpHash`` (int keys used as they are, other keys
/// through XXH3-64). ``remove_node`` works for *any* node: only that node's keys move, spread
/// evenly over the others; memory grows only with the number of removed nodes. ``add_node``
/// takes the most recently freed slot, so removing a node and adding it back (last out, first
/// in) restores exactly the previous placement. The removal history is part of the state
/// (``to_state()``, pickles): two objects with the same nodes may differ if their histories do.
/// ``get_nodes(key, n)``: the ``j``-th node is where the key goes once the first ``j`` are removed.
#[pyclass(frozen, module = "shardwise._core", name = "MementoHash")]
pub struct PyMementoHash {
    inner: Shared<MementoHash>,
}

placement_class!(PyMementoHash: MementoHash() {
    /// How many nodes have been removed and not yet replaced (the memory MementoHash uses).
    #[getter]
    fn removed_count(&self) -> usize {
        self.inner.read().core.engine().removed().len()
    }

});
