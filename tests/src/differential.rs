//! Differential testing against Redis: the same commands go to redis-server
//! and to our node, and the replies must agree (after normalizing what is
//! legitimately different: key order of KEYS, TTLs counted a few
//! milliseconds apart).

use rand::seq::SliceRandom;
use rand::Rng;
use redis::Value;

pub struct Pair {
    pub redis: redis::Connection,
    /// Our connections: command i goes to `ours[i % len]`, so that a cluster
    /// is checked through all of its nodes in turn (each must answer as the
    /// one store it is part of).
    pub ours: Vec<redis::Connection>,
    /// Every command sent so far (for failure reports).
    pub history: Vec<String>,
    /// Inside MULTI: the commands queued so far.
    queued: Option<Vec<Vec<Vec<u8>>>>,
    /// Sorted sets SORT read in Redis, which converts them to its skiplist
    /// encoding for good (a documented difference: ours keep theirs).
    sorted_zsets: std::collections::HashSet<Vec<u8>>,
}

#[derive(Debug, PartialEq)]
enum Norm {
    Value(Value),
    Error(String),
    /// A TTL-like integer, compared with a tolerance.
    Approx(i64, i64),
    /// EXEC's replies, each normalized as its queued command's.
    Exec(Vec<Norm>),
    /// A page of SSCAN/HSCAN/ZSCAN that did not reach the end: its elements
    /// (as pairs for HSCAN and ZSCAN). Where a Redis hash table ends its
    /// page depends on the hash seed it draws at start, so any reply that
    /// holds these elements agrees.
    ScanPage(Vec<Vec<Value>>),
}

fn render(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| format!("{:?}", String::from_utf8_lossy(a))).collect::<Vec<_>>().join(" ")
}

fn sorted(mut items: Vec<Value>) -> Value {
    items.sort_by_key(|v| format!("{v:?}"));
    Value::Array(items)
}

/// A RESP3 set's members in one order (a set has none).
fn sorted_set(mut items: Vec<Value>) -> Value {
    items.sort_by_key(|v| format!("{v:?}"));
    Value::Set(items)
}

/// A RESP3 map's entries in one order, for maps whose order Redis leaves
/// unspecified.
fn sorted_map(mut pairs: Vec<(Value, Value)>) -> Value {
    pairs.sort_by_key(|p| format!("{p:?}"));
    Value::Map(pairs)
}

/// Sorts a flat array of pairs by pair.
fn sorted_pairs(items: Vec<Value>) -> Value {
    let mut pairs: Vec<Vec<Value>> = items.chunks(2).map(|c| c.to_vec()).collect();
    pairs.sort_by_key(|p| format!("{p:?}"));
    Value::Array(pairs.into_iter().flatten().collect())
}

/// Arrays of arrays sorted, at every depth (FUNCTION LIST's libraries and
/// functions); other arrays as they are.
fn sorted_nested(items: Vec<Value>) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|v| match v {
            Value::Array(inner) => sorted_nested(inner),
            other => other,
        })
        .collect();
    if !items.is_empty() && items.iter().all(|v| matches!(v, Value::Array(_))) {
        sorted(items)
    } else {
        Value::Array(items)
    }
}

fn normalize(name: &str, r: redis::RedisResult<Value>) -> Norm {
    let v = match r {
        Ok(v) => v,
        Err(e) => return Norm::Error(e.to_string()),
    };
    match (name, v) {
        // Orders Redis leaves unspecified (hash tables, listpack insertion order).
        ("keys" | "smembers" | "sinter" | "sunion" | "sdiff" | "hkeys" | "hvals" | "spop", Value::Array(items)) => {
            Norm::Value(sorted(items))
        }
        ("hgetall", Value::Array(items)) => Norm::Value(sorted_pairs(items)),
        // RESP3 replies of the same commands.
        (_, Value::Set(items)) => Norm::Value(sorted_set(items)),
        ("hgetall", Value::Map(pairs)) => Norm::Value(sorted_map(pairs)),
        ("scan" | "sscan" | "hscan" | "zscan", Value::Array(mut parts)) if parts.len() == 2 => {
            let items = match parts.pop() {
                Some(Value::Array(items)) => items,
                other => return Norm::Value(Value::Array(vec![parts.pop().unwrap(), other.unwrap()])),
            };
            let partial = name != "scan" && !matches!(&parts[0], Value::BulkString(c) if c.as_slice() == b"0");
            if partial {
                let width = if name == "sscan" { 1 } else { 2 };
                return Norm::ScanPage(items.chunks(width).map(|c| c.to_vec()).collect());
            }
            let items = if name == "sscan" || name == "scan" { sorted(items) } else { sorted_pairs(items) };
            Norm::Value(Value::Array(vec![parts.pop().unwrap(), items]))
        }
        // Random picks: compared by shape (nil, one member, or how many).
        ("hrandfield" | "srandmember" | "zrandmember", v) => Norm::Value(match v {
            Value::BulkString(_) => Value::SimpleString("one member".into()),
            Value::Array(items) | Value::Set(items) => Value::Int(items.len() as i64),
            other => other,
        }),
        // Payloads differ in encoding (Redis writes listpacks, we the plain
        // types); the restore tests check that each server reads the other's.
        ("dump", Value::BulkString(_)) => Norm::Value(Value::SimpleString("a payload".into())),
        // FUNCTION DUMP (RDB's function opcode first): libraries in hash
        // order, long codes LZF-compressed by Redis. FUNCTION LIST: the
        // libraries, and each one's functions, in hash order.
        ("function", Value::BulkString(b)) if b.first() == Some(&0xF5) => {
            Norm::Value(Value::SimpleString("a payload".into()))
        }
        ("function", Value::Array(items)) => Norm::Value(sorted_nested(items)),
        ("xpending" | "xinfo", v) => Norm::Value(mask_stream_times(v)),
        ("ttl" | "expiretime", Value::Int(n)) if n > 0 => Norm::Approx(n, 1),
        ("pttl" | "pexpiretime", Value::Int(n)) if n > 0 => Norm::Approx(n, 2000),
        (_, v) => Norm::Value(v),
    }
}

/// Stream replies with times in them (idle times, delivery and seen times)
/// differ by how long the commands took; masked. So are XINFO's radix-tree
/// sizes, Redis' internals (entries per node depend on their byte sizes).
fn mask_stream_times(v: Value) -> Value {
    const MASKED: [&str; 4] = ["idle", "seen-time", "radix-tree-keys", "radix-tree-nodes"];
    let is_key = |v: &Value, names: &[&str]| matches!(v, Value::BulkString(b) if names.iter().any(|n| n.as_bytes() == b.as_slice()));
    // A pending entry: [id, consumer, idle or time, count] or, a consumer's
    // own in XINFO STREAM FULL, [id, time, count].
    let mask_pending = |v: Value| match v {
        Value::Array(mut e) if e.len() == 4 && matches!(e[2], Value::Int(_)) => {
            e[2] = Value::Int(0);
            Value::Array(e)
        }
        Value::Array(mut e) if e.len() == 3 && matches!(e[1], Value::Int(_)) => {
            e[1] = Value::Int(0);
            Value::Array(e)
        }
        other => other,
    };
    fn walk(v: Value, f: &dyn Fn(Vec<Value>) -> Vec<Value>) -> Value {
        match v {
            Value::Array(items) => Value::Array(f(items.into_iter().map(|i| walk(i, f)).collect())),
            Value::Map(pairs) => {
                let flat: Vec<Value> = pairs.into_iter().flat_map(|(k, v)| [k, walk(v, f)]).collect();
                let flat = f(flat);
                let mut it = flat.into_iter();
                let mut out = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    out.push((k, v));
                }
                Value::Map(out)
            }
            other => other,
        }
    }
    let fix = |mut items: Vec<Value>| -> Vec<Value> {
        for i in 0..items.len().saturating_sub(1) {
            if is_key(&items[i], &MASKED) && matches!(items[i + 1], Value::Int(_)) {
                items[i + 1] = Value::Int(0);
            }
            if is_key(&items[i], &["pending"]) && matches!(items[i + 1], Value::Array(_)) {
                if let Value::Array(entries) = std::mem::replace(&mut items[i + 1], Value::Nil) {
                    items[i + 1] = Value::Array(entries.into_iter().map(mask_pending).collect());
                }
            }
        }
        // XPENDING's extended form: a list of pending entries.
        if items.iter().all(|e| matches!(e, Value::Array(x) if x.len() == 4 && matches!(x[0], Value::BulkString(_)))) {
            return items.into_iter().map(mask_pending).collect();
        }
        items
    };
    walk(v, &fix)
}

/// Normalizes EXEC's reply: each element as the command queued in its place.
fn normalize_exec(queued: &[String], r: redis::RedisResult<Value>) -> Norm {
    match r {
        Ok(Value::Array(items)) if items.len() == queued.len() => {
            Norm::Exec(
                queued
                    .iter()
                    .zip(items)
                    .map(|(name, v)| match (name.as_str(), v) {
                        // Redis' DBSIZE counts keys that expired but were not
                        // reclaimed yet; outside MULTI the pair makes Redis
                        // reclaim them first, but a key can also expire within
                        // the transaction (SET ... PXAT in the past).
                        ("dbsize", Value::Int(n)) => Norm::Approx(n, 2),
                        // OBJECT REFCOUNT within a transaction counts Redis'
                        // own references to values its commands rewrote for
                        // propagation (INCRBYFLOAT's SET): internals.
                        ("object", Value::Int(_)) => Norm::Value(Value::SimpleString("a refcount".into())),
                        (name, v) => normalize(name, Ok(v)),
                    })
                    .collect(),
            )
        }
        other => normalize("exec", other),
    }
}

fn agree(a: &Norm, b: &Norm) -> bool {
    match (a, b) {
        (Norm::Approx(x, t), Norm::Approx(y, _)) => (x - y).abs() <= *t,
        (Norm::Exec(x), Norm::Exec(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| agree(a, b)),
        (Norm::ScanPage(_), Norm::ScanPage(_)) => true,
        (Norm::ScanPage(page), Norm::Value(Value::Array(parts)))
        | (Norm::Value(Value::Array(parts)), Norm::ScanPage(page)) => {
            let Some(Value::Array(items)) = parts.get(1) else { return false };
            let width = page.first().map_or(1, Vec::len);
            let all: Vec<Vec<Value>> = items.chunks(width).map(|c| c.to_vec()).collect();
            page.iter().all(|e| all.contains(e))
        }
        _ => a == b,
    }
}

impl Pair {
    pub fn new(redis: redis::Connection, ours: redis::Connection) -> Pair {
        Self::spread(redis, vec![ours])
    }

    /// A pair whose commands go to each of `ours` in turn.
    pub fn spread(redis: redis::Connection, ours: Vec<redis::Connection>) -> Pair {
        assert!(!ours.is_empty());
        Pair { redis, ours, history: Vec::new(), queued: None, sorted_zsets: Default::default() }
    }

    fn send(con: &mut redis::Connection, args: &[Vec<u8>]) -> redis::RedisResult<Value> {
        let mut c = redis::cmd(std::str::from_utf8(&args[0]).unwrap_or("?"));
        for a in &args[1..] {
            c.arg(a.as_slice());
        }
        c.query(con)
    }

    /// Redis' DBSIZE still counts a key that expired until Redis reclaims it
    /// (on access or in its expiry cycle, a tenth of a second apart); ours
    /// counts live keys only. A SCAN over all keys makes Redis reclaim every
    /// expired key it passes, without changing what any command can see.
    /// Makes redis-server remove the keys that expired (a SCAN visits
    /// them), as we remove them.
    pub fn reclaim_expired(con: &mut redis::Connection) {
        let mut cursor = 0u64;
        loop {
            // (A user ACLs refuse SCAN reclaims nothing.)
            let Ok((next, _keys)) =
                redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(1000).query::<(u64, Vec<Vec<u8>>)>(con)
            else {
                return;
            };
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }

    /// EXPIRE/PEXPIRE ... GT with the TTL the key already has (PSETEX k
    /// 100000, then PEXPIRE k 100000 GT) is a tie decided by the clock: the
    /// new deadline is later only if a millisecond passed in between, and a
    /// command here goes through raft, so more time passes than in Redis.
    /// Such answers may differ; the TTLs that result must still agree.
    fn gt_tie(&mut self, name: &str, args: &[Vec<u8>], to: usize) -> bool {
        let gt = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"GT"));
        if !matches!(name, "expire" | "pexpire") || !gt || self.queued.is_some() {
            return false;
        }
        let pttl = |con: &mut redis::Connection| -> i64 {
            redis::cmd("PTTL").arg(args[1].as_slice()).query(con).unwrap_or(-3)
        };
        let (a, b) = (pttl(&mut self.redis), pttl(&mut self.ours[to]));
        a >= 0 && b >= 0 && (a - b).abs() <= 2000
    }

    /// The type of the key SORT reads, in Redis; notes the sorted sets
    /// (see `sorted_zsets`).
    fn sort_source_type(&mut self, args: &[Vec<u8>]) -> String {
        let ty: String = redis::cmd("TYPE").arg(args[1].as_slice()).query(&mut self.redis).unwrap_or_default();
        if ty == "zset" {
            self.sorted_zsets.insert(args[1].clone());
        }
        ty
    }

    /// SORT leaves some orders to Redis' hash tables: a set not sorted (BY
    /// without a `*`, no STORE), and ties of ALPHA BY on a set or sorted set.
    /// Such replies are compared as multisets (with LIMIT, by count).
    fn sort_in_hash_order(source: &str, args: &[Vec<u8>], theirs: &Norm, ours: &Norm) -> bool {
        let word = |w: &[u8]| args.iter().any(|a| a.eq_ignore_ascii_case(w));
        let hash_order = source == "set" || (source == "zset" && word(b"ALPHA") && word(b"BY"));
        match (theirs, ours) {
            // With LIMIT, which elements fall in the range is that order's
            // too: only the count is Redis'.
            (Norm::Value(Value::Array(a)), Norm::Value(Value::Array(b))) if hash_order && word(b"LIMIT") => {
                a.len() == b.len()
            }
            (Norm::Value(Value::Array(a)), Norm::Value(Value::Array(b))) if hash_order => {
                sorted(a.clone()) == sorted(b.clone())
            }
            _ => false,
        }
    }

    /// COPY and RENAME carry a sorted set's encoding to their destination.
    fn follow_sorted_zset(&mut self, a: &[Vec<u8>]) {
        let copies = ["copy", "rename", "renamenx"].iter().any(|c| a[0].eq_ignore_ascii_case(c.as_bytes()));
        if copies && a.len() >= 3 && self.sorted_zsets.contains(&a[1]) {
            self.sorted_zsets.insert(a[2].clone());
        }
    }

    /// OBJECT ENCODING of a small sorted set that SORT read: skiplist in Redis.
    fn sorted_zset_encoding(&self, name: &str, args: &[Vec<u8>], theirs: &Norm, ours: &Norm) -> bool {
        let skiplist = Norm::Value(Value::BulkString(b"skiplist".to_vec()));
        let listpack = Norm::Value(Value::BulkString(b"listpack".to_vec()));
        name == "object"
            && args.len() == 3
            && self.sorted_zsets.contains(&args[2])
            && *theirs == skiplist
            && *ours == listpack
    }

    /// Sends `args` to both servers; an error describes the disagreement.
    pub fn check(&mut self, args: &[Vec<u8>]) -> Result<(), String> {
        let name = String::from_utf8_lossy(&args[0]).to_lowercase();
        let to = self.history.len() % self.ours.len();
        self.history.push(if self.ours.len() > 1 { format!("[{}] {}", to + 1, render(args)) } else { render(args) });
        // (Inside MULTI a SCAN would be queued: reclaim before MULTI instead.)
        if (name == "dbsize" || name == "multi") && self.queued.is_none() {
            Self::reclaim_expired(&mut self.redis);
        }
        let mut exec_of = Vec::new();
        let (theirs, ours) = if name == "exec" && self.queued.is_some() {
            exec_of = self.queued.take().unwrap();
            let names: Vec<String> = exec_of.iter().map(|a| String::from_utf8_lossy(&a[0]).to_lowercase()).collect();
            (
                normalize_exec(&names, Self::send(&mut self.redis, args)),
                normalize_exec(&names, Self::send(&mut self.ours[to], args)),
            )
        } else {
            let r = Self::send(&mut self.redis, args);
            let queued_now = matches!((&r, &self.queued), (Ok(_), Some(_))) && name != "watch" && name != "multi";
            match (&name[..], &r, &mut self.queued) {
                ("multi", Ok(_), q @ None) => *q = Some(Vec::new()),
                ("discard", Ok(_), q) => *q = None,
                (_, Ok(_), Some(q)) if queued_now => q.push(args.to_vec()),
                _ => {}
            }
            (normalize(&name, r), normalize(&name, Self::send(&mut self.ours[to], args)))
        };
        let sort_source = match &name[..] {
            "sort" | "sort_ro" if self.queued.is_none() => self.sort_source_type(args),
            _ => String::new(),
        };
        if self.queued.is_none() {
            self.follow_sorted_zset(args);
        }
        for a in &exec_of {
            self.follow_sorted_zset(a);
        }
        // What a transaction's SORTs read (asked now, outside MULTI; this
        // also notes the sorted sets among them). A later command of the
        // same transaction may have changed the key since the SORT read it
        // (SINTERSTORE into it): then its type then is unknown, and the
        // reply may be in a set's hash order.
        let exec_sources: Vec<String> = exec_of
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let sort = a[0].eq_ignore_ascii_case(b"sort") || a[0].eq_ignore_ascii_case(b"sort_ro");
                if !sort {
                    return String::new();
                }
                let ty = self.sort_source_type(a);
                let rewritten_later = exec_of[i + 1..].iter().any(|later| later[1..].contains(&a[1]));
                if rewritten_later && ty != "set" && ty != "zset" {
                    "set".to_string()
                } else {
                    ty
                }
            })
            .collect();
        let exec_items_agree = match (&theirs, &ours) {
            (Norm::Exec(xs), Norm::Exec(ys)) if xs.len() == ys.len() && xs.len() == exec_of.len() => {
                xs.iter().zip(ys).zip(exec_of.iter().zip(&exec_sources)).all(|((x, y), (a, source))| {
                    let n = String::from_utf8_lossy(&a[0]).to_lowercase();
                    agree(x, y) || self.sorted_zset_encoding(&n, a, x, y) || Self::sort_in_hash_order(source, a, x, y)
                })
            }
            _ => false,
        };
        if agree(&theirs, &ours)
            || exec_items_agree
            || self.gt_tie(&name, args, to)
            || Self::sort_in_hash_order(&sort_source, args, &theirs, &ours)
            || self.sorted_zset_encoding(&name, args, &theirs, &ours)
        {
            Ok(())
        } else {
            let recent: Vec<_> = self.history.iter().rev().take(15).rev().cloned().collect();
            Err(format!(
                "replies differ for {}\n  redis: {theirs:?}\n  ours:  {ours:?}\n  recent commands:\n    {}",
                render(args),
                recent.join("\n    ")
            ))
        }
    }

    /// Checks a command given as words.
    pub fn check_words(&mut self, words: &[&str]) -> Result<(), String> {
        let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        self.check(&args)
    }
}

fn pick<'a, R: Rng>(rng: &mut R, v: &[&'a str]) -> &'a str {
    v.choose(rng).unwrap()
}

/// A random command of the string and key families over `keys`. Expiry
/// times are long (or already past), so that the two servers cannot see a
/// key expire at different moments.
pub fn random_command<R: Rng>(rng: &mut R, keys: &[String]) -> Vec<Vec<u8>> {
    let k = |rng: &mut R| keys.choose(rng).unwrap().clone();
    let values =
        ["0", "1", "-1", "10", "123456789", "3.5", "-0.25", "abc", "", "9223372036854775807", "1e3", " 1", "007"];
    let v = |rng: &mut R| pick(rng, &values).to_string();
    let num = |rng: &mut R| rng.gen_range(-5i64..20).to_string();
    let long_ttl = |rng: &mut R| rng.gen_range(1000i64..100_000).to_string();
    let offset =
        |rng: &mut R| pick(rng, &["0", "1", "7", "8", "13", "30", "63", "-1", "x", "4294967296", "#2"]).to_string();
    let bound = |rng: &mut R| rng.gen_range(-20i64..20).to_string();
    let words: Vec<String> = match rng.gen_range(0..51) {
        0 => vec!["SET".into(), k(rng), v(rng)],
        1 => {
            let mut c = vec!["SET".into(), k(rng), v(rng)];
            for opt in ["NX", "XX", "GET", "KEEPTTL"] {
                if rng.gen_bool(0.2) {
                    c.push(opt.into());
                }
            }
            if rng.gen_bool(0.3) {
                c.push(pick(rng, &["EX", "PX", "EXAT", "PXAT"]).into());
                c.push(pick(rng, &["100000", "0", "-5", "abc", "99999999999999"]).into());
            }
            c
        }
        2 | 3 => vec!["GET".into(), k(rng)],
        4 => vec!["DEL".into(), k(rng), k(rng)],
        5 => vec!["INCR".into(), k(rng)],
        6 => vec!["INCRBY".into(), k(rng), pick(rng, &["5", "-3", "abc", "9223372036854775807", "1.5"]).into()],
        7 => vec!["DECR".into(), k(rng)],
        8 => vec!["DECRBY".into(), k(rng), num(rng)],
        9 => vec!["INCRBYFLOAT".into(), k(rng), pick(rng, &["1.1", "2.2", "-0.5", "1e2", "abc", "inf", "0.1"]).into()],
        10 => vec!["APPEND".into(), k(rng), v(rng)],
        11 => vec!["STRLEN".into(), k(rng)],
        12 => vec!["GETRANGE".into(), k(rng), num(rng), num(rng)],
        13 => vec!["SETRANGE".into(), k(rng), rng.gen_range(-1i64..12).to_string(), v(rng)],
        14 => vec!["MSET".into(), k(rng), v(rng), k(rng), v(rng)],
        15 => vec!["MGET".into(), k(rng), k(rng), k(rng)],
        16 => vec!["MSETNX".into(), k(rng), v(rng), k(rng), v(rng)],
        17 => vec!["SETNX".into(), k(rng), v(rng)],
        18 => vec!["GETSET".into(), k(rng), v(rng)],
        19 => vec!["GETDEL".into(), k(rng)],
        20 => {
            let mut c = vec!["GETEX".into(), k(rng)];
            match rng.gen_range(0..4) {
                0 => c.extend(["EX".into(), long_ttl(rng)]),
                1 => c.push("PERSIST".into()),
                2 => c.extend(["PX".into(), "0".into()]),
                _ => {}
            }
            c
        }
        21 => vec!["EXISTS".into(), k(rng), k(rng)],
        22 => vec!["TYPE".into(), k(rng)],
        23 => {
            let mut c =
                vec![pick(rng, &["EXPIRE", "PEXPIRE"]).into(), k(rng), pick(rng, &["100000", "-1", "0", "abc"]).into()];
            if rng.gen_bool(0.3) {
                c.push(pick(rng, &["NX", "XX", "GT", "LT", "FOO"]).into());
            }
            c
        }
        24 => vec![pick(rng, &["EXPIREAT", "PEXPIREAT"]).into(), k(rng), pick(rng, &["1", "99999999999", "-3"]).into()],
        25 => vec!["PERSIST".into(), k(rng)],
        26 => vec![pick(rng, &["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]).into(), k(rng)],
        27 => vec!["RENAME".into(), k(rng), k(rng)],
        28 => vec!["RENAMENX".into(), k(rng), k(rng)],
        29 => {
            let mut c = vec!["COPY".into(), k(rng), k(rng)];
            if rng.gen_bool(0.5) {
                c.push("REPLACE".into());
            }
            c
        }
        30 => vec!["DBSIZE".into()],
        31 => vec!["KEYS".into(), pick(rng, &["*", "*1*", "k?", "{t}*", "[a-z]*", "nomatch"]).into()],
        32 => vec!["OBJECT".into(), pick(rng, &["ENCODING", "ENCODING", "REFCOUNT", "FREQ"]).into(), k(rng)],
        33 => vec!["UNLINK".into(), k(rng)],
        34 => vec!["TOUCH".into(), k(rng), k(rng)],
        35 => vec!["SUBSTR".into(), k(rng), num(rng), num(rng)],
        36 => vec![pick(rng, &["GET", "SET", "INCR", "MSET", "EXPIRE"]).into()], // wrong arity
        37 => vec!["SETEX".into(), k(rng), pick(rng, &["100", "0", "-1", "x"]).into(), v(rng)],
        38 => vec!["PSETEX".into(), k(rng), pick(rng, &["100000", "0"]).into(), v(rng)],
        // Bit commands.
        39 | 40 => vec!["SETBIT".into(), k(rng), offset(rng), pick(rng, &["0", "1", "1", "2", "x"]).into()],
        41 => vec!["GETBIT".into(), k(rng), offset(rng)],
        42 => {
            let mut c = vec!["BITCOUNT".into(), k(rng)];
            match rng.gen_range(0..5) {
                0 => {}
                1 => c.push(bound(rng)),
                2 => c.extend([bound(rng), bound(rng)]),
                _ => c.extend([bound(rng), bound(rng), pick(rng, &["BIT", "BYTE", "bit", "x"]).into()]),
            }
            c
        }
        43 => {
            let mut c = vec!["BITPOS".into(), k(rng), pick(rng, &["0", "1", "1", "2"]).into()];
            match rng.gen_range(0..5) {
                0 => {}
                1 => c.push(bound(rng)),
                2 => c.extend([bound(rng), bound(rng)]),
                _ => c.extend([bound(rng), bound(rng), pick(rng, &["BIT", "BYTE", "x"]).into()]),
            }
            c
        }
        44 => {
            let op = pick(rng, &["AND", "OR", "XOR", "NOT", "NOT", "nand"]);
            let mut c = vec!["BITOP".into(), op.into(), k(rng), k(rng)];
            if rng.gen_bool(0.5) {
                c.push(k(rng));
            }
            c
        }
        45 | 46 => {
            let ro = rng.gen_bool(0.2);
            let mut c = vec![if ro { "BITFIELD_RO" } else { "BITFIELD" }.into(), k(rng)];
            for _ in 0..rng.gen_range(0..4) {
                let ty = pick(rng, &["i8", "u4", "i1", "u1", "i64", "u63", "i5", "u16", "i0", "u64", "x8"]).to_string();
                let at = pick(rng, &["0", "3", "8", "13", "#1", "#3", "-1", "x"]).to_string();
                let val = pick(rng, &["0", "1", "-1", "100", "-100", "255", "9223372036854775807", "x"]).to_string();
                match rng.gen_range(0..8) {
                    0..=2 => c.extend(["GET".into(), ty, at]),
                    3 | 4 => c.extend(["SET".into(), ty, at, val]),
                    5 | 6 => c.extend(["INCRBY".into(), ty, at, val]),
                    _ => c.extend(["OVERFLOW".into(), pick(rng, &["WRAP", "SAT", "FAIL", "x"]).into()]),
                }
            }
            c
        }
        47 => {
            let mut c = vec!["LCS".into(), k(rng), k(rng)];
            for _ in 0..rng.gen_range(0..3) {
                let opt = pick(rng, &["LEN", "IDX", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "2", "x"]);
                c.push(opt.into());
            }
            c
        }
        48 => {
            let mut c = vec!["PFADD".into(), k(rng)];
            c.extend((0..rng.gen_range(0..3)).map(|_| v(rng)));
            c
        }
        49 => {
            let mut c = vec![pick(rng, &["PFCOUNT", "PFCOUNT", "PFMERGE"]).into(), k(rng)];
            if rng.gen_bool(0.3) {
                c.push(k(rng));
            }
            c
        }
        _ => vec!["ECHO".into(), v(rng)],
    };
    words.into_iter().map(|w| w.into_bytes()).collect()
}

/// A random command of the hash, list, set and sorted-set families (and the
/// key commands on them) over keys named after their intended type, with now
/// and then a key of another type (WRONGTYPE).
pub fn random_collection_command<R: Rng>(rng: &mut R, tag: &str) -> Vec<Vec<u8>> {
    let key = |rng: &mut R, ty: &str| -> String {
        let ty = if ty != "zl" && rng.gen_bool(0.05) { pick(rng, &["h", "l", "s", "z", "str"]) } else { ty };
        format!("{tag}{ty}{}", rng.gen_range(0..3))
    };
    let long = "x".repeat(70);
    let members = ["a", "b", "c", "1", "2", "10", "-1", "x y", long.as_str()];
    let m = |rng: &mut R| -> String {
        // Mostly short members; a long one now and then changes encodings.
        if rng.gen_bool(0.03) {
            long.clone()
        } else {
            pick(rng, &members[..8]).to_string()
        }
    };
    let score = |rng: &mut R| pick(rng, &["1", "2", "2.5", "-1", "0", "inf", "-inf", "(1", "3", "abc"]).to_string();
    let int = |rng: &mut R| rng.gen_range(-4i64..6).to_string();
    let bound_s = |rng: &mut R| pick(rng, &["-inf", "+inf", "0", "1", "(1", "2.5", "(3", "x"]).to_string();
    let bound_l = |rng: &mut R| pick(rng, &["-", "+", "[a", "(b", "[c", "[1", "x"]).to_string();
    // LMOVE's and BLMOVE's source, destination and sides.
    let lmove_args = |rng: &mut R| -> Vec<String> {
        let side = |rng: &mut R| pick(rng, &["LEFT", "RIGHT"]).to_string();
        vec![key(rng, "l"), key(rng, "l"), side(rng), side(rng)]
    };
    let words: Vec<String> = match rng.gen_range(0..77) {
        72 => return random_restore(rng, &key),
        73 => {
            let ty = pick(rng, &["h", "l", "s", "z", "str"]);
            vec!["DUMP".into(), key(rng, ty)]
        }
        74 | 75 => random_sort(rng, tag, &key),
        // hashes
        0 | 1 => vec!["HSET".into(), key(rng, "h"), m(rng), m(rng), m(rng), m(rng)],
        2 => vec!["HSETNX".into(), key(rng, "h"), m(rng), m(rng)],
        3 => vec!["HGET".into(), key(rng, "h"), m(rng)],
        4 => vec!["HMGET".into(), key(rng, "h"), m(rng), m(rng)],
        5 => vec!["HGETALL".into(), key(rng, "h")],
        6 => vec!["HDEL".into(), key(rng, "h"), m(rng), m(rng)],
        7 => vec![pick(rng, &["HLEN", "HKEYS", "HVALS"]).into(), key(rng, "h")],
        8 => vec![pick(rng, &["HSTRLEN", "HEXISTS"]).into(), key(rng, "h"), m(rng)],
        9 => vec!["HINCRBY".into(), key(rng, "h"), m(rng), int(rng)],
        10 => vec!["HINCRBYFLOAT".into(), key(rng, "h"), m(rng), pick(rng, &["1.1", "-2", "x"]).into()],
        11 => vec!["HSCAN".into(), key(rng, "h"), "0".into()],
        // lists
        12 | 13 => vec![pick(rng, &["LPUSH", "RPUSH"]).into(), key(rng, "l"), m(rng), m(rng)],
        14 => vec![pick(rng, &["LPUSHX", "RPUSHX"]).into(), key(rng, "l"), m(rng)],
        15 => {
            let mut c = vec![pick(rng, &["LPOP", "RPOP"]).to_string(), key(rng, "l")];
            if rng.gen_bool(0.5) {
                c.push(int(rng));
            }
            c
        }
        16 => vec!["LLEN".into(), key(rng, "l")],
        17 => vec!["LINDEX".into(), key(rng, "l"), int(rng)],
        18 => vec!["LSET".into(), key(rng, "l"), int(rng), m(rng)],
        19 | 20 => vec!["LRANGE".into(), key(rng, "l"), int(rng), int(rng)],
        21 => vec!["LTRIM".into(), key(rng, "l"), int(rng), int(rng)],
        22 => vec!["LREM".into(), key(rng, "l"), int(rng), m(rng)],
        23 => vec!["LINSERT".into(), key(rng, "l"), pick(rng, &["BEFORE", "AFTER", "X"]).into(), m(rng), m(rng)],
        24 => {
            let mut c = vec!["LPOS".into(), key(rng, "l"), m(rng)];
            for opt in ["RANK", "COUNT", "MAXLEN"] {
                if rng.gen_bool(0.3) {
                    c.push(opt.into());
                    c.push(int(rng));
                }
            }
            c
        }
        25 => [vec!["LMOVE".into()], lmove_args(rng)].concat(),
        26 => vec!["RPOPLPUSH".into(), key(rng, "l"), key(rng, "l")],
        27 => vec![
            "LMPOP".into(),
            "2".into(),
            key(rng, "l"),
            key(rng, "l"),
            pick(rng, &["LEFT", "RIGHT"]).into(),
            "COUNT".into(),
            int(rng),
        ],
        // sets
        28 | 29 => vec!["SADD".into(), key(rng, "s"), m(rng), m(rng), m(rng)],
        30 => vec!["SREM".into(), key(rng, "s"), m(rng), m(rng)],
        31 => vec![pick(rng, &["SCARD", "SMEMBERS"]).into(), key(rng, "s")],
        32 => vec!["SISMEMBER".into(), key(rng, "s"), m(rng)],
        33 => vec!["SMISMEMBER".into(), key(rng, "s"), m(rng), m(rng)],
        34 => vec!["SPOP".into(), key(rng, "s"), "100".into()],
        35 => vec!["SMOVE".into(), key(rng, "s"), key(rng, "s"), m(rng)],
        36 => vec![pick(rng, &["SINTER", "SUNION", "SDIFF"]).into(), key(rng, "s"), key(rng, "s")],
        37 => vec![
            pick(rng, &["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]).into(),
            key(rng, "s"),
            key(rng, "s"),
            key(rng, "s"),
        ],
        38 => vec!["SINTERCARD".into(), "2".into(), key(rng, "s"), key(rng, "s"), "LIMIT".into(), int(rng)],
        39 => vec!["SSCAN".into(), key(rng, "s"), "0".into()],
        // sorted sets
        40 | 41 => {
            let mut c = vec!["ZADD".to_string(), key(rng, "z")];
            for opt in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                if rng.gen_bool(0.1) {
                    c.push(opt.into());
                }
            }
            c.extend([score(rng), m(rng)]);
            if rng.gen_bool(0.5) {
                c.extend([score(rng), m(rng)]);
            }
            c
        }
        42 => vec!["ZINCRBY".into(), key(rng, "z"), score(rng), m(rng)],
        43 => vec!["ZREM".into(), key(rng, "z"), m(rng), m(rng)],
        44 => vec!["ZCARD".into(), key(rng, "z")],
        45 => vec!["ZSCORE".into(), key(rng, "z"), m(rng)],
        46 => vec!["ZMSCORE".into(), key(rng, "z"), m(rng), m(rng)],
        47 => vec![pick(rng, &["ZRANK", "ZREVRANK"]).into(), key(rng, "z"), m(rng)],
        48 => vec!["ZCOUNT".into(), key(rng, "z"), bound_s(rng), bound_s(rng)],
        // Lex ranges are only specified when all scores are equal: the
        // "zl" keys only ever get score 0.
        49 => vec!["ZLEXCOUNT".into(), key(rng, "zl"), bound_l(rng), bound_l(rng)],
        50 | 51 => {
            let lex = rng.gen_bool(0.33);
            let mut c = vec!["ZRANGE".to_string(), key(rng, if lex { "zl" } else { "z" })];
            if lex {
                c.extend([bound_l(rng), bound_l(rng), "BYLEX".into()]);
            } else if rng.gen_bool(0.5) {
                c.extend([int(rng), int(rng)]);
            } else {
                c.extend([bound_s(rng), bound_s(rng), "BYSCORE".into()]);
            }
            if rng.gen_bool(0.3) {
                c.push("REV".into());
            }
            if rng.gen_bool(0.3) {
                c.extend(["LIMIT".into(), int(rng), int(rng)]);
            }
            if rng.gen_bool(0.4) {
                c.push("WITHSCORES".into());
            }
            c
        }
        52 => vec!["ZREVRANGE".into(), key(rng, "z"), int(rng), int(rng), "WITHSCORES".into()],
        53 => vec![
            pick(rng, &["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]).into(),
            key(rng, "z"),
            bound_s(rng),
            bound_s(rng),
            "WITHSCORES".into(),
        ],
        54 => vec![
            pick(rng, &["ZRANGEBYLEX", "ZREVRANGEBYLEX"]).into(),
            key(rng, "zl"),
            bound_l(rng),
            bound_l(rng),
            "LIMIT".into(),
            "0".into(),
            int(rng),
        ],
        55 => vec!["ZREMRANGEBYRANK".into(), key(rng, "z"), int(rng), int(rng)],
        56 => vec!["ZREMRANGEBYSCORE".into(), key(rng, "z"), bound_s(rng), bound_s(rng)],
        57 => vec!["ZREMRANGEBYLEX".into(), key(rng, "zl"), bound_l(rng), bound_l(rng)],
        58 => {
            let mut c = vec![pick(rng, &["ZPOPMIN", "ZPOPMAX"]).to_string(), key(rng, "z")];
            if rng.gen_bool(0.5) {
                c.push(int(rng));
            }
            c
        }
        59 => vec![
            "ZMPOP".into(),
            "2".into(),
            key(rng, "z"),
            key(rng, "z"),
            pick(rng, &["MIN", "MAX"]).into(),
            "COUNT".into(),
            "2".into(),
        ],
        60 => {
            let mut c =
                vec![pick(rng, &["ZUNION", "ZINTER", "ZDIFF"]).to_string(), "2".into(), key(rng, "z"), key(rng, "s")];
            if c[0] != "ZDIFF" && rng.gen_bool(0.4) {
                c.extend(["WEIGHTS".into(), score(rng), "2".into()]);
            }
            if c[0] != "ZDIFF" && rng.gen_bool(0.4) {
                c.extend(["AGGREGATE".into(), pick(rng, &["SUM", "MIN", "MAX"]).into()]);
            }
            c.push("WITHSCORES".into());
            c
        }
        61 => vec![
            pick(rng, &["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]).into(),
            key(rng, "z"),
            "2".into(),
            key(rng, "z"),
            key(rng, "z"),
        ],
        62 => vec!["ZINTERCARD".into(), "2".into(), key(rng, "z"), key(rng, "z")],
        63 => vec!["ZRANGESTORE".into(), key(rng, "z"), key(rng, "z"), "0".into(), "-1".into()],
        64 => vec!["ZSCAN".into(), key(rng, "z"), "0".into()],
        // key commands on collections
        65 => {
            let ty = pick(rng, &["h", "l", "s", "z"]);
            vec![pick(rng, &["TYPE", "EXISTS"]).into(), key(rng, ty)]
        }
        66 => {
            let ty = pick(rng, &["h", "l", "s", "z"]);
            vec!["OBJECT".into(), "ENCODING".into(), key(rng, ty)]
        }
        67 => {
            let ty = pick(rng, &["h", "l", "s", "z"]);
            vec!["DEL".into(), key(rng, ty)]
        }
        68 => {
            let ty = pick(rng, &["h", "l", "s", "z"]);
            vec![pick(rng, &["RENAME", "COPY"]).into(), key(rng, ty), key(rng, ty)]
        }
        69 => vec!["ZADD".into(), key(rng, "zl"), "0".into(), m(rng), "0".into(), m(rng)],
        // Random picks: which members is random, how many (and in what
        // shape) is not; the replies are compared by shape.
        70 => {
            let (cmd, ty, with) =
                *[("HRANDFIELD", "h", "WITHVALUES"), ("SRANDMEMBER", "s", ""), ("ZRANDMEMBER", "z", "WITHSCORES")]
                    .choose(rng)
                    .unwrap();
            let mut c = vec![cmd.to_string(), key(rng, ty)];
            if rng.gen_bool(0.7) {
                c.push(pick(rng, &["0", "1", "2", "5", "-1", "-3", "-7", "x"]).into());
                if !with.is_empty() && rng.gen_bool(0.5) {
                    c.push(with.into());
                }
            }
            c
        }
        // Blocking pops with a short timeout: served at once, or nil after
        // 10 ms, in both servers alike (inside MULTI they do not block).
        71 => match rng.gen_range(0..5) {
            0 => vec![pick(rng, &["BLPOP", "BRPOP"]).into(), key(rng, "l"), key(rng, "l"), "0.01".into()],
            1 => [vec!["BLMOVE".into()], lmove_args(rng), vec!["0.01".into()]].concat(),
            2 => vec![pick(rng, &["BZPOPMIN", "BZPOPMAX"]).into(), key(rng, "z"), "0.01".into()],
            3 => vec![
                "BLMPOP".into(),
                "0.01".into(),
                "2".into(),
                key(rng, "l"),
                key(rng, "l"),
                pick(rng, &["LEFT", "RIGHT"]).into(),
                "COUNT".into(),
                "2".into(),
            ],
            _ => vec!["BZMPOP".into(), "0.01".into(), "1".into(), key(rng, "z"), pick(rng, &["MIN", "MAX"]).into()],
        },
        _ => vec!["SET".into(), key(rng, "str"), m(rng)],
    };
    words.into_iter().map(|w| w.into_bytes()).collect()
}

/// SORT / SORT_RO over a list, set or zset, with options right and wrong.
/// Patterns (BY with a `*`, GET) only with one partition (`tag` empty):
/// like Redis Cluster, a node of several partitions refuses them. ALPHA
/// never comes with a BY pattern: their ties keep the order the elements
/// were read in, which for a set or sorted set is Redis' hash table order
/// (and a key's type is not known here: the generator switches types).
fn random_sort<R: Rng>(rng: &mut R, tag: &str, key: &dyn Fn(&mut R, &str) -> String) -> Vec<String> {
    let ty = pick(rng, &["l", "l", "s", "z"]);
    let ro = rng.gen_bool(0.2);
    let mut c = vec![if ro { "SORT_RO" } else { "SORT" }.into(), key(rng, ty)];
    let patterns = tag.is_empty();
    let (mut alpha, mut by_pattern) = (false, false);
    for _ in 0..rng.gen_range(0..4) {
        match rng.gen_range(0..9) {
            0 => c.push(pick(rng, &["ASC", "DESC"]).into()),
            1 | 2 if !by_pattern => {
                c.push("ALPHA".into());
                alpha = true;
            }
            3 => c.extend(["LIMIT".into(), rng.gen_range(-1..4).to_string(), rng.gen_range(-1..4).to_string()]),
            4 if !ro => c.extend(["STORE".into(), key(rng, "l")]),
            5 => c.extend(["BY".into(), "nosort".into()]),
            6 if patterns && !alpha => {
                c.extend(["BY".into(), pick(rng, &["str*", "h*->a", "str*->a"]).into()]);
                by_pattern = true;
            }
            7 if patterns => c.extend(["GET".into(), pick(rng, &["#", "str*", "h*->b", "nostar"]).into()]),
            8 => c.push(pick(rng, &["LIMIT", "x"]).into()),
            _ => {}
        }
    }
    c
}

/// DUMP payloads redis-server 7.0 wrote, with the kind of key each belongs
/// to: a string as an integer, a string compressed by LZF, a quicklist of
/// one listpack, an intset, a plain set, a listpack hash and zset.
pub const REDIS_7_PAYLOADS: &[(&str, &[u8])] = &[
    ("str", b"\x00\xc0\x0c\x0a\x00\x3c\x2a\xf8\x51\x5c\x04\xbc\xd5"),
    ("str", b"\x00\xc3\x09\x28\x01\x78\x78\xe0\x1b\x00\x01\x78\x78\x0a\x00\x7a\x1d\x6c\xce\xa5\x40\x13\x33"),
    ("l", b"\x12\x01\x02\x0f\x0f\x00\x00\x00\x03\x00\x81\x61\x02\x81\x62\x02\x01\x01\xff\x0a\x00\xe0\x1b\xab\x4a\x47\xce\x59\x22"),
    ("s", b"\x0b\x0e\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00\x0a\x00\xa5\x02\x5c\xe2\x6d\x6e\x4d\x1b"),
    ("s", b"\x02\x02\x01\x61\x01\x62\x0a\x00\xfe\x64\x21\x25\xeb\x03\x3d\x0d"),
    ("h", b"\x10\x12\x12\x00\x00\x00\x04\x00\x81\x66\x02\x81\x76\x02\x81\x67\x02\x01\x01\xff\x0a\x00\x23\xc1\xa5\xe3\x5d\xfa\xe8\x1c"),
    ("z", b"\x11\x14\x14\x00\x00\x00\x04\x00\x81\x61\x02\x01\x01\x81\x62\x02\x83\x32\x2e\x35\x04\xff\x0a\x00\xd4\x4c\x6e\xa4\xf6\x44\xd9\xd7"),
];

/// RESTORE of a Redis payload (now and then damaged, or not one at all)
/// with a TTL and options drawn from right and wrong ones: BUSYKEY, the
/// order of the checks, TTLs, ABSTTL in the past.
fn random_restore<R: Rng>(rng: &mut R, key: &dyn Fn(&mut R, &str) -> String) -> Vec<Vec<u8>> {
    let (ty, payload) = *REDIS_7_PAYLOADS.choose(rng).unwrap();
    let mut payload = payload.to_vec();
    match rng.gen_range(0..12) {
        0 => {
            let i = rng.gen_range(0..payload.len());
            payload[i] ^= 1 << rng.gen_range(0..8);
        }
        1 => payload = b"not a payload".to_vec(),
        _ => {}
    }
    // No short relative TTL: the key would expire at different moments in
    // the two servers. ABSTTL with 100000 is long past.
    let ttl = pick(rng, &["0", "0", "0", "100000", "-1", "x"]);
    let mut c = vec![b"RESTORE".to_vec(), key(rng, ty).into_bytes(), ttl.into(), payload];
    for _ in 0..rng.gen_range(0..3) {
        let opt = pick(rng, &["REPLACE", "REPLACE", "ABSTTL", "IDLETIME", "5", "FREQ", "300", "junk"]);
        c.push(opt.into());
    }
    c
}

/// A DUMP payload around an RDB value: the version, then CRC-64 of it all.
pub fn sealed_payload(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// RDB's length encoding.
fn rdb_len(out: &mut Vec<u8>, n: usize) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn rdb_string(out: &mut Vec<u8>, s: &[u8]) {
    rdb_len(out, s.len());
    out.extend_from_slice(s);
}

/// A ziplist (Redis 2.6 to 6.2) of `entries`, integers in the smallest of
/// its integer encodings, as Redis wrote them.
pub fn ziplist(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    let (mut prev, mut tail) = (0usize, 10usize);
    for e in entries {
        let start = body.len();
        tail = 10 + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(254);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        let int =
            std::str::from_utf8(e).ok().and_then(|s| s.parse::<i64>().ok()).filter(|v| v.to_string().as_bytes() == e);
        match int {
            Some(v @ 0..=12) => body.push(0xf1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => body.extend_from_slice(&[0xfe, v as u8]),
            Some(v) if i16::try_from(v).is_ok() => {
                body.push(0xc0);
                body.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-(1 << 23)..1 << 23).contains(&v) => {
                body.push(0xf0);
                body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                body.push(0xd0);
                body.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                body.push(0xe0);
                body.extend_from_slice(&v.to_le_bytes());
            }
            None if e.len() < 64 => body.push(e.len() as u8),
            None if e.len() < 16384 => body.extend_from_slice(&[0x40 | (e.len() >> 8) as u8, e.len() as u8]),
            None => {
                body.push(0x80);
                body.extend_from_slice(&(e.len() as u32).to_be_bytes());
            }
        }
        if int.is_none() {
            body.extend_from_slice(e);
        }
        prev = body.len() - start;
    }
    body.push(0xff);
    let mut z = Vec::with_capacity(10 + body.len());
    z.extend_from_slice(&((10 + body.len()) as u32).to_le_bytes());
    z.extend_from_slice(&(tail as u32).to_le_bytes());
    z.extend_from_slice(&(entries.len().min(65535) as u16).to_le_bytes());
    z.extend_from_slice(&body);
    z
}

/// Payloads in the encodings of Redis before 7.0 (RDB 9), which Redis 7.0
/// still restores: a list as one ziplist and as a quicklist of ziplists,
/// hashes and zsets as ziplists, a zset with scores as text. Each is
/// (kind of key, payload).
pub fn old_payloads<R: Rng>(rng: &mut R) -> Vec<(&'static str, Vec<u8>)> {
    let word = |rng: &mut R| -> Vec<u8> {
        match rng.gen_range(0..6) {
            0 => rng.gen_range(-20i64..20).to_string().into_bytes(),
            1 => rng.gen::<i32>().to_string().into_bytes(),
            2 => rng.gen::<i64>().to_string().into_bytes(),
            3 => (0..rng.gen_range(0..70)).map(|_| rng.gen_range(b'a'..=b'z')).collect(),
            4 => "y".repeat(rng.gen_range(250..300)).into_bytes(),
            _ => vec![pick(rng, &["a", "b", "c", "x y"]).as_bytes()[0]],
        }
    };
    let n = rng.gen_range(1..12);
    let items: Vec<Vec<u8>> = (0..n).map(|_| word(rng)).collect();
    let mut distinct = items.clone();
    distinct.sort();
    distinct.dedup();
    // Short members only in hashes and zsets: Redis before 7.0 kept longer
    // ones in its large encodings, and 7.0 would keep a ziplist's as they are.
    let short: Vec<Vec<u8>> = distinct.iter().filter(|m| m.len() <= 64).cloned().collect();
    let short = if short.is_empty() { vec![b"m".to_vec()] } else { short };
    let scores: Vec<f64> = short.iter().map(|_| rng.gen_range(-5..5) as f64 / 2.0).collect();
    let mut by_score: Vec<(f64, Vec<u8>)> = scores.iter().copied().zip(short.iter().cloned()).collect();
    by_score.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1)));

    let mut out = Vec::new();
    let mut body = vec![10u8];
    rdb_string(&mut body, &ziplist(&items));
    out.push(("l", body));

    let mut body = vec![14u8];
    let nodes: Vec<&[Vec<u8>]> = items.chunks(3).collect();
    rdb_len(&mut body, nodes.len());
    for node in nodes {
        rdb_string(&mut body, &ziplist(node));
    }
    out.push(("l", body));

    let mut body = vec![13u8];
    let flat: Vec<Vec<u8>> = short.iter().flat_map(|f| [f.clone(), short[0].clone()]).collect();
    rdb_string(&mut body, &ziplist(&flat));
    out.push(("h", body));

    let mut body = vec![12u8];
    let flat: Vec<Vec<u8>> = by_score.iter().flat_map(|(s, m)| [m.clone(), s.to_string().into_bytes()]).collect();
    rdb_string(&mut body, &ziplist(&flat));
    out.push(("z", body));

    let mut body = vec![3u8];
    rdb_len(&mut body, by_score.len());
    for (s, m) in &by_score {
        rdb_string(&mut body, m);
        let text = s.to_string();
        body.push(text.len() as u8);
        body.extend_from_slice(text.as_bytes());
    }
    out.push(("z", body));

    out.into_iter().map(|(ty, body)| (ty, sealed_payload(&body, 9))).collect()
}

/// A number as clients write them, right or wrong: signs, exponents,
/// hexadecimal, overflows, NaN and infinity spellings, spaces.
fn numeric_arg<R: Rng>(rng: &mut R) -> String {
    const ATOMS: &[&str] = &[
        "0",
        "1",
        "-1",
        "+1",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "1e3",
        "1E3",
        "1.5",
        "-1.5",
        ".5",
        "5.",
        "-0",
        "00",
        "01",
        "1e309",
        "-1e309",
        "1e-400",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "+inf",
        "Infinity",
        " 1",
        "1 ",
        "0x10",
        "1e-320",
        "4.9e-324",
        "1.7976931348623157e308",
        "3.0000000000000001",
        "17.1",
        "0.1",
        "1e",
        "e1",
        "-",
        "",
        "1.0",
        "100",
        "-100",
        "2147483648",
        "4294967296",
        "18446744073709551615",
        "1e19",
        "-1e19",
        "9007199254740993",
        "5e-1",
    ];
    if rng.gen_bool(0.8) {
        pick(rng, ATOMS).to_string()
    } else {
        (rng.gen_range(-1000i64..1000) as f64 / *[1.0, 10.0, 3.0, 7.0].choose(rng).unwrap()).to_string()
    }
}

/// A command whose numeric arguments come from [`numeric_arg`]: scores,
/// bounds, weights, increments, counts, indexes, offsets and TTLs. Keys
/// whose TTL a command sets are never read back (`e`, `x`): replies must not
/// depend on how many milliseconds passed.
pub fn random_numeric_command<R: Rng>(rng: &mut R) -> Vec<Vec<u8>> {
    let n = |rng: &mut R| numeric_arg(rng);
    let w = |s: &str| s.to_string();
    let words: Vec<String> = match rng.gen_range(0..36) {
        0 => vec![w("SET"), w("s"), n(rng)],
        1 => vec![w("INCRBY"), w("s"), n(rng)],
        2 => vec![w("INCRBYFLOAT"), w("s"), n(rng)],
        3 => vec![w("DECRBY"), w("s"), n(rng)],
        4 => vec![w("HINCRBY"), w("h"), w("f"), n(rng)],
        5 => vec![w("HINCRBYFLOAT"), w("h"), w("f"), n(rng)],
        6 => vec![w("ZADD"), w("z"), n(rng), w("m")],
        7 => vec![w("ZINCRBY"), w("z"), n(rng), w("m")],
        8 => vec![w("ZRANGEBYSCORE"), w("z"), n(rng), n(rng), w("WITHSCORES")],
        9 => vec![w("ZCOUNT"), w("z"), n(rng), n(rng)],
        10 => vec![w("GETRANGE"), w("s"), n(rng), n(rng)],
        11 => vec![w("LRANGE"), w("l"), n(rng), n(rng)],
        12 => vec![w("RPUSH"), w("l"), n(rng)],
        13 => vec![pick(rng, &["EXPIRE", "PEXPIRE"]).into(), w("x"), n(rng)],
        14 => vec![w("SETRANGE"), w("s2"), n(rng), w("a")],
        15 => vec![w("GET"), w("s")],
        16 => vec![w("HGET"), w("h"), w("f")],
        17 => vec![w("ZSCORE"), w("z"), w("m")],
        18 => vec![w("ZUNIONSTORE"), w("zd"), w("2"), w("z"), w("z"), w("WEIGHTS"), n(rng), n(rng)],
        19 => vec![w("ZRANGE"), w("z"), n(rng), n(rng), w("BYSCORE"), w("LIMIT"), n(rng), n(rng)],
        20 => vec![w("ZREMRANGEBYSCORE"), w("z"), n(rng), n(rng)],
        21 => {
            let mut c = vec![w("LPOS"), w("l"), n(rng), w("RANK"), n(rng), w("COUNT"), n(rng), w("MAXLEN"), n(rng)];
            // Redis 7.0 negates RANK -9223372036854775808 and overflows; we
            // refuse it, as Redis 7.2 does.
            if c[4] == "-9223372036854775808" {
                c[4] = w("1");
            }
            c
        }
        22 => vec![w("LINDEX"), w("l"), n(rng)],
        23 => vec![w("LSET"), w("l"), n(rng), w("x")],
        24 => vec![w("SET"), w("e"), w("v"), pick(rng, &["EX", "PX"]).into(), n(rng)],
        25 => vec![pick(rng, &["SETEX", "PSETEX"]).into(), w("e"), n(rng), w("v")],
        26 => vec![w("GETEX"), w("x"), pick(rng, &["EX", "PX", "EXAT", "PXAT"]).into(), n(rng)],
        27 => vec![pick(rng, &["EXPIREAT", "PEXPIREAT"]).into(), w("x"), n(rng)],
        28 => vec![w("ZADD"), w("z"), w("GT"), w("CH"), n(rng), w("m"), n(rng), w("n")],
        29 => vec![w("ZADD"), w("z"), w("INCR"), n(rng), w("m")],
        30 => vec![w("LTRIM"), w("l"), n(rng), n(rng)],
        31 => vec![w("ZRANGE"), w("z"), n(rng), n(rng), w("WITHSCORES")],
        32 => vec![pick(rng, &["LPOP", "RPOP"]).into(), w("l"), n(rng)],
        33 => vec![pick(rng, &["ZPOPMIN", "ZPOPMAX"]).into(), w("z"), n(rng)],
        34 => vec![pick(rng, &["SRANDMEMBER", "SPOP"]).into(), w("nosuchset"), n(rng)],
        _ => vec![w("FLUSHALL")],
    };
    words.into_iter().map(|w| w.into_bytes()).collect()
}

/// A short string over characters that mean something in glob patterns.
pub fn random_glob_word<R: Rng>(rng: &mut R, max_len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ab\\[]^-*?!xZ";
    (0..rng.gen_range(0..=max_len)).map(|_| *ALPHABET.choose(rng).unwrap()).collect()
}

/// A sparse HyperLogLog body (opcodes after the header) drawn at random:
/// runs that cover exactly the 16384 registers, or, when `corrupt`, one run
/// too many, too few, or a cut-off last opcode.
fn random_sparse_body<R: Rng>(rng: &mut R, corrupt: bool) -> Vec<u8> {
    let mut body = Vec::new();
    let mut left = 16384usize;
    while left > 0 {
        match rng.gen_range(0..10) {
            // Mostly long zero runs, so that the body stays small.
            0..=3 => {
                let longest = if rng.gen_bool(0.3) { 16384 } else { 700 };
                let n = rng.gen_range(1..=left.min(longest));
                body.extend([0x40 | ((n - 1) >> 8) as u8, ((n - 1) & 0xff) as u8]);
                left -= n;
            }
            4 | 5 => {
                let n = rng.gen_range(1..=left.min(64));
                body.push((n - 1) as u8);
                left -= n;
            }
            _ => {
                let n = rng.gen_range(1..=left.min(4));
                let v = if rng.gen_bool(0.8) { rng.gen_range(1..=4u8) } else { rng.gen_range(1..=32u8) };
                body.push(0x80 | (v - 1) << 2 | (n - 1) as u8);
                left -= n;
            }
        }
    }
    if corrupt {
        match rng.gen_range(0..3) {
            0 => body.push(rng.gen_range(0..0x40)),
            1 => {
                body.pop();
            }
            _ => body.push(0x40 | rng.gen_range(0..0x40)),
        }
    }
    body
}

/// A string for a HyperLogLog key: a sketch of either encoding, with a
/// cached count or a stale one, or something that only looks like one.
fn random_sketch<R: Rng>(rng: &mut R) -> Vec<u8> {
    let mut v = b"HYLL".to_vec();
    let kind = rng.gen_range(0..10);
    v.push(match kind {
        0..=5 => 1,
        6 | 7 => 0,
        _ => rng.gen_range(2..=255),
    });
    v.extend([0, 0, 0]);
    let card: u64 = if rng.gen_bool(0.5) { rng.gen_range(0..5000) } else { 1 << 63 };
    v.extend(card.to_le_bytes());
    match kind {
        0..=4 => v.extend(random_sparse_body(rng, false)),
        5 => v.extend(random_sparse_body(rng, true)),
        6 => {
            // Dense registers, mostly small (a register above 51 counts nowhere).
            let small = rng.gen_bool(0.7);
            v.extend((0..12288).map(|_| if small { rng.gen_range(0..=0x41u8) & 0x41 } else { rng.gen() }));
        }
        7 => v.extend(vec![0u8; rng.gen_range(0..12300)]), // dense of the wrong length
        _ => v.extend(random_sparse_body(rng, false)),
    }
    if rng.gen_bool(0.05) {
        v[rng.gen_range(0..4)] ^= 0x20; // not the magic
    }
    v
}

/// A random HyperLogLog command (PFADD, PFCOUNT, PFMERGE) or a string
/// command on a sketch, over keys tagged `tag`: GET compares the sketches
/// byte for byte, so every split, merge and promotion of the sparse form
/// must be Redis' own.
pub fn random_hll_command<R: Rng>(rng: &mut R, tag: &str) -> Vec<Vec<u8>> {
    let key = |rng: &mut R| -> Vec<u8> {
        match rng.gen_range(0..40) {
            0 => format!("{tag}str").into_bytes(),
            1 => format!("{tag}list").into_bytes(),
            _ => format!("{tag}hll{}", rng.gen_range(0..4)).into_bytes(),
        }
    };
    let element = |rng: &mut R, wide: bool| -> Vec<u8> {
        if wide {
            format!("e{}", rng.gen_range(0..200_000)).into_bytes()
        } else {
            pick(rng, &["a", "b", "c", "", "1", "2", "10", "foo", "bar", "x y"]).as_bytes().to_vec()
        }
    };
    let w = |s: &str| s.as_bytes().to_vec();
    match rng.gen_range(0..40) {
        0..=9 => {
            let mut c = vec![w("PFADD"), key(rng)];
            let (n, wide) = match rng.gen_range(0..10) {
                0..=6 => (rng.gen_range(0..5), rng.gen_bool(0.5)),
                _ => (rng.gen_range(50..500), true),
            };
            c.extend((0..n).map(|_| element(rng, wide)));
            c
        }
        10..=15 => vec![w("PFCOUNT"), key(rng)],
        16 | 17 => {
            let mut c = vec![w("PFCOUNT")];
            c.extend((0..rng.gen_range(2..4)).map(|_| key(rng)));
            c
        }
        18..=21 => {
            let mut c = vec![w("PFMERGE"), key(rng)];
            c.extend((0..rng.gen_range(0..4)).map(|_| key(rng)));
            c
        }
        22..=25 => vec![w("GET"), key(rng)],
        26..=28 => vec![w("SET"), key(rng), random_sketch(rng)],
        29 => vec![w("APPEND"), key(rng), vec![rng.gen()]],
        30 => {
            let at = pick(rng, &["4", "8", "15", "16", "17", "40"]);
            vec![w("SETRANGE"), key(rng), w(at), vec![rng.gen()]]
        }
        31 => vec![w("OBJECT"), w("ENCODING"), key(rng)],
        32 => vec![w("DEL"), key(rng)],
        33 => vec![w("EXPIRE"), key(rng), w("100000")],
        34 => vec![w("SET"), key(rng), w(pick(rng, &["foo", "12345", "HYLL", ""]))],
        35 => vec![w("LPUSH"), format!("{tag}list").into_bytes(), w("x")],
        36 => vec![w("STRLEN"), key(rng)],
        37 => vec![w("COPY"), key(rng), key(rng), w("REPLACE")],
        38 => vec![w(pick(rng, &["PFADD", "PFCOUNT", "PFMERGE"]))], // wrong arity
        _ => vec![w("TYPE"), key(rng)],
    }
}

/// A stream ID argument: mostly small IDs (so that commands meet each
/// other's entries), and the special and malformed forms.
fn random_stream_id<R: Rng>(rng: &mut R, clock: u64) -> String {
    let ms = |rng: &mut R| rng.gen_range(0..clock + 2);
    match rng.gen_range(0..30) {
        0 => "-".into(),
        1 => "+".into(),
        2 => format!("({}-{}", ms(rng), rng.gen_range(0..3)),
        3 => format!("({}", ms(rng)),
        4 => pick(rng, &["bad", "1-x", "-1", "", "1-", "(", "(-", "(+", " 3-1", "+2", "2-+1"]).into(),
        5 => pick(rng, &["18446744073709551615-18446744073709551615", "18446744073709551615", "0-0", "0"]).into(),
        6..=9 => format!("{}", ms(rng)),
        _ => format!("{}-{}", ms(rng), rng.gen_range(0..3)),
    }
}

/// Field-value pairs for XADD (sometimes an odd count: wrong arity).
fn random_stream_fields<R: Rng>(rng: &mut R) -> Vec<String> {
    let n = match rng.gen_range(0..40) {
        0 => 1,
        1 => 0,
        _ => 2 * rng.gen_range(1..4),
    };
    (0..n)
        .map(
            |i| if i % 2 == 0 { pick(rng, &["f", "g", "h", "1"]).into() } else { format!("{}", rng.gen_range(0..100)) },
        )
        .collect()
}

/// A random stream command over keys tagged `tag` (three streams, a string
/// and a list), with consumer groups. No `*` IDs (Redis' clock and ours
/// differ) and no `~` trimming (Redis trims whole radix-tree nodes, a
/// documented difference); times are either 0 or an hour or more, so that
/// idle-time decisions do not depend on how fast the commands run.
pub fn random_stream_command<R: Rng>(rng: &mut R, tag: &str, clock: &mut u64) -> Vec<Vec<u8>> {
    // XADD mostly goes forward in time, as clients' clocks do.
    if rng.gen_bool(0.3) {
        *clock += 1;
    }
    let now = *clock;
    let key = |rng: &mut R| -> String {
        match rng.gen_range(0..50) {
            0 => format!("{tag}str"),
            1 => format!("{tag}list"),
            2 => format!("{tag}nostream"),
            _ => format!("{tag}s{}", rng.gen_range(0..3)),
        }
    };
    let group = |rng: &mut R| -> String { pick(rng, &["g1", "g1", "g1", "g2", "g3"]).into() };
    let consumer = |rng: &mut R| -> String { pick(rng, &["alice", "bob", "carol"]).into() };
    let idle = |rng: &mut R| -> String { pick(rng, &["0", "0", "3600000", "-5", "x"]).into() };
    let words: Vec<String> = match rng.gen_range(0..60) {
        0..=13 => {
            let mut c = vec!["XADD".to_string(), key(rng)];
            if rng.gen_bool(0.1) {
                c.push("NOMKSTREAM".into());
            }
            if rng.gen_bool(0.2) {
                c.extend(random_trim(rng, now));
            }
            c.push(match rng.gen_range(0..10) {
                0..=4 => format!("{now}-*"),
                5 => random_stream_id(rng, now),
                _ => format!("{}-{}", now.saturating_sub(rng.gen_range(0..2)), rng.gen_range(0..4)),
            });
            c.extend(random_stream_fields(rng));
            c
        }
        14 | 15 => {
            let mut c = vec!["XTRIM".to_string(), key(rng)];
            c.extend(random_trim(rng, now));
            c
        }
        16 | 17 => {
            let mut c = vec!["XDEL".to_string(), key(rng)];
            c.extend((0..rng.gen_range(0..4)).map(|_| random_stream_id(rng, now)));
            c
        }
        18 => vec!["XLEN".into(), key(rng)],
        19..=21 => {
            let rev = rng.gen_bool(0.3);
            let mut c = vec![if rev { "XREVRANGE" } else { "XRANGE" }.to_string(), key(rng)];
            c.push(random_stream_id(rng, now));
            c.push(random_stream_id(rng, now));
            if rng.gen_bool(0.4) {
                c.push("COUNT".into());
                c.push(pick(rng, &["0", "1", "2", "-1", "x"]).into());
            }
            c
        }
        22..=24 => {
            let mut c = vec!["XREAD".to_string()];
            if rng.gen_bool(0.4) {
                c.push("COUNT".into());
                c.push(pick(rng, &["0", "1", "2", "-1"]).into());
            }
            if rng.gen_bool(0.05) {
                c.push("BLOCK".into());
                c.push("1".into());
            }
            c.push("STREAMS".into());
            let n = rng.gen_range(1..3);
            let keys: Vec<String> = (0..n).map(|_| key(rng)).collect();
            c.extend(keys);
            for _ in 0..n {
                c.push(if rng.gen_bool(0.2) { "$".into() } else { random_stream_id(rng, now) });
            }
            if rng.gen_bool(0.05) {
                c.pop();
            }
            c
        }
        25..=29 => {
            let mut c = vec!["XREADGROUP".to_string(), "GROUP".into(), group(rng), consumer(rng)];
            if rng.gen_bool(0.4) {
                c.push("COUNT".into());
                c.push(pick(rng, &["0", "1", "2"]).into());
            }
            if rng.gen_bool(0.15) {
                c.push("NOACK".into());
            }
            c.push("STREAMS".into());
            let n = rng.gen_range(1..3);
            let keys: Vec<String> = (0..n).map(|_| key(rng)).collect();
            c.extend(keys);
            for _ in 0..n {
                c.push(match rng.gen_range(0..10) {
                    0..=5 => ">".into(),
                    6 => "$".into(),
                    _ => random_stream_id(rng, now),
                });
            }
            c
        }
        30..=33 => {
            let sub = match rng.gen_range(0..20) {
                0..=8 => "CREATE",
                9..=12 => "SETID",
                13 => "DESTROY",
                14..=16 => "CREATECONSUMER",
                _ => "DELCONSUMER",
            };
            let mut c = vec!["XGROUP".to_string(), sub.into(), key(rng), group(rng)];
            match sub {
                "CREATE" | "SETID" => {
                    c.push(if rng.gen_bool(0.3) { "$".into() } else { random_stream_id(rng, now) });
                    if sub == "CREATE" && rng.gen_bool(0.7) {
                        c.push("MKSTREAM".into());
                    }
                    if rng.gen_bool(0.2) {
                        c.push("ENTRIESREAD".into());
                        c.push(pick(rng, &["0", "1", "3", "-1", "-2"]).into());
                    }
                }
                "CREATECONSUMER" | "DELCONSUMER" => c.push(consumer(rng)),
                _ => {}
            }
            c
        }
        34..=36 => {
            let mut c = vec!["XACK".to_string(), key(rng), group(rng)];
            c.extend((0..rng.gen_range(1..4)).map(|_| random_stream_id(rng, now)));
            c
        }
        37..=39 => {
            let mut c = vec!["XPENDING".to_string(), key(rng), group(rng)];
            if rng.gen_bool(0.6) {
                if rng.gen_bool(0.3) {
                    c.push("IDLE".into());
                    c.push(idle(rng));
                }
                c.push(random_stream_id(rng, now));
                c.push(random_stream_id(rng, now));
                c.push(pick(rng, &["10", "1", "0", "-1"]).into());
                if rng.gen_bool(0.4) {
                    c.push(consumer(rng));
                }
            }
            c
        }
        40..=42 => {
            let mut c = vec!["XCLAIM".to_string(), key(rng), group(rng), consumer(rng), idle(rng)];
            c.extend((0..rng.gen_range(1..4)).map(|_| random_stream_id(rng, now)));
            for _ in 0..rng.gen_range(0..3) {
                match rng.gen_range(0..7) {
                    0 => c.push("FORCE".into()),
                    1 => c.push("JUSTID".into()),
                    2 => c.extend(["IDLE".into(), pick(rng, &["0", "7200000", "x"]).into()]),
                    3 => c.extend(["TIME".into(), pick(rng, &["1", "-1", "99999999999999"]).into()]),
                    4 => c.extend(["RETRYCOUNT".into(), pick(rng, &["0", "5", "-1"]).into()]),
                    5 => c.extend(["LASTID".into(), random_stream_id(rng, now)]),
                    _ => c.push("BOGUS".into()),
                }
            }
            c
        }
        43 | 44 => {
            let mut c = vec!["XAUTOCLAIM".to_string(), key(rng), group(rng), consumer(rng), idle(rng)];
            c.push(random_stream_id(rng, now));
            if rng.gen_bool(0.5) {
                c.push("COUNT".into());
                c.push(pick(rng, &["1", "2", "10", "0"]).into());
            }
            if rng.gen_bool(0.3) {
                c.push("JUSTID".into());
            }
            c
        }
        45..=47 => match rng.gen_range(0..5) {
            0 => vec!["XINFO".into(), "STREAM".into(), key(rng)],
            1 => vec!["XINFO".into(), "STREAM".into(), key(rng), "FULL".into()],
            2 => vec!["XINFO".into(), "STREAM".into(), key(rng), "FULL".into(), "COUNT".into(), "2".into()],
            3 => vec!["XINFO".into(), "GROUPS".into(), key(rng)],
            _ => vec!["XINFO".into(), "CONSUMERS".into(), key(rng), group(rng)],
        },
        48 => {
            let mut c = vec!["XSETID".to_string(), key(rng), random_stream_id(rng, now)];
            if rng.gen_bool(0.3) {
                c.extend(["ENTRIESADDED".into(), pick(rng, &["0", "5", "100", "-1"]).into()]);
            }
            if rng.gen_bool(0.3) {
                c.extend(["MAXDELETEDID".into(), random_stream_id(rng, now)]);
            }
            c
        }
        49 => vec!["TYPE".into(), key(rng)],
        50 if rng.gen_bool(0.3) => vec!["DEL".into(), key(rng)],
        51 => vec!["COPY".into(), key(rng), key(rng), "REPLACE".into()],
        52 if rng.gen_bool(0.3) => vec!["RENAME".into(), key(rng), key(rng)],
        53 => vec!["OBJECT".into(), "ENCODING".into(), key(rng)],
        54 => vec!["SET".into(), format!("{tag}str"), "v".into()],
        55 => vec!["RPUSH".into(), format!("{tag}list"), "v".into()],
        56 => vec!["EXISTS".into(), key(rng)],
        57 => vec![pick(rng, &["XADD", "XGROUP", "XINFO", "XREAD", "XCLAIM"]).into(), key(rng)],
        58 => vec!["XGROUP".into(), pick(rng, &["HELP", "FOO", "CREATE"]).into()],
        _ => vec!["XINFO".into(), pick(rng, &["HELP", "FOO"]).into()],
    };
    words.into_iter().map(String::into_bytes).collect()
}

fn random_trim<R: Rng>(rng: &mut R, now: u64) -> Vec<String> {
    let mut c = Vec::new();
    if rng.gen_bool(0.5) {
        c.push("MAXLEN".into());
        if rng.gen_bool(0.3) {
            c.push("=".into());
        }
        c.push(pick(rng, &["0", "1", "2", "3", "-1", "x"]).into());
    } else {
        c.push("MINID".into());
        if rng.gen_bool(0.3) {
            c.push("=".into());
        }
        c.push(random_stream_id(rng, now));
    }
    match rng.gen_range(0..12) {
        0 => c.extend(["LIMIT".into(), "2".into()]),
        1 => c.extend(["LIMIT".into(), "0".into()]),
        2 => c.extend(["MAXLEN".into(), "1".into()]),
        _ => {}
    }
    c
}

/// A listpack of strings only (Redis reads integers stored as strings).
fn listpack_of_strings(items: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for s in items {
        let start = body.len();
        assert!(s.len() < 64, "short strings only");
        body.push(0x80 | s.len() as u8);
        body.extend_from_slice(s);
        body.push((body.len() - start) as u8);
    }
    body.push(0xff);
    let mut lp = ((body.len() + 6) as u32).to_le_bytes().to_vec();
    lp.extend_from_slice(&(items.len() as u16).to_le_bytes());
    lp.extend_from_slice(&body);
    lp
}

/// A stream as Redis 5 and 6 dumped it (RDB_TYPE_STREAM_LISTPACKS, RDB
/// version 9: no first ID, deleted-ID or read counters, which Redis 7
/// derives at load), with random entries in nodes of up to 3, some
/// deleted, and a group or two with pending entries and consumers.
pub fn stream_payload_of_redis_6<R: Rng>(rng: &mut R) -> Vec<u8> {
    let n = rng.gen_range(1..10);
    let ids: Vec<(u64, u64)> = {
        let mut ms = rng.gen_range(1..5);
        (0..n)
            .map(|_| {
                ms += rng.gen_range(0..3);
                (ms, rng.gen_range(0..2))
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let s = |v: u64| v.to_string().into_bytes();
    let mut out = vec![15u8];
    let nodes: Vec<&[(u64, u64)]> = ids.chunks(3).collect();
    rdb_len(&mut out, nodes.len());
    let mut live = 0;
    let mut live_ids = Vec::new();
    for node in &nodes {
        let (mms, mseq) = node[0];
        let deleted: Vec<bool> = node.iter().map(|_| rng.gen_bool(0.2)).collect();
        let count = deleted.iter().filter(|d| !**d).count();
        let mut items = vec![s(count as u64), s((node.len() - count) as u64), s(1), b"f".to_vec(), s(0)];
        for (k, (ms, seq)) in node.iter().enumerate() {
            let same = rng.gen_bool(0.5);
            let flags = if deleted[k] { 1 } else { 0 } | if same { 2 } else { 0 };
            let seq_diff = (*seq as i64 - mseq as i64).to_string().into_bytes();
            items.extend([s(flags), s(ms - mms), seq_diff]);
            if same {
                items.push(s(rng.gen_range(0..100)));
                items.push(s(4));
            } else {
                items.extend([s(2), b"g".to_vec(), s(rng.gen_range(0..100)), b"h".to_vec(), b"x".to_vec(), s(7)]);
            }
            if !deleted[k] {
                live += 1;
                live_ids.push((*ms, *seq));
            }
        }
        let mut key = mms.to_be_bytes().to_vec();
        key.extend_from_slice(&mseq.to_be_bytes());
        rdb_string(&mut out, &key);
        rdb_string(&mut out, &listpack_of_strings(&items));
    }
    let last = *ids.last().unwrap();
    rdb_len(&mut out, live);
    rdb_len(&mut out, last.0 as usize);
    rdb_len(&mut out, last.1 as usize);
    let groups = rng.gen_range(0..3);
    rdb_len(&mut out, groups);
    for g in 0..groups {
        rdb_string(&mut out, format!("g{g}").as_bytes());
        let (gms, gseq) = ids[rng.gen_range(0..ids.len())];
        rdb_len(&mut out, gms as usize);
        rdb_len(&mut out, gseq as usize);
        let pending: Vec<(u64, u64)> = live_ids.iter().copied().filter(|_| rng.gen_bool(0.5)).collect();
        rdb_len(&mut out, pending.len());
        for (ms, seq) in &pending {
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&(1_700_000_000_000i64 + rng.gen_range(0..1000)).to_le_bytes());
            rdb_len(&mut out, rng.gen_range(1..4));
        }
        // Two consumers share the pending entries; a third has none.
        rdb_len(&mut out, 3);
        let split = pending.len() / 2;
        for (c, own) in [("alice", &pending[..split]), ("bob", &pending[split..]), ("carol", &pending[..0])] {
            rdb_string(&mut out, c.as_bytes());
            out.extend_from_slice(&1_700_000_000_500i64.to_le_bytes());
            rdb_len(&mut out, own.len());
            for (ms, seq) in own {
                out.extend_from_slice(&ms.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
            }
        }
    }
    sealed_payload(&out, 9)
}
