//! Random uses of scripts' `cmsgpack` for the differential tests: `pack` of
//! random Lua values (written as Lua source), and `unpack`, `unpack_one`
//! and `unpack_limit` of random bytes, mostly MessagePack of every kind,
//! truncated, nested, or of types lua-cmsgpack does not read. Decoded
//! values come back as text (`DUMP` below), so that nothing is lost in the
//! conversion of a script's reply.

use rand::seq::SliceRandom;
use rand::Rng;

/// A Lua function `d(v)` writing any value as text, a table's entries
/// sorted (their order in `pairs` is the tables' addresses' for table keys).
pub const DUMP: &str = "local function d(v)
  local t = type(v)
  if t == 'table' then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = type(k) .. ':' .. d(k) .. '=' .. d(x) end
    table.sort(parts)
    return '{' .. table.concat(parts, ',') .. '}'
  elseif t == 'number' then return string.format('%.17g', v)
  elseif t == 'string' then return string.format('%q', v)
  else return tostring(v) end
end
";

fn lua_value<R: Rng>(rng: &mut R, depth: u32) -> String {
    let leaf = |rng: &mut R| -> String {
        match rng.gen_range(0..16) {
            0 => rng.gen_range(-40..200).to_string(),
            1 => (*[127, 128, 255, 256, 65535, 65536, -32, -33, -128, -129, -32768, -32769].choose(rng).unwrap())
                .to_string(),
            2 => {
                (*["4294967295", "4294967296", "-2147483648", "-2147483649", "2^53", "-2^62", "2^63", "2^64", "-2^63"]
                    .choose(rng)
                    .unwrap())
                .to_string()
            }
            3 => format!("{}", rng.gen_range(-1000.0..1000.0f64)),
            4 => (*["0.5", "-0.25", "1/3", "1e300", "1/0", "-1/0", "0/0", "-0.0", "3.4e38", "1e-45", "0.1"]
                .choose(rng)
                .unwrap())
            .to_string(),
            5 => "true".into(),
            6 => "false".into(),
            7 => "nil".into(),
            8 => format!("string.rep('x', {})", [0, 1, 31, 32, 255, 256, 65535, 65536].choose(rng).unwrap()),
            9 => "function() end".into(),
            10 => "cjson.null".into(),
            _ => format!("'{}'", ["a", "", "hello", "key", "\\0bin"].choose(rng).unwrap()),
        }
    };
    if depth >= 4 || rng.gen_range(0..3) > 0 {
        return leaf(rng);
    }
    let n = rng.gen_range(0..6);
    match rng.gen_range(0..5) {
        // Arrays, with holes sometimes (nil items).
        0 | 1 => format!("{{{}}}", (0..n).map(|_| lua_value(rng, depth + 1)).collect::<Vec<_>>().join(", ")),
        // Maps of string keys, numeric keys that make no array, mixed.
        2 => format!(
            "{{{}}}",
            (0..n).map(|i| format!("k{i} = {}", lua_value(rng, depth + 1))).collect::<Vec<_>>().join(", ")
        ),
        3 => format!(
            "{{{}}}",
            (0..n)
                .map(|_| format!(
                    "[{}] = {}",
                    ["0", "-1", "1.5", "3", "100", "2", "true"].choose(rng).unwrap(),
                    lua_value(rng, depth + 1)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // Deeply nested (packed as nil past 16 levels).
        _ => format!(
            "(function() local t = {{}} local c = t for i = 1, {} do c[1] = {{}} c = c[1] end return t end)()",
            rng.gen_range(10..25)
        ),
    }
}

/// EVAL of `cmsgpack.pack` of 1 to 3 random values: the packed bytes.
pub fn random_pack<R: Rng>(rng: &mut R) -> Vec<Vec<u8>> {
    let values: Vec<String> = (0..rng.gen_range(1..4)).map(|_| lua_value(rng, 0)).collect();
    let script = format!("return cmsgpack.pack({})", values.join(", "));
    vec![b"EVAL".to_vec(), script.into_bytes(), b"0".to_vec()]
}

/// One MessagePack value's bytes: well formed mostly, else truncated or of
/// a type lua-cmsgpack refuses.
fn msgpack_value<R: Rng>(rng: &mut R, depth: u32, out: &mut Vec<u8>) {
    let kind = if depth >= 4 { rng.gen_range(0..12) } else { rng.gen_range(0..16) };
    match kind {
        0 => out.push(rng.gen_range(0..0x80)),
        1 => out.push(rng.gen_range(0xe0..=0xff)),
        2 => {
            let t = *[0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3].choose(rng).unwrap();
            let n = match t {
                0xcc | 0xd0 => 1,
                0xcd | 0xd1 => 2,
                0xce | 0xd2 => 4,
                _ => 8,
            };
            out.push(t);
            for _ in 0..n {
                out.push(*[0x00, 0x7f, 0x80, 0xff, rng.gen()].choose(rng).unwrap());
            }
        }
        3 => {
            out.push(0xca);
            out.extend_from_slice(&[rng.gen(), rng.gen(), rng.gen(), rng.gen()]);
        }
        4 => {
            out.push(0xcb);
            let v: f64 = *[0.1, -0.0, f64::NAN, f64::INFINITY, 1e300, rng.gen()].choose(rng).unwrap();
            out.extend_from_slice(&v.to_be_bytes());
        }
        5 => out.push(*[0xc0, 0xc2, 0xc3].choose(rng).unwrap()),
        6 => {
            let len = rng.gen_range(0..32u8);
            out.push(0xa0 | len);
            out.extend((0..len).map(|i| b'a' + i % 26));
        }
        7 => {
            let (t, len) = *[(0xd9u8, 40usize), (0xda, 300), (0xdb, 5)].choose(rng).unwrap();
            out.push(t);
            match t {
                0xd9 => out.push(len as u8),
                0xda => out.extend_from_slice(&(len as u16).to_be_bytes()),
                _ => out.extend_from_slice(&(len as u32).to_be_bytes()),
            }
            out.extend(std::iter::repeat_n(b'z', len));
        }
        // Types lua-cmsgpack cannot read.
        8 => out.extend_from_slice(&[*[0xc1, 0xc4, 0xc7, 0xd4, 0xd8].choose(rng).unwrap(), 1, 2]),
        // A cut-off value.
        9 => out.extend_from_slice(&[*[0xcd, 0xcb, 0xd9, 0xdc, 0xa5].choose(rng).unwrap()]),
        10 | 11 => out.push(rng.gen_range(0..10)),
        _ => {
            let n = rng.gen_range(0..5u8);
            let map = rng.gen_bool(0.5);
            match rng.gen_range(0..3) {
                0 => out.push(if map { 0x80 } else { 0x90 } | n),
                1 => {
                    out.push(if map { 0xde } else { 0xdc });
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                _ => {
                    out.push(if map { 0xdf } else { 0xdd });
                    out.extend_from_slice(&(n as u32).to_be_bytes());
                }
            }
            for _ in 0..(if map { 2 * n } else { n }) {
                msgpack_value(rng, depth + 1, out);
            }
        }
    }
}

/// EVAL of `unpack`, `unpack_one` or `unpack_limit` over random bytes (in
/// ARGV[1]), or an argument error: what was decoded, as text.
pub fn random_unpack<R: Rng>(rng: &mut R) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    for _ in 0..rng.gen_range(1..4) {
        msgpack_value(rng, 0, &mut bytes);
    }
    if rng.gen_range(0..8) == 0 && !bytes.is_empty() {
        bytes.truncate(rng.gen_range(0..bytes.len()));
    }
    let offset = *["", "0", "1", "3", "-1", "100", "'2'", "'x'"].choose(rng).unwrap();
    let call = match rng.gen_range(0..6) {
        0..=2 => "cmsgpack.unpack(ARGV[1])".to_string(),
        3 => format!(
            "cmsgpack.unpack_one(ARGV[1]{})",
            if offset.is_empty() { String::new() } else { format!(", {offset}") }
        ),
        4 => format!(
            "cmsgpack.unpack_limit(ARGV[1], {}{})",
            ["0", "1", "2", "-1", "nil"].choose(rng).unwrap(),
            if offset.is_empty() { String::new() } else { format!(", {offset}") }
        ),
        _ => format!(
            "cmsgpack.{}({})",
            ["unpack", "unpack_one", "unpack_limit", "pack"].choose(rng).unwrap(),
            ["", "nil", "{}", "12", "ARGV[1], 'y'"].choose(rng).unwrap()
        ),
    };
    let script = format!("{DUMP}return d({{{call}}})");
    vec![b"EVAL".to_vec(), script.into_bytes(), b"0".to_vec(), bytes]
}
