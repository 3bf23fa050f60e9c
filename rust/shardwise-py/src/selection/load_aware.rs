//! `LoadAware` binding: weighted random picks with weights scaled by reported load.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use shardwise_core::selection::Alias;

use super::common::{balancer_class, seed, BalancerClass};
use crate::errors::Result;

impl BalancerClass for LoadAware {
    const CLASS: &'static str = "LoadAware";
    const SETTINGS: &'static [&'static str] = &["seed", "min_share"];

    fn algorithm(settings: &Bound<'_, PyDict>, kept: &Bound<'_, PyDict>) -> Result<Self::Alg> {
        // min_share is a pool setting (read with the others); it is kept even when defaulted.
        if !kept.contains("min_share")? {
            kept.set_item(
                "min_share",
                shardwise_core::selection::PoolConfig::default().min_share,
            )?;
        }
        Ok(Alias::new(seed(settings)?))
    }
}

balancer_class!(
    /// Weighted random picks with weights `capacity × max(1 − load, min_share)` from reported load.
    LoadAware(capacities): Alias {
    /// Record a node's load (utilisation: 0 = idle, 1 = full; > 1 overloaded).
    fn report_load(&self, node: &Bound<'_, PyAny>, load: &Bound<'_, PyAny>) -> Result<()> {
        self.inner.report_load(node, load)
    }

    /// The last load reported for a node (0.0 if none).
    fn load(&self, node: &Bound<'_, PyAny>) -> Result<f64> {
        self.inner.load(node)
    }

    /// `n` random picks at once, as positions in `nodes` (int32 array; GIL released).
    fn sample<'py>(&self, py: Python<'py>, n: &Bound<'py, PyAny>) -> Result<Bound<'py, PyArray1<i32>>> {
        self.inner.sample(py, n)
    }
});
