//! Publish/subscribe against redis-server, and across the nodes of a cluster.
//!
//! Subscribers are raw connections (a subscribed connection gets messages
//! between replies, which a request/reply client does not model): each
//! step's replies and messages are read up to a PING's answer, so nothing
//! is waited for by time.

use kvtests::cluster::{Cluster, ClusterOptions};
use kvtests::harness::{wait_until, KvNode, RedisServer};
use kvtests::notifications::Listener;
use kvtests::textresp::Raw;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use redis::Value;
use std::time::Duration;

const CHANNELS: &[&str] = &["a", "b", "news.1", "news.2", "x y"];
const PATTERNS: &[&str] = &["news.*", "*", "a", "n?ws.[12]", "[ab]"];

/// One random step over a publisher and three subscribers; its transcript.
fn step<R: Rng>(rng: &mut R, publisher: &mut Raw, subs: &mut [Raw]) -> String {
    let names = |rng: &mut R, from: &[&'static str]| -> Vec<&'static str> {
        (0..rng.gen_range(0..3)).map(|_| *from.choose(rng).unwrap()).collect()
    };
    match rng.gen_range(0..10) {
        0..=3 => {
            let i = rng.gen_range(0..subs.len());
            let (cmd, from) = *[
                ("SUBSCRIBE", CHANNELS),
                ("UNSUBSCRIBE", CHANNELS),
                ("PSUBSCRIBE", PATTERNS),
                ("PUNSUBSCRIBE", PATTERNS),
                ("SSUBSCRIBE", CHANNELS),
                ("SUNSUBSCRIBE", CHANNELS),
            ]
            .choose(rng)
            .unwrap();
            let mut args = vec![cmd];
            args.extend(names(rng, from));
            if args.len() == 1 && cmd.ends_with("SUBSCRIBE") && !cmd.contains("UN") {
                args.push(from[0]);
            }
            subs[i].send(&args);
            let mut got = subs[i].drain();
            if args == ["UNSUBSCRIBE"] || args == ["SUNSUBSCRIBE"] {
                // Redis leaves its channels in hash table order: which
                // count goes with which channel is that order's.
                let split: Vec<(String, String)> = got
                    .iter()
                    .map(|r| r.rsplit_once(", ").map_or((r.clone(), String::new()), |(a, b)| (a.into(), b.into())))
                    .collect();
                let (mut names, mut counts): (Vec<String>, Vec<String>) = split.into_iter().unzip();
                names.sort();
                counts.sort();
                got = names.into_iter().chain(counts).collect();
            }
            format!("[{i}] {args:?} -> {got:?}")
        }
        4..=7 => {
            let ch = *CHANNELS.choose(rng).unwrap();
            let publish = if rng.gen_bool(0.3) { "SPUBLISH" } else { "PUBLISH" };
            let n = publisher.call(&[publish, ch, "hello"]);
            let got: Vec<Vec<String>> = subs.iter_mut().map(Raw::drain).collect();
            format!("{publish} {ch} -> {n}, {got:?}")
        }
        8 => {
            let sub = ["NUMSUB", "NUMPAT", "CHANNELS", "SHARDNUMSUB", "SHARDCHANNELS"];
            let mut args = vec!["PUBSUB", *sub.choose(rng).unwrap()];
            if args[1].ends_with("NUMSUB") {
                args.extend(names(rng, CHANNELS));
            }
            publisher.send(&args);
            let r = publisher.read();
            // CHANNELS comes in hash order: compare its members.
            let r = if args[1].ends_with("CHANNELS") {
                let mut parts: Vec<&str> = r.trim_start_matches("*[").trim_end_matches(']').split(", ").collect();
                parts.sort();
                parts.join(", ")
            } else {
                r
            };
            format!("{args:?} -> {r}")
        }
        _ => {
            // A command a subscribed RESP2 connection may not run, or may.
            let i = rng.gen_range(0..subs.len());
            let r = subs[i].call(&["GET", "k"]);
            format!("[{i}] GET -> {r}")
        }
    }
}

fn transcript(port: u16, seed: u64, steps: usize) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut publisher = Raw::connect(port);
    // The last seed's subscribers closed their connections; a server may
    // not have dropped their subscriptions yet (ours handles connections on
    // several threads), and a publish would still count them.
    wait_until(Duration::from_secs(20), "the last seed's subscriptions to end", || {
        ["CHANNELS", "SHARDCHANNELS"].iter().all(|sub| publisher.call(&["PUBSUB", sub]) == "*[]")
            && publisher.call(&["PUBSUB", "NUMPAT"]) == ":0"
    });
    let mut subs: Vec<Raw> = (0..3).map(|_| Raw::connect(port)).collect();
    (0..steps).map(|_| step(&mut rng, &mut publisher, &mut subs)).collect()
}

#[test]
fn random_subscriptions_and_publishes_match_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(4);
    // PUBSUB_SEEDS=lo..hi searches further (by hand).
    let seeds = std::env::var("PUBSUB_SEEDS").unwrap_or_else(|_| "1..21".into());
    let (lo, hi) = seeds.split_once("..").and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))).expect("lo..hi");
    for seed in lo..hi {
        let theirs = transcript(redis.port, seed, 60);
        let mine = transcript(ours.port, seed, 60);
        for (i, (t, m)) in theirs.iter().zip(&mine).enumerate() {
            assert_eq!(t, m, "seed {seed}, step {i}:\n  redis: {t}\n  ours:  {m}\n  before: {:?}", &theirs[..i]);
        }
    }
}

#[test]
fn resp3_subscribers_get_pushes_and_may_run_any_command() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |port: u16| -> Vec<String> {
        let mut s = Raw::connect(port);
        let mut p = Raw::connect(port);
        let _hello = s.call(&["HELLO", "3"]);
        let mut out = vec![s.call(&["SUBSCRIBE", "c"]), p.call(&["PUBLISH", "c", "m"]), s.read()];
        out.push(s.call(&["SET", "k", "v"]));
        out.push(s.call(&["GET", "k"]));
        out.push(s.call(&["PING"]));
        out.push(s.call(&["UNSUBSCRIBE"]));
        out
    };
    assert_eq!(run(redis.port), run(ours.port));
}

/// A PUBLISH reaches the subscribers of every node of a cluster (Redis
/// Cluster's broadcast); its count is the receivers on the node that took it.
#[test]
fn a_publish_reaches_subscribers_on_every_node() {
    let cl = Cluster::start(ClusterOptions::default());
    let port = |i: usize| cl.nodes[i].redis_port;
    let mut s1 = Raw::connect(port(1));
    let mut s2 = Raw::connect(port(2));
    let mut local = Raw::connect(port(0));
    s1.call(&["SUBSCRIBE", "news"]);
    s2.call(&["PSUBSCRIBE", "n*"]);
    local.call(&["SUBSCRIBE", "news"]);
    let mut publisher = Raw::connect(port(0));
    for i in 0..20 {
        let msg = format!("m{i}");
        assert_eq!(publisher.call(&["PUBLISH", "news", &msg]), ":1");
    }
    // In order, each once, on every node.
    for i in 0..20 {
        let msg = format!("m{i}");
        assert_eq!(s1.read(), format!("*[$message, $news, ${msg}]"));
        assert_eq!(s2.read(), format!("*[$pmessage, $n*, $news, ${msg}]"));
        assert_eq!(local.read(), format!("*[$message, $news, ${msg}]"));
    }
    // A subscriber that leaves is forgotten on its node.
    let mut c1 = cl.client(1);
    let numsub =
        |c: &mut redis::Connection| -> Vec<Value> { redis::cmd("PUBSUB").arg("NUMSUB").arg("news").query(c).unwrap() };
    assert_eq!(numsub(&mut c1)[1], Value::Int(1));
    drop(s1);
    wait_until(Duration::from_secs(10), "the subscriber that left to be forgotten", || {
        numsub(&mut c1)[1] == Value::Int(0)
    });
}

/// A subscriber that never reads is dropped once 32 MB wait for it (Redis'
/// pubsub output limit), so a publisher cannot make the node buffer without
/// bound; the node keeps serving.
#[test]
fn a_subscriber_that_never_reads_is_dropped() {
    let ours = KvNode::with_partitions(1);
    let mut idle = Raw::connect(ours.port);
    assert_eq!(idle.call(&["SUBSCRIBE", "flood"]), "*[$subscribe, $flood, :1]");
    let mut c = ours.client();
    let payload = "x".repeat(100_000);
    let numsub =
        |c: &mut redis::Connection| -> Vec<Value> { redis::cmd("PUBSUB").arg("NUMSUB").arg("flood").query(c).unwrap() };
    // 60 MB: more than the limit plus what the sockets hold.
    for _ in 0..600 {
        let _: i64 = redis::cmd("PUBLISH").arg("flood").arg(&payload).query(&mut c).unwrap();
    }
    wait_until(Duration::from_secs(20), "the idle subscriber to be dropped", || numsub(&mut c)[1] == Value::Int(0));
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

/// Sharded pub/sub in a cluster: the shard channels of one SSUBSCRIBE share
/// a slot (CROSSSLOT otherwise, as in Redis Cluster), and an SPUBLISH
/// reaches their subscribers on every node, not PUBLISH's.
#[test]
fn sharded_channels_in_a_cluster() {
    let cl = Cluster::start(ClusterOptions::default());
    let port = |i: usize| cl.nodes[i].redis_port;
    let mut s = Raw::connect(port(1));
    assert_eq!(s.call(&["SSUBSCRIBE", "{s}a", "x"]), "-CROSSSLOT Keys in request don't hash to the same slot");
    s.send(&["SSUBSCRIBE", "{s}a", "{s}b"]);
    assert_eq!(s.drain(), ["*[$ssubscribe, ${s}a, :1]", "*[$ssubscribe, ${s}b, :2]"]);
    let mut plain = Raw::connect(port(2));
    plain.call(&["SUBSCRIBE", "{s}a"]);
    let mut publisher = Raw::connect(port(0));
    assert_eq!(publisher.call(&["SPUBLISH", "{s}a", "m"]), ":0");
    assert_eq!(s.read(), "*[$smessage, ${s}a, $m]");
    assert_eq!(publisher.call(&["PUBLISH", "{s}a", "p"]), ":0");
    assert_eq!(plain.read(), "*[$message, ${s}a, $p]");
    // Each got only its own kind.
    assert_eq!(s.drain(), Vec::<String>::new());
    assert_eq!(plain.drain(), Vec::<String>::new());
}

/// What a script publishes reaches subscribers as from Redis (before an
/// error that ends the script too; a read-only script may not publish), against
/// redis-server; the script is told no receivers here (a documented
/// difference: every replica runs it), so the test's subscribers are on
/// another connection and the counts are left out.
#[test]
fn scripts_publish_as_redis_does() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |port: u16| -> Vec<String> {
        let mut s = Raw::connect(port);
        let mut p = Raw::connect(port);
        let mut out = vec![s.call(&["SUBSCRIBE", "c"]), s.call(&["SSUBSCRIBE", "d"])];
        p.call(&["EVAL", "redis.call('PUBLISH', 'c', 'one'); redis.call('SPUBLISH', 'd', 'two'); return 'ok'", "0"]);
        p.call(&["EVAL", "redis.call('PUBLISH', 'c', 'before'); return redis.call('INCR', 'c')", "0"]);
        p.call(&["SET", "str", "x"]);
        out.push(p.call(&["EVAL", "redis.call('PUBLISH', 'c', 'then'); return redis.call('INCR', 'str')", "0"]));
        out.push(p.call(&["EVAL_RO", "return redis.pcall('PUBLISH', 'c', 'read-only')", "0"]));
        out.extend(s.drain());
        out
    };
    assert_eq!(run(redis.port), run(ours.port));
}

/// A script runs on every replica, but what it publishes goes out once,
/// from the node that proposed it, to the subscribers of every node.
#[test]
fn a_script_in_a_cluster_publishes_once() {
    let cl = Cluster::start(ClusterOptions::default());
    let port = |i: usize| cl.nodes[i].redis_port;
    let mut subs: Vec<Raw> = (0..3).map(|i| Raw::connect(port(i))).collect();
    for s in &mut subs {
        s.call(&["SUBSCRIBE", "news"]);
    }
    let script = "redis.call('INCR', KEYS[1]); redis.call('PUBLISH', 'news', ARGV[1]); return 1";
    for (i, msg) in ["first", "second", "end"].iter().enumerate() {
        // Through each node in turn (two of them forward to the leader).
        let mut c = cl.client(i);
        wait_until(Duration::from_secs(20), "the script to run", || {
            redis::cmd("EVAL").arg(script).arg(1).arg("{n}counter").arg(*msg).query::<i64>(&mut c).is_ok()
        });
    }
    // Each subscriber gets each message once, in order ("end" comes last
    // from the same leader, so a copy from a replica would come before it).
    for s in &mut subs {
        let got: Vec<String> = (0..3).map(|_| s.read()).collect();
        let want: Vec<String> =
            ["first", "second", "end"].iter().map(|m| format!("*[$message, $news, ${m}]")).collect();
        assert_eq!(got, want);
    }
}

/// The keyspace events of a transaction's commands and of a script's, with
/// what the script publishes in between, as Redis publishes them: in order,
/// when EXEC or the script runs.
#[test]
fn keyspace_events_of_transactions_and_scripts_match_redis() {
    let redis = RedisServer::start();
    let ours = KvNode::with_partitions(1);
    let run = |port: u16, mut con: redis::Connection| -> Vec<(String, String)> {
        let _: () = redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("KEA").query(&mut con).unwrap();
        let mut l = Listener::connect(port);
        let mut events = Vec::new();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg("a")
            .arg("1")
            .cmd("LPUSH")
            .arg("l")
            .arg("x")
            .cmd("INCR")
            .arg("a")
            .cmd("DEL")
            .arg("l");
        let _: redis::Value = pipe.query(&mut con).unwrap();
        events.extend(l.events_until_marker(&mut con));
        let script = "redis.call('SET', KEYS[1], 'v'); redis.call('PUBLISH', '__keyspace@0__:mine', 'hello'); \
                      redis.call('HSET', KEYS[2], 'f', 'v'); redis.call('EXPIRE', KEYS[1], 100); return 1";
        let _: i64 = redis::cmd("EVAL").arg(script).arg(2).arg("s").arg("h").query(&mut con).unwrap();
        events.extend(l.events_until_marker(&mut con));
        // A transaction that a WATCH aborts announces nothing.
        let _: () = redis::cmd("WATCH").arg("a").query(&mut con).unwrap();
        let _: () = redis::cmd("SET").arg("a").arg("2").query(&mut con).unwrap();
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("SET").arg("b").arg("1");
        let _: redis::Value = pipe.query(&mut con).unwrap();
        events.extend(l.events_until_marker(&mut con));
        events
    };
    let theirs = run(redis.port, redis.client());
    let mine = run(ours.port, ours.client());
    assert!(theirs.len() > 10, "{theirs:?}");
    assert_eq!(mine, theirs);
}

/// A key whose TTL runs out announces `expired` once the node removes it.
#[test]
fn expired_keys_announce_themselves() {
    let ours = KvNode::with_partitions(1);
    let mut c = ours.client();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("Ex").query(&mut c).unwrap();
    let mut l = Listener::connect(ours.port);
    let _: () = redis::cmd("SET").arg("short").arg("v").arg("PX").arg(50).query(&mut c).unwrap();
    // Only `x` and `E`: no `set` event, the next one is the expiry.
    assert_eq!(l.next_event(), ("__keyevent@0__:expired".to_string(), "short".to_string()));
    let v: Option<String> = redis::cmd("GET").arg("short").query(&mut c).unwrap();
    assert_eq!(v, None);
}

/// In a cluster the node leading a key's partition publishes its events to
/// the subscribers of every node (as it publishes PUBLISH), once each.
#[test]
fn keyspace_events_reach_subscribers_on_every_node() {
    let cl = Cluster::start(ClusterOptions::default());
    for i in 0..3 {
        let _: () =
            redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("E$").query(&mut cl.client(i)).unwrap();
    }
    let mut l = Listener::connect(cl.nodes[0].redis_port);
    let mut writer = cl.client(1);
    let keys: Vec<String> = (0..30).map(|i| format!("key{i}")).collect();
    for k in &keys {
        let _: () = redis::cmd("SET").arg(k).arg("v").query(&mut writer).unwrap();
    }
    // Leaders differ from key to key, so their events may arrive in another
    // order than the writes'.
    let mut got: Vec<String> = (0..keys.len())
        .map(|_| {
            let (channel, key) = l.next_event();
            assert_eq!(channel, "__keyevent@0__:set");
            key
        })
        .collect();
    got.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(got, want);
    // Nothing more (no copies): the marker, published on the same node,
    // comes next.
    assert_eq!(l.events_until_marker(&mut cl.client(0)), vec![]);
}
