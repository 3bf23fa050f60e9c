//! The φ accrual failure detector, per node, with Akka's conventions:
//!
//! - the first heartbeat of a node seeds its window with `estimate ± estimate/4`;
//! - later heartbeats add their inter-arrival time, unless the node was already unavailable
//!   when the heartbeat came (a long pause would skew the statistics);
//! - φ(t) = -log10(1 - F(t)) with F the normal CDF, approximated by the logistic
//!   `1 / (1 + exp(-y (1.5976 + 0.070566 y²)))`, `y = (t - μ) / σ`, where μ is the window mean
//!   plus the acceptable pause and σ is at least `min_std_deviation`;
//! - a node never heard from has φ = 0 (it is treated as healthy).

use std::collections::HashMap;
use std::fmt;

use super::window::HeartbeatWindow;

/// Settings of a detector; every duration in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhiConfig {
    /// φ at or above which a node is considered unavailable.
    pub threshold: f64,
    /// Number of inter-arrival samples kept per node.
    pub max_sample_size: usize,
    /// Lower bound of the standard deviation used in φ.
    pub min_std_deviation: f64,
    /// Added to the mean: how long a pause is accepted before suspicion grows.
    pub acceptable_heartbeat_pause: f64,
    /// Expected interval used to seed a node's window on its first heartbeat.
    pub first_heartbeat_estimate: f64,
}

impl Default for PhiConfig {
    fn default() -> Self {
        Self {
            threshold: 8.0,
            max_sample_size: 1000,
            min_std_deviation: 0.1,
            acceptable_heartbeat_pause: 0.0,
            first_heartbeat_estimate: 1.0,
        }
    }
}

/// An invalid setting: the field's name and why.
#[derive(Debug, Clone, PartialEq)]
pub struct PhiConfigError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for PhiConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for PhiConfigError {}

impl PhiConfig {
    /// Check every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), PhiConfigError> {
        let bad = |field, message: &str| {
            Err(PhiConfigError {
                field,
                message: message.to_string(),
            })
        };
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return bad("threshold", "must be a finite number > 0");
        }
        if self.max_sample_size == 0 {
            return bad("max_sample_size", "must be >= 1");
        }
        if !(self.min_std_deviation.is_finite() && self.min_std_deviation > 0.0) {
            return bad(
                "min_std_deviation",
                "must be a finite number of seconds > 0",
            );
        }
        if !(self.acceptable_heartbeat_pause.is_finite() && self.acceptable_heartbeat_pause >= 0.0)
        {
            return bad(
                "acceptable_heartbeat_pause",
                "must be a finite number of seconds >= 0",
            );
        }
        if !(self.first_heartbeat_estimate.is_finite() && self.first_heartbeat_estimate > 0.0) {
            return bad(
                "first_heartbeat_estimate",
                "must be a finite number of seconds > 0",
            );
        }
        Ok(())
    }
}

/// φ of a silence of `elapsed` seconds given the (already adjusted) `mean` and `std_deviation`.
///
/// The two branches keep precision at both tails, as Akka does.
pub fn phi_from_stats(elapsed: f64, mean: f64, std_deviation: f64) -> f64 {
    let y = (elapsed - mean) / std_deviation;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if elapsed > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

#[derive(Debug, Clone)]
struct NodeHistory {
    last_heartbeat: f64,
    window: HeartbeatWindow,
}

/// Per-node φ accrual detectors sharing one configuration. Nodes keep insertion order.
#[derive(Debug, Clone)]
pub struct PhiAccrualDetector {
    config: PhiConfig,
    names: Vec<String>,
    index: HashMap<String, usize>,
    nodes: Vec<NodeHistory>,
}

/// Why a heartbeat was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum HeartbeatError {
    /// The timestamp is NaN or infinite.
    NotFinite,
    /// The timestamp is earlier than the node's last heartbeat.
    Earlier { last: f64 },
}

impl PhiAccrualDetector {
    /// A detector with `config` (validated).
    pub fn new(config: PhiConfig) -> Result<Self, PhiConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            names: Vec::new(),
            index: HashMap::new(),
            nodes: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PhiConfig {
        &self.config
    }

    /// Names of the nodes heard from, in first-heartbeat order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of nodes heard from.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no node has sent a heartbeat.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// True when `node` has sent at least one heartbeat (and was not removed since).
    pub fn contains(&self, node: &str) -> bool {
        self.index.contains_key(node)
    }

    fn phi_of(&self, history: &NodeHistory, at: f64) -> f64 {
        let elapsed = at - history.last_heartbeat;
        let mean = history.window.mean() + self.config.acceptable_heartbeat_pause;
        let std = history
            .window
            .std_deviation()
            .max(self.config.min_std_deviation);
        phi_from_stats(elapsed, mean, std)
    }

    /// Record a heartbeat from `node` at time `at`.
    pub fn heartbeat(&mut self, node: &str, at: f64) -> Result<(), HeartbeatError> {
        if !at.is_finite() {
            return Err(HeartbeatError::NotFinite);
        }
        match self.index.get(node) {
            Some(&i) => {
                let last = self.nodes[i].last_heartbeat;
                if at < last {
                    return Err(HeartbeatError::Earlier { last });
                }
                let available = self.phi_of(&self.nodes[i], at) < self.config.threshold;
                let history = &mut self.nodes[i];
                if available {
                    history.window.push(at - last);
                }
                history.last_heartbeat = at;
            }
            None => {
                let mut window = HeartbeatWindow::new(self.config.max_sample_size);
                let estimate = self.config.first_heartbeat_estimate;
                let spread = estimate / 4.0;
                window.push(estimate - spread);
                window.push(estimate + spread);
                self.index.insert(node.to_string(), self.names.len());
                self.names.push(node.to_string());
                self.nodes.push(NodeHistory {
                    last_heartbeat: at,
                    window,
                });
            }
        }
        Ok(())
    }

    /// φ of `node` at time `at`; 0 for a node never heard from.
    pub fn phi(&self, node: &str, at: f64) -> f64 {
        match self.index.get(node) {
            Some(&i) => self.phi_of(&self.nodes[i], at),
            None => 0.0,
        }
    }

    /// True when φ of `node` at `at` is below the threshold.
    pub fn is_available(&self, node: &str, at: f64) -> bool {
        self.phi(node, at) < self.config.threshold
    }

    /// φ of the `i`-th node (in [`names`](Self::names) order) at `at`.
    pub fn phi_at_index(&self, i: usize, at: f64) -> f64 {
        self.phi_of(&self.nodes[i], at)
    }

    /// φ of every node at `at`, written into `out` (same order as [`names`](Self::names)).
    pub fn phi_all_into(&self, at: f64, out: &mut [f64]) {
        for (slot, history) in out.iter_mut().zip(&self.nodes) {
            *slot = self.phi_of(history, at);
        }
    }

    /// φ of every node at `at`, in [`names`](Self::names) order.
    pub fn phi_all(&self, at: f64) -> Vec<f64> {
        let mut out = vec![0.0; self.nodes.len()];
        self.phi_all_into(at, &mut out);
        out
    }

    /// Forget `node`; returns whether it was known. Later nodes keep their relative order.
    pub fn remove(&mut self, node: &str) -> bool {
        let Some(i) = self.index.remove(node) else {
            return false;
        };
        self.names.remove(i);
        self.nodes.remove(i);
        for name in &self.names[i..] {
            if let Some(slot) = self.index.get_mut(name) {
                *slot -= 1;
            }
        }
        true
    }

    /// Time of the last heartbeat of `node`.
    pub fn last_heartbeat(&self, node: &str) -> Option<f64> {
        self.index.get(node).map(|&i| self.nodes[i].last_heartbeat)
    }

    /// (mean, std deviation, sample count) of `node`'s window, unadjusted.
    pub fn stats(&self, node: &str) -> Option<(f64, f64, usize)> {
        self.index.get(node).map(|&i| {
            let w = &self.nodes[i].window;
            (w.mean(), w.std_deviation(), w.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal_cdf_from_phi(phi: f64) -> f64 {
        1.0 - 10f64.powf(-phi)
    }

    #[test]
    fn logistic_approximation_is_close_to_the_normal_cdf() {
        // Normal CDF values at z = 0, 0.6, 1.5, 2, 2.5, 3.5, 4 (tables).
        let cases = [
            (0.0, 0.5),
            (6.0, 0.7257),
            (15.0, 0.9332),
            (20.0, 0.97725),
            (25.0, 0.99379),
            (35.0, 0.99977),
            (40.0, 0.99997),
        ];
        for (t, expected) in cases {
            let got = normal_cdf_from_phi(phi_from_stats(t, 0.0, 10.0));
            assert!((got - expected).abs() < 1e-3, "t={t}: {got} vs {expected}");
        }
    }

    #[test]
    fn realistic_values_with_mean_one_second() {
        // φ for mean 1 s, σ 0.1 s, as listed in Akka's own test-suite (±0.1).
        let cases = [
            (0.0, 0.0),
            (0.5, 0.0),
            (1.0, 0.3),
            (1.2, 1.6),
            (1.4, 4.7),
            (1.6, 10.8),
            (1.7, 15.3),
        ];
        for (t, expected) in cases {
            let got = phi_from_stats(t, 1.0, 0.1);
            assert!((got - expected).abs() < 0.1, "t={t}: {got} vs {expected}");
        }
    }

    #[test]
    fn phi_grows_with_silence_and_heartbeats_reset_it() {
        let mut d = PhiAccrualDetector::new(PhiConfig::default()).unwrap();
        let mut t = 0.0;
        for _ in 0..100 {
            d.heartbeat("a", t).unwrap();
            t += 1.0;
        }
        let last = t - 1.0;
        let p1 = d.phi("a", last + 1.0);
        let p2 = d.phi("a", last + 2.0);
        let p3 = d.phi("a", last + 3.0);
        assert!(p1 < p2 && p2 < p3);
        assert!(d.is_available("a", last + 1.0));
        assert!(!d.is_available("a", last + 3.0));
        d.heartbeat("a", last + 3.0).unwrap();
        assert!(d.is_available("a", last + 3.5));
    }

    #[test]
    fn first_heartbeat_seeds_the_window_and_unknown_is_zero() {
        let mut d = PhiAccrualDetector::new(PhiConfig::default()).unwrap();
        assert_eq!(d.phi("x", 100.0), 0.0);
        d.heartbeat("x", 10.0).unwrap();
        let (mean, std, n) = d.stats("x").unwrap();
        assert_eq!(n, 2);
        assert!((mean - 1.0).abs() < 1e-12 && (std - 0.25).abs() < 1e-12);
        assert!(d.heartbeat("x", 9.0).is_err());
        assert!(d.heartbeat("x", f64::NAN).is_err());
    }

    #[test]
    fn unavailable_heartbeat_is_not_sampled() {
        let mut d = PhiAccrualDetector::new(PhiConfig::default()).unwrap();
        d.heartbeat("a", 0.0).unwrap();
        d.heartbeat("a", 1.0).unwrap();
        assert_eq!(d.stats("a").unwrap().2, 3);
        d.heartbeat("a", 100.0).unwrap();
        assert_eq!(d.stats("a").unwrap().2, 3);
    }

    #[test]
    fn remove_keeps_order_and_index() {
        let mut d = PhiAccrualDetector::new(PhiConfig::default()).unwrap();
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            d.heartbeat(n, i as f64).unwrap();
        }
        assert!(d.remove("b"));
        assert!(!d.remove("b"));
        assert_eq!(d.names(), &["a", "c", "d"]);
        assert_eq!(d.last_heartbeat("d"), Some(3.0));
        let all = d.phi_all(5.0);
        assert_eq!(all[2], d.phi("d", 5.0));
    }

    #[test]
    fn bad_config_names_the_field() {
        let c = PhiConfig {
            min_std_deviation: 0.0,
            ..PhiConfig::default()
        };
        assert_eq!(
            PhiAccrualDetector::new(c).unwrap_err().field,
            "min_std_deviation"
        );
    }
}
