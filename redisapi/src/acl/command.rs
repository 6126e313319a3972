//! What a connection does with ACLs: the check before each command, AUTH,
//! and the ACL command (acl.c's aclCommand).

use super::{command_id, Denied, LogEntry, User};
use crate::cmd::CommandSpec;
use crate::conn::{Conn, Outcome};
use crate::local::{help, upper};
use bytes::Bytes;
use node::num::parse_i64;
use node::pubsub::Kind;
use node::Reply;
use std::sync::Arc;

/// Where a refused command was: ACL LOG's context.
#[derive(Clone, Copy)]
pub enum Context {
    Toplevel,
    Multi,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
        }
    }
}

/// The ACL id of the command `argv` runs (`config|get` for a container;
/// the container itself when called bare, as COMMAND is).
pub(super) fn id_of(spec: &CommandSpec, argv: &[Bytes]) -> Option<usize> {
    if spec.container && argv.len() > 1 {
        let sub = String::from_utf8_lossy(argv.get(1)?).to_ascii_lowercase();
        command_id(&format!("{}|{sub}", spec.name))
    } else {
        command_id(spec.name)
    }
}

/// Why `user` may not run `argv` (and the command's id), or None if it may.
fn denial(user: &User, spec: &CommandSpec, argv: &[Bytes]) -> Option<(usize, Denied)> {
    match id_of(spec, argv) {
        Some(id) => user.check(id, argv).err().map(|d| (id, d)),
        // CLIENT SETINFO (Redis 7.2's, which client libraries send as they
        // connect): accepted and not kept, so no rule covers it.
        None if spec.name == "client" => None,
        None => Some((0, Denied::Command)),
    }
}

/// What a refusal is about, for ACL LOG: the key or channel, or the command.
fn object(denied: Denied, argv: &[Bytes], id: usize) -> Bytes {
    match denied.position() {
        Some(p) => argv[p].clone(),
        None => Bytes::from_static(full_name(id).as_bytes()),
    }
}

fn full_name(id: usize) -> &'static str {
    super::commands()[id].name
}

impl Conn {
    /// The connection's user as it is now (ACL SETUSER changes it under
    /// connections authenticated as it, as in Redis).
    pub fn user(&mut self) -> &Arc<User> {
        let acl = &self.server.acl;
        let generation = acl.generation();
        if generation != self.user_generation {
            match acl.user(&self.user.name) {
                Some(u) => self.user = u,
                // Deleted: the connection is being closed (ACL DELUSER).
                None => self.authed = false,
            }
            self.user_generation = generation;
        }
        &self.user
    }

    /// Whether the connection's user may run `argv` (processCommand's ACL
    /// check): Redis' NOPERM error otherwise, logged.
    pub fn check_acl(&mut self, spec: &CommandSpec, argv: &[Bytes], context: Context) -> Result<(), Reply> {
        // (The default user's fast path: no reference count touched.)
        if self.user().unrestricted() {
            return Ok(());
        }
        let Some((id, denied)) = denial(&self.user.clone(), spec, argv) else { return Ok(()) };
        // (Logged as in a transaction while queueing one; answered as the
        // caller says.)
        let logged = if self.multi.is_some() { Context::Multi } else { context };
        let entry = LogEntry::new(
            denied.reason(),
            logged.name(),
            object(denied, argv, id),
            &self.user.name,
            self.client.info_line(),
        );
        self.server.acl.log(entry);
        Err(Reply::error(match (denied, context) {
            (Denied::Command, Context::Toplevel) => {
                format!("NOPERM this user has no permissions to run the '{}' command", full_name(id))
            }
            (Denied::Key(_), Context::Toplevel) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments".to_string()
            }
            (Denied::Channel(_), Context::Toplevel) => {
                "NOPERM this user has no permissions to access one of the channels used as arguments".to_string()
            }
            // EXEC's second look, after the rules may have changed.
            (d, Context::Multi) => format!(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
                match d {
                    Denied::Command => "no permission to execute the command or subcommand",
                    Denied::Key(_) => "no permission to touch the specified keys",
                    Denied::Channel(_) => "no permission to access one of the channels used as arguments",
                }
            ),
        }))
    }

    /// A script entry carries the rules of a restricted user, for its
    /// commands to be checked where it runs.
    pub fn stamp_caller(&mut self, cmd: node::Cmd) -> node::Cmd {
        let node::Cmd::Eval(mut e) = cmd else { return cmd };
        let user = self.user();
        if !user.unrestricted() {
            e.acl = user.rules().to_string();
            e.user = user.name.clone();
        }
        node::Cmd::Eval(e)
    }

    /// Whether the user may still use every channel and pattern this
    /// connection is subscribed to (after its rules changed).
    pub fn subscriptions_allowed(&mut self) -> bool {
        let user = self.user().clone();
        let Some(sub) = &self.sub else { return true };
        [(Kind::Channel, false), (Kind::Shard, false), (Kind::Pattern, true)]
            .into_iter()
            .all(|(kind, pattern)| sub.names(kind).iter().all(|n| user.may_subscribe(n, pattern)))
    }

    /// ACLAuthenticateUser (AUTH, HELLO AUTH): an unknown user, a wrong
    /// password or a disabled user is refused alike, and logged.
    pub fn authenticate(&mut self, name: &[u8], password: &[u8], command: &Bytes) -> Reply {
        let name = String::from_utf8_lossy(name).into_owned();
        match self.server.acl.user(&name).filter(|u| u.password_ok(password)) {
            Some(u) => {
                *self.client.user.lock() = u.name.clone();
                self.user = u;
                self.user_generation = self.server.acl.generation();
                self.authed = true;
                Reply::Ok
            }
            None => {
                let context = if self.multi.is_some() { Context::Multi } else { Context::Toplevel };
                let entry = LogEntry::new("auth", context.name(), command.clone(), &name, self.client.info_line());
                self.server.acl.log(entry);
                Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
            }
        }
    }
}

/// Where refusals of the commands scripts call are logged: the node's ACL
/// log (registered by the first server of the process: kvnode has one).
/// Scripts run on the apply thread, away from their connection.
pub type ScriptLog = Box<dyn Fn(LogEntry) + Send + Sync>;

static SCRIPT_LOG: std::sync::OnceLock<ScriptLog> = std::sync::OnceLock::new();

pub fn set_script_log(log: ScriptLog) {
    let _ = SCRIPT_LOG.set(log);
}

/// scriptVerifyACL: whether the user running a script may run `argv`
/// (checked on each replica, with the rules the script's entry carries).
pub fn check_script_call(spec: &CommandSpec, argv: &[Bytes], caller: node::exec::script::Caller) -> Result<(), Reply> {
    if caller.acl.is_empty() {
        return Ok(());
    }
    let user = User::from_rules(caller.user, caller.acl);
    let Some((id, denied)) = denial(&user, spec, argv) else { return Ok(()) };
    if let Some(log) = SCRIPT_LOG.get() {
        // The connection that ran the script is on another node, or gone
        // by now: Redis' client-info is not known here. (Logged once the
        // script's run is kept: a run redone would log it twice.)
        let entry = LogEntry::new(denied.reason(), "lua", object(denied, argv, id), caller.user, String::new());
        node::exec::script::side_effect(move || log(entry));
    }
    Err(Reply::error(format!(
        "ERR The user executing the script {}",
        match denied {
            Denied::Command => "can't run this command or subcommand",
            Denied::Key(_) => "can't access at least one of the keys mentioned in the command arguments",
            Denied::Channel(_) => "can't publish to the channel mentioned in the command",
        }
    )))
}

/// ACL SETUSER|GETUSER|DELUSER|USERS|LIST|WHOAMI|CAT|GENPASS|DRYRUN|LOG|
/// LOAD|SAVE|HELP.
pub fn acl(c: &mut Conn, argv: &[Bytes]) -> Outcome {
    let generation = c.server.acl.generation();
    let reply = acl_reply(c, argv);
    // A connection whose own user was deleted, or replaced by ACL LOAD,
    // closes after this reply.
    let reloaded = upper(&argv[1]) == "LOAD" && c.server.acl.generation() != generation;
    if c.server.acl.user(&c.user.name).is_none() || (reloaded && c.user.name != "default") {
        return Outcome::Close(reply);
    }
    Outcome::Reply(reply)
}

fn acl_reply(c: &mut Conn, argv: &[Bytes]) -> Reply {
    let acl = &c.server.acl;
    match upper(&argv[1]).as_str() {
        "SETUSER" => {
            let name = String::from_utf8_lossy(&argv[2]).into_owned();
            if super::has_spaces(&argv[2]) {
                return Reply::error("ERR Usernames can't contain spaces or null characters");
            }
            let old = acl.user(&name);
            let base = old.as_deref().cloned().unwrap_or_else(|| User::new(&name));
            match base.apply_all(&argv[3..]) {
                Ok(user) => {
                    let revoked = old.as_ref().is_some_and(|o| channels_revoked(o, &user));
                    let user = Arc::new(user);
                    acl.put((*user).clone());
                    if revoked {
                        kill_subscribers_of(c, &user);
                    }
                    Reply::Ok
                }
                Err(e) => Reply::error(e),
            }
        }
        "DELUSER" => {
            if argv[2..].iter().any(|n| n.as_ref() == b"default") {
                return Reply::error("ERR The 'default' user cannot be removed");
            }
            let mut deleted = 0;
            for name in &argv[2..] {
                let name = String::from_utf8_lossy(name);
                if acl.remove(&name) {
                    deleted += 1;
                    for client in c.server.clients() {
                        if *client.user.lock() == name && client.id != c.client.id {
                            client.kill.notify_one();
                        }
                    }
                }
            }
            Reply::Int(deleted)
        }
        "GETUSER" => match acl.user(&String::from_utf8_lossy(&argv[2])) {
            None => Reply::Nil,
            Some(u) => {
                let b = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
                let mut fields = vec![
                    (b("flags"), Reply::Set(u.flags().into_iter().map(b).collect())),
                    (b("passwords"), Reply::Array(u.password_hashes().iter().map(|p| b(p)).collect())),
                ];
                fields.extend(selector_fields(u.root()));
                let selectors = u.selectors().iter().map(|s| Reply::Map(selector_fields(s))).collect();
                fields.push((b("selectors"), Reply::Array(selectors)));
                Reply::Map(fields)
            }
        },
        "USERS" => Reply::Array(acl.users().iter().map(|u| Reply::Bulk(Bytes::from(u.name.clone()))).collect()),
        "LIST" => Reply::Array(
            acl.users().iter().map(|u| Reply::Bulk(Bytes::from(format!("user {} {}", u.name, u.describe())))).collect(),
        ),
        "WHOAMI" => Reply::Bulk(Bytes::from(c.user().name.clone())),
        "LOAD" | "SAVE" => {
            let Some(path) = c.server.cfg.read().aclfile.clone() else {
                return Reply::error("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.");
            };
            if upper(&argv[1]) == "SAVE" {
                match super::file::save(&path, &acl.users()) {
                    Ok(()) => Reply::Ok,
                    Err(e) => {
                        tracing::warn!("ACL SAVE to {}: {e}", path.display());
                        Reply::error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
                    }
                }
            } else {
                match super::file::load(&path) {
                    Ok(users) => {
                        acl.replace_all(users);
                        // As Redis frees every user but the default one,
                        // and closes their connections.
                        for client in c.server.clients() {
                            if *client.user.lock() != "default" && client.id != c.client.id {
                                client.kill.notify_one();
                            }
                        }
                        Reply::Ok
                    }
                    Err(e) => Reply::error(format!("ERR {e}")),
                }
            }
        }
        "CAT" if argv.len() == 2 => {
            Reply::Array(super::CATEGORIES.iter().map(|c| Reply::Bulk(Bytes::from_static(c.as_bytes()))).collect())
        }
        "CAT" if argv.len() == 3 => {
            let Some(bit) = super::category_bit(&String::from_utf8_lossy(&argv[2])) else {
                let name: String = String::from_utf8_lossy(&argv[2]).chars().take(128).collect();
                return Reply::error(format!("ERR Unknown category '{name}'"));
            };
            Reply::Array(
                super::commands()
                    .iter()
                    .filter(|cmd| cmd.categories & bit != 0)
                    .map(|cmd| Reply::Bulk(Bytes::from_static(cmd.name.as_bytes())))
                    .collect(),
            )
        }
        "GENPASS" if argv.len() <= 3 => {
            let bits = match argv.get(2) {
                None => 256,
                Some(a) => match parse_i64(a) {
                    Some(n) => n,
                    None => return Reply::error(node::reply::err::NOT_INTEGER),
                },
            };
            if !(1..=4096).contains(&bits) {
                return Reply::error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
            }
            let chars = ((bits + 3) / 4) as usize;
            let hex: String =
                (0..chars).map(|_| char::from(b"0123456789abcdef"[rand::random::<usize>() % 16])).collect();
            Reply::Bulk(Bytes::from(hex))
        }
        "LOG" if argv.len() <= 3 => {
            let mut count = 10;
            if let Some(a) = argv.get(2) {
                if a.eq_ignore_ascii_case(b"reset") {
                    acl.with_log(|l| l.clear());
                    return Reply::Ok;
                }
                match parse_i64(a) {
                    Some(n) => count = n.max(0) as usize,
                    None => return Reply::error(node::reply::err::NOT_INTEGER),
                }
            }
            let now = std::time::SystemTime::now();
            acl.with_log(|log| Reply::Array(log.iter().take(count).map(|e| log_entry(e, now)).collect()))
        }
        "DRYRUN" => dryrun(c, argv),
        "HELP" => help(&[
            "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
            "HELP",
            "    Prints this help.",
        ]),
        _ => Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}

/// A selector's commands, keys and channels, as ACL GETUSER shows them.
fn selector_fields(s: &super::Selector) -> Vec<(Reply, Reply)> {
    let b = |s: String| Reply::Bulk(Bytes::from(s));
    vec![
        (b("commands".into()), b(s.describe_commands())),
        (b("keys".into()), b(s.describe_keys().join(" "))),
        (b("channels".into()), b(s.describe_channels().join(" "))),
    ]
}

fn log_entry(e: &LogEntry, now: std::time::SystemTime) -> Reply {
    let b = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let age = now.duration_since(e.at).map_or(0.0, |d| d.as_millis() as f64 / 1000.0);
    Reply::Map(vec![
        (b("count"), Reply::Int(e.count as i64)),
        (b("reason"), b(e.reason)),
        (b("context"), b(e.context)),
        (b("object"), Reply::Bulk(e.object.clone())),
        (b("username"), b(&e.username)),
        (b("age-seconds"), Reply::Double(age)),
        (b("client-info"), b(&e.client_info)),
    ])
}

/// ACL DRYRUN user command [arg ...]: OK, or why the user may not run it.
fn dryrun(c: &mut Conn, argv: &[Bytes]) -> Reply {
    let Some(user) = c.server.acl.user(&String::from_utf8_lossy(&argv[2])) else {
        return Reply::error(format!("ERR User '{}' not found", String::from_utf8_lossy(&argv[2])));
    };
    let run = &argv[3..];
    let Some(spec) = crate::cmd::lookup(&run[0]) else {
        return Reply::error(format!("ERR Command '{}' not found", String::from_utf8_lossy(&run[0])));
    };
    let id = match id_of(spec, run) {
        Some(id) => id,
        // A container without a known subcommand is looked up as itself.
        None => match command_id(spec.name) {
            Some(id) => id,
            None => return Reply::error(format!("ERR Command '{}' not found", String::from_utf8_lossy(&run[0]))),
        },
    };
    let arity = spec_arity(id, spec);
    let n = run.len() as i32;
    if (arity > 0 && arity != n) || n < -arity {
        return Reply::error(format!("ERR wrong number of arguments for '{}' command", full_name(id)));
    }
    match user.check(id, run) {
        Ok(()) => Reply::Ok,
        Err(d) => {
            let what = match d {
                Denied::Command => format!("This user has no permissions to run the '{}' command", full_name(id)),
                Denied::Key(p) => {
                    format!("This user has no permissions to access the '{}' key", String::from_utf8_lossy(&run[p]))
                }
                Denied::Channel(p) => {
                    format!("This user has no permissions to access the '{}' channel", String::from_utf8_lossy(&run[p]))
                }
            };
            Reply::Bulk(Bytes::from(what))
        }
    }
}

/// The arity of command `id`: a subcommand's from the subcommand table.
fn spec_arity(id: usize, spec: &CommandSpec) -> i32 {
    match full_name(id).split_once('|') {
        Some((_, sub)) => {
            crate::spec_data::SUBSPECS.iter().find(|r| r.0 == spec.name && r.1 == sub).map_or(spec.arity, |r| r.2)
        }
        None => spec.arity,
    }
}

/// ACLKillPubsubClientsIfNeeded's test: the new rules allow fewer channels.
fn channels_revoked(old: &User, new: &User) -> bool {
    let all = |u: &User| std::iter::once(u.root()).chain(u.selectors()).any(|s| s.describe_channels() == ["&*"]);
    if all(new) {
        return false;
    }
    let list = |u: &User| -> Vec<String> {
        std::iter::once(u.root()).chain(u.selectors()).flat_map(|s| s.describe_channels()).collect()
    };
    all(old) || !list(old).iter().all(|c| list(new).contains(c))
}

/// Has the subscribed connections of `user` check their channels (each
/// closes if one is no longer allowed).
fn kill_subscribers_of(c: &Conn, user: &User) {
    for client in c.server.clients() {
        if *client.user.lock() == user.name {
            client.acl_check.notify_one();
        }
    }
}
