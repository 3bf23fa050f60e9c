//! `HashRing` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::ring::RingHash;
use shardwise_core::placement::util::{DEFAULT_VNODES, MAX_VNODES};
use shardwise_core::placement::{HashRing, NodeSet};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::Result;
use crate::validate::int_param;

impl PyPlacement for HashRing {
    const CLASS: &'static str = "HashRing";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("vnodes", self.vnodes())?;
        d.set_item("hash", self.hash().name())?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let py = params.py();
        let vnodes = match param(params, "vnodes")? {
            Some(v) => int_param("vnodes", &v, 1, u64::from(MAX_VNODES))? as u32,
            None => DEFAULT_VNODES,
        };
        let hash = match param(params, "hash")? {
            Some(h) => crate::validate::text_param("hash", &h)?,
            None => "xxh3_64".to_owned(),
        };
        let hash = RingHash::from_name(&hash).map_err(class_err::<Self>)?;
        // Building a large ring takes milliseconds: without the GIL.
        py.detach(|| HashRing::new(nodes, vnodes, hash))
            .map_err(class_err::<Self>)
    }
}

/// Consistent hash ring with weighted virtual nodes.
///
/// ``HashRing(nodes=None, *, vnodes=160, hash="xxh3_64")``: ``nodes`` is an iterable of names or
/// a mapping name -> weight. A node of weight ``w`` gets ``max(1, round(vnodes * w))`` points,
/// point ``j`` at ``hash(f"{name}-{j}")``; a key belongs to the first point ``>= hash(key)``,
/// wrapping around. Equal points are ordered by node name. ``hash`` is one of ``xxh3_64``,
/// ``xxh64``, ``murmur3_32``, ``fnv1a_32``, ``fnv1a_64``, ``crc32``, ``ketama``.
#[pyclass(frozen, module = "shardwise._core", name = "HashRing")]
pub struct PyHashRing {
    inner: Shared<HashRing>,
}

placement_class!(PyHashRing: HashRing(vnodes, hash) {
    /// Virtual nodes per unit of weight.
    #[getter]
    fn vnodes(&self) -> u32 {
        self.inner.read().core.vnodes()
    }

    /// Name of the hash function (as in ``shardwise.hashing``).
    #[getter]
    fn hash(&self) -> &'static str {
        self.inner.read().core.hash().name()
    }
});
