//! `DxHash` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::{DxHash, NodeSet};

use super::anchor::{capacity_param, saved_slots};
use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::Result;
use crate::validate::number;

impl PyPlacement for DxHash {
    const CLASS: &'static str = "DxHash";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("capacity", self.capacity())?;
        d.set_item("max_weight", self.max_weight())?;
        d.set_item("slots", self.slots().to_vec())?;
        d.set_item("removed", self.removed().to_vec())?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let capacity = capacity_param(&nodes, params)?;
        let max_weight = match param(params, "max_weight")? {
            Some(v) if !v.is_none() => Some(number("max_weight", &v)?),
            _ => None,
        };
        let core = match saved_slots(Self::CLASS, params)? {
            None => DxHash::new(nodes, capacity, max_weight),
            Some((slots, removed)) => {
                DxHash::from_parts(nodes, capacity, max_weight, slots, removed)
            }
        };
        core.map_err(class_err::<Self>)
    }
}

/// DxHash (Dong, Feng & Wang): each key probes its own pseudo-random bucket sequence; weighted.
///
/// ``DxHash(nodes=None, *, capacity=None, max_weight=None)``: ``capacity`` is the most nodes it
/// can ever hold (default: twice the initial nodes, at least 16); a lookup takes about
/// ``capacity / nodes`` probes, times ``max_weight / weight`` with weights. Every key goes
/// through XXH3-64 of its bytes (ints: 8 bytes little-endian); the low 32 bits start the
/// authors' CRC-32C sequence (``k2 = k * 421757 + 1``, ``s = crc32c(k2, s)``, bucket
/// ``s % capacity``, ``4 * capacity - 1`` probes; where the authors give up, up to 32 more
/// rounds of probes with doubled keep chances, then the first working bucket after the last
/// probe). ``remove_node`` works for **any** node and moves only its keys; ``add_node`` takes
/// back the most recently freed bucket (last out, first in: re-adding the most recently removed
/// node restores exactly its keys; a node added in another order takes that bucket's keys).
/// Weights (the paper's weighted DxHash, rejection form): a probe keeps a node with probability
/// ``weight / max_weight`` (``max_weight`` defaults to the largest initial weight, 1.0 with no
/// nodes, and is fixed; a heavier weight is refused, as is one under ``max_weight / 2**20``), so ``set_weight`` moves keys only to or
/// from that node. Set ``max_weight`` near the weights you will use: lookups slow down as it
/// grows past them. No public implementation of DxHash could be run as an oracle: the tests
/// check the paper's properties.
#[pyclass(frozen, module = "shardwise._core", name = "DxHash")]
pub struct PyDxHash {
    inner: Shared<DxHash>,
}

placement_class!(PyDxHash: DxHash(capacity, max_weight) {
    /// The most nodes this placement can hold.
    #[getter]
    fn capacity(&self) -> u32 {
        self.inner.read().core.capacity()
    }

    /// The weight that always keeps its node (weights are relative to it).
    #[getter]
    fn max_weight(&self) -> f64 {
        self.inner.read().core.max_weight()
    }
});
