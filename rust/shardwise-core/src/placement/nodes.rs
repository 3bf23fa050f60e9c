//! The node set shared by every placement algorithm: names and weights in index order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::text::{py_float, quoted};
pub use crate::Error;

/// Most nodes a placement may hold.
pub const MAX_NODES: usize = 1 << 24;

/// Check one weight: finite and > 0.
pub fn check_weight(name: &str, weight: f64) -> Result<(), Error> {
    if weight.is_finite() && weight > 0.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "weight of node {} must be a finite number > 0, got {}",
            quoted(name),
            py_float(weight)
        )))
    }
}

/// Check that a weight is a whole number in [1, 2**53] (for algorithms whose compatibility needs it).
pub fn check_integral_weight(name: &str, weight: f64, why: &str) -> Result<u64, Error> {
    check_weight(name, weight)?;
    if weight.fract() != 0.0 || weight > 9_007_199_254_740_992.0 {
        return Err(Error::Config(format!(
            "weight of node {} must be a whole number in [1, 2**53] {why}, got {}",
            quoted(name),
            py_float(weight)
        )));
    }
    Ok(weight as u64)
}

/// The name index's hasher: XXH3 with a fixed seed. Names come from the application's own
/// configuration, so SipHash's protection against chosen keys buys nothing here, and building
/// a 10,000-node ring spends less time hashing its names.
#[derive(Clone, Copy, Default)]
pub struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = crate::hash::xxh3_64(bytes, self.0);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Names and weights, validated: names unique and non-empty, weights finite and > 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSet {
    names: Vec<String>,
    weights: Vec<f64>,
    index: HashMap<String, u32, BuildHasherDefault<NameHasher>>,
}

impl NodeSet {
    /// A node set from `(name, weight)` pairs, in order.
    pub fn new<I, S>(nodes: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (S, f64)>,
        S: Into<String>,
    {
        let mut set = NodeSet::default();
        for (name, weight) in nodes {
            set.push(name.into(), weight)?;
        }
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    pub fn weight(&self, i: u32) -> f64 {
        self.weights[i as usize]
    }

    pub fn total_weight(&self) -> f64 {
        self.weights.iter().sum()
    }

    /// Bytes held by the names, weights and the name index (an estimate of the heap they use).
    pub fn memory_bytes(&self) -> usize {
        let per_node = 2 * std::mem::size_of::<String>() + std::mem::size_of::<f64>() + 8;
        let text: usize = self.names.iter().map(String::len).sum();
        self.names.len() * per_node + 2 * text
    }

    /// The index of `name`, if present.
    pub fn index_of(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The index of `name`, or an `UnknownNode` error.
    pub fn require(&self, name: &str) -> Result<u32, Error> {
        self.index_of(name)
            .ok_or_else(|| Error::UnknownNode(name.to_owned()))
    }

    /// Check that `name` could be added with `weight`, without adding it.
    pub fn check_new(&self, name: &str, weight: f64) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::Config("node names must be non-empty".to_owned()));
        }
        if self.index.contains_key(name) {
            return Err(Error::Config(format!(
                "duplicate node name {}",
                quoted(name)
            )));
        }
        if self.names.len() >= MAX_NODES {
            return Err(Error::Config(format!(
                "too many nodes (the limit is {MAX_NODES})"
            )));
        }
        check_weight(name, weight)
    }

    /// Append a node; returns its index.
    pub fn push(&mut self, name: String, weight: f64) -> Result<u32, Error> {
        self.check_new(&name, weight)?;
        let i = self.names.len() as u32;
        self.index.insert(name.clone(), i);
        self.names.push(name);
        self.weights.push(weight);
        Ok(i)
    }

    /// Remove a node; returns the index it had. Later nodes shift down by one.
    pub fn remove(&mut self, name: &str) -> Result<u32, Error> {
        let i = self.require(name)?;
        self.index.remove(name);
        self.names.remove(i as usize);
        self.weights.remove(i as usize);
        for (j, n) in self.names.iter().enumerate().skip(i as usize) {
            self.index.insert(n.clone(), j as u32);
        }
        Ok(i)
    }

    /// Change a node's weight; returns its index.
    pub fn set_weight(&mut self, name: &str, weight: f64) -> Result<u32, Error> {
        let i = self.require(name)?;
        check_weight(name, weight)?;
        self.weights[i as usize] = weight;
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_indexes() {
        let mut s = NodeSet::new([("a", 1.0), ("b", 2.0), ("c", 0.5)]).unwrap();
        assert_eq!(s.index_of("b"), Some(1));
        assert_eq!(s.total_weight(), 3.5);
        assert_eq!(s.remove("a").unwrap(), 0);
        assert_eq!(s.names(), ["b", "c"]);
        assert_eq!(s.index_of("c"), Some(1));
        assert_eq!(s.set_weight("c", 4.0).unwrap(), 1);
        assert_eq!(s.weights(), [2.0, 4.0]);
        assert!(matches!(s.remove("zz"), Err(Error::UnknownNode(_))));
    }

    #[test]
    fn refuses_bad_input() {
        for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(NodeSet::new([("a", w)]), Err(Error::Config(_))));
        }
        assert!(NodeSet::new([("a", 1.0), ("a", 1.0)]).is_err());
        assert!(NodeSet::new([("", 1.0)]).is_err());
        assert!(check_integral_weight("a", 1.5, "for x").is_err());
        assert_eq!(check_integral_weight("a", 3.0, "for x").unwrap(), 3);
    }
}
