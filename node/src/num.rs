//! Redis' number parsing and formatting rules.

use crate::reply::{err, Reply};

/// Redis' `string2ll`: an optional '-', no '+', no leading zeros, no spaces,
/// at most 20 characters, within i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// An integer argument (Redis' getLongLongFromObjectOrReply): the value, or
/// "value is not an integer or out of range".
pub fn parse_i64_arg(s: &[u8]) -> Result<i64, Reply> {
    parse_i64(s).ok_or_else(|| Reply::error(err::NOT_INTEGER))
}

/// Redis' `string2l`-style parse of a non-negative count or index argument.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    parse_i64(s).and_then(|v| u64::try_from(v).ok())
}

/// Redis 7.0's rendering of doubles (`%.17g`, and `inf`/`-inf`), used for
/// scores in RESP2 bulk strings, RESP3 doubles and ZSCAN.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    format_g(d, 17)
}

/// A double as Redis prints a `long double` for people (`ld2string`'s
/// human mode: `%.17Lf` without trailing zeros, `-0` as `0`). A double
/// converts to a long double exactly, and Rust prints the exact value's
/// digits, rounded, as C does.
pub fn format_human_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{d:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// C's `%.<precision>g` of a finite double.
pub fn format_g(d: f64, precision: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // %g picks scientific notation when the exponent (after rounding to
    // `precision` significant digits) is < -4 or >= precision.
    let sci = format!("{:.*e}", precision - 1, d);
    let (mant, e) = sci.split_once('e').unwrap();
    let e: i32 = e.parse().unwrap();
    if !(-4..precision as i32).contains(&e) {
        let mant = trim_zeros(mant);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", e.abs())
    } else {
        let decimals = (precision as i32 - 1 - e).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// C's `strtod` over [`c_string`]`(s)`: the value, the bytes consumed (0 when
/// no number starts `s`), and whether strtod reported ERANGE. Redis parses
/// with the C library's strtod; calling the same function (in the C locale,
/// which a Rust program never leaves) gives its hexadecimal floats,
/// `infinity` spellings, leading spaces and rounding exactly.
pub(crate) fn c_strtod(s: &[u8]) -> (f64, usize, bool) {
    let c = std::ffi::CString::new(c_string(s)).expect("no NUL in a C string");
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated and outlives the call; strtod writes
    // `end` within it. errno is this thread's own.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(c.as_ptr(), &mut end);
        let erange = *libc::__errno_location() == libc::ERANGE;
        (v, end.offset_from(c.as_ptr()) as usize, erange)
    }
}

/// What C sees of `s`: the bytes before its first NUL (Redis' strings end in
/// one, so the C parsers Redis uses stop there).
pub fn c_string(s: &[u8]) -> &[u8] {
    &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
}

/// C's isspace in the C locale (Rust's is_ascii_whitespace leaves out \v).
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis' `string2d` (getDoubleFromObject: ZADD scores, ZINCRBY, WEIGHTS):
/// all of `s` is one strtod number, without a leading space, NaN, or a
/// magnitude that overflows or underflows to 0. `inf` and `0x10` pass.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let (v, used, erange) = c_strtod(s);
    let out_of_range = erange && (v.is_infinite() || v == 0.0);
    (used == s.len() && !v.is_nan() && !out_of_range).then_some(v)
}

/// A SORT weight the way Redis' SORT reads one: strtod must reach the end
/// of the C string, without NaN or a magnitude out of range (ERANGE); an
/// empty string is 0.
pub fn parse_sort_weight(s: &[u8]) -> Option<f64> {
    let (v, used, erange) = c_strtod(s);
    (used == c_string(s).len() && !v.is_nan() && !erange).then_some(v)
}

/// A score bound the way Redis' `zslParseRange` reads one: strtod must
/// reach the string's end (or a NUL byte in it) and give no NaN. Laxer than
/// [`parse_f64`]: leading spaces pass, an empty string is 0 and an
/// overflow is infinite.
pub fn parse_range_f64(s: &[u8]) -> Option<f64> {
    let (v, used, _) = c_strtod(s);
    (used == c_string(s).len() && !v.is_nan()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::{format_double, parse_i64};

    #[test]
    fn doubles_like_printf_g17() {
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(123456789.0), "123456789");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }

    #[test]
    fn scores_like_string2d() {
        use super::parse_f64;
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"4.9e-324"), Some(4.9e-324));
        assert!(parse_f64(b"-0").unwrap().is_sign_negative());
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e309", b"-1e309", b"1e-400", b"1e", b"abc", b"1\x002"] {
            assert_eq!(parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn range_bounds_like_zsl_parse_range() {
        use super::parse_range_f64;
        assert_eq!(parse_range_f64(b""), Some(0.0));
        assert_eq!(parse_range_f64(b" 1"), Some(1.0));
        assert_eq!(parse_range_f64(b"1e309"), Some(f64::INFINITY));
        assert_eq!(parse_range_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_range_f64(b"2\x00junk"), Some(2.0));
        for bad in [&b"1 "[..], b"nan", b"x", b"1e"] {
            assert_eq!(parse_range_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn strict_like_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"-", b"+1", b"01", b"-0", b" 1", b"1 ", b"1.0", b"9223372036854775808", b"abc"] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
