//! Key placement algorithms: which node owns a key.
//!
//! Every algorithm holds a [`NodeSet`] (names and weights in index order) and implements
//! [`Placement`]: `locate` one key, `locate_n` distinct replicas, bulk `place`, and
//! `add_node` / `remove_node` / `set_weight`. Node indices are positions in the node set;
//! removing a node shifts the later ones down by one (order is otherwise preserved).

pub mod continuum;
pub mod jump;
pub mod ketama;
pub mod maglev;
pub mod nodes;
pub mod rendezvous;
pub mod ring;
pub mod skeleton;
pub mod util;

pub use jump::JumpHash;
pub use ketama::{KetamaFlavor, KetamaRing};
pub use maglev::Maglev;
pub use nodes::{Error, NodeSet};
pub use rendezvous::Rendezvous;
pub use ring::HashRing;
pub use skeleton::SkeletonRendezvous;

use crate::keys::{KeyRef, Keys};

/// The interface every placement algorithm implements.
pub trait Placement: Clone + Send + Sync {
    /// The nodes, in index order.
    fn nodes(&self) -> &NodeSet;

    /// The index of the node owning `key`; `None` only when there are no nodes.
    fn locate(&self, key: KeyRef<'_>) -> Option<u32>;

    /// Refuse a key this placement cannot place (checked before `locate`; most accept every
    /// key).
    fn check_key(&self, _key: KeyRef<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// `n` distinct node indices in preference order (the first is `locate(key)`).
    /// Errors: no nodes, or `n` greater than the number of nodes.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error>;

    /// Append a node (it gets the last index).
    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error>;

    /// Remove a node; later indices shift down by one.
    fn remove_node(&mut self, name: &str) -> Result<(), Error>;

    /// Change a node's weight (its index is kept).
    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error>;

    /// Owner index of every key into `out` (one slot per key), in parallel for large batches.
    ///
    /// # Panics
    /// If `out.len() != keys.len()` (a programming error; callers check it).
    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes().is_empty() {
            return Err(Error::NoNodes);
        }
        keys.map_into(out, |k| self.locate(k).map_or(-1, |i| i as i32));
        Ok(())
    }

    /// Bytes of memory the placement holds for lookups (its node list included): what
    /// `shardwise simulate` reports. The default counts the node list only.
    fn memory_bytes(&self) -> usize {
        self.nodes().memory_bytes()
    }

    /// Owner index of every key, as a new array (see [`Placement::place_into`]).
    fn place(&self, keys: Keys<'_>) -> Result<Vec<i32>, Error> {
        let mut out = crate::mem::try_zeroed_vec(keys.len())?;
        self.place_into(keys, &mut out)?;
        Ok(out)
    }

    /// Whether a key's owner in a bulk `place` depends on the other keys of the batch (bounded
    /// loads), rather than on the key alone.
    fn owners_depend_on_batch(&self) -> bool {
        false
    }
}

/// [`Placement::place_into`], except that a dictionary-encoded column is placed once per
/// distinct value (when owners depend on the key alone) and the owners copied by index.
pub fn place_keys_into<P: Placement>(p: &P, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
    if !p.owners_depend_on_batch() {
        if let Some(done) = keys.by_distinct(out, |k, o| p.place_into(k, o)) {
            return done;
        }
    }
    p.place_into(keys, out)
}

/// Validate `n` for `locate_n` against a node set.
pub fn check_n(nodes: &NodeSet, n: usize) -> Result<(), Error> {
    if nodes.is_empty() {
        return Err(Error::NoNodes);
    }
    if n > nodes.len() {
        return Err(Error::Config(format!(
            "asked for {n} distinct nodes but only {} exist",
            nodes.len()
        )));
    }
    Ok(())
}

/// Collect the first `n` distinct indices of `candidates` (which must eventually yield every node).
pub fn distinct_prefix(
    node_count: usize,
    n: usize,
    candidates: impl Iterator<Item = u32>,
) -> Vec<u32> {
    let mut seen = vec![false; node_count];
    let mut out = Vec::with_capacity(n);
    for c in candidates {
        if out.len() == n {
            break;
        }
        if !std::mem::replace(&mut seen[c as usize], true) {
            out.push(c);
        }
    }
    out
}

/// `f(k, segment k)` for every segment `out[offsets[k]..offsets[k + 1]]`, segments grouped
/// into about equal parts over threads for large outputs.
pub fn fill_segments<T: Send>(
    out: &mut [T],
    offsets: &[usize],
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let segments = offsets.len().saturating_sub(1);
    let threads = crate::par::threads_for(out.len()).min(segments.max(1));
    if threads <= 1 {
        for k in 0..segments {
            f(k, &mut out[offsets[k]..offsets[k + 1]]);
        }
        return;
    }
    let per = out.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let mut rest = out;
        let mut first = 0usize;
        while first < segments {
            let mut last = first + 1;
            while last < segments && offsets[last] - offsets[first] < per {
                last += 1;
            }
            let (mine, tail) =
                std::mem::take(&mut rest).split_at_mut(offsets[last] - offsets[first]);
            rest = tail;
            let base = offsets[first];
            s.spawn(move || {
                for k in first..last {
                    f(k, &mut mine[offsets[k] - base..offsets[k + 1] - base]);
                }
            });
            first = last;
        }
    });
}

/// `build(nodes after change)`: the whole structure rebuilt on a changed copy of `nodes`
/// (for algorithms without an incremental update); `nodes` is untouched on error.
pub fn rebuilt<T, R>(
    nodes: &NodeSet,
    change: impl FnOnce(&mut NodeSet) -> Result<R, Error>,
    build: impl FnOnce(NodeSet) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut next = nodes.clone();
    change(&mut next)?;
    build(next)
}

/// The index `i` had before node `removed` was taken out (for indices stored by an algorithm).
#[inline]
pub fn shifted(i: u32, removed: u32) -> u32 {
    if i > removed {
        i - 1
    } else {
        i
    }
}

// MementoHash, multi-probe, bounded loads, ranges and Redis Cluster slots.
pub mod bounded;
pub mod memento;
pub mod multiprobe;
pub mod range;
pub mod redis_slots;

pub use bounded::BoundedLoadRing;
pub use memento::MementoHash;
pub use multiprobe::MultiProbe;
pub use range::RangePartitioner;
pub use redis_slots::RedisClusterSlots;

// Constant-time range hashes and fixed-capacity placements (issue 14).
pub mod anchor;
pub mod binomial;
pub mod blocks;
pub mod dx;
pub mod flip;
pub mod jumpback;
pub mod sequential;
pub mod simd;
pub mod slots;

pub use anchor::AnchorHash;
pub use binomial::BinomialHash;
pub use dx::DxHash;
pub use flip::FlipHash;
pub use jumpback::JumpBackHash;
