//! Redis 7's functions: FUNCTION LOAD|DELETE|FLUSH|LIST|DUMP|RESTORE|STATS|
//! KILL|HELP and the libraries FCALL and FCALL_RO call.
//!
//! The libraries belong to the node, as in Redis Cluster, where each node
//! holds its own (load them on every node, e.g. `redis-cli --cluster call`).
//! They live in `<data dir>/functions` in FUNCTION DUMP's format, written
//! (and synced) before a change is acknowledged. An FCALL is resolved here
//! to its library's code and the function's name; the raft entry carries
//! both, so the replicas that run it need no libraries of their own (see
//! `node::exec::script`, which also runs a library's code for LOAD).

use crate::local::upper;
use crate::resp::split_args;
use bytes::Bytes;
use node::exec::script::{load_library, Registered, FUNCTION_FLAGS};
use node::rdb::functions as payload;
use node::Reply;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

const ENGINE: &str = "LUA";
const NAME_RULE: &str =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
const NO_WRITES: u32 = 1;
const NO_CLUSTER: u32 = 8;

/// A loaded library.
#[derive(Clone, Debug)]
pub struct Library {
    pub name: String,
    /// As given to FUNCTION LOAD, `#!` line included.
    pub code: Bytes,
    /// What Lua runs: the code from the end of the `#!` line on (its
    /// newline kept, so that line numbers match the code's).
    pub body: Bytes,
    pub functions: Vec<Registered>,
}

/// The libraries, and which library holds each function.
#[derive(Clone, Default)]
struct Libraries {
    by_name: BTreeMap<String, Library>,
    owner: HashMap<String, String>,
}

impl Libraries {
    fn link(&mut self, lib: Library) {
        for f in &lib.functions {
            self.owner.insert(f.name.clone(), lib.name.clone());
        }
        self.by_name.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.by_name.remove(name)?;
        for f in &lib.functions {
            self.owner.remove(&f.name);
        }
        Some(lib)
    }

    /// Adds `lib` unless one of its functions belongs to another library.
    fn add(&mut self, lib: Library) -> Result<(), String> {
        if let Some(f) = lib.functions.iter().find(|f| self.owner.contains_key(&f.name)) {
            return Err(format!("Function {} already exists", f.name));
        }
        self.link(lib);
        Ok(())
    }

    fn function_count(&self) -> usize {
        self.owner.len()
    }

    /// The libraries of a payload's codes, each loaded in turn as Redis
    /// loads them (a library or function twice is an error).
    fn from_codes(codes: &[Bytes]) -> Result<Libraries, String> {
        let mut libs = Libraries::default();
        for code in codes {
            let lib = create(&libs, code, false)?;
            libs.add(lib)?;
        }
        Ok(libs)
    }
}

/// What FCALL needs of a function.
pub struct Resolved {
    pub body: Bytes,
    pub flags: u32,
}

impl Resolved {
    /// The function's `no-writes` flag.
    pub fn no_writes(&self) -> bool {
        self.flags & NO_WRITES != 0
    }
}

/// The node's libraries and the file that keeps them.
pub struct Functions {
    libs: Mutex<Libraries>,
    file: Option<PathBuf>,
    /// Serializes changes (a LOAD runs Lua outside the lock above, which
    /// FCALLs take).
    change: Mutex<()>,
}

impl Functions {
    /// The libraries kept in `dir` (none yet if it has no file); `None`
    /// keeps them in memory only (tests).
    pub fn open(dir: Option<&Path>) -> Result<Functions, String> {
        let file = dir.map(|d| d.join("functions"));
        let mut libs = Libraries::default();
        if let Some(f) = &file {
            match std::fs::read(f) {
                Ok(bytes) => {
                    let codes = payload::decode(&bytes).map_err(|e| format!("{}: {}", f.display(), e.message()))?;
                    libs = Libraries::from_codes(&codes).map_err(|e| format!("{}: {e}", f.display()))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", f.display())),
            }
        }
        Ok(Functions { libs: Mutex::new(libs), file, change: Mutex::new(()) })
    }

    /// Every library's code (what SAVE writes in the RDB file).
    pub fn codes(&self) -> Vec<Bytes> {
        self.libs.lock().by_name.values().map(|l| l.code.clone()).collect()
    }

    /// The functions of all libraries (INFO's number_of_functions).
    pub fn function_count(&self) -> usize {
        self.libs.lock().function_count()
    }

    /// FCALL's function: its library's code and its flags.
    pub fn resolve(&self, function: &str) -> Option<Resolved> {
        let libs = self.libs.lock();
        let lib = libs.by_name.get(libs.owner.get(function)?)?;
        let f = lib.functions.iter().find(|f| f.name == function)?;
        Some(Resolved { body: lib.body.clone(), flags: f.flags })
    }

    /// Makes `next` the libraries: on disk first (synced), then here.
    fn commit(&self, next: Libraries) -> Result<(), String> {
        if let Some(f) = &self.file {
            node::durable::replace_with(f, &payload::encode(next.by_name.values().map(|l| &l.code[..])))
                .map_err(|e| format!("ERR the functions could not be saved: {e}"))?;
        }
        *self.libs.lock() = next;
        Ok(())
    }

    fn current(&self) -> Libraries {
        self.libs.lock().clone()
    }

    /// The FUNCTION command.
    pub fn command(&self, argv: &[Bytes]) -> Reply {
        match upper(&argv[1]).as_str() {
            "LOAD" => self.load(argv),
            "DELETE" => {
                let _change = self.change.lock();
                let mut next = self.current();
                if next.unlink(&String::from_utf8_lossy(&argv[2])).is_none() {
                    return Reply::error("ERR Library not found");
                }
                self.commit(next).map_or_else(Reply::error, |_| Reply::Ok)
            }
            "FLUSH" => {
                if argv.len() > 3 {
                    return syntax_error(&argv[1]);
                }
                if argv.len() == 3 && !matches!(upper(&argv[2]).as_str(), "SYNC" | "ASYNC") {
                    return Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
                }
                let _change = self.change.lock();
                self.commit(Libraries::default()).map_or_else(Reply::error, |_| Reply::Ok)
            }
            "LIST" => self.list(argv),
            "DUMP" => {
                let libs = self.libs.lock();
                Reply::Bulk(payload::encode(libs.by_name.values().map(|l| &l.code[..])).into())
            }
            "RESTORE" => self.restore(argv),
            "STATS" => {
                let libs = self.libs.lock();
                let counts = Reply::Map(vec![
                    (Reply::bulk("libraries_count"), Reply::Int(libs.by_name.len() as i64)),
                    (Reply::bulk("functions_count"), Reply::Int(libs.function_count() as i64)),
                ]);
                Reply::Map(vec![
                    (Reply::bulk("running_script"), Reply::Nil),
                    (Reply::bulk("engines"), Reply::Map(vec![(Reply::bulk(ENGINE), counts)])),
                ])
            }
            // A function runs inside its entry's apply: none to kill from
            // here (a long one stops itself at its instruction limit).
            "KILL" => Reply::error("NOTBUSY No scripts in execution right now."),
            _ => help(),
        }
    }

    /// FUNCTION LOAD [REPLACE] code.
    fn load(&self, argv: &[Bytes]) -> Reply {
        let mut replace = false;
        let mut pos = 2;
        while pos < argv.len() - 1 {
            if !argv[pos].eq_ignore_ascii_case(b"replace") {
                return Reply::error(format!("ERR Unknown option given: {}", String::from_utf8_lossy(&argv[pos])));
            }
            replace = true;
            pos += 1;
        }
        let code = &argv[pos];
        let _change = self.change.lock();
        let mut next = self.current();
        let lib = match create(&next, code, replace) {
            Ok(lib) => lib,
            Err(e) => return Reply::error(format!("ERR {e}")),
        };
        let name = lib.name.clone();
        next.unlink(&name);
        if let Err(e) = next.add(lib) {
            return Reply::error(format!("ERR {e}"));
        }
        match self.commit(next) {
            Ok(()) => Reply::bulk(name.into_bytes()),
            Err(e) => Reply::error(e),
        }
    }

    /// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
    fn restore(&self, argv: &[Bytes]) -> Reply {
        if argv.len() > 4 {
            return syntax_error(&argv[1]);
        }
        let policy = match argv.get(3).map(|p| upper(p)) {
            None => "APPEND".to_string(),
            Some(p) if matches!(p.as_str(), "APPEND" | "REPLACE" | "FLUSH") => p,
            Some(_) => {
                return Reply::error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
            }
        };
        let codes = match payload::decode(&argv[2]) {
            Ok(c) => c,
            Err(e) => return Reply::error(format!("ERR {}", e.message())),
        };
        // The payload's libraries first on their own, as Redis loads them.
        let restored = match Libraries::from_codes(&codes) {
            Ok(libs) => libs,
            Err(e) => return Reply::error(format!("ERR {e}")),
        };
        let _change = self.change.lock();
        let next = if policy == "FLUSH" {
            restored
        } else {
            let mut next = self.current();
            for name in restored.by_name.keys() {
                if next.by_name.contains_key(name) {
                    if policy == "APPEND" {
                        return Reply::error(format!("ERR Library {name} already exists"));
                    }
                    next.unlink(name);
                }
            }
            if let Some(f) = restored.owner.keys().find(|f| next.owner.contains_key(*f)) {
                return Reply::error(format!("ERR Function {f} already exists"));
            }
            for (_, lib) in restored.by_name {
                next.link(lib);
            }
            next
        };
        self.commit(next).map_or_else(Reply::error, |_| Reply::Ok)
    }

    /// FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern].
    fn list(&self, argv: &[Bytes]) -> Reply {
        let (mut with_code, mut pattern) = (false, None);
        let mut i = 2;
        while i < argv.len() {
            let arg = &argv[i];
            if !with_code && arg.eq_ignore_ascii_case(b"withcode") {
                with_code = true;
            } else if pattern.is_none() && arg.eq_ignore_ascii_case(b"libraryname") {
                if i >= argv.len() - 1 {
                    return Reply::error("ERR library name argument was not given");
                }
                i += 1;
                pattern = Some(argv[i].clone());
            } else {
                return Reply::error(format!("ERR Unknown argument {}", String::from_utf8_lossy(arg)));
            }
            i += 1;
        }
        let libs = self.libs.lock();
        let shown = libs.by_name.values().filter(|l| match &pattern {
            // Redis matches names without regard to case.
            Some(p) => node::glob::matches(&p.to_ascii_lowercase(), l.name.to_ascii_lowercase().as_bytes()),
            None => true,
        });
        Reply::Array(
            shown
                .map(|l| {
                    let functions = l
                        .functions
                        .iter()
                        .map(|f| {
                            Reply::Map(vec![
                                (Reply::bulk("name"), Reply::bulk(f.name.clone().into_bytes())),
                                (Reply::bulk("description"), f.description.clone().map_or(Reply::Nil, Reply::Bulk)),
                                (Reply::bulk("flags"), Reply::Set(flag_names(f.flags).map(Reply::status).collect())),
                            ])
                        })
                        .collect();
                    let mut m = vec![
                        (Reply::bulk("library_name"), Reply::bulk(l.name.clone().into_bytes())),
                        (Reply::bulk("engine"), Reply::bulk(ENGINE)),
                        (Reply::bulk("functions"), Reply::Array(functions)),
                    ];
                    if with_code {
                        m.push((Reply::bulk("library_code"), Reply::Bulk(l.code.clone())));
                    }
                    Reply::Map(m)
                })
                .collect(),
        )
    }
}

/// FCALL's checks once its function is known, in Redis' order (fcallCommand
/// and scriptPrepareForRun): the key count, then the flags. `args` is FCALL's
/// arguments from numkeys on; the keys and the arguments come back.
pub fn check_call(
    args: &[Bytes],
    flags: u32,
    read_only: bool,
    cluster: bool,
) -> Result<(Vec<Bytes>, Vec<Bytes>, bool), Reply> {
    let numkeys = node::num::parse_i64(&args[0]).ok_or_else(|| Reply::error("ERR Bad number of keys provided"))?;
    if numkeys > (args.len() - 1) as i64 {
        return Err(Reply::error("ERR Number of keys can't be greater than number of args"));
    }
    if numkeys < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    if flags & NO_CLUSTER != 0 && cluster {
        return Err(Reply::error("ERR Can not run script on cluster, 'no-cluster' flag is set."));
    }
    let no_writes = flags & NO_WRITES != 0;
    if read_only && !no_writes {
        return Err(Reply::error("ERR Can not execute a script with write flag using *_ro command."));
    }
    let split = 1 + numkeys as usize;
    Ok((args[1..split].to_vec(), args[split..].to_vec(), read_only || no_writes))
}

/// The names of a function's flags, in Redis' order.
fn flag_names(flags: u32) -> impl Iterator<Item = &'static str> {
    FUNCTION_FLAGS.iter().enumerate().filter(move |(i, _)| flags & (1 << i) != 0).map(|(_, n)| *n)
}

/// A library from its code (Redis' functionsCreateWithLibraryCtx): its `#!`
/// line, its name, its engine, whether it may replace one of `libs`, and
/// what its code registers. Errors are Redis' (without "ERR ").
fn create(libs: &Libraries, code: &Bytes, replace: bool) -> Result<Library, String> {
    let (engine, name, body) = metadata(code)?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(NAME_RULE.into());
    }
    if !engine.eq_ignore_ascii_case(ENGINE) {
        return Err(format!("Engine '{engine}' not found"));
    }
    if libs.by_name.contains_key(&name) && !replace {
        return Err(format!("Library '{name}' already exists"));
    }
    let functions = load_library(&body)?;
    if functions.is_empty() {
        return Err("No functions registered".into());
    }
    // Names of other libraries' functions (not of the one replaced).
    if let Some(f) = functions.iter().find(|f| libs.owner.get(&f.name).is_some_and(|l| *l != name)) {
        return Err(format!("Function {} already exists", f.name));
    }
    Ok(Library { name, code: code.clone(), body, functions })
}

/// The `#!<engine> name=<name>` line (Redis' functionExtractLibMetaData):
/// engine, name and the code after the line (from its newline on).
fn metadata(code: &Bytes) -> Result<(String, String, Bytes), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|b| *b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!("Invalid metadata value given: {}", String::from_utf8_lossy(part)));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((engine, name, code.slice(end..)))
}

fn syntax_error(sub: &Bytes) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(sub)
    ))
}

fn help() -> Reply {
    let lines = [
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    crate::local::help(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_as_redis_reads_it() {
        let m = |s: &'static str| metadata(&Bytes::from_static(s.as_bytes()));
        assert_eq!(m("#!lua name=a\nx").unwrap(), ("lua".into(), "a".into(), Bytes::from_static(b"\nx")));
        assert_eq!(m("nope").unwrap_err(), "Missing library metadata");
        assert_eq!(m("#!lua name=a").unwrap_err(), "Invalid library metadata");
        assert_eq!(m("#!lua\n").unwrap_err(), "Library name was not given");
        assert_eq!(m("#!lua x=1\n").unwrap_err(), "Invalid metadata value given: x=1");
        assert_eq!(
            m("#!lua NAME=a name=b\n").unwrap_err(),
            "Invalid metadata value, name argument was given multiple times"
        );
    }

    #[test]
    fn libraries_keep_function_owners() {
        let libs = Libraries::default();
        let code = Bytes::from_static(b"#!lua name=l\nredis.register_function('f', function() return 1 end)");
        let lib = create(&libs, &code, false).unwrap();
        assert_eq!(lib.functions.len(), 1);
        let mut libs = libs;
        libs.add(lib).unwrap();
        assert_eq!(create(&libs, &code, false).unwrap_err(), "Library 'l' already exists");
        assert!(create(&libs, &code, true).is_ok());
        let other = Bytes::from_static(b"#!lua name=m\nredis.register_function('f', function() return 1 end)");
        assert_eq!(create(&libs, &other, false).unwrap_err(), "Function f already exists");
    }
}
