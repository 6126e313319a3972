//! EVAL: Lua 5.1 scripts, run where their entry is applied.
//!
//! A script is a raft entry like any write: every replica runs it against
//! its own copy of the partition, so the script must do the same thing on
//! each. What Redis scripts may use is deterministic here: `redis.call` and
//! `redis.pcall` run commands through [`super::write`] on the entry's
//! [`Apply`] (one atomic batch with the entry), TIME answers the entry's
//! stamp, and `math.random` is Redis' own generator, seeded alike before each
//! script. (A script that writes what depends on table addresses,
//! `tostring` of a table or `pairs` over tables keyed by tables, could still
//! differ; Redis before 5.0 asked the same of scripts.)
//!
//! A script runs in a Lua state whose tables are read-only
//! ([`super::sandbox`]: the state is kept from script to script), with
//! Redis' libraries (`redis`, `string`, `table`, `math`), Redis' replies and
//! Redis' error messages (`cjson` too: [`super::cjson`]). It may run at most [`MAX_INSTRUCTIONS`] Lua
//! instructions and allocate [`MEMORY_LIMIT`] bytes: it runs on the thread
//! that applies every partition of the node, so one that loops forever would
//! stall them all; past the limit it is stopped with an error (the same
//! instruction on every replica), and `pcall` cannot catch that. There is
//! no `coroutine` library (a coroutine's instructions would escape the
//! count). A single library call that runs long (a pathological
//! `string.find` pattern over a large string) is not interrupted, as in
//! Redis.

use super::db::Apply;
use super::sandbox::{self, is_memory_error, Sandbox};
use crate::command::{self as c, Cmd};
use crate::keys;
use crate::num::{format_double, format_human_double};
use crate::reply::Reply;
use bytes::Bytes;
use mlua::{ChunkMode, Function, Lua, LuaOptions, StdLib, Table, Value};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

/// Lua instructions a script may run before it is stopped.
pub const MAX_INSTRUCTIONS: u64 = 50_000_000;
pub use super::sandbox::MEMORY_LIMIT;
/// Redis' chunk names: errors read `user_script:LINE: ...` in a script,
/// `user_function:LINE: ...` in a function's library.
pub(crate) const CHUNK: &str = "@user_script";
pub(crate) const FUNCTION_CHUNK: &str = "@user_function";
/// The Redis version scripts see (`redis.REDIS_VERSION`), and its number
/// (`redis.REDIS_VERSION_NUM`: 0x00MMmmpp).
pub const REDIS_VERSION: &str = "7.0.15";
pub(crate) const REDIS_VERSION_NUM: i64 = 7 << 16 | 15;

/// Whether a Lua frame's source is the user's code (a script or a library).
pub(crate) fn is_user_chunk(source: Option<&str>) -> bool {
    matches!(source, Some(CHUNK | FUNCTION_CHUNK))
}

/// What a script entry runs: a script (EVAL), which errors name by its
/// digest, or a function of a library (FCALL), named by the function.
enum Program<'a> {
    Script { sha: String },
    Function { name: &'a str },
}

impl Program<'_> {
    fn of(cmd: &c::Eval) -> Program<'_> {
        if cmd.function.is_empty() {
            Program::Script { sha: sha1_hex(&cmd.body) }
        } else {
            Program::Function { name: &cmd.function }
        }
    }

    fn name(&self) -> &str {
        match self {
            Program::Script { sha } => sha,
            Program::Function { name } => name,
        }
    }

    fn chunk(&self) -> &'static str {
        match self {
            Program::Script { .. } => CHUNK,
            Program::Function { .. } => FUNCTION_CHUNK,
        }
    }
}

/// What a command a script calls turns into (see [`set_command_parser`]).
pub enum ScriptCall {
    /// A data command; `write` as the command table flags it.
    Run { cmd: Cmd, write: bool },
    /// A command answered without the data (PING, ECHO).
    Answer(Reply),
    /// TIME: the entry's clock.
    Time,
    /// PUBLISH / SPUBLISH: the message goes out once the script's entry is
    /// applied, from the node that proposed it (every replica runs the
    /// script). The script is told 0 receivers: a count would differ from
    /// node to node, and the script must run alike on each.
    Publish(crate::reply::Message),
}

/// Who runs a script: the user's name and ACL rules (both empty for a
/// user no rule restricts), which the commands it calls must pass.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub user: &'a str,
    pub acl: &'a str,
}

pub type CommandParser = fn(&[Bytes], Caller) -> Result<ScriptCall, Reply>;

static PARSER: OnceLock<CommandParser> = OnceLock::new();

/// The front end's command table turns a script's `redis.call` arguments
/// into commands (it knows the arities, flags and parsers); the node has
/// none of its own.
pub fn set_command_parser(p: CommandParser) {
    let _ = PARSER.set(p);
}

/// Where the commands scripts run go for MONITOR (Redis shows them as
/// `[0 lua]` lines): the front end's monitors, on the node that runs the
/// script (each replica of its partition).
pub type MonitorSink = Box<dyn Fn(&[Bytes]) + Send + Sync>;

static MONITOR: OnceLock<MonitorSink> = OnceLock::new();

pub fn set_monitor_sink(sink: MonitorSink) {
    let _ = MONITOR.set(sink);
}

/// A script's SHA1 digest in hex, as EVALSHA names it.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Redis' `redisLrand48`: the 48-bit linear congruential generator of
/// lrand48. Redis 7.0 never reseeds it (its sequence runs on from server
/// start, 0x1234ABCD330E, across scripts); here each entry seeds it from its
/// own seed, so that every replica draws the same numbers.
pub(crate) struct Lrand48(pub(crate) u64);

impl Lrand48 {
    const MAX: u64 = i32::MAX as u64;
    pub(crate) const MASK: u64 = (1 << 48) - 1;

    fn next(&mut self) -> u64 {
        self.0 = (self.0.wrapping_mul(0x5DEECE66D).wrapping_add(0xB)) & Self::MASK;
        self.0 >> 17
    }

    /// Lua's math.random over it: [0, 1) without arguments, else an integer
    /// in [1, u] or [l, u].
    pub(crate) fn random(&mut self, args: &[f64]) -> Result<f64, String> {
        let r = (self.next() % Self::MAX) as f64 / Self::MAX as f64;
        match *args {
            [] => Ok(r),
            [u] => {
                let u = u as i32;
                if u < 1 {
                    return Err("bad argument #1 to 'random' (interval is empty)".into());
                }
                Ok((r * u as f64).floor() + 1.0)
            }
            [l, u] => {
                let (l, u) = (l as i32, u as i32);
                if l > u {
                    return Err("bad argument #2 to 'random' (interval is empty)".into());
                }
                Ok((r * (u as f64 - l as f64 + 1.0)).floor() + l as f64)
            }
            _ => Err("wrong number of arguments".into()),
        }
    }
}

/// EVAL, EVALSHA (resolved to its body by the connection), FCALL (resolved
/// to its library's code), and their read-only forms. The script runs in
/// the apply thread's kept state, tentatively: when that run must be
/// redone (see [`super::sandbox`]) it is taken back whole and the script
/// runs again in a fresh state.
pub fn eval(a: &mut Apply, cmd: &c::Eval) -> Reply {
    let program = Program::of(cmd);
    let seed: u64 = rand::Rng::gen(&mut a.rng);
    let kept = a.tentatively(|a| {
        HELD.with(|h| *h.borrow_mut() = Some(Vec::new()));
        let ran = sandbox::with_kept(|sb| run(sb, a, cmd, &program, seed));
        let effects = HELD.with(|h| h.borrow_mut().take()).unwrap_or_default();
        match ran {
            Some(Ran::Done(reply)) => {
                effects.into_iter().for_each(|effect| effect());
                (Some(reply), true)
            }
            _ => (None, false),
        }
    });
    if let Some(reply) = kept {
        return reply;
    }
    match Sandbox::new(false).and_then(|mut sb| run(&mut sb, a, cmd, &program, seed)) {
        Ok(Ran::Done(reply)) => reply,
        Ok(Ran::Redo) => Reply::error(format!("ERR Error running script {}: not enough memory", program.name())),
        Err(e) => Reply::error(format!("ERR Error running script {}: {}", program.name(), one_line(&e.to_string()))),
    }
}

thread_local! {
    /// While a script runs in the kept state: what it does outside the
    /// entry (MONITOR lines, ACL log entries), done once the run is kept.
    static HELD: RefCell<Option<Vec<SideEffect>>> = const { RefCell::new(None) };
}

type SideEffect = Box<dyn FnOnce()>;

/// Does `effect` (something a script's command does outside the entry's
/// data) now, or once the script's run is kept if it may be redone.
pub fn side_effect(effect: impl FnOnce() + 'static) {
    let now = HELD.with(|h| match &mut *h.borrow_mut() {
        Some(held) => {
            held.push(Box::new(effect));
            None
        }
        None => Some(effect),
    });
    if let Some(effect) = now {
        effect();
    }
}

/// A Lua array of strings (KEYS, ARGV, a function's parameters).
fn string_list(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, v) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(v)?)?;
    }
    Ok(t)
}

/// A script's source as Lua text. A body that starts like a precompiled
/// chunk (ESC) would be loaded as bytecode, which Lua 5.1 runs unchecked;
/// Redis' Lua cannot load bytecode and parses it as text (a syntax error at
/// that byte), and so does this.
fn as_text(body: &[u8]) -> Cow<'_, [u8]> {
    let body = strip_shebang(body);
    if body.first() == Some(&0x1b) {
        let mut v = Vec::with_capacity(body.len() + 1);
        v.push(b' ');
        v.extend_from_slice(body);
        return Cow::Owned(v);
    }
    Cow::Borrowed(body)
}

/// The script (or library, by `chunk`) as a Lua function, or Redis'
/// compile error.
fn compile(lua: &Lua, body: &[u8], chunk: &'static str) -> Result<Function, Reply> {
    lua.load(&*as_text(body)).set_name(chunk).set_mode(ChunkMode::Text).into_function().map_err(|e| {
        let msg = match &e {
            mlua::Error::SyntaxError { message, .. } => message.clone(),
            other => other.to_string(),
        };
        if chunk == FUNCTION_CHUNK {
            Reply::error(format!("ERR Error compiling function: {}", one_line(&msg)))
        } else {
            Reply::error(format!("ERR Error compiling script (new function): {}", one_line(&msg)))
        }
    })
}

/// Bytecode of scripts compiled on this (the apply) thread, by digest: a
/// script is parsed once, not in every fresh state that runs it. Bytecode
/// loaded here is only ever our own compiler's output. Bounded in scripts
/// and bytes: cleared when full.
const COMPILED_MAX: usize = 1024;
const COMPILED_MAX_BYTES: usize = 32 << 20;

/// The cached bytecode and its total size.
type Compiled = (HashMap<String, Rc<[u8]>>, usize);

thread_local! {
    static COMPILED: RefCell<Compiled> = RefCell::new((HashMap::new(), 0));
}

/// The script or library `body` as a function of `lua`: from the bytecode
/// cache, or compiled (and cached). `key` names it in the cache: a
/// script's digest, or a library's (see [`library_key`]).
fn load_chunk(lua: &Lua, body: &[u8], key: &str, chunk: &'static str) -> Result<Function, Reply> {
    if let Some(code) = COMPILED.with(|c| c.borrow().0.get(key).cloned()) {
        if let Ok(f) = lua.load(&code[..]).set_name(chunk).set_mode(ChunkMode::Binary).into_function() {
            return Ok(f);
        }
    }
    let f = compile(lua, body, chunk)?;
    let code: Rc<[u8]> = f.dump(false).into();
    COMPILED.with(|c| {
        let (map, bytes) = &mut *c.borrow_mut();
        if map.len() >= COMPILED_MAX || *bytes + code.len() > COMPILED_MAX_BYTES {
            map.clear();
            *bytes = 0;
        }
        if code.len() <= COMPILED_MAX_BYTES {
            *bytes += code.len();
            map.insert(key.to_string(), code);
        }
    });
    Ok(f)
}

/// Redis' error for a script that does not compile (SCRIPT LOAD refuses
/// it, EVAL does not remember it).
pub fn compile_error(body: &[u8]) -> Option<Reply> {
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).ok()?;
    compile(&lua, body, CHUNK).err()
}

/// What `pcall` gives for an error: a failed command's error reply text,
/// the message of an error a library function of ours raised (cjson,
/// cmsgpack: as Lua's own libraries give theirs), an error table's `err`.
pub(crate) fn unwrap_error(lua: &Lua, e: Value) -> mlua::Result<Value> {
    if let Some(msg) = call_error(&e) {
        return Ok(Value::String(lua.create_string(msg)?));
    }
    if let Value::Error(err) = &e {
        return Ok(Value::String(lua.create_string(lua_error_text(err))?));
    }
    if let Value::Table(t) = &e {
        if let Ok(Value::String(msg)) = t.raw_get::<Value>("err") {
            return Ok(Value::String(msg));
        }
    }
    Ok(e)
}

/// How a run went: its reply, or it must be redone in a fresh state.
enum Ran {
    Done(Reply),
    Redo,
}

/// Runs the script, or the function (its library's code registers its
/// functions and the one named is called with the keys and arguments), in
/// `sb`. What it published goes to the entry's messages
/// (`Apply::published`, with the keyspace events of its commands), even if
/// it then fails, as in Redis, whose messages are out by then.
fn run(sb: &mut Sandbox, a: &mut Apply, cmd: &c::Eval, program: &Program, seed: u64) -> mlua::Result<Ran> {
    let key = match program {
        Program::Script { sha } => sha.clone(),
        Program::Function { .. } => library_key(&cmd.body),
    };
    let code = match sb.chunk(&key, |lua| load_chunk(lua, &cmd.body, &key, program.chunk())) {
        Ok(f) => f,
        Err(e) => return Ok(Ran::Done(e)),
    };
    if let Program::Script { .. } = program {
        sb.globals.raw_set("KEYS", string_list(&sb.lua, &cmd.keys)?)?;
        sb.globals.raw_set("ARGV", string_list(&sb.lua, &cmd.args)?)?;
    }
    sb.arm(seed)?;
    let result = run_armed(sb, a, cmd, program, code);
    sb.disarm()?;
    let reply = result?;
    Ok(if sb.must_redo() { Ran::Redo } else { Ran::Done(reply) })
}

fn run_armed(sb: &Sandbox, a: &mut Apply, cmd: &c::Eval, program: &Program, code: Function) -> mlua::Result<Reply> {
    let read_only = match program {
        Program::Script { .. } => cmd.read_only || script_flags(&cmd.body).read_only,
        Program::Function { .. } => cmd.read_only,
    };
    let slots = a.slots;
    let whole_keyspace = slots == (0, keys::SLOTS as u32);
    let now = a.now;
    // Both run the command; `redis.call` raises its error (from a C
    // function, as Redis' does, so the script's line stays on the stack),
    // `redis.pcall` returns it as `{err = ...}`.
    let a = std::cell::RefCell::new(a);
    let caller = Caller { user: &cmd.user, acl: &cmd.acl };
    let run_call =
        |args: &mlua::MultiValue| call(&mut a.borrow_mut(), args, caller, read_only, slots, whole_keyspace, now);
    let lua = &sb.lua;
    // The protocol `redis.call` answers in (redis.setresp); every run starts
    // at 2.
    let resp3 = std::cell::Cell::new(false);
    lua.scope(|scope| {
        sb.redis.raw_set(
            "call",
            scope.create_function(|lua, args: mlua::MultiValue| match run_call(&args) {
                Reply::Error(e) => Err(mlua::Error::external(CallError(e))),
                r => to_lua(lua, r, resp3.get()),
            })?,
        )?;
        sb.redis.raw_set(
            "pcall",
            scope.create_function(|lua, args: mlua::MultiValue| to_lua(lua, run_call(&args), resp3.get()))?,
        )?;
        sb.redis.raw_set(
            "setresp",
            scope.create_function(|_, args: mlua::MultiValue| {
                let fail = |m: &str| Err(mlua::Error::external(CallError(m.to_string())));
                if args.len() != 1 {
                    return fail("ERR redis.setresp() requires one argument.");
                }
                // lua_tonumber, then C's int: numeric strings count, 2.5 is 2.
                let v = match &args[0] {
                    Value::Integer(i) => Some(*i as f64),
                    Value::Number(n) => Some(*n),
                    Value::String(s) => s.to_str().ok().and_then(|t| t.trim().parse::<f64>().ok()),
                    _ => None,
                };
                match v.map(|n| n as i64) {
                    Some(2) => resp3.set(false),
                    Some(3) => resp3.set(true),
                    _ => return fail("ERR RESP version must be 2 or 3."),
                }
                Ok(())
            })?,
        )?;
        let chunk = program.chunk();
        let redo = sb.redo_flag();
        let handler = lua.create_function(move |lua, err: Value| {
            if is_memory_error(&err) {
                redo();
            }
            error_handler(lua, err, chunk)
        })?;
        let entry = match program {
            Program::Script { .. } => code,
            Program::Function { name } => {
                let (keys, args) = (string_list(lua, &cmd.keys)?, string_list(lua, &cmd.args)?);
                match register_library(sb, code, (*name, keys, args))? {
                    Ok(Registration { call: Some(f), .. }) => f,
                    Ok(_) => return Ok(Reply::error("ERR Function not found")),
                    Err(e) => return Ok(Reply::error(format!("ERR Error registering functions: {}", one_line(&e)))),
                }
            }
        };
        let (ok, value): (bool, Value) = sb.xpcall.call((entry, handler))?;
        if !ok && is_memory_error(&value) {
            sb.mark_redo();
        }
        Ok(if ok { from_lua(&value) } else { failure(&value, program.name()) })
    })
}

/// The bytecode cache's key of a library's code (the same text as a
/// script compiles to another chunk).
fn library_key(code: &[u8]) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(b"library\n");
    h.update(code);
    h.digest().to_string()
}

/// What a library registered, and the call of the function asked for.
struct Registration {
    functions: Vec<Registered>,
    call: Option<Function>,
}

/// A function a library registers.
#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    pub name: String,
    /// Bits of [`FUNCTION_FLAGS`].
    pub flags: u32,
    pub description: Option<Bytes>,
}

/// Redis' script flags, in Redis' order (FUNCTION LIST shows them so), by bit.
pub const FUNCTION_FLAGS: [&str; 5] = ["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"];

/// Runs a compiled library (see [`LOADER`]); `Err` is the text Redis puts
/// after "Error registering functions: ".
fn register_library(
    sb: &Sandbox,
    code: Function,
    (want, keys, args): (&str, Table, Table),
) -> mlua::Result<Result<Registration, String>> {
    let want = (!want.is_empty()).then_some(want);
    let (ok, registered, call): (bool, Value, Option<Function>) = sb.loader.call((code, want, keys, args))?;
    if !ok {
        return Ok(Err(match &registered {
            Value::Table(t) => match t.raw_get::<Value>("err") {
                Ok(Value::String(e)) => e.to_string_lossy(),
                _ => "ERR unknown error".into(),
            },
            Value::String(s) => format!("ERR {}", s.to_string_lossy()),
            Value::Error(e) => format!("ERR {}", lua_error_text(e)),
            other => format!("ERR {}", other.to_string().unwrap_or_default()),
        }));
    }
    let mut functions = Vec::new();
    if let Value::Table(t) = registered {
        for pair in t.pairs::<String, Table>() {
            let (name, f) = pair?;
            let description =
                f.raw_get::<Option<mlua::String>>("description")?.map(|d| Bytes::copy_from_slice(&d.as_bytes()));
            functions.push(Registered { name, flags: f.raw_get("flags")?, description });
        }
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Ok(Registration { functions, call }))
}

/// FUNCTION LOAD's run of a library's code (what follows its `#!` line,
/// whose newline it starts with): the functions it registers, or Redis'
/// error ("Error compiling function: ..." or "Error registering functions:
/// ...", without the leading "ERR ").
pub fn load_library(code: &[u8]) -> Result<Vec<Registered>, String> {
    let fail = |e: mlua::Error| format!("Error registering functions: ERR {}", one_line(&lua_error_text(&e)));
    let mut sb = Sandbox::new(false).map_err(fail)?;
    let compiled = match compile(&sb.lua, code, FUNCTION_CHUNK) {
        Ok(f) => f,
        Err(Reply::Error(e)) => return Err(e.strip_prefix("ERR ").unwrap_or(&e).to_string()),
        Err(_) => return Err("Error compiling function".into()),
    };
    sb.arm(0).map_err(fail)?;
    let (keys, args) = (sb.lua.create_table().map_err(fail)?, sb.lua.create_table().map_err(fail)?);
    let out = register_library(&sb, compiled, ("", keys, args));
    sb.disarm().map_err(fail)?;
    match out.map_err(fail)? {
        Ok(r) => Ok(r.functions),
        Err(e) => Err(format!("Error registering functions: {}", one_line(&e))),
    }
}

/// The error reply of a command `redis.call` ran, raised as a Lua error.
#[derive(Debug)]
struct CallError(String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The command error inside a raised Lua error, if that is what it is.
fn call_error(v: &Value) -> Option<&str> {
    fn inner(e: &mlua::Error) -> Option<&str> {
        match e {
            mlua::Error::ExternalError(x) => x.downcast_ref::<CallError>().map(|c| c.0.as_str()),
            mlua::Error::CallbackError { cause, .. } => inner(cause),
            _ => None,
        }
    }
    match v {
        Value::Error(e) => inner(e),
        _ => None,
    }
}

/// The command a script called, run on the entry's state.
fn call(
    a: &mut Apply,
    args: &mlua::MultiValue,
    caller: Caller,
    read_only: bool,
    slots: (u32, u32),
    whole: bool,
    now: u64,
) -> Reply {
    if args.is_empty() {
        return Reply::error("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for v in args.iter() {
        match v {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => argv.push(Bytes::from(i.to_string())),
            Value::Number(n) => argv.push(Bytes::from(format_double(*n))),
            _ => return Reply::error("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let Some(parse) = PARSER.get() else {
        return Reply::error("ERR this node cannot run commands from scripts");
    };
    let reply = match parse(&argv, caller) {
        Err(e) => return e,
        Ok(ScriptCall::Answer(r)) => r,
        // Redis counts a publish as a write here (it is replicated).
        Ok(ScriptCall::Publish(_)) if read_only => {
            return Reply::error("ERR Write commands are not allowed from read-only scripts.")
        }
        Ok(ScriptCall::Publish(m)) => {
            a.published.push(m);
            Reply::Int(0)
        }
        Ok(ScriptCall::Time) => {
            Reply::Array(vec![Reply::bulk((now / 1000).to_string()), Reply::bulk(((now % 1000) * 1000).to_string())])
        }
        Ok(ScriptCall::Run { cmd, write }) => {
            if write && read_only {
                return Reply::error("ERR Write commands are not allowed from read-only scripts.");
            }
            // The entry runs on one partition: a key elsewhere is not here.
            let foreign = cmd.keys().iter().any(|k| {
                let s = keys::slot(k) as u32;
                s < slots.0 || s >= slots.1
            });
            if foreign || (cmd.is_keyless() && !whole) {
                return Reply::error("ERR Script attempted to access a non local key in a cluster node");
            }
            super::write(a, &cmd)
        }
    };
    // A command that ran (not one refused above) shows in MONITOR.
    if let Some(feed) = MONITOR.get() {
        side_effect(move || feed(&argv));
    }
    reply
}

/// Redis' error handler: the error as a table `{err = ...}` (a string error
/// gets `ERR ` in front), with the script's line it came from.
fn error_handler(lua: &Lua, err: Value, chunk: &'static str) -> mlua::Result<Table> {
    let t = match &err {
        Value::Table(t) => t.clone(),
        e if call_error(e).is_some() => error_table(lua, call_error(e).unwrap_or_default())?,
        Value::String(s) => error_table(lua, &format!("ERR {}", s.to_string_lossy()))?,
        Value::Error(e) => error_table(lua, &format!("ERR {}", lua_error_text(e)))?,
        other => error_table(lua, &format!("ERR {}", other.to_string().unwrap_or_default()))?,
    };
    // The innermost frame of the script itself (not of a C function or of
    // the library prelude).
    for level in 1..64 {
        let Some(frame) = lua.inspect_stack(level) else { break };
        if frame.source().source.as_deref() == Some(chunk) {
            t.raw_set("source", chunk)?;
            t.raw_set("line", frame.curr_line())?;
            break;
        }
    }
    Ok(t)
}

fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

pub(crate) fn stop_message() -> String {
    format!(
        "Script stopped after {MAX_INSTRUCTIONS} Lua instructions: scripts run inside the replicated log, so this server stops a long one rather than stall every partition of the node"
    )
}

pub(crate) fn error_table(lua: &Lua, msg: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", msg)?;
    Ok(t)
}

/// The reply of a script that failed: its error, where it happened (`name`:
/// the script's digest or the function's name).
fn failure(v: &Value, name: &str) -> Reply {
    let Value::Table(t) = v else {
        return Reply::error(format!("ERR Error running script {name}: execution failure"));
    };
    let msg = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => "ERR unknown error".to_string(),
    };
    match (t.raw_get::<Option<String>>("source"), t.raw_get::<Option<i64>>("line")) {
        (Ok(Some(source)), Ok(Some(line))) => {
            Reply::Error(one_line(&format!("{msg} script: {name}, on {source}:{line}.")))
        }
        _ => Reply::Error(one_line(&msg)),
    }
}

/// Redis puts no CR or LF inside an error or status line.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// A command's reply as a script sees it: Redis' RESP2 conversion, or,
/// after `redis.setresp(3)`, its RESP3 one (maps, sets, doubles and
/// verbatim strings as tables that name their type; null is nil).
fn to_lua(lua: &Lua, r: Reply, resp3: bool) -> mlua::Result<Value> {
    let array = |items: Vec<Reply>| -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.into_iter().enumerate() {
            t.raw_set(i + 1, to_lua(lua, item, resp3)?)?;
        }
        Ok(Value::Table(t))
    };
    let typed = |name: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(name, v)?;
        Ok(Value::Table(t))
    };
    let status = |s: &str| typed("ok", Value::String(lua.create_string(s)?));
    let double = |d: f64, text: String| -> mlua::Result<Value> {
        if resp3 {
            typed("double", Value::Number(d))
        } else {
            Ok(Value::String(lua.create_string(text)?))
        }
    };
    let map = |pairs: Vec<(Reply, Reply)>| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for (k, v) in pairs {
            t.raw_set(to_lua(lua, k, resp3)?, to_lua(lua, v, resp3)?)?;
        }
        typed("map", Value::Table(t))
    };
    Ok(match r {
        Reply::Ok => status("OK")?,
        Reply::Status(s) => status(&s)?,
        Reply::Error(e) => Value::Table(error_table(lua, &e)?),
        Reply::Int(i) => Value::Number(i as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(&b)?),
        Reply::Verbatim(s) if resp3 => {
            let v = lua.create_table()?;
            v.raw_set("format", "txt")?;
            v.raw_set("string", lua.create_string(&s)?)?;
            typed("verbatim_string", Value::Table(v))?
        }
        Reply::Verbatim(s) => Value::String(lua.create_string(&s)?),
        Reply::Double(d) => double(d, format_double(d))?,
        Reply::HumanDouble(d) => double(d, format_human_double(d))?,
        Reply::Nil | Reply::NilArray if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Set(items) if resp3 => {
            let t = lua.create_table()?;
            for item in items {
                t.raw_set(to_lua(lua, item, resp3)?, true)?;
            }
            typed("set", Value::Table(t))?
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Several(items) => array(items)?,
        Reply::Publishing(r, _) => to_lua(lua, *r, resp3)?,
        Reply::Map(pairs) | Reply::PairMap(pairs) if resp3 => map(pairs)?,
        Reply::Pairs(pairs) if resp3 => array(pairs.into_iter().map(|(k, v)| Reply::Array(vec![k, v])).collect())?,
        Reply::Map(pairs) | Reply::Pairs(pairs) => array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())?,
        Reply::PairMap(pairs) => array(pairs.into_iter().map(|(k, v)| Reply::Array(vec![k, v])).collect())?,
    })
}

/// Tables nested deeper than this in a script's return value end in an
/// error (a table that holds itself would be endless). Redis stops where its
/// Lua stack runs out, near 8000; this stays well within a thread's stack.
const MAX_REPLY_DEPTH: usize = 1000;

/// A script's return value as a reply (Redis' conversion): numbers are
/// truncated to integers, `false` is nil, a table with `err` or `ok` is an
/// error or status, one with `double`, `big_number`, `map` or `set` that
/// RESP3 type, any other table an array up to its first nil.
fn from_lua(v: &Value) -> Reply {
    from_lua_at(v, 0)
}

fn from_lua_at(v: &Value, depth: usize) -> Reply {
    match v {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(c_i64(*n)),
        Value::Boolean(true) => Reply::Int(1),
        Value::Table(_) if depth >= MAX_REPLY_DEPTH => Reply::error("ERR reached lua stack limit"),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(one_line(&e.to_string_lossy()));
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                return Reply::Status(one_line(&s.to_string_lossy()));
            }
            // The RESP3 shapes a script may build (Redis 7.0 takes them
            // whatever redis.setresp says; a RESP2 client gets them as bulk
            // strings and flat arrays).
            match t.raw_get::<Value>("double") {
                Ok(Value::Number(d)) => return Reply::Double(d),
                Ok(Value::Integer(i)) => return Reply::Double(i as f64),
                _ => {}
            }
            if let Ok(Value::String(n)) = t.raw_get::<Value>("big_number") {
                return Reply::Bulk(Bytes::copy_from_slice(&n.as_bytes()));
            }
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
                return Reply::Map(
                    m.pairs::<Value, Value>()
                        .filter_map(Result::ok)
                        .map(|(k, v)| (from_lua_at(&k, depth + 1), from_lua_at(&v, depth + 1)))
                        .collect(),
                );
            }
            if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
                return Reply::Set(
                    set.pairs::<Value, Value>()
                        .filter_map(Result::ok)
                        .map(|(k, _)| from_lua_at(&k, depth + 1))
                        .collect(),
                );
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => items.push(from_lua_at(&v, depth + 1)),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    }
}

/// C's `(long long)` of a double as x86-64 computes it: out of range (or
/// NaN) gives the smallest integer, where Rust's `as` would saturate.
/// (Also what the script libraries' C does with a number: cmsgpack,
/// struct.)
pub(crate) fn c_i64(n: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_63..TWO_63).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// The flags of a `#!lua flags=...` first line.
#[derive(Default)]
pub struct ScriptFlags {
    pub read_only: bool,
}

pub fn script_flags(body: &[u8]) -> ScriptFlags {
    let mut f = ScriptFlags::default();
    if let Some(line) = shebang(body) {
        for word in String::from_utf8_lossy(line).split_whitespace().skip(1) {
            if let Some(flags) = word.strip_prefix("flags=") {
                f.read_only = flags.split(',').any(|x| x == "no-writes");
            }
        }
    }
    f
}

fn shebang(body: &[u8]) -> Option<&[u8]> {
    body.starts_with(b"#!").then(|| body.split(|b| *b == b'\n').next().unwrap_or(body))
}

/// The body Lua compiles: a shebang line is left out (its newline kept, so
/// that line numbers stay the same).
fn strip_shebang(body: &[u8]) -> &[u8] {
    match shebang(body) {
        Some(line) => &body[line.len()..],
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_numbers_follow_redis_lrand48() {
        // A fresh redis-server 7.0: EVAL "return math.random(100)" 0, twice,
        // then EVAL "return math.random(1,10)" 0.
        let mut r = Lrand48(0x1234ABCD330E);
        assert_eq!(r.random(&[100.0]), Ok(40.0));
        assert_eq!(r.random(&[100.0]), Ok(85.0));
        assert_eq!(r.random(&[1.0, 10.0]), Ok(4.0));
        assert!(r.random(&[0.0]).is_err());
    }

    #[test]
    fn sha1_names_scripts_as_redis_does() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }

    #[test]
    fn shebang_flags() {
        assert!(script_flags(b"#!lua flags=no-writes\nreturn 1").read_only);
        assert!(!script_flags(b"#!lua\nreturn 1").read_only);
        assert_eq!(strip_shebang(b"#!lua\nreturn 1"), b"\nreturn 1");
        assert_eq!(strip_shebang(b"return 1"), b"return 1");
    }
}
