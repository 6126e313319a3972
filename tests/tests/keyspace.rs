//! TTL, SCAN, transactions and the rules for commands whose keys span
//! partitions, on 1 and 8 partitions.

use kvtests::harness::{q, wait_until, KvNode};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The error's code and text (the redis crate spells some codes as kinds).
fn err_text(r: redis::RedisResult<redis::Value>) -> String {
    match r {
        Err(e) => format!("{} {} {e}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn expired_keys_are_invisible_and_removed_in_the_background() {
    for partitions in [1, 8] {
        let node = KvNode::with_partitions(partitions);
        let mut c = node.client();
        let mut p = redis::pipe();
        for i in 0..1000 {
            p.cmd("SET").arg(format!("e{i}")).arg(i).arg("PX").arg(150);
        }
        p.cmd("SET").arg("keep").arg(1);
        let _: () = p.query(&mut c).unwrap();
        // Invisible once the time passed, whatever the background did yet
        // (e999 was written last, so it expires last).
        wait_until(Duration::from_secs(10), "e999 to expire", || {
            q::<Option<i64>>(&mut c, &["GET", "e999"]).unwrap().is_none()
        });
        assert_eq!(q::<i64>(&mut c, &["EXISTS", "e0", "e1"]).unwrap(), 0);
        assert_eq!(q::<i64>(&mut c, &["TTL", "e2"]).unwrap(), -2);
        let keys: Vec<String> = q(&mut c, &["KEYS", "e*"]).unwrap();
        assert!(keys.is_empty(), "{keys:?}");
        // Removed without being touched: the active expiry works off the index.
        wait_until(Duration::from_secs(30), "active expiry", || q::<i64>(&mut c, &["DBSIZE"]).unwrap() == 1);
        let info: String = q(&mut c, &["INFO", "stats"]).unwrap();
        assert!(!info.contains("expired_keys:0\r\n"), "{info}");
        // More waves: each search for due keys begins in the slot where the
        // last one stopped, so these find keys on both sides of it.
        for (wave, n) in [(1, 700), (2, 1300)] {
            let mut p = redis::pipe();
            for i in 0..n {
                p.cmd("SET").arg(format!("w{wave}:{i}")).arg(i).arg("PX").arg(100);
            }
            let _: () = p.query(&mut c).unwrap();
            wait_until(Duration::from_secs(30), "active expiry of a wave", || {
                q::<i64>(&mut c, &["DBSIZE"]).unwrap() == 1
            });
        }
        let info: String = q(&mut c, &["INFO", "stats"]).unwrap();
        assert!(info.contains("expired_keys:3000\r\n"), "{info}");
    }
}

#[test]
fn scan_returns_every_key_present_for_the_whole_scan() {
    for partitions in [1, 8] {
        let node = KvNode::with_partitions(partitions);
        let mut c = node.client();
        let mut p = redis::pipe();
        for i in 0..2000 {
            p.cmd("SET").arg(format!("stable:{i}")).arg(i);
        }
        let _: () = p.query(&mut c).unwrap();
        // Other keys come and go while we scan.
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let (stop, port) = (stop.clone(), node.port);
            std::thread::spawn(move || {
                let mut c =
                    redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let _: () = redis::cmd("SET").arg(format!("churn:{i}")).arg(i).query(&mut c).unwrap();
                    if i >= 10 {
                        let _: () = redis::cmd("DEL").arg(format!("churn:{}", i - 10)).query(&mut c).unwrap();
                    }
                    i += 1;
                }
            })
        };
        let mut seen = HashSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let (next, keys): (String, Vec<String>) = q(&mut c, &["SCAN", &cursor, "COUNT", "7"]).unwrap();
            seen.extend(keys);
            calls += 1;
            cursor = next;
            if cursor == "0" {
                break;
            }
            assert!(calls < 10_000, "SCAN does not end");
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
        for i in 0..2000 {
            assert!(seen.contains(&format!("stable:{i}")), "stable:{i} never returned ({partitions} partitions)");
        }
        // MATCH and TYPE filter; the cursor is a plain decimal any client can send back.
        let (_, keys): (String, Vec<String>) =
            q(&mut c, &["SCAN", "0", "MATCH", "stable:1?", "COUNT", "100000"]).unwrap();
        assert_eq!(keys.len(), 10, "{keys:?}");
        let (_, keys): (String, Vec<String>) = q(&mut c, &["SCAN", "0", "TYPE", "hash", "COUNT", "100000"]).unwrap();
        assert!(keys.is_empty());
    }
}

#[test]
fn watch_aborts_exec_when_the_key_changes_or_expires() {
    for partitions in [1, 8] {
        let node = KvNode::with_partitions(partitions);
        let mut a = node.client();
        let mut b = node.client();
        // Unchanged: EXEC runs.
        let _: () = q(&mut a, &["SET", "w", "1"]).unwrap();
        let _: () = q(&mut a, &["WATCH", "w"]).unwrap();
        let _: () = q(&mut a, &["MULTI"]).unwrap();
        let _: () = q(&mut a, &["INCR", "w"]).unwrap();
        let r: Option<Vec<i64>> = q(&mut a, &["EXEC"]).unwrap();
        assert_eq!(r, Some(vec![2]));
        // Changed by another client: nil.
        let _: () = q(&mut a, &["WATCH", "w"]).unwrap();
        let _: () = q(&mut b, &["SET", "w", "10"]).unwrap();
        let _: () = q(&mut a, &["MULTI"]).unwrap();
        let _: () = q(&mut a, &["INCR", "w"]).unwrap();
        let r: Option<Vec<i64>> = q(&mut a, &["EXEC"]).unwrap();
        assert_eq!(r, None);
        assert_eq!(q::<i64>(&mut a, &["GET", "w"]).unwrap(), 10);
        // A missing key created and deleted meanwhile: nil.
        let _: () = q(&mut a, &["WATCH", "ghost"]).unwrap();
        let _: () = q(&mut b, &["SET", "ghost", "1"]).unwrap();
        let _: () = q(&mut b, &["DEL", "ghost"]).unwrap();
        let _: () = q(&mut a, &["MULTI"]).unwrap();
        let _: () = q(&mut a, &["SET", "ghost", "mine"]).unwrap();
        assert_eq!(q::<Option<Vec<String>>>(&mut a, &["EXEC"]).unwrap(), None);
        // Expired after WATCH: nil.
        let _: () = q(&mut a, &["SET", "short", "1", "PX", "100"]).unwrap();
        let _: () = q(&mut a, &["WATCH", "short"]).unwrap();
        wait_until(Duration::from_secs(10), "short to expire", || {
            q::<Option<String>>(&mut b, &["GET", "short"]).unwrap().is_none()
        });
        let _: () = q(&mut a, &["MULTI"]).unwrap();
        let _: () = q(&mut a, &["SET", "short", "2"]).unwrap();
        assert_eq!(q::<Option<Vec<String>>>(&mut a, &["EXEC"]).unwrap(), None);
        // UNWATCH forgets.
        let _: () = q(&mut a, &["WATCH", "w"]).unwrap();
        let _: () = q(&mut b, &["SET", "w", "11"]).unwrap();
        let _: () = q(&mut a, &["UNWATCH"]).unwrap();
        let _: () = q(&mut a, &["MULTI"]).unwrap();
        let _: () = q(&mut a, &["INCR", "w"]).unwrap();
        assert_eq!(q::<Option<Vec<i64>>>(&mut a, &["EXEC"]).unwrap(), Some(vec![12]));
    }
}

#[test]
fn transactions_are_atomic_under_concurrency() {
    for partitions in [1, 8] {
        let node = KvNode::with_partitions(partitions);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (stop, port) = (stop.clone(), node.port);
                std::thread::spawn(move || {
                    let mut c =
                        redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) && n < 300 {
                        let (x, y): (i64, i64) =
                            redis::pipe().atomic().incr("{acct}a", 1).incr("{acct}b", 1).query(&mut c).unwrap();
                        assert!(x > 0 && y > 0);
                        n += 1;
                    }
                })
            })
            .collect();
        let mut c = node.client();
        for _ in 0..300 {
            let v: Vec<Option<i64>> = q(&mut c, &["MGET", "{acct}a", "{acct}b"]).unwrap();
            assert_eq!(v[0], v[1], "a transaction was seen half applied");
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        let v: Vec<i64> = q(&mut c, &["MGET", "{acct}a", "{acct}b"]).unwrap();
        assert_eq!(v[0], v[1]);
    }
}

#[test]
fn keys_of_several_partitions() {
    let node = KvNode::with_partitions(8);
    let mut c = node.client();
    // "a" and "b" hash to different partitions of 8.
    assert!(err_text(q(&mut c, &["MSET", "a", "1", "b", "2"])).contains("CROSSSLOT"));
    assert!(err_text(q(&mut c, &["RENAME", "a", "b"])).contains("CROSSSLOT"));
    let _: () = q(&mut c, &["SET", "a", "1"]).unwrap();
    let _: () = q(&mut c, &["SET", "b", "2"]).unwrap();
    assert!(err_text(q(&mut c, &["DEL", "a", "b"])).contains("CROSSSLOT"));
    // Reads are answered key by key.
    let v: Vec<Option<i64>> = q(&mut c, &["MGET", "a", "b", "nope"]).unwrap();
    assert_eq!(v, vec![Some(1), Some(2), None]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a", "b", "nope", "a"]).unwrap(), 3);
    // Hash tags keep keys together.
    let _: () = q(&mut c, &["MSET", "{u}a", "1", "{u}b", "2"]).unwrap();
    let _: () = q(&mut c, &["RENAME", "{u}a", "{u}c"]).unwrap();
    // A transaction that would span partitions: CROSSSLOT when queued, EXECABORT.
    let _: () = q(&mut c, &["MULTI"]).unwrap();
    let _: String = q(&mut c, &["SET", "a", "10"]).unwrap();
    assert!(err_text(q(&mut c, &["SET", "b", "20"])).contains("CROSSSLOT"));
    assert!(err_text(q(&mut c, &["EXEC"])).contains("EXECABORT"));
    assert_eq!(q::<i64>(&mut c, &["GET", "a"]).unwrap(), 1);
    // So does a WATCH.
    let _: () = q(&mut c, &["WATCH", "a"]).unwrap();
    assert!(err_text(q(&mut c, &["WATCH", "b"])).contains("CROSSSLOT"));
    let _: () = q(&mut c, &["UNWATCH"]).unwrap();
    // Keyless commands act on every partition.
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]).unwrap(), 4);
    let mut keys: Vec<String> = q(&mut c, &["KEYS", "*"]).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["a", "b", "{u}b", "{u}c"]);
    let r: Option<String> = q(&mut c, &["RANDOMKEY"]).unwrap();
    assert!(r.is_some());
    let _: () = q(&mut c, &["FLUSHALL"]).unwrap();
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]).unwrap(), 0);
    assert_eq!(q::<Option<String>>(&mut c, &["RANDOMKEY"]).unwrap(), None);
}

#[test]
fn redis_cli_tour() {
    let node = KvNode::with_partitions(1);
    let cli = |args: &[&str]| -> String {
        let out = std::process::Command::new("redis-cli")
            .arg("-p")
            .arg(node.port.to_string())
            .args(args)
            .output()
            .expect("redis-cli (apt-get install -y redis-tools)");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["PING"]), "PONG");
    assert_eq!(cli(&["SET", "greeting", "hello world"]), "OK");
    assert_eq!(cli(&["GET", "greeting"]), "hello world");
    assert_eq!(cli(&["INCRBYFLOAT", "x", "1.1"]), "1.1");
    assert_eq!(cli(&["INCRBYFLOAT", "x", "2.2"]), "3.3");
    assert_eq!(cli(&["EXPIRE", "greeting", "100"]), "1");
    assert_eq!(cli(&["TTL", "greeting"]), "100");
    assert_eq!(cli(&["-3", "HELLO", "3"]).lines().next().unwrap(), "server redis");
    assert_eq!(cli(&["DBSIZE"]), "2");
    // redis-cli's own way of loading data.
    let mut child = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(node.port.to_string())
        .arg("--pipe")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..1000 {
            write!(stdin, "*3\r\n$3\r\nSET\r\n${}\r\npipe{i}\r\n$1\r\nv\r\n", format!("pipe{i}").len()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 1000"), "{text}");
    assert_eq!(cli(&["DBSIZE"]), "1002");
}

/// MIGRATE removes a key it moved only if nothing changed it meanwhile
/// (other clients go on writing while it waits for the target): a key
/// written after its dump stays, and MIGRATE says so. The target here is a
/// stand-in that holds its replies until the key was changed.
#[test]
fn migrate_keeps_a_key_that_changed_while_it_moved() {
    use std::io::{Read, Write};
    let node = KvNode::with_partitions(1);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "moving", "old"]).unwrap();
    let _: () = q(&mut c, &["SET", "steady", "v"]).unwrap();
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port();
    let (got_request, changed) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let (tell, proceed) = (got_request.0, changed.1);
    let stand_in = std::thread::spawn(move || {
        let (mut s, _) = target.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut seen = Vec::new();
        // SELECT and two RESTOREs: wait for the second key's name.
        while !seen.windows(6).any(|w| w == b"steady") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "MIGRATE closed the connection early");
            seen.extend_from_slice(&buf[..n]);
        }
        tell.send(()).unwrap();
        proceed.recv().unwrap();
        s.write_all(b"+OK\r\n+OK\r\n+OK\r\n").unwrap();
    });
    let port_s = port.to_string();
    let migrating = std::thread::spawn({
        let url = format!("redis://127.0.0.1:{}/", node.port);
        move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            q::<String>(&mut c, &["MIGRATE", "127.0.0.1", &port_s, "", "0", "10000", "KEYS", "moving", "steady"])
        }
    });
    got_request.1.recv().unwrap();
    let _: () = q(&mut c, &["SET", "moving", "new"]).unwrap();
    changed.0.send(()).unwrap();
    let e = migrating.join().unwrap().unwrap_err();
    assert!(e.to_string().contains("changed here meanwhile") && e.to_string().contains("moving"), "{e}");
    stand_in.join().unwrap();
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "moving"]).unwrap().as_deref(), Some("new"));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "steady"]).unwrap(), 0, "the unchanged key moved");
}

/// A long string (kept in chunks) read while it is rewritten again and
/// again: every GET, GETRANGE across chunks and STRLEN sees one whole
/// write, never chunks of two.
#[test]
fn a_long_string_is_read_whole_while_it_is_rewritten() {
    let node = KvNode::with_partitions(1);
    let len = 200_000;
    let mut w = node.client();
    let _: () = q(&mut w, &["SET", "long", &"a".repeat(len)]).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = node.client();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(Ordering::Acquire) || reads < 50 {
                    let v: Vec<u8> = q(&mut c, &["GET", "long"]).unwrap();
                    assert_eq!(v.len(), len);
                    assert!(v.iter().all(|b| *b == v[0]), "a GET mixed two writes");
                    let r: Vec<u8> = q(&mut c, &["GETRANGE", "long", "10000", "60000"]).unwrap();
                    assert!(r.iter().all(|b| *b == r[0]), "a GETRANGE mixed two writes");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 0..300 {
        let fill = if i % 2 == 0 { "b" } else { "a" };
        let _: () = q(&mut w, &["SET", "long", &fill.repeat(len)]).unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().expect("reader") >= 50);
    }
}
