//! A bounded window of heartbeat inter-arrival times with running sums.

use std::collections::VecDeque;

/// The last `capacity` inter-arrival times (seconds), with their sum and sum of squares kept
/// up to date so mean and standard deviation are O(1).
#[derive(Debug, Clone)]
pub struct HeartbeatWindow {
    capacity: usize,
    intervals: VecDeque<f64>,
    sum: f64,
    squared_sum: f64,
}

impl HeartbeatWindow {
    /// An empty window holding at most `capacity` (>= 1) samples.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            intervals: VecDeque::with_capacity(capacity.min(64)),
            sum: 0.0,
            squared_sum: 0.0,
        }
    }

    /// Append a sample, dropping the oldest one first when the window is full.
    pub fn push(&mut self, interval: f64) {
        if self.intervals.len() >= self.capacity {
            if let Some(oldest) = self.intervals.pop_front() {
                self.sum -= oldest;
                self.squared_sum -= oldest * oldest;
            }
        }
        self.intervals.push_back(interval);
        self.sum += interval;
        self.squared_sum += interval * interval;
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    /// True when no sample is held.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Mean of the samples (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.intervals.is_empty() {
            0.0
        } else {
            self.sum / self.intervals.len() as f64
        }
    }

    /// Population variance, `E[x²] - E[x]²` from the running sums (clamped at 0 against rounding).
    pub fn variance(&self) -> f64 {
        if self.intervals.is_empty() {
            return 0.0;
        }
        let mean = self.mean();
        (self.squared_sum / self.intervals.len() as f64 - mean * mean).max(0.0)
    }

    /// Population standard deviation.
    pub fn std_deviation(&self) -> f64 {
        self.variance().sqrt()
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = f64> + '_ {
        self.intervals.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_sums_match_direct_computation() {
        let mut w = HeartbeatWindow::new(3);
        for x in [1.0, 2.0, 3.0, 4.0, 5.0] {
            w.push(x);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.samples().collect::<Vec<_>>(), vec![3.0, 4.0, 5.0]);
        assert!((w.mean() - 4.0).abs() < 1e-12);
        assert!((w.variance() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn empty_window_is_zero() {
        let w = HeartbeatWindow::new(0);
        assert!(w.is_empty());
        assert_eq!(w.mean(), 0.0);
        assert_eq!(w.std_deviation(), 0.0);
    }
}
