//! `BoundedLoadRing` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::bounded::DEFAULT_LOAD_FACTOR;
use shardwise_core::placement::util::{DEFAULT_VNODES, MAX_VNODES};
use shardwise_core::placement::{BoundedLoadRing, NodeSet};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::Result;
use crate::validate::int_param;

impl PyPlacement for BoundedLoadRing {
    const CLASS: &'static str = "BoundedLoadRing";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("vnodes", self.vnodes())?;
        d.set_item("load_factor", self.load_factor())?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let py = params.py();
        let vnodes = match param(params, "vnodes")? {
            Some(v) => int_param("vnodes", &v, 1, u64::from(MAX_VNODES))? as u32,
            None => DEFAULT_VNODES,
        };
        let load_factor = match param(params, "load_factor")? {
            Some(c) => crate::validate::number("load_factor", &c)?,
            None => DEFAULT_LOAD_FACTOR,
        };
        py.detach(|| BoundedLoadRing::new(nodes, vnodes, load_factor))
            .map_err(class_err::<Self>)
    }
}

/// Consistent hashing with bounded loads (Mirrokni, Thorup & Zadimoghaddam, 2018).
///
/// ``BoundedLoadRing(nodes=None, *, vnodes=160, load_factor=1.25)``: a ring with
/// ``max(1, round(vnodes * weight))`` points per node. ``place(keys)`` assigns the batch *in order*,
/// each key to the first node clockwise from its hash that still has room, where node ``i`` takes
/// at most ``ceil(load_factor * len(keys) * w_i / W)`` keys (``W`` = total weight; equal weights
/// give ``ceil(c * average)``). The result depends on the order of the keys (an earlier key can
/// fill a node a later key would have preferred) and on the batch as a whole: place the same
/// batch in the same order to get the same answer. ``get_node`` / ``get_nodes`` are plain ring
/// lookups (a batch of one never fills a node). Hashing runs in parallel; the assignment is
/// sequential by nature.
#[pyclass(frozen, module = "shardwise._core", name = "BoundedLoadRing")]
pub struct PyBoundedLoadRing {
    inner: Shared<BoundedLoadRing>,
}

placement_class!(PyBoundedLoadRing: BoundedLoadRing(vnodes, load_factor) {
    /// Virtual nodes per unit of weight.
    #[getter]
    fn vnodes(&self) -> u32 {
        self.inner.read().core.vnodes()
    }

    /// The load factor ``c``.
    #[getter]
    fn load_factor(&self) -> f64 {
        self.inner.read().core.load_factor()
    }

    /// Per-node limits (in ``nodes`` order) for a batch of ``m`` keys.
    fn capacities(&self, m: usize) -> Vec<u64> {
        self.inner.read().core.capacities(m)
    }
});
