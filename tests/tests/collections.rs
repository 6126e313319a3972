//! Hash, list, set and sorted-set behaviour beyond the differential tests:
//! persistence of every type across SIGKILL, blocking pops (timeout, wake-up
//! order, wake-up by another client's push), and the scripted edge cases.

use kvtests::harness::{blocked, q, wait_until, KvNode};
use std::time::Duration;

#[test]
fn every_type_survives_sigkill() {
    for partitions in [1, 8] {
        let mut node = KvNode::with_partitions(partitions);
        let mut c = node.client();
        let _: () = q(&mut c, &["HSET", "h", "f1", "v1", "f2", "v2"]).unwrap();
        let _: () = q(&mut c, &["RPUSH", "l", "a", "b", "c"]).unwrap();
        let _: () = q(&mut c, &["LPUSH", "l", "z"]).unwrap();
        let _: () = q(&mut c, &["SADD", "s", "x", "y", "1"]).unwrap();
        let _: () = q(&mut c, &["ZADD", "z", "1.5", "a", "-inf", "b", "3", "c"]).unwrap();
        let _: () = q(&mut c, &["EXPIRE", "z", "1000"]).unwrap();
        let _: () = q(&mut c, &["SADD", "gone", "1"]).unwrap();
        let _: () = q(&mut c, &["DEL", "gone"]).unwrap();
        // A long string (kept in chunks), changed in one chunk.
        let long: String = (0..100_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let _: () = q(&mut c, &["SET", "long", &long]).unwrap();
        let _: () = q(&mut c, &["SETRANGE", "long", "50000", "XYZ"]).unwrap();
        node.kill9();
        node.restart();
        let mut c = node.client();
        let h: Vec<String> = q(&mut c, &["HGETALL", "h"]).unwrap();
        assert_eq!(h, vec!["f1", "v1", "f2", "v2"]);
        let l: Vec<String> = q(&mut c, &["LRANGE", "l", "0", "-1"]).unwrap();
        assert_eq!(l, vec!["z", "a", "b", "c"]);
        let mut s: Vec<String> = q(&mut c, &["SMEMBERS", "s"]).unwrap();
        s.sort();
        assert_eq!(s, vec!["1", "x", "y"]);
        let z: Vec<String> = q(&mut c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]).unwrap();
        assert_eq!(z, vec!["b", "-inf", "a", "1.5", "c", "3"]);
        let ttl: i64 = q(&mut c, &["TTL", "z"]).unwrap();
        assert!(ttl > 900);
        assert_eq!(q::<i64>(&mut c, &["EXISTS", "gone"]).unwrap(), 0);
        let back: String = q(&mut c, &["GET", "long"]).unwrap();
        assert_eq!((back.len(), &back[..50_000], &back[50_000..50_003]), (100_000, &long[..50_000], "XYZ"));
        assert_eq!(&back[50_003..], &long[50_003..]);
        let types: Vec<String> =
            ["h", "l", "s", "z"].iter().map(|k| q::<String>(&mut c, &["TYPE", k]).unwrap()).collect();
        assert_eq!(types, vec!["hash", "list", "set", "zset"]);
    }
}

#[test]
fn blocking_pops_time_out_and_wake_in_arrival_order() {
    let node = KvNode::with_partitions(4);
    let mut c = node.client();
    // Timeout: nil (null array) once it passes.
    let r: redis::Value = q(&mut c, &["BLPOP", "nothing", "0.2"]).unwrap();
    assert_eq!(r, redis::Value::Nil);
    let r: redis::Value = q(&mut c, &["BZPOPMIN", "nothing", "0.1"]).unwrap();
    assert_eq!(r, redis::Value::Nil);
    // Bad timeouts.
    assert!(q::<redis::Value>(&mut c, &["BLPOP", "q", "-1"]).unwrap_err().to_string().contains("timeout is negative"));
    assert!(q::<redis::Value>(&mut c, &["BLPOP", "q", "x"]).unwrap_err().to_string().contains("not a float"));

    // Two clients block on the same list, in order.
    let spawn_blpop = |port: u16| {
        std::thread::spawn(move || {
            let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
            q::<Vec<String>>(&mut c, &["BLPOP", "q", "0"]).unwrap()
        })
    };
    let first = spawn_blpop(node.port);
    wait_until(Duration::from_secs(10), "first client blocked", || blocked(&mut c) == 1);
    let second = spawn_blpop(node.port);
    wait_until(Duration::from_secs(10), "second client blocked", || blocked(&mut c) == 2);
    // A push by another client wakes the one that came first.
    let _: () = q(&mut c, &["RPUSH", "q", "one"]).unwrap();
    assert_eq!(first.join().unwrap(), vec!["q", "one"]);
    wait_until(Duration::from_secs(10), "one client still blocked", || blocked(&mut c) == 1);
    let _: () = q(&mut c, &["RPUSH", "q", "two"]).unwrap();
    assert_eq!(second.join().unwrap(), vec!["q", "two"]);

    // One push of several elements serves several blocked clients.
    let a = spawn_blpop(node.port);
    wait_until(Duration::from_secs(10), "a blocked", || blocked(&mut c) == 1);
    let b = spawn_blpop(node.port);
    wait_until(Duration::from_secs(10), "b blocked", || blocked(&mut c) == 2);
    let _: () = q(&mut c, &["RPUSH", "q", "x", "y"]).unwrap();
    assert_eq!(a.join().unwrap(), vec!["q", "x"]);
    assert_eq!(b.join().unwrap(), vec!["q", "y"]);

    // BZPOPMIN and BLMOVE wake up too.
    let port = node.port;
    let z = std::thread::spawn(move || {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        q::<Vec<String>>(&mut c, &["BZPOPMIN", "zq", "0"]).unwrap()
    });
    wait_until(Duration::from_secs(10), "bzpopmin blocked", || blocked(&mut c) == 1);
    let _: () = q(&mut c, &["ZADD", "zq", "2", "m"]).unwrap();
    assert_eq!(z.join().unwrap(), vec!["zq", "m", "2"]);
    let mv = std::thread::spawn(move || {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        q::<String>(&mut c, &["BLMOVE", "{m}src", "{m}dst", "LEFT", "RIGHT", "0"]).unwrap()
    });
    wait_until(Duration::from_secs(10), "blmove blocked", || blocked(&mut c) == 1);
    let _: () = q(&mut c, &["LPUSH", "{m}src", "item"]).unwrap();
    assert_eq!(mv.join().unwrap(), "item");
    assert_eq!(q::<Vec<String>>(&mut c, &["LRANGE", "{m}dst", "0", "-1"]).unwrap(), vec!["item"]);

    // Inside MULTI a blocking pop does not block.
    let _: () = q(&mut c, &["MULTI"]).unwrap();
    let _: String = q(&mut c, &["BLPOP", "empty", "0"]).unwrap();
    let r: Vec<redis::Value> = q(&mut c, &["EXEC"]).unwrap();
    assert_eq!(r, vec![redis::Value::Nil]);
    assert_eq!(blocked(&mut c), 0);
}

#[test]
fn a_blocked_client_holds_back_its_later_commands() {
    let node = KvNode::with_partitions(1);
    let mut c = node.client();
    let mut raw = kvtests::harness::Raw::connect(node.port);
    // BLPOP then SET on one connection: the SET must not run before the BLPOP ends.
    raw.send(b"BLPOP bq 0\r\nSET after-blpop 1\r\n").unwrap();
    wait_until(Duration::from_secs(10), "blocked", || blocked(&mut c) == 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "after-blpop"]).unwrap(), 0);
    let _: () = q(&mut c, &["RPUSH", "bq", "v"]).unwrap();
    raw.expect(b"*2\r\n$2\r\nbq\r\n$1\r\nv\r\n+OK\r\n");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "after-blpop"]).unwrap(), 1);
}

/// ZRANDMEMBER on a sorted set large enough to keep rank counts, where a
/// few picks are seeks by random rank: every pick is a member with its own
/// score, a positive count gives distinct members, a negative one exactly
/// that many, and single picks spread over the whole set.
#[test]
fn random_members_of_a_large_sorted_set_are_members_spread_over_it() {
    let node = KvNode::with_partitions(1);
    let mut c = node.client();
    let n = 3000;
    for chunk in 0..3 {
        let mut args = vec!["ZADD".to_string(), "big".into()];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            args.extend([(i * 3).to_string(), format!("m{i}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _: i64 = q(&mut c, &args).unwrap();
    }
    // Member mI has score 3I.
    let check = |pairs: &[String]| {
        for p in pairs.chunks(2) {
            let i: i64 = p[0].strip_prefix('m').and_then(|i| i.parse().ok()).expect("a member of the set");
            assert!((0..n).contains(&i), "{} is no member", p[0]);
            assert_eq!(p[1], (i * 3).to_string(), "score of {}", p[0]);
        }
    };
    let distinct: Vec<String> = q(&mut c, &["ZRANDMEMBER", "big", "20", "WITHSCORES"]).unwrap();
    assert_eq!(distinct.len(), 40);
    check(&distinct);
    let names: std::collections::HashSet<&String> = distinct.iter().step_by(2).collect();
    assert_eq!(names.len(), 20, "a positive count picks distinct members");
    let repeated: Vec<String> = q(&mut c, &["ZRANDMEMBER", "big", "-30", "WITHSCORES"]).unwrap();
    assert_eq!(repeated.len(), 60);
    check(&repeated);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3000 {
        let m: String = q(&mut c, &["ZRANDMEMBER", "big"]).unwrap();
        check(&[m.clone(), m.strip_prefix('m').unwrap().parse::<i64>().map(|i| (i * 3).to_string()).unwrap()]);
        seen.insert(m);
    }
    // 3000 uniform picks out of 3000 find about 1900 distinct members; picks
    // stuck in one part of the set would find far fewer.
    assert!(seen.len() > 1500, "only {} distinct members in 3000 picks", seen.len());
    let lows = seen.iter().filter(|m| m[1..].parse::<i64>().unwrap() < n / 2).count();
    assert!(lows > 600 && seen.len() - lows > 600, "picks lean to one half: {lows} of {}", seen.len());
}

/// SRANDMEMBER with a negative count on a large set, served by a random
/// seek per pick: exactly that many picks, every one a member, spread over
/// the set.
#[test]
fn random_members_of_a_large_set_with_repeats_are_members_spread_over_it() {
    let node = KvNode::with_partitions(1);
    let mut c = node.client();
    let n = 3000;
    let mut args = vec!["SADD".to_string(), "big".into()];
    args.extend((0..n).map(|i| format!("m{i}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _: i64 = q(&mut c, &args).unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        let picks: Vec<String> = q(&mut c, &["SRANDMEMBER", "big", "-30"]).unwrap();
        assert_eq!(picks.len(), 30);
        for p in picks {
            let i: i64 = p.strip_prefix('m').and_then(|i| i.parse().ok()).expect("a member of the set");
            assert!((0..n).contains(&i), "{p} is no member");
            seen.insert(i);
        }
    }
    // A pick is the first member at or after a random hash point, so a
    // member's chance is the gap before it: 3000 picks out of 3000 find
    // about 1500 distinct ones (uniform picks would find 1900); picks stuck
    // in one part of the set would find far fewer.
    assert!(seen.len() > 1200, "only {} distinct members in 3000 picks", seen.len());
}
