//! Bindings of the constant-time range hashes over a node list: `JumpBackHash`, `FlipHash`,
//! `BinomialHash` (one core type, `Sequential<F>`, per function `F`).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use shardwise_core::placement::sequential::{RangeHash, Sequential};
use shardwise_core::placement::{BinomialHash, FlipHash, JumpBackHash, NodeSet};

use super::common::{class_err, placement_class, PyPlacement, Shared};
use crate::errors::Result;

impl<F: RangeHash> PyPlacement for Sequential<F> {
    const CLASS: &'static str = F::CLASS;

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        Ok(PyDict::new(py))
    }

    fn from_params(nodes: NodeSet, _params: &Bound<'_, PyDict>) -> Result<Self> {
        Sequential::new(nodes).map_err(class_err::<Self>)
    }
}

/// JumpBackHash (Ertl 2024): jump-hash placement in expected constant time, integers only.
///
/// ``JumpBackHash(nodes=None)``: node ``i`` is bucket ``i``; no weights, no memory. Int keys are
/// used as they are, other keys go through XXH3-64; the 64-bit value seeds SplitMix64, whose
/// outputs drive the algorithm (bit for bit the ``jump-back-hash`` crate with that generator).
/// Adding a node moves keys only to it; only the **last** node can be removed (use
/// ``AnchorHash``, ``DxHash`` or ``MementoHash`` for arbitrary removal). ``get_nodes`` draws
/// replica ``r`` over the nodes not yet chosen, keyed by ``splitmix64(k + r)``.
#[pyclass(frozen, module = "shardwise._core", name = "JumpBackHash")]
pub struct PyJumpBackHash {
    inner: Shared<JumpBackHash>,
}

placement_class!(PyJumpBackHash: JumpBackHash() {});

/// FlipHash (Masson & Lee 2024): constant-time consistent range hashing, a few multiplies a key.
///
/// ``FlipHash(nodes=None)``: node ``i`` is bucket ``i``; no weights, no memory. Int keys are
/// used as they are, other keys go through XXH3-64; the 64-bit value is placed exactly as the
/// ``fliphash`` crate's ``fliphash_64(value, ..=len - 1)``. Adding a node moves keys only to
/// it; only the **last** node can be removed (use ``AnchorHash``, ``DxHash`` or
/// ``MementoHash`` for arbitrary removal). ``get_nodes`` as ``JumpBackHash``.
#[pyclass(frozen, module = "shardwise._core", name = "FlipHash")]
pub struct PyFlipHash {
    inner: Shared<FlipHash>,
}

placement_class!(PyFlipHash: FlipHash() {});

/// BinomialHash (Coluzzi, Brocco & Antonucci 2024): constant time, at most four rehashes.
///
/// ``BinomialHash(nodes=None)``: node ``i`` is bucket ``i``; no weights, no memory. Every key
/// goes through XXH3-64 of its bytes (ints: 8 bytes little-endian) first. No runnable reference
/// implementation exists outside Java, so this follows the paper's pseudocode (as the authors'
/// Java code implements it) and is tested on the paper's properties: balance, monotonicity and
/// minimal disruption. Adding a node moves keys only to it; only the **last** node can be
/// removed. ``get_nodes`` as ``JumpBackHash``.
#[pyclass(frozen, module = "shardwise._core", name = "BinomialHash")]
pub struct PyBinomialHash {
    inner: Shared<BinomialHash>,
}

placement_class!(PyBinomialHash: BinomialHash() {});
