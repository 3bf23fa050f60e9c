//! Key placement algorithms: which node owns a key.

pub mod bounded;
pub mod memento;
pub mod multiprobe;
pub mod range;
pub mod redis_slots;
