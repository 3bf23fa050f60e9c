//! `LeastConnections` binding.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use shardwise_core::selection::Fewest;

use super::common::{balancer_class, BalancerClass};
use super::lease::Lease;
use crate::errors::Result;

impl BalancerClass for LeastConnections {
    const CLASS: &'static str = "LeastConnections";
    const SETTINGS: &'static [&'static str] = &[];

    fn algorithm(_settings: &Bound<'_, PyDict>, _kept: &Bound<'_, PyDict>) -> Result<Self::Alg> {
        Ok(Fewest::default())
    }
}

balancer_class!(
    /// The backend with the fewest held leases per unit of weight; ties: larger weight, then round robin.
    LeastConnections(backends): Fewest {
    /// Take the chosen backend: a `Lease` (context manager) holding it until released.
    fn acquire(slf: &Bound<'_, Self>) -> Result<Lease> {
        Lease::acquire(slf)
    }

    /// How many leases on a node are held.
    fn active(&self, node: &Bound<'_, PyAny>) -> Result<u64> {
        self.inner.active(node)
    }
});
