//! Connection and server commands: CLIENT, COMMAND, INFO, CONFIG, TIME,
//! SHUTDOWN and the ones answered as not supported; the limits of scripts.

use kvtests::harness::{q, wait_until, KvNode, Raw};
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
    for (cmd, word) in [(&["DEBUG", "SLEEP", "0"][..], "not supported"), (&["FUNCTION", "LOAD", "x"], "not supported")]
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
