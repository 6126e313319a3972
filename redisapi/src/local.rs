//! Commands answered by the connection or the server rather than by a
//! partition: connection state (AUTH, HELLO, SELECT, CLIENT), introspection
//! (COMMAND, INFO, CONFIG), transactions (MULTI, EXEC, DISCARD, WATCH) and the
//! ones we answer with a clear "not supported".

use crate::cmd::{self, CommandSpec, Run};
use crate::conn::{wrong_arity, Conn, Multi, Outcome, Queued};
use crate::info;
use bytes::Bytes;
use futures::FutureExt;
use node::glob;
use node::notify;
use node::num::parse_i64;
use node::pubsub::Kind;
use node::reply::err;
use node::Reply;
use std::sync::atomic::Ordering;

pub(crate) fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

/// A HELP reply: its lines as status replies, as Redis' addReplyHelp.
pub(crate) fn help(lines: &[&str]) -> Reply {
    Reply::Array(lines.iter().map(|s| Reply::status(s)).collect())
}

fn unknown_subcommand(sub: &[u8], cmd: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub).chars().take(128).collect::<String>(),
        cmd.to_uppercase()
    ))
}

/// Redis 7.0's subcommands of the connection-level container commands, with
/// their arity (negative: at least that many words). Redis checks both when
/// a command arrives, before it runs or is queued in MULTI (where a wrong
/// one refuses the transaction); [`subcommand_refusal`] does the same. A
/// subcommand listed here that this server does not implement is refused
/// when it runs.
const SUBCOMMANDS: &[(&str, &[(&str, i32)])] = &[
    (
        "client",
        &[
            ("caching", 3),
            ("getname", 2),
            ("getredir", 2),
            ("id", 2),
            ("info", 2),
            ("kill", -3),
            ("list", -2),
            ("no-evict", 3),
            ("no-touch", 3),
            ("pause", -3),
            ("reply", 3),
            ("setinfo", 4),
            ("setname", 3),
            ("tracking", -3),
            ("trackinginfo", 2),
            ("unblock", -3),
            ("unpause", 2),
            ("help", 2),
        ],
    ),
    (
        "acl",
        &[
            ("cat", -2),
            ("deluser", -3),
            ("dryrun", -4),
            ("genpass", -2),
            ("getuser", 3),
            ("help", 2),
            ("list", 2),
            ("load", 2),
            ("log", -2),
            ("save", 2),
            ("setuser", -3),
            ("users", 2),
            ("whoami", 2),
        ],
    ),
    ("config", &[("get", -3), ("set", -4), ("resetstat", 2), ("rewrite", 2), ("help", 2)]),
    ("slowlog", &[("get", -2), ("len", 2), ("reset", 2), ("help", 2)]),
    (
        "latency",
        &[("latest", 2), ("history", 3), ("reset", -2), ("graph", 3), ("doctor", 2), ("histogram", -2), ("help", 2)],
    ),
    ("module", &[("list", 2), ("load", -3), ("loadex", -3), ("unload", 3), ("help", 2)]),
    ("memory", &[("usage", -3), ("doctor", 2), ("malloc-stats", 2), ("purge", 2), ("stats", 2), ("help", 2)]),
    (
        "xgroup",
        &[("create", -5), ("setid", -5), ("destroy", 4), ("createconsumer", 5), ("delconsumer", 5), ("help", 2)],
    ),
    ("xinfo", &[("stream", -3), ("groups", 3), ("consumers", 4), ("help", 2)]),
    (
        "command",
        &[
            ("count", 2),
            ("docs", -2),
            ("getkeys", -3),
            ("getkeysandflags", -3),
            ("info", -2),
            ("list", -2),
            ("help", 2),
        ],
    ),
    ("script", &[("debug", 3), ("exists", -3), ("flush", -2), ("kill", 2), ("load", 3), ("help", 2)]),
    (
        "function",
        &[
            ("delete", 3),
            ("dump", 2),
            ("flush", -2),
            ("help", 2),
            ("kill", 2),
            ("list", -2),
            ("load", -3),
            ("restore", -3),
            ("stats", 2),
        ],
    ),
    ("object", &[("encoding", 3), ("freq", 3), ("idletime", 3), ("refcount", 3), ("help", 2)]),
    (
        "pubsub",
        &[("channels", -2), ("numsub", -2), ("numpat", 2), ("shardchannels", -2), ("shardnumsub", -2), ("help", 2)],
    ),
];

/// Redis' refusal of a container command's subcommand as it arrives: an
/// unknown one, or a wrong number of arguments for it.
pub fn subcommand_refusal(name: &str, argv: &[Bytes]) -> Option<Reply> {
    let (_, subs) = SUBCOMMANDS.iter().find(|(n, _)| *n == name)?;
    let sub = String::from_utf8_lossy(argv.get(1)?).to_ascii_lowercase();
    let Some((_, arity)) = subs.iter().find(|(s, _)| *s == sub) else {
        return Some(unknown_subcommand(&argv[1], name));
    };
    let n = argv.len() as i32;
    let fits = if *arity >= 0 { n == *arity } else { n >= -arity };
    (!fits).then(|| wrong_arity(&format!("{name}|{sub}")))
}

fn bulk_str(s: &str) -> Reply {
    Reply::bulk(Bytes::copy_from_slice(s.as_bytes()))
}

pub async fn run(c: &mut Conn, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Outcome {
    let r = match spec.name {
        // Subscribed, a RESP2 PING answers in the shape of a message.
        "ping" if c.proto == 2 && c.subscriptions() > 0 => match argv.len() {
            1 | 2 => Reply::Array(vec![bulk_str("pong"), Reply::Bulk(argv.get(1).cloned().unwrap_or_default())]),
            _ => wrong_arity("ping"),
        },
        "ping" => match argv.len() {
            1 => Reply::status("PONG"),
            2 => Reply::Bulk(argv[1].clone()),
            _ => wrong_arity("ping"),
        },
        "subscribe" => crate::pubsub::subscribe(c, Kind::Channel, &argv[1..]),
        "psubscribe" => crate::pubsub::subscribe(c, Kind::Pattern, &argv[1..]),
        "ssubscribe" => crate::pubsub::subscribe(c, Kind::Shard, &argv[1..]),
        "unsubscribe" => crate::pubsub::unsubscribe(c, Kind::Channel, &argv[1..]),
        "punsubscribe" => crate::pubsub::unsubscribe(c, Kind::Pattern, &argv[1..]),
        "sunsubscribe" => crate::pubsub::unsubscribe(c, Kind::Shard, &argv[1..]),
        "publish" | "spublish" => crate::pubsub::publish(c, &argv, spec.name == "spublish"),
        "wait" => return wait(c, &argv),
        "migrate" => crate::migrate::migrate(c, &argv).await,
        "pubsub" => crate::pubsub::pubsub(c, &argv),
        "echo" => Reply::Bulk(argv[1].clone()),
        "quit" => return Outcome::Close(Reply::Ok),
        "reset" => {
            // Redis' clearClientConnectionState: what HELLO, AUTH, CLIENT
            // SETNAME, MULTI, WATCH and READONLY set goes back to how a new
            // connection starts (so a password is asked again).
            c.reset_txn();
            c.unsubscribe_all();
            c.proto = 2;
            c.client.proto.store(2, Ordering::Relaxed);
            c.server.tracking.disable(&c.server, c.client.id);
            (c.tracking, c.caching) = (false, false);
            c.authed = !c.server.acl.auth_required();
            c.user = c.server.acl.default_user();
            *c.client.user.lock() = c.user.name.clone();
            *c.client.name.lock() = None;
            c.session.readonly = false;
            Reply::status("RESET")
        }
        "select" => match parse_i64(&argv[1]) {
            None => Reply::error(err::NOT_INTEGER),
            Some(0) => Reply::Ok,
            Some(_) => Reply::error("ERR DB index is out of range"),
        },
        "auth" => auth(c, &argv),
        "acl" => return crate::acl::command::acl(c, &argv),
        "hello" => hello(c, &argv),
        "client" => return client(c, &argv),
        "command" => command(&argv),
        "info" => Reply::Verbatim(info::render(&c.server, &argv[1..])),
        "config" => config(c, &argv),
        "slowlog" => crate::slowlog::command(&c.server.slowlog, &argv),
        "role" => crate::admin::role(),
        "replicaof" | "slaveof" => crate::admin::replicaof(&argv),
        "lolwut" => crate::admin::lolwut(&argv),
        "monitor" => {
            if c.in_exec {
                Reply::error("ERR MONITOR isn't allowed for DENY BLOCKING client")
            } else {
                if c.mon_rx.is_none() {
                    c.mon_rx = Some(c.server.monitors.add(c.client.id));
                }
                Reply::Ok
            }
        }
        "latency" => crate::admin::latency(&argv, &c.server.cmdstats),
        "module" => crate::admin::module(&argv),
        "memory" if argv[1].eq_ignore_ascii_case(b"usage") => match crate::admin::memory_usage(&argv) {
            Ok(cmd) => return Outcome::Pending(c.server.node.submit(&mut c.session, cmd).await),
            Err(e) => e,
        },
        "memory" if argv[1].eq_ignore_ascii_case(b"stats") => crate::info::memory_stats(&c.server),
        "memory" => crate::admin::memory(&argv),
        "time" => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Reply::Array(vec![bulk_str(&now.as_secs().to_string()), bulk_str(&now.subsec_micros().to_string())])
        }
        "shutdown" => {
            for a in &argv[1..] {
                if !matches!(upper(a).as_str(), "NOSAVE" | "SAVE" | "NOW" | "FORCE") {
                    return Outcome::Reply(Reply::error(err::SYNTAX));
                }
            }
            // SAVE writes the RDB file first (the store needs none to
            // restart); if that fails, only FORCE shuts down anyway.
            let has = |w: &str| argv[1..].iter().any(|a| a.eq_ignore_ascii_case(w.as_bytes()));
            if has("SAVE") && !has("NOSAVE") && crate::save::save(c).await.is_error() && !has("FORCE") {
                return Outcome::Reply(Reply::error("ERR Errors trying to SHUTDOWN. Check logs."));
            }
            tracing::info!("SHUTDOWN requested by client {}", c.client.addr);
            c.server.request_shutdown();
            return Outcome::Drop;
        }
        "save" => crate::save::save(c).await,
        "bgsave" => crate::save::bgsave(c, &argv),
        "lastsave" => Reply::Int(c.server.saves.last() as i64),
        "script" => script(c, &argv).await,
        "function" => c.server.functions.command(&argv),
        "debug" => Reply::error("ERR DEBUG is not supported by this server"),
        "cluster" => crate::cluster::run(c, &argv).await,
        "readonly" | "readwrite" => {
            if c.server.node.cluster().is_none() {
                Reply::error(crate::cluster::DISABLED)
            } else {
                c.session.readonly = spec.name == "readonly";
                Reply::Ok
            }
        }
        "asking" => {
            if c.server.node.cluster().is_none() {
                Reply::error(crate::cluster::DISABLED)
            } else {
                Reply::Ok
            }
        }
        "object" => return object(c, &argv).await,
        "multi" => {
            if c.multi.is_some() {
                Reply::error("ERR MULTI calls can not be nested")
            } else {
                c.multi = Some(Multi::default());
                c.client.queued.store(0, Ordering::Relaxed);
                c.client.in_multi.store(true, Ordering::Relaxed);
                Reply::Ok
            }
        }
        "discard" => {
            if c.multi.is_none() {
                Reply::error("ERR DISCARD without MULTI")
            } else {
                c.reset_txn();
                Reply::Ok
            }
        }
        "unwatch" => {
            if c.multi.is_none() {
                c.watches.clear();
                c.txn_partition = None;
            }
            Reply::Ok
        }
        "watch" => return watch(c, &argv).await,
        "exec" => return exec(c).await,
        other => Reply::error(format!("ERR internal: no handler for '{other}'")),
    };
    Outcome::Reply(r)
}

/// AUTH [username] password (ACLAuthenticateUser).
fn auth(c: &mut Conn, argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 if c.server.acl.default_user().nopass() => Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ),
        2 => c.authenticate(b"default", &argv[1], &argv[0]),
        3 => c.authenticate(&argv[1], &argv[2], &argv[0]),
        _ => Reply::error(err::SYNTAX),
    }
}

/// SCRIPT LOAD|EXISTS|FLUSH|KILL|HELP over this node's script cache
/// (FLUSH empties every node's: see [`node::peer_lookup`]).
async fn script(c: &mut Conn, argv: &[Bytes]) -> Reply {
    let scripts = &c.server.scripts;
    match upper(&argv[1]).as_str() {
        "LOAD" => match c.server.remember_script(&argv[2]) {
            Ok(sha) => bulk_str(&sha),
            Err(e) => e,
        },
        "EXISTS" => {
            let known = scripts.lock();
            Reply::Array(
                argv[2..]
                    .iter()
                    .map(|s| Reply::Int(known.contains_key(&String::from_utf8_lossy(s).to_ascii_lowercase()) as i64))
                    .collect(),
            )
        }
        "FLUSH" => {
            let mode_ok = match argv.len() {
                2 => true,
                3 => matches!(upper(&argv[2]).as_str(), "SYNC" | "ASYNC"),
                _ => false,
            };
            if !mode_ok {
                return Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            scripts.lock().clear();
            c.server.node.peer_lookup().flush_scripts().await;
            Reply::Ok
        }
        // A script runs inside its entry's apply: there is none to kill
        // from here (a long one stops itself at its instruction limit).
        "KILL" => Reply::error("NOTBUSY No scripts in execution right now."),
        "DEBUG" => Reply::error("ERR SCRIPT DEBUG is not supported by this server"),
        _ => Reply::Array(
            [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Reply::status(s))
            .collect(),
        ),
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(c: &mut Conn, argv: &[Bytes]) -> Reply {
    let mut proto = c.proto;
    let mut i = 1;
    if argv.len() > 1 {
        match parse_i64(&argv[1]) {
            Some(v @ 2..=3) => proto = v as u8,
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
            None => return Reply::error("ERR Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    let mut setname = None;
    while i < argv.len() {
        let opt = upper(&argv[i]);
        if opt == "AUTH" && i + 2 < argv.len() {
            let r = c.authenticate(&argv[i + 1], &argv[i + 2], &argv[0]);
            if r.is_error() {
                return r;
            }
            i += 3;
        } else if opt == "SETNAME" && i + 1 < argv.len() {
            setname = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Reply::error(format!("ERR Syntax error in HELLO option '{}'", String::from_utf8_lossy(&argv[i])));
        }
    }
    // The connection's own flag, not whether a password is needed now:
    // Redis' HELLO refuses a connection that never authenticated even
    // after the password is gone.
    if !c.authed {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = setname {
        if let Err(e) = set_client_name(c, &name) {
            return e;
        }
    }
    c.proto = proto;
    c.client.proto.store(proto, Ordering::Relaxed);
    Reply::Map(vec![
        (bulk_str("server"), bulk_str("redis")),
        (bulk_str("version"), bulk_str(info::REDIS_VERSION)),
        (bulk_str("proto"), Reply::Int(proto as i64)),
        (bulk_str("id"), Reply::Int(c.client.id as i64)),
        (bulk_str("mode"), bulk_str("standalone")),
        (bulk_str("role"), bulk_str("master")),
        (bulk_str("modules"), Reply::Array(vec![])),
    ])
}

fn set_client_name(c: &mut Conn, name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|b| *b <= b' ' || *b > b'~') {
        return Err(Reply::error("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    *c.client.name.lock() = if name.is_empty() { None } else { Some(String::from_utf8_lossy(name).into_owned()) };
    Ok(())
}

/// CLIENT; the subcommand and its argument count were checked on arrival
/// ([`subcommand_refusal`]).
fn client(c: &mut Conn, argv: &[Bytes]) -> Outcome {
    let sub = upper(&argv[1]);
    let r = match sub.as_str() {
        "ID" => Ok(Reply::Int(c.client.id as i64)),
        "GETNAME" => Ok(match c.client.name.lock().clone() {
            Some(n) => bulk_str(&n),
            None => Reply::Nil,
        }),
        "SETNAME" => set_client_name(c, &argv[2]).map(|_| Reply::Ok),
        "INFO" => Ok(Reply::Verbatim(format!("{}\n", c.client.info_line()))),
        "LIST" => {
            let mut ids: Option<Vec<u64>> = None;
            let mut i = 2;
            let mut bad = None;
            while i < argv.len() {
                match upper(&argv[i]).as_str() {
                    "TYPE" if i + 1 < argv.len() => {
                        let t = upper(&argv[i + 1]);
                        if !matches!(t.as_str(), "NORMAL" | "MASTER" | "REPLICA" | "PUBSUB") {
                            bad = Some(Reply::error(format!(
                                "ERR Unknown client type '{}'",
                                String::from_utf8_lossy(&argv[i + 1])
                            )));
                        } else if t != "NORMAL" {
                            ids = Some(vec![]);
                        }
                        i += 2;
                    }
                    "ID" if i + 1 < argv.len() => {
                        let mut v = Vec::new();
                        i += 1;
                        while i < argv.len() {
                            match parse_i64(&argv[i]) {
                                Some(id) if id > 0 => v.push(id as u64),
                                _ => {
                                    bad = Some(Reply::error("ERR Invalid client ID"));
                                    break;
                                }
                            }
                            i += 1;
                        }
                        ids = Some(v);
                    }
                    _ => {
                        bad = Some(Reply::error(err::SYNTAX));
                        break;
                    }
                }
                if bad.is_some() {
                    break;
                }
            }
            match bad {
                Some(e) => Err(e),
                None => {
                    let mut s = String::new();
                    for cl in c.server.clients() {
                        if ids.as_ref().is_some_and(|ids| !ids.contains(&cl.id)) {
                            continue;
                        }
                        s.push_str(&cl.info_line());
                        s.push('\n');
                    }
                    Ok(Reply::Verbatim(s))
                }
            }
        }
        "KILL" => return client_kill(c, argv),
        "SETINFO" => {
            // Client libraries announce themselves; accepted and not kept.
            match upper(&argv[2]).as_str() {
                "LIB-NAME" | "LIB-VER" => Ok(Reply::Ok),
                _ => Err(Reply::error(format!("ERR Unrecognized option '{}'", String::from_utf8_lossy(&argv[2])))),
            }
        }
        // Nothing is evicted here, and access times are not kept.
        "NO-EVICT" | "NO-TOUCH" => match upper(&argv[2]).as_str() {
            "ON" | "OFF" => Ok(Reply::Ok),
            _ => Err(Reply::error(err::SYNTAX)),
        },
        "TRACKING" => {
            let current = c.server.tracking.mode(c.client.id);
            match crate::tracking::parse(&c.server, current.as_ref(), argv) {
                Err(e) => Err(e),
                Ok(None) => {
                    c.server.tracking.disable(&c.server, c.client.id);
                    c.tracking = false;
                    Ok(Reply::Ok)
                }
                Ok(Some(mode)) => {
                    c.server.tracking.enable(&c.server, c.client.id, mode);
                    c.tracking = true;
                    Ok(Reply::Ok)
                }
            }
        }
        "CACHING" => {
            let mode = c.server.tracking.mode(c.client.id);
            match (mode, upper(&argv[2]).as_str()) {
                (None, _) => Err(Reply::error(
                    "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or \
                     OPTOUT mode enabled",
                )),
                (Some(m), "YES") if m.optin => {
                    c.caching = true;
                    Ok(Reply::Ok)
                }
                (Some(_), "YES") => {
                    Err(Reply::error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."))
                }
                (Some(m), "NO") if m.optout => {
                    c.caching = true;
                    Ok(Reply::Ok)
                }
                (Some(_), "NO") => {
                    Err(Reply::error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."))
                }
                _ => Err(Reply::error(err::SYNTAX)),
            }
        }
        "GETREDIR" => Ok(Reply::Int(c.server.tracking.mode(c.client.id).map_or(-1, |m| m.redirect as i64))),
        "TRACKINGINFO" => {
            let mode = c.server.tracking.mode(c.client.id);
            let mut flags = vec![bulk_str(if mode.is_some() { "on" } else { "off" })];
            if let Some(m) = &mode {
                for (set, name) in [
                    (m.bcast, "bcast"),
                    (m.optin, "optin"),
                    (m.optin && c.caching, "caching-yes"),
                    (m.optout, "optout"),
                    (m.optout && c.caching, "caching-no"),
                    (m.noloop, "noloop"),
                    (m.broken_redirect, "broken_redirect"),
                ] {
                    if set {
                        flags.push(bulk_str(name));
                    }
                }
            }
            Ok(Reply::Map(vec![
                (bulk_str("flags"), Reply::Set(flags)),
                (bulk_str("redirect"), Reply::Int(mode.as_ref().map_or(-1, |m| m.redirect as i64))),
                (
                    bulk_str("prefixes"),
                    Reply::Array(mode.map(|m| m.prefixes.into_iter().map(Reply::Bulk).collect()).unwrap_or_default()),
                ),
            ]))
        }
        "PAUSE" if argv.len() <= 4 => {
            // Redis checks the mode first, then the timeout (ms from now).
            let all = match argv.get(3).map(|m| upper(m)) {
                None => Ok(true),
                Some(m) if m == "ALL" => Ok(true),
                Some(m) if m == "WRITE" => Ok(false),
                Some(_) => Err(Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL")),
            };
            all.and_then(|all| match parse_i64(&argv[2]) {
                None => Err(Reply::error("ERR timeout is not an integer or out of range")),
                Some(ms) if ms < 0 => Err(Reply::error("ERR timeout is negative")),
                Some(ms) => {
                    // (At most some 35 years: an Instant cannot reach further.)
                    let until = std::time::Instant::now() + std::time::Duration::from_millis((ms as u64).min(1 << 40));
                    c.server.pause.pause(until, all);
                    Ok(Reply::Ok)
                }
            })
        }
        "UNBLOCK" if argv.len() <= 4 => client_unblock(c, argv),
        // (Redis takes three or four words here, whatever the table says.)
        "PAUSE" | "UNBLOCK" => Err(Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&argv[1])
        ))),
        "UNPAUSE" => {
            c.server.pause.unpause();
            Ok(Reply::Ok)
        }
        "REPLY" => match upper(&argv[2]).as_str() {
            "ON" => {
                c.replies.off = false;
                c.replies.silent = false;
                Ok(Reply::Ok)
            }
            "OFF" => {
                c.replies.off = true;
                c.replies.silent = true;
                Ok(Reply::Ok)
            }
            "SKIP" => {
                c.replies.skip_next = true;
                c.replies.silent = true;
                Ok(Reply::Ok)
            }
            _ => Err(Reply::error(err::SYNTAX)),
        },
        "HELP" => Ok(Reply::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME",
                "SETNAME <name>",
                "ID",
                "INFO",
                "LIST [TYPE normal] [ID <id> [<id> ...]]",
                "KILL <ip:port> | KILL <option> <value> [<option> <value> [...]] (options: ID, ADDR, LADDR, SKIPME)",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "HELP",
            ]
            .iter()
            .map(|s| Reply::status(s))
            .collect(),
        )),
        _ => Err(unknown_subcommand(&argv[1], "client")),
    };
    Outcome::Reply(r.unwrap_or_else(|e| e))
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if that client was blocked.
fn client_unblock(c: &Conn, argv: &[Bytes]) -> Result<Reply, Reply> {
    // (The reason is checked before the id, as Redis does.)
    let error = match argv.get(3).map(|a| upper(a)) {
        None => false,
        Some(m) if m == "TIMEOUT" => false,
        Some(m) if m == "ERROR" => true,
        Some(_) => return Err(Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    let id = parse_i64(&argv[2]).ok_or_else(|| Reply::error(err::NOT_INTEGER))?;
    let target = c.server.clients().into_iter().find(|cl| cl.id as i64 == id);
    let waiting = target.and_then(|cl| cl.unblock.lock().take());
    Ok(Reply::Int(waiting.is_some_and(|tx| tx.send(error).is_ok()) as i64))
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR addr] [LADDR addr] [SKIPME yes/no]
fn client_kill(c: &mut Conn, argv: &[Bytes]) -> Outcome {
    let me = c.client.id;
    if argv.len() == 3 {
        let addr = String::from_utf8_lossy(&argv[2]);
        let victims: Vec<_> = c.server.clients().into_iter().filter(|cl| cl.addr == addr).collect();
        if victims.is_empty() {
            return Outcome::Reply(Reply::error("ERR No such client"));
        }
        for v in &victims {
            v.kill.notify_one();
        }
        return if victims.iter().any(|v| v.id == me) { Outcome::Close(Reply::Ok) } else { Outcome::Reply(Reply::Ok) };
    }
    if !argv.len().is_multiple_of(2) {
        return Outcome::Reply(Reply::error(err::SYNTAX));
    }
    let (mut id, mut addr, mut laddr, mut skipme) = (None, None, None, true);
    let (mut user, mut kind) = (None, None);
    for pair in argv[2..].chunks(2) {
        let v = String::from_utf8_lossy(&pair[1]).into_owned();
        match upper(&pair[0]).as_str() {
            "ID" => match parse_i64(&pair[1]) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Outcome::Reply(Reply::error("ERR client-id should be greater than 0")),
            },
            "ADDR" => addr = Some(v),
            "LADDR" => laddr = Some(v),
            "SKIPME" => match v.to_ascii_lowercase().as_str() {
                "yes" => skipme = true,
                "no" => skipme = false,
                _ => return Outcome::Reply(Reply::error(err::SYNTAX)),
            },
            "USER" => match c.server.acl.user(&v) {
                Some(u) => user = Some(u.name.clone()),
                None => return Outcome::Reply(Reply::error(format!("ERR No such user '{v}'"))),
            },
            "TYPE" => match v.to_ascii_lowercase().as_str() {
                t @ ("normal" | "pubsub" | "master" | "replica" | "slave") => kind = Some(t.to_string()),
                _ => return Outcome::Reply(Reply::error(format!("ERR Unknown client type '{v}'"))),
            },
            _ => return Outcome::Reply(Reply::error(err::SYNTAX)),
        }
    }
    let mut killed = 0;
    let mut self_killed = false;
    for cl in c.server.clients() {
        if id.is_some_and(|i| i != cl.id)
            || addr.as_ref().is_some_and(|a| *a != cl.addr)
            || laddr.as_ref().is_some_and(|a| *a != cl.laddr)
            || user.as_ref().is_some_and(|u| *u != *cl.user.lock())
            || kind.as_deref().is_some_and(|t| match t {
                "pubsub" => cl.subscriptions() == 0,
                "normal" => cl.subscriptions() > 0,
                _ => true,
            })
            || (skipme && cl.id == me)
        {
            continue;
        }
        cl.kill.notify_one();
        killed += 1;
        self_killed |= cl.id == me;
    }
    if self_killed {
        Outcome::Close(Reply::Int(killed))
    } else {
        Outcome::Reply(Reply::Int(killed))
    }
}

/// COMMAND INFO's entry: name, arity, flags, key positions, and the
/// subcommands of a container with theirs (cluster clients route XGROUP
/// CREATE or OBJECT ENCODING by their subcommand's key position).
fn command_info(spec: &CommandSpec) -> Reply {
    let subcommands = crate::spec_data::SUBSPECS
        .iter()
        .filter(|row| row.0 == spec.name)
        .map(|&(container, sub, arity, flags, first, last, step)| {
            info_row(&format!("{container}|{sub}"), arity, flags, (first, last, step), vec![])
        })
        .collect();
    info_row(spec.name, spec.arity, spec.flags, (spec.first_key, spec.last_key, spec.step), subcommands)
}

/// The ACL category bits of a command or subcommand (`config|get`).
fn acl_categories(name: &str) -> u32 {
    crate::acl::command_id(name).map_or(0, |id| crate::acl::commands()[id].categories)
}

fn info_row(name: &str, arity: i32, flags: &[&str], keys: (i32, i32, i32), subcommands: Vec<Reply>) -> Reply {
    let bits = acl_categories(name);
    let categories = crate::acl::CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| Reply::Status(format!("@{c}")))
        .collect();
    Reply::Array(vec![
        bulk_str(name),
        Reply::Int(arity as i64),
        Reply::Set(flags.iter().map(|f| Reply::status(f)).collect()),
        Reply::Int(keys.0 as i64),
        Reply::Int(keys.1 as i64),
        Reply::Int(keys.2 as i64),
        Reply::Set(categories),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(subcommands),
    ])
}

fn command_docs(spec: &CommandSpec) -> Reply {
    Reply::Map(vec![
        (bulk_str("summary"), bulk_str(spec.summary)),
        (bulk_str("since"), bulk_str(spec.since)),
        (bulk_str("group"), bulk_str(spec.group)),
        (bulk_str("complexity"), bulk_str(spec.complexity)),
    ])
}

fn command(argv: &[Bytes]) -> Reply {
    if argv.len() == 1 {
        return Reply::Array(cmd::all().into_iter().map(command_info).collect());
    }
    match upper(&argv[1]).as_str() {
        "COUNT" => Reply::Int(cmd::all().len() as i64),
        "INFO" => {
            if argv.len() == 2 {
                return Reply::Array(cmd::all().into_iter().map(command_info).collect());
            }
            Reply::Array(argv[2..].iter().map(|n| cmd::lookup(n).map_or(Reply::Nil, command_info)).collect())
        }
        "DOCS" => {
            let specs: Vec<&CommandSpec> =
                if argv.len() == 2 { cmd::all() } else { argv[2..].iter().filter_map(|n| cmd::lookup(n)).collect() };
            Reply::Map(specs.into_iter().map(|s| (bulk_str(s.name), command_docs(s))).collect())
        }
        "LIST" => {
            let filter = if argv.len() == 5 && upper(&argv[2]) == "FILTERBY" {
                Some((upper(&argv[3]), argv[4].clone()))
            } else if argv.len() == 2 {
                None
            } else {
                return Reply::error(err::SYNTAX);
            };
            // Redis 7 lists a container's subcommands too ("xgroup|create").
            let names = cmd::all().into_iter().flat_map(|s| {
                let subs = crate::spec_data::SUBSPECS.iter().filter(move |r| r.0 == s.name);
                std::iter::once(s.name.to_string()).chain(subs.map(|r| format!("{}|{}", r.0, r.1)))
            });
            Reply::Array(
                names
                    .filter(|name| match &filter {
                        None => true,
                        Some((k, v)) if k == "PATTERN" => v.as_ref() == b"*" || glob::matches(v, name.as_bytes()),
                        // Redis' ACL categories of each command and subcommand.
                        Some((k, v)) if k == "ACLCAT" => crate::acl::category_bit(&String::from_utf8_lossy(v))
                            .is_some_and(|bit| acl_categories(name) & bit != 0),
                        Some(_) => false,
                    })
                    .map(|name| bulk_str(&name))
                    .collect(),
            )
        }
        sub @ ("GETKEYS" | "GETKEYSANDFLAGS") => {
            if argv.len() < 4 {
                return wrong_arity(&format!("command|{}", sub.to_ascii_lowercase()));
            }
            let Some(spec) = cmd::lookup(&argv[2]) else {
                return Reply::error("ERR Invalid command specified");
            };
            let inner = &argv[2..];
            if !spec.arity_ok(inner.len()) {
                return Reply::error("ERR Invalid number of arguments specified for command");
            }
            let keys = match movable_keys(spec, inner) {
                Some(Ok(keys)) => keys,
                Some(Err(e)) => return e,
                // Shard channels are no keys (Redis' key spec says not_key).
                None if spec.group == "pubsub" => vec![],
                None => spec.key_positions_of(inner),
            };
            if keys.is_empty() {
                // EVAL or FCALL with no keys: none, which is no error.
                if spec.has_flag("no_mandatory_keys") {
                    return Reply::Array(vec![]);
                }
                return Reply::error("ERR The command has no key arguments");
            }
            if sub == "GETKEYS" {
                return Reply::Array(keys.into_iter().map(|i| Reply::Bulk(inner[i].clone())).collect());
            }
            // How the command uses each key, from Redis' key specs.
            let refs = crate::acl::key_refs(spec, inner);
            Reply::Array(
                keys.into_iter()
                    .map(|i| {
                        let flags = refs.iter().find(|r| r.pos == i).map_or(0, |r| r.flags);
                        let names = crate::acl::keys::FLAG_NAMES.iter().filter(|(bit, _)| flags & bit != 0);
                        Reply::Array(vec![
                            Reply::Bulk(inner[i].clone()),
                            Reply::Array(names.map(|(_, name)| Reply::status(name)).collect()),
                        ])
                    })
                    .collect(),
            )
        }
        "HELP" => Reply::Array(
            [
                "COMMAND [<subcommand>]",
                "COUNT",
                "DOCS [<command-name> ...]",
                "GETKEYS <full-command>",
                "GETKEYSANDFLAGS <full-command>",
                "INFO [<command-name> ...]",
                "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
                "HELP",
            ]
            .iter()
            .map(|s| Reply::status(s))
            .collect(),
        ),
        _ => unknown_subcommand(&argv[1], "command"),
    }
}

/// The key positions of a command whose keys move with its arguments
/// (ZUNIONSTORE's numkeys, SORT's STORE, ...): the keys the command parses
/// to, found in argument order. None for other commands.
fn movable_keys(spec: &CommandSpec, argv: &[Bytes]) -> Option<Result<Vec<usize>, Reply>> {
    if !spec.has_flag("movablekeys") {
        return None;
    }
    if matches!(spec.name, "georadius" | "georadiusbymember") {
        return Some(Ok(cmd::geo::key_positions(argv)));
    }
    let parsed = match spec.run {
        // FCALL's keys sit where EVAL's do (its function is not needed).
        Run::Data(_) if matches!(spec.name, "fcall" | "fcall_ro") => cmd::scripting::eval(argv),
        Run::Data(parse) => parse(argv),
        Run::Blocking(parse) => parse(argv).map(|(c, _)| c),
        Run::Local if spec.name == "migrate" => return Some(Ok(crate::migrate::key_positions(argv))),
        Run::Local => return None,
    };
    let Ok(cmd) = parsed else {
        return Some(Err(Reply::error("ERR Invalid arguments specified for command")));
    };
    let mut wanted: Vec<&Bytes> = cmd.keys();
    let mut positions = Vec::new();
    for (i, a) in argv.iter().enumerate().skip(1) {
        if let Some(k) = wanted.iter().position(|k| *k == a) {
            wanted.remove(k);
            positions.push(i);
        }
    }
    Some(Ok(positions))
}

/// Our own settings, as CONFIG GET shows them.
fn config_values(c: &Conn) -> Vec<(String, String)> {
    let cfg = c.server.cfg.read();
    let mut v = vec![
        ("maxclients".to_string(), cfg.maxclients.to_string()),
        ("requirepass".to_string(), cfg.requirepass.clone().unwrap_or_default()),
        ("proto-max-bulk-len".to_string(), cfg.limits.proto_max_bulk_len.to_string()),
        ("client-query-buffer-limit".to_string(), cfg.limits.query_buffer_limit.to_string()),
        ("port".to_string(), c.server.port.load(Ordering::Relaxed).to_string()),
        ("timeout".to_string(), c.server.idle_timeout.load(Ordering::Relaxed).to_string()),
        ("tcp-keepalive".to_string(), c.server.tcp_keepalive.load(Ordering::Relaxed).to_string()),
        ("dir".to_string(), c.server.node.cfg.data_dir.display().to_string()),
        ("notify-keyspace-events".to_string(), notify::to_config(c.server.node.notify.load(Ordering::Relaxed))),
        ("slowlog-log-slower-than".to_string(), c.server.slowlog.slower_than.load(Ordering::Relaxed).to_string()),
        ("slowlog-max-len".to_string(), c.server.slowlog.max_len.load(Ordering::Relaxed).to_string()),
        ("acllog-max-len".to_string(), c.server.acl.log_max_len.load(Ordering::Relaxed).to_string()),
        ("aclfile".to_string(), cfg.aclfile.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
        // New users start without channels (Redis 7.0's default; the other
        // setting, allchannels, is not served).
        ("acl-pubsub-default".to_string(), "resetchannels".to_string()),
        ("dbfilename".to_string(), crate::save::DBFILENAME.to_string()),
        ("tracking-table-max-keys".to_string(), c.server.tracking.max_keys.load(Ordering::Relaxed).to_string()),
    ];
    v.extend(cfg.inert.iter().map(|(k, v)| (k.clone(), v.clone())));
    v.sort();
    v
}

fn parse_memory(v: &str) -> Option<u64> {
    let v = v.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = v.strip_suffix("gb") {
        (n, 1u64 << 30)
    } else if let Some(n) = v.strip_suffix("mb") {
        (n, 1 << 20)
    } else if let Some(n) = v.strip_suffix("kb") {
        (n, 1 << 10)
    } else if let Some(n) = v.strip_suffix('g') {
        (n, 1_000_000_000)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = v.strip_suffix('k') {
        (n, 1000)
    } else {
        (v.as_str(), 1)
    };
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult))
}

/// Our integer settings that CONFIG SET checks against a range, with
/// Redis' bounds (it keeps timeout and tcp-keepalive in an int).
const INT_SETTINGS: &[(&str, i64, i64)] = &[
    ("slowlog-log-slower-than", -1, i64::MAX),
    ("slowlog-max-len", 0, i64::MAX),
    ("acllog-max-len", 0, i64::MAX),
    ("tracking-table-max-keys", 0, i64::MAX),
    ("timeout", 0, i32::MAX as i64),
    ("tcp-keepalive", 0, i32::MAX as i64),
];

/// The (min, max) of integer setting `name`.
fn int_setting(name: &str) -> Option<(i64, i64)> {
    INT_SETTINGS.iter().find(|(n, ..)| *n == name).map(|&(_, min, max)| (min, max))
}

fn config(c: &mut Conn, argv: &[Bytes]) -> Reply {
    match upper(&argv[1]).as_str() {
        "GET" => {
            let values = config_values(c);
            let mut out = Vec::new();
            for (k, v) in &values {
                if argv[2..].iter().any(|p| glob::matches(&p.to_ascii_lowercase(), k.as_bytes()) || p.as_ref() == b"*")
                {
                    out.push((bulk_str(k), bulk_str(v)));
                }
            }
            Reply::Map(out)
        }
        "SET" => {
            // (At least four words was checked on arrival; pairs are not.)
            if !argv.len().is_multiple_of(2) {
                return wrong_arity("config|set");
            }
            // Validate everything first: CONFIG SET is all or nothing.
            let mut changes = Vec::new();
            for pair in argv[2..].chunks(2) {
                let k = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
                let v = String::from_utf8_lossy(&pair[1]).into_owned();
                let range = int_setting(&k);
                let ok = match k.as_str() {
                    "maxclients" => v.parse::<usize>().is_ok_and(|n| n > 0),
                    "proto-max-bulk-len" => parse_memory(&v).is_some_and(|n| n >= 1024 * 1024),
                    "client-query-buffer-limit" => parse_memory(&v).is_some_and(|n| n >= 1024 * 1024),
                    "requirepass" => true,
                    // A protected config in Redis 7 (enable-protected-configs no).
                    "dbfilename" => {
                        return Reply::error(
                            "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config",
                        )
                    }
                    "acl-pubsub-default" if v.eq_ignore_ascii_case("resetchannels") => continue,
                    "acl-pubsub-default" => {
                        return Reply::error(
                            "ERR CONFIG SET failed (possibly related to argument 'acl-pubsub-default') - only resetchannels is served",
                        )
                    }
                    "aclfile" => return Reply::error(
                        "ERR CONFIG SET failed (possibly related to argument 'aclfile') - can't set immutable config",
                    ),
                    _ if range.is_some() => {
                        let (min, max) = range.unwrap();
                        match v.parse::<i64>() {
                            Ok(n) if (min..=max).contains(&n) => true,
                            Ok(_) => {
                                return Reply::error(format!(
                                    "ERR CONFIG SET failed (possibly related to argument '{k}') - argument must be \
                                     between {min} and {max} inclusive"
                                ))
                            }
                            Err(_) => false,
                        }
                    }
                    "notify-keyspace-events" => {
                        if notify::parse(&v).is_none() {
                            return Reply::error(
                                "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - \
                                 Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                            );
                        }
                        true
                    }
                    other => c.server.cfg.read().inert.contains_key(other),
                };
                if !ok {
                    let known = k == "maxclients"
                        || k == "proto-max-bulk-len"
                        || k == "client-query-buffer-limit"
                        || int_setting(&k).is_some()
                        || c.server.cfg.read().inert.contains_key(&k);
                    return Reply::error(if known {
                        format!("ERR CONFIG SET failed (possibly related to argument '{k}') - argument couldn't be parsed into an integer")
                    } else {
                        format!("ERR Unknown option or number of arguments for CONFIG SET - '{k}'")
                    });
                }
                changes.push((k, v));
            }
            let mut cfg = c.server.cfg.write();
            for (k, v) in changes {
                match k.as_str() {
                    "maxclients" => cfg.maxclients = v.parse().unwrap(),
                    "proto-max-bulk-len" => cfg.limits.proto_max_bulk_len = parse_memory(&v).unwrap(),
                    "client-query-buffer-limit" => cfg.limits.query_buffer_limit = parse_memory(&v).unwrap(),
                    "requirepass" => {
                        cfg.requirepass = if v.is_empty() { None } else { Some(v) };
                        c.server.acl.set_default_password(cfg.requirepass.as_deref());
                    }
                    "notify-keyspace-events" => {
                        c.server.node.notify.store(notify::parse(&v).unwrap(), Ordering::Relaxed);
                    }
                    "slowlog-log-slower-than" => {
                        c.server.slowlog.slower_than.store(v.parse::<i64>().unwrap(), Ordering::Relaxed)
                    }
                    "slowlog-max-len" => {
                        c.server.slowlog.max_len.store(v.parse::<i64>().unwrap() as usize, Ordering::Relaxed)
                    }
                    "tracking-table-max-keys" => {
                        c.server.tracking.max_keys.store(v.parse::<i64>().unwrap() as usize, Ordering::Relaxed)
                    }
                    "acllog-max-len" => {
                        c.server.acl.log_max_len.store(v.parse::<i64>().unwrap() as usize, Ordering::Relaxed)
                    }
                    "timeout" => c.server.idle_timeout.store(v.parse::<u64>().unwrap(), Ordering::Relaxed),
                    "tcp-keepalive" => c.server.tcp_keepalive.store(v.parse::<u64>().unwrap(), Ordering::Relaxed),
                    other => {
                        cfg.inert.insert(other.to_string(), v);
                    }
                }
            }
            Reply::Ok
        }
        "RESETSTAT" => {
            let s = &c.server.stats;
            s.commands_processed.store(0, Ordering::Relaxed);
            s.connections_received.store(0, Ordering::Relaxed);
            s.rejected_connections.store(0, Ordering::Relaxed);
            s.net_input_bytes.store(0, Ordering::Relaxed);
            s.net_output_bytes.store(0, Ordering::Relaxed);
            c.server.cmdstats.reset();
            Reply::Ok
        }
        "REWRITE" => Reply::error("ERR The server is running without a config file"),
        "HELP" => Reply::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "SET <directive> <value>",
                "RESETSTAT",
                "REWRITE",
                "HELP",
            ]
            .iter()
            .map(|s| Reply::status(s))
            .collect(),
        ),
        _ => unknown_subcommand(&argv[1], "config"),
    }
}

/// The data command a local command stands for, if it is one (OBJECT
/// ENCODING key, MEMORY USAGE key). Inside MULTI it is queued as that
/// command, so that it runs in its place within the transaction, not after
/// it.
pub fn data_form(argv: &[Bytes]) -> Option<node::Cmd> {
    if argv.len() >= 3 && argv[0].eq_ignore_ascii_case(b"memory") && argv[1].eq_ignore_ascii_case(b"usage") {
        return crate::admin::memory_usage(argv).ok();
    }
    if argv.len() != 3 || !argv[0].eq_ignore_ascii_case(b"object") {
        return None;
    }
    cmd::keyspace::object(&argv[1], argv[2].clone())
}

async fn object(c: &mut Conn, argv: &[Bytes]) -> Outcome {
    if let Some(cmd) = data_form(argv) {
        return Outcome::Pending(c.server.node.submit(&mut c.session, cmd).await);
    }
    match upper(&argv[1]).as_str() {
        "HELP" => Outcome::Reply(Reply::Array(
            [
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Reply::status(s))
            .collect(),
        )),
        _ => Outcome::Reply(unknown_subcommand(&argv[1], "object")),
    }
}

/// WAIT numreplicas timeout (ms, 0: no limit): how many other replicas hold
/// this connection's writes. Inside MULTI it answers at once, as Redis.
fn wait(c: &mut Conn, argv: &[Bytes]) -> Outcome {
    let Some(want) = parse_i64(&argv[1]) else {
        return Outcome::Reply(Reply::error(err::NOT_INTEGER));
    };
    let timeout = match parse_i64(&argv[2]) {
        None => return Outcome::Reply(Reply::error("ERR timeout is not an integer or out of range")),
        Some(t) if t < 0 => return Outcome::Reply(Reply::error("ERR timeout is negative")),
        Some(t) => t,
    };
    let in_multi = c.multi.is_some() || c.in_exec;
    let deadline = if in_multi {
        Some(std::time::Instant::now())
    } else {
        (timeout > 0).then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout as u64))
    };
    let f = c.server.node.wait_replicas(&c.session, want, deadline);
    if in_multi {
        Outcome::Pending(f)
    } else {
        Outcome::Blocked(f)
    }
}

async fn watch(c: &mut Conn, argv: &[Bytes]) -> Outcome {
    if c.multi.is_some() {
        return Outcome::Reply(Reply::error("ERR WATCH inside MULTI is not allowed"));
    }
    let keys: Vec<Bytes> = argv[1..].to_vec();
    let refs: Vec<&Bytes> = keys.iter().collect();
    let before = c.txn_partition;
    if let Err(e) = c.bind_partition(&refs, false) {
        return Outcome::Reply(e);
    }
    // WATCH waits for its read point before later commands are dispatched, so
    // EXEC always knows what was watched.
    match c.server.node.watch(&mut c.session, &keys).await {
        Ok(ws) => {
            c.watches.extend(ws);
            Outcome::Reply(Reply::Ok)
        }
        Err(e) => {
            if c.watches.is_empty() {
                c.txn_partition = before;
            }
            Outcome::Reply(e)
        }
    }
}

async fn exec(c: &mut Conn) -> Outcome {
    let Some(multi) = c.multi.take() else {
        return Outcome::Reply(Reply::error("ERR EXEC without MULTI"));
    };
    let watches = std::mem::take(&mut c.watches);
    c.reset_txn();
    if multi.dirty {
        return Outcome::Reply(Reply::error("EXECABORT Transaction discarded because of previous errors."));
    }
    // What fills each place of EXEC's reply: the next data reply (None),
    // or a reply of its own.
    let mut data = Vec::new();
    let mut places: Vec<Option<Queued>> = Vec::new();
    // The name each queued command counts under in INFO commandstats.
    let names: Vec<std::borrow::Cow<'static, str>> = multi
        .argvs
        .iter()
        .filter_map(|argv| cmd::lookup(&argv[0]).map(|spec| spec.stat_name(argv.get(1)).unwrap_or(spec.name.into())))
        .collect();
    let caching = std::mem::take(&mut c.caching);
    for (q, argv) in multi.queued.into_iter().zip(&multi.argvs) {
        // The rules may have changed since the command was queued.
        let spec = cmd::lookup(&argv[0]);
        let q = match spec.map(|spec| c.check_acl(spec, argv, crate::acl::command::Context::Multi)) {
            Some(Err(e)) => Queued::Failed(e),
            _ => q,
        };
        if let (Some(spec), Queued::Data(cmd)) = (spec, &q) {
            c.remember_keys(spec, cmd, caching);
        }
        match q {
            Queued::Data(cmd) => {
                data.push(cmd);
                places.push(None);
            }
            other => places.push(Some(other)),
        }
    }
    let needs_entry = !data.is_empty() || !watches.is_empty();
    let data_reply =
        if needs_entry { Some(c.server.node.submit_txn(&mut c.session, data, watches).await) } else { None };
    // Local commands run when the EXEC reply is assembled, in their places.
    let mut own_replies = Vec::new();
    for p in places {
        own_replies.push(match p {
            None => None,
            Some(Queued::Local(argv)) => {
                // Still in the transaction while its commands run, as CLIENT
                // LIST shows it in Redis (flag x, multi=<queued>).
                c.in_exec = true;
                c.client.in_multi.store(true, Ordering::Relaxed);
                let r = run_queued_local(c, argv).await;
                c.client.in_multi.store(false, Ordering::Relaxed);
                c.in_exec = false;
                Some(r)
            }
            Some(Queued::Failed(e)) => Some(e),
            Some(Queued::Data(_)) => unreachable!("data commands take the data replies"),
        });
    }
    let server = c.server.clone();
    Outcome::Pending(
        async move {
            let mut data_replies = match data_reply {
                None => Vec::new(),
                Some(f) => match f.await {
                    Reply::Array(items) => items,
                    Reply::NilArray => return Reply::NilArray,
                    e => return e,
                },
            }
            .into_iter();
            let mut out = Vec::with_capacity(own_replies.len());
            for r in own_replies {
                out.push(match r {
                    Some(r) => r,
                    None => data_replies.next().unwrap_or(Reply::Nil),
                });
            }
            // Each command that ran is a call of its own in INFO
            // commandstats, as in Redis (without a time of its own here:
            // the transaction ran as one).
            for (name, r) in names.iter().zip(&out) {
                server.cmdstats.ran(name, std::time::Duration::ZERO, r);
            }
            Reply::Array(out)
        }
        .boxed(),
    )
}

/// A connection command queued in MULTI, run at EXEC.
async fn run_queued_local(c: &mut Conn, argv: Vec<Bytes>) -> Reply {
    let Some(spec) = cmd::lookup(&argv[0]) else {
        return Reply::error("ERR unknown command");
    };
    if !matches!(spec.run, Run::Local) {
        return Reply::error("ERR internal: not a local command");
    }
    match Box::pin(run(c, spec, argv)).await {
        // One element of EXEC's array even for SUBSCRIBE a b.
        Outcome::Reply(Reply::Several(rs)) => Reply::Array(rs),
        Outcome::Reply(r) | Outcome::Close(r) => r,
        Outcome::Pending(f) | Outcome::Blocked(f) => f.await,
        Outcome::Drop => Reply::Ok,
    }
}
