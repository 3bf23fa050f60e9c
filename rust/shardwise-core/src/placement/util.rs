//! Small pieces several placement algorithms share: size limits, point counts, decimal labels
//! and the checks that go with them.

use super::continuum::MAX_POINTS;
use super::nodes::{check_weight, Error};
use crate::text::{py_float, quoted};

/// Default virtual nodes (ring points) per unit of weight of the rings.
pub const DEFAULT_VNODES: u32 = 160;
/// Most virtual nodes (ring points) per unit of weight.
pub const MAX_VNODES: u32 = 1 << 20;

/// Refuse a `vnodes` outside `[1, MAX_VNODES]`.
pub fn check_vnodes(vnodes: u32) -> Result<(), Error> {
    if vnodes == 0 || vnodes > MAX_VNODES {
        return Err(Error::Config(format!(
            "vnodes must be in [1, {MAX_VNODES}], got {vnodes}"
        )));
    }
    Ok(())
}

/// Ring points of a node of `weight`: `round(vnodes * weight)`, at least 1 (weights above
/// [`MAX_POINTS`] count as `MAX_POINTS`, which no ring can hold anyway).
pub fn point_count(vnodes: u32, weight: f64) -> u64 {
    ((f64::from(vnodes) * weight.min(MAX_POINTS as f64)).round() as u64).max(1)
}

/// Refuse a ring of `total` points (a float: sums of huge weights must not wrap).
pub fn check_points(total: f64) -> Result<(), Error> {
    if total > MAX_POINTS as f64 {
        return Err(Error::Config(format!(
            "the ring would hold {total:.0} points, more than the limit of {MAX_POINTS}; \
             lower vnodes or the weights"
        )));
    }
    Ok(())
}

/// Total ring points of `weights` at `vnodes` per unit, refused past [`MAX_POINTS`].
pub fn total_points(vnodes: u32, weights: &[f64]) -> Result<u64, Error> {
    let total: f64 = weights.iter().map(|&w| point_count(vnodes, w) as f64).sum();
    check_points(total)?;
    Ok(total as u64)
}

/// The decimal digits of `v`, written at the end of `buf`.
#[inline]
pub fn decimal(buf: &mut [u8; 20], mut v: u64) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[at..];
        }
    }
}

/// Append the decimal digits of `v`.
pub fn push_decimal(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(decimal(&mut [0u8; 20], v));
}

/// A weight for an unweighted algorithm (`class`): valid, and exactly 1.
pub fn check_unit_weight(class: &str, name: &str, weight: f64) -> Result<(), Error> {
    check_weight(name, weight)?;
    if weight != 1.0 {
        return Err(Error::Config(format!(
            "{class} does not support weights (node {} has weight {}); \
             use Rendezvous, Maglev, HashRing or DxHash for weighted placement",
            quoted(name),
            py_float(weight)
        )));
    }
    Ok(())
}

/// The error of a change that a placement with a fixed layout (`class`) cannot make.
pub fn fixed_layout(class: &str, what: &str, instead: &str) -> Error {
    Error::Config(format!("{class} cannot {what}: {instead}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_quotes() {
        let mut v = Vec::new();
        push_decimal(&mut v, 0);
        push_decimal(&mut v, 18_446_744_073_709_551_615);
        assert_eq!(v, b"018446744073709551615");
    }

    #[test]
    fn point_counts_round_and_cap() {
        assert_eq!(point_count(160, 1.0), 160);
        assert_eq!(point_count(160, 0.001), 1);
        assert_eq!(point_count(3, 0.5), 2);
        assert!(total_points(160, &[1e300, 1e300]).is_err());
        assert_eq!(total_points(10, &[1.0, 2.0]).unwrap(), 30);
    }
}
