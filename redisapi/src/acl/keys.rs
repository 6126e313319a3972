//! Which arguments of a command are keys and channels, and how the command
//! uses each key, as ACL checks need them: Redis' key specs
//! (getKeysUsingKeySpecs in db.c), its few key-finding procedures for the
//! commands whose specs cannot say (SET, BITFIELD, SORT, MIGRATE), and its
//! channel table.

use bytes::Bytes;

/// Key spec flags: what ACL checks read, and the access kinds COMMAND
/// GETKEYSANDFLAGS reports too.
pub const K_ACCESS: u16 = 1;
pub const K_INSERT: u16 = 2;
pub const K_DELETE: u16 = 4;
pub const K_UPDATE: u16 = 8;
pub const K_NOT_KEY: u16 = 16;
pub const K_INCOMPLETE: u16 = 32;
pub const K_VARIABLE_FLAGS: u16 = 64;
pub const K_RO: u16 = 128;
pub const K_RW: u16 = 256;
pub const K_OW: u16 = 512;
pub const K_RM: u16 = 1024;

/// The flags' names, in the order Redis lists them (addReplyFlagsForKeyArgs).
pub const FLAG_NAMES: [(u16, &str); 11] = [
    (K_RO, "RO"),
    (K_RW, "RW"),
    (K_OW, "OW"),
    (K_RM, "RM"),
    (K_ACCESS, "access"),
    (K_UPDATE, "update"),
    (K_INSERT, "insert"),
    (K_DELETE, "delete"),
    (K_NOT_KEY, "not_key"),
    (K_INCOMPLETE, "incomplete"),
    (K_VARIABLE_FLAGS, "variable_flags"),
];

/// Where a key spec's keys begin.
#[derive(Debug)]
pub enum Begin {
    Index(i32),
    /// The argument after this keyword, searched from `startfrom` (negative:
    /// backwards from the end).
    Keyword(&'static str, i32),
    Unknown,
}

/// How many keys a key spec covers.
#[derive(Debug)]
pub enum Find {
    Range { last: i32, step: i32, limit: i32 },
    Keynum { index: i32, first: i32, step: i32 },
    Unknown,
}

#[derive(Debug)]
pub struct KeySpec {
    pub begin: Begin,
    pub find: Find,
    pub flags: u16,
}

/// A key argument: its position and how the command uses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: u16,
}

/// The keys of `argv` (a command of `name` with `specs`), as Redis'
/// getKeysFromCommandWithSpecs finds them.
pub fn keys(name: &str, specs: &[KeySpec], argv: &[Bytes]) -> Vec<KeyRef> {
    let variable = specs.iter().any(|s| s.flags & K_VARIABLE_FLAGS != 0);
    if !variable {
        if let Some(keys) = by_specs(specs, argv) {
            return keys;
        }
    }
    by_procedure(name, argv)
}

/// getKeysUsingKeySpecs: None when a spec cannot be followed (unknown,
/// incomplete, or out of the arguments' bounds).
fn by_specs(specs: &[KeySpec], argv: &[Bytes]) -> Option<Vec<KeyRef>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for spec in specs {
        if spec.flags & K_NOT_KEY != 0 {
            continue;
        }
        let mut first: i64 = match spec.begin {
            Begin::Index(i) => i as i64,
            Begin::Keyword(word, from) => {
                let from = from as i64;
                let (start, end) = if from > 0 { (from, argc - 1) } else { (argc + from, 1) };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (last, step) = match spec.find {
            Find::Range { last, step, limit } => {
                let last = if last >= 0 {
                    first + last as i64
                } else if limit == 0 {
                    argc + last as i64
                } else {
                    first + ((argc - first) / limit as i64 + last as i64)
                };
                (last, step as i64)
            }
            Find::Keynum { index, first: offset, step } => {
                if index as i64 >= argc {
                    return None;
                }
                let at = (first + index as i64) as usize;
                let n: i64 = argv.get(at).and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())?;
                if n < 0 {
                    return None;
                }
                first += offset as i64;
                (first + n - 1, step as i64)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            out.push(KeyRef { pos: i as usize, flags: spec.flags });
            i += step;
        }
        if spec.flags & K_INCOMPLETE != 0 {
            return None;
        }
    }
    Some(out)
}

/// The getkeys procedures Redis falls back to.
fn by_procedure(name: &str, argv: &[Bytes]) -> Vec<KeyRef> {
    let is = |i: usize, word: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()));
    let at = |pos, flags| KeyRef { pos, flags };
    match name {
        // setGetKeys: GET makes SET read its key.
        "set" => {
            let reads = (3..argv.len()).any(|i| is(i, "get"));
            vec![at(1, if reads { K_RW | K_ACCESS | K_UPDATE } else { K_OW | K_UPDATE })]
        }
        // bitfieldGetKeys: read-only unless a SET or INCRBY (or a syntax error).
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < argv.len() {
                let rest = argv.len() - i - 1;
                if is(i, "get") && rest >= 2 {
                    i += 2;
                } else if (is(i, "set") || is(i, "incrby")) && rest >= 3 {
                    readonly = false;
                    break;
                } else if is(i, "overflow") && rest >= 1 {
                    i += 1;
                } else {
                    readonly = false;
                    break;
                }
                i += 1;
            }
            vec![at(1, if readonly { K_RO | K_ACCESS } else { K_RW | K_ACCESS | K_UPDATE })]
        }
        "sort_ro" => vec![at(1, K_RO | K_ACCESS)],
        // sortGetKeys: the sorted key, and the last STORE's key.
        "sort" => {
            let mut keys = vec![at(1, K_RO | K_ACCESS)];
            let mut store = None;
            let mut i = 2;
            while i < argv.len() {
                if is(i, "limit") {
                    i += 2;
                } else if is(i, "get") || is(i, "by") {
                    i += 1;
                } else if is(i, "store") && i + 1 < argv.len() {
                    store = Some(i + 1);
                }
                i += 1;
            }
            keys.extend(store.map(|p| at(p, K_OW | K_UPDATE)));
            keys
        }
        // migrateGetKeys: the key argument, or those after KEYS.
        "migrate" => {
            let flags = K_RW | K_ACCESS | K_DELETE;
            let (mut first, mut num) = (3, 1);
            if argv.len() > 6 {
                let mut i = 6;
                while i < argv.len() {
                    if is(i, "keys") {
                        if !argv[3].is_empty() {
                            num = 0;
                        } else {
                            first = i + 1;
                            num = argv.len() - first;
                        }
                        break;
                    }
                    if is(i, "auth") {
                        i += 1;
                    } else if is(i, "auth2") {
                        i += 2;
                    }
                    i += 1;
                }
            }
            (first..first + num).filter(|&p| p < argv.len()).map(|p| at(p, flags)).collect()
        }
        // The other procedures (numkeys commands) find nothing where the
        // specs failed: a bad key count, which the command then refuses.
        _ => Vec::new(),
    }
}

/// A channel argument: its position, and whether it is a pattern
/// (PSUBSCRIBE), which ACL patterns match literally.
pub struct ChannelRef {
    pub pos: usize,
    pub pattern: bool,
}

/// The channels a command publishes or subscribes to (Redis'
/// commands_with_channels; unsubscribing needs no permission).
pub fn channels(name: &str, argc: usize) -> Vec<ChannelRef> {
    let all = |pattern| (1..argc).map(|pos| ChannelRef { pos, pattern }).collect();
    match name {
        "subscribe" | "ssubscribe" => all(false),
        "psubscribe" => all(true),
        "publish" | "spublish" if argc > 1 => vec![ChannelRef { pos: 1, pattern: false }],
        _ => Vec::new(),
    }
}
