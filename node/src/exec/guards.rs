//! The functions scripts get in place of Lua's `rawset`, `rawget`,
//! `pairs`, `table.insert`, `setmetatable`, `getmetatable`,
//! `collectgarbage` and `gcinfo`: the same, except that they refuse to
//! write to (or see through) the read-only views of [`super::sandbox`], and
//! that in the kept state the ones that show the collector's work redo the
//! script in a fresh state. They are Rust functions, as Lua's are C ones,
//! so that their errors name the script's line even from a tail call, and
//! they check their arguments as Lua's do, with Lua's messages.

use super::cjson::{arg_error, error_at_caller, lua_type_name as type_name};
use mlua::{Function, Lua, MultiValue, Table, Value};
use std::cell::Cell;
use std::rc::Rc;

/// What the guards need of the state: the views and what they show.
pub(crate) struct Views {
    /// View -> the table it shows.
    pub real_of: Table,
    /// Table -> its view.
    pub views: Table,
    /// What `getmetatable(_G)` gives (a read-only table, as in Redis).
    pub globals_meta: Table,
}

/// Replaces the functions in `globals` (the globals' table) and `table`
/// (the table library's) by their guarded forms. `redo` is set (in the
/// kept state) by those that show the collector's work.
pub(crate) fn install(
    lua: &Lua,
    globals: &Table,
    table: &Table,
    views: Views,
    redo: Rc<Cell<bool>>,
    kept: bool,
) -> mlua::Result<()> {
    let views = Rc::new(views);
    let raw = |name: &str| globals.raw_get::<Function>(name);
    let (rawset, rawget, next) = (raw("rawset")?, raw("rawget")?, raw("next")?);
    let (setmetatable, getmetatable) = (raw("setmetatable")?, raw("getmetatable")?);
    let (collectgarbage, gcinfo) = (raw("collectgarbage")?, raw("gcinfo")?);
    let insert: Function = table.raw_get("insert")?;
    let redo_now = Rc::new(move || -> mlua::Result<()> {
        if kept {
            redo.set(true);
            return Err(mlua::Error::RuntimeError(super::script::stop_message()));
        }
        Ok(())
    });

    let v = views.clone();
    globals.raw_set(
        "rawset",
        lua.create_function(move |lua, args: MultiValue| {
            let t = check_table(lua, &args, "rawset")?;
            check_any(lua, &args, 2, "rawset")?;
            check_any(lua, &args, 3, "rawset")?;
            refuse_view(&v, &t)?;
            rawset.call::<Value>(args)
        })?,
    )?;
    let v = views.clone();
    globals.raw_set(
        "rawget",
        lua.create_function(move |lua, args: MultiValue| {
            let t = check_table(lua, &args, "rawget")?;
            check_any(lua, &args, 2, "rawget")?;
            rawget.call::<Value>((real(&v, &t)?, args.get(1).cloned().unwrap_or(Value::Nil)))
        })?,
    )?;
    let v = views.clone();
    globals.raw_set(
        "pairs",
        lua.create_function(move |lua, args: MultiValue| {
            let t = check_table(lua, &args, "pairs")?;
            Ok((next.clone(), real(&v, &t)?, Value::Nil))
        })?,
    )?;
    let v = views.clone();
    table.raw_set(
        "insert",
        lua.create_function(move |lua, args: MultiValue| {
            let t = check_table(lua, &args, "insert")?;
            match args.len() {
                2 => {}
                3 => {
                    if lua.coerce_number(args[1].clone())?.is_none() {
                        return Err(arg_error(
                            lua,
                            2,
                            "insert",
                            &format!("number expected, got {}", type_name(&args[1])),
                        ));
                    }
                }
                _ => return Err(error_at_caller(lua, "wrong number of arguments to 'insert'".into())),
            }
            refuse_view(&v, &t)?;
            insert.call::<()>(args)
        })?,
    )?;
    let (v, again) = (views.clone(), redo_now.clone());
    globals.raw_set(
        "setmetatable",
        lua.create_function(move |lua, args: MultiValue| {
            let t = check_table(lua, &args, "setmetatable")?;
            if !matches!(args.get(1), Some(Value::Nil | Value::Table(_))) {
                return Err(arg_error(lua, 2, "setmetatable", "nil or table expected"));
            }
            refuse_view(&v, &t)?;
            // A metatable may make a table weak: what it holds would then
            // depend on the collector.
            again()?;
            setmetatable.call::<Value>(args).map_err(|e| error_at_caller(lua, lua_message(&e)))
        })?,
    )?;
    let v = views.clone();
    globals.raw_set(
        "getmetatable",
        lua.create_function(move |lua, args: MultiValue| {
            check_any(lua, &args, 1, "getmetatable")?;
            if let Value::Table(t) = &args[0] {
                if !v.real_of.raw_get::<Value>(t)?.is_nil() {
                    // The globals have one (Redis' error handlers), the
                    // libraries none.
                    let is_globals = v.real_of.raw_get::<Table>(t)?.raw_get::<Value>("_G")? == args[0];
                    return Ok(if is_globals { Value::Table(v.globals_meta.clone()) } else { Value::Nil });
                }
            }
            let meta: Value = getmetatable.call(args)?;
            match v.views.raw_get::<Value>(meta.clone())? {
                Value::Nil => Ok(meta),
                view => Ok(view),
            }
        })?,
    )?;
    let again = redo_now.clone();
    globals.raw_set(
        "collectgarbage",
        lua.create_function(move |lua, args: MultiValue| {
            const OPTIONS: [&str; 7] = ["stop", "restart", "collect", "count", "step", "setpause", "setstepmul"];
            match args.front() {
                None | Some(Value::Nil) => {}
                Some(o @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => {
                    let name = lua.coerce_string(o.clone())?.map(|s| s.to_string_lossy()).unwrap_or_default();
                    if !OPTIONS.contains(&name.as_str()) {
                        return Err(arg_error(lua, 1, "collectgarbage", &format!("invalid option '{name}'")));
                    }
                }
                Some(other) => {
                    return Err(arg_error(
                        lua,
                        1,
                        "collectgarbage",
                        &format!("string expected, got {}", type_name(other)),
                    ))
                }
            }
            if let Some(arg) = args.get(1) {
                if !arg.is_nil() && lua.coerce_number(arg.clone())?.is_none() {
                    return Err(arg_error(
                        lua,
                        2,
                        "collectgarbage",
                        &format!("number expected, got {}", type_name(arg)),
                    ));
                }
            }
            again()?;
            collectgarbage.call::<MultiValue>(args)
        })?,
    )?;
    let again = redo_now;
    globals.raw_set(
        "gcinfo",
        lua.create_function(move |_, ()| {
            again()?;
            gcinfo.call::<Value>(())
        })?,
    )?;
    Ok(())
}

/// luaL_checktype(L, 1, LUA_TTABLE).
fn check_table(lua: &Lua, args: &MultiValue, name: &str) -> mlua::Result<Table> {
    match args.front() {
        Some(Value::Table(t)) => Ok(t.clone()),
        other => {
            Err(arg_error(lua, 1, name, &format!("table expected, got {}", other.map(type_name).unwrap_or("no value"))))
        }
    }
}

/// luaL_checkany(L, n).
fn check_any(lua: &Lua, args: &MultiValue, n: usize, name: &str) -> mlua::Result<()> {
    if args.len() < n {
        return Err(arg_error(lua, n, name, "value expected"));
    }
    Ok(())
}

/// Redis' error for a write to a read-only table from a C function (no
/// line: Lua adds none for a C function's error).
fn refuse_view(views: &Views, t: &Table) -> mlua::Result<()> {
    if views.real_of.raw_get::<Value>(t)?.is_nil() {
        return Ok(());
    }
    Err(mlua::Error::RuntimeError("Attempt to modify a readonly table".into()))
}

/// The table a view shows, or `t` itself.
fn real(views: &Views, t: &Table) -> mlua::Result<Table> {
    Ok(views.real_of.raw_get::<Option<Table>>(t)?.unwrap_or_else(|| t.clone()))
}

/// The message of an error a Lua function raised (without the traceback
/// mlua adds).
fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m.split("\nstack traceback:").next().unwrap_or_default().to_string(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}
