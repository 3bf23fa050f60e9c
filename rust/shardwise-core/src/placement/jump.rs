//! `JumpHash`: Lamping & Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent
//! Hash Algorithm", 2014). Buckets are node indices. Integer keys are used as they are; other
//! keys are hashed with XXH3-64 first. Only the last node can be removed (that is the
//! algorithm's nature); for arbitrary removal use `MementoHash`.

use super::nodes::{NodeSet, PlacementError};
use super::{check_n, Placement};
use crate::hash;
use crate::keys::{KeyRef, Keys};

/// The reference jump consistent hash: a bucket in `[0, buckets)`; `buckets` must be >= 1.
#[inline]
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// [`jump`] of every key (ints raw, bytes through XXH3-64), in parallel for large batches.
pub fn jump_keys(keys: Keys<'_>, buckets: u32) -> Vec<i32> {
    const BLOCK: usize = 1 << 16;
    let len = keys.len();
    let mut out = vec![0i32; len];
    let offsets: Vec<usize> = (0..=len.div_ceil(BLOCK))
        .map(|b| (b * BLOCK).min(len))
        .collect();
    super::fill_segments(&mut out, &offsets, |b, block| {
        jump_block(keys, offsets[b], block, buckets);
    });
    out
}

/// Keys in flight at once in [`jump_block`].
const LANES: usize = 8;

/// `out[i] = jump(key start + i)`, running [`LANES`] keys side by side: one key's chain of
/// dependent divisions is slow, independent chains overlap. A lane that finishes takes the
/// next key. Same arithmetic as [`jump`], so the same results.
fn jump_block(keys: Keys<'_>, start: usize, out: &mut [i32], buckets: u32) {
    let n = i64::from(buckets);
    let total = out.len();
    let mut slot = [usize::MAX; LANES];
    let mut k = [0u64; LANES];
    let mut b = [-1i64; LANES];
    let mut j = [0i64; LANES];
    let mut next = 0usize;
    let mut live = 0usize;
    for l in 0..LANES {
        if next < total {
            slot[l] = next;
            k[l] = jump_key(keys.get(start + next));
            next += 1;
            live += 1;
        }
    }
    while live > 0 {
        for l in 0..LANES {
            if slot[l] == usize::MAX {
                continue;
            }
            if j[l] < n {
                b[l] = j[l];
                k[l] = k[l].wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
                j[l] =
                    ((b[l] + 1) as f64 * ((1u64 << 31) as f64 / ((k[l] >> 33) + 1) as f64)) as i64;
            } else {
                out[slot[l]] = b[l] as i32;
                if next < total {
                    slot[l] = next;
                    k[l] = jump_key(keys.get(start + next));
                    b[l] = -1;
                    j[l] = 0;
                    next += 1;
                } else {
                    slot[l] = usize::MAX;
                    live -= 1;
                }
            }
        }
    }
}

/// The 64-bit value jump uses for a key: ints as they are, bytes through XXH3-64.
#[inline]
pub fn jump_key(key: KeyRef<'_>) -> u64 {
    match key {
        KeyRef::Int(v) => v,
        KeyRef::Bytes(b) => hash::xxh3_64(b, 0),
    }
}

/// The SplitMix64 finaliser: derives the replica keys of `locate_n`.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Jump consistent hash over the node list; every weight must be 1.
#[derive(Clone, Debug)]
pub struct JumpHash {
    nodes: NodeSet,
}

fn check_unit(name: &str, weight: f64) -> Result<(), PlacementError> {
    super::nodes::check_weight(name, weight)?;
    if weight != 1.0 {
        return Err(PlacementError::Config(format!(
            "JumpHash does not support weights (node {name:?} has weight {weight}); \
             use Rendezvous, Maglev or HashRing for weighted placement"
        )));
    }
    Ok(())
}

impl JumpHash {
    pub fn new(nodes: NodeSet) -> Result<Self, PlacementError> {
        for (name, &w) in nodes.names().iter().zip(nodes.weights()) {
            check_unit(name, w)?;
        }
        Ok(JumpHash { nodes })
    }
}

impl Placement for JumpHash {
    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        let n = self.nodes.len() as u32;
        (n > 0).then(|| jump(jump_key(key), n))
    }

    /// Replica `r` is `jump(mix64(k + r), len - r)` over the nodes not yet chosen (in index
    /// order); replica 0 is `locate(key)`.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, PlacementError> {
        check_n(&self.nodes, n)?;
        let k = jump_key(key);
        let mut left: Vec<u32> = (0..self.nodes.len() as u32).collect();
        let mut out = Vec::with_capacity(n);
        for r in 0..n {
            let rk = if r == 0 {
                k
            } else {
                mix64(k.wrapping_add(r as u64))
            };
            let b = jump(rk, left.len() as u32) as usize;
            out.push(left.remove(b));
        }
        Ok(out)
    }

    fn place(&self, keys: Keys<'_>) -> Result<Vec<i32>, PlacementError> {
        if self.nodes.is_empty() {
            return Err(PlacementError::NoNodes);
        }
        Ok(jump_keys(keys, self.nodes.len() as u32))
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), PlacementError> {
        self.nodes.check_new(name, weight)?;
        check_unit(name, weight)?;
        self.nodes.push(name.to_owned(), weight)?;
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), PlacementError> {
        let i = self.nodes.require(name)? as usize;
        if i + 1 != self.nodes.len() {
            return Err(PlacementError::Config(format!(
                "JumpHash can only remove its last node ({:?}), not {name:?}; \
                 use MementoHash for arbitrary removal",
                self.nodes.names().last().expect("non-empty")
            )));
        }
        self.nodes.remove(name)?;
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), PlacementError> {
        self.nodes.require(name)?;
        check_unit(name, weight)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // From the jump-consistent-hash package (the paper's reference code).
        assert_eq!(jump(12345, 10), 1);
        assert_eq!(jump(0, 1), 0);
        for k in 0..1000u64 {
            for n in 1..50u32 {
                let a = jump(k, n);
                let b = jump(k, n + 1);
                assert!(a < n);
                assert!(b == a || b == n, "monotone: only moves to the new bucket");
            }
        }
    }

    #[test]
    fn bulk_equals_scalar() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let keys: Vec<u64> = (0..100_003)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                x
            })
            .collect();
        for n in [1u32, 2, 7, 1000, 65_537, i32::MAX as u32] {
            for len in [0usize, 1, 7, 9, 100_003] {
                let got = jump_keys(Keys::Ints(&keys[..len]), n);
                assert_eq!(got.len(), len);
                assert!(keys.iter().zip(&got).all(|(&k, &g)| jump(k, n) as i32 == g));
            }
        }
    }

    #[test]
    fn only_last_removable() {
        let mut j = JumpHash::new(NodeSet::new([("a", 1.0), ("b", 1.0)]).unwrap()).unwrap();
        assert!(j.remove_node("a").is_err());
        j.remove_node("b").unwrap();
        assert!(j.add_node("c", 2.0).is_err());
        assert_eq!(j.locate_n(KeyRef::Int(7), 1).unwrap(), vec![0]);
    }
}
