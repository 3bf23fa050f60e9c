//! `KetamaRing`: continua identical to libketama's and to uhashring's ketama mode.
//!
//! Both put 4 points per MD5 digest of `"{name}-{k}"` (point `h` = bytes `4h..4h+4`
//! little-endian) and hash keys with the first 4 bytes of MD5, little-endian. They differ in:
//!
//! - `Libketama`: server `i` gets `floorf(pct * 40.0 * (float)n)` digests, with
//!   `pct = (float)w_i / (float)W` in float32 and the product in double, as libketama's C code;
//!   a key goes to the first point `>= hash`, wrapping; equal points: the earlier server wins.
//!   Names are at most 21 bytes (libketama's address field), weights whole numbers.
//! - `Uhashring`: node `i` gets `(vnodes * n * w_i) // W` digests in integers (vnodes default
//!   40); a key goes to the first point `> hash` (Python's `bisect`), wrapping; equal points:
//!   the later node wins (its entry overwrote the earlier one). Weights are whole numbers.
//!   uhashring hashes `str(key)`: integer keys are hashed as their decimal text (unsigned
//!   64-bit value); the bindings turn bytes keys into their `repr` before they get here.

use super::continuum::{Continuum, Points, MAX_POINTS};
use super::nodes::{check_integral_weight, Error, NodeSet};
use super::util::{check_vnodes, decimal, push_decimal};
use super::{check_n, distinct_prefix, Placement};
use crate::hash;
use crate::keys::{KeyRef, Keys};
use crate::text::quoted;

/// Default digests per node in uhashring's ketama mode.
pub const UHASHRING_DEFAULT_VNODES: u32 = 40;
/// Longest server name libketama stores (its address field holds 22 bytes with the NUL).
pub const LIBKETAMA_MAX_NAME: usize = 21;

/// Which system's continuum to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KetamaFlavor {
    Libketama,
    Uhashring,
}

impl KetamaFlavor {
    pub fn name(self) -> &'static str {
        match self {
            KetamaFlavor::Libketama => "libketama",
            KetamaFlavor::Uhashring => "uhashring",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "libketama" => Ok(KetamaFlavor::Libketama),
            "uhashring" => Ok(KetamaFlavor::Uhashring),
            _ => Err(Error::Config(format!(
                "unknown ketama flavor {}; choose \"libketama\" or \"uhashring\"",
                quoted(name)
            ))),
        }
    }
}

/// A ketama continuum in one of the two flavors.
#[derive(Clone, Debug)]
pub struct KetamaRing {
    nodes: NodeSet,
    flavor: KetamaFlavor,
    vnodes: u32,
    ring: Continuum,
}

/// libketama's digest count for one server.
pub fn libketama_digests(memory: u64, total: u128, servers: usize) -> u64 {
    let pct = memory as f32 / total as f32;
    let product = f64::from(pct) * 40.0 * f64::from(servers as f32);
    (product as f32).floor() as u64
}

/// uhashring's digest count for one node (`total` is the sum of the weights: up to 2**53 per
/// node, so it may exceed 64 bits).
pub fn uhashring_digests(vnodes: u32, nodes: usize, weight: u64, total: u128) -> u64 {
    let ks = u128::from(vnodes) * nodes as u128 * u128::from(weight) / total;
    u64::try_from(ks).unwrap_or(u64::MAX)
}

impl KetamaRing {
    pub fn new(nodes: NodeSet, flavor: KetamaFlavor, vnodes: u32) -> Result<Self, Error> {
        let mut r = KetamaRing {
            nodes: NodeSet::default(),
            flavor,
            vnodes,
            ring: Continuum::default(),
        };
        if flavor == KetamaFlavor::Libketama && vnodes != 40 {
            return Err(Error::Config(format!(
                "libketama always uses 40 digests (160 points) per server; vnodes={vnodes} \
                 is only for flavor=\"uhashring\""
            )));
        }
        check_vnodes(vnodes)?;
        for (name, &w) in nodes.names().iter().zip(nodes.weights()) {
            r.check_node(name, w)?;
        }
        r.rebuild(nodes)?;
        Ok(r)
    }

    pub fn flavor(&self) -> KetamaFlavor {
        self.flavor
    }

    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    pub fn continuum(&self) -> &Continuum {
        &self.ring
    }

    fn check_node(&self, name: &str, weight: f64) -> Result<(), Error> {
        let why = match self.flavor {
            KetamaFlavor::Libketama => "(libketama weights are integer memory sizes)",
            KetamaFlavor::Uhashring => "(uhashring computes point counts in integers)",
        };
        check_integral_weight(name, weight, why)?;
        if self.flavor == KetamaFlavor::Libketama && name.len() > LIBKETAMA_MAX_NAME {
            return Err(Error::Config(format!(
                "libketama server names are at most {LIBKETAMA_MAX_NAME} bytes; {} has {}",
                quoted(name),
                name.len()
            )));
        }
        Ok(())
    }

    /// Digests per node, in index order.
    fn digest_counts(&self, nodes: &NodeSet) -> Vec<u64> {
        let w: Vec<u64> = nodes.weights().iter().map(|&x| x as u64).collect();
        let total: u128 = w.iter().map(|&x| u128::from(x)).sum();
        let n = nodes.len();
        w.iter()
            .map(|&wi| match self.flavor {
                KetamaFlavor::Libketama => libketama_digests(wi, total, n),
                KetamaFlavor::Uhashring => uhashring_digests(self.vnodes, n, wi, total),
            })
            .collect()
    }

    fn rebuild(&mut self, nodes: NodeSet) -> Result<(), Error> {
        let counts = self.digest_counts(&nodes);
        let digests: u64 = counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
        if digests.saturating_mul(4) > MAX_POINTS as u64 {
            return Err(Error::Config(format!(
                "the continuum would hold {} points, more than the limit of {MAX_POINTS}",
                digests.saturating_mul(4)
            )));
        }
        let mut pairs = Vec::new();
        pairs.try_reserve_exact(digests as usize * 4)?;
        let mut label = Vec::new();
        for (i, (name, &count)) in nodes.names().iter().zip(&counts).enumerate() {
            for k in 0..count {
                label.clear();
                label.extend_from_slice(name.as_bytes());
                label.push(b'-');
                push_decimal(&mut label, k);
                let d = hash::md5(&label);
                for h in 0..4 {
                    let p =
                        u32::from_le_bytes([d[4 * h], d[4 * h + 1], d[4 * h + 2], d[4 * h + 3]]);
                    pairs.push((u64::from(p), i as u32));
                }
            }
        }
        self.ring = match self.flavor {
            KetamaFlavor::Libketama => {
                Continuum::try_build(Points::Pairs(pairs), 32, |a, b| a.cmp(&b))?
            }
            KetamaFlavor::Uhashring => {
                Continuum::try_build(Points::Pairs(pairs), 32, |a, b| b.cmp(&a))?
            }
        };
        self.nodes = nodes;
        Ok(())
    }

    /// The key's position hash under this flavor's key rules.
    #[inline]
    pub fn key_hash(&self, key: KeyRef<'_>) -> u64 {
        let h = match (self.flavor, key) {
            (_, KeyRef::Int(v)) => {
                let mut buf = [0u8; 20];
                hash::ketama(decimal(&mut buf, v))
            }
            (_, KeyRef::Bytes(b)) => hash::ketama(b),
        };
        u64::from(h)
    }

    fn strict(&self) -> bool {
        self.flavor == KetamaFlavor::Uhashring
    }
}

impl Placement for KetamaRing {
    fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + self.ring.memory_bytes()
    }

    fn nodes(&self) -> &NodeSet {
        &self.nodes
    }

    #[inline]
    fn locate(&self, key: KeyRef<'_>) -> Option<u32> {
        self.ring.owner(self.key_hash(key), self.strict())
    }

    /// Keys hashed in blocks, then looked up together (see [`Continuum::place_hashed`]).
    fn place_into(&self, keys: Keys<'_>, out: &mut [i32]) -> Result<(), Error> {
        if self.nodes.is_empty() || self.ring.is_empty() {
            return Err(Error::NoNodes);
        }
        assert_eq!(keys.len(), out.len(), "place_into: output length differs");
        self.ring.place_hashed(out, self.strict(), |first, hashes| {
            keys.for_each_in(first, hashes.len(), |j, k| hashes[j] = self.key_hash(k));
        });
        Ok(())
    }

    /// Distinct owners clockwise from the key, then (for nodes with no point, possible with
    /// tiny weights) the remaining nodes in index order.
    fn locate_n(&self, key: KeyRef<'_>, n: usize) -> Result<Vec<u32>, Error> {
        check_n(&self.nodes, n)?;
        let walk = self
            .ring
            .walk(self.key_hash(key), self.strict())
            .chain(0..self.nodes.len() as u32);
        Ok(distinct_prefix(self.nodes.len(), n, walk))
    }

    fn add_node(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.check_new(name, weight)?;
        self.check_node(name, weight)?;
        let mut nodes = self.nodes.clone();
        nodes.push(name.to_owned(), weight)?;
        self.rebuild(nodes)
    }

    fn remove_node(&mut self, name: &str) -> Result<(), Error> {
        let mut nodes = self.nodes.clone();
        nodes.remove(name)?;
        self.rebuild(nodes)
    }

    fn set_weight(&mut self, name: &str, weight: f64) -> Result<(), Error> {
        self.nodes.require(name)?;
        self.check_node(name, weight)?;
        let mut nodes = self.nodes.clone();
        nodes.set_weight(name, weight)?;
        self.rebuild(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libketama_point_counts() {
        // Observed with the `ketama` package: weights 300, 100, 50 give 476 points.
        let nodes = NodeSet::new([
            ("10.0.0.1:11211", 300.0),
            ("10.0.0.2:11211", 100.0),
            ("x", 50.0),
        ])
        .unwrap();
        let r = KetamaRing::new(nodes, KetamaFlavor::Libketama, 40).unwrap();
        assert_eq!(r.continuum().len(), 476);
    }

    #[test]
    fn flavor_rules() {
        assert!(KetamaFlavor::from_name("memcached").is_err());
        let nodes = NodeSet::new([("a", 1.5)]).unwrap();
        assert!(KetamaRing::new(nodes, KetamaFlavor::Uhashring, 40).is_err());
        let nodes = NodeSet::new([("a-very-long-server-name:11211", 1.0)]).unwrap();
        assert!(KetamaRing::new(nodes.clone(), KetamaFlavor::Libketama, 40).is_err());
        assert!(KetamaRing::new(nodes, KetamaFlavor::Uhashring, 40).is_ok());
        let nodes = NodeSet::new([("a", 1.0)]).unwrap();
        assert!(KetamaRing::new(nodes, KetamaFlavor::Libketama, 160).is_err());
    }
}
