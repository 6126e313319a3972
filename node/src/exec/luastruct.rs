//! The `struct` table scripts see: Roberto Ierusalimschy's struct library
//! as Redis bundles it (deps/lua/src/lua_struct.c), for x86-64: `pack(fmt,
//! ...)`, `unpack(fmt, data [, pos])` (the values, then the next position)
//! and `size(fmt)`, with its format options (`<` `>` `!n` endianness and
//! alignment; `b B h H l L T i[n] I[n]` integers of 1, 2, 8, 8, n bytes;
//! `f d` floats; `c[n]` and `s` strings; `x` padding), its errors and its
//! quirks (integers of more than 8 bytes, the argument numbers of its
//! "string too short" error, a format read up to its first NUL).

use super::cjson::{arg_error, error_at_caller};
use super::script::c_i64;
use mlua::{Lua, MultiValue, Table, Value};

/// The largest `i`/`I` size (MAXINTSIZE).
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the alignment of a double.
const MAX_ALIGN: usize = 8;

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    // As cmsgpack.pack: its arguments in a table (the prelude's wrapper),
    // numbers read exactly.
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}

struct Header {
    little: bool,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header { little: true, align: 1 }
    }
}

/// A format being read: its bytes up to the first NUL (a C string).
struct Format<'a> {
    f: &'a [u8],
    pos: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.f.get(self.pos)?;
        self.pos += 1;
        Some(c)
    }

    /// getnum: the digits at the cursor, or `default`.
    fn number(&mut self, lua: &Lua, default: usize) -> mlua::Result<usize> {
        if !self.f.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(d) = self.f.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let d = (d - b'0') as i64;
            if a > i32::MAX as i64 / 10 || a * 10 > i32::MAX as i64 - d {
                return Err(error_at_caller(lua, "integral size overflow".into()));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a as usize)
    }

    /// optsize.
    fn size(&mut self, lua: &Lua, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(lua, 1)?,
            b'i' | b'I' => {
                let sz = self.number(lua, 4)?;
                if sz > MAX_INT_SIZE {
                    return Err(error_at_caller(
                        lua,
                        format!("integral size {sz} is larger than limit of {MAX_INT_SIZE}"),
                    ));
                }
                sz
            }
            _ => 0,
        })
    }

    /// controloptions (`func` names the function for an argument error).
    fn control(&mut self, lua: &Lua, opt: u8, h: &mut Header, func: &str) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(lua, MAX_ALIGN)?;
                if a == 0 || a & (a - 1) != 0 {
                    return Err(error_at_caller(lua, format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                let msg = format!("invalid format option '{}'", String::from_utf8_lossy(&[opt]));
                return Err(arg_error(lua, 1, func, &msg));
            }
        }
        Ok(())
    }
}

fn format_of(v: &[u8]) -> Format<'_> {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    Format { f: &v[..end], pos: 0 }
}

/// gettoalign: padding before an item of `size` at `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & (size - 1))) & (size - 1)
}

fn type_error(lua: &Lua, args: &[Value], n: usize, func: &str, expected: &str) -> mlua::Error {
    // pack pushes a nil after its arguments (b_pack's mark), which the
    // first missing one finds.
    let got = match args.get(n - 1) {
        Some(v) => super::cjson::lua_type_name(v),
        None if func == "pack" && n == args.len() + 1 => "nil",
        None => "no value",
    };
    arg_error(lua, n, func, &format!("{expected} expected, got {got}"))
}

/// lua_tonumber of a value: numbers, and strings that read as one.
fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => {
            let t = s.to_str().ok()?;
            let t = t.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok().map(|i| i as f64),
                None => t.parse::<f64>().ok().filter(|_| !t.is_empty()),
            }
        }
        _ => None,
    }
}

/// luaL_checklstring: a string, or a number as Lua writes it.
fn check_string(lua: &Lua, args: &[Value], n: usize, func: &str) -> mlua::Result<Vec<u8>> {
    match args.get(n - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec()).unwrap_or_default())
        }
        _ => Err(type_error(lua, args, n, func, "string")),
    }
}

/// C's `(unsigned long)` of a double as gcc compiles it for x86-64: below
/// 2^63 (or NaN, which its comparison lets through) a signed conversion,
/// else one of `n - 2^63` with the top bit flipped (so 2^64 and beyond
/// give 0, NaN 2^63).
fn c_u64(n: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || n < TWO_63 {
        c_i64(n) as u64
    } else {
        (c_i64(n - TWO_63) as u64) ^ (1 << 63)
    }
}

fn pack(lua: &Lua, (count, args): (usize, Table)) -> mlua::Result<mlua::String> {
    // Numbers read exactly (see cmsgpack), argument 1 first.
    let mut values = Vec::with_capacity(count);
    for i in 1..=count {
        let v: Value = args.raw_get(i)?;
        values.push(if matches!(v, Value::Integer(_) | Value::Number(_)) {
            Value::Number(args.raw_get::<f64>(i)?)
        } else {
            v
        });
    }
    let fmt = check_string(lua, &values, 1, "pack")?;
    let mut fmt = format_of(&fmt);
    let mut h = Header::new();
    let mut arg = 2;
    let mut total = 0usize;
    let mut out = Vec::new();
    while let Some(opt) = fmt.next() {
        let mut size = fmt.size(lua, opt)?;
        let pad = to_align(total, &h, opt, size);
        total += pad;
        out.extend(std::iter::repeat_n(0u8, pad));
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = values
                    .get(arg - 1)
                    .and_then(to_number)
                    .ok_or_else(|| type_error(lua, &values, arg, "pack", "number"))?;
                arg += 1;
                let mut value = if n < 0.0 { c_i64(n) as u64 } else { c_u64(n) };
                let mut bytes = vec![0u8; size];
                for i in 0..size {
                    let at = if h.little { i } else { size - 1 - i };
                    bytes[at] = value as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let n = values
                    .get(arg - 1)
                    .and_then(to_number)
                    .ok_or_else(|| type_error(lua, &values, arg, "pack", "number"))?;
                arg += 1;
                match (opt, h.little) {
                    (b'f', true) => out.extend_from_slice(&(n as f32).to_le_bytes()),
                    (b'f', false) => out.extend_from_slice(&(n as f32).to_be_bytes()),
                    (_, true) => out.extend_from_slice(&n.to_le_bytes()),
                    (_, false) => out.extend_from_slice(&n.to_be_bytes()),
                }
            }
            b'c' | b's' => {
                let s = check_string(lua, &values, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // (The C names the argument after the string.)
                    return Err(arg_error(lua, arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => fmt.control(lua, opt, &mut h, "pack")?,
        }
        total += size;
    }
    lua.create_string(&out)
}

/// getinteger: `size` bytes as an integer (past 8 bytes only the last 8
/// count; a signed one is extended from its top bit as x86-64 shifts).
fn read_integer(b: &[u8], little: bool, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let ordered: Box<dyn Iterator<Item = &u8>> = if little { Box::new(b.iter().rev()) } else { Box::new(b.iter()) };
    for byte in ordered {
        l = (l << 8) | *byte as u64;
    }
    if !signed {
        return l as f64;
    }
    let mask = u64::MAX << ((b.len() * 8).wrapping_sub(1) & 63);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_string(lua, &args, 1, "unpack")?;
    let data = check_string(lua, &args, 2, "unpack")?;
    let pos = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(v) => c_i64(to_number(v).ok_or_else(|| type_error(lua, &args, 3, "unpack", "number"))?),
    } as u64;
    if pos == 0 {
        return Err(arg_error(lua, 3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = (pos - 1) as usize;
    let ld = data.len();
    let mut fmt = format_of(&fmt);
    let mut h = Header::new();
    let mut out: Vec<Value> = Vec::new();
    let short = |lua: &Lua| arg_error(lua, 2, "unpack", "data string too short");
    while let Some(opt) = fmt.next() {
        let mut size = fmt.size(lua, opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(short(lua));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let v = read_integer(&data[pos..pos + size], h.little, opt.is_ascii_lowercase());
                out.push(Value::Number(v));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap();
                let f = if h.little { f32::from_le_bytes(b) } else { f32::from_be_bytes(b) };
                out.push(Value::Number(f as f64));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap();
                let d = if h.little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) };
                out.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    let Some(n) = out.last().and_then(to_number) else {
                        return Err(error_at_caller(lua, "format 'c0' needs a previous size".into()));
                    };
                    out.pop();
                    size = if n < 0.0 { c_i64(n) as u64 as usize } else { c_u64(n) as usize };
                    if !(size <= ld && pos <= ld - size) {
                        return Err(short(lua));
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|b| *b == 0) else {
                    return Err(error_at_caller(lua, "unfinished string in data".into()));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => fmt.control(lua, opt, &mut h, "unpack")?,
        }
        pos += size;
    }
    // (lua_pushinteger of a size_t: a wrapped position reads negative.)
    out.push(Value::Number((pos as u64).wrapping_add(1) as i64 as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_string(lua, &args, 1, "size")?;
    let mut fmt = format_of(&fmt);
    let mut h = Header::new();
    let mut pos = 0usize;
    while let Some(opt) = fmt.next() {
        let size = fmt.size(lua, opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(lua, 1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            fmt.control(lua, opt, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as f64)
}
