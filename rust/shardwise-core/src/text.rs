//! Message text that reads the same from Rust and from the pure-Python twins: names quoted
//! and floats written as Python's `repr` writes them.

/// `name` quoted as Python's `repr` quotes a str, so that messages read the same from the
/// Rust classes and their pure-Python twins: single quotes unless the name holds a single
/// quote and no double quote; backslash, quote and control characters escaped.
pub fn quoted(name: &str) -> String {
    let quote = if name.contains('\'') && !name.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(name.len() + 2);
    out.push(quote);
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `x` as Python's `repr(float)` writes it (`1.0`, `1e+16`, `1.5e-07`, `nan`, `inf`).
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    // Rust's Debug is also the shortest round-trip form, in scientific notation from the same
    // thresholds (exponent < -4 or >= 16); only the exponent's spelling differs.
    let debug = format!("{x:?}");
    match debug.split_once('e') {
        None => debug,
        Some((mantissa, exp)) => {
            let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_reprs() {
        assert_eq!(quoted("a"), "'a'");
        assert_eq!(quoted("it's"), "\"it's\"");
        assert_eq!(quoted("a'\"\n\u{1}"), "'a\\'\"\\n\\x01'");
        assert_eq!(quoted("épsilon"), "'épsilon'");
        let cases = [
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (0.0, "0.0"),
            (0.5, "0.5"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (1e300, "1e+300"),
            (123456789012345.0, "123456789012345.0"),
            (0.0001, "0.0001"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float(x), want, "{x}");
        }
    }
}
