//! `MultiProbe` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::multiprobe::{DEFAULT_PROBES, MAX_PROBES};
use shardwise_core::placement::{MultiProbe, NodeSet};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::Result;
use crate::validate::int_param;

impl PyPlacement for MultiProbe {
    const CLASS: &'static str = "MultiProbe";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("probes", self.probes())?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let probes = match param(params, "probes")? {
            Some(v) => int_param("probes", &v, 1, u64::from(MAX_PROBES))? as u32,
            None => DEFAULT_PROBES,
        };
        MultiProbe::new(nodes, probes).map_err(class_err::<Self>)
    }
}

/// Multi-probe consistent hashing (Appleton & O'Reilly, 2015).
///
/// ``MultiProbe(nodes=None, *, probes=21)``: each node has one point on a 64-bit ring (a node of
/// whole-number weight ``w`` has ``w`` points); a key is hashed ``probes`` times and belongs to the
/// node whose point most closely follows one of its probes; memory is O(nodes), a lookup costs
/// ``probes`` ring searches. Balance, as the paper states it: with ``K`` probes the largest node
/// share of the key space is K/(K-1) times the mean (1.05 for 21 probes) for a typical node set,
/// and for every set as nodes grow in number; a given set varies around it with where its points
/// fall (10th-90th percentile over node sets, 21 probes: 1.00-1.12 at 10 nodes, 1.02-1.09 at 50,
/// 1.044-1.056 at 1,000). Counting ``m`` keys per node adds about ``sqrt(2 ln(n) / m)``.
/// ``get_nodes(key, n)``: the ``j``-th node is where the key goes once the first ``j`` are removed.
#[pyclass(frozen, module = "shardwise._core", name = "MultiProbe")]
pub struct PyMultiProbe {
    inner: Shared<MultiProbe>,
}

placement_class!(PyMultiProbe: MultiProbe(probes) {
    /// Number of probes per key.
    #[getter]
    fn probes(&self) -> u32 {
        self.inner.read().core.probes()
    }
});
