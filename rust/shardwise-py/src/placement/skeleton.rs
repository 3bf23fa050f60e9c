//! `SkeletonRendezvous` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::skeleton::{DEFAULT_FANOUT, MAX_FANOUT, MAX_SLOTS};
use shardwise_core::placement::{NodeSet, Placement, SkeletonRendezvous};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::{Error, Result};
use crate::validate::int_param;

impl PyPlacement for SkeletonRendezvous {
    const CLASS: &'static str = "SkeletonRendezvous";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("fanout", self.fanout())?;
        d.set_item("capacity", self.capacity())?;
        let names = self.nodes().names();
        let layout: Vec<Option<&str>> = self
            .layout()
            .into_iter()
            .map(|o| o.map(|i| names[i as usize].as_str()))
            .collect();
        d.set_item("slots", layout)?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let fanout = match param(params, "fanout")? {
            Some(v) => int_param("fanout", &v, 2, u64::from(MAX_FANOUT))? as u32,
            None => DEFAULT_FANOUT,
        };
        let core = match (param(params, "capacity")?, param(params, "slots")?) {
            (None, None) => SkeletonRendezvous::new(nodes, fanout),
            (Some(capacity), Some(slots)) => {
                let capacity = int_param("capacity", &capacity, 1, MAX_SLOTS as u64)? as usize;
                let slots: Vec<Option<String>> = slots.extract().map_err(|_| {
                    Error::config(
                        "invalid SkeletonRendezvous state: 'slots' must be a list of node names or None",
                    )
                })?;
                SkeletonRendezvous::from_layout(nodes, fanout, capacity, &slots)
            }
            _ => {
                return Err(Error::config(
                    "invalid SkeletonRendezvous state: 'capacity' and 'slots' go together",
                ))
            }
        };
        core.map_err(class_err::<Self>)
    }
}

/// Rendezvous hashing in O(log n) per key: HRW down a virtual hierarchy (skeleton-based HRW).
///
/// ``SkeletonRendezvous(nodes=None, *, fanout=2)``: a node of whole-number weight ``w`` occupies
/// ``w`` leaves (slots) of a complete tree of fanout ``fanout``; a key descends from the root,
/// each level choosing the child with the highest draw (HRW), to a slot. A vacant slot sends the
/// key down again (every virtual node deals out its own fixed sequence of children), so node
/// ``x`` owns a share ``w_x / sum(w)`` of the keys, removing a node (or lowering its weight)
/// moves only its keys, spread over all the others by weight, and adding a node (or raising a
/// weight) moves keys only onto it. New nodes take the lowest vacant slots; a full tree grows a
/// new root (moving no key). The slot layout is part of the state (``to_state()``, pickles):
/// nodes listed in another order, or another history, place differently. A lookup costs
/// ``fanout * log_fanout(slots)`` hashes per descent and ``slots / occupied slots`` descents on
/// average. ``get_nodes(key, n)``: the ``j``-th node is where the key goes once the first ``j``
/// are removed.
#[pyclass(frozen, module = "shardwise._core", name = "SkeletonRendezvous")]
pub struct PySkeletonRendezvous {
    inner: Shared<SkeletonRendezvous>,
}

placement_class!(PySkeletonRendezvous: SkeletonRendezvous(fanout) {
    /// Children per virtual node of the skeleton.
    #[getter]
    fn fanout(&self) -> u32 {
        self.inner.read().core.fanout()
    }

    /// Slots of the skeleton (a power of ``fanout``), vacant ones included.
    #[getter]
    fn capacity(&self) -> usize {
        self.inner.read().core.capacity()
    }
});
