//! The Lua state scripts and functions run in.
//!
//! Redis' libraries (`redis`, `string`, `table`, `math`, `cjson`,
//! `cmsgpack`, `struct`, `bit`) and the globals sit behind read-only views,
//! as Redis 7 locks every table reachable from the globals: a script can
//! change nothing a later script would see. That lets one state per apply
//! thread (the *kept* state) run script after script, instead of a state
//! built and closed for each (most of a short script's cost).
//!
//! Replicas must still do exactly the same thing, and a kept state has a
//! history a restarted replica's lacks. What a script can observe of that
//! history is the collector's work: memory in use (`collectgarbage`,
//! `gcinfo`), when weak entries go (a metatable's `__mode`), and how close
//! it is to the memory limit. So in the kept state those calls, and a
//! memory error, *redo* the script: its run is taken back
//! ([`super::db::Apply::tentatively`]) and it runs again in a fresh state
//! built the same way, whose outcome does not depend on history. A kept run
//! may grow the state by [`KEPT_BUDGET`] only, well below the fresh state's
//! [`MEMORY_LIMIT`], so that a script that fits the kept state also fits a
//! fresh one (the collector's garbage stays within a small multiple of the
//! live data).

use super::script::{sha1_hex, stop_message, Lrand48, MAX_INSTRUCTIONS, REDIS_VERSION, REDIS_VERSION_NUM};
use mlua::{ChunkMode, Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Bytes a fresh state may allocate.
pub const MEMORY_LIMIT: usize = 64 << 20;
/// Bytes a run in the kept state may add before it is redone in a fresh one.
pub const KEPT_BUDGET: usize = 8 << 20;
/// Garbage the kept state may carry into a run before a full collection.
const KEPT_SLACK: usize = 8 << 20;
const HOOK_EVERY: u32 = 10_000;
/// Loaded scripts and libraries the kept state holds, by digest.
const KEPT_CHUNKS: usize = 256;

/// Runs once in each state: the parts of Redis' scripting library written
/// in Lua, the function loader, and the read-only views. `pcall` and
/// `xpcall` pass on the error of a stopped (or redone) script instead of
/// catching it; `pcall` gives an error table's message, as Redis' does (a
/// failed `redis.call` gives its error reply's text).
const PRELUDE: &str = r#"
local stopped, stop_error, unwrap, libraries, is_memory, mark_redo, kept = ...
local error, type, select, tostring, next = error, type, select, tostring, next
local raw_setmetatable, raw_getmetatable, raw_setfenv = setmetatable, getmetatable, setfenv
local G = _G
-- In the kept state, what shows the collector's work makes the script run
-- again in a fresh state (see sandbox.rs).
local function redo()
  if kept then
    mark_redo()
    error(stop_error())
  end
end
-- (Lua calls no handler for its own out-of-memory error: xpcall returns
-- it as it is.)
local function pass_xpcall(ok, ...)
  if not ok and is_memory((...)) then redo() end
  if stopped() then error(stop_error()) end
  return ok, ...
end
local function pass_pcall(ok, ...)
  if not ok and is_memory((...)) then redo() end
  if stopped() then error(stop_error()) end
  if not ok then return false, unwrap((...)) end
  return ok, ...
end
local raw_pcall, raw_xpcall = pcall, xpcall
-- Lua 5.1 runs precompiled chunks unchecked (crafted bytecode escapes the
-- sandbox); Redis' Lua cannot load them, so a chunk that starts like one
-- is parsed as text (a syntax error) here too.
local raw_loadstring, concat, byte = loadstring, table.concat, string.byte
local function as_text(s)
  if byte(s, 1) == 27 then return ' ' .. s end
  return s
end
loadstring = function(s, name)
  if type(s) == 'string' then return raw_loadstring(as_text(s), name or s) end
  return raw_loadstring(s, name)
end
load = function(reader, name)
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    parts[#parts + 1] = piece
  end
  return raw_loadstring(as_text(concat(parts)), name or '=(load)')
end
pcall = function(...) return pass_pcall(raw_pcall(...)) end
xpcall = function(f, handler)
  return pass_xpcall(raw_xpcall(f, function(e)
    if is_memory(e) then redo() end
    return handler(e)
  end))
end
-- Redis' luaPushErrorBuff: "-CODE msg" keeps its code, anything else is
-- "ERR msg" (a word without a space is all message); CR and LF trimmed.
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  e = string.match(e, '^[^%z]*')
  if string.sub(e, 1, 1) ~= '-' then e = '-' .. e end
  local code, msg = 'ERR', string.sub(e, 2)
  local space = string.find(e, ' ', 1, true)
  if space then code, msg = string.sub(e, 2, space - 1), string.sub(e, space + 1) end
  msg = string.match(msg, '^[\r\n]*(.-)[\r\n]*$')
  return {err = code .. ' ' .. msg}
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  return {ok = s}
end
-- Nothing is logged (a script runs on every replica), but the arguments
-- are checked as Redis' luaLogCommand checks them.
redis.log = function(...)
  if select('#', ...) < 2 then error({err = 'ERR redis.log() requires two arguments or more.'}) end
  local level = tonumber((...))
  if not level then error({err = 'ERR First argument must be a number (log level).'}) end
  if level < 0 or level > 3 then error({err = 'ERR Invalid debug level.'}) end
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.set_repl = function() end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
-- (redis.call, redis.pcall and redis.setresp are set for each run: see
-- script.rs.)
-- Not in Redis' scripts: files, printing, environments, userdata of one's
-- own; and no coroutines (a coroutine's instructions would escape the
-- instruction count).
loadfile, dofile, print, coroutine, setfenv, getfenv, newproxy = nil, nil, nil, nil, nil, nil, nil
-- The libraries beyond Lua's own. The pack functions take their arguments
-- in a table, which keeps numbers exact (see cmsgpack.rs).
for _, name in next, {'cjson', 'cmsgpack', 'struct', 'bit'} do
  local lib = libraries(name)
  if name == 'cmsgpack' or name == 'struct' then
    local pack = lib.pack
    lib.pack = function(...) return pack(select('#', ...), {...}) end
  end
  G[name] = lib
end

-- The function loader: a library's code run under Redis' load-time rules
-- (its globals are only `redis` with `register_function`, `log` and the
-- version; anything else is a nonexistent global, and globals are
-- read-only); what it registers is returned as `name -> {flags = bits,
-- description = text}`. Once it has run, the functions see the globals
-- scripts see (no KEYS or ARGV), and the one named (if any) comes back as a
-- call of it with the keys and arguments given. Errors are Redis' (tables
-- `{err = ...}` from `register_function`, strings from Lua).
local log, version, version_num = redis.log, redis.REDIS_VERSION, redis.REDIS_VERSION_NUM
local lower, find = string.lower, string.find
local flag_bits = {['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4, ['no-cluster'] = 8,
  ['allow-cross-slot-keys'] = 16}
local function readonly() error('Attempt to modify a readonly table', 2) end
local function run_library(chunk, want, keys, args)
  local registered = {}
  local function fail(msg) error({err = 'ERR ' .. msg}) end
  -- lua_isstring: numbers are strings too.
  local function as_string(v)
    if type(v) == 'string' or type(v) == 'number' then return tostring(v) end
  end
  local function read_flags(t)
    local set, j = {}, 1
    while true do
      local f = t[j]
      if f == nil then break end
      f = as_string(f)
      if not f or not flag_bits[lower(f)] then return nil end
      set[flag_bits[lower(f)]] = true
      j = j + 1
    end
    local bits = 0
    for b in next, set do bits = bits + b end
    return bits
  end
  local function register(...)
    local n = select('#', ...)
    if n < 1 or n > 2 then fail('wrong number of arguments to redis.register_function') end
    local name, callback, flags, desc
    if n == 1 then
      local t = ...
      if type(t) ~= 'table' then
        fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
      end
      for k, v in next, t do
        if not as_string(k) then fail('named argument key given to redis.register_function is not a string') end
        local key = lower(tostring(k))
        if key == 'function_name' then
          name = as_string(v)
          if not name then fail('function_name argument given to redis.register_function must be a string') end
        elseif key == 'description' then
          desc = as_string(v)
          if not desc then fail('description argument given to redis.register_function must be a string') end
        elseif key == 'callback' then
          if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
          callback = v
        elseif key == 'flags' then
          if type(v) ~= 'table' then
            fail('flags argument to redis.register_function must be a table representing function flags')
          end
          flags = read_flags(v)
          if not flags then fail('unknown flag given') end
        else
          fail('unknown argument given to redis.register_function')
        end
      end
      if not name then fail('redis.register_function must get a function name argument') end
      if not callback then fail('redis.register_function must get a callback argument') end
    else
      local a, b = ...
      name = as_string(a)
      if not name then fail('first argument to redis.register_function must be a string') end
      if type(b) ~= 'function' then fail('second argument to redis.register_function must be a function') end
      callback = b
    end
    if name == '' or find(name, '[^%w_]') then
      fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
    end
    if registered[name] then fail('Function already exists in the library') end
    registered[name] = {callback = callback, flags = flags or 0, description = desc}
  end
  local api = {register_function = register, log = log, LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2,
    LOG_WARNING = 3, REDIS_VERSION = version, REDIS_VERSION_NUM = version_num}
  local load_redis = raw_setmetatable({}, {
    __index = function(_, k)
      local v = api[k]
      if v == nil then error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end
      return v
    end,
    __newindex = readonly,
  })
  local env_meta = {
    __index = function(_, k)
      if k == 'redis' then return load_redis end
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end,
    __newindex = readonly,
  }
  raw_setfenv(chunk, raw_setmetatable({}, env_meta))
  local ok, err = raw_pcall(chunk)
  if not ok then return false, err end
  env_meta.__index = G
  local f = want and registered[want]
  local callback = f and f.callback
  local call = callback and function() return callback(keys, args) end
  for _, r in next, registered do r.callback = nil end
  return true, registered, call
end

-- Read-only views. Every table reachable from the globals is replaced by
-- an empty table that reads through to it and refuses writes; the
-- functions that write past a metatable refuse views (see guards.rs).
local real_of, views = {}, {}
local function view_of(t)
  local view = views[t]
  if view then return view end
  view = {}
  views[t], real_of[view] = view, t
  for k, v in next, t do
    if type(v) == 'table' and not real_of[v] then t[k] = view_of(v) end
  end
  raw_setmetatable(view, {__index = t, __newindex = readonly})
  return view
end
do
  -- The globals: their table becomes the view, of a table that holds them.
  local globals = {}
  for k, v in next, G do globals[k] = v end
  for k in next, globals do G[k] = nil end
  globals._G = G
  views[globals], real_of[G] = G, globals
  for k, v in next, globals do
    if type(v) == 'table' and not real_of[v] then globals[k] = view_of(v) end
  end
  view_of(raw_getmetatable(''))
  raw_setmetatable(globals, {
    __index = function(_, k)
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end,
  })
  raw_setmetatable(G, {__index = globals, __newindex = readonly})
  return globals, run_library, real_of, views, view_of({})
end
"#;

thread_local! {
    static PRELUDE_BYTECODE: Rc<[u8]> = {
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).expect("a Lua state");
        let f = lua.load(PRELUDE).set_name("=redis").into_function().expect("the prelude compiles");
        f.dump(false).into()
    };
    /// The apply thread's kept state, made on first use (None again after a
    /// run left it in doubt).
    static KEPT: RefCell<Option<Sandbox>> = const { RefCell::new(None) };
}

/// A Lua state set up for scripts.
pub(crate) struct Sandbox {
    pub lua: Lua,
    /// The table that holds the globals (the global table is a read-only
    /// view of it): KEYS and ARGV go here.
    pub globals: Table,
    /// The `redis` library's table: `call` and `pcall` go here for a run.
    pub redis: Table,
    /// Runs a library's code (the prelude's `run_library`).
    pub loader: Function,
    /// Lua's own `xpcall`, which the prelude wraps for scripts.
    pub xpcall: Function,
    /// Whether this is the kept state (see the module's comment).
    pub kept: bool,
    /// math.random's generator state, seeded for each run.
    rng: Rc<Cell<u64>>,
    /// Set once a run's instruction budget is spent.
    stopped: Rc<Cell<bool>>,
    /// Set when a kept run must be redone in a fresh state.
    redo: Rc<Cell<bool>>,
    /// Memory in use once set up and collected.
    base_memory: usize,
    /// Loaded scripts and libraries (kept state only).
    chunks: HashMap<String, Function>,
}

impl Sandbox {
    /// A state with Redis' libraries behind their read-only views.
    pub fn new(kept: bool) -> mlua::Result<Sandbox> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::default())?;
        if !kept {
            lua.set_memory_limit(MEMORY_LIMIT)?;
        }
        // Setting the state up makes no garbage worth collecting.
        lua.gc_stop();
        let g = lua.globals();
        let redis = lua.create_table()?;
        redis.raw_set("sha1hex", lua.create_function(|_, s: mlua::String| Ok(sha1_hex(&s.as_bytes())))?)?;
        redis.raw_set("REDIS_VERSION", REDIS_VERSION)?;
        redis.raw_set("REDIS_VERSION_NUM", REDIS_VERSION_NUM)?;
        g.raw_set("redis", redis.clone())?;
        let rng = Rc::new(Cell::new(0));
        let math: Table = g.raw_get("math")?;
        let gen = rng.clone();
        math.raw_set(
            "random",
            lua.create_function(move |_, args: mlua::Variadic<f64>| {
                let mut r = Lrand48(gen.get());
                let out = r.random(&args).map_err(mlua::Error::RuntimeError);
                gen.set(r.0);
                out
            })?,
        )?;
        math.raw_set("randomseed", lua.create_function(|_, _: mlua::MultiValue| Ok(()))?)?;
        let xpcall: Function = g.raw_get("xpcall")?;
        let (stopped, redo) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
        let halted = {
            let (stopped, redo) = (stopped.clone(), redo.clone());
            lua.create_function(move |_, ()| Ok(stopped.get() || redo.get()))?
        };
        let mark_redo = {
            let redo = redo.clone();
            lua.create_function(move |_, ()| {
                redo.set(true);
                Ok(())
            })?
        };
        let stop_error =
            lua.create_function(|lua, ()| super::script::error_table(lua, &format!("ERR {}", stop_message())))?;
        let unwrap = lua.create_function(|lua, e: Value| super::script::unwrap_error(lua, e))?;
        let is_memory = lua.create_function(|_, e: Value| Ok(is_memory_error(&e)))?;
        let libraries = lua.create_function(|lua, name: mlua::String| -> mlua::Result<Table> {
            match &*name.as_bytes() {
                b"cjson" => super::cjson::library(lua),
                b"cmsgpack" => super::cmsgpack::library(lua),
                b"struct" => super::luastruct::library(lua),
                _ => super::luabit::library(lua),
            }
        })?;
        let prelude = PRELUDE_BYTECODE.with(Rc::clone);
        let (globals, loader, real_of, views, globals_meta): (Table, Function, Table, Table, Table) = lua
            .load(&prelude[..])
            .set_name("=redis")
            .set_mode(ChunkMode::Binary)
            .call((halted, stop_error, unwrap, libraries, is_memory, mark_redo, kept))?;
        let table: Table = real_of.raw_get(globals.raw_get::<Table>("table")?)?;
        let views = super::guards::Views { real_of, views, globals_meta };
        super::guards::install(&lua, &globals, &table, views, redo.clone(), kept)?;
        lua.gc_restart();
        if kept {
            lua.gc_collect()?;
        }
        let base_memory = lua.used_memory();
        Ok(Sandbox {
            lua,
            globals,
            redis,
            loader,
            xpcall,
            kept,
            rng,
            stopped,
            redo,
            base_memory,
            chunks: HashMap::new(),
        })
    }

    /// Readies the state for a run: math.random seeded with `seed`, a new
    /// instruction budget, and, in the kept state, the memory budget.
    pub fn arm(&mut self, seed: u64) -> mlua::Result<()> {
        self.rng.set(seed & Lrand48::MASK);
        self.stopped.set(false);
        self.redo.set(false);
        if self.kept {
            if self.lua.used_memory() > self.base_memory + KEPT_SLACK {
                self.lua.gc_collect()?;
            }
            self.lua.set_memory_limit(self.lua.used_memory() + KEPT_BUDGET)?;
        }
        let spent = Cell::new(0u64);
        let stopped = self.stopped.clone();
        // Setting the hook also restarts its count, so that every run is
        // stopped at the same instruction.
        self.lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
            spent.set(spent.get() + HOOK_EVERY as u64);
            if spent.get() > MAX_INSTRUCTIONS {
                stopped.set(true);
                return Err(mlua::Error::RuntimeError(stop_message()));
            }
            Ok(VmState::Continue)
        });
        Ok(())
    }

    /// Ends a run: no hook, no KEYS or ARGV left behind.
    pub fn disarm(&self) -> mlua::Result<()> {
        self.lua.remove_hook();
        self.globals.raw_set("KEYS", Value::Nil)?;
        self.globals.raw_set("ARGV", Value::Nil)?;
        if self.kept {
            self.lua.set_memory_limit(0)?;
        }
        Ok(())
    }

    /// Whether this kept run must be redone in a fresh state.
    pub fn must_redo(&self) -> bool {
        self.redo.get()
    }

    /// Marks this run (in the kept state) to be redone in a fresh one.
    pub fn mark_redo(&self) {
        self.redo_flag()();
    }

    /// [`Sandbox::mark_redo`] for a closure that outlives the borrow.
    pub fn redo_flag(&self) -> impl Fn() + 'static {
        let (redo, kept) = (self.redo.clone(), self.kept);
        move || {
            if kept {
                redo.set(true);
            }
        }
    }

    /// The loaded chunk `key` of the kept state, or `load` it (and keep it).
    pub fn chunk(
        &mut self,
        key: &str,
        load: impl FnOnce(&Lua) -> Result<Function, crate::reply::Reply>,
    ) -> Result<Function, crate::reply::Reply> {
        if let Some(f) = self.chunks.get(key) {
            return Ok(f.clone());
        }
        let f = load(&self.lua)?;
        if self.kept {
            if self.chunks.len() >= KEPT_CHUNKS {
                self.chunks.clear();
            }
            self.chunks.insert(key.to_string(), f.clone());
        }
        Ok(f)
    }
}

/// Whether a Lua error value is an out-of-memory error (Lua's own message,
/// or one a Rust function of ours met).
pub fn is_memory_error(v: &Value) -> bool {
    fn inner(e: &mlua::Error) -> bool {
        match e {
            mlua::Error::MemoryError(_) => true,
            mlua::Error::CallbackError { cause, .. } => inner(cause),
            _ => false,
        }
    }
    match v {
        Value::Error(e) => inner(e),
        Value::String(s) => matches!(&*s.as_bytes(), b"not enough memory" | b"error in error handling"),
        _ => false,
    }
}

/// Runs `f` on the apply thread's kept state (made if there is none).
/// `None` if it cannot be made. A run that fails inside (not the script's
/// own error) drops the state, so that the next run starts from a new one.
pub(crate) fn with_kept<R>(f: impl FnOnce(&mut Sandbox) -> mlua::Result<R>) -> Option<R> {
    KEPT.with(|kept| {
        let mut slot = kept.borrow_mut();
        if slot.is_none() {
            *slot = Some(Sandbox::new(true).ok()?);
        }
        let sandbox = slot.as_mut()?;
        match f(sandbox) {
            Ok(r) => Some(r),
            Err(_) => {
                *slot = None;
                None
            }
        }
    })
}
