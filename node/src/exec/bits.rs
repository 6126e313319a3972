//! Bit commands on strings: GETBIT, SETBIT, BITCOUNT, BITPOS, BITOP and
//! BITFIELD. Bit 0 is the most significant bit of the first byte, as in
//! Redis; bits past the end of a string read as 0.

use super::chunks::InPlace;
use super::db::{Apply, Db};
use super::strings::{finish_in_chunks, update_bits, write_string, Encoding};
use crate::command::{self as c, BitFieldKind, BitOpKind, Overflow};
use crate::notify;
use crate::num::parse_i64_arg;
use crate::reply::{err, Reply};
use crate::store::KvRead;

fn bit_at(v: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    byte < v.len() && v[byte] & (0x80 >> (offset & 7)) != 0
}

/// Sets a bit inside `v` (the caller grew it); says whether it changed.
fn set_bit(v: &mut [u8], offset: u64, on: bool) -> bool {
    let byte = &mut v[(offset >> 3) as usize];
    let mask = 0x80 >> (offset & 7);
    let was = *byte & mask != 0;
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
    was != on
}

pub fn getbit<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::BitOffset) -> Reply {
    let byte = (cmd.offset >> 3) as usize;
    match db.string_part(&cmd.key, |_| byte..byte + 1) {
        Err(e) => e,
        Ok(v) => Reply::Int(v.is_some_and(|(_, b)| bit_at(&b, cmd.offset & 7)) as i64),
    }
}

pub fn setbit(a: &mut Apply, cmd: &c::SetBit) -> Reply {
    if let Some(reply) = setbit_in_chunk(a, cmd) {
        return reply;
    }
    update_bits(a, &cmd.key, cmd.offset, |v, grew| {
        let was = bit_at(v, cmd.offset);
        let changed = set_bit(v, cmd.offset, cmd.on);
        (grew || changed, Reply::Int(was as i64))
    })
}

/// SETBIT in a live string kept in chunks: the one chunk that holds the bit
/// is read and written (and any the string grows by), with what the
/// general path ([`update_bits`]) would write: a changed bit or a grown
/// string signals the key (a new mod index, a `setbit` event); an unchanged
/// bit only makes the encoding raw. None where the general path must run.
fn setbit_in_chunk(a: &mut Apply, cmd: &c::SetBit) -> Option<Reply> {
    let byte = (cmd.offset >> 3) as usize;
    let mut at = InPlace::open(a, &cmd.key)?;
    // Past the end the string grows (with zeros), which is a change.
    let grows = byte >= at.len;
    let mut b = [if grows { 0 } else { at.byte(a, &cmd.key, byte) }];
    let was = bit_at(&b, cmd.offset & 7);
    let signalled = set_bit(&mut b, cmd.offset & 7, cmd.on) || grows;
    if signalled {
        at.write_at(a, &cmd.key, byte, &b);
    }
    finish_in_chunks(a, &cmd.key, at, signalled.then_some("setbit"), false);
    Some(Reply::Int(was as i64))
}

/// The inclusive bit range `[first, last]` that a BITCOUNT/BITPOS range
/// names in a string of `len` bytes, with Redis' clamping (negative from
/// the end, then into the string); None when it is empty.
fn bit_range(len: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let clamp = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (s, e) = (clamp(start), clamp(end).min(total - 1));
    if s > e {
        return None;
    }
    Some(if in_bits { (s as u64, e as u64) } else { (s as u64 * 8, e as u64 * 8 + 7) })
}

/// BYTE (false) or BIT (true).
fn unit(arg: &[u8]) -> Result<bool, Reply> {
    match arg.to_ascii_lowercase().as_slice() {
        b"bit" => Ok(true),
        b"byte" => Ok(false),
        _ => Err(Reply::error(err::SYNTAX)),
    }
}

/// Counts the set bits in `[first, last]`.
fn count_ones(v: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let all: u64 = v[fb..=lb].iter().map(|b| b.count_ones() as u64).sum();
    // Less the bits of the edge bytes outside the range.
    let before = (v[fb] & !(0xff >> (first & 7))).count_ones() as u64;
    let after = (v[lb] & ((1u16 << (7 - (last & 7))) - 1) as u8).count_ones() as u64;
    all - before - after
}

/// The bytes a bit range `[first, last]` lies in, for [`Db::string_part`].
fn bytes_of(bits: Option<(u64, u64)>) -> std::ops::Range<usize> {
    bits.map_or(0..0, |(first, last)| (first >> 3) as usize..(last >> 3) as usize + 1)
}

pub fn bitcount<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::BitRange) -> Reply {
    let range = |len: usize| -> Result<Option<(u64, u64)>, Reply> {
        let (start, end, in_bits) = match cmd.args.as_slice() {
            [] => (0, -1, false),
            [s, e, rest @ ..] if rest.len() <= 1 => {
                let (s, e) = (parse_i64_arg(s)?, parse_i64_arg(e)?);
                // Redis 7.0 answers 0 for two negative ends in the wrong
                // order before it reads BYTE|BIT (clamped, both could land
                // on the first byte).
                if s < 0 && e < 0 && s > e {
                    return Ok(None);
                }
                (s, e, rest.first().map(|u| unit(u)).transpose()?.unwrap_or(false))
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        };
        Ok(bit_range(len, start, end, in_bits))
    };
    // Only the bytes of the range are read (a long string's chunks).
    let mut bits = Ok(None);
    let part = db.string_part(&cmd.key, |len| {
        bits = range(len);
        bytes_of(bits.clone().ok().flatten())
    });
    match (part, bits) {
        (Err(e), _) => e,
        (Ok(None), _) => Reply::Int(0),
        (Ok(Some(_)), Err(e)) => e,
        (Ok(Some(_)), Ok(None)) => Reply::Int(0),
        (Ok(Some((_, v))), Ok(Some((first, last)))) => {
            let base = first & !7;
            Reply::Int(count_ones(&v, first - base, last - base) as i64)
        }
    }
}

pub fn bitpos<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::BitRange) -> Reply {
    // start, then BYTE|BIT, then end: Redis' order of checks.
    let parsed = || -> Result<(i64, Option<i64>, bool), Reply> {
        match cmd.args.as_slice() {
            [] => Ok((0, None, false)),
            [s, rest @ ..] if rest.len() <= 2 => {
                let s = parse_i64_arg(s)?;
                let in_bits = rest.get(1).map(|u| unit(u)).transpose()?.unwrap_or(false);
                Ok((s, rest.first().map(|e| parse_i64_arg(e)).transpose()?, in_bits))
            }
            _ => Err(Reply::error(err::SYNTAX)),
        }
    };
    // Only the bytes of the range are read (a long string's chunks); the
    // key's type is checked before the arguments, as in Redis.
    let parsed = parsed();
    let mut bits = None;
    let part = db.string_part(&cmd.key, |len| {
        bits =
            parsed.as_ref().ok().and_then(|(start, end, in_bits)| bit_range(len, *start, end.unwrap_or(-1), *in_bits));
        bytes_of(bits)
    });
    let v = match part {
        Err(e) => return e,
        // A missing key is an endless run of 0 bits.
        Ok(None) => return Reply::Int(if cmd.bit { -1 } else { 0 }),
        Ok(Some((_, v))) => v,
    };
    let end = match parsed {
        Err(e) => return e,
        Ok((_, end, _)) => end,
    };
    let Some((first, last)) = bits else {
        return Reply::Int(-1);
    };
    // Bit offsets within `v`, which starts at `first`'s byte.
    let base = first & !7;
    // Whole bytes that cannot hold the bit are skipped at once.
    let skip = if cmd.bit { 0x00 } else { 0xff };
    let mut at = first;
    while at <= last {
        if at & 7 == 0 && at + 7 <= last && v[((at - base) >> 3) as usize] == skip {
            at += 8;
            continue;
        }
        if bit_at(&v, at - base) == cmd.bit {
            return Reply::Int(at as i64);
        }
        at += 1;
    }
    // No clear bit: without an end, the string is taken as padded with 0
    // bits on the right, so the first one is just past it.
    if !cmd.bit && end.is_none() {
        return Reply::Int((last + 1) as i64);
    }
    Reply::Int(-1)
}

pub fn bitop(a: &mut Apply, cmd: &c::BitOp) -> Reply {
    let mut srcs = Vec::with_capacity(cmd.keys.len());
    for k in &cmd.keys {
        match a.db().string(k) {
            Err(e) => return e,
            Ok(v) => srcs.push(v.unwrap_or_default()),
        }
    }
    let len = srcs.iter().map(Vec::len).max().unwrap_or(0);
    let old = a.db().meta_raw(&cmd.dst);
    if len == 0 {
        // Every input is empty: the destination goes.
        if let Some(o) = &old {
            a.remove_key(&cmd.dst, o);
            a.event(notify::GENERIC, "del", &cmd.dst);
        }
        return Reply::Int(0);
    }
    let op = BitOpKind::try_from(cmd.op).unwrap_or(BitOpKind::And);
    let byte = |s: &Vec<u8>, j: usize| s.get(j).copied().unwrap_or(0);
    let out: Vec<u8> = (0..len)
        .map(|j| {
            let rest = srcs[1..].iter().map(|s| byte(s, j));
            match op {
                BitOpKind::And => rest.fold(byte(&srcs[0], j), |acc, b| acc & b),
                BitOpKind::Or => rest.fold(byte(&srcs[0], j), |acc, b| acc | b),
                BitOpKind::Xor => rest.fold(byte(&srcs[0], j), |acc, b| acc ^ b),
                BitOpKind::Not => !byte(&srcs[0], j),
            }
        })
        .collect();
    write_string(a, &cmd.dst, out, None, Encoding::Raw, old.as_ref());
    a.event(notify::STRING, "set", &cmd.dst);
    Reply::Int(len as i64)
}

fn get_unsigned(v: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0, |acc, j| (acc << 1) | bit_at(v, offset + j) as u64)
}

fn get_signed(v: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(v, offset, bits);
    if bits < 64 && u & (1 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Writes the low `bits` bits of `value`; says whether a bit changed.
fn set_field(v: &mut [u8], offset: u64, bits: u32, value: u64) -> bool {
    let mut changed = false;
    for j in 0..bits as u64 {
        changed |= set_bit(v, offset + j, value & (1 << (bits as u64 - 1 - j)) != 0);
    }
    changed
}

/// Whether `value + incr` leaves an unsigned field of `bits` bits, and what
/// WRAP or SAT make of it then (Redis' checkUnsignedBitfieldOverflow).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrapped = value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > max_incr) {
        Some(if ow == Overflow::Sat { max } else { wrapped })
    } else if incr < 0 && incr < min_incr {
        Some(if ow == Overflow::Sat { 0 } else { wrapped })
    } else {
        None
    }
}

/// The same for a signed field (Redis' checkSignedBitfieldOverflow).
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    let wide = bits != 64;
    if value > max || (wide && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        Some(if ow == Overflow::Sat { max } else { wrapped() })
    } else if value < min || (wide && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr) {
        Some(if ow == Overflow::Sat { min } else { wrapped() })
    } else {
        None
    }
}

/// Runs one SET or INCRBY on `v`: its reply (nil when OVERFLOW FAIL
/// stopped it) and whether it changed a bit.
/// Runs a SET or INCRBY: its reply, whether it ran (OVERFLOW FAIL stops
/// it) and whether it changed the value.
fn write_field(v: &mut [u8], op: &c::BitFieldOp) -> (Reply, bool, bool) {
    let ow = Overflow::try_from(op.overflow).unwrap_or(Overflow::Wrap);
    let incr = op.kind == BitFieldKind::IncrBy as i32;
    let (overflowed, new, reply) = if op.signed {
        let old = get_signed(v, op.offset, op.bits);
        let (base, by) = if incr { (old, op.value) } else { (op.value, 0) };
        let limit = signed_overflow(base, by, op.bits, ow);
        let new = limit.unwrap_or(base.wrapping_add(by));
        (limit.is_some(), new as u64, if incr { new } else { old })
    } else {
        let old = get_unsigned(v, op.offset, op.bits);
        let (base, by) = if incr { (old, op.value) } else { (op.value as u64, 0) };
        let limit = unsigned_overflow(base, by, op.bits, ow);
        let new = limit.unwrap_or(base.wrapping_add(by as u64));
        (limit.is_some(), new, if incr { new as i64 } else { old as i64 })
    };
    if overflowed && ow == Overflow::Fail {
        return (Reply::Nil, false, false);
    }
    (Reply::Int(reply), true, set_field(v, op.offset, op.bits, new))
}

fn read_field(v: &[u8], op: &c::BitFieldOp) -> Reply {
    Reply::Int(if op.signed { get_signed(v, op.offset, op.bits) } else { get_unsigned(v, op.offset, op.bits) as i64 })
}

/// BITFIELD with GETs only, and BITFIELD_RO.
pub fn bitfield_read<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::BitField) -> Reply {
    // Only the bytes the fields cover are read (a long string's chunks).
    let bytes = field_bytes(&cmd.ops);
    match db.string_part(&cmd.key, |_| bytes.clone()) {
        Err(e) => e,
        Ok(v) => {
            let window = v.map(|(_, w)| w).unwrap_or_default();
            Reply::Array(cmd.ops.iter().map(|op| read_field(&window, &in_window(op, bytes.start))).collect())
        }
    }
}

/// The bytes BITFIELD's fields cover (none without fields).
fn field_bytes(ops: &[c::BitFieldOp]) -> std::ops::Range<usize> {
    let lo = ops.iter().map(|op| (op.offset >> 3) as usize).min().unwrap_or(0);
    let hi = ops.iter().map(|op| ((op.offset + op.bits as u64 - 1) >> 3) as usize + 1).max().unwrap_or(0);
    lo..hi
}

/// `op` for a window of the string that starts at byte `lo`.
fn in_window(op: &c::BitFieldOp, lo: usize) -> c::BitFieldOp {
    c::BitFieldOp { offset: op.offset - lo as u64 * 8, ..*op }
}

pub fn bitfield_write(a: &mut Apply, cmd: &c::BitField) -> Reply {
    // Room for the furthest bit any SET or INCRBY reaches, even one that
    // OVERFLOW FAIL then stops (Redis grows the string first).
    let max_bit = cmd
        .ops
        .iter()
        .filter(|op| op.kind != BitFieldKind::Get as i32)
        .map(|op| op.offset + op.bits as u64 - 1)
        .max()
        .unwrap_or(0);
    if let Some(reply) = bitfield_in_chunks(a, cmd, max_bit) {
        return reply;
    }
    update_bits(a, &cmd.key, max_bit, |v, grew| {
        let mut changed = false;
        let replies = cmd
            .ops
            .iter()
            .map(|op| {
                if op.kind == BitFieldKind::Get as i32 {
                    return read_field(v, op);
                }
                // A write that ran changes the key if the string grew or
                // the value is new (Redis' `dirty || oldval != newval`).
                let (reply, ran, c) = write_field(v, op);
                changed |= ran && (grew || c);
                reply
            })
            .collect();
        (changed, Reply::Array(replies))
    })
}

/// BITFIELD with writes on a live string kept in chunks: its fields run on
/// a window of the bytes they cover (read from the chunks that hold them),
/// which is written back, with what [`update_bits`] writes: the string
/// grown first to the furthest written bit; a write that ran and changed
/// a value (or grew the string) signals the key with a `setbit` event; a
/// growth alone is written unsignalled. None where the general path must
/// run.
fn bitfield_in_chunks(a: &mut Apply, cmd: &c::BitField, max_bit: u64) -> Option<Reply> {
    let mut at = InPlace::open(a, &cmd.key)?;
    let std::ops::Range { start: lo, end: hi } = field_bytes(&cmd.ops);
    let need = (max_bit >> 3) as usize + 1;
    let grew = at.len < need;
    // The window: the bytes of `[lo, hi)` within the string as grown (a
    // write reaches at most `need`, which the window covers).
    let mut w = at.read(a, &cmd.key, lo, hi);
    w.resize(at.len.max(need).min(hi).saturating_sub(lo), 0);
    let mut changed = false;
    let replies = cmd
        .ops
        .iter()
        .map(|op| {
            let op = in_window(op, lo);
            if op.kind == BitFieldKind::Get as i32 {
                return read_field(&w, &op);
            }
            let (reply, ran, c) = write_field(&mut w, &op);
            changed |= ran && (grew || c);
            reply
        })
        .collect();
    // A growth alone is written too, unsignalled.
    if changed || grew {
        at.write_at(a, &cmd.key, lo, &w);
    }
    finish_in_chunks(a, &cmd.key, at, changed.then_some("setbit"), grew);
    Some(Reply::Array(replies))
}
