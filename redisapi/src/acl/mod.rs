//! Access control lists, as Redis 7.0's acl.c: users with passwords and
//! selectors (which commands, keys and channels they may use), the rules
//! that change them (`ACL SETUSER`), and the check every command of an
//! authenticated connection passes before it runs.
//!
//! Users belong to the node, as in Redis Cluster: set them on each node.
//! They last until the node stops unless an ACL file is configured
//! (`aclfile`), which `ACL SAVE` writes and `ACL LOAD` and the start read.

pub mod command;
mod data;
mod describe;
pub mod file;
pub mod keys;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

pub use data::CATEGORIES;

/// A command or subcommand as ACLs know it (every one Redis has).
pub struct AclCommand {
    /// Full name: `get`, `config|get`.
    pub name: &'static str,
    /// The container's index in [`data::COMMANDS`], for a subcommand.
    pub parent: Option<usize>,
    /// Bit i: category [`CATEGORIES`]\[i\].
    pub categories: u32,
    /// Runs before authentication (AUTH, HELLO, QUIT, RESET): no rule
    /// refuses it.
    pub no_auth: bool,
    pub key_specs: &'static [keys::KeySpec],
}

/// Command ids are indexes of [`data::COMMANDS`].
pub fn commands() -> &'static [AclCommand] {
    data::COMMANDS
}

fn ids() -> &'static HashMap<&'static str, usize> {
    static IDS: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    IDS.get_or_init(|| data::COMMANDS.iter().enumerate().map(|(i, c)| (c.name, i)).collect())
}

/// The id of a command by its full name (`config|get`), any case.
pub fn command_id(name: &str) -> Option<usize> {
    ids().get(name.to_ascii_lowercase().as_str()).copied()
}

/// The subcommands of command `id`: the indexes right after it.
fn subcommands(id: usize) -> impl Iterator<Item = usize> {
    (id + 1..data::COMMANDS.len()).take_while(move |&s| data::COMMANDS[s].parent == Some(id))
}

/// The keys of `argv` (a command of `spec`) with how it uses each, as
/// Redis' key specs (and its getkeys procedures) say.
pub fn key_refs(spec: &crate::cmd::CommandSpec, argv: &[Bytes]) -> Vec<keys::KeyRef> {
    match command::id_of(spec, argv) {
        Some(id) => keys::keys(data::COMMANDS[id].name, data::COMMANDS[id].key_specs, argv),
        None => Vec::new(),
    }
}

pub fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES.iter().position(|c| c.eq_ignore_ascii_case(name)).map(|i| 1 << i)
}

const WORDS: usize = 8;
const _: () = assert!(data::COMMANDS.len() < WORDS * 64);

/// A key pattern's permissions.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

/// One set of permissions: a user has its root selector and any number of
/// `(...)` selectors; a command runs if one of them allows it.
#[derive(Clone, Default, PartialEq)]
pub struct Selector {
    allowed: [u64; WORDS],
    /// `+@all`: commands not in the table (modules in Redis) would run too.
    /// Kept apart from `all_commands`, which any `-cmd` clears.
    future: bool,
    all_commands: bool,
    /// Command id -> the first arguments allowed of an otherwise refused
    /// command (`+select|0`).
    first_args: BTreeMap<usize, Vec<String>>,
    all_keys: bool,
    patterns: Vec<(Bytes, u8)>,
    all_channels: bool,
    channels: Vec<Bytes>,
}

/// Why a rule was refused: Redis' errno, as its message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RuleError {
    Unknown,
    Syntax,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    SubcommandFirstArg,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b.is_ascii_whitespace() || b == 0 || b == 0x0b)
}

impl Selector {
    fn bit(&self, id: usize) -> bool {
        self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if on {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.all_commands = false;
        }
    }

    /// ACLChangeSelectorPerm: a command and its subcommands.
    fn change(&mut self, id: usize, on: bool) {
        self.set_bit(id, on);
        self.first_args.remove(&id);
        for sub in subcommands(id) {
            self.set_bit(sub, on);
        }
    }

    fn set_all(&mut self, on: bool) {
        self.allowed = if on { [u64::MAX; WORDS] } else { [0; WORDS] };
        self.future = on;
        self.all_commands = on;
        self.first_args.clear();
    }

    fn set_category(&mut self, bit: u32, on: bool) {
        for (id, c) in data::COMMANDS.iter().enumerate() {
            if c.categories & bit != 0 {
                self.change(id, on);
            }
        }
    }

    /// (allowed, refused) commands of a category.
    fn count_category(&self, bit: u32) -> (usize, usize) {
        let mut counts = (0, 0);
        for (id, c) in data::COMMANDS.iter().enumerate() {
            if c.categories & bit != 0 {
                if self.bit(id) {
                    counts.0 += 1;
                } else {
                    counts.1 += 1;
                }
            }
        }
        counts
    }

    /// ACLSetSelector: one rule about commands, keys or channels.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let text = String::from_utf8_lossy(op);
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.patterns.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.patterns.clear();
            }
            "allchannels" | "&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" => self.set_all(true),
            "nocommands" | "-@all" => self.set_all(false),
            _ if op[0] == b'~' || op[0] == b'%' => {
                if self.all_keys {
                    return Err(RuleError::KeysAfterAll);
                }
                let (flags, offset) = if op[0] == b'%' {
                    let mut flags = 0;
                    let mut offset = 1;
                    loop {
                        match op.get(offset).map(u8::to_ascii_uppercase) {
                            Some(b'R') if flags & READ == 0 => flags |= READ,
                            Some(b'W') if flags & WRITE == 0 => flags |= WRITE,
                            Some(b'~') => {
                                offset += 1;
                                break;
                            }
                            _ => return Err(RuleError::Syntax),
                        }
                        offset += 1;
                    }
                    (flags, offset)
                } else {
                    (READ | WRITE, 1)
                };
                let pattern = &op[offset..];
                if has_spaces(pattern) {
                    return Err(RuleError::Syntax);
                }
                match self.patterns.iter_mut().find(|(p, _)| p.as_ref() == pattern) {
                    Some((_, f)) => *f |= flags,
                    None => self.patterns.push((Bytes::copy_from_slice(pattern), flags)),
                }
            }
            _ if op[0] == b'&' => {
                if self.all_channels {
                    return Err(RuleError::ChannelsAfterAll);
                }
                let pattern = &op[1..];
                if has_spaces(pattern) {
                    return Err(RuleError::Syntax);
                }
                if !self.channels.iter().any(|c| c.as_ref() == pattern) {
                    self.channels.push(Bytes::copy_from_slice(pattern));
                }
            }
            _ if op.len() > 1 && (op[0] == b'+' || op[0] == b'-') && op[1] == b'@' => {
                let bit = category_bit(&text[2..]).ok_or(RuleError::Unknown)?;
                self.set_category(bit, op[0] == b'+');
            }
            _ if op[0] == b'+' => {
                let name = &text[1..];
                match name.rsplit_once('|') {
                    None => self.change(command_id(name).ok_or(RuleError::Unknown)?, true),
                    Some((container, sub)) => {
                        let id = command_id(container).ok_or(RuleError::Unknown)?;
                        if data::COMMANDS[id].parent.is_some() {
                            return Err(RuleError::SubcommandFirstArg);
                        }
                        if sub.is_empty() {
                            return Err(RuleError::Syntax);
                        }
                        if subcommands(id).next().is_some() {
                            self.change(command_id(name).ok_or(RuleError::Unknown)?, true);
                        } else {
                            // Redis' deprecated first-argument rule (SELECT|0).
                            let allowed = self.first_args.entry(id).or_default();
                            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                                allowed.push(sub.to_string());
                            }
                        }
                    }
                }
            }
            _ if op[0] == b'-' => self.change(command_id(&text[1..]).ok_or(RuleError::Unknown)?, false),
            _ => return Err(RuleError::Syntax),
        }
        Ok(())
    }

    /// Whether this selector lets the command run with these arguments:
    /// the refusal and the argument it is about otherwise.
    fn check(&self, id: usize, argv: &[Bytes], keys: &mut Option<Vec<keys::KeyRef>>) -> Result<(), Denied> {
        let cmd = &data::COMMANDS[id];
        if !self.all_commands && !cmd.no_auth && !self.bit(id) {
            let arg = if cmd.parent.is_some() { 2 } else { 1 };
            let allowed = argv.len() >= 2
                && self.first_args.get(&id).is_some_and(|firsts| {
                    firsts.iter().any(|f| argv.get(arg).is_some_and(|a| a.eq_ignore_ascii_case(f.as_bytes())))
                });
            if !allowed {
                return Err(Denied::Command);
            }
        }
        if !self.all_keys && !cmd.key_specs.is_empty() {
            let found = keys.get_or_insert_with(|| keys::keys(cmd.name, cmd.key_specs, argv));
            for k in found.iter() {
                if !self.key_allowed(&argv[k.pos], k.flags) {
                    return Err(Denied::Key(k.pos));
                }
            }
        }
        if !self.all_channels {
            for ch in keys::channels(cmd.name, argv.len()) {
                if !self.channel_allowed(&argv[ch.pos], ch.pattern) {
                    return Err(Denied::Channel(ch.pos));
                }
            }
        }
        Ok(())
    }

    fn key_allowed(&self, key: &[u8], spec_flags: u16) -> bool {
        if self.all_keys {
            return true;
        }
        let mut need = 0;
        if spec_flags & keys::K_ACCESS != 0 {
            need |= READ;
        }
        if spec_flags & (keys::K_INSERT | keys::K_DELETE | keys::K_UPDATE) != 0 {
            need |= WRITE;
        }
        self.patterns.iter().any(|(p, f)| f & need == need && node::glob::matches(p, key))
    }

    fn channel_allowed(&self, channel: &[u8], pattern: bool) -> bool {
        self.all_channels
            || self
                .channels
                .iter()
                .any(|p| if pattern { p.as_ref() == channel } else { node::glob::matches(p, channel) })
    }
}

/// Why a command was refused, and the argument it was about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    /// Redis' order of interest among refusals: a key or channel over the
    /// command (ACLCheckAllUserCommandPerm keeps the greatest).
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (0, 0),
            Denied::Key(p) => (1, p),
            Denied::Channel(p) => (2, p),
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Denied::Command => "command",
            Denied::Key(_) => "key",
            Denied::Channel(_) => "channel",
        }
    }

    pub fn position(self) -> Option<usize> {
        match self {
            Denied::Command => None,
            Denied::Key(p) | Denied::Channel(p) => Some(p),
        }
    }
}

#[derive(Clone, Default)]
pub struct User {
    pub name: String,
    /// The rules as [`User::describe`] writes them, once asked (scripts
    /// carry them); every change starts it anew.
    described: OnceLock<String>,
    /// Redis keeps "on" and "off" as two flags (a new user has only off).
    on: bool,
    off: bool,
    nopass: bool,
    /// skip-sanitize-payload / sanitize-payload (kept and shown only).
    skip_sanitize: bool,
    sanitize: bool,
    /// SHA-256 of each password, in lowercase hex.
    passwords: Vec<String>,
    root: Selector,
    selectors: Vec<Selector>,
}

pub fn hash_password(p: &[u8]) -> String {
    Sha256::digest(p).iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash a password rule names: `>pass` and `<pass` hash their
/// password, `#hash` and `!hash` give it (64 lowercase hex digits).
fn password_hash_of(op: &[u8]) -> Result<String, RuleError> {
    let given = &op[1..];
    if matches!(op[0], b'>' | b'<') {
        return Ok(hash_password(given));
    }
    if given.len() == 64 && given.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Ok(String::from_utf8_lossy(given).into_owned());
    }
    Err(RuleError::BadHash)
}

impl User {
    /// A new user: off, no passwords, no permissions.
    pub fn new(name: &str) -> User {
        User { name: name.to_string(), off: true, ..User::default() }
    }

    /// The default user of a fresh node: everything, no password.
    pub fn default_user() -> User {
        let mut u = User::new("default");
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            u.apply(op.as_bytes()).expect("default user rules");
        }
        u
    }

    pub fn enabled(&self) -> bool {
        !self.off
    }

    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// Whether no rule restricts this user (the default user unless
    /// changed): its commands skip the check.
    pub fn unrestricted(&self) -> bool {
        self.root.all_commands && self.root.all_keys && self.root.all_channels
    }

    pub fn password_ok(&self, password: &[u8]) -> bool {
        if self.off {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hashed = hash_password(password);
        // Compares every byte whatever matches, as Redis does.
        self.passwords.iter().any(|p| p.bytes().zip(hashed.bytes()).fold(0, |d, (a, b)| d | (a ^ b)) == 0)
    }

    /// ACLSetUser: one rule.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        self.described = OnceLock::new();
        if op.is_empty() {
            return Ok(());
        }
        let lower = String::from_utf8_lossy(op).to_ascii_lowercase();
        match lower.as_str() {
            "on" => (self.on, self.off) = (true, false),
            "off" => (self.on, self.off) = (false, true),
            "skip-sanitize-payload" => (self.skip_sanitize, self.sanitize) = (true, false),
            "sanitize-payload" => (self.skip_sanitize, self.sanitize) = (false, true),
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                for op in
                    ["resetpass", "resetkeys", "resetchannels", "off", "sanitize-payload", "clearselectors", "-@all"]
                {
                    self.apply(op.as_bytes())?;
                }
            }
            _ if op[0] == b'>' || op[0] == b'#' => {
                let hash = password_hash_of(op)?;
                if !self.passwords.contains(&hash) {
                    self.passwords.push(hash);
                }
                self.nopass = false;
            }
            _ if op[0] == b'<' || op[0] == b'!' => {
                let hash = password_hash_of(op)?;
                let at = self.passwords.iter().position(|p| *p == hash).ok_or(RuleError::NoSuchPassword)?;
                self.passwords.remove(at);
            }
            _ if op[0] == b'(' && op[op.len() - 1] == b')' => {
                // Its rules are split as Redis splits them (sdssplitargs:
                // quotes and escapes); unbalanced quotes leave no rules.
                let mut s = Selector::default();
                for rule in crate::resp::split_args(&op[1..op.len() - 1]).unwrap_or_default() {
                    s.apply(&rule)?;
                }
                self.selectors.push(s);
            }
            _ => self.root.apply(op)?,
        }
        Ok(())
    }

    /// ACLStringSetUser's staging: every rule applies or none (the first
    /// error names its rule). Selector rules split over several arguments
    /// (`(+get` `~k*)`) are joined first.
    pub fn apply_all(&self, rules: &[Bytes]) -> Result<User, String> {
        let merged = merge_selectors(rules)?;
        let mut staged = self.clone();
        for op in &merged {
            staged.apply(op).map_err(|e| {
                format!("ERR Error in ACL SETUSER modifier '{}': {}", String::from_utf8_lossy(op), e.message())
            })?;
        }
        Ok(staged)
    }

    /// ACLCheckAllUserCommandPerm for command `id`.
    pub fn check(&self, id: usize, argv: &[Bytes]) -> Result<(), Denied> {
        let mut keys = None;
        let mut worst = Denied::Command;
        for s in std::iter::once(&self.root).chain(&self.selectors) {
            match s.check(id, argv, &mut keys) {
                Ok(()) => return Ok(()),
                Err(d) if d.rank() > worst.rank() => worst = d,
                Err(_) => {}
            }
        }
        Err(worst)
    }

    /// Whether a subscriber of this user may stay subscribed to `channel`
    /// (`pattern`: a PSUBSCRIBE pattern).
    pub fn may_subscribe(&self, channel: &[u8], pattern: bool) -> bool {
        std::iter::once(&self.root).chain(&self.selectors).any(|s| s.channel_allowed(channel, pattern))
    }
}

thread_local! {
    /// Users parsed from the rules scripts carry, on the thread that runs
    /// scripts (a few users' rules, each parsed once).
    static PARSED: std::cell::RefCell<HashMap<String, Arc<User>>> = Default::default();
}

impl User {
    /// The user whose rules a script carries (see [`User::rules`]).
    pub fn from_rules(name: &str, rules: &str) -> Arc<User> {
        PARSED.with(|parsed| {
            let mut parsed = parsed.borrow_mut();
            if let Some(u) = parsed.get(rules).filter(|u| u.name == name) {
                return u.clone();
            }
            if parsed.len() >= 64 {
                parsed.clear();
            }
            let words: Vec<Bytes> = rules.split(' ').map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
            // Rules this node wrote; one it cannot read leaves the user no
            // permissions rather than more.
            let user = User::new(name).apply_all(&words).unwrap_or_else(|_| User::new(name));
            let user = Arc::new(user);
            parsed.insert(rules.to_string(), user.clone());
            user
        })
    }

    /// The rules a restricted user's scripts carry (empty for a user no
    /// rule restricts: its scripts run unchecked).
    pub fn rules(&self) -> &str {
        if self.unrestricted() {
            return "";
        }
        self.described.get_or_init(|| self.describe())
    }
}

/// ACLMergeSelectorArguments.
fn merge_selectors(rules: &[Bytes]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, op) in rules.iter().enumerate() {
        if let Some((_, sel)) = &mut open {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                out.push(open.take().unwrap().1);
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((i, op.to_vec()));
            continue;
        }
        out.push(op.to_vec());
    }
    if let Some((i, _)) = open {
        return Err(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(&rules[i])
        ));
    }
    Ok(out)
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: Bytes,
    pub username: String,
    pub at: std::time::SystemTime,
    pub client_info: String,
}

impl LogEntry {
    /// A refusal happening now.
    pub fn new(
        reason: &'static str,
        context: &'static str,
        object: Bytes,
        username: &str,
        client_info: String,
    ) -> LogEntry {
        let at = std::time::SystemTime::now();
        LogEntry { count: 1, reason, context, object, username: username.to_string(), at, client_info }
    }
}

/// The node's users and its ACL log.
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    /// Bumped by every change, so a connection re-reads its user only then.
    generation: AtomicU64,
    log: Mutex<VecDeque<LogEntry>>,
    pub log_max_len: std::sync::atomic::AtomicUsize,
}

impl Default for Acl {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), Arc::new(User::default_user()));
        Acl {
            users: RwLock::new(users),
            generation: AtomicU64::new(1),
            log: Mutex::new(VecDeque::new()),
            log_max_len: std::sync::atomic::AtomicUsize::new(128),
        }
    }
}

impl Acl {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        self.user("default").expect("the default user cannot be deleted")
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// Stores `user` (new or changed); the previous definition, if any.
    pub fn put(&self, user: User) -> Option<Arc<User>> {
        let old = self.users.write().insert(user.name.clone(), Arc::new(user));
        self.generation.fetch_add(1, Ordering::AcqRel);
        old
    }

    pub fn remove(&self, name: &str) -> bool {
        let gone = self.users.write().remove(name).is_some();
        self.generation.fetch_add(1, Ordering::AcqRel);
        gone
    }

    /// Replaces every user at once (ACL LOAD); the default user is kept
    /// unless the set has one.
    pub fn replace_all(&self, users: Vec<User>) {
        let mut map: BTreeMap<String, Arc<User>> = users.into_iter().map(|u| (u.name.clone(), Arc::new(u))).collect();
        let mut current = self.users.write();
        if !map.contains_key("default") {
            map.insert("default".to_string(), current["default"].clone());
        }
        *current = map;
        drop(current);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The requirepass setting: the default user's only password, or none.
    pub fn set_default_password(&self, password: Option<&str>) {
        let mut u = (*self.default_user()).clone();
        u.apply(b"resetpass").expect("rule");
        match password {
            Some(p) => u.apply(format!(">{p}").as_bytes()).expect("rule"),
            None => u.apply(b"nopass").expect("rule"),
        }
        self.put(u);
    }

    /// Whether a new connection must authenticate: the default user needs a
    /// password or is off.
    pub fn auth_required(&self) -> bool {
        let d = self.default_user();
        !d.nopass || d.off
    }

    /// addACLLogEntry: a refusal joins an equal one of the last minute
    /// among the ten newest.
    pub fn log(&self, mut entry: LogEntry) {
        let mut log = self.log.lock();
        let recent = log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && entry.at.duration_since(e.at).map_or(true, |d| d.as_millis() < 60_000)
        });
        if let Some(i) = recent {
            let old = log.remove(i).unwrap();
            entry.count = old.count + 1;
        }
        log.push_front(entry);
        let max = self.log_max_len.load(Ordering::Relaxed);
        log.truncate(max);
    }

    pub fn with_log<T>(&self, f: impl FnOnce(&mut VecDeque<LogEntry>) -> T) -> T {
        f(&mut self.log.lock())
    }
}
