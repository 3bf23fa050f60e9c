//! `WeightedRandom` binding, and bulk sampling (shared with `LoadAware`).

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use shardwise_core::selection::Alias;

use super::common::{balancer_class, seed, BalancerClass, Shared};
use crate::errors::Result;
use crate::validate::{empty_array, fill_out, int_param};

impl Shared<Alias> {
    /// `n` random picks as positions in `nodes`, drawn without the GIL or the lock (see
    /// `Balancer::sampler`); a size that cannot be allocated is a `MemoryError`.
    pub fn sample<'py>(
        &self,
        py: Python<'py>,
        n: &Bound<'py, PyAny>,
    ) -> Result<Bound<'py, PyArray1<i32>>> {
        let n = int_param("sample size", n, 0, i64::MAX as u64)? as usize;
        let now = self.now(py)?;
        let array = empty_array::<i32, _>(py, &[n])?;
        let mut sampler = self.with_balancer(py, |b| b.sampler(now))?;
        fill_out(py, &array, |out| sampler.fill(out))?;
        Ok(array)
    }
}

impl BalancerClass for WeightedRandom {
    const CLASS: &'static str = "WeightedRandom";
    const SETTINGS: &'static [&'static str] = &["seed"];

    fn algorithm(settings: &Bound<'_, PyDict>, _kept: &Bound<'_, PyDict>) -> Result<Self::Alg> {
        Ok(Alias::new(seed(settings)?))
    }
}

balancer_class!(
    /// Weighted random picks in O(1) (Vose alias method), reproducible with `seed=`.
    WeightedRandom(backends): Alias {
    /// `n` random picks at once, as positions in `nodes` (int32 array; GIL released).
    fn sample<'py>(&self, py: Python<'py>, n: &Bound<'py, PyAny>) -> Result<Bound<'py, PyArray1<i32>>> {
        self.inner.sample(py, n)
    }
});
