//! The slow log (SLOWLOG GET|LEN|RESET): commands that took at least
//! `slowlog-log-slower-than` microseconds (from their arrival to their
//! reply: a write's includes its replication), newest first, at most
//! `slowlog-max-len` of them, as Redis keeps them (its entry shape, its
//! limits on arguments, the arguments it hides).

use bytes::Bytes;
use node::num::parse_i64;
use node::Reply;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Redis keeps at most this many arguments of a command ...
const MAX_ARGC: usize = 32;
/// ... and at most this many bytes of each.
const MAX_STRING: usize = 128;

pub struct Entry {
    pub id: u64,
    /// Unix time (seconds) of the command's end.
    pub time: u64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub peer: String,
    pub name: String,
}

pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
    /// `slowlog-log-slower-than` (microseconds; negative: off).
    pub slower_than: AtomicI64,
    /// `slowlog-max-len`.
    pub max_len: AtomicUsize,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            slower_than: AtomicI64::new(10_000),
            max_len: AtomicUsize::new(128),
        }
    }
}

impl SlowLog {
    /// Whether commands are timed at all.
    pub fn enabled(&self) -> bool {
        self.slower_than.load(Ordering::Relaxed) >= 0
    }

    /// Whether a command that took `took` is logged.
    pub fn is_slow(&self, took: Duration) -> bool {
        let threshold = self.slower_than.load(Ordering::Relaxed);
        threshold >= 0 && took.as_micros() as i64 >= threshold
    }

    /// Logs `argv`, which took `took`, if that is slow.
    pub fn observe(&self, argv: &[Bytes], took: Duration, peer: &str, name: &str) {
        if !self.is_slow(took) {
            return;
        }
        let micros = took.as_micros() as u64;
        let time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time,
            micros,
            args: logged_args(argv),
            peer: peer.to_string(),
            name: name.to_string(),
        };
        let max = self.max_len.load(Ordering::Relaxed);
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max);
    }

    /// How many entries it holds (SLOWLOG LEN).
    pub fn entries(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// The newest `count` entries (all if None), as SLOWLOG GET's reply
    /// items: `[id, time, micros, args, peer, name]`.
    pub fn newest<T>(&self, count: Option<usize>, f: impl Fn(&Entry) -> T) -> Vec<T> {
        let entries = self.entries.lock();
        entries.iter().take(count.unwrap_or(usize::MAX)).map(f).collect()
    }
}

/// SLOWLOG GET [count] | LEN | RESET | HELP (the subcommand's arity was
/// checked on arrival).
pub fn command(log: &SlowLog, argv: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    match sub.as_str() {
        "help" => crate::local::help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ]),
        "reset" => {
            log.reset();
            Reply::Ok
        }
        "len" => Reply::Int(log.entries() as i64),
        "get" if argv.len() <= 3 => {
            let count = match argv.get(2).map(|a| parse_i64(a)) {
                None => Some(10),
                Some(Some(-1)) => None,
                Some(Some(n)) if n >= 0 => Some(n as usize),
                Some(_) => return Reply::error("ERR count should be greater than or equal to -1"),
            };
            Reply::Array(log.newest(count, |e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.time as i64),
                    Reply::Int(e.micros as i64),
                    Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::bulk(e.peer.clone()),
                    Reply::bulk(e.name.clone()),
                ])
            }))
        }
        _ => Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&argv[1]).chars().take(128).collect::<String>()
        )),
    }
}

/// What Redis keeps of a command's arguments: secrets hidden, at most 32
/// arguments (the last saying how many more there were), each cut at 128
/// bytes (saying how many more there were).
fn logged_args(argv: &[Bytes]) -> Vec<Bytes> {
    let hidden = redacted(argv);
    let kept = argv.len().min(MAX_ARGC);
    (0..kept)
        .map(|j| {
            if kept != argv.len() && j == kept - 1 {
                return Bytes::from(format!("... ({} more arguments)", argv.len() - kept + 1));
            }
            if hidden.contains(&j) {
                return Bytes::from_static(b"(redacted)");
            }
            let a = &argv[j];
            if a.len() > MAX_STRING {
                let mut s = a[..MAX_STRING].to_vec();
                s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
                Bytes::from(s)
            } else {
                a.clone()
            }
        })
        .collect()
}

/// The positions of arguments Redis hides from the slow log: passwords of
/// AUTH, HELLO ... AUTH, MIGRATE ... AUTH|AUTH2, ACL SETUSER's rules, and
/// the values of CONFIG SET's secret settings.
pub(crate) fn redacted(argv: &[Bytes]) -> Vec<usize> {
    let word = |i: usize| argv.get(i).map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).unwrap_or_default();
    match word(0).as_str() {
        "auth" => (1..argv.len()).collect(),
        "hello" => {
            let mut v = Vec::new();
            let mut i = 2;
            while i < argv.len() {
                if word(i) == "auth" && i + 2 < argv.len() {
                    v.extend([i + 1, i + 2]);
                    i += 2;
                }
                i += 1;
            }
            v
        }
        "migrate" => {
            let mut v = Vec::new();
            for i in 6..argv.len() {
                match word(i).as_str() {
                    "auth" => v.push(i + 1),
                    "auth2" => v.extend([i + 1, i + 2]),
                    "keys" => break,
                    _ => {}
                }
            }
            v.retain(|&i| i < argv.len());
            v
        }
        // Every rule of ACL SETUSER (passwords among them), and its user.
        "acl" if word(1) == "setuser" => (2..argv.len()).collect(),
        "config" if word(1) == "set" => (2..argv.len())
            .step_by(2)
            .filter(|&i| matches!(word(i).as_str(), "requirepass" | "masterauth" | "masteruser"))
            .map(|i| i + 1)
            .filter(|&i| i < argv.len())
            .collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn long_commands_are_cut_as_in_redis() {
        let many: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let kept = logged_args(&many);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[31], Bytes::from("... (9 more arguments)"));
        let long = vec![Bytes::from("SET"), Bytes::from(vec![b'x'; 130])];
        assert!(logged_args(&long)[1].ends_with(b"xx... (2 more bytes)"));
    }

    #[test]
    fn secrets_are_hidden() {
        let r = Bytes::from_static(b"(redacted)");
        assert_eq!(logged_args(&args(&["AUTH", "u", "p"]))[1..], [r.clone(), r.clone()]);
        assert_eq!(logged_args(&args(&["HELLO", "3", "AUTH", "u", "p"]))[3..], [r.clone(), r.clone()]);
        let m = logged_args(&args(&["MIGRATE", "h", "1", "k", "0", "10", "AUTH2", "u", "p", "KEYS", "a"]));
        assert_eq!(m[7..9], [r.clone(), r.clone()]);
        assert_eq!(m[10], Bytes::from("a"));
        let c = logged_args(&args(&["CONFIG", "SET", "maxclients", "10", "requirepass", "s"]));
        assert_eq!(c[3], Bytes::from("10"));
        assert_eq!(c[5], r);
        let a = logged_args(&args(&["ACL", "SETUSER", "u", "on", ">secret"]));
        assert_eq!(a[..2], [Bytes::from("ACL"), Bytes::from("SETUSER")]);
        assert_eq!(a[2..], [r.clone(), r.clone(), r]);
    }
}
