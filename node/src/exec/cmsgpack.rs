//! The `cmsgpack` table scripts see: lua-cmsgpack 0.4.0 as Redis bundles
//! it (deps/lua/src/lua_cmsgpack.c), byte for byte: `pack(...)` writes
//! each argument (integral numbers as the smallest integer form, others as
//! a float when one holds them exactly, else a double; tables whose keys
//! are 1..n as arrays, others as maps in Lua's iteration order; tables
//! nested 16 deep, functions and other values as nil), `unpack(s)` reads
//! every value, `unpack_one(s [, offset])` and `unpack_limit(s, limit [,
//! offset])` some of them after the next offset (-1 at the end). Its
//! quirks are kept: a uint 64 above 2^63 reads negative, an int 64 reads as
//! a double, bin, ext and fixext types are a format error. One limit is
//! ours: values nested deeper than [`MAX_DEPTH`] are a format error (Redis
//! would recurse until its C stack runs out).

use super::cjson::{error_at_caller, number_of};
use super::script::c_i64;
use mlua::{Lua, MultiValue, Table, Value};

/// Tables nested this deep are packed as nil (LUACMSGPACK_MAX_NESTING).
const MAX_NESTING: usize = 16;
/// Unpacking refuses values nested deeper than this.
pub const MAX_DEPTH: usize = 1000;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    // `pack` takes its argument count and its arguments in a table, from
    // which numbers are read as the doubles they are (mlua's Value holds a
    // number within f64::EPSILON of an integer, 1e-45 say, as that
    // integer); the prelude of scripts wraps it in a Lua function that
    // gathers them. The cost: `return cmsgpack.pack()` tail-calls that
    // wrapper, so that the error of a pack of nothing cannot name the
    // script's line.
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(|lua, args: MultiValue| unpack(lua, args, "unpack"))?)?;
    t.raw_set("unpack_one", lua.create_function(|lua, args: MultiValue| unpack(lua, args, "unpack_one"))?)?;
    t.raw_set("unpack_limit", lua.create_function(|lua, args: MultiValue| unpack(lua, args, "unpack_limit"))?)?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

fn pack(lua: &Lua, (n, args): (usize, Table)) -> mlua::Result<mlua::String> {
    if n == 0 {
        return Err(error_at_caller(lua, "bad argument #0 to 'pack' (MessagePack pack needs input.)".into()));
    }
    let mut out = Vec::new();
    for i in 1..=n {
        let v = exact(&args, Value::Integer(i as i64), args.raw_get(i)?, true)?;
        encode(&v, 0, &mut out)?;
    }
    lua.create_string(&out)
}

/// `v`, the value of `t[key]`, with a number read again as its exact double.
fn exact(t: &Table, key: Value, v: Value, raw: bool) -> mlua::Result<Value> {
    if number_of(&v).is_none() {
        return Ok(v);
    }
    let n: f64 = if raw { t.raw_get(key)? } else { t.get(key)? };
    Ok(Value::Number(n))
}

fn encode(v: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            let n = number_of(v).unwrap_or(0.0);
            // IS_INT64_EQUIVALENT: finite and unchanged through int64_t.
            if !n.is_infinite() && c_i64(n) as f64 == n {
                encode_int(c_i64(n), out);
            } else {
                encode_double(n, out);
            }
        }
        Value::Table(t) if level < MAX_NESTING => {
            if is_array(t)? {
                let len = t.raw_len();
                encode_len(len as u64, [0x90, 0xdc, 0xdd], 15, out);
                for j in 1..=len {
                    let item = exact(t, Value::Integer(j as i64), t.get(j)?, false)?;
                    encode(&item, level + 1, out)?;
                }
            } else {
                let pairs: Vec<(Value, Value)> = t.clone().pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                encode_len(pairs.len() as u64, [0x80, 0xde, 0xdf], 15, out);
                for (k, v) in pairs {
                    encode(&k, level + 1, out)?;
                    encode(&exact(t, k, v, true)?, level + 1, out)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// table_is_an_array: every key a number > 0 that an int holds exactly,
/// as many keys as the largest one.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        match number_of(&k) {
            Some(n) if n > 0.0 && n <= i32::MAX as f64 && n.fract() == 0.0 => {
                max = max.max(n as i64);
                count += 1;
            }
            _ => return Ok(false),
        }
    }
    Ok(max == count)
}

fn encode_bytes(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_double(d: f64, out: &mut Vec<u8>) {
    let f = d as f32;
    if f as f64 == d {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// An array's or a map's header: the fix form (`kinds[0] | n`) up to
/// `fix_max`, then 16 and 32 bits.
fn encode_len(n: u64, kinds: [u8; 3], fix_max: u64, out: &mut Vec<u8>) {
    if n <= fix_max {
        out.push(kinds[0] | n as u8);
    } else if n <= 0xffff {
        out.push(kinds[1]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(kinds[2]);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Why decoding stopped (the cursor's error).
enum Stop {
    Eof,
    BadFormat,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Stop {
        Stop::Lua(e)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn need(&self, n: usize) -> Result<(), Stop> {
        if self.s.len() - self.pos < n {
            Err(Stop::Eof)
        } else {
            Ok(())
        }
    }

    /// `n` bytes after the type byte, consuming them and the type byte.
    fn take(&mut self, n: usize) -> Result<&[u8], Stop> {
        self.need(1 + n)?;
        let b = &self.s[self.pos + 1..self.pos + 1 + n];
        self.pos += 1 + n;
        Ok(b)
    }

    /// A big-endian unsigned number of `n` bytes after the type byte.
    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| acc << 8 | *b as u64))
    }
}

/// `len` bytes at the cursor (past the string's header) as a string.
fn string(lua: &Lua, c: &mut Cursor, len: usize) -> Result<Value, Stop> {
    c.need(len)?;
    let v = lua.create_string(&c.s[c.pos..c.pos + len])?;
    c.pos += len;
    Ok(Value::String(v))
}

fn array(lua: &Lua, c: &mut Cursor, len: usize, depth: usize) -> Result<Value, Stop> {
    let t = lua.create_table()?;
    for i in 1..=len {
        let v = decode(lua, c, depth + 1)?;
        t.set(i, v)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, c: &mut Cursor, len: usize, depth: usize) -> Result<Value, Stop> {
    let t = lua.create_table()?;
    for _ in 0..len {
        let k = decode(lua, c, depth + 1)?;
        let v = decode(lua, c, depth + 1)?;
        match &k {
            Value::Nil => return Err(Stop::Lua(mlua::Error::RuntimeError("table index is nil".into()))),
            Value::Number(n) if n.is_nan() => {
                return Err(Stop::Lua(mlua::Error::RuntimeError("table index is NaN".into())))
            }
            _ => t.set(k, v)?,
        }
    }
    Ok(Value::Table(t))
}

/// mp_decode_to_lua_type.
fn decode(lua: &Lua, c: &mut Cursor, depth: usize) -> Result<Value, Stop> {
    c.need(1)?;
    if depth > MAX_DEPTH {
        return Err(Stop::BadFormat);
    }
    let num = |n: f64| Value::Number(n);
    let b = c.s[c.pos];
    Ok(match b {
        0xcc => num(c.be(1)? as f64),
        0xd0 => num(c.be(1)? as u8 as i8 as f64),
        0xcd => num(c.be(2)? as f64),
        0xd1 => num(c.be(2)? as u16 as i16 as f64),
        0xce => num(c.be(4)? as f64),
        0xd2 => num(c.be(4)? as u32 as i32 as f64),
        // lua_pushunsigned is lua_pushinteger: past 2^63 it reads negative.
        0xcf => num(c.be(8)? as i64 as f64),
        0xd3 => num(c.be(8)? as i64 as f64),
        0xc0 => {
            c.pos += 1;
            Value::Nil
        }
        0xc3 | 0xc2 => {
            c.pos += 1;
            Value::Boolean(b == 0xc3)
        }
        0xca => num(f32::from_bits(c.be(4)? as u32) as f64),
        0xcb => num(f64::from_bits(c.be(8)?)),
        // str 8, 16, 32.
        0xd9..=0xdb => {
            let len = c.be([1, 2, 4][(b - 0xd9) as usize])? as usize;
            string(lua, c, len)?
        }
        // array 16, array 32, map 16, map 32.
        0xdc..=0xdf => {
            let len = c.be(if b & 1 == 0 { 2 } else { 4 })? as usize;
            if b < 0xde {
                array(lua, c, len, depth)?
            } else {
                map(lua, c, len, depth)?
            }
        }
        _ if b & 0x80 == 0 => {
            c.pos += 1;
            num(b as f64)
        }
        _ if b & 0xe0 == 0xe0 => {
            c.pos += 1;
            num(b as i8 as f64)
        }
        _ if b & 0xe0 == 0xa0 => {
            c.pos += 1;
            string(lua, c, (b & 0x1f) as usize)?
        }
        _ if b & 0xf0 == 0x90 => {
            c.pos += 1;
            array(lua, c, (b & 0xf) as usize, depth)?
        }
        _ if b & 0xf0 == 0x80 => {
            c.pos += 1;
            map(lua, c, (b & 0xf) as usize, depth)?
        }
        _ => return Err(Stop::BadFormat),
    })
}

/// luaL_checklstring's and luaL_checkinteger's argument errors: what the
/// `n`th argument was instead ("no value" when there is none).
fn bad_argument(lua: &Lua, args: &MultiValue, n: usize, func: &str, expected: &str) -> mlua::Error {
    let got = args.get(n - 1).map_or("no value", super::cjson::lua_type_name);
    super::cjson::arg_error(lua, n, func, &format!("{expected} expected, got {got}"))
}

/// The `n`th argument (from 1) as an integer, `None` when absent or nil
/// (luaL_optinteger); strings that are numbers count as numbers.
fn integer_arg(lua: &Lua, args: &MultiValue, n: usize, func: &str, required: bool) -> mlua::Result<Option<i64>> {
    let v = args.get(n - 1).cloned().unwrap_or(Value::Nil);
    if matches!(v, Value::Nil) && !required {
        return Ok(None);
    }
    let number = match &v {
        Value::String(s) => s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()),
        other => number_of(other),
    };
    match number {
        Some(x) => Ok(Some(c_i64(x))),
        None => Err(bad_argument(lua, args, n, func, "number")),
    }
}

/// mp_unpack_full under each of its three names.
fn unpack(lua: &Lua, args: MultiValue, func: &str) -> mlua::Result<MultiValue> {
    // (unpack_one and unpack_limit read their numbers first.)
    let (limit, offset) = match func {
        "unpack" => (0, 0),
        "unpack_one" => (1, integer_arg(lua, &args, 2, func, false)?.unwrap_or(0)),
        _ => {
            let limit = integer_arg(lua, &args, 2, func, true)?.unwrap_or(0);
            (limit, integer_arg(lua, &args, 3, func, false)?.unwrap_or(0))
        }
    };
    let first = args.front().cloned().unwrap_or(Value::Nil);
    let s: Vec<u8> = match &first {
        Value::String(s) => s.as_bytes().to_vec(),
        // (luaL_checklstring takes a number as its text.)
        Value::Integer(_) | Value::Number(_) => {
            lua.coerce_string(first.clone())?.map(|s| s.as_bytes().to_vec()).unwrap_or_default()
        }
        _ => return Err(bad_argument(lua, &args, 1, func, "string")),
    };
    let decode_all = limit == 0 && offset == 0;
    let len = s.len();
    if offset < 0 || limit < 0 {
        return Err(error_at_caller(
            lua,
            format!("Invalid request to unpack with offset of {} and limit of {}.", offset as i32, len as i32),
        ));
    }
    if offset as u64 > len as u64 {
        return Err(error_at_caller(
            lua,
            format!("Start offset {} greater than input length {}.", offset as i32, len as i32),
        ));
    }
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut c = Cursor { s: &s, pos: offset as usize };
    let mut values = Vec::new();
    while c.pos < len && (values.len() as i64) < limit {
        match decode(lua, &mut c, 0) {
            Ok(v) => values.push(v),
            Err(Stop::Eof) => return Err(error_at_caller(lua, "Missing bytes in input.".into())),
            Err(Stop::BadFormat) => return Err(error_at_caller(lua, "Bad data format in input.".into())),
            Err(Stop::Lua(e)) => return Err(e),
        }
    }
    if !decode_all {
        let next = if c.pos == len { -1 } else { c.pos as i64 };
        values.insert(0, Value::Number(next as f64));
    }
    Ok(MultiValue::from_iter(values))
}
