//! Load balancers: which backend serves the next request.
//!
//! Every balancer is a [`Balancer`] (a [`Pool`] of backends with health, backups, panic
//! threshold and slow start, see [`pool`]) driven by one algorithm:
//! [`RoundRobin`] (nginx's smooth weighted round robin), [`WeightedRandom`] (Vose alias),
//! [`LeastConnections`], [`PowerOfTwo`] (optionally with peak EWMA) — `LoadAware` is a
//! `WeightedRandom` whose weights are scaled by reported load ([`Pool::set_load`]).
//! Times (`now`) are seconds on any monotonic clock chosen by the caller.

pub mod balancer;
pub mod least_connections;
pub mod pool;
pub mod power_of_two;
pub mod rng;
pub mod round_robin;
pub mod weighted_random;

pub use balancer::{Algorithm, Balancer, Choose};
pub use least_connections::{Fewest, LeastConnections};
pub use pool::{Backend, Health, Mode, Pool, PoolConfig};
pub use power_of_two::{PeakEwma, PowerOfTwo, TwoChoices};
pub use rng::Rng;
pub use round_robin::{RoundRobin, SmoothWeighted};
pub use weighted_random::{Alias, Sampler, WeightedRandom};

pub use crate::Error;

#[cfg(test)]
mod tests {
    use super::*;

    fn rr(config: PoolConfig) -> RoundRobin {
        let mut b = RoundRobin::new(config, SmoothWeighted::default()).unwrap();
        for n in ["a", "b", "c", "d"] {
            b.add_node(n, 1.0, false, false, 0.0).unwrap();
        }
        b.add_node("z", 1.0, true, false, 0.0).unwrap();
        b
    }

    #[test]
    fn backups_only_when_no_primary_is_up() {
        let mut b = rr(PoolConfig::default());
        for n in ["a", "b", "c"] {
            b.set_health(n, Health::Down, 0.0).unwrap();
        }
        assert!((0..8).all(|_| b.pick(0.0).unwrap() == 3));
        b.set_health("d", Health::Draining, 0.0).unwrap();
        assert!((0..8).all(|_| b.pick(0.0).unwrap() == 4));
        b.set_health("z", Health::Down, 0.0).unwrap();
        assert!(matches!(b.pick(0.0), Err(Error::NoBackend(_))));
    }

    #[test]
    fn panic_ignores_health() {
        let mut b = rr(PoolConfig {
            panic_threshold: 50.0,
            ..PoolConfig::default()
        });
        b.set_health("a", Health::Down, 0.0).unwrap();
        b.set_health("b", Health::Down, 0.0).unwrap();
        assert!((0..8).all(|_| b.pick(0.0).unwrap() >= 2)); // 50% up: not panicking
        b.set_health("c", Health::Down, 0.0).unwrap();
        let mut seen = [false; 5];
        for _ in 0..8 {
            seen[b.pick(0.0).unwrap()] = true;
        }
        assert_eq!(seen, [true, true, true, true, false]);
    }

    #[test]
    fn slow_start_ramps() {
        let mut b = RoundRobin::new(
            PoolConfig {
                slow_start: 10.0,
                slow_start_floor: 0.1,
                ..PoolConfig::default()
            },
            SmoothWeighted::default(),
        )
        .unwrap();
        b.add_node("a", 1.0, false, false, 0.0).unwrap();
        b.add_node("b", 1.0, false, false, 0.0).unwrap();
        b.set_health("b", Health::Down, 0.0).unwrap();
        b.set_health("b", Health::Up, 100.0).unwrap();
        let count_b =
            |b: &mut RoundRobin, now: f64| (0..100).filter(|_| b.pick(now).unwrap() == 1).count();
        assert!((8..=10).contains(&count_b(&mut b, 100.0))); // weight 0.1 vs 1
        assert!((32..=35).contains(&count_b(&mut b, 105.0))); // 0.5 vs 1
        assert!((49..=51).contains(&count_b(&mut b, 110.0)));
        assert!(!b.pool().view.ramping);
    }

    #[test]
    fn bad_input() {
        let mut b = rr(PoolConfig::default());
        assert!(matches!(
            b.add_node("x", f64::NAN, false, false, 0.0),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            b.add_node("x", 0.0, false, false, 0.0),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            b.add_node("a", 1.0, false, false, 0.0),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            b.set_health("nope", Health::Up, 0.0),
            Err(Error::UnknownNode(_))
        ));
        assert!(PoolConfig {
            panic_threshold: 101.0,
            ..PoolConfig::default()
        }
        .validate()
        .is_err());
    }
}
