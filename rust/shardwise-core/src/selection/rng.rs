//! The small deterministic PRNG of the random balancers, reproduced bit for bit by the twin.
//!
//! - seeding: four outputs of SplitMix64 started at `seed` fill the xoshiro256** state;
//! - draws: xoshiro256** (Blackman & Vigna), one `u64` per call;
//! - an index in `[0, n)` is the high 64 bits of `u * n` (Lemire's multiply, no rejection: the
//!   bias is at most `n / 2**64`), and the low 64 bits are a uniform fraction used by the alias
//!   method's coin.

use crate::hash::{splitmix64, GOLDEN_GAMMA};

/// One SplitMix64 step: advances `state` and returns the mixed output.
pub fn splitmix64_next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GOLDEN_GAMMA);
    splitmix64(*state)
}

/// xoshiro256** generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded through SplitMix64.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64_next(&mut sm),
            splitmix64_next(&mut sm),
            splitmix64_next(&mut sm),
            splitmix64_next(&mut sm),
        ];
        Rng { s }
    }

    /// A generator with this exact state (an all-zero state is replaced by seed 0's).
    pub fn from_state(s: [u64; 4]) -> Self {
        if s == [0; 4] {
            Rng::new(0)
        } else {
            Rng { s }
        }
    }

    /// The current state (for pickling).
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform index in `[0, n)` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Advance by 2**128 draws (xoshiro256**'s published jump polynomial).
    pub fn jump(&mut self) {
        const JUMP: [u64; 4] = [
            0x180e_c6d3_3cfd_0aba,
            0xd5a6_1266_f0c9_392c,
            0xa958_2618_e03f_c9aa,
            0x39ab_dc45_29b1_661c,
        ];
        let mut acc = [0u64; 4];
        for word in JUMP {
            for bit in 0..64 {
                if word & (1u64 << bit) != 0 {
                    for (a, s) in acc.iter_mut().zip(self.s) {
                        *a ^= s;
                    }
                }
                self.next_u64();
            }
        }
        self.s = acc;
    }

    /// The current stream, for draws made away from this generator's owner (e.g. without a
    /// lock); this generator jumps 2**128 draws ahead, so the two streams never overlap.
    pub fn split_off(&mut self) -> Rng {
        let stream = self.clone();
        self.jump();
        stream
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_vector() {
        // First outputs of SplitMix64 from seed 0 (published reference values).
        let mut s = 0u64;
        assert_eq!(splitmix64_next(&mut s), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64_next(&mut s), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn jump_matches_the_reference() {
        // xoshiro256** from state [1, 2, 3, 4], jumped once, per the reference C code's
        // published algorithm; the jumped stream shares no prefix with the original.
        let mut a = Rng::from_state([1, 2, 3, 4]);
        let mut b = a.split_off();
        assert_eq!(b.state(), [1, 2, 3, 4]);
        assert_ne!(a.state(), b.state());
        let firsts: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert!((0..4).all(|_| !firsts.contains(&a.next_u64())));
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::new(7);
        for n in 1..50 {
            for _ in 0..100 {
                assert!(r.below(n) < n);
            }
        }
        let u = r.unit();
        assert!((0.0..1.0).contains(&u));
    }
}
