//! Parsing the bit commands (GETBIT, SETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO) with Redis' errors, in Redis' order.

use bytes::Bytes;
use node::command::{self as c, BitFieldKind, BitOpKind, Cmd, Overflow};
use node::num::{c_string, parse_i64, parse_i64_arg};
use node::reply::err;
use node::Reply;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
/// Redis' proto-max-bulk-len: no bit offset may reach past it.
const MAX_BYTES: i64 = 512 << 20;

/// A bit offset (Redis' getBitOffsetFromArgument); with `field_bits`, a
/// `#n` offset counts fields of that width.
fn offset(arg: &[u8], field_bits: Option<u32>) -> Result<u64, Reply> {
    let (digits, scale) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let n = parse_i64(digits).ok_or_else(|| Reply::error(BAD_OFFSET))?.wrapping_mul(scale);
    if n < 0 || (n >> 3) >= MAX_BYTES {
        return Err(Reply::error(BAD_OFFSET));
    }
    Ok(n as u64)
}

pub fn getbit(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::GetBit(c::BitOffset { key: argv[1].clone(), offset: offset(&argv[2], None)? }))
}

pub fn setbit(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let offset = offset(&argv[2], None)?;
    let on = match parse_i64(&argv[3]) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return Err(Reply::error("ERR bit is not an integer or out of range")),
    };
    Ok(Cmd::SetBit(c::SetBit { key: argv[1].clone(), offset, on }))
}

/// BITCOUNT key [start end [BYTE|BIT]]: the range is read once the key is
/// found (see [`c::BitRange`]).
pub fn bitcount(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::BitCount(c::BitRange { key: argv[1].clone(), bit: false, args: argv[2..].to_vec() }))
}

/// BITPOS key bit [start [end [BYTE|BIT]]]: the bit first, the range once
/// the key is found.
pub fn bitpos(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let bit = match parse_i64_arg(&argv[2])? {
        b @ (0 | 1) => b == 1,
        _ => return Err(Reply::error("ERR The bit argument must be 1 or 0.")),
    };
    Ok(Cmd::BitPos(c::BitRange { key: argv[1].clone(), bit, args: argv[3..].to_vec() }))
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub fn bitop(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let op = match argv[1].to_ascii_lowercase().as_slice() {
        b"and" => BitOpKind::And,
        b"or" => BitOpKind::Or,
        b"xor" => BitOpKind::Xor,
        b"not" => BitOpKind::Not,
        _ => return Err(Reply::error(err::SYNTAX)),
    };
    if op == BitOpKind::Not && argv.len() != 4 {
        return Err(Reply::error("ERR BITOP NOT must be called with a single source key."));
    }
    Ok(Cmd::BitOp(c::BitOp { op: op as i32, dst: argv[2].clone(), keys: argv[3..].to_vec() }))
}

/// `i1`..`i64` or `u1`..`u63`: (signed, bits).
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(Reply::error(BAD_TYPE)),
    };
    match parse_i64(c_string(&arg[1..])) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Ok((signed, b as u32)),
        _ => Err(Reply::error(BAD_TYPE)),
    }
}

fn bitfield_ops(argv: &[Bytes], read_only: bool) -> Result<Cmd, Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        let kind = match argv[j].to_ascii_lowercase().as_slice() {
            b"get" if more >= 2 => BitFieldKind::Get,
            b"set" if more >= 3 => BitFieldKind::Set,
            b"incrby" if more >= 3 => BitFieldKind::IncrBy,
            b"overflow" if more >= 1 => {
                overflow = match argv[j + 1].to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(Reply::error("ERR Invalid OVERFLOW type specified")),
                };
                j += 2;
                continue;
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        };
        let (signed, bits) = field_type(&argv[j + 1])?;
        let offset = offset(&argv[j + 2], Some(bits))?;
        let value = if kind == BitFieldKind::Get { 0 } else { parse_i64_arg(&argv[j + 3])? };
        ops.push(c::BitFieldOp { kind: kind as i32, signed, bits, offset, value, overflow: overflow as i32 });
        j += if kind == BitFieldKind::Get { 3 } else { 4 };
    }
    if read_only && ops.iter().any(|o| o.kind != BitFieldKind::Get as i32) {
        return Err(Reply::error("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    Ok(Cmd::BitField(c::BitField { key: argv[1].clone(), ops }))
}

pub fn bitfield(argv: &[Bytes]) -> Result<Cmd, Reply> {
    bitfield_ops(argv, false)
}

pub fn bitfield_ro(argv: &[Bytes]) -> Result<Cmd, Reply> {
    bitfield_ops(argv, true)
}
