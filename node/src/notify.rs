//! Keyspace notifications (`notify-keyspace-events`): which classes of
//! events a node publishes, in Redis' flags and spelling. The bit values
//! are Redis' own and travel in raft entries ([`crate::command::Entry`]'s
//! `notify`): the proposing node's setting decides what every replica
//! collects while applying the entry, and the proposer publishes it.

/// `__keyspace@0__:<key>` messages.
pub const KEYSPACE: u32 = 1 << 0;
/// `__keyevent@0__:<event>` messages.
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// `A`: every class but key misses and new keys.
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Parses a `notify-keyspace-events` value (Redis' characters).
pub fn parse(classes: &str) -> Option<u32> {
    classes.chars().try_fold(0, |flags, c| {
        Some(
            flags
                | match c {
                    'A' => ALL,
                    'g' => GENERIC,
                    '$' => STRING,
                    'l' => LIST,
                    's' => SET,
                    'h' => HASH,
                    'z' => ZSET,
                    'x' => EXPIRED,
                    'e' => EVICTED,
                    'K' => KEYSPACE,
                    'E' => KEYEVENT,
                    't' => STREAM,
                    'm' => KEY_MISS,
                    'd' => MODULE,
                    'n' => NEW,
                    _ => return None,
                },
        )
    })
}

/// The value as CONFIG GET shows it (Redis' order and `A` when it applies).
pub fn to_config(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// What an entry should collect: nothing unless some channel kind is on.
pub fn wanted(flags: u32) -> u32 {
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_strings_round_trip_as_in_redis() {
        assert_eq!(parse("KEA").map(to_config).as_deref(), Some("AKE"));
        assert_eq!(parse("gKn$").map(to_config).as_deref(), Some("g$nK"));
        assert_eq!(parse("").map(to_config).as_deref(), Some(""));
        assert_eq!(parse("Xy"), None);
        assert_eq!(wanted(parse("A").unwrap()), 0);
        assert_eq!(wanted(parse("Kx").unwrap()), KEYSPACE | EXPIRED);
    }
}
