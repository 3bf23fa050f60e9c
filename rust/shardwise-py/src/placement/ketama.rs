//! `KetamaRing` binding.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::ketama::UHASHRING_DEFAULT_VNODES;
use shardwise_core::placement::util::MAX_VNODES;
use shardwise_core::placement::{KetamaFlavor, KetamaRing, NodeSet, Placement};

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::Result;
use crate::validate::int_param;

impl PyPlacement for KetamaRing {
    const CLASS: &'static str = "KetamaRing";

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("flavor", self.flavor().name())?;
        d.set_item("vnodes", self.vnodes())?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let py = params.py();
        let flavor = match param(params, "flavor")? {
            Some(f) => KetamaFlavor::from_name(&crate::validate::text_param("flavor", &f)?)
                .map_err(class_err::<Self>)?,
            None => KetamaFlavor::Libketama,
        };
        let vnodes = match param(params, "vnodes")? {
            Some(v) if !v.is_none() => int_param("vnodes", &v, 1, u64::from(MAX_VNODES))? as u32,
            _ => UHASHRING_DEFAULT_VNODES,
        };
        py.detach(|| KetamaRing::new(nodes, flavor, vnodes))
            .map_err(class_err::<Self>)
    }

    fn bytes_as_repr(&self) -> bool {
        self.flavor() == KetamaFlavor::Uhashring
    }
}

/// Ketama continuum identical to libketama's or to uhashring's ketama mode.
///
/// ``KetamaRing(nodes=None, *, flavor="libketama", vnodes=None)``; weights must be whole numbers.
///
/// - ``flavor="libketama"`` (the C library, and the ``ketama`` PyPI package): 40 MD5 digests of
///   ``"{name}-{k}"`` per unit share, counted in float32 as libketama does, 4 points per digest;
///   a key goes to the first point ``>=`` its hash (MD5 of its UTF-8 / raw bytes); names are at
///   most 21 bytes. ``vnodes`` must be left unset (or 40). (The ``ketama`` PyPI binding hashes
///   a non-ASCII ``str`` key truncated to ``len(key)`` UTF-8 bytes — a bug of that binding; pass
///   it ``key.encode()`` to get libketama's answer, which is ours.)
/// - ``flavor="uhashring"`` (``uhashring.HashRing(hash_fn="ketama")``): ``(vnodes * n * w) // W``
///   digests per node (``vnodes`` default 40), the first point ``>`` the hash, later nodes win
///   equal points; keys are hashed as ``str(key)`` (ints as decimal of their unsigned 64-bit
///   value, bytes as their ``repr``).
///
/// Integer keys are hashed as their decimal text in both flavors (the libraries take text).
#[pyclass(frozen, module = "shardwise._core", name = "KetamaRing")]
pub struct PyKetamaRing {
    inner: Shared<KetamaRing>,
}

placement_class!(PyKetamaRing: KetamaRing(flavor, vnodes) {
    /// ``"libketama"`` or ``"uhashring"``.
    #[getter]
    fn flavor(&self) -> &'static str {
        self.inner.read().core.flavor().name()
    }

    /// MD5 digests (of 4 points each) per node at equal weights.
    #[getter]
    fn vnodes(&self) -> u32 {
        self.inner.read().core.vnodes()
    }

    /// The continuum as a list of ``(point, node name)`` in ring order.
    fn points(&self) -> Vec<(u64, String)> {
        let core = self.inner.core();
        core.continuum()
            .pairs()
            .map(|(p, o)| (p, core.nodes().name(o).to_owned()))
            .collect()
    }
});
