//! Connection and server commands: CLIENT, COMMAND, INFO, CONFIG, TIME,
//! SHUTDOWN and the ones answered as not supported; the limits of scripts.

use kvtests::harness::{q, wait_until, KvNode, Raw, RedisServer};
use std::time::Duration;

#[test]
fn client_list_info_kill() {
    let node = KvNode::with_partitions(1);
    let mut a = node.client();
    let mut b = node.client();
    let _: () = q(&mut a, &["CLIENT", "SETNAME", "alpha"]).unwrap();
    let id_b: i64 = q(&mut b, &["CLIENT", "ID"]).unwrap();
    let list: String = q(&mut a, &["CLIENT", "LIST"]).unwrap();
    assert!(list.lines().any(|l| l.contains("name=alpha") && l.contains("cmd=client")), "{list}");
    assert!(list.lines().any(|l| l.starts_with(&format!("id={id_b} "))), "{list}");
    let only_b: String = q(&mut a, &["CLIENT", "LIST", "ID", &id_b.to_string()]).unwrap();
    assert_eq!(only_b.lines().count(), 1);
    let info: String = q(&mut a, &["CLIENT", "INFO"]).unwrap();
    assert!(info.contains("name=alpha"));
    assert_eq!(q::<String>(&mut a, &["CLIENT", "GETNAME"]).unwrap(), "alpha");
    // Kill b by id: b's next command finds its connection closed.
    let killed: i64 = q(&mut a, &["CLIENT", "KILL", "ID", &id_b.to_string()]).unwrap();
    assert_eq!(killed, 1);
    wait_until(Duration::from_secs(10), "b to be disconnected", || q::<String>(&mut b, &["PING"]).is_err());
    let err = q::<redis::Value>(&mut a, &["CLIENT", "KILL", "127.0.0.1:1"]).unwrap_err();
    assert!(err.to_string().contains("No such client"), "{err}");
    // Old style by address, of a raw connection.
    let mut raw = Raw::connect(node.port);
    raw.send(b"CLIENT INFO\r\n").unwrap();
    let line = raw.read_until(|b| b.ends_with(b"\n\r\n"));
    let text = String::from_utf8_lossy(&line);
    let addr = text.split_whitespace().find_map(|w| w.strip_prefix("addr=")).unwrap().to_string();
    let _: () = q(&mut a, &["CLIENT", "KILL", &addr]).unwrap();
    assert!(raw.closed());
}

#[test]
fn command_info_config_time() {
    let node = KvNode::with_partitions(1);
    let mut c = node.client();
    let count: i64 = q(&mut c, &["COMMAND", "COUNT"]).unwrap();
    assert!(count > 60, "{count}");
    let info: Vec<redis::Value> = q(&mut c, &["COMMAND", "INFO", "get", "mset"]).unwrap();
    assert_eq!(info.len(), 2);
    let docs: redis::Value = q(&mut c, &["COMMAND", "DOCS", "get"]).unwrap();
    assert!(format!("{docs:?}").contains("Get the value of a key"));
    let list: Vec<String> = q(&mut c, &["COMMAND", "LIST", "FILTERBY", "PATTERN", "incr*"]).unwrap();
    let mut list = list;
    list.sort();
    assert_eq!(list, vec!["incr", "incrby", "incrbyfloat"]);
    let all: Vec<redis::Value> = q(&mut c, &["COMMAND"]).unwrap();
    assert_eq!(all.len() as i64, count);
    for section in ["server", "clients", "memory", "persistence", "stats", "keyspace"] {
        let text: String = q(&mut c, &["INFO", section]).unwrap();
        assert!(text.to_lowercase().starts_with(&format!("# {section}")), "{text}");
    }
    let everything: String = q(&mut c, &["INFO"]).unwrap();
    assert!(everything.contains("redis_version:") && everything.contains("connected_clients:"));
    let cfg: Vec<String> = q(&mut c, &["CONFIG", "GET", "max*"]).unwrap();
    assert!(cfg.chunks(2).any(|kv| kv[0] == "maxclients" && kv[1] == "10000"), "{cfg:?}");
    let _: () = q(&mut c, &["CONFIG", "SET", "maxclients", "50", "save", "900 1"]).unwrap();
    let cfg: Vec<String> = q(&mut c, &["CONFIG", "GET", "maxclients"]).unwrap();
    assert_eq!(cfg, vec!["maxclients", "50"]);
    let err = q::<redis::Value>(&mut c, &["CONFIG", "SET", "maxclients", "lots"]).unwrap_err();
    assert!(err.to_string().contains("CONFIG SET failed"), "{err}");
    let (secs, micros): (String, String) = q(&mut c, &["TIME"]).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(secs.parse::<u64>().unwrap().abs_diff(now) <= 2);
    assert!(micros.parse::<u64>().unwrap() < 1_000_000);
    for (cmd, word) in
        [(&["DEBUG", "SLEEP", "0"][..], "not supported"), (&["FUNCTION", "LOAD", "x"], "Missing library metadata")]
    {
        let err = q::<redis::Value>(&mut c, cmd).unwrap_err();
        assert!(err.to_string().contains(word), "{cmd:?}: {err}");
    }
    assert_eq!(q::<String>(&mut c, &["FUNCTION", "FLUSH"]).unwrap(), "OK");
}

#[test]
fn shutdown_stops_the_node_cleanly() {
    let mut node = KvNode::with_partitions(1);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "before", "shutdown"]).unwrap();
    let _ = q::<redis::Value>(&mut c, &["SHUTDOWN"]);
    wait_until(Duration::from_secs(20), "the process to exit", || !node.alive());
    node.kill9(); // reap
    node.restart();
    let mut c = node.client();
    assert_eq!(q::<String>(&mut c, &["GET", "before"]).unwrap(), "shutdown");
}

/// A script runs where its entry is applied, on the thread that applies
/// every partition: one that would run forever is stopped at its
/// instruction limit (pcall cannot catch that), and the node serves on. A
/// script's push wakes a client blocked on the key.
#[test]
fn scripts_are_stopped_at_their_limit_and_wake_blocked_clients() {
    let node = KvNode::with_partitions(1);
    let mut c = node.client();
    for body in ["while true do end", "while true do pcall(function() while true do end end) end"] {
        let err = q::<redis::Value>(&mut c, &["EVAL", body, "0"]).unwrap_err();
        assert!(err.to_string().contains("Script stopped after"), "{body}: {err}");
    }
    // No coroutines: their instructions would escape the count.
    let body = "local co = coroutine.create(function() while true do end end) while true do coroutine.resume(co) end";
    let err = q::<redis::Value>(&mut c, &["EVAL", body, "0"]).unwrap_err();
    assert!(err.to_string().contains("nonexistent global variable 'coroutine'"), "{err}");
    let err = q::<redis::Value>(&mut c, &["EVAL", "local s = 'x' for i = 1, 40 do s = s .. s end return #s", "0"])
        .unwrap_err();
    // (Past the memory limit: no room left even for the error's details.)
    assert!(err.to_string().contains("Error running script"), "{err}");
    // A table that holds itself: nested arrays that end in an error (raw:
    // the redis crate parses only so deep).
    let mut raw = Raw::connect(node.port);
    let body = "local t = {} t[1] = t return t";
    raw.send(format!("*3\r\n$4\r\nEVAL\r\n${}\r\n{body}\r\n$1\r\n0\r\n", body.len()).as_bytes()).unwrap();
    let end = b"-ERR reached lua stack limit\r\n";
    let reply = raw.read_until(|b| b.ends_with(end));
    assert_eq!(reply, [b"*1\r\n".repeat(1000), end.to_vec()].concat());
    assert_eq!(q::<String>(&mut c, &["PING"]).unwrap(), "PONG");
    let mut blocked = node.client();
    let waiter = std::thread::spawn(move || q::<(String, String)>(&mut blocked, &["BLPOP", "q", "20"]));
    wait_until(Duration::from_secs(20), "the client to block", || {
        q::<String>(&mut c, &["CLIENT", "LIST"]).unwrap().contains("cmd=blpop")
    });
    let n: i64 = q(&mut c, &["EVAL", "return redis.call('LPUSH', KEYS[1], 'x')", "1", "q"]).unwrap();
    assert_eq!(n, 1);
    assert_eq!(waiter.join().unwrap().unwrap(), ("q".to_string(), "x".to_string()));
}

/// SLOWLOG against redis-server with every command logged
/// (`slowlog-log-slower-than 0`): the same entries (arguments as Redis
/// keeps them: at most 32, each cut at 128 bytes, secrets hidden; client
/// names), newest first; commands refused before running are not logged;
/// LEN, RESET, GET's count and errors. Ids, times and addresses differ.
#[test]
fn slowlog_matches_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |mut c: redis::Connection| -> Vec<String> {
        let mut out = Vec::new();
        let step = |c: &mut redis::Connection, words: Vec<String>| -> String {
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            format!("{:?}", q::<redis::Value>(c, &w))
        };
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        out.push(step(&mut c, words("CONFIG SET slowlog-log-slower-than 0")));
        out.push(step(&mut c, words("SLOWLOG RESET")));
        out.push(step(&mut c, words("CLIENT SETNAME tester")));
        out.push(step(&mut c, words("SET k v")));
        out.push(step(&mut c, words("GET k")));
        out.push(step(&mut c, vec!["SET".into(), "long".into(), "x".repeat(200)]));
        let mut many = words("RPUSH list");
        many.extend((0..40).map(|i| i.to_string()));
        out.push(step(&mut c, many));
        out.push(step(&mut c, words("AUTH user secret")));
        // (Its reply holds the client id, which differs.)
        step(&mut c, words("HELLO 2 AUTH default secret"));
        out.push(step(&mut c, words("CONFIG SET requirepass")));
        out.push(step(&mut c, words("NOSUCHCOMMAND a")));
        out.push(step(&mut c, words("GET")));
        out.push(step(&mut c, words("SLOWLOG LEN")));
        out.push(step(&mut c, words("SLOWLOG GET x")));
        out.push(step(&mut c, words("SLOWLOG GET -2")));
        out.push(step(&mut c, words("SLOWLOG GET 1 2")));
        out.push(step(&mut c, words("SLOWLOG NOPE")));
        // (One at a time: Redis answers a pattern in its hash table's order.)
        out.push(step(&mut c, words("CONFIG GET slowlog-max-len")));
        out.push(step(&mut c, words("CONFIG GET slowlog-log-slower-than")));
        out.push(step(&mut c, words("CONFIG SET slowlog-log-slower-than -2")));
        out.push(step(&mut c, words("CONFIG SET slowlog-max-len x")));
        // The entries, without what differs between the servers.
        let entries: Vec<Vec<redis::Value>> = q(&mut c, &["SLOWLOG", "GET", "-1"]).unwrap();
        for e in entries {
            out.push(format!("{:?} name {:?}", e[3], e[5]));
        }
        let two: Vec<redis::Value> = q(&mut c, &["SLOWLOG", "GET", "2"]).unwrap();
        out.push(format!("GET 2: {}", two.len()));
        out.push(step(&mut c, words("CONFIG SET slowlog-max-len 3")));
        out.push(step(&mut c, words("PING")));
        out.push(step(&mut c, words("SLOWLOG LEN")));
        out.push(step(&mut c, words("CONFIG SET slowlog-log-slower-than -1")));
        out.push(step(&mut c, words("SLOWLOG RESET")));
        out.push(step(&mut c, words("PING")));
        out.push(step(&mut c, words("SLOWLOG LEN")));
        out
    };
    let theirs = run(redis.client());
    let mine = run(ours.client());
    assert!(theirs.len() > 30, "{theirs:#?}");
    assert_eq!(mine, theirs);
}

/// MEMORY USAGE measures the records a key is stored as: it grows with the
/// value and with the elements (estimated from a sample, or all with
/// SAMPLES 0), is nil for a missing key, and runs in its place in MULTI.
#[test]
fn memory_usage_grows_with_the_value() {
    let node = KvNode::with_partitions(1);
    let mut c = node.client();
    let usage = |c: &mut redis::Connection, args: &[&str]| -> Option<i64> {
        let mut a = vec!["MEMORY", "USAGE"];
        a.extend_from_slice(args);
        q(c, &a).unwrap()
    };
    let _: () = q(&mut c, &["SET", "small", "x"]).unwrap();
    let _: () = q(&mut c, &["SET", "big", &"x".repeat(10_000)]).unwrap();
    let small = usage(&mut c, &["small"]).unwrap();
    let big = usage(&mut c, &["big"]).unwrap();
    assert!(small > 0 && big >= small + 9_990, "{small} {big}");
    for i in 0..1000 {
        let _: () = q(&mut c, &["HSET", "h", &format!("field{i}"), "value"]).unwrap();
    }
    let _: () = q(&mut c, &["HSET", "h1", "field", "value"]).unwrap();
    let one = usage(&mut c, &["h1"]).unwrap();
    let sampled = usage(&mut c, &["h"]).unwrap();
    let all = usage(&mut c, &["h", "SAMPLES", "0"]).unwrap();
    assert!(sampled > 500 * (one - 20) && all > 500 * (one - 20), "{one} {sampled} {all}");
    assert_eq!(usage(&mut c, &["missing"]), None);
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("MEMORY")
        .arg("USAGE")
        .arg("small")
        .cmd("DEL")
        .arg("small")
        .cmd("MEMORY")
        .arg("USAGE")
        .arg("small");
    let (before, _, after): (Option<i64>, i64, Option<i64>) = pipe.query(&mut c).unwrap();
    assert_eq!((before, after), (Some(small), None));
}

/// MEMORY STATS against redis-server: the same fields in the same order,
/// each an integer or a double (a map in RESP3, pairs in RESP2), db.0 only
/// once there are keys; keys.count is the number of keys; the same errors.
#[test]
fn memory_stats_has_the_fields_of_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(2);
    let shape = |c: &mut redis::Connection| -> (Vec<String>, i64) {
        let v: redis::Value = q(c, &["MEMORY", "STATS"]).unwrap();
        let pairs: Vec<(redis::Value, redis::Value)> = match v {
            redis::Value::Map(m) => m,
            redis::Value::Array(a) => a.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
            other => panic!("MEMORY STATS answered {other:?}"),
        };
        let mut keys = -1;
        let fields = pairs
            .into_iter()
            .map(|(k, v)| {
                let name: String = redis::from_redis_value(&k).unwrap();
                if name == "keys.count" {
                    keys = redis::from_redis_value(&v).unwrap();
                }
                let kind = match v {
                    redis::Value::Int(_) => "int",
                    redis::Value::Double(_) => "double",
                    // RESP2 sends doubles as bulk strings.
                    redis::Value::BulkString(b) if std::str::from_utf8(&b).unwrap().parse::<f64>().is_ok() => "double",
                    redis::Value::Map(_) | redis::Value::Array(_) => "map",
                    other => panic!("{name}: {other:?}"),
                };
                format!("{name}: {kind}")
            })
            .collect();
        (fields, keys)
    };
    for resp3 in [false, true] {
        let (mut r, mut o) =
            if resp3 { (redis.client_resp3(), ours.client_resp3()) } else { (redis.client(), ours.client()) };
        let _: () = q(&mut r, &["FLUSHALL"]).unwrap();
        let _: () = q(&mut o, &["FLUSHALL"]).unwrap();
        assert_eq!(shape(&mut o), shape(&mut r), "empty (RESP3: {resp3})");
        for c in [&mut r, &mut o] {
            let _: () = q(c, &["MSET", "{a}1", "x", "{a}2", "y"]).unwrap();
            let _: () = q(c, &["SET", "b", "z", "EX", "100"]).unwrap();
        }
        let (fields, keys) = shape(&mut o);
        assert_eq!((fields, keys), shape(&mut r), "with 3 keys (RESP3: {resp3})");
        assert_eq!(keys, 3);
        for args in [&["MEMORY", "STATS", "x"][..], &["MEMORY", "NOSUCH"]] {
            let ours: redis::RedisResult<redis::Value> = q(&mut o, args);
            let theirs: redis::RedisResult<redis::Value> = q(&mut r, args);
            assert_eq!(ours.unwrap_err().to_string(), theirs.unwrap_err().to_string(), "{args:?}");
        }
        let help = |c: &mut redis::Connection| -> Vec<String> { q(c, &["MEMORY", "HELP"]).unwrap() };
        assert_eq!(help(&mut o), help(&mut r));
    }
}

/// OBJECT IDLETIME against redis-server: a key just used is idle for at
/// most a second; once it has been left alone, TYPE, EXISTS, TTL, OBJECT
/// and MEMORY USAGE leave it idle, while GET, a write, TOUCH and a script's
/// read make it fresh again. A missing key is nil; RESTORE ... IDLETIME
/// sets the idle time.
#[test]
fn object_idletime_follows_use_as_redis_does() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(2);
    let run = |c: &mut redis::Connection| -> Vec<String> {
        let idle = |c: &mut redis::Connection| -> Option<i64> { q(c, &["OBJECT", "IDLETIME", "k"]).unwrap() };
        let class = |v: Option<i64>| match v {
            None => "nil".to_string(),
            Some(0..=1) => "fresh".to_string(),
            Some(_) => "idle".to_string(),
        };
        let mut out = vec![class(idle(c))];
        let _: () = q(c, &["SET", "k", "v"]).unwrap();
        out.push(class(idle(c)));
        // RESTORE ... IDLETIME sets how long the key has stood idle.
        let payload: Vec<u8> = q(c, &["DUMP", "k"]).unwrap();
        let _: () = redis::cmd("RESTORE").arg("r").arg(0).arg(payload).arg("IDLETIME").arg(1000).query(c).unwrap();
        let restored: i64 = q(c, &["OBJECT", "IDLETIME", "r"]).unwrap();
        out.push(format!("restored idle 1000: {}", (1000..=1001).contains(&restored)));
        let uses: [&[&str]; 5] = [
            &["GET", "k"],
            &["APPEND", "k", "x"],
            &["TOUCH", "k"],
            &["EVAL", "return redis.call('STRLEN', KEYS[1])", "1", "k"],
            &["GETRANGE", "k", "0", "0"],
        ];
        for used in uses {
            wait_until(Duration::from_secs(30), "the key to stand idle", || idle(c).unwrap() >= 3);
            for look in [
                &["TYPE", "k"][..],
                &["EXISTS", "k"],
                &["TTL", "k"],
                &["PTTL", "k"],
                &["OBJECT", "ENCODING", "k"],
                &["MEMORY", "USAGE", "k"],
            ] {
                let _: redis::Value = q(c, look).unwrap();
            }
            out.push(class(idle(c)));
            let _: redis::Value = q(c, used).unwrap();
            out.push(format!("{}: {}", used[0], class(idle(c))));
        }
        out
    };
    // (Both at once: each waits out a few idle seconds.)
    let (want, got) = std::thread::scope(|s| {
        let theirs = s.spawn(|| run(&mut redis.client()));
        let got = run(&mut ours.client());
        (theirs.join().unwrap(), got)
    });
    assert_eq!(got, want);
    assert_eq!(want[..4], ["nil", "fresh", "restored idle 1000: true", "idle"]);
    // Every replica runs a script: one that could write what IDLETIME says
    // is refused (Redis, replicating a script's effects, answers).
    let mut c = ours.client();
    let r: redis::RedisResult<i64> = q(&mut c, &["EVAL", "return redis.call('OBJECT', 'IDLETIME', KEYS[1])", "1", "k"]);
    assert!(r.unwrap_err().to_string().contains("not served inside MULTI or a script"));
}

/// CONFIG SET timeout against redis-server: an idle client is closed after
/// that many seconds, but not one subscribed, blocked in BLPOP, or
/// MONITORing, which go on being served; the setting reads back, and bad
/// values get Redis' errors (tcp-keepalive's too).
#[test]
fn idle_clients_are_closed_after_timeout_as_redis_does() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |port: u16, connect: &dyn Fn() -> redis::Connection| -> Vec<String> {
        let mut out = Vec::new();
        let mut admin = connect();
        for key in ["timeout", "tcp-keepalive"] {
            for bad in ["-1", "x", "2147483648"] {
                let r: redis::RedisResult<()> = q(&mut admin, &["CONFIG", "SET", key, bad]);
                out.push(r.unwrap_err().to_string());
            }
        }
        let keepalive: Vec<String> = q(&mut admin, &["CONFIG", "GET", "tcp-keepalive"]).unwrap();
        out.push(keepalive.join(" "));
        let _: () = q(&mut admin, &["CONFIG", "SET", "timeout", "1"]).unwrap();
        let got: Vec<String> = q(&mut admin, &["CONFIG", "GET", "timeout"]).unwrap();
        out.push(got.join(" "));
        let mut idle = Raw::connect(port);
        idle.send(b"PING\r\n").unwrap();
        out.push(idle.line());
        let mut sub = Raw::connect(port);
        sub.send(b"SUBSCRIBE ch\r\n").unwrap();
        out.push(String::from_utf8_lossy(&sub.read_until(|b| b.ends_with(b":1\r\n"))).into_owned());
        let mut blocked = Raw::connect(port);
        blocked.send(b"BLPOP q 0\r\n").unwrap();
        let mut mon = Raw::connect(port);
        mon.send(b"MONITOR\r\n").unwrap();
        out.push(mon.line());
        out.push(format!("idle closed: {}", idle.closed()));
        // (The admin connection was idle as long.)
        let mut admin = connect();
        let _: () = q(&mut admin, &["CONFIG", "SET", "timeout", "0"]).unwrap();
        let _: i64 = q(&mut admin, &["RPUSH", "q", "x"]).unwrap();
        out.push(String::from_utf8_lossy(&blocked.read_until(|b| b.ends_with(b"x\r\n"))).into_owned());
        sub.send(b"PING\r\n").unwrap();
        out.push(String::from_utf8_lossy(&sub.read_until(|b| b.ends_with(b"$0\r\n\r\n"))).into_owned());
        let line = mon.read_until(|b| b.ends_with(b"\r\n") && String::from_utf8_lossy(b).contains("RPUSH"));
        out.push(format!("monitor saw RPUSH: {}", String::from_utf8_lossy(&line).contains("\"RPUSH\" \"q\" \"x\"")));
        out
    };
    let want = run(redis.port, &|| redis.client());
    assert_eq!(run(ours.port, &|| ours.client()), want);
    assert!(want.contains(&"idle closed: true".to_string()), "{want:?}");
}

/// MONITOR against redis-server: the same lines (arguments quoted and
/// escaped as Redis does, passwords hidden) for the commands that run,
/// none for refused ones or admin commands (CONFIG). Times and addresses
/// differ.
#[test]
fn monitor_shows_commands_as_redis_does() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |port: u16, mut c: redis::Connection| -> Vec<String> {
        let mut mon = Raw::connect(port);
        mon.send(b"MONITOR\r\n").unwrap();
        assert_eq!(mon.read_until(|b| b.ends_with(b"\r\n")), b"+OK\r\n");
        let steps: Vec<Vec<&[u8]>> = vec![
            vec![b"SET", b"k", b"v"],
            vec![b"GET", b"k"],
            vec![b"SET", b"a b", b"\x01\"\\\n\xff"],
            vec![b"AUTH", b"secret"],
            vec![b"CONFIG", b"SET", b"maxclients", b"100"],
            vec![b"NOSUCHCOMMAND", b"x"],
            vec![b"GET"],
            vec![b"LPUSH", b"l", b"a", b"b"],
            vec![b"EVAL", b"return 1", b"0"],
            // A script's commands follow it (refused ones do not).
            vec![b"EVAL", b"redis.call('SET', 'b', 2) redis.pcall('NOSUCH') return redis.call('GET', 'b')", b"0"],
            // Scripts run again in a fresh state here (a metatable, the
            // collector, a kept state's memory budget) show their commands
            // once.
            vec![b"EVAL", b"redis.call('INCR', 'r') setmetatable({}, {}) return redis.call('GET', 'r')", b"0"],
            vec![b"EVAL", b"redis.call('INCR', 'r') collectgarbage('count') return redis.call('GET', 'r')", b"0"],
            vec![
                b"EVAL",
                b"redis.call('INCR', 'r') local s = string.rep('x', 12000000) return redis.call('GET', 'r')",
                b"0",
            ],
            vec![
                b"FUNCTION",
                b"LOAD",
                b"#!lua name=m\nredis.register_function('mf', function(k) return redis.call('INCR', k[1]) end)",
            ],
            vec![b"FCALL", b"mf", b"1", b"c"],
            // A transaction's commands show when EXEC runs them, before
            // EXEC (not an administrative one); none of an aborted one.
            vec![b"MULTI"],
            vec![b"SET", b"t", b"1"],
            vec![b"INCR", b"t"],
            vec![b"CONFIG", b"SET", b"maxclients", b"100"],
            vec![b"SET", b"t", b"1", b"BOGUS"],
            vec![b"EXEC"],
            vec![b"MULTI"],
            vec![b"INCR", b"t"],
            vec![b"DISCARD"],
            vec![b"MULTI"],
            vec![b"INCR", b"t"],
            vec![b"GET"],
            vec![b"EXEC"],
            vec![b"HELLO", b"2", b"AUTH", b"default", b"pw"],
            vec![b"PING", b"last"],
        ];
        for s in &steps {
            let mut cmd = redis::cmd(std::str::from_utf8(s[0]).unwrap());
            for a in &s[1..] {
                cmd.arg(*a);
            }
            let _: redis::RedisResult<redis::Value> = cmd.query(&mut c);
        }
        let mut lines = Vec::new();
        loop {
            let l = String::from_utf8_lossy(&mon.read_until(|b| b.ends_with(b"\r\n"))).into_owned();
            // "+<time> [0 <address>] ..." -> "...".
            let (_, rest) = l.split_once("] ").unwrap_or_else(|| panic!("a monitor line: {l:?}"));
            lines.push(rest.to_string());
            if rest.starts_with("\"PING\"") {
                return lines;
            }
        }
    };
    let theirs = run(redis.port, redis.client());
    let mine = run(ours.port, ours.client());
    assert!(theirs.len() >= 7, "{theirs:?}");
    assert_eq!(mine, theirs);
}

/// INFO commandstats and errorstats against redis-server after the same
/// commands: calls, calls refused before running (arity), calls that
/// answered an error, per command and container subcommand, inside
/// transactions too; error replies by code. (Times differ; latencystats
/// has a line per command that ran.)
#[test]
fn command_and_error_stats_match_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |mut c: redis::Connection| -> (Vec<String>, Vec<String>, usize) {
        let _: () = q(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
        let steps: &[&[&str]] = &[
            &["SET", "k", "v"],
            &["GET", "k"],
            &["GET", "k"],
            &["GET"],
            &["LPUSH", "k", "x"],
            &["NOSUCHCOMMAND"],
            &["CONFIG", "GET", "maxclients"],
            &["CONFIG", "NOPE"],
            &["XADD", "s", "1-1", "f", "v"],
            &["XADD", "s", "1-1", "f", "v"],
            &["INCR", "k"],
            &["HSET", "h", "f"],
            &["OBJECT", "ENCODING", "k"],
            &["PING"],
            // A transaction's commands count one by one; an aborted one's
            // do not run.
            &["MULTI"],
            &["SET", "t", "1"],
            &["INCR", "k"],
            &["GET", "t"],
            &["EXEC"],
            &["WATCH", "t"],
            &["SET", "t", "2"],
            &["MULTI"],
            &["GET", "t"],
            &["EXEC"],
            &["MULTI"],
            &["SET", "t", "3"],
            &["DISCARD"],
        ];
        for s in steps {
            let _ = q::<redis::Value>(&mut c, s);
        }
        let stats = |section: &str, c: &mut redis::Connection| -> Vec<String> {
            let text: String = q(c, &["INFO", section]).unwrap();
            text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(String::from).collect()
        };
        // cmdstat_<name>:calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=..
        let mut commands: Vec<String> = stats("commandstats", &mut c)
            .into_iter()
            .map(|l| {
                let (name, fields) = l.split_once(':').unwrap();
                let kept: Vec<&str> = fields.split(',').filter(|f| !f.starts_with("usec")).collect();
                format!("{name}:{}", kept.join(","))
            })
            .collect();
        // (Redis lists them in its hash table's order.)
        commands.sort();
        let errors = stats("errorstats", &mut c);
        let latencies = stats("latencystats", &mut c).len();
        (commands, errors, latencies)
    };
    let theirs = run(redis.client());
    let mine = run(ours.client());
    assert!(theirs.0.len() >= 8 && theirs.1.len() >= 2, "{theirs:?}");
    assert_eq!(mine, theirs);
}

/// LATENCY HISTOGRAM as Redis 7 answers it: per command (a container's
/// name stands for its subcommands, unknown names are left out) its calls
/// and cumulative counts in Redis' buckets (1 us, 2, 4, 8, 16, 33, 66, ...:
/// the highest latency each bucket of Redis' histogram counts). Latencies
/// differ between the servers; the names, the calls and the shape may not.
#[test]
fn latency_histogram_matches_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    // Redis' bucket names: 2^k ns (from 1024) plus the bucket's width
    // (2^k / 128) less one, in us.
    let labels: Vec<i64> = (10..31).map(|k| ((1i64 << k) + (1i64 << (k - 7)) - 1) / 1000).collect();
    let mut seen = Vec::new();
    for mut c in [redis.client(), ours.client()] {
        let _: () = q(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
        for _ in 0..3 {
            let _: () = q(&mut c, &["SET", "a", "1"]).unwrap();
        }
        for _ in 0..2 {
            let _: String = q(&mut c, &["GET", "a"]).unwrap();
        }
        let _: Vec<String> = q(&mut c, &["CONFIG", "GET", "maxmemory"]).unwrap();
        let v: Vec<redis::Value> = q(&mut c, &["LATENCY", "HISTOGRAM", "set", "GET", "config", "nosuch"]).unwrap();
        let mut calls = Vec::new();
        for pair in v.chunks(2) {
            let name: String = redis::from_redis_value(&pair[0]).unwrap();
            let fields: Vec<redis::Value> = redis::from_redis_value(&pair[1]).unwrap();
            let n: i64 = redis::from_redis_value(&fields[1]).unwrap();
            let buckets: Vec<i64> = redis::from_redis_value(&fields[3]).unwrap();
            let (names, counts): (Vec<i64>, Vec<i64>) = buckets.chunks(2).map(|b| (b[0], b[1])).unzip();
            assert!(names.iter().all(|l| labels.contains(l)), "{name}: {names:?} are not Redis' buckets");
            assert!(names.windows(2).all(|w| w[0] < w[1]) && counts.windows(2).all(|w| w[0] < w[1]), "{buckets:?}");
            assert_eq!(counts.last(), Some(&n), "{name}: {buckets:?}");
            calls.push((name, n));
        }
        calls.sort();
        let all: Vec<redis::Value> = q(&mut c, &["LATENCY", "HISTOGRAM"]).unwrap();
        let all: Vec<String> = all.iter().step_by(2).map(|n| redis::from_redis_value(n).unwrap()).collect();
        for (name, _) in &calls {
            assert!(all.contains(name), "{name} missing from {all:?}");
        }
        seen.push(calls);
    }
    // (CONFIG RESETSTAT counts itself, after the reset.)
    let expected = [("config|get", 1), ("config|resetstat", 1), ("get", 2), ("set", 3)];
    assert_eq!(seen[0], expected.map(|(n, c)| (n.to_string(), c)).to_vec());
    assert_eq!(seen[0], seen[1]);
}

/// CLIENT PAUSE WRITE holds every client's writes (a SET, a transaction
/// that writes, a script that may write) until CLIENT UNPAUSE, while reads,
/// read-only transactions and `no-writes` scripts go on; the held commands
/// then run in their connection's order. CLIENT PAUSE ALL holds everything
/// until it ends. Both as redis-server does.
#[test]
fn client_pause_holds_writes_until_unpaused_as_redis_does() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    type Connect<'a> = Box<dyn Fn() -> redis::Connection + 'a>;
    let servers: [(&str, Connect); 2] =
        [("redis-server", Box::new(|| redis.client())), ("kvnode", Box::new(|| ours.client()))];
    for (who, connect) in &servers {
        let (mut admin, mut reader) = (connect(), connect());
        // A read held by mistake fails the test rather than hang it.
        for con in [&admin, &reader] {
            con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        }
        let _: () = redis::cmd("SET").arg("k").arg("before").query(&mut reader).unwrap();
        let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(600_000).arg("WRITE").query(&mut admin).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let writers: Vec<_> = [
            vec![vec!["SET", "k", "after"], vec!["GET", "k"]],
            vec![vec!["MULTI"], vec!["INCR", "n"], vec!["EXEC"]],
            vec![vec!["EVAL", "return redis.call('INCR', KEYS[1])", "1", "n"]],
        ]
        .into_iter()
        .enumerate()
        .map(|(i, cmds)| {
            let (mut con, tx) = (connect(), tx.clone());
            std::thread::spawn(move || {
                let replies: Vec<redis::Value> = cmds
                    .iter()
                    .map(|c| {
                        let mut cmd = redis::cmd(c[0]);
                        cmd.arg(&c[1..]);
                        cmd.query(&mut con).unwrap()
                    })
                    .collect();
                tx.send((i, replies.last().cloned().unwrap())).unwrap();
            })
        })
        .collect();
        // Reads go on meanwhile and see the values from before.
        for _ in 0..20 {
            let v: String = redis::cmd("GET").arg("k").query(&mut reader).unwrap();
            assert_eq!(v, "before", "{who}");
            let v: Vec<String> = redis::pipe().atomic().cmd("GET").arg("k").query(&mut reader).unwrap();
            assert_eq!(v, vec!["before"], "{who}");
            let script = "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])";
            let v: String = redis::cmd("EVAL").arg(script).arg(1).arg("k").query(&mut reader).unwrap();
            assert_eq!(v, "before", "{who}");
        }
        assert!(rx.try_recv().is_err(), "{who}: a write ran during the pause");
        let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(&mut admin).unwrap();
        let mut done: Vec<(usize, redis::Value)> =
            (0..3).map(|_| rx.recv_timeout(Duration::from_secs(20)).unwrap()).collect();
        done.sort_by_key(|(i, _)| *i);
        // The SET's connection then read its own write.
        assert_eq!(done[0].1, redis::Value::BulkString(b"after".to_vec()), "{who}");
        for w in writers {
            w.join().unwrap();
        }
        let n: i64 = redis::cmd("GET").arg("n").query(&mut reader).unwrap();
        assert_eq!(n, 2, "{who}");
        // ALL holds a read too, until the pause ends by itself.
        let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(300).arg("ALL").query(&mut admin).unwrap();
        let v: String = redis::cmd("GET").arg("k").query(&mut reader).unwrap();
        assert_eq!(v, "after", "{who}");
    }
}

/// CLIENT REPLY OFF|ON|SKIP against redis-server: the same bytes come back
/// for the same pipeline (nothing while off, the skipped command's reply
/// dropped, errors of a bad mode answered).
#[test]
fn client_reply_modes_match_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |port: u16| -> Vec<u8> {
        let mut c = Raw::connect(port);
        c.send(
            b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nGET nope\r\nCLIENT REPLY ON\r\nGET a\r\n\
              CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\nCLIENT REPLY bogus\r\nPING\r\n",
        )
        .unwrap();
        c.read_until(|b| b.ends_with(b"+PONG\r\n"))
    };
    let theirs = run(redis.port);
    assert_eq!(theirs, b"+OK\r\n$1\r\n1\r\n$1\r\n2\r\n-ERR syntax error\r\n+PONG\r\n");
    assert_eq!(String::from_utf8_lossy(&run(ours.port)), String::from_utf8_lossy(&theirs));
}

/// The id of the client on `con` (CLIENT ID), as text.
fn client_id(con: &mut Raw) -> String {
    con.send(b"CLIENT ID\r\n").unwrap();
    let reply = con.read_until(|b| b.ends_with(b"\r\n"));
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).to_string()
}

/// CLIENT UNBLOCK against redis-server: a client blocked in BLPOP, BZPOPMIN
/// or XREAD ends as if timed out (or with UNBLOCKED's error), the same bytes
/// come back, the connection serves on, and a client not blocked answers 0.
#[test]
fn client_unblock_ends_a_blocked_command_as_redis_does() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |port: u16, mut admin: redis::Connection| -> Vec<u8> {
        let mut blocked = Raw::connect(port);
        let id = client_id(&mut blocked);
        let mut out = Vec::new();
        let unblock = |admin: &mut redis::Connection, how: &[&str]| -> i64 {
            redis::cmd("CLIENT").arg("UNBLOCK").arg(&id).arg(how).query(admin).unwrap()
        };
        // Not blocked: nothing to end.
        out.extend(format!("{}\n", unblock(&mut admin, &[])).bytes());
        for (cmd, how) in [
            ("BLPOP nolist 0", "TIMEOUT"),
            ("BZPOPMIN nozset 0", "ERROR"),
            ("XREAD BLOCK 0 STREAMS nostream $", "TIMEOUT"),
            ("BLMOVE nolist other LEFT RIGHT 0", ""),
        ] {
            blocked.send(format!("{cmd}\r\n").as_bytes()).unwrap();
            wait_until(Duration::from_secs(20), "the client to block", || {
                let info: String = redis::cmd("INFO").arg("clients").query(&mut admin).unwrap();
                info.contains("blocked_clients:1")
            });
            // CLIENT LIST shows it blocked.
            let list: String = redis::cmd("CLIENT").arg("LIST").arg("ID").arg(&id).query(&mut admin).unwrap();
            let flags = list.split(' ').find(|f| f.starts_with("flags=")).unwrap_or("none").to_string();
            out.extend(format!("{flags}\n").bytes());
            let how: Vec<&str> = [how].into_iter().filter(|h| !h.is_empty()).collect();
            out.extend(format!("{}\n", unblock(&mut admin, &how)).bytes());
            out.extend(blocked.read_until(|b| b.ends_with(b"\r\n")));
            // The connection serves on.
            blocked.send(b"PING\r\n").unwrap();
            out.extend(blocked.read_until(|b| b.ends_with(b"+PONG\r\n")));
        }
        wait_until(Duration::from_secs(20), "no client to be blocked", || {
            let info: String = redis::cmd("INFO").arg("clients").query(&mut admin).unwrap();
            info.contains("blocked_clients:0")
        });
        for bad in [&["UNBLOCK", "x"][..], &["UNBLOCK", &id, "BOGUS"], &["UNBLOCK", &id, "ERROR", "x"]] {
            let e = redis::cmd("CLIENT").arg(bad).query::<i64>(&mut admin).unwrap_err();
            out.extend(format!("{e}\n").bytes());
        }
        out
    };
    let theirs = run(redis.port, redis.client());
    let text = String::from_utf8_lossy(&theirs);
    assert!(
        text.starts_with(
            "0\nflags=b\n1\n*-1\r\n+PONG\r\nflags=b\n1\n-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        ),
        "{text}"
    );
    assert_eq!(String::from_utf8_lossy(&run(ours.port, ours.client())), text);
}

/// CLIENT UNBLOCK ends a blocked pop only while it waits: a pop already
/// under way when the unblock comes (a push woke it) runs to its end and
/// answers with the element, so nothing popped is lost. The push and the
/// unblock go out back to back, many times over; every element pushed is
/// either in a BLPOP's reply or still in the list.
#[test]
fn an_unblocked_pop_loses_no_element() {
    let ours = KvNode::with_partitions(1);
    let mut admin = ours.client();
    let mut blocked = Raw::connect(ours.port);
    let id = client_id(&mut blocked);
    let (mut popped, mut left) = (0, 0);
    for i in 0..200 {
        // A list of its own each time: an element left behind would end
        // the next BLPOP at once.
        let list = format!("q{i}");
        blocked.send(format!("BLPOP {list} 0\r\n").as_bytes()).unwrap();
        wait_until(Duration::from_secs(20), "the client to block", || {
            let info: String = redis::cmd("INFO").arg("clients").query(&mut admin).unwrap();
            info.contains("blocked_clients:1")
        });
        // The push wakes the pop, which then pops through raft; the unblock
        // follows as soon as the push is answered, mostly while it does.
        let _: i64 = redis::cmd("RPUSH").arg(&list).arg("x").query(&mut admin).unwrap();
        let _: i64 = redis::cmd("CLIENT").arg("UNBLOCK").arg(&id).query(&mut admin).unwrap();
        let reply = blocked.read_until(|b| b == b"*-1\r\n" || b.ends_with(b"$1\r\nx\r\n"));
        popped += (reply != b"*-1\r\n") as i64;
        let n: i64 = redis::cmd("LLEN").arg(&list).query(&mut admin).unwrap();
        left += n;
    }
    assert_eq!(popped + left, 200, "{popped} popped, {left} left of 200 pushed");
}
