//! Client-side caching (CLIENT TRACKING) against redis-server: the same
//! reads and writes, the same invalidation messages.
//!
//! Nothing waits by time: after each step the writer changes a sentinel
//! key the reader tracks, and the reader's messages are collected up to the
//! one about the sentinel (a node sends a batch's messages in the order it
//! applied them, and the sentinel's write comes last).

use kvtests::differential::{random_collection_command, random_command, Pair};
use kvtests::harness::{KvNode, RedisServer};
use kvtests::textresp::Raw;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::time::Duration;

const SENTINEL: &str = "__sync__";

/// A tracking client (`reader`), where its messages arrive (`inbox`: the
/// reader itself, or the RESP2 connection it redirects to), and a writer.
struct Session {
    reader: Raw,
    inbox: Option<Raw>,
    writer: Raw,
    /// OPTIN: the sentinel is read after CLIENT CACHING YES.
    optin: bool,
    steps: u64,
    /// Messages read while waiting for replies.
    early: Vec<String>,
}

fn is_message(v: &str) -> bool {
    v.starts_with(">[") || v.starts_with("*[$message, $__redis__:invalidate")
}

impl Session {
    /// `tracking`: CLIENT TRACKING ON's options; `redirect`: a RESP2
    /// subscriber of `__redis__:invalidate` receives the messages.
    fn open(port: u16, tracking: &[&str], redirect: bool) -> Session {
        let mut reader = Raw::connect(port);
        let mut writer = Raw::connect(port);
        writer.call(&["SET", SENTINEL, "0"]);
        let mut inbox = None;
        let mut on: Vec<String> = vec!["CLIENT".into(), "TRACKING".into(), "ON".into()];
        on.extend(tracking.iter().map(|s| s.to_string()));
        if redirect {
            let mut target = Raw::connect(port);
            let id = target.call(&["CLIENT", "ID"]);
            target.call(&["SUBSCRIBE", "__redis__:invalidate"]);
            on.extend(["REDIRECT".to_string(), id.trim_start_matches(':').to_string()]);
            inbox = Some(target);
        } else {
            reader.call(&["HELLO", "3"]);
        }
        let on: Vec<&str> = on.iter().map(|s| s.as_str()).collect();
        assert_eq!(reader.call(&on), "+OK");
        let optin = tracking.iter().any(|t| t.eq_ignore_ascii_case("optin"));
        Session { reader, inbox, writer, optin, steps: 0, early: Vec::new() }
    }

    /// A reply to the reader's command (messages before it kept aside).
    fn read(&mut self, args: &[&str]) -> String {
        self.reader.send(args);
        loop {
            let v = self.reader.read();
            if self.inbox.is_none() && is_message(&v) {
                self.early.push(v);
            } else {
                return v;
            }
        }
    }

    fn track_sentinel(&mut self) {
        if self.optin {
            assert_eq!(self.read(&["CLIENT", "CACHING", "YES"]), "+OK");
        }
        self.read(&["GET", SENTINEL]);
    }

    /// The messages since the last sync, sorted (the order among the keys
    /// of one command is not Redis' concern to fix).
    fn sync(&mut self) -> Vec<String> {
        self.steps += 1;
        let n = self.steps.to_string();
        // Tracked again first: the step may have dropped it (FLUSHALL).
        self.track_sentinel();
        self.writer.call(&["SET", SENTINEL, &n]);
        let mut got = std::mem::take(&mut self.early);
        let done = format!("invalidate, *[${SENTINEL}]]");
        let inbox = self.inbox.as_mut().unwrap_or(&mut self.reader);
        loop {
            let v = inbox.read();
            if v.ends_with(&done) {
                break;
            }
            if is_message(&v) {
                got.push(v);
            }
        }
        got.sort();
        got
    }
}

/// Runs `steps` (reader commands start with `R`, writer commands with `W`)
/// on a fresh session of each server and compares what they answer and
/// which messages each step brings.
fn compare(tracking: &[&str], redirect: bool, steps: &[&[&str]]) {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(4);
    let mut transcripts = Vec::new();
    for port in [redis.port, ours.port] {
        let mut s = Session::open(port, tracking, redirect);
        let mut t = Vec::new();
        for step in steps {
            let reply = match step[0] {
                "R" => s.read(&step[1..]),
                // CLIENT CACHING YES|NO and the command it is about.
                "RC" => {
                    assert_eq!(s.read(&["CLIENT", "CACHING", step[1]]), "+OK");
                    s.read(&step[2..])
                }
                // A transaction of the reader's, as one step.
                "RT" => {
                    s.read(&["MULTI"]);
                    s.read(&step[1..]);
                    s.read(&["EXEC"])
                }
                _ => s.writer.call(&step[1..]),
            };
            let line = format!("{step:?} -> {reply} {:?}", s.sync());
            if std::env::var("TRACKING_DEBUG").is_ok() {
                eprintln!("{port}: {line}");
            }
            t.push(line);
        }
        transcripts.push(t);
    }
    for (a, b) in transcripts[0].iter().zip(&transcripts[1]) {
        assert_eq!(a, b, "redis-server vs kvnode");
    }
}

#[test]
fn reads_are_tracked_and_changes_invalidate_them_as_in_redis() {
    compare(
        &[],
        false,
        &[
            &["W", "SET", "k1", "a"],
            &["R", "GET", "k1"],
            &["W", "SET", "k1", "b"],
            // Invalidated once, then forgotten until read again.
            &["W", "SET", "k1", "c"],
            &["R", "MGET", "k1", "{k}2", "{k}3"],
            &["W", "DEL", "{k}2"],
            &["W", "HSET", "{k}3", "f", "v"],
            &["R", "HGETALL", "h"],
            &["R", "EXISTS", "l"],
            &["W", "RPUSH", "l", "x"],
            &["R", "LRANGE", "l", "0", "-1"],
            &["W", "RPOP", "l", "0"],
            &["W", "LPOP", "l", "0"],
            &["W", "HSET", "h", "f", "v"],
            &["R", "GET", "k1"],
            &["W", "EXPIRE", "k1", "100"],
            &["R", "GET", "k1"],
            &["W", "PERSIST", "k1"],
            &["W", "PERSIST", "k1"],
            &["R", "STRLEN", "k1"],
            &["W", "RENAME", "k1", "k9"],
            &["R", "TYPE", "k9"],
            &["W", "INCR", "untracked"],
            // A transaction's reads are tracked when EXEC runs them.
            &["RT", "GET", "k9"],
            &["W", "APPEND", "k9", "z"],
            // The reader's own write: it hears of it too (after its reply).
            &["R", "GET", "k9"],
            &["R", "SET", "k9", "own"],
            &["R", "GET", "k9"],
            &["W", "FLUSHALL"],
            &["W", "SET", "k9", "after"],
        ],
    );
}

#[test]
fn optin_optout_bcast_and_redirect_as_in_redis() {
    compare(
        &["OPTIN"],
        false,
        &[
            &["R", "GET", "a"],
            &["W", "SET", "a", "1"],
            &["RC", "YES", "GET", "a"],
            &["W", "SET", "a", "2"],
            &["R", "CLIENT", "TRACKINGINFO"],
            &["R", "CLIENT", "CACHING", "NO"],
        ],
    );
    compare(
        &["OPTOUT"],
        false,
        &[
            &["R", "GET", "a"],
            &["W", "SET", "a", "1"],
            &["RC", "NO", "GET", "a"],
            &["W", "SET", "a", "2"],
            &["R", "GET", "a"],
            &["W", "SET", "a", "3"],
            &["R", "CLIENT", "CACHING", "YES"],
        ],
    );
    compare(
        &["BCAST", "PREFIX", "user:", "PREFIX", SENTINEL],
        false,
        &[
            &["W", "MSET", "{u}user:1", "a", "{u}other", "b"],
            &["W", "SET", "{u}user:2", "x"],
            &["W", "DEL", "{u}user:2", "{u}user:3"],
            &["W", "SET", "nobody", "x"],
            &["R", "CLIENT", "TRACKINGINFO"],
            &["R", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "use"],
            &["R", "CLIENT", "TRACKING", "ON", "PREFIX", "x"],
            &["R", "CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"],
            &["R", "CLIENT", "TRACKING", "ON"],
        ],
    );
    compare(
        &[],
        true,
        &[
            &["R", "GET", "r"],
            &["W", "SET", "r", "1"],
            &["R", "HGET", "rh", "f"],
            &["W", "HDEL", "rh", "f"],
            &["W", "HSET", "rh", "f", "v"],
            &["W", "FLUSHALL"],
        ],
    );
}

/// NOLOOP: the tracking client is not told of the keys its own commands
/// change (in the table, with BCAST, and when it redirects), but still of
/// everyone else's changes. (Redis forgets the key for the client at its own
/// change, the node does not; so the client reads again before another
/// client changes the key here, for both to send the same.)
#[test]
fn noloop_keeps_a_clients_own_changes_from_it_as_in_redis() {
    let own_and_others: &[&[&str]] = &[
        &["R", "GET", "n1"],
        &["R", "SET", "n1", "mine"],
        &["R", "GET", "n1"],
        &["W", "SET", "n1", "theirs"],
        &["R", "GET", "n1"],
        &["W", "SET", "n1", "theirs again"],
        &["R", "MGET", "n1", "{n1}b"],
        &["R", "DEL", "{n1}b"],
        &["R", "EVAL", "redis.call('SET', KEYS[1], 'by script')", "1", "n1"],
        &["W", "DEL", "{n1}b"],
        &["R", "GET", "{n1}b"],
        &["W", "RPUSH", "{n1}b", "x"],
        &["R", "SET", "n2", "mine"],
        &["W", "SET", "n2", "theirs"],
        // A transaction's changes are the client's own.
        &["R", "GET", "n2"],
        &["RT", "SET", "n2", "in a transaction"],
        &["R", "GET", "n2"],
        &["W", "SET", "n2", "theirs"],
    ];
    compare(&["NOLOOP"], false, own_and_others);
    compare(&["NOLOOP"], true, own_and_others);
    compare(&["BCAST", "PREFIX", "n", "PREFIX", SENTINEL, "NOLOOP"], false, own_and_others);
    compare(&["BCAST", "NOLOOP"], true, own_and_others);
}

#[test]
fn tracking_commands_answer_as_in_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let cases: &[&[&str]] = &[
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "TRACKING", "maybe"],
        &["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"],
        &["CLIENT", "TRACKING", "ON", "REDIRECT", "x"],
        &["CLIENT", "TRACKING", "ON", "NOSUCH"],
        &["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"],
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab"],
        &["CLIENT", "TRACKING", "ON", "OPTIN"],
        &["CLIENT", "TRACKING", "ON", "OPTOUT"],
        &["CLIENT", "TRACKING", "ON", "BCAST"],
        &["CLIENT", "CACHING", "NO"],
        &["CLIENT", "CACHING", "MAYBE"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKING", "OFF"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "NOLOOP"],
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "b"],
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "bc"],
        &["CLIENT", "TRACKINGINFO"],
        &["RESET"],
        &["CLIENT", "TRACKINGINFO"],
    ];
    let mut r = Raw::connect(redis.port);
    let mut o = Raw::connect(ours.port);
    for args in cases {
        assert_eq!(r.call(args), o.call(args), "{args:?}");
    }
    // CLIENT LIST's flags: t tracking, B broadcasting, after P and x (a
    // transaction's commands still run in it, with its count).
    for port in [redis.port, ours.port] {
        let mut c = Raw::connect(port);
        c.call(&["HELLO", "3"]);
        c.call(&["CLIENT", "TRACKING", "ON", "BCAST"]);
        c.call(&["SUBSCRIBE", "ch"]);
        let info = c.call(&["CLIENT", "INFO"]);
        assert!(info.contains(" flags=PtB "), "{port}: {info}");
        c.call(&["MULTI"]);
        c.call(&["PING"]);
        c.call(&["CLIENT", "INFO"]);
        let info = c.call(&["EXEC"]);
        assert!(info.contains(" flags=PxtB ") && info.contains(" multi=2 "), "{port}: {info}");
    }
}

/// A tracking client whose redirect target leaves is told so (RESP3).
#[test]
fn a_broken_redirect_is_reported_as_in_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let mut seen = Vec::new();
    for port in [redis.port, ours.port] {
        let mut reader = Raw::connect(port);
        reader.call(&["HELLO", "3"]);
        let mut target = Raw::connect(port);
        let id = target.call(&["CLIENT", "ID"]);
        let id = id.trim_start_matches(':');
        assert_eq!(reader.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", id]), "+OK");
        reader.call(&["GET", "k"]);
        drop(target);
        // Until the server has seen the target go, a message would still
        // reach it: write until the reader hears.
        let mut writer = Raw::connect(port);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let message = loop {
            assert!(std::time::Instant::now() < deadline, "{port}: no message about the broken redirect");
            writer.call(&["SET", "k", "v"]);
            reader.send(&["GET", "k"]);
            reader.send(&["PING"]);
            let mut heard = None;
            loop {
                let v = reader.read();
                if v == "+PONG" {
                    break;
                }
                if v.starts_with(">[") {
                    heard = Some(v);
                }
            }
            if let Some(v) = heard {
                break v;
            }
        };
        seen.push(message.replace(id, "ID"));
        let info = reader.call(&["CLIENT", "TRACKINGINFO"]);
        assert!(info.contains("$broken_redirect"), "{info}");
        let me = reader.call(&["CLIENT", "INFO"]);
        assert!(me.contains(" flags=tR "), "{me}");
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], ">[$tracking-redir-broken, :ID]");
}

/// Random reads by a tracking client, random writes by another, over the
/// keys of every family: the same replies and the same messages after each
/// step as redis-server.
#[test]
fn random_reads_and_writes_invalidate_as_in_redis() {
    run_random(31, 300);
}

#[test]
#[ignore = "soak: TRACKING_SEEDS=a..b"]
fn soak() {
    let seeds = std::env::var("TRACKING_SEEDS").unwrap_or_else(|_| "100..110".into());
    let (a, b) = seeds.split_once("..").unwrap();
    for seed in a.parse::<u64>().unwrap()..b.parse().unwrap() {
        run_random(seed, 400);
    }
}

fn run_random(seed: u64, steps: usize) {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let mut sessions = [Session::open(redis.port, &[], false), Session::open(ours.port, &[], false)];
    let mut writes = Pair::new(redis.client(), ours.client());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
    let collections = ["h0", "h1", "l0", "l1", "s0", "s1", "z0", "z1", "str0"];
    let mut last = String::new();
    for step in 0..steps {
        let context = format!("seed {seed} step {step} (last command: {last})");
        if rng.gen_bool(0.4) {
            let k = |rng: &mut rand::rngs::StdRng| -> String {
                if rng.gen_bool(0.5) {
                    keys.choose(rng).unwrap().clone()
                } else {
                    collections.choose(rng).unwrap().to_string()
                }
            };
            let read: Vec<String> = match rng.gen_range(0..8) {
                0 => vec!["GET".into(), k(&mut rng)],
                1 => vec!["MGET".into(), k(&mut rng), k(&mut rng)],
                2 => vec!["EXISTS".into(), k(&mut rng)],
                3 => vec!["TYPE".into(), k(&mut rng)],
                // (HGETALL's order is the hash table's in Redis: HLEN reads
                // the key as well.)
                4 => vec!["HLEN".into(), k(&mut rng)],
                5 => vec!["LRANGE".into(), k(&mut rng), "0".into(), "-1".into()],
                6 => vec!["SCARD".into(), k(&mut rng)],
                _ => vec!["ZCARD".into(), k(&mut rng)],
            };
            last = format!("{read:?}");
            let read: Vec<&str> = read.iter().map(|s| s.as_str()).collect();
            let replies: Vec<String> = sessions.iter_mut().map(|s| s.read(&read)).collect();
            assert_eq!(replies[0], replies[1], "{context}: {read:?}");
        } else {
            let cmd = if rng.gen_bool(0.5) {
                random_command(&mut rng, &keys)
            } else {
                random_collection_command(&mut rng, "")
            };
            // (A transaction or WATCH of the writer, or a wait: not here.
            // Nor expiries: a key that expires during the run is removed,
            // and announced, when each server's expiry cycle meets it.)
            let name = String::from_utf8_lossy(&cmd[0]).to_ascii_uppercase();
            let timed = cmd.iter().any(|a| {
                let a = String::from_utf8_lossy(a).to_ascii_uppercase();
                ["EX", "PX", "EXAT", "PXAT"].contains(&a.as_str())
            });
            if timed
                || name.contains("EXPIRE")
                || [
                    "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "BLPOP", "BRPOP", "BLMOVE", "BZPOPMIN", "BZPOPMAX",
                    "SETEX", "PSETEX", "RESTORE",
                ]
                .contains(&name.as_str())
            {
                continue;
            }
            last = cmd.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ");
            writes.check(&cmd).unwrap_or_else(|e| panic!("{context}: {e}"));
        }
        let messages: Vec<Vec<String>> = sessions.iter_mut().map(|s| s.sync()).collect();
        if std::env::var("TRACKING_DEBUG").is_ok() {
            eprintln!("{step}: {last} -> {:?}", messages[0]);
        }
        assert_eq!(messages[0], messages[1], "{context}: messages differ");
    }
    let _ = Duration::ZERO;
}

/// In a cluster, a change made through another node reaches a tracking
/// client (every replica applies it and tells its own clients); a key of a
/// partition with no replica on the client's node is invalidated at once,
/// since that node would not see it change.
#[test]
fn changes_through_other_nodes_invalidate_in_a_cluster() {
    use kvtests::cluster::{Cluster, ClusterOptions};
    let cl = Cluster::start(ClusterOptions::default());
    let mut reader = Raw::connect(cl.nodes[0].redis_port);
    reader.call(&["HELLO", "3"]);
    assert_eq!(reader.call(&["CLIENT", "TRACKING", "ON"]), "+OK");
    for (i, key) in ["a", "b", "c", "d"].iter().enumerate() {
        let _: () = redis::cmd("SET").arg(key).arg("v").query(&mut cl.client(i % 3)).unwrap();
        assert_eq!(reader.call(&["GET", key]), "$v");
        let _: () = redis::cmd("SET").arg(key).arg("w").query(&mut cl.client(1 + i % 2)).unwrap();
        // (The reader's read timeout bounds the wait.)
        assert_eq!(reader.read(), format!(">[$invalidate, *[${key}]]"));
    }
    // NOLOOP: the reader's own writes, led by whichever node, bring it no
    // message; another client's write does, once.
    assert_eq!(reader.call(&["CLIENT", "TRACKING", "ON", "NOLOOP"]), "+OK");
    for (i, key) in ["e", "f", "g", "h"].iter().enumerate() {
        assert_eq!(reader.call(&["GET", key]), "nil");
        assert_eq!(reader.call(&["SET", key, "own"]), "+OK");
        assert_eq!(reader.call(&["GET", key]), "$own");
        let _: () = redis::cmd("SET").arg(key).arg("w").query(&mut cl.client(i % 3)).unwrap();
        assert_eq!(reader.read(), format!(">[$invalidate, *[${key}]]"));
        assert_eq!(reader.call(&["PING"]), "+PONG");
    }
    drop(cl);
    let single = Cluster::start(ClusterOptions { replication: 1, ..ClusterOptions::default() });
    let mut reader = Raw::connect(single.nodes[0].redis_port);
    reader.call(&["HELLO", "3"]);
    assert_eq!(reader.call(&["CLIENT", "TRACKING", "ON"]), "+OK");
    let (mut here, mut elsewhere) = (0, 0);
    for i in 0..16 {
        let key = format!("key{i}");
        // The message goes out once no reply is in flight: after the
        // first PONG, before the second.
        reader.send(&["GET", &key]);
        reader.send(&["PING"]);
        let mut got = vec![reader.read()];
        for _ in 0..2 {
            loop {
                let v = reader.read();
                if v == "+PONG" {
                    break;
                }
                got.push(v);
            }
            reader.send(&["PING"]);
        }
        assert_eq!(reader.read(), "+PONG");
        // The reply first; a message about the key right after it when
        // node 1 holds no replica of the key's partition.
        assert_eq!(got[0], "nil");
        match &got[1..] {
            [] => here += 1,
            [m] if *m == format!(">[$invalidate, *[${key}]]") => elsewhere += 1,
            other => panic!("{key}: {other:?}"),
        }
    }
    assert!(here > 0 && elsewhere > 0, "{here} keys held here, {elsewhere} elsewhere");
    let info = redis::cmd("CLIENT").arg(&["TRACKING", "ON", "BCAST"]).query::<String>(&mut single.client(0));
    assert!(info.unwrap_err().to_string().contains("BCAST tracking needs a replica of every partition"));
}

/// Past tracking-table-max-keys, keys are invalidated and forgotten until
/// the table fits again (which keys is chance in Redis: only the counts
/// are compared).
#[test]
fn the_tracking_table_is_bounded_as_in_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(2);
    for port in [redis.port, ours.port] {
        let mut admin = Raw::connect(port);
        assert_eq!(admin.call(&["CONFIG", "SET", "tracking-table-max-keys", "2"]), "+OK");
        assert_eq!(admin.call(&["CONFIG", "GET", "tracking-table-max-keys"]), "*[$tracking-table-max-keys, $2]");
        let mut reader = Raw::connect(port);
        reader.call(&["HELLO", "3"]);
        reader.call(&["CLIENT", "TRACKING", "ON"]);
        for k in ["a", "b", "c"] {
            assert_eq!(reader.call(&["GET", k]), "nil");
        }
        // Redis evicts in its cron, a moment later; the read timeout bounds it.
        let message = reader.read();
        assert!(["a", "b", "c"].iter().any(|k| message == format!(">[$invalidate, *[${k}]]")), "{message}");
        let info = admin.call(&["INFO", "stats"]);
        assert!(info.contains("tracking_total_keys:2\r\n"), "{info}");
        let clients = admin.call(&["INFO", "clients"]);
        assert!(clients.contains("tracking_clients:1\r\n"), "{clients}");
    }
}

/// A tracking client that never reads its messages is dropped once 32 MB
/// wait for it (as a subscriber is), and the server goes on.
#[test]
fn a_tracking_client_that_never_reads_is_dropped() {
    use kvtests::harness::wait_until;
    let ours = KvNode::with_partitions(1);
    let mut idle = Raw::connect(ours.port);
    idle.call(&["HELLO", "3"]);
    assert_eq!(idle.call(&["CLIENT", "TRACKING", "ON", "BCAST"]), "+OK");
    let mut c = ours.client();
    let tracking = |c: &mut redis::Connection| -> bool {
        let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
        info.contains("tracking_clients:1\r\n")
    };
    assert!(tracking(&mut c));
    // 60 MB of key names in the messages: more than the limit plus what
    // the sockets hold.
    let name = "k".repeat(10_000);
    for i in 0..60 {
        let mut mset = redis::cmd("MSET");
        for j in 0..100 {
            mset.arg(format!("{name}{i}:{j}")).arg(1);
        }
        let _: () = mset.query(&mut c).unwrap();
    }
    wait_until(Duration::from_secs(30), "the idle tracking client to be dropped", || !tracking(&mut c));
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}
