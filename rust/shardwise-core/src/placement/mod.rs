//! Key placement algorithms: which node owns a key.
