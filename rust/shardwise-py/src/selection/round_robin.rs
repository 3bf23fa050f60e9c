//! `RoundRobin` binding.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use shardwise_core::selection::SmoothWeighted;

use super::common::{balancer_class, BalancerClass};
use crate::errors::Result;

impl BalancerClass for RoundRobin {
    const CLASS: &'static str = "RoundRobin";
    const SETTINGS: &'static [&'static str] = &[];

    fn algorithm(_settings: &Bound<'_, PyDict>, _kept: &Bound<'_, PyDict>) -> Result<Self::Alg> {
        Ok(SmoothWeighted::default())
    }
}

balancer_class!(
    /// Smooth weighted round robin, pick for pick as nginx.
    RoundRobin(backends): SmoothWeighted {});
