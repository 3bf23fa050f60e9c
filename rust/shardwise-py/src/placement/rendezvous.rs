//! `Rendezvous` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::{NodeSet, Rendezvous};

use super::common::{class_err, placement_class, PyPlacement, Shared};
use crate::errors::Result;

impl PyPlacement for Rendezvous {
    const CLASS: &'static str = "Rendezvous";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        Ok(PyDict::new(py))
    }

    fn from_params(nodes: NodeSet, _params: &Bound<'_, PyDict>) -> Result<Self> {
        Rendezvous::new(nodes).map_err(class_err::<Self>)
    }
}

/// Rendezvous (highest random weight) hashing, weighted by the logarithmic method.
///
/// ``Rendezvous(nodes=None)``. For key hash ``k = xxh3_64(key)`` each node draws
/// ``d = splitmix64(k ^ xxh3_64(name)) >> 11`` and scores ``w / -ln((d + 0.5) / 2**53)``; the
/// highest score wins, so node ``i`` owns a share ``w_i / sum(w)`` of keys and a change of one
/// node moves only the keys it gains or loses. With equal weights the draws are compared
/// directly. O(nodes) per key (about 1.2 ns per node with equal weights, 7 ns with unequal ones,
/// one thread): past about 16 nodes (4 with unequal weights) ``SkeletonRendezvous`` places
/// faster, in O(log n), with whole-number weights and a slot layout kept in its state.
/// ``get_nodes`` is the top ``n`` scores. Ties: lower index.
#[pyclass(frozen, module = "shardwise._core", name = "Rendezvous")]
pub struct PyRendezvous {
    inner: Shared<Rendezvous>,
}

placement_class!(PyRendezvous: Rendezvous() {});
