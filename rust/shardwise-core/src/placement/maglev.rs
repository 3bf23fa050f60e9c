//! `Maglev`: Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted.
//!
//! Each node has a permutation of the table slots: `offset = xxh3_64(name, seed 1) mod M`,
//! `skip = xxh3_64(name, seed 2) mod (M - 1) + 1`, slot `j` of its preference list being
//! `(offset + j * skip) mod M`. Node `i` may fill `quota_i` slots: `floor(M * w_i / W)` plus
//! one for the `M - sum(floor)` nodes with the largest remainders (ties: lower index).
//! Rounds go over the nodes in index order; in each round every node still under quota
//! takes its next preferred empty slot, until the table is full. A key goes to
//! `table[xxh3_64(key) mod M]`: O(1). A node whose quota rounds to 0 owns no slot.

use super::nodes::{Error, NodeSet};
use super::{check_n, distinct_prefix, Placement};
use crate::hash;
use crate::keys::KeyRef;

/// Default table size (prime).
pub const DEFAULT_TABLE_SIZE: u32 = 65_537;
/// Largest table size accepted.
pub const MAX_TABLE_SIZE: u32 = 1 << 26;

/// Whether `n` is prime (trial division; `n <= MAX_TABLE_SIZE` keeps it quick).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u64;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

/// Weighted Maglev lookup table.
#[derive(Clone, Debug)]
pub struct Maglev {
    nodes: NodeSet,
    size: u32,
    table: Vec<u32>,
}

/// Slots each node may fill (largest remainder method).
pub fn quotas(weights: &[f64], size: u32) -> Vec<u64> {
    let total: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights
        .iter()
        .map(|&w| f64::from(size) * w / total)
        .collect();
    let mut q: Vec<u64> = exact.iter().map(|&e| e.floor() as u64).collect();
    let given: u64 = q.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let missing = u64::from(size).saturating_sub(given) as usize;
    for &i in order.iter().cycle().take(missing) {
        q[i] += 1;
    }
    q
}

impl Maglev {
    pub fn new(nodes: NodeSet, size: u32) -> Result<Self, Error> {
        if !(2..=MAX_TABLE_SIZE).contains(&size) || !is_prime(u64::from(size)) {
            return Err(Error::Config(format!(
                "table_size must be a prime in [2, {MAX_TABLE_SIZE}], got {size}"
            )));
        }
        let mut m = Maglev {
            nodes,
            size,
            table: Vec::new(),
        };
        m.check_fits(m.nodes.len())?;
        m.populate();
        Ok(m)
    }

    fn check_fits(&self, count: usize) -> Result<(), Error> {
        if count > self.size as usize {
            return Err(Error::Config(format!(
                "Maglev table_size {} is smaller than the number of nodes ({count}); \
                 use a prime table size well above the node count (about 100x)",
                self.size
            )));
        }
        Ok(())
    }

    pub fn table_size(&self) -> u32 {
        self.size
    }

    pub fn table(&self) -> &[u32] {
        &self.table
    }

    fn populate(&mut self) {
        let n = self.nodes.len();
        if n == 0 {
            self.table = Vec::new();
            return;
        }
        let m = u64::from(self.size);
        let (offsets, skips): (Vec<u64>, Vec<u64>) = self
            .nodes
            .names()
            .iter()
            .map(|name| {
                let b = name.as_bytes();
                (hash::xxh3_64(b, 1) % m, hash::xxh3_64(b, 2) % (m - 1) + 1)
            })
            .unzip();
        let quota = quotas(self.nodes.weights(), self.size);
        let mut next = vec![0u64; n];
        let mut filled = vec![0u64; n];
        let mut table = vec![u32::MAX; self.size as usize];
        let mut taken = 0u64;
        while taken < m {
            for i in 0..n {
                if filled[i] >= quota[i] {
                    continue;
                }
                loop {
                    let slot = ((offsets[i] + next[i] % m * skips[i]) % m) as usize;
                    next[i] += 1;
                    if table[slot] == u32::MAX {
                        table[slot] = i as u32;
                        filled[i] += 1;
                        taken += 1;
                        break;
                    }
                }
                if taken == m {
                    break;
                }
            }
        }
        self.table = table;
    }

    #[inline]
    fn slot(&self, key: KeyRef<'_>) -> usize {
        (key.with_bytes(|b| hash::xxh3_64(b, 0)) % u64::from(self.size)) as usize
    }
}

impl Placement for Maglev {
    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + std::mem::size_of_val(self.table.as_slice())
    }

    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        Some(self.table[self.slot(key)])
    }

    /// Distinct owners of the slots from the key's slot onwards (wrapping), then any node
    /// that owns no slot, in index order.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let s = self.slot(key);
        let walk = self.table[s..]
            .iter()
            .chain(&self.table[..s])
            .copied()
            .chain(0..self.nodes.len() as u32);
        Ok(distinct_prefix(self.nodes.len(), n, walk))
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        self.check_fits(self.nodes.len() + 1)?;
        self.nodes.push(name.to_owned(), weight)?;
        self.populate();
        Ok(())
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        self.nodes.remove(name)?;
        self.populate();
        Ok(())
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.set_weight(name, weight)?;
        self.populate();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_full_and_follows_quotas() {
        let nodes = NodeSet::new([("a", 1.0), ("b", 2.0), ("c", 1.0)]).unwrap();
        let m = Maglev::new(nodes, 65_537).unwrap();
        let mut counts = [0u64; 3];
        for &o in m.table() {
            counts[o as usize] += 1;
        }
        assert_eq!(counts.to_vec(), quotas(&[1.0, 2.0, 1.0], 65_537));
        assert_eq!(counts.iter().sum::<u64>(), 65_537);
    }

    #[test]
    fn validates_table_size() {
        for bad in [0u32, 1, 4, 65_536, MAX_TABLE_SIZE + 1] {
            assert!(Maglev::new(NodeSet::default(), bad).is_err(), "{bad}");
        }
        let nodes = NodeSet::new([("a", 1.0), ("b", 1.0), ("c", 1.0)]).unwrap();
        assert!(Maglev::new(nodes, 2).is_err());
        assert!(is_prime(65_537) && !is_prime(65_535));
    }
}
