//! HyperLogLog sketches in Redis' own representation, so that a sketch is a
//! string that reads, dumps and restores byte for byte as Redis has it, and
//! every count and every change of the bytes matches Redis 7's.
//!
//! A sketch is a 16-byte header (`HYLL`, the encoding, three unused bytes,
//! the cached cardinality as 8 little-endian bytes whose top bit marks it
//! stale) and 16384 six-bit registers, stored one of two ways:
//! - dense: the registers packed, least significant bits first (12288
//!   bytes);
//! - sparse: run-length opcodes. ZERO `00xxxxxx` is 1-64 zero registers,
//!   XZERO `01xxxxxx yyyyyyyy` 1-16384 zero registers, VAL `1vvvvvxx` 1-4
//!   registers of value 1-32. A sketch starts sparse and turns dense when a
//!   register needs more than 32 or the sparse form would pass
//!   [`SPARSE_MAX_BYTES`].
//!
//! An element goes to register `hash & 16383` (MurmurHash64A, Redis' seed)
//! and raises it to the position of the first 1 bit of the rest of the hash.
//! The count is Ertl's estimator ("New cardinality estimation algorithms for
//! HyperLogLog sketches", arXiv:1702.01284), computed in the same order of
//! floating-point operations as Redis, so that it gives the same integer.

pub const REGISTERS: usize = 1 << 14;
const HASH_BITS_USED: u32 = 14;
/// Bits of the hash left to find the first 1 in.
const Q: usize = 64 - HASH_BITS_USED as usize;
const HEADER: usize = 16;
/// The length of a dense sketch.
pub const DENSE_SIZE: usize = HEADER + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const REGISTER_MAX: u8 = 63;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
/// Redis' default `hll-sparse-max-bytes`: a sparse sketch that would grow
/// past this many bytes (header included) turns dense. Fixed here: every
/// replica must make the same choice.
pub const SPARSE_MAX_BYTES: usize = 3000;
// Redis writes 0.721347520444481703680; this is the same double.
const ALPHA_INF: f64 = 0.7213475204444817;
const SEED: u64 = 0xadc83b19;

/// A sparse sketch whose opcodes do not cover exactly the 16384 registers.
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Whether a string value is a sketch (Redis' isHLLObjectOrReply): long
/// enough for the header, the magic, a known encoding, and a dense sketch
/// of exactly the dense length.
pub fn is_sketch(v: &[u8]) -> bool {
    v.len() >= HEADER && &v[..4] == b"HYLL" && v[4] <= SPARSE && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

/// An empty sketch: sparse, every register in XZERO runs, cached count 0.
pub fn new_sketch() -> Vec<u8> {
    let mut v = vec![0u8; HEADER];
    v[..4].copy_from_slice(b"HYLL");
    v[4] = SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(SPARSE_XZERO_MAX_LEN);
        v.extend_from_slice(&xzero(n));
        left -= n;
    }
    v
}

/// The cached count, when it is not stale.
pub fn cached_count(v: &[u8]) -> Option<u64> {
    (v[15] & 0x80 == 0).then(|| u64::from_le_bytes(v[8..16].try_into().unwrap()))
}

pub fn set_cached_count(v: &mut [u8], n: u64) {
    v[8..16].copy_from_slice(&n.to_le_bytes());
}

pub fn invalidate_cache(v: &mut [u8]) {
    v[15] |= 0x80;
}

pub fn is_dense(v: &[u8]) -> bool {
    v[4] == DENSE
}

// ---- Sparse opcodes ----

#[derive(Clone, Copy)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    /// The registers the opcode covers.
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    /// The value of those registers.
    fn value(self) -> u8 {
        match self {
            Op::Val(v, _) => v,
            _ => 0,
        }
    }
}

/// The opcode at `v[p]`, with its length in bytes. An XZERO cut off by the
/// end of the string reads its second byte as 0, as Redis reads the
/// string's terminating NUL.
fn op_at(v: &[u8], p: usize) -> (Op, usize) {
    let b = v[p];
    if b & 0xc0 == 0 {
        (Op::Zero((b & 0x3f) as usize + 1), 1)
    } else if b & 0x80 == 0 {
        let lo = v.get(p + 1).copied().unwrap_or(0) as usize;
        (Op::XZero((((b & 0x3f) as usize) << 8 | lo) + 1), 2)
    } else {
        (Op::Val(((b >> 2) & 0x1f) + 1, (b & 0x3) as usize + 1), 1)
    }
}

fn val(value: u8, len: usize) -> u8 {
    ((value - 1) << 2 | (len as u8 - 1)) | 0x80
}

fn zero_run(len: usize) -> Vec<u8> {
    if len > SPARSE_ZERO_MAX_LEN {
        xzero(len).to_vec()
    } else {
        vec![(len - 1) as u8]
    }
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | 0x40, (l & 0xff) as u8]
}

// ---- Dense registers ----

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = regs[byte] as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    ((b0 >> fb | b1 << (8 - fb)) & REGISTER_MAX as u16) as u8
}

fn dense_put(regs: &mut [u8], i: usize, value: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = value as u16;
    regs[byte] &= !((REGISTER_MAX as u16) << fb) as u8;
    regs[byte] |= (v << fb) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next &= !((REGISTER_MAX as u16) >> (8 - fb)) as u8;
        *next |= (v >> (8 - fb)) as u8;
    }
}

/// Raises register `i` of a dense sketch to `count`; whether it rose.
fn dense_raise(v: &mut [u8], i: usize, count: u8) -> bool {
    let regs = &mut v[HEADER..];
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

// ---- Hashing ----

/// MurmurHash64A, as Redis computes it (little-endian words).
fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut k = u64::from_le_bytes(w.try_into().unwrap());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to, and the value it offers there: the
/// position of the first 1 bit in the hash past the register bits (at most
/// Q + 1).
fn register_of(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> HASH_BITS_USED) | 1 << Q;
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---- Changing a sketch ----

/// Adds an element; whether a register rose.
pub fn add(v: &mut Vec<u8>, element: &[u8]) -> Result<bool, Corrupt> {
    let (i, count) = register_of(element);
    raise(v, i, count)
}

/// Raises register `i` to `count` if it is lower; whether it rose. A sparse
/// sketch may turn dense doing so.
pub fn raise(v: &mut Vec<u8>, i: usize, count: u8) -> Result<bool, Corrupt> {
    if is_dense(v) {
        Ok(dense_raise(v, i, count))
    } else {
        sparse_raise(v, i, count)
    }
}

/// Redis' hllSparseSet: finds the opcode that covers register `i`, splits
/// it around the new value, then merges equal VAL opcodes next to it. Its
/// choices (which split, which merges, when to turn dense) decide the bytes,
/// so they follow Redis' step by step.
fn sparse_raise(v: &mut Vec<u8>, i: usize, count: u8) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(v, i, count);
    }
    // Step 1: the opcode at `p` covers registers [first, first + span).
    let mut end = v.len();
    let (mut p, mut first, mut prev) = (HEADER, 0usize, None);
    let mut found = None;
    while p < end {
        let (op, oplen) = op_at(v, p);
        if i < first + op.span() {
            found = Some((op, oplen));
            break;
        }
        prev = Some(p);
        p += oplen;
        first += op.span();
    }
    let Some((op, oplen)) = found else { return Err(Corrupt) };
    let span = op.span();
    // Step 2: the trivial cases change the opcode in place.
    let in_place = match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => true,
        _ => false,
    };
    if in_place {
        v[p] = val(count, 1);
    } else {
        // The run split around register i: at most XZERO VAL XZERO.
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        match op {
            Op::Val(cur, _) => {
                if i != first {
                    seq.push(val(cur, i - first));
                }
                seq.push(val(count, 1));
                if i != last {
                    seq.push(val(cur, last - i));
                }
            }
            _ => {
                if i != first {
                    seq.extend(zero_run(i - first));
                }
                seq.push(val(count, 1));
                if i != last {
                    seq.extend(zero_run(last - i));
                }
            }
        }
        // Step 3: the split replaces the opcode, unless the sketch would
        // grow too big for the sparse form.
        let new_len = end as isize + seq.len() as isize - oplen as isize;
        if seq.len() > oplen && new_len as usize > SPARSE_MAX_BYTES {
            return promote(v, i, count);
        }
        v.splice(p..(p + oplen).min(end), seq);
        // An XZERO cut off at the end: Redis' new length still counts its
        // missing byte as replaced, so the last byte written falls past it.
        v.truncate(new_len as usize);
        end = v.len();
    }
    // Step 4: merge VAL opcodes of one value, up to 5 opcodes from the one
    // before the change.
    let mut p = prev.unwrap_or(HEADER);
    let mut scan = 5;
    while p < end && scan > 0 {
        scan -= 1;
        match op_at(v, p) {
            (Op::XZero(_), _) => {
                p += 2;
                continue;
            }
            (Op::Zero(_), _) => {
                p += 1;
                continue;
            }
            (Op::Val(v1, l1), _) => {
                if p + 1 < end {
                    if let (Op::Val(v2, l2), _) = op_at(v, p + 1) {
                        if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                            v[p + 1] = val(v1, l1 + l2);
                            v.remove(p);
                            end -= 1;
                            continue;
                        }
                    }
                }
                p += 1;
            }
        }
    }
    invalidate_cache(v);
    Ok(true)
}

/// Turns the sketch dense, then raises register `i` (which the caller knows
/// is lower). Keeps the header (and so the cached count) as it is.
fn promote(v: &mut Vec<u8>, i: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(v)?;
    Ok(dense_raise(v, i, count))
}

/// Visits the runs of a sparse sketch in order, as (first register, length,
/// value). A sketch whose runs do not cover exactly the 16384 registers is
/// corrupt; a run that would pass the last register stops the walk (as
/// Redis does since the fix for CVE-2025-32023, which Debian's 7.0 has).
fn for_each_run(v: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let mut idx = 0;
    let mut p = HEADER;
    while p < v.len() {
        let (op, oplen) = op_at(v, p);
        let n = op.span();
        if idx + n > REGISTERS {
            return Err(Corrupt);
        }
        f(idx, n, op.value());
        idx += n;
        p += oplen;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// Rewrites a sparse sketch as dense (Redis' hllSparseToDense).
pub fn to_dense(v: &mut Vec<u8>) -> Result<(), Corrupt> {
    if is_dense(v) {
        return Ok(());
    }
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HEADER].copy_from_slice(&v[..HEADER]);
    d[4] = DENSE;
    let regs = &mut d[HEADER..];
    for_each_run(v, |first, n, value| {
        if value != 0 {
            for r in first..first + n {
                dense_put(regs, r, value);
            }
        }
    })?;
    *v = d;
    Ok(())
}

/// Raises each register of `max` to the sketch's (Redis' hllMerge).
pub fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Corrupt> {
    if is_dense(v) {
        let regs = &v[HEADER..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    for_each_run(v, |first, n, value| {
        for m in &mut max[first..first + n] {
            *m = (*m).max(value);
        }
    })
}

// ---- Counting ----

/// The estimated number of distinct elements a stored sketch saw.
pub fn count(v: &[u8]) -> Result<u64, Corrupt> {
    let mut histogram = [0u32; 64];
    if is_dense(v) {
        let regs = &v[HEADER..];
        for i in 0..REGISTERS {
            histogram[dense_get(regs, i) as usize] += 1;
        }
    } else {
        for_each_run(v, |_, n, value| histogram[value as usize] += n as u32)?;
    }
    Ok(estimate(&histogram))
}

/// The estimate from registers held one per byte (a merge of sketches).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histogram = [0u32; 64];
    for r in regs {
        histogram[*r as usize & 63] += 1;
    }
    estimate(&histogram)
}

/// Ertl's improved raw estimator from the histogram of register values.
/// Values above Q + 1 (possible only in a crafted dense sketch) count
/// nowhere, as in Redis.
fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        // Redis' pow(1 - x, 2): a correctly rounded square, as this product.
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registers(v: &[u8]) -> Vec<u8> {
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, v).unwrap();
        max
    }

    #[test]
    fn a_new_sketch_is_one_xzero_run_and_counts_zero() {
        let v = new_sketch();
        assert_eq!(&v[..], b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert!(is_sketch(&v));
        assert_eq!(count(&v), Ok(0));
        assert_eq!(cached_count(&v), Some(0));
    }

    #[test]
    fn elements_land_where_redis_puts_them() {
        // redis-server 7.0: PFADD h a b c, then GET h.
        let mut v = new_sketch();
        for e in [b"a", b"b", b"c"] {
            assert_eq!(add(&mut v, e), Ok(true));
        }
        assert_eq!(&v[..], b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a");
        assert_eq!(add(&mut v, b"a"), Ok(false));
        assert_eq!(count(&v), Ok(3));
    }

    #[test]
    fn dense_registers_keep_their_neighbours() {
        let mut regs = vec![0u8; REGISTERS * 6 / 8];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i * 7 % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i * 7 % 64) as u8, "register {i}");
        }
    }

    #[test]
    fn sparse_and_dense_hold_the_same_registers() {
        let mut sparse = new_sketch();
        let mut n = 0;
        // Stays sparse for a while, then turns dense past the size limit.
        while !is_dense(&sparse) {
            add(&mut sparse, format!("e{n}").as_bytes()).unwrap();
            if !is_dense(&sparse) {
                assert!(sparse.len() <= SPARSE_MAX_BYTES);
                let mut d = sparse.clone();
                to_dense(&mut d).unwrap();
                assert_eq!(registers(&d), registers(&sparse));
            }
            n += 1;
        }
        assert!(n > 500, "turned dense after {n} elements");
        let c = count(&sparse).unwrap();
        assert!((c as f64 - n as f64).abs() < n as f64 * 0.05, "{c} for {n}");
    }

    #[test]
    fn a_register_above_32_turns_a_sketch_dense() {
        let mut v = new_sketch();
        assert_eq!(raise(&mut v, 5, 32), Ok(true));
        assert!(!is_dense(&v));
        assert_eq!(raise(&mut v, 5, 32), Ok(false));
        assert_eq!(raise(&mut v, 7, 40), Ok(true));
        assert!(is_dense(&v));
        let regs = registers(&v);
        assert_eq!((regs[5], regs[7], regs[6]), (32, 40, 0));
    }

    #[test]
    fn equal_neighbours_merge_into_one_val_opcode() {
        let mut v = new_sketch();
        for i in 0..4 {
            raise(&mut v, 100 + i, 3).unwrap();
        }
        // XZERO(100) VAL(3, len 4) XZERO(rest).
        assert_eq!(&v[HEADER..], &[&xzero(100)[..], &[val(3, 4)], &xzero(16384 - 104)].concat()[..]);
        assert_eq!(count(&v).unwrap(), 4);
    }

    #[test]
    fn a_sparse_sketch_not_covering_every_register_is_corrupt() {
        let mut v = new_sketch();
        v.push(0x00); // one more ZERO run
        assert_eq!(count(&v), Err(Corrupt));
        assert_eq!(to_dense(&mut v.clone()), Err(Corrupt));
        let mut max = vec![0; REGISTERS];
        assert_eq!(merge_into(&mut max, &v), Err(Corrupt));
        // A sparse body with nothing in it.
        let mut empty = v[..HEADER].to_vec();
        assert_eq!(add(&mut empty, b"x"), Err(Corrupt));
    }

    #[test]
    fn counts_are_close_to_the_truth() {
        for n in [1usize, 10, 100, 1000, 20_000] {
            let mut v = new_sketch();
            for i in 0..n {
                add(&mut v, format!("element:{i}").as_bytes()).unwrap();
            }
            let c = count(&v).unwrap() as f64;
            assert!((c - n as f64).abs() <= (n as f64 * 0.03).max(1.0), "{c} for {n}");
        }
    }
}
