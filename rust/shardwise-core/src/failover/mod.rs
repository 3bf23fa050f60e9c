//! Failure detection: the φ accrual failure detector (Hayashibara et al., as Akka implements it).

mod phi;
mod window;

pub use phi::{phi_from_stats, HeartbeatError, PhiAccrualDetector, PhiConfig, PhiConfigError};
pub use window::HeartbeatWindow;
