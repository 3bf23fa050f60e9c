//! Timing harness (not a test): shardwise's bulk placement against the reference crates called
//! once per key from Rust, on the same keys, one thread, in one run. Prints ns per key.
//!
//!     cargo test --release -p shardwise-core --test oracle_speed -- --ignored --nocapture
//!
//! Settings: `ORACLE_KEYS` (default 10,000,000), `ORACLE_BUCKETS` (default 1000).

use std::hint::black_box;
use std::time::Instant;

use shardwise_core::hash::{splitmix64, GOLDEN_GAMMA};
use shardwise_core::keys::Keys;
use shardwise_core::placement::{
    AnchorHash, BinomialHash, FlipHash, JumpBackHash, NodeSet, Placement,
};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The best of `rounds` runs of `f`, in ns per key.
fn best(rounds: usize, keys: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e9 / keys as f64
        })
        .fold(f64::INFINITY, f64::min)
}

struct SplitMix(u64);

impl rand_core::RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        splitmix64(self.0)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

#[derive(Clone, Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn write(&mut self, _: &[u8]) {}
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn names(count: usize) -> NodeSet {
    NodeSet::new((0..count).map(|i| (format!("n{i}"), 1.0))).unwrap()
}

/// The best ns/key of ours and of theirs, over `rounds` rounds that run each once in turn (so
/// both see the same machine load).
fn interleaved(
    rounds: usize,
    keys: usize,
    mut ours: impl FnMut(),
    mut theirs: impl FnMut(),
) -> (f64, f64) {
    let (mut a, mut b) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        a = a.min(best(1, keys, &mut ours));
        b = b.min(best(1, keys, &mut theirs));
    }
    (a, b)
}

#[test]
#[ignore = "timing harness: run with --ignored --nocapture"]
fn bulk_against_the_reference_crates() {
    shardwise_core::par::set_num_threads(1);
    let count = setting("ORACLE_KEYS", 10_000_000);
    let buckets = setting("ORACLE_BUCKETS", 1000);
    let rounds = setting("ORACLE_ROUNDS", 9);
    let keys: Vec<u64> = (0..count as u64).map(|i| splitmix64(i ^ 0x5eed)).collect();
    let mut out = vec![0i32; count];
    let mut sink = vec![0u32; count];
    println!(
        "{count} keys, {buckets} buckets, one thread, best of {rounds} interleaved rounds (ns/key)"
    );

    let floor = (0..rounds)
        .map(|_| {
            best(1, count, || {
                for (o, &k) in out.iter_mut().zip(&keys) {
                    *o = k as i32;
                }
                black_box(&out);
            })
        })
        .fold(f64::INFINITY, f64::min);
    println!("memory floor (read 8 B, write 4 B per key, no work) {floor:.2}");

    let p = JumpBackHash::new(names(buckets)).unwrap();
    let (ours, theirs) = interleaved(
        rounds,
        count,
        || p.place_into(Keys::Ints(&keys), &mut out).unwrap(),
        || {
            for (s, &k) in sink.iter_mut().zip(&keys) {
                *s = jump_back_hash::bucket(&mut SplitMix(k), buckets as u32);
            }
            black_box(&sink);
        },
    );
    println!(
        "JumpBackHash  shardwise bulk {ours:.2}  jump-back-hash per key {theirs:.2}  ratio {:.1}x",
        theirs / ours
    );

    let p = FlipHash::new(names(buckets)).unwrap();
    let (ours, theirs) = interleaved(
        rounds,
        count,
        || p.place_into(Keys::Ints(&keys), &mut out).unwrap(),
        || {
            for (s, &k) in sink.iter_mut().zip(&keys) {
                *s = fliphash::fliphash_64(k, ..=(buckets as u64 - 1)) as u32;
            }
            black_box(&sink);
        },
    );
    println!(
        "FlipHash      shardwise bulk {ours:.2}  fliphash per key {theirs:.2}  ratio {:.1}x",
        theirs / ours
    );

    let p = BinomialHash::new(names(buckets)).unwrap();
    let jump = shardwise_core::placement::JumpHash::new(names(buckets)).unwrap();
    let mut jump_out = vec![0i32; count];
    let (ours, jumps) = interleaved(
        rounds,
        count,
        || p.place_into(Keys::Ints(&keys), &mut out).unwrap(),
        || jump.place_into(Keys::Ints(&keys), &mut jump_out).unwrap(),
    );
    println!(
        "BinomialHash  shardwise bulk {ours:.2}  (no Rust reference; JumpHash bulk {jumps:.2})"
    );

    let capacity = buckets;
    let mut anchor = AnchorHash::new(names(capacity), capacity as u32).unwrap();
    let mut oracle: anchorhash::AnchorHash<u64, u32, std::hash::BuildHasherDefault<Identity>> =
        anchorhash::Builder::with_hasher(Default::default())
            .with_resources(0..capacity as u32)
            .build(capacity as u16);
    let mut x = 1u64;
    for _ in 0..capacity / 10 {
        x = splitmix64(x);
        let victim = anchor.nodes().names()[(x % anchor.nodes().len() as u64) as usize].clone();
        anchor.remove_node(&victim).unwrap();
        oracle
            .remove_resource(&victim[1..].parse().unwrap())
            .unwrap();
    }
    let hashed: Vec<u64> = keys
        .iter()
        .map(|&k| shardwise_core::hash::xxh3_64_u64(k, 0))
        .collect();
    let (ours, theirs) = interleaved(
        rounds,
        count,
        || anchor.place_into(Keys::Ints(&keys), &mut out).unwrap(),
        || {
            for (s, &h) in sink.iter_mut().zip(&hashed) {
                *s = *oracle.get_resource(h).unwrap();
            }
            black_box(&sink);
        },
    );
    println!(
        "AnchorHash    shardwise bulk {ours:.2} (incl. XXH3 of the keys)  anchorhash per key {theirs:.2} (keys pre-hashed)  ratio {:.1}x  [10% of capacity {capacity} removed]",
        theirs / ours
    );
}

#[test]
#[ignore = "timing harness: run with --ignored --nocapture"]
fn kernels_alone() {
    use shardwise_core::placement::sequential::RangeHash;
    use shardwise_core::placement::{binomial::Binomial, flip::Flip, jumpback::JumpBack};
    fn compare<F: RangeHash>(name: &str, keys: &[u64], buckets: u32) {
        let mut out = vec![0u32; keys.len()];
        let (mut bulk, mut scalar) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..15 {
            bulk = bulk.min(best(1, keys.len(), || {
                F::buckets_into(keys, buckets, &mut out)
            }));
            scalar = scalar.min(best(1, keys.len(), || {
                for (o, &k) in out.iter_mut().zip(keys) {
                    *o = F::bucket(k, buckets);
                }
                black_box(&out);
            }));
        }
        println!("{name}: kernel {bulk:.2} ns/key, scalar {scalar:.2} ns/key");
    }
    let buckets = setting("ORACLE_BUCKETS", 1000) as u32;
    let size = setting("KERNEL_KEYS", 8192);
    let keys: Vec<u64> = (0..size as u64).map(|i| splitmix64(i ^ 0x5eed)).collect();
    for _ in 0..3 {
        compare::<JumpBack>("jumpback", &keys, buckets);
        compare::<Flip>("flip", &keys, buckets);
        compare::<Binomial>("binomial", &keys, buckets);
    }
}
