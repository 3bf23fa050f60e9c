//! Failure detection (φ accrual) and related numeric hot paths.
