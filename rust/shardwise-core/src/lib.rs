//! shardwise-core: every algorithm of shardwise, with no Python dependency.
//!
//! - [`hash`]: the hash functions and the key model ([`keys`]) shared by everything else;
//! - [`column`]: byte-string keys read in place from Arrow-layout buffers;
//! - [`mem`]: large zeroed buffers on huge pages;
//! - [`par`]: chunked parallel fill with scoped threads (no global pool, so it is fork-safe);
//! - [`placement`], [`selection`], [`failover`]: the capabilities built on top.

pub mod column;
pub mod error;
pub mod failover;
pub mod hash;
pub mod keys;
pub mod mem;
pub mod par;
pub mod placement;
pub mod selection;
pub mod text;

pub use error::Error;
