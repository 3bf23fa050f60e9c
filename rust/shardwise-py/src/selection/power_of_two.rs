//! `PowerOfTwo` binding.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use shardwise_core::selection::{PeakEwma, TwoChoices};

use super::common::{balancer_class, number_setting, seed, BalancerClass};
use super::lease::Lease;
use crate::errors::Result;

impl BalancerClass for PowerOfTwo {
    const CLASS: &'static str = "PowerOfTwo";
    const SETTINGS: &'static [&'static str] = &["seed", "peak_ewma", "decay", "default_rtt"];

    fn algorithm(settings: &Bound<'_, PyDict>, kept: &Bound<'_, PyDict>) -> Result<Self::Alg> {
        let seed = seed(settings)?;
        let peak_ewma = match settings.get_item("peak_ewma")? {
            Some(v) => v.is_truthy()?,
            None => false,
        };
        kept.set_item("peak_ewma", peak_ewma)?;
        let decay = number_setting(settings, kept, "decay", PeakEwma::DEFAULT.decay)?;
        let default_rtt =
            number_setting(settings, kept, "default_rtt", PeakEwma::DEFAULT.default_rtt)?;
        let ewma = peak_ewma.then_some(PeakEwma { decay, default_rtt });
        Ok(TwoChoices::new(seed, ewma)?)
    }

    fn timed(alg: &Self::Alg) -> bool {
        alg.ewma.is_some()
    }
}

balancer_class!(
    /// Power of two choices on held leases, optionally weighted by peak-EWMA latency.
    PowerOfTwo(backends): TwoChoices {
    /// Take the chosen backend: a `Lease` (context manager) holding it until released.
    fn acquire(slf: &Bound<'_, Self>) -> Result<Lease> {
        Lease::acquire(slf)
    }

    /// How many leases on a node are held.
    fn active(&self, node: &Bound<'_, PyAny>) -> Result<u64> {
        self.inner.active(node)
    }
});
