//! The `bit` library of Redis' scripts (LuaBitOp 1.0): 32-bit operations
//! on Lua numbers, normalized as LuaBitOp does (rounded to the nearest
//! integer, ties to even, modulo 2^32, read as signed).

use mlua::{Lua, Table, Variadic};

/// LuaBitOp's `barg`: the low 32 bits of the double after adding
/// 2^52 + 2^51, which rounds to an integer the way the FPU does.
fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn args(v: &[f64], name: &str) -> mlua::Result<Vec<i32>> {
    if v.is_empty() {
        return Err(mlua::Error::RuntimeError(format!("bad argument #1 to '{name}' (number expected, got no value)")));
    }
    Ok(v.iter().map(|n| tobit(*n)).collect())
}

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let fold = |name: &'static str, f: fn(i32, i32) -> i32| {
        lua.create_function(move |_, v: Variadic<f64>| {
            let a = args(&v, name)?;
            Ok(a[1..].iter().fold(a[0], |acc, x| f(acc, *x)) as f64)
        })
    };
    t.raw_set("band", fold("band", |a, b| a & b)?)?;
    t.raw_set("bor", fold("bor", |a, b| a | b)?)?;
    t.raw_set("bxor", fold("bxor", |a, b| a ^ b)?)?;
    let unary = |name: &'static str, f: fn(i32) -> i32| {
        lua.create_function(move |_, v: Variadic<f64>| Ok(f(args(&v, name)?[0]) as f64))
    };
    t.raw_set("tobit", unary("tobit", |a| a)?)?;
    t.raw_set("bnot", unary("bnot", |a| !a)?)?;
    t.raw_set("bswap", unary("bswap", |a| a.swap_bytes())?)?;
    let shift = |f: fn(u32, u32) -> u32| {
        lua.create_function(move |_, (x, n): (f64, f64)| Ok(f(tobit(x) as u32, tobit(n) as u32 & 31) as i32 as f64))
    };
    t.raw_set("lshift", shift(|b, n| b << n)?)?;
    t.raw_set("rshift", shift(|b, n| b >> n)?)?;
    t.raw_set("arshift", shift(|b, n| ((b as i32) >> n) as u32)?)?;
    t.raw_set("rol", shift(|b, n| b.rotate_left(n))?)?;
    t.raw_set("ror", shift(|b, n| b.rotate_right(n))?)?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let b = tobit(x) as u32;
            let n = n.map_or(8, tobit);
            let (upper, n) = if n < 0 { (true, -n) } else { (false, n) };
            let n = n.min(8) as usize;
            let hex = if upper { format!("{b:08X}") } else { format!("{b:08x}") };
            Ok(hex[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}
