//! Redis' `long double` arithmetic for INCRBYFLOAT and HINCRBYFLOAT.
//!
//! Redis parses with `strtold`, adds in x87 80-bit extended precision (a
//! 64-bit mantissa) and prints with `%.17Lf`, trimming trailing zeros. Rust
//! has no such type, and f64 gives other answers (`1.1 + 2.2` is `3.3` in
//! Redis). So this module emulates it exactly with big integers: correctly
//! rounded decimal parsing to a 64-bit mantissa, exact addition rounded to
//! nearest-even, and exact decimal printing. Denormal long doubles (below
//! 2^-16382) are not modelled.

use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};

/// An 80-bit extended value: `mant * 2^exp`, `mant` normalized to 64 bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum F80 {
    Zero { neg: bool },
    Finite { neg: bool, mant: u64, exp: i32 },
    Inf { neg: bool },
}

/// Largest binary exponent of an 80-bit value (`2^16384` overflows).
const MAX_EXP2: i64 = 16384;
/// Smallest normal exponent.
const MIN_EXP2: i64 = -16382;

/// Rounds `num / den * 2^shift0` (positive) to a 64-bit mantissa, nearest-even.
fn round_ratio(num: &BigUint, den: &BigUint, neg: bool) -> F80 {
    if num.is_zero() {
        return F80::Zero { neg };
    }
    // Choose k so that q = floor(num * 2^k / den) has exactly 64 bits.
    let mut k: i64 = 64 - (num.bits() as i64 - den.bits() as i64);
    loop {
        let (n, d) = if k >= 0 { (num << k as usize, den.clone()) } else { (num.clone(), den << (-k) as usize) };
        let q = &n / &d;
        let bits = q.bits();
        if bits > 64 {
            k -= 1;
            continue;
        }
        if bits < 64 {
            k += 1;
            continue;
        }
        let r = &n - &q * &d;
        let twice = &r << 1usize;
        let mut mant = q.to_u64().unwrap();
        let mut exp = -k;
        let round_up = match twice.cmp(&d) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => mant & 1 == 1,
            std::cmp::Ordering::Less => false,
        };
        if round_up {
            match mant.checked_add(1) {
                Some(m) => mant = m,
                None => {
                    mant = 1 << 63;
                    exp += 1;
                }
            }
        }
        // value = mant * 2^exp with mant in [2^63, 2^64): its binary
        // exponent is exp + 63.
        let e2 = exp + 63;
        if e2 >= MAX_EXP2 {
            return F80::Inf { neg };
        }
        if e2 < MIN_EXP2 {
            return F80::Zero { neg };
        }
        return F80::Finite { neg, mant, exp: exp as i32 };
    }
}

/// strtold's hexadecimal form: `0x` hex digits, optional fraction, optional
/// binary exponent `p[+-]digits`.
fn parse_hex(s: &str, neg: bool) -> Option<F80> {
    let (mantissa, exp2) = match s.split_once('p') {
        Some((m, e)) => (m, e.parse::<i64>().ok()?.clamp(-1_000_000, 1_000_000)),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = format!("{int}{frac}");
    let d = BigUint::parse_bytes(digits.as_bytes(), 16)?;
    if d.is_zero() {
        return Some(F80::Zero { neg });
    }
    let e = exp2 - 4 * frac.len() as i64;
    let v = if e >= 0 {
        round_ratio(&(d << e as usize), &BigUint::one(), neg)
    } else {
        round_ratio(&d, &(BigUint::one() << (-e) as usize), neg)
    };
    match v {
        F80::Finite { .. } => Some(v),
        _ => None,
    }
}

impl F80 {
    /// Parses like Redis' `string2ld`: a decimal number with optional sign,
    /// fraction and exponent, or `inf`/`infinity`. `None` for anything else,
    /// including NaN and values that overflow (ERANGE).
    pub fn parse(s: &[u8]) -> Option<F80> {
        let s = std::str::from_utf8(s).ok()?;
        if s.is_empty() || s.len() >= 5 * 1024 || s.starts_with(|c: char| c.is_ascii_whitespace()) {
            return None;
        }
        let (neg, body) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        if lower == "inf" || lower == "infinity" {
            return Some(F80::Inf { neg });
        }
        if let Some(hex) = lower.strip_prefix("0x") {
            return parse_hex(hex, neg);
        }
        let bytes = body.as_bytes();
        let mut i = 0;
        let mut digits = String::new();
        let mut frac_digits: i64 = 0;
        let mut any = false;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            digits.push(bytes[i] as char);
            i += 1;
            any = true;
        }
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                digits.push(bytes[i] as char);
                frac_digits += 1;
                i += 1;
                any = true;
            }
        }
        if !any {
            return None;
        }
        let mut exp10: i64 = 0;
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            let mut j = i + 1;
            let mut eneg = false;
            if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                eneg = bytes[j] == b'-';
                j += 1;
            }
            let start = j;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j == start {
                return None;
            }
            let e: i64 = body[start..j].parse().unwrap_or(i64::MAX / 4).min(1_000_000);
            exp10 = if eneg { -e } else { e };
            i = j;
        }
        if i != bytes.len() {
            return None;
        }
        let d: BigUint = digits.parse().ok()?;
        let e = exp10 - frac_digits;
        if d.is_zero() {
            return Some(F80::Zero { neg });
        }
        // Quick range checks before building huge powers.
        let approx = digits.trim_start_matches('0').len() as i64 + e;
        if approx > 4933 + 2 {
            return None; // overflow: ERANGE with HUGE_VAL
        }
        if approx < -4951 - 2 {
            return None; // underflow to zero: ERANGE
        }
        let v = if e >= 0 {
            round_ratio(&(d * BigUint::from(10u32).pow(e as u32)), &BigUint::one(), neg)
        } else {
            round_ratio(&d, &BigUint::from(10u32).pow((-e) as u32), neg)
        };
        match v {
            F80::Inf { .. } => None,
            F80::Zero { .. } => None,
            v => Some(v),
        }
    }

    pub fn is_finite(&self) -> bool {
        !matches!(self, F80::Inf { .. })
    }

    fn parts(&self) -> Option<(bool, BigUint, i64)> {
        match *self {
            F80::Zero { neg } => Some((neg, BigUint::zero(), 0)),
            F80::Finite { neg, mant, exp } => Some((neg, BigUint::from(mant), exp as i64)),
            F80::Inf { .. } => None,
        }
    }

    /// `self + other` rounded to 80-bit precision. `None` for NaN (inf - inf).
    pub fn add(&self, other: &F80) -> Option<F80> {
        match (self, other) {
            (F80::Inf { neg: a }, F80::Inf { neg: b }) => {
                return if a == b { Some(*self) } else { None };
            }
            (F80::Inf { .. }, _) => return Some(*self),
            (_, F80::Inf { .. }) => return Some(*other),
            _ => {}
        }
        let (an, am, ae) = self.parts().unwrap();
        let (bn, bm, be) = other.parts().unwrap();
        if am.is_zero() && bm.is_zero() {
            return Some(F80::Zero { neg: an && bn });
        }
        if am.is_zero() {
            return Some(*other);
        }
        if bm.is_zero() {
            return Some(*self);
        }
        let e = ae.min(be);
        let a = am << (ae - e) as usize;
        let b = bm << (be - e) as usize;
        let (neg, mag) = if an == bn {
            (an, a + b)
        } else if a >= b {
            (an, a - b)
        } else {
            (bn, b - a)
        };
        if mag.is_zero() {
            return Some(F80::Zero { neg: false });
        }
        Some(if e >= 0 {
            round_ratio(&(mag << e as usize), &BigUint::one(), neg)
        } else {
            round_ratio(&mag, &(BigUint::one() << (-e) as usize), neg)
        })
    }

    /// `%.17Lf` with trailing zeros (and a trailing point) removed, and
    /// "-0" printed as "0": Redis' `ld2string(..., LD_STR_HUMAN)`.
    pub fn to_human_string(&self) -> String {
        let (neg, m, e) = match self.parts() {
            Some(p) => p,
            None => {
                let neg = matches!(self, F80::Inf { neg: true });
                return if neg { "-inf".into() } else { "inf".into() };
            }
        };
        let scale = BigUint::from(10u32).pow(17);
        let q = if e >= 0 {
            (m << e as usize) * scale
        } else {
            let num = m * scale;
            let sh = (-e) as usize;
            let q = &num >> sh;
            let r = &num - (&q << sh);
            let half = BigUint::one() << (sh - 1);
            match r.cmp(&half) {
                std::cmp::Ordering::Greater => q + 1u32,
                std::cmp::Ordering::Equal if q.bit(0) => q + 1u32,
                _ => q,
            }
        };
        let mut digits = q.to_string();
        if digits.len() < 18 {
            digits = format!("{}{}", "0".repeat(18 - digits.len()), digits);
        }
        let (int, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        out.push_str(int);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        if out == "-0" {
            out = "0".into();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::F80;

    fn incr(a: &str, b: &str) -> String {
        let x = F80::parse(a.as_bytes()).unwrap();
        let y = F80::parse(b.as_bytes()).unwrap();
        x.add(&y).unwrap().to_human_string()
    }

    #[test]
    fn matches_redis_results() {
        // Each expectation is what Redis 7 answers for INCRBYFLOAT.
        assert_eq!(incr("1.1", "2.2"), "3.3");
        assert_eq!(incr("10.50", "0.1"), "10.6");
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("0", "3.0e3"), "3000");
        assert_eq!(incr("1", "-1"), "0");
        assert_eq!(incr("-0.1", "0.1"), "0");
        assert_eq!(incr("10", "-1.5"), "8.5");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("17179869184", "1.5"), "17179869185.5");
        assert_eq!(incr("1.5", "1e-20"), "1.5");
        // Where the 64-bit mantissa runs out, the 17 printed decimals show it.
        assert_eq!(incr("1000000000000000", "0.1"), "1000000000000000.0999755859375");
        assert_eq!(incr("123456789.123456789", "0.000000001"), "123456789.12345678999554366");
        assert_eq!(incr("1e20", "0.5"), "100000000000000000000");
        assert_eq!(incr("1", "0x10"), "17");
        assert_eq!(incr("0", "0x1.8p1"), "3");
        assert_eq!(
            incr("3", "1e300"),
            "1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144"
        );
    }

    #[test]
    fn parse_rejects_what_string2ld_rejects() {
        for bad in ["", " 1", "1 ", "abc", "1e", "nan", "1e99999", "1e-99999", "0x", "--1", "."] {
            assert!(F80::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(matches!(F80::parse(b"inf"), Some(F80::Inf { neg: false })));
        assert!(matches!(F80::parse(b"-Infinity"), Some(F80::Inf { neg: true })));
        assert_eq!(F80::parse(b"0").unwrap().to_human_string(), "0");
        assert_eq!(F80::parse(b"-0").unwrap().to_human_string(), "0");
        assert_eq!(F80::parse(b"+.5").unwrap().to_human_string(), "0.5");
    }
}
