//! `RoundRobin` binding.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use shardwise_core::selection::SmoothWeighted;

use super::common::{balancer_class, BalancerClass, Shared};
use crate::errors::Result;

/// Smooth weighted round robin, pick for pick as nginx.
#[pyclass(frozen, module = "shardwise._core")]
pub struct RoundRobin {
    inner: Shared<SmoothWeighted>,
}

impl BalancerClass for RoundRobin {
    type Alg = SmoothWeighted;
    const CLASS: &'static str = "RoundRobin";
    const SETTINGS: &'static [&'static str] = &[];

    fn algorithm(_settings: &Bound<'_, PyDict>, _kept: &Bound<'_, PyDict>) -> Result<Self::Alg> {
        Ok(SmoothWeighted::default())
    }

    fn wrap(inner: Shared<Self::Alg>) -> Self {
        RoundRobin { inner }
    }

    fn shared(&self) -> &Shared<Self::Alg> {
        &self.inner
    }
}

balancer_class!(RoundRobin(backends) {});
