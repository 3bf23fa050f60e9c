//! `Maglev` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::maglev::{DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE};
use shardwise_core::placement::{Maglev, NodeSet};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::Result;
use crate::validate::int_param;

impl PyPlacement for Maglev {
    const CLASS: &'static str = "Maglev";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("table_size", self.table_size())?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let py = params.py();
        let size = match param(params, "table_size")? {
            Some(v) => int_param("table_size", &v, 2, u64::from(MAX_TABLE_SIZE))? as u32,
            None => DEFAULT_TABLE_SIZE,
        };
        py.detach(|| Maglev::new(nodes, size))
            .map_err(class_err::<Self>)
    }
}

/// Maglev consistent hashing (Google, NSDI 2016), weighted; O(1) lookup.
///
/// ``Maglev(nodes=None, *, table_size=65537)``; ``table_size`` must be a prime (and at least
/// the number of nodes; ~100x is advised). Each node fills its preference permutation
/// (``offset = xxh3_64(name, seed=1) % M``, ``skip = xxh3_64(name, seed=2) % (M-1) + 1``) in
/// round-robin turns up to its quota of ``M * w / W`` slots (largest remainder); a key goes
/// to ``table[xxh3_64(key) % M]``. Changing the node set rebuilds the table; few slots change
/// owner beyond those that must. ``get_nodes`` walks the table from the key's slot.
#[pyclass(frozen, module = "shardwise._core", name = "Maglev")]
pub struct PyMaglev {
    inner: Shared<Maglev>,
}

placement_class!(PyMaglev: Maglev(table_size) {
    /// The lookup table size (a prime).
    #[getter]
    fn table_size(&self) -> u32 {
        self.inner.read().core.table_size()
    }
});
