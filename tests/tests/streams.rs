//! Streams beyond the differential tests: what depends on the clock or on
//! waiting (automatic IDs, XREAD and XREADGROUP with BLOCK), approximate
//! trimming, and persistence of entries, groups and pending entries.

use kvtests::harness::{blocked, q, wait_until, KvNode};
use redis::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn ms_of(id: &str) -> u64 {
    id.split_once('-').unwrap().0.parse().unwrap()
}

/// The IDs in an XRANGE-shaped reply.
fn ids(v: &Value) -> Vec<String> {
    let Value::Array(entries) = v else { panic!("not entries: {v:?}") };
    entries
        .iter()
        .map(|e| match e {
            Value::Array(parts) => match &parts[0] {
                Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("no ID: {other:?}"),
            },
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

/// The entries of the one stream in an XREAD / XREADGROUP reply (RESP2).
fn read_ids(v: &Value) -> Vec<String> {
    let Value::Array(streams) = v else { panic!("not an XREAD reply: {v:?}") };
    assert_eq!(streams.len(), 1, "{v:?}");
    let Value::Array(pair) = &streams[0] else { panic!("{v:?}") };
    ids(&pair[1])
}

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap()
}

#[test]
fn automatic_ids_follow_the_clock_and_never_go_back() {
    let node = KvNode::with_partitions(4);
    let mut c = node.client();
    let before = now_ms();
    let a: String = q(&mut c, &["XADD", "s", "*", "f", "1"]).unwrap();
    let b: String = q(&mut c, &["XADD", "s", "*", "f", "2"]).unwrap();
    let after = now_ms();
    assert!((before..=after).contains(&ms_of(&a)), "{a} not within [{before}, {after}]");
    let parse = |id: &str| -> (u64, u64) {
        let (m, s) = id.split_once('-').unwrap();
        (m.parse().unwrap(), s.parse().unwrap())
    };
    assert!(parse(&b) > parse(&a), "{b} after {a}");
    // An explicit ID from the future: `*` continues after it (the sequence
    // grows within its millisecond) rather than going back to the clock.
    let future = format!("{}-5", after + 3_600_000);
    let _: String = q(&mut c, &["XADD", "s", &future, "f", "3"]).unwrap();
    let next: String = q(&mut c, &["XADD", "s", "*", "f", "4"]).unwrap();
    assert_eq!(next, format!("{}-6", after + 3_600_000));
    // `<ms>-*` below the top item is refused; at it, the sequence grows.
    let e = q::<String>(&mut c, &["XADD", "s", "5-*", "f", "5"]).unwrap_err();
    assert!(e.to_string().contains("equal or smaller"), "{e}");
    let same: String = q(&mut c, &["XADD", "s", &format!("{}-*", after + 3_600_000), "f", "6"]).unwrap();
    assert_eq!(same, format!("{}-7", after + 3_600_000));
    // The last possible ID: nothing more can be added.
    let _: String = q(&mut c, &["XADD", "t", "18446744073709551615-18446744073709551615", "f", "1"]).unwrap();
    let e = q::<String>(&mut c, &["XADD", "t", "*", "f", "1"]).unwrap_err();
    assert!(e.to_string().contains("exhausted the last possible ID"), "{e}");
}

#[test]
fn approximate_trimming_removes_only_whole_nodes_of_100_entries() {
    let node = KvNode::with_partitions(1);
    let mut c = node.client();
    for i in 1..=50 {
        let _: String = q(&mut c, &["XADD", "s", "MAXLEN", "~", "10", &format!("{i}-1"), "f", "v"]).unwrap();
    }
    // All 50 in one node, which cannot go whole: nothing trimmed (as Redis).
    assert_eq!(q::<i64>(&mut c, &["XLEN", "s"]).unwrap(), 50);
    for i in 51..=250 {
        let _: String = q(&mut c, &["XADD", "s", &format!("{i}-1"), "f", "v"]).unwrap();
    }
    // LIMIT below a node's worth: nothing.
    let n: i64 = q(&mut c, &["XTRIM", "s", "MINID", "~", "200", "LIMIT", "7"]).unwrap();
    assert_eq!(n, 0);
    // Two full nodes go; the third would leave fewer than 10.
    let n: i64 = q(&mut c, &["XTRIM", "s", "MAXLEN", "~", "10"]).unwrap();
    assert_eq!(n, 200);
    let first = ids(&q::<Value>(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "1"]).unwrap());
    assert_eq!(first, vec!["201-1"]);
    // The last node goes whole once everything may.
    let n: i64 = q(&mut c, &["XTRIM", "s", "MAXLEN", "~", "0"]).unwrap();
    assert_eq!(n, 50);
}

#[test]
fn blocked_readers_get_what_is_added_after_they_block() {
    let node = KvNode::with_partitions(4);
    let mut c = node.client();
    // Nothing to read: a null reply once the time is up.
    let r: Value = q(&mut c, &["XREAD", "BLOCK", "100", "STREAMS", "s", "$"]).unwrap();
    assert_eq!(r, Value::Nil);
    let e = q::<Value>(&mut c, &["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"]).unwrap_err();
    assert!(e.to_string().contains("timeout is negative"), "{e}");
    let e = q::<Value>(&mut c, &["XREAD", "BLOCK", "0.5", "STREAMS", "s", "$"]).unwrap_err();
    assert!(e.to_string().contains("timeout is not an integer"), "{e}");

    // `$` is the last entry when the reader blocks: 1-1, there before, is
    // not returned; 2-1, added while it waits, is.
    let _: String = q(&mut c, &["XADD", "s", "1-1", "f", "old"]).unwrap();
    let port = node.port;
    let reader = std::thread::spawn(move || {
        let mut c = client(port);
        q::<Value>(&mut c, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]).unwrap()
    });
    wait_until(Duration::from_secs(10), "XREAD to block", || blocked(&mut c) == 1);
    let _: String = q(&mut c, &["XADD", "s", "2-1", "f", "new"]).unwrap();
    assert_eq!(read_ids(&reader.join().unwrap()), vec!["2-1"]);
    // An ID with entries after it answers at once.
    let r: Value = q(&mut c, &["XREAD", "BLOCK", "0", "STREAMS", "s", "0"]).unwrap();
    assert_eq!(read_ids(&r), vec!["1-1", "2-1"]);

    // A consumer blocked on new entries of a group gets the next one, and
    // it is then pending for that consumer.
    let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]).unwrap();
    let group_reader = std::thread::spawn(move || {
        let mut c = client(port);
        q::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">"]).unwrap()
    });
    wait_until(Duration::from_secs(10), "XREADGROUP to block", || blocked(&mut c) == 1);
    let _: String = q(&mut c, &["XADD", "s", "3-1", "f", "job"]).unwrap();
    assert_eq!(read_ids(&group_reader.join().unwrap()), vec!["3-1"]);
    let pending: Value = q(&mut c, &["XPENDING", "s", "g", "-", "+", "10"]).unwrap();
    let Value::Array(p) = pending else { panic!() };
    assert_eq!(p.len(), 1);
    let Value::Array(entry) = &p[0] else { panic!() };
    assert_eq!(entry[0], Value::BulkString(b"3-1".to_vec()));
    assert_eq!(entry[1], Value::BulkString(b"alice".to_vec()));
    assert_eq!(entry[3], Value::Int(1));
    // A blocked group read times out with a null reply.
    let r: Value = q(&mut c, &["XREADGROUP", "GROUP", "g", "bob", "BLOCK", "100", "STREAMS", "s", ">"]).unwrap();
    assert_eq!(r, Value::Nil);

    // A consumer whose group is destroyed while it waits is told so.
    let gone = std::thread::spawn(move || {
        let mut c = client(port);
        q::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "carol", "BLOCK", "0", "STREAMS", "s", ">"]).unwrap_err()
    });
    wait_until(Duration::from_secs(10), "XREADGROUP to block again", || blocked(&mut c) == 1);
    assert_eq!(q::<i64>(&mut c, &["XGROUP", "DESTROY", "s", "g"]).unwrap(), 1);
    let e = gone.join().unwrap();
    assert!(e.to_string().contains("the consumer group this client was blocked on no longer exists"), "{e}");

    // Inside MULTI, BLOCK does not block.
    let _: () = q(&mut c, &["MULTI"]).unwrap();
    let _: String = q(&mut c, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]).unwrap();
    let r: Vec<Value> = q(&mut c, &["EXEC"]).unwrap();
    assert_eq!(r, vec![Value::Nil]);
    assert_eq!(blocked(&mut c), 0);
}

#[test]
fn entries_groups_and_pending_entries_survive_sigkill() {
    let mut node = KvNode::with_partitions(4);
    let mut c = node.client();
    for i in 1..=5 {
        let _: String = q(&mut c, &["XADD", "s", &format!("{i}-0"), "n", &i.to_string()]).unwrap();
    }
    let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]).unwrap();
    let _: Value = q(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", "s", ">"]).unwrap();
    let _: i64 = q(&mut c, &["XACK", "s", "g", "2-0"]).unwrap();
    let _: i64 = q(&mut c, &["XDEL", "s", "5-0"]).unwrap();
    let before_range: Value = q(&mut c, &["XRANGE", "s", "-", "+"]).unwrap();
    let before_pending: Value = q(&mut c, &["XPENDING", "s", "g"]).unwrap();
    let before_groups: Value = q(&mut c, &["XINFO", "GROUPS", "s"]).unwrap();
    node.kill9();
    node.restart();
    let mut c = node.client();
    assert_eq!(q::<Value>(&mut c, &["XRANGE", "s", "-", "+"]).unwrap(), before_range);
    assert_eq!(q::<Value>(&mut c, &["XPENDING", "s", "g"]).unwrap(), before_pending);
    assert_eq!(q::<Value>(&mut c, &["XINFO", "GROUPS", "s"]).unwrap(), before_groups);
    assert_eq!(q::<String>(&mut c, &["TYPE", "s"]).unwrap(), "stream");
    // The group goes on where it was: 4-0 is next.
    let r: Value = q(&mut c, &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"]).unwrap();
    assert_eq!(read_ids(&r), vec!["4-0"]);
}
