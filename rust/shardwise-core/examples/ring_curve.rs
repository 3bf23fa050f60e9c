//! The HashRing size curve: build time, bulk lookup time and index memory from 10 to 1M nodes.
//!
//! `cargo run --release -p shardwise-core --example ring_curve -- 10x160 100000x160 1000000x16`
//! prints one Markdown row per `NODESxVNODES`: points, build (all threads, fastest of 3, wall and
//! CPU), lookup of 2M uint64 keys on one thread (fastest of 7, thread CPU time) and the bytes
//! per point of the bucket index and of the entries. The Python-level curve (with numpy's
//! `searchsorted` in the same run) is `benches/bench_placement_scale.py`.

use std::time::Instant;

use shardwise_core::keys::Keys;
use shardwise_core::placement::ring::RingHash;
use shardwise_core::placement::{HashRing, NodeSet, Placement};

/// Seconds of CPU time of the process (`thread == false`) or of the calling thread.
#[cfg(target_os = "linux")]
fn cpu_seconds(thread: bool) -> f64 {
    let clock = if thread {
        libc::CLOCK_THREAD_CPUTIME_ID
    } else {
        libc::CLOCK_PROCESS_CPUTIME_ID
    };
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Elsewhere: wall time since the first call.
#[cfg(not(target_os = "linux"))]
fn cpu_seconds(_thread: bool) -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

fn keys(count: usize) -> Vec<u64> {
    let mut x = 0x1234_5678_9abc_def0u64;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .collect()
}

fn main() {
    let keys = keys(2_000_000);
    let mut out = vec![0i32; keys.len()];
    println!("| nodes × vnodes | points | build ms (wall / CPU) | lookup ns/key | index B/point | entries B/point |");
    println!("|---|---:|---:|---:|---:|---:|");
    for arg in std::env::args().skip(1) {
        let Some((n, v)) = arg.split_once('x') else {
            eprintln!("skipping {arg:?}: expected NODESxVNODES");
            continue;
        };
        let (Ok(n), Ok(v)) = (n.parse::<usize>(), v.parse::<u32>()) else {
            eprintln!("skipping {arg:?}: expected NODESxVNODES");
            continue;
        };
        let names: Vec<String> = (0..n).map(|i| format!("node-{i}")).collect();
        shardwise_core::par::set_num_threads(0);
        let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
        let mut ring = None;
        for _ in 0..3 {
            let nodes = NodeSet::new(names.iter().map(|s| (s.as_str(), 1.0))).expect("nodes");
            drop(ring.take());
            let (t, c) = (Instant::now(), cpu_seconds(false));
            ring = Some(HashRing::new(nodes, v, RingHash::Xxh3_64).expect("ring"));
            wall = wall.min(t.elapsed().as_secs_f64());
            cpu = cpu.min(cpu_seconds(false) - c);
        }
        let ring = ring.expect("built");
        shardwise_core::par::set_num_threads(1);
        let mut lookup = f64::MAX;
        for _ in 0..7 {
            let t = cpu_seconds(true);
            ring.place_into(Keys::Ints(&keys), &mut out).expect("place");
            lookup = lookup.min(cpu_seconds(true) - t);
        }
        let c = ring.continuum();
        let per_point = |bytes: usize| bytes as f64 / c.len() as f64;
        println!(
            "| {n} × {v} | {} | {:.1} / {:.1} | {:.1} | {:.1} | {:.1} |",
            c.len(),
            wall * 1e3,
            cpu * 1e3,
            lookup / keys.len() as f64 * 1e9,
            per_point(c.index_bytes()),
            per_point(c.entries_bytes()),
        );
    }
}
