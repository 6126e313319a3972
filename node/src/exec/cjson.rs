//! The `cjson` library of Redis' scripts (lua-cjson 2.1 with Redis'
//! defaults): `cjson.encode`, `cjson.decode` and `cjson.null`, with its
//! number format (`%.14g`), escapes, array detection and error messages, so
//! that a script's JSON reads and writes as under Redis. Tables are built
//! and walked the way lua-cjson does (new tables, keys set in document
//! order, `next` order when encoding), so key orders come out alike.

use crate::num::{c_strtod, format_g};
use mlua::{LightUserData, Lua, Table, Value};

/// lua-cjson's `encode_max_depth` and `decode_max_depth`.
const MAX_DEPTH: usize = 1000;
/// Arrays whose largest index passes twice their items (and 10) are refused.
const SPARSE_RATIO: f64 = 2.0;
const SPARSE_SAFE: f64 = 10.0;

/// The `cjson` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("encode", lua.create_function(|lua, v: Value| encode(lua, &v))?)?;
    t.raw_set("decode", lua.create_function(|lua, s: mlua::String| decode(lua, &s.as_bytes()))?)?;
    t.raw_set("null", Value::LightUserData(LightUserData(std::ptr::null_mut())))?;
    Ok(t)
}

/// A Lua error as a C library raises it under Redis (luaL_error): with
/// its caller's position in front when the caller is the script (not when
/// it is `pcall`, say, or a wrapper of ours).
pub(crate) fn error_at_caller(lua: &Lua, msg: String) -> mlua::Error {
    // (Level 0 is the Rust function itself.)
    for level in 1..16 {
        let Some(frame) = lua.inspect_stack(level) else { break };
        let src = frame.source();
        if super::script::is_user_chunk(src.source.as_deref()) {
            let short = src.short_src.as_deref().unwrap_or("user_script").to_string();
            return mlua::Error::RuntimeError(format!("{short}:{}: {msg}", frame.curr_line()));
        }
        if src.what == "C" {
            break;
        }
    }
    mlua::Error::RuntimeError(msg)
}

/// luaL_argerror's message for the `n`th argument of `func`, at the
/// script's line.
pub(crate) fn arg_error(lua: &Lua, n: usize, func: &str, msg: &str) -> mlua::Error {
    error_at_caller(lua, format!("bad argument #{n} to '{func}' ({msg})"))
}

fn encode(lua: &Lua, v: &Value) -> mlua::Result<mlua::String> {
    let mut out = Vec::new();
    encode_value(lua, v, 0, &mut out)?;
    lua.create_string(&out)
}

/// Lua's luaL_typename of a value.
pub(crate) fn lua_type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

fn cannot(lua: &Lua, v: &Value, why: &str) -> mlua::Error {
    error_at_caller(lua, format!("Cannot serialise {}: {why}", lua_type_name(v)))
}

fn encode_number(lua: &Lua, v: &Value, n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        return Err(cannot(lua, v, "must not be NaN or Inf"));
    }
    out.extend_from_slice(format_g(n, 14).as_bytes());
    Ok(())
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A Lua number's value (mlua holds integral ones as integers).
pub(crate) fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// lua-cjson's lua_array_length: the largest index when every key is an
/// integer >= 1 (None: an object), refusing excessively sparse arrays.
fn array_length(lua: &Lua, t: &Table, v: &Value) -> mlua::Result<Option<usize>> {
    let (mut max, mut items) = (0f64, 0f64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        match number_of(&k) {
            Some(k) if k.floor() == k && k >= 1.0 => {
                max = max.max(k);
                items += 1.0;
            }
            _ => return Ok(None),
        }
    }
    if max > items * SPARSE_RATIO && max > SPARSE_SAFE {
        return Err(cannot(lua, v, "excessively sparse array"));
    }
    Ok((max > 0.0).then_some(max as usize))
}

/// Encodes `t[key]`. A number is read as the double it is: a Value holds
/// -0 as the integer 0, and lua-cjson writes `-0`.
fn encode_field(lua: &Lua, t: &Table, key: Value, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    let v: Value = t.raw_get(key.clone())?;
    if number_of(&v).is_some() {
        let n: f64 = t.raw_get(key)?;
        return encode_number(lua, &v, n, out);
    }
    encode_value(lua, &v, depth, out)
}

fn encode_value(lua: &Lua, v: &Value, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(_) | Value::Number(_) => encode_number(lua, v, number_of(v).unwrap_or(0.0), out)?,
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(error_at_caller(lua, format!("Cannot serialise, excessive nesting ({depth})")));
            }
            match array_length(lua, t, v)? {
                Some(n) => {
                    out.push(b'[');
                    for i in 1..=n {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode_field(lua, t, Value::Integer(i as i64), depth, out)?;
                    }
                    out.push(b']');
                }
                None => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, _) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::Integer(_) | Value::Number(_) => {
                                out.push(b'"');
                                encode_number(lua, &k, number_of(&k).unwrap_or(0.0), out)?;
                                out.extend_from_slice(b"\":");
                            }
                            Value::String(s) => {
                                encode_string(&s.as_bytes(), out);
                                out.push(b':');
                            }
                            _ => return Err(cannot(lua, &k, "table key must be a number or string")),
                        }
                        encode_field(lua, t, k, depth, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(cannot(lua, other, "type not supported")),
    }
    Ok(())
}

// ---- Decoding ----

/// lua-cjson's tokens, by the names its errors use.
#[derive(Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Number => "T_NUMBER",
            Tok::Boolean => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(what) => what,
        }
    }
}

struct Token {
    tok: Tok,
    /// Where it starts (lua-cjson reports index + 1).
    at: usize,
    string: Vec<u8>,
    number: f64,
    boolean: bool,
}

struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Decoder<'_> {
    fn next(&mut self) -> Token {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let mut t = Token { tok: Tok::End, at, string: Vec::new(), number: 0.0, boolean: false };
        let Some(&c) = self.s.get(at) else { return t };
        let single = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            self.pos += 1;
            t.tok = tok;
            return t;
        }
        if c == b'"' {
            t.tok = match self.string(&mut t.string) {
                Ok(()) => Tok::Str,
                Err((e, where_)) => {
                    // lua-cjson reports where the string went wrong.
                    t.at = where_;
                    Tok::Error(e)
                }
            };
            return t;
        }
        // (true, false and null come before numbers, so that "nan" is not
        // taken for "null"'s n: lua-cjson checks them first too.)
        for (word, tok, b) in
            [(&b"true"[..], Tok::Boolean, true), (b"false", Tok::Boolean, false), (b"null", Tok::Null, false)]
        {
            if self.s[at..].starts_with(word) {
                self.pos += word.len();
                t.tok = tok;
                t.boolean = b;
                return t;
            }
        }
        // Numbers go to strtod, as lua-cjson's decode_invalid_numbers (on by
        // default) has it: hex, leading zeros, a leading '+', inf and nan
        // included.
        let rest = &self.s[at..];
        let lower3 = rest.get(..3).map(|w| w.to_ascii_lowercase());
        let strtod_anyway = c == b'+' || matches!(lower3.as_deref(), Some(b"inf") | Some(b"nan"));
        if c == b'-' || c.is_ascii_digit() || strtod_anyway {
            let (n, used, _) = c_strtod(rest);
            if used == 0 {
                t.tok = Tok::Error("invalid number");
            } else {
                self.pos += used;
                t.tok = Tok::Number;
                t.number = n;
            }
            return t;
        }
        t.tok = Tok::Error("invalid token");
        t
    }

    /// A string token into `out`; an error says what and where.
    fn string(&mut self, out: &mut Vec<u8>) -> Result<(), (&'static str, usize)> {
        self.pos += 1;
        loop {
            let Some(&c) = self.s.get(self.pos) else { return Err(("unexpected end of string", self.s.len())) };
            self.pos += 1;
            match c {
                b'"' => return Ok(()),
                b'\\' => {
                    let escape_at = self.pos - 1;
                    let bad = |what| (what, escape_at);
                    let Some(&e) = self.s.get(self.pos) else { return Err(bad("invalid escape code")) };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let bad_unicode = bad("invalid unicode escape code");
                            let mut cp = self.hex4().ok_or(bad_unicode)?;
                            if (0xD800..0xDC00).contains(&cp) {
                                // A high surrogate needs its low half.
                                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(bad_unicode);
                                }
                                self.pos += 2;
                                let lo = self.hex4().ok_or(bad_unicode)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(bad_unicode);
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return Err(bad_unicode);
                            }
                            let ch = char::from_u32(cp).ok_or(bad_unicode)?;
                            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        _ => return Err(bad("invalid escape code")),
                    }
                }
                _ => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.pos += 4;
        Some(v)
    }
}

fn parse_error(lua: &Lua, expected: &str, t: &Token) -> mlua::Error {
    error_at_caller(lua, format!("Expected {expected} but found {} at character {}", t.tok.name(), t.at + 1))
}

fn value(lua: &Lua, d: &mut Decoder<'_>, t: Token) -> mlua::Result<Value> {
    Ok(match t.tok {
        Tok::Str => Value::String(lua.create_string(&t.string)?),
        Tok::Number => Value::Number(t.number),
        Tok::Boolean => Value::Boolean(t.boolean),
        Tok::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
        Tok::ObjBegin | Tok::ArrBegin => {
            d.depth += 1;
            if d.depth > MAX_DEPTH {
                return Err(error_at_caller(
                    lua,
                    format!("Found too many nested data structures ({}) at character {}", d.depth, t.at + 1),
                ));
            }
            let table = lua.create_table()?;
            let is_object = t.tok == Tok::ObjBegin;
            let (close, more) =
                if is_object { (Tok::ObjEnd, "comma or object end") } else { (Tok::ArrEnd, "comma or array end") };
            let mut t = d.next();
            if t.tok != close {
                let mut i = 1;
                loop {
                    if is_object {
                        if t.tok != Tok::Str {
                            return Err(parse_error(lua, "object key string", &t));
                        }
                        let key = lua.create_string(&t.string)?;
                        let colon = d.next();
                        if colon.tok != Tok::Colon {
                            return Err(parse_error(lua, "colon", &colon));
                        }
                        let v = d.next();
                        table.raw_set(key, value(lua, d, v)?)?;
                    } else {
                        table.raw_set(i, value(lua, d, t)?)?;
                        i += 1;
                    }
                    t = d.next();
                    if t.tok == close {
                        break;
                    }
                    if t.tok != Tok::Comma {
                        return Err(parse_error(lua, more, &t));
                    }
                    t = d.next();
                }
            }
            d.depth -= 1;
            Value::Table(table)
        }
        _ => return Err(parse_error(lua, "value", &t)),
    })
}

fn decode(lua: &Lua, s: &[u8]) -> mlua::Result<Value> {
    let mut d = Decoder { s, pos: 0, depth: 0 };
    let first = d.next();
    let v = value(lua, &mut d, first)?;
    let end = d.next();
    if end.tok != Tok::End {
        return Err(parse_error(lua, "the end", &end));
    }
    Ok(v)
}
