//! A replicated cluster of three kvnode processes (replication factor 3),
//! every node-to-node link through a proxy the test owns.

use kvtests::cluster::{Cluster, ClusterOptions};
use kvtests::harness::{incompressible, wait_until, SmallDisk};
use redis::{Commands, RedisResult, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn get(c: &mut redis::Connection, k: &str) -> RedisResult<Option<String>> {
    c.get(k)
}

/// Reads `k` from node `i` until it answers `want` (followers apply
/// asynchronously; a READONLY read is served by node i's own replica).
fn wait_value_on(cl: &Cluster, i: usize, k: &str, want: Option<&str>) {
    let mut c = cl.client(i);
    let _: () = redis::cmd("READONLY").query(&mut c).unwrap();
    wait_until(LONG, &format!("node {} to hold {k}={want:?}", i + 1), || {
        get(&mut c, k).ok().flatten().as_deref() == want
    });
}

#[test]
fn every_node_answers_every_key_and_describes_the_cluster() {
    let cl = Cluster::start(ClusterOptions::default());
    // Writes through each node, reads through each node.
    for i in 0..3 {
        let mut c = cl.client(i);
        for k in 0..20 {
            let _: () = c.set(format!("k{k}:{i}"), format!("v{k}:{i}")).unwrap();
        }
    }
    for i in 0..3 {
        let mut c = cl.client(i);
        for w in 0..3 {
            for k in 0..20 {
                assert_eq!(get(&mut c, &format!("k{k}:{w}")).unwrap(), Some(format!("v{k}:{w}")));
            }
        }
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(n, 60);
    }
    // Forwarding happened: some node served requests for others.
    let served: u64 = (0..3)
        .filter_map(|i| cl.http(i, "/metrics"))
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("kvnode_forwarded_requests_total{direction=\"served\"} "))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum();
    assert!(served > 0);
    // ... and travelled in frames between the nodes.
    for i in 0..3 {
        let m = cl.http(i, "/metrics").unwrap();
        for dir in ["sent", "received"] {
            let line = format!("kvnode_transport_frames_total{{direction=\"{dir}\"}} ");
            let n: u64 = m.lines().find_map(|l| l.strip_prefix(&line)).and_then(|v| v.parse().ok()).unwrap();
            assert!(n > 0, "node {i}: no frames {dir}");
        }
    }
    let metrics = cl.http(0, "/metrics").unwrap();
    for name in [
        "kvnode_partition_term",
        "kvnode_partition_commit_index",
        "kvnode_partition_applied_index",
        "kvnode_wal_fsync_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    // CLUSTER SLOTS covers every slot once, with each partition's leader first.
    let mut c = cl.client(1);
    let slots: Vec<(i64, i64, Vec<Value>)> = {
        let v: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut c).unwrap();
        v.into_iter()
            .map(|r| match r {
                Value::Array(items) => {
                    let lo: i64 = redis::from_redis_value(&items[0]).unwrap();
                    let hi: i64 = redis::from_redis_value(&items[1]).unwrap();
                    (lo, hi, items[2..].to_vec())
                }
                other => panic!("unexpected CLUSTER SLOTS entry {other:?}"),
            })
            .collect()
    };
    let mut next = 0;
    for (lo, hi, nodes) in &slots {
        assert_eq!(*lo, next);
        next = hi + 1;
        assert_eq!(nodes.len(), 3, "three replicas per range");
        let master: (String, i64, String) = redis::from_redis_value(&nodes[0]).unwrap();
        let i = cl.nodes.iter().position(|n| n.redis_port as i64 == master.1).unwrap();
        let p = cl.partition_of_slot(*lo as u32);
        assert_eq!(cl.role(i, p).as_deref(), Some("leader"));
    }
    assert_eq!(next, 16384);
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c).unwrap();
    assert_eq!(nodes.lines().count(), 3);
    assert!(nodes.lines().any(|l| l.contains("myself") && l.starts_with(&format!("{:040x}", 2))));
    let myid: String = redis::cmd("CLUSTER").arg("MYID").query(&mut c).unwrap();
    assert_eq!(myid, format!("{:040x}", 2));
    let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg("foo").query(&mut c).unwrap();
    assert_eq!(slot, 12182);
    let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");
    let shards: Vec<Value> = redis::cmd("CLUSTER").arg("SHARDS").query(&mut c).unwrap();
    assert_eq!(shards.len(), slots.len());

    // The redis crate's cluster client routes by CLUSTER SLOTS.
    let urls: Vec<String> = (0..3).map(|i| cl.url(i)).collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut cc = client.get_connection().unwrap();
    for k in 0..50 {
        let _: () = cc.set(format!("cc{k}"), k).unwrap();
    }
    for k in 0..50 {
        let v: i64 = cc.get(format!("cc{k}")).unwrap();
        assert_eq!(v, k);
    }

    // READONLY: a follower serves reads from its own replica, still
    // linearizably (read index from the leader): a write acknowledged
    // before is visible at once.
    let p = cl.partition_of("ro-key");
    let leader = cl.leader_of(p, &[], LONG);
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let mut w = cl.client(leader);
    let mut r = cl.client(follower);
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    for n in 0..50 {
        let _: () = w.set("ro-key", n).unwrap();
        let v: i64 = r.get("ro-key").unwrap();
        assert_eq!(v, n);
    }
}

#[test]
fn redirect_moved_sends_clients_to_the_leader() {
    let cl = Cluster::start(ClusterOptions { args: vec!["--redirect".into(), "moved".into()], ..Default::default() });
    let p = cl.partition_of("mkey");
    let leader = cl.leader_of(p, &[], LONG);
    let other = (0..3).find(|i| *i != leader).unwrap();
    let mut c = cl.client(other);
    // The follower learns the leader from raft; wait for it to know.
    wait_until(LONG, "a MOVED reply", || {
        let r: RedisResult<()> = c.set("mkey", "v");
        matches!(&r, Err(e) if e.kind() == redis::ErrorKind::Moved)
    });
    let r: RedisResult<()> = c.set("mkey", "v");
    let e = r.unwrap_err();
    let (addr, slot) = e.redirect_node().unwrap();
    assert_eq!(slot, redis::cluster_routing::get_slot(b"mkey"));
    assert_eq!(addr, format!("127.0.0.1:{}", cl.nodes[leader].redis_port));
    // redis-cli -c follows it.
    let out = std::process::Command::new("redis-cli")
        .args(["-c", "-p", &cl.nodes[other].redis_port.to_string(), "set", "mkey", "via-cli"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let mut l = cl.client(leader);
    assert_eq!(get(&mut l, "mkey").unwrap().as_deref(), Some("via-cli"));
}

/// With `--redirect moved` a node is a Redis Cluster node to its clients:
/// SCAN, KEYS and DBSIZE cover the partitions it leads, so a cluster client
/// that sends them to every master (the redis crate does for KEYS and
/// DBSIZE, redis-py for SCAN too) sees each key once.
#[test]
fn with_redirect_moved_keyless_commands_cover_what_each_node_leads() {
    let cl = Cluster::start(ClusterOptions { args: vec!["--redirect".into(), "moved".into()], ..Default::default() });
    let urls: Vec<String> = (0..3).map(|i| cl.url(i)).collect();
    let mut cc = redis::cluster::ClusterClient::new(urls).unwrap().get_connection().unwrap();
    let mut written: Vec<String> = (0..60).map(|k| format!("ck{k}")).collect();
    for k in &written {
        let _: () = cc.set(k, 1).unwrap();
    }
    written.sort();
    // (Retried while a leader change, if any, settles: each node answers
    // for what it leads when asked.)
    wait_until(LONG, "each key once from the masters", || {
        let Ok(n) = redis::cmd("DBSIZE").query::<i64>(&mut cc) else { return false };
        let Ok(mut keys) = redis::cmd("KEYS").arg("*").query::<Vec<String>>(&mut cc) else { return false };
        keys.sort();
        let mut scanned = Vec::new();
        for i in 0..3 {
            let mut c = cl.client(i);
            let mut cursor = 0u64;
            loop {
                let (next, mut page): (u64, Vec<String>) =
                    redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(7).query(&mut c).unwrap();
                scanned.append(&mut page);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        scanned.sort();
        n == 60 && keys == written && scanned == written
    });
}

#[test]
fn a_blocked_pop_wakes_on_a_push_through_another_node() {
    let cl = Cluster::start(ClusterOptions::default());
    let url = cl.url(0);
    let popper = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let r: Option<(String, String)> = redis::cmd("BLPOP").arg("queue").arg(30).query(&mut c).unwrap();
        r
    });
    // Wait until the pop is blocked on node 1, then push through node 3.
    let mut c0 = cl.client(0);
    wait_until(LONG, "BLPOP to block", || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c0).unwrap();
        info.contains("blocked_clients:1")
    });
    let mut c2 = cl.client(2);
    let _: () = c2.rpush("queue", "job").unwrap();
    assert_eq!(popper.join().unwrap(), Some(("queue".into(), "job".into())));
}

/// Writes keys w{client}:{n} through random nodes until stopped; returns the
/// acknowledged ones.
fn writer(urls: Vec<String>, client: usize, stop: Arc<AtomicBool>, max: usize) -> Vec<String> {
    let mut acked = Vec::new();
    let mut conn: Option<redis::Connection> = None;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) && n < max {
        let key = format!("w{client}:{n}");
        n += 1;
        if conn.is_none() {
            let url = &urls[(client + n) % urls.len()];
            conn = redis::Client::open(url.as_str())
                .ok()
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)).ok());
            if let Some(c) = &conn {
                c.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
            }
        }
        let Some(c) = conn.as_mut() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let r: RedisResult<()> = c.set(&key, "x");
        match r {
            Ok(()) => acked.push(key),
            Err(_) => conn = None,
        }
    }
    acked
}

#[test]
fn killing_a_leader_during_writes_loses_no_acknowledged_write() {
    let mut cl = Cluster::start(ClusterOptions::default());
    let (stop, writers) = start_writers(&cl);
    // Let writes flow, then kill the leader of partition 0.
    let mut c = cl.client(0);
    wait_until(LONG, "writes", || redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap_or(0) > 300);
    let victim = cl.leader_of(0, &[], LONG);
    cl.kill9(victim);
    let survivor = (0..3).find(|i| *i != victim).unwrap();
    // Reads may fail while the partition elects a new leader (TRYAGAIN).
    let dbsize = || redis::cmd("DBSIZE").query::<i64>(&mut cl.client(survivor)).ok();
    let mut before = None;
    wait_until(LONG, "DBSIZE after the kill", || {
        before = dbsize();
        before.is_some()
    });
    let before = before.unwrap();
    wait_until(LONG, "writes after the failover", || dbsize().unwrap_or(0) > before + 300);
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    cl.restart(victim);
    cl.wait_healthy(LONG);
    // Every acknowledged write is there, read linearizably through every
    // node, and the restarted node's own replica has them too.
    for i in 0..3 {
        let mut c = cl.client(i);
        for k in &acked {
            assert_eq!(get(&mut c, k).unwrap().as_deref(), Some("x"), "{k} lost (read via node {})", i + 1);
        }
    }
    wait_value_on(&cl, victim, acked.last().unwrap(), Some("x"));
    let mut r = cl.client(victim);
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    for k in &acked {
        assert_eq!(get(&mut r, k).unwrap().as_deref(), Some("x"), "{k} missing on the restarted node");
    }
}

#[test]
fn an_isolated_old_leader_acknowledges_no_write_and_serves_no_read() {
    let cl = Cluster::start(ClusterOptions::default());
    let p = cl.partition_of("iso");
    let old = cl.leader_of(p, &[], LONG);
    let mut c = cl.client(old);
    let _: () = c.set("iso", "v1").unwrap();
    cl.isolate(old);
    // The majority elects a new leader and takes a write.
    let new = cl.leader_of(p, &[old], LONG);
    wait_until(LONG, "a write on the majority side", || cl.client(new).set::<_, _, ()>("iso", "v3").is_ok());
    // Through the old leader: no write is acknowledged, no read served
    // (neither the stale v1 nor anything else).
    let mut c = cl.client(old);
    let w: RedisResult<()> = c.set("iso", "v2");
    assert!(w.is_err(), "the isolated node acknowledged a write");
    for _ in 0..3 {
        let mut c = cl.client(old);
        let r = get(&mut c, "iso");
        assert!(r.is_err(), "the isolated node served a read: {r:?}");
    }
    cl.heal_all();
    cl.wait_healthy(LONG);
    let mut c = cl.client(old);
    wait_until(LONG, "the old leader to serve again", || get(&mut c, "iso").is_ok());
    assert_eq!(get(&mut c, "iso").unwrap().as_deref(), Some("v3"));
    wait_value_on(&cl, old, "iso", Some("v3"));
}

/// Cuts node `cut` off and waits until the others lead every partition and
/// take writes (probing with fresh connections: a connection whose write had
/// an unknown outcome refuses further commands on that partition).
fn cut_off(cl: &Cluster, cut: usize) {
    cl.isolate(cut);
    for p in 0..cl.opts.partitions {
        cl.leader_of(p, &[cut], LONG);
    }
    let other = (cut + 1) % cl.len();
    wait_until(LONG, "writes without the cut-off node", || cl.client(other).set::<_, _, ()>("probe", 1).is_ok());
}

/// Waits until every leader compacted its log past what node `cut` holds, so
/// that catching up needs a snapshot.
fn wait_compacted_past(cl: &Cluster, cut: usize) {
    for p in 0..cl.opts.partitions {
        let behind = cl.metric(cut, "kvnode_partition_applied_index", p).unwrap();
        wait_until(LONG, "leaders to compact their logs", || {
            let l = cl.leader_of(p, &[cut], LONG);
            cl.metric(l, "kvnode_partition_log_first_index", p).is_some_and(|f| f > behind + 1)
        });
    }
}

#[test]
fn a_node_cut_off_during_5000_writes_catches_up_through_a_snapshot() {
    // Logs are compacted to at most 500 entries behind the leader: the cut
    // off node, 1250 entries behind per partition, needs snapshots.
    let mut opts = ClusterOptions::default();
    opts.config.push("log-compact-entries = 500".into());
    let cl = Cluster::start(opts);
    let cut = 2;
    cut_off(&cl, cut);
    // A long string (kept in chunks), changed in one chunk and grown.
    let mut c = cl.client(0);
    let mut long: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let _: () = c.set("long", &long).unwrap();
    let _: i64 = redis::cmd("SETBIT").arg("long").arg(8 * 50_000).arg(1).query(&mut c).unwrap();
    long[50_000] |= 0x80;
    let _: i64 = redis::cmd("APPEND").arg("long").arg("tail").query(&mut c).unwrap();
    long.extend_from_slice(b"tail");
    // 5000 writes through node 1 (pipelined in batches).
    for b in 0..50 {
        let mut pipe = redis::pipe();
        for k in 0..100 {
            pipe.set(format!("c{}", b * 100 + k), b * 100 + k).ignore();
        }
        let _: () = pipe.query(&mut c).unwrap();
    }
    wait_compacted_past(&cl, cut);
    cl.heal_all();
    cl.wait_healthy(LONG);
    // Node 3's own replicas (READONLY) hold every write.
    wait_value_on(&cl, cut, "c4999", Some("4999"));
    let mut r = cl.client(cut);
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    for k in 0..5000 {
        let v: i64 = r.get(format!("c{k}")).unwrap();
        assert_eq!(v, k);
    }
    let back: Vec<u8> = r.get("long").unwrap();
    assert!(back == long, "the long string differs on the node that caught up ({} bytes)", back.len());
    // It got there through installed snapshots (its log was compacted away
    // on the leaders).
    let installed = cl.counter(cut, "kvnode_snapshots_installed_total").unwrap();
    assert!(installed >= 1, "no snapshot was installed");
    assert!(cl.counter(cut, "kvnode_snapshot_bytes_received_total").unwrap() > 0);
    // And its applied index matches the leader's on every partition.
    for p in 0..cl.opts.partitions {
        let l = cl.leader_of(p, &[], LONG);
        wait_until(LONG, "applied indexes to converge", || {
            cl.metric(cut, "kvnode_partition_applied_index", p) >= cl.metric(l, "kvnode_partition_commit_index", p)
        });
    }
}

#[test]
fn the_whole_cluster_restarts_with_everything() {
    let mut cl = Cluster::start(ClusterOptions::default());
    let mut c = cl.client(0);
    for k in 0..500 {
        let _: () = c.set(format!("r{k}"), k).unwrap();
    }
    let _: () = c.rpush("list", &[1, 2, 3]).unwrap();
    for i in 0..3 {
        cl.kill9(i);
    }
    for i in 0..3 {
        cl.restart(i);
    }
    cl.wait_healthy(LONG);
    for i in 0..3 {
        let mut c = cl.client(i);
        wait_until(LONG, "reads after restart", || get(&mut c, "r0").is_ok());
        for k in 0..500 {
            let v: i64 = c.get(format!("r{k}")).unwrap();
            assert_eq!(v, k);
        }
        let l: Vec<i64> = c.lrange("list", 0, -1).unwrap();
        assert_eq!(l, vec![1, 2, 3]);
    }
}

#[test]
fn pipelined_writes_through_a_follower_keep_their_order() {
    let cl = Cluster::start(ClusterOptions::default());
    let p = cl.partition_of("ord");
    let leader = cl.leader_of(p, &[], LONG);
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let mut c = cl.client(follower);
    let mut pipe = redis::pipe();
    for n in 0..500 {
        pipe.set("ord", n).ignore().get("ord");
    }
    let got: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(got, (0..500).collect::<Vec<i64>>());
}

#[test]
fn an_interrupted_snapshot_transfer_resumes_where_it_broke() {
    // Pulls at 1 MiB/s of ~1.3 MB per partition: the link can be cut midway.
    let mut opts = ClusterOptions::default();
    opts.config.push("log-compact-entries = 200".into());
    opts.config.push("snapshot-bandwidth-mb = 1".into());
    // The failure report sent while the link is cut is lost: the leader's
    // deadline fails the snapshot instead.
    opts.config.push("snapshot-deadline-ms = 5000".into());
    opts.partitions = 2;
    let cl = Cluster::start(opts);
    let cut = 2;
    cut_off(&cl, cut);
    let mut c = cl.client(0);
    // Incompressible values, so the SST files stay large.
    use rand::{distributions::Alphanumeric, Rng};
    let mut rng = rand::thread_rng();
    let values: Vec<String> =
        (0..2600).map(|_| (&mut rng).sample_iter(&Alphanumeric).take(1000).map(char::from).collect()).collect();
    for b in 0..26 {
        let mut pipe = redis::pipe();
        for k in 0..100 {
            pipe.set(format!("big{}", b * 100 + k), &values[b * 100 + k]).ignore();
        }
        let _: () = pipe.query(&mut c).unwrap();
    }
    wait_compacted_past(&cl, cut);
    cl.heal_all();
    // Once some bytes arrived, break node 3's links for a while.
    wait_until(LONG, "the snapshot transfer to start", || {
        cl.counter(cut, "kvnode_snapshot_bytes_received_total").unwrap_or(0) > 0
    });
    cl.isolate(cut);
    wait_until(LONG, "the broken pull to fail", || {
        cl.counter(cut, "kvnode_snapshot_pulls_failed_total").unwrap_or(0) > 0
    });
    cl.heal_all();
    wait_value_on(&cl, cut, "big2599", Some(&values[2599]));
    assert!(cl.counter(cut, "kvnode_snapshot_files_resumed_total").unwrap() >= 1, "no file transfer resumed");
    let mut r = cl.client(cut);
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    for (k, v) in values.iter().enumerate() {
        assert_eq!(get(&mut r, &format!("big{k}")).unwrap().as_deref(), Some(v.as_str()));
    }
}

/// POSTs an admin request to node `via` and expects it done.
fn admin(cl: &Cluster, via: usize, path: &str) -> String {
    let (code, body) = cl.post(via, path);
    assert_eq!(code, 200, "POST {path} via node {}: {body}", via + 1);
    body
}

/// Preferred leaders (`leader-balance-secs`): whoever wins the first
/// elections, each partition ends up led by the first node of its initial
/// replicas (partition p on node p mod 3 here). Leadership moved away by
/// hand goes back, and so do the partitions another node took over while
/// their preferred node was down, once it is back and caught up.
#[test]
fn leadership_goes_back_to_each_partitions_preferred_node() {
    let mut opts = ClusterOptions { partitions: 6, ..Default::default() };
    opts.config.retain(|l| !l.starts_with("leader-balance-secs"));
    opts.config.push("leader-balance-secs = 1".into());
    let mut cl = Cluster::start(opts);
    let at_preferred = |cl: &Cluster| (0..6u32).all(|p| cl.role(p as usize % 3, p).as_deref() == Some("leader"));
    wait_until(LONG, "every partition led by its preferred node", || at_preferred(&cl));

    let moved = admin(&cl, 0, "/admin/partitions/0/transfer-leader?node=3");
    assert!(moved.contains("node 3 leads the partition"), "{moved}");
    wait_until(LONG, "partition 0 back at node 1", || at_preferred(&cl));

    cl.kill9(0);
    for p in [0, 3] {
        let _ = cl.leader_of(p, &[0], LONG);
    }
    let mut c = cl.client(1);
    for i in 0..200 {
        let _: () = c.set(format!("k{i}"), i).unwrap();
    }
    cl.restart(0);
    wait_until(LONG, "partitions 0 and 3 back at node 1", || at_preferred(&cl));
    let mut c = cl.client(0);
    for i in 0..200 {
        assert_eq!(c.get::<_, Option<i64>>(format!("k{i}")).unwrap(), Some(i));
    }
}

/// A command that waits for this connection's earlier writes on a
/// partition (SCAN's and WATCH's read barrier on a node that does not lead
/// it) is answered when it is pipelined behind a forwarded write there. The
/// connection used to wait for that write without polling it: both went
/// unanswered for ever.
#[test]
fn commands_pipelined_behind_a_forwarded_write_are_answered() {
    let cl = Cluster::start(ClusterOptions::default());
    for i in 0..3 {
        let mut c = cl.client(i);
        for k in ["a", "b", "c", "d", "e", "f"] {
            let key = format!("{k}{i}");
            let ((cursor, _keys), watched): ((u64, Vec<String>), String) = redis::pipe()
                .set(&key, "v")
                .ignore()
                .cmd("SCAN")
                .arg(0)
                .arg("COUNT")
                .arg(1000)
                .set(&key, "w")
                .ignore()
                .cmd("WATCH")
                .arg(&key)
                .query(&mut c)
                .unwrap_or_else(|e| panic!("node {}, key {key}: {e}", i + 1));
            assert_eq!((cursor, watched.as_str()), (0, "OK"));
            let _: () = redis::cmd("UNWATCH").query(&mut c).unwrap();
        }
    }
}

/// Random pipelines of reads, writes, keyless reads (SCAN, KEYS, DBSIZE),
/// WATCH, scripts, short blocking pops and transactions, each sent in one
/// write to a random node, are answered in full. (Before the connection
/// polled its commands in flight while dispatching, about one pipeline in
/// six hung here.)
#[test]
fn random_pipelines_through_every_node_are_answered() {
    use kvtests::textresp::Raw;
    use rand::{Rng, SeedableRng};
    let cl = Cluster::start(ClusterOptions::default());
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let keys = ["k0", "k1", "k2", "k3", "k4", "k5", "{t}a", "{t}b"];
    for round in 0..150 {
        let node = rng.gen_range(0..cl.len());
        let mut cmds: Vec<Vec<String>> = (0..rng.gen_range(1..12))
            .map(|_| {
                let k = keys[rng.gen_range(0..keys.len())].to_string();
                let other = keys[rng.gen_range(0..keys.len())].to_string();
                let counter = format!("n{k}");
                let words: Vec<&str> = match rng.gen_range(0..15) {
                    0 | 1 => vec!["SET", &k, "v"],
                    2 => vec!["GET", &k],
                    3 => vec!["DEL", &k],
                    4 => vec!["SCAN", "0"],
                    5 => vec!["WATCH", &k],
                    6 => vec!["DBSIZE"],
                    7 => vec!["KEYS", "*"],
                    8 => vec!["INCR", &counter],
                    9 => vec!["EVAL", "return redis.call('EXISTS', KEYS[1])", "1", &k],
                    10 => vec!["BLPOP", &k, "0.01"],
                    11 => vec!["MGET", &k, &other],
                    12 => vec!["LPUSH", &k, "x"],
                    13 => vec!["UNWATCH"],
                    _ => vec!["PING"],
                };
                words.into_iter().map(String::from).collect()
            })
            .collect();
        if rng.gen_bool(0.3) {
            let at = rng.gen_range(0..=cmds.len());
            let txn = [vec!["MULTI"], vec!["SET", "{t}a", "1"], vec!["GET", "{t}b"], vec!["EXEC"]];
            cmds.splice(at..at, txn.iter().map(|c| c.iter().map(|w| w.to_string()).collect()));
        }
        // Sent in one write; every reply must come (each read waits 10 s).
        let mut raw = Raw::connect(cl.nodes[node].redis_port);
        let words: Vec<Vec<&str>> = cmds.iter().map(|c| c.iter().map(String::as_str).collect()).collect();
        raw.send_all(&words.iter().map(Vec::as_slice).collect::<Vec<_>>());
        for (i, c) in cmds.iter().enumerate() {
            let reply = raw.try_read().unwrap_or_else(|e| {
                panic!("round {round}, node {}: no reply to {i}: {c:?} of {cmds:?}: {e}", node + 1)
            });
            assert!(!reply.starts_with("-ERR"), "round {round}: {c:?} -> {reply}");
        }
    }
}

/// Leadership moves are invisible to clients that wait for each reply: a
/// command that reaches a leader handing over its partition is refused
/// there (certainly not applied), and the connection sends it again to the
/// new leader itself. Four such clients and two that send pipelines of 10
/// commands on one partition (a hash tag) write and read through every
/// node while both partitions' leadership goes round the three nodes
/// twice. The four see no error. The pipelines always read their own last
/// write and never stall (a connection whose route changed mid-pipeline
/// used to wait for its earlier commands without polling them); they may
/// see TRYAGAIN only where a command after a refused one did run (a
/// hand-over that gives up, say), which no run has shown so far.
#[test]
fn leadership_moves_are_invisible_to_clients() {
    let cl = Cluster::start(ClusterOptions { partitions: 2, ..Default::default() });
    let tags: Vec<String> =
        (0..2).map(|p| (0..).map(|t| format!("{{t{t}}}")).find(|t| cl.partition_of(t) == p).unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let (url, stop, done, tags) = (cl.url(c % 3), stop.clone(), done.clone(), tags.clone());
            std::thread::spawn(move || {
                let mut conn = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let (mut errors, mut n) = (Vec::new(), 0u64);
                while !stop.load(Ordering::Relaxed) {
                    if c < 4 {
                        let key = format!("seq{c}:{}", n % 50);
                        match conn.set::<_, _, ()>(&key, n).and_then(|_| conn.get::<_, u64>(&key)) {
                            Ok(v) if v == n => {}
                            Ok(v) => errors.push(format!("{key}: read {v} after writing {n}")),
                            Err(e) => errors.push(format!("{key}: {e}")),
                        }
                    } else {
                        let tag = &tags[n as usize % 2];
                        let mut pipe = redis::pipe();
                        for i in 0..9 {
                            pipe.set(format!("{tag}pipe{c}:{i}"), n).ignore();
                        }
                        pipe.get(format!("{tag}pipe{c}:8"));
                        match pipe.query::<(u64,)>(&mut conn) {
                            Ok((v,)) if v == n => {}
                            Ok((v,)) => errors.push(format!("pipeline {n}: read {v}")),
                            Err(e) if e.code() == Some("TRYAGAIN") => {}
                            Err(e) => errors.push(format!("pipeline {n}: {e}")),
                        }
                    }
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                (errors, n)
            })
        })
        .collect();
    let mut moves = 0;
    for round in 0..6 {
        for p in 0..2 {
            // The clients are under way before each move.
            let before = done.load(Ordering::Relaxed);
            wait_until(LONG, "commands between leader moves", || done.load(Ordering::Relaxed) >= before + 40);
            let to = (round + p) % 3 + 1;
            // A transfer answers once the target leads the partition.
            let moved = admin(&cl, round % 3, &format!("/admin/partitions/{p}/transfer-leader?node={to}"));
            assert!(moved.contains(&format!("node {to} leads the partition")), "{moved}");
            moves += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for (c, h) in clients.into_iter().enumerate() {
        let (errors, n) = h.join().unwrap();
        assert!(errors.is_empty(), "client {c}, {n} commands over {moves} leader moves: {errors:?}");
        assert!(n > 0, "client {c} made no command");
    }
}

/// Starts 3 writers (see [`writer`]) through every node.
fn start_writers(cl: &Cluster) -> (Arc<AtomicBool>, Vec<std::thread::JoinHandle<Vec<String>>>) {
    let urls: Vec<String> = (0..cl.len()).map(|i| cl.url(i)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = (0..3)
        .map(|c| {
            let (urls, stop) = (urls.clone(), stop.clone());
            std::thread::spawn(move || writer(urls, c, stop, 100_000))
        })
        .collect();
    (stop, writers)
}

/// Checks that node `i`'s own replicas (READONLY) hold every acknowledged
/// key of the partitions in `partitions`.
fn assert_replica_holds(cl: &Cluster, i: usize, acked: &[String], partitions: &[u32]) {
    let mine: Vec<&String> = acked.iter().filter(|k| partitions.contains(&cl.partition_of(k))).collect();
    for p in partitions {
        if let Some(last) = mine.iter().rev().find(|k| cl.partition_of(k) == *p) {
            wait_value_on(cl, i, last, Some("x"));
        }
    }
    let mut r = cl.client(i);
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    for k in mine {
        assert_eq!(get(&mut r, k).unwrap().as_deref(), Some("x"), "{k} missing on node {}'s replica", i + 1);
    }
}

#[test]
fn membership_changes_during_writes_lose_no_acknowledged_write() {
    // Replication 2 of 3 nodes: partition 0 starts on nodes 1 and 2
    // (replicas 1 and 2), partition 1 on nodes 2 and 3.
    let opts = ClusterOptions { replication: 2, partitions: 2, ..ClusterOptions::default() };
    let cl = Cluster::start(opts);
    assert_eq!(cl.metric(2, "kvnode_partition_replica_id", 0), None);
    let (stop, writers) = start_writers(&cl);
    let mut c = cl.client(1);
    wait_until(LONG, "writes", || redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap_or(0) > 200);

    // Add a learner on node 3 (asked through node 3 itself, which holds no
    // replica: the request goes to the leader); it gets the next id, 3.
    admin(&cl, 2, "/admin/partitions/0/add-learner?node=3");
    assert_eq!(cl.metric(2, "kvnode_partition_replica_id", 0), Some(3));
    admin(&cl, 0, "/admin/partitions/0/promote?node=3");
    // Remove node 1's replica while node 1 leads: leadership moves first.
    let moved = admin(&cl, 1, "/admin/partitions/0/transfer-leader?node=1");
    assert!(moved.contains("node 1 leads the partition"), "{moved}");
    admin(&cl, 1, "/admin/partitions/0/remove?node=1");
    wait_until(LONG, "node 1 to destroy its removed replica", || {
        cl.metric(0, "kvnode_partition_replica_id", 0).is_none()
    });
    // Node 1 comes back under a new id, never its old one.
    admin(&cl, 0, "/admin/partitions/0/add-learner?node=1");
    assert_eq!(cl.metric(0, "kvnode_partition_replica_id", 0), Some(4));
    admin(&cl, 2, "/admin/partitions/0/promote?node=1");
    let moved = admin(&cl, 0, "/admin/partitions/0/transfer-leader?node=3");
    assert!(moved.contains("node 3 leads the partition"), "{moved}");
    // Every replica ends up with the same membership (as it applies it).
    let want = "\"voters\":[{\"node\":2,\"replica\":2},{\"node\":3,\"replica\":3},{\"node\":1,\"replica\":4}]";
    for i in 0..3 {
        wait_until(LONG, "the new membership everywhere", || cl.http(i, "/admin/partitions").unwrap().contains(want));
    }

    // Wrong requests are refused, the cluster keeps serving.
    for bad in
        ["/admin/partitions/1/promote?node=1", "/admin/partitions/9/remove?node=1", "/admin/partitions/0/x?node=1"]
    {
        let (code, body) = cl.post(0, bad);
        assert_eq!(code, 400, "{bad}: {body}");
    }
    let (code, _) = cl.post(0, "/admin/partitions/0/add-learner?node=7");
    assert_eq!(code, 400);

    let mut c = cl.client(0);
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    wait_until(LONG, "writes after the changes", || redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap_or(0) > n + 100);
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    for i in 0..3 {
        let mut c = cl.client(i);
        for k in &acked {
            assert_eq!(get(&mut c, k).unwrap().as_deref(), Some("x"), "{k} lost (read via node {})", i + 1);
        }
    }
    assert_replica_holds(&cl, 0, &acked, &[0]);
    assert_replica_holds(&cl, 2, &acked, &[0, 1]);
}

#[test]
fn a_wiped_node_is_rebuilt_under_new_replica_ids_by_snapshot() {
    let mut cl = Cluster::start(ClusterOptions::default());
    let (stop, writers) = start_writers(&cl);
    let mut c = cl.client(0);
    wait_until(LONG, "writes", || redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap_or(0) > 200);
    cl.kill9(2);
    cl.wipe(2);
    // Started again as `make cluster` starts every node, with --bootstrap:
    // its peers have had raft messages from it, so it knows it lost its
    // state and creates nothing. No replica, and messages for its old
    // replicas find none. It serves by forwarding to the leaders.
    cl.restart_with_bootstrap(2);
    assert!(cl.http(2, "/health").unwrap().contains("\"replicas\":0"));
    assert!(cl.nodes[2].log_text().contains("--bootstrap refused"), "{}", cl.nodes[2].log_tail());
    let mut w = cl.client(2);
    wait_until(LONG, "the wiped node to forward", || w.set::<_, _, ()>("through-wiped", 1).is_ok());
    // Each of node 3's old replicas (id 3 in every partition) is removed and
    // replaced by a new learner on it, filled by snapshot and promoted.
    let body = admin(&cl, 0, "/admin/nodes/3/rebuild");
    let mut new_ids = Vec::new();
    for p in 0..cl.opts.partitions {
        assert!(body.contains(&format!("partition {p}:")), "{body}");
        let id = cl.metric(2, "kvnode_partition_replica_id", p).expect("a new replica");
        assert!(id > 3, "partition {p}: node 3 rejoined as replica {id}");
        let l = cl.leader_of(p, &[], LONG);
        wait_until(LONG, "node 3 to be a voter", || {
            cl.http(l, "/admin/partitions").is_some_and(|b| b.contains(&format!("{{\"node\":3,\"replica\":{id}}}")))
        });
        let view = cl.http(l, "/admin/partitions").unwrap();
        assert!(!view.contains("{\"node\":3,\"replica\":3}"), "old replica still a member: {view}");
        new_ids.push(id);
    }
    assert!(cl.counter(2, "kvnode_snapshots_installed_total").unwrap() >= cl.opts.partitions as u64);
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert_replica_holds(&cl, 2, &acked, &(0..cl.opts.partitions).collect::<Vec<_>>());
    // The rebuilt node restarts (with --bootstrap again) with its new
    // replicas: loaded from its data directory, not bootstrapped over.
    cl.kill9(2);
    cl.restart_with_bootstrap(2);
    for p in 0..cl.opts.partitions {
        assert_eq!(cl.metric(2, "kvnode_partition_replica_id", p), Some(new_ids[p as usize]), "partition {p}");
    }
    assert_replica_holds(&cl, 2, &acked, &(0..cl.opts.partitions).collect::<Vec<_>>());
    // With node 1 down, nodes 2 and 3 (the rebuilt one a voter) still commit.
    cl.kill9(0);
    // (A fresh connection per try: one whose write had an unknown outcome
    // refuses further writes to that partition.)
    wait_until(LONG, "a write with node 1 down", || cl.client(2).set::<_, _, ()>("after-rebuild", 1).is_ok());
}

#[test]
fn a_wiped_node_started_while_its_peers_are_down_waits_for_them_and_bootstraps_nothing() {
    let mut cl = Cluster::start(ClusterOptions::default());
    let mut c = cl.client(0);
    wait_until(LONG, "a write", || c.set::<_, _, ()>("before", "x").is_ok());
    // Node 3 is a voter of every partition. A follower hears only from
    // leaders and candidates, so make node 3 lead partition 0: then both
    // peers have had raft messages from it, which a read on each follower of
    // a write made through node 3 proves (it has applied node 3's entries).
    admin(&cl, 2, "/admin/partitions/0/transfer-leader?node=3");
    let key = (0..).map(|i| format!("led-by-3-{i}")).find(|k| cl.partition_of(k) == 0).unwrap();
    wait_until(LONG, "a write through node 3", || cl.client(2).set::<_, _, ()>(&key, "y").is_ok());
    for i in 0..2 {
        wait_until(LONG, "the write on node 3's followers", || {
            let mut f = cl.client(i);
            let _: RedisResult<()> = redis::cmd("READONLY").query(&mut f);
            f.get::<_, Option<String>>(&key).ok().flatten().as_deref() == Some("y")
        });
    }
    // Then the whole cluster goes down and node 3's data directory is lost.
    for i in 0..cl.len() {
        cl.kill9(i);
    }
    cl.wipe(2);
    // Node 3 comes back first, with --bootstrap. Only its peers know that it
    // was a member, so it waits for them instead of recreating its old
    // replicas (with their votes forgotten).
    cl.launch_with_bootstrap(2);
    wait_until(LONG, "node 3 to wait for its peers", || {
        cl.nodes[2].log_text().contains("--bootstrap: waiting for nodes [1, 2]")
    });
    // Node 1 returns and answers that it heard from node 3: node 3 refuses.
    cl.restart(0);
    cl.wait_started(2);
    assert!(cl.nodes[2].log_text().contains("--bootstrap refused"), "{}", cl.nodes[2].log_tail());
    assert!(cl.http(2, "/health").unwrap().contains("\"replicas\":0"));
    // Nodes 1 and 2 still hold the acknowledged write and commit new ones.
    cl.restart(1);
    wait_value_on(&cl, 0, "before", Some("x"));
    wait_until(LONG, "a write after the restart", || cl.client(2).set::<_, _, ()>("after", 1).is_ok());
}

#[test]
fn a_node_killed_during_a_snapshot_install_finishes_it_at_restart() {
    let mut opts = ClusterOptions::default();
    opts.config.push("log-compact-entries = 200".into());
    opts.partitions = 2;
    let mut cl = Cluster::start(opts);
    let cut = 2;
    cl.stop(cut);
    for p in 0..cl.opts.partitions {
        cl.leader_of(p, &[cut], LONG);
    }
    wait_until(LONG, "writes without node 3", || cl.client(0).set::<_, _, ()>("probe", 1).is_ok());
    let mut c = cl.client(0);
    for b in 0..20 {
        let mut pipe = redis::pipe();
        for k in 0..100 {
            pipe.set(format!("s{}", b * 100 + k), b * 100 + k).ignore();
        }
        let _: () = pipe.query(&mut c).unwrap();
    }
    for p in 0..cl.opts.partitions {
        wait_until(LONG, "leaders to compact their logs", || {
            let l = cl.leader_of(p, &[cut], LONG);
            cl.metric(l, "kvnode_partition_log_first_index", p).is_some_and(|f| f > 200)
        });
    }
    // Node 3 restarts, pulls a snapshot, ingests it and dies right there
    // (state Applying, data replaced, not yet recorded as installed).
    cl.nodes[cut].env = vec![("KVNODE_FAILPOINTS".into(), "snapshot-after-ingest".into())];
    cl.run_until_exit(cut, LONG);
    assert!(cl.nodes[cut].log_tail().contains("failpoint snapshot-after-ingest"));
    cl.nodes[cut].env.clear();
    cl.restart(cut);
    assert!(cl.counter(cut, "kvnode_snapshot_installs_resumed_total").unwrap() >= 1);
    cl.wait_healthy(LONG);
    wait_value_on(&cl, cut, "s1999", Some("1999"));
    let mut r = cl.client(cut);
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    for k in 0..2000 {
        assert_eq!(get(&mut r, &format!("s{k}")).unwrap(), Some(k.to_string()), "s{k} on node 3");
    }
}

#[test]
fn a_node_without_a_replica_serves_scan_randomkey_watch_and_blocking_pops() {
    // Replication 2 of 3: node 1 holds partition 0 only; partition 1 lives
    // on nodes 2 and 3.
    let cl = Cluster::start(ClusterOptions { replication: 2, partitions: 2, ..ClusterOptions::default() });
    assert_eq!(cl.metric(0, "kvnode_partition_replica_id", 1), None);
    let key_in =
        |prefix: &str, p: u32| (0..).map(|n| format!("{prefix}{n}")).find(|k| cl.partition_of(k) == p).unwrap();
    let remote = key_in("key", 1);
    let mut c = cl.client(0);
    let mut written = Vec::new();
    for n in 0..100 {
        let k = format!("scan{n}");
        let _: () = c.set(&k, n).unwrap();
        written.push(k);
    }
    assert!(written.iter().any(|k| cl.partition_of(k) == 1));
    // SCAN through node 1 visits both partitions.
    let mut seen = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(7).query(&mut c).unwrap();
        seen.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    seen.sort();
    written.sort();
    assert_eq!(seen, written);
    let k: Option<String> = redis::cmd("RANDOMKEY").query(&mut c).unwrap();
    assert!(k.is_some_and(|k| k.starts_with("scan")));
    // WATCH of a key of partition 1 through node 1: a change through another
    // node aborts the transaction, no change lets it commit.
    let _: () = redis::cmd("WATCH").arg(&remote).query(&mut c).unwrap();
    let _: () = cl.client(1).set(&remote, "changed").unwrap();
    let r: Option<Vec<String>> =
        redis::pipe().atomic().set(&remote, "mine").ignore().get(&remote).query(&mut c).unwrap();
    assert_eq!(r, None);
    let _: () = redis::cmd("WATCH").arg(&remote).query(&mut c).unwrap();
    let r: Option<(String,)> = redis::pipe().atomic().set(&remote, "mine").ignore().get(&remote).query(&mut c).unwrap();
    assert_eq!(r, Some(("mine".to_string(),)));
    // A client blocked on node 1 for a list of partition 1 gets the push
    // made through node 3.
    let list = key_in("list", 1);
    let url = cl.url(0);
    let l2 = list.clone();
    let blocked = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let r: Option<(String, String)> = redis::cmd("BLPOP").arg(&l2).arg(30).query(&mut c).unwrap();
        r
    });
    wait_until(LONG, "the client to block", || {
        redis::cmd("INFO").arg("clients").query::<String>(&mut cl.client(0)).unwrap().contains("blocked_clients:1")
    });
    let _: () = cl.client(2).rpush(&list, "pushed").unwrap();
    assert_eq!(blocked.join().unwrap(), Some((list, "pushed".to_string())));
    // A consumer blocked on node 1 on a group of a stream of partition 1
    // waits by asking the leader (reads), not by proposing its group read
    // again and again; it gets the entry added through node 3.
    let stream = key_in("stream", 1);
    let mut c2 = cl.client(2);
    let _: () =
        redis::cmd("XGROUP").arg("CREATE").arg(&stream).arg("g").arg("$").arg("MKSTREAM").query(&mut c2).unwrap();
    let _: String = redis::cmd("XADD").arg(&stream).arg("*").arg("f").arg("v").query(&mut c2).unwrap();
    let _: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut cl.client(0))
        .unwrap();
    let proposals = || -> u64 { (1..3).filter_map(|i| cl.metric(i, "kvnode_partition_proposals_total", 1)).sum() };
    let before = proposals();
    let r: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("BLOCK")
        .arg(1000)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut cl.client(0))
        .unwrap();
    assert_eq!(r, Value::Nil, "nothing new: the wait times out");
    let spent = proposals() - before;
    assert!(spent < 4, "{spent} proposals while one XREADGROUP waited a second on a node without a replica");
    let url = cl.url(0);
    let s2 = stream.clone();
    let reader = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let r: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("c")
            .arg("BLOCK")
            .arg(30_000)
            .arg("STREAMS")
            .arg(&s2)
            .arg(">")
            .query(&mut c)
            .unwrap();
        r
    });
    wait_until(LONG, "the consumer to block", || {
        redis::cmd("INFO").arg("clients").query::<String>(&mut cl.client(0)).unwrap().contains("blocked_clients:1")
    });
    let id: String = redis::cmd("XADD").arg(&stream).arg("*").arg("f").arg("new").query(&mut cl.client(2)).unwrap();
    let r = reader.join().unwrap();
    assert!(format!("{r:?}").contains(&id), "{r:?} lacks {id}");
}

#[test]
fn a_node_whose_disk_fills_up_stops_and_catches_up_once_it_has_space() {
    let Some(disk) = SmallDisk::mount(160) else { return };
    let mut opts = ClusterOptions::default();
    opts.data_dirs.push((2, disk.path().join("data")));
    let mut cl = Cluster::start(opts);
    // Large values through node 1 until node 3's disk is full, and a
    // hundred more with node 3 down (nodes 1 and 2 are a quorum).
    let mut c = cl.client(0);
    let mut acked = Vec::new();
    let mut since_exit = 0;
    for k in 0..8192u64 {
        match redis::cmd("SET").arg(format!("k{k}")).arg(incompressible(k)).query::<()>(&mut c) {
            Ok(()) => acked.push(k),
            // (An election after node 3 stopped: a fresh connection, as
            // one whose write had an unknown outcome refuses more.)
            Err(_) => c = cl.client(0),
        }
        if cl.exited(2) {
            since_exit += 1;
            if since_exit > 100 {
                break;
            }
        }
    }
    assert!(since_exit > 100, "node 3's disk never filled ({} acknowledged)", acked.len());
    let log = cl.nodes[2].log_text();
    assert!(log.contains("No space left on device"), "{}", cl.nodes[2].log_tail());
    let fatal: Vec<&str> = log.lines().filter(|l| l.contains("FATAL")).collect();
    eprintln!("{} writes acknowledged; node 3: {}", acked.len(), fatal.join(" / "));
    // With space again, node 3 restarts and its replicas catch up on every
    // acknowledged write, those made while it was down included.
    disk.resize(1024);
    cl.restart(2);
    let mut r = cl.client(2);
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    let mut read = |k: u64| redis::cmd("GET").arg(format!("k{k}")).query::<Option<Vec<u8>>>(&mut r).ok().flatten();
    for p in 0..cl.opts.partitions {
        if let Some(&last) = acked.iter().rev().find(|k| cl.partition_of(&format!("k{k}")) == p) {
            wait_until(LONG, &format!("node 3 to hold k{last}"), || read(last) == Some(incompressible(last)));
        }
    }
    for &k in &acked {
        assert!(read(k) == Some(incompressible(k)), "k{k} missing on node 3's replica");
    }
}

/// A BLMOVE that waits on an empty list must wait, not retry: its own
/// failed LMOVE once woke it at once, so it proposed LMOVE after LMOVE and
/// never reached its timeout.
#[test]
fn a_blmove_that_waits_proposes_nothing_while_it_waits() {
    let cl = Cluster::start(ClusterOptions::default());
    let proposals = || -> u64 {
        (0..3)
            .filter_map(|i| cl.http(i, "/metrics"))
            .flat_map(|m| {
                m.lines()
                    .filter(|l| l.starts_with("kvnode_partition_proposals_total{"))
                    .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()))
                    .collect::<Vec<_>>()
            })
            .sum()
    };
    let mut c = cl.client(0);
    let before = proposals();
    let r: Value =
        redis::cmd("BLMOVE").arg("{b}src").arg("{b}dst").arg("RIGHT").arg("LEFT").arg("1").query(&mut c).unwrap();
    assert_eq!(r, Value::Nil, "a timed-out BLMOVE answers a null array");
    let spent = proposals() - before;
    assert!(spent < 20, "{spent} proposals while one BLMOVE waited a second");
}

/// A rolling upgrade: while one node runs an older apply version
/// (`KVNODE_APPLY_VERSION=1`), a command it could not apply is refused with
/// TRYAGAIN through every node, and older commands go on working; once that
/// node runs the new version the command works, and every replica has it.
#[test]
fn a_command_newer_than_a_replica_waits_for_its_upgrade() {
    let mut cl = Cluster::start(ClusterOptions::default());
    let heard = |cl: &Cluster, version: &str| {
        (0..2).all(|i| {
            cl.http(i, "/metrics")
                .is_some_and(|m| m.lines().any(|l| l == format!("kvnode_apply_version{{node=\"3\"}} {version}")))
        })
    };
    cl.stop(2);
    cl.nodes[2].env = vec![("KVNODE_APPLY_VERSION".into(), "1".into())];
    cl.restart(2);
    wait_until(Duration::from_secs(20), "nodes 1 and 2 to hear that node 3 applies version 1", || heard(&cl, "1"));
    for i in 0..3 {
        // (Retried while a leader change that node 3's restart caused settles.)
        wait_until(Duration::from_secs(20), "SETBIT to be refused for node 3's version", || {
            let mut c = cl.client(i);
            match redis::cmd("SETBIT").arg("{u}bits").arg(7).arg(1).query::<i64>(&mut c) {
                Ok(_) => panic!("SETBIT accepted through node {} while node 3 is old", i + 1),
                Err(e) => e.to_string().contains("node 3 applies 1"),
            }
        });
        let mut c = cl.client(i);
        match redis::cmd("PFADD").arg("{u}hll").arg("a").query::<i64>(&mut c) {
            Ok(_) => panic!("PFADD accepted through node {} while node 3 is old", i + 1),
            Err(e) => assert!(e.to_string().contains("needs every replica at apply version 3"), "{e}"),
        }
        match redis::cmd("XADD").arg("{u}stream").arg("*").arg("f").arg("v").query::<String>(&mut c) {
            Ok(_) => panic!("XADD accepted through node {} while node 3 is old", i + 1),
            Err(e) => assert!(e.to_string().contains("needs every replica at apply version 4"), "{e}"),
        }
        // An FCALL's entry carries its library's code, which an older node
        // would run as a script (or, like any script, with writable library
        // tables).
        let lib =
            "#!lua name=up\nredis.register_function('up', function(keys) return redis.call('SET', keys[1], 1) end)";
        let _: String = redis::cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(lib).query(&mut c).unwrap();
        match redis::cmd("FCALL").arg("up").arg(1).arg("{u}fn").query::<String>(&mut c) {
            Ok(_) => panic!("FCALL accepted through node {} while node 3 is old", i + 1),
            Err(e) => assert!(e.to_string().contains("needs every replica at apply version 13"), "{e}"),
        }
        // A restricted user's script carries the user's rules, which an
        // older node would not check its commands against (nor run it in
        // read-only tables).
        let _: () = redis::cmd("ACL").arg(&["SETUSER", "up", "on", ">pw", "+@all", "~{u}*"]).query(&mut c).unwrap();
        let mut restricted = cl.client(i);
        let _: () = redis::cmd("AUTH").arg("up").arg("pw").query(&mut restricted).unwrap();
        let script = redis::cmd("EVAL").arg("return redis.call('SET', KEYS[1], 1)").arg(1).arg("{u}lua").clone();
        match script.query::<String>(&mut restricted) {
            Ok(_) => panic!("a restricted user's EVAL accepted through node {} while node 3 is old", i + 1),
            Err(e) => assert!(e.to_string().contains("needs every replica at apply version 13"), "{e}"),
        }
        // A long value is kept in chunks, which an older node cannot read.
        let long = vec![b'x'; 70 << 10];
        match redis::cmd("SET").arg("{u}long").arg(&long).query::<()>(&mut c) {
            Ok(_) => panic!("a SET of a long value accepted through node {} while node 3 is old", i + 1),
            Err(e) => assert!(e.to_string().contains("needs every replica at apply version 10"), "{e}"),
        }
        // `~` trims whole nodes of entries since version 12.
        match redis::cmd("XTRIM").arg("{u}stream").arg("MAXLEN").arg("~").arg(0).query::<i64>(&mut c) {
            Ok(_) => panic!("XTRIM ~ accepted through node {} while node 3 is old", i + 1),
            Err(e) => assert!(e.to_string().contains("needs every replica at apply version 12"), "{e}"),
        }
        // Sorted sets keep their rank counts by version 11's rules.
        match redis::cmd("ZADD").arg("{u}z").arg(1).arg("m").query::<i64>(&mut c) {
            Ok(_) => panic!("ZADD accepted through node {} while node 3 is old", i + 1),
            Err(e) => assert!(e.to_string().contains("needs every replica at apply version 11"), "{e}"),
        }
        // ZUNIONSTORE takes its inputs by size since version 13.
        match redis::cmd("ZUNIONSTORE").arg("{u}zu").arg(1).arg("{u}z").query::<i64>(&mut c) {
            Ok(_) => panic!("ZUNIONSTORE accepted through node {} while node 3 is old", i + 1),
            Err(e) => assert!(e.to_string().contains("needs every replica at apply version 13"), "{e}"),
        }
        wait_until(Duration::from_secs(20), "an older command to work meanwhile", || {
            let mut c = cl.client(i);
            redis::cmd("SET").arg("{u}plain").arg("v").query::<()>(&mut c).is_ok()
        });
    }
    cl.stop(2);
    cl.nodes[2].env.clear();
    cl.restart(2);
    // This build's version, as node 1 tells its own.
    let current = cl
        .http(0, "/metrics")
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("kvnode_apply_version{node=\"self\"} ").map(str::to_string))
        })
        .expect("node 1 tells its apply version");
    wait_until(Duration::from_secs(20), "nodes 1 and 2 to hear that node 3 runs this build's version", || {
        heard(&cl, &current)
    });
    // (Retried while node 3's restart settles: a retry after an unknown
    // outcome sets the same bit.)
    wait_until(Duration::from_secs(20), "SETBIT to be accepted", || {
        let mut c = cl.client(0);
        redis::cmd("SETBIT").arg("{u}bits").arg(7).arg(1).query::<i64>(&mut c).is_ok()
    });
    for i in 0..3 {
        wait_until(Duration::from_secs(20), "every replica to hold the bit", || {
            let mut c = cl.client(i);
            let _: RedisResult<()> = redis::cmd("READONLY").query(&mut c);
            redis::cmd("GETBIT").arg("{u}bits").arg(7).query::<i64>(&mut c).ok() == Some(1)
        });
    }
    assert!(!cl.exited(2), "node 3 kept running");
}

/// A node that was down while the others upgraded, and comes back older
/// than an entry in its log, stops at that entry rather than skip it (its
/// replicas would differ from the others).
#[test]
fn a_node_older_than_an_entry_it_must_apply_stops() {
    let mut cl = Cluster::start(ClusterOptions::default());
    cl.stop(2);
    // Through the partition's leader among the two left.
    let leader = cl.leader_of(cl.partition_of("{u}bits"), &[2], Duration::from_secs(20));
    let mut c = cl.client(leader);
    let old: i64 = redis::cmd("SETBIT").arg("{u}bits").arg(3).arg(1).query(&mut c).unwrap();
    assert_eq!(old, 0);
    cl.nodes[2].env = vec![("KVNODE_APPLY_VERSION".into(), "1".into())];
    cl.launch_with_bootstrap(2);
    wait_until(Duration::from_secs(30), "node 3 to stop at the entry", || cl.exited(2));
    let log = cl.nodes[2].log_text();
    assert!(
        log.contains("needs apply version 10; this node applies 1: upgrade it"),
        "node 3's log:\n{}",
        cl.nodes[2].log_tail()
    );
    // The others serve on.
    let bit: i64 = redis::cmd("GETBIT").arg("{u}bits").arg(3).query(&mut c).unwrap();
    assert_eq!(bit, 1);
}

/// WAIT counts the other replicas that hold a connection's writes: both
/// followers when all is well, one while the other is cut off (after the
/// timeout), both again once it is back.
#[test]
fn wait_counts_the_replicas_that_hold_the_writes() {
    let cl = Cluster::start(ClusterOptions::default());
    let p = cl.partition_of("{w}k");
    let leader = cl.leader_of(p, &[], Duration::from_secs(20));
    let cut = (leader + 1) % 3;
    let mut c = cl.client(leader);
    let wait =
        |c: &mut redis::Connection, n: i64, ms: i64| -> i64 { redis::cmd("WAIT").arg(n).arg(ms).query(c).unwrap() };
    // No writes yet: every replica holds them.
    assert_eq!(wait(&mut c, 2, 0), 2);
    let _: () = c.set("{w}k", "1").unwrap();
    assert_eq!(wait(&mut c, 2, 10_000), 2);
    cl.isolate(cut);
    let _: () = c.set("{w}k", "2").unwrap();
    assert_eq!(wait(&mut c, 1, 10_000), 1, "the follower still connected holds it");
    assert_eq!(wait(&mut c, 2, 300), 1, "the cut-off follower does not");
    cl.heal_all();
    assert_eq!(wait(&mut c, 2, 20_000), 2, "it catches up once healed");
}

/// A script is a write like any other: it reaches its partition's leader
/// through any node (EVALSHA after each node's own SCRIPT LOAD), every
/// replica runs it and ends up with the same data, and a key outside the
/// partition of its declared keys is refused.
#[test]
fn scripts_run_alike_on_every_replica() {
    let cl = Cluster::start(ClusterOptions::default());
    let script = "for i = 1, 20 do redis.call('RPUSH', KEYS[1], ARGV[1] .. i) end \
                  return redis.call('INCRBY', KEYS[2], redis.call('LLEN', KEYS[1]))";
    let mut sha = String::new();
    for i in 0..3 {
        let mut c = cl.client(i);
        sha = redis::cmd("SCRIPT").arg("LOAD").arg(script).query(&mut c).unwrap();
        // (Retried while the cluster settles after start: the same script
        // again only makes the numbers larger.)
        wait_until(Duration::from_secs(20), "EVALSHA through every node", || {
            redis::cmd("EVALSHA")
                .arg(&sha)
                .arg(2)
                .arg("{s}list")
                .arg("{s}n")
                .arg(format!("n{i}-"))
                .query::<i64>(&mut c)
                .is_ok()
        });
    }
    let mut c = cl.client(0);
    let expected: Vec<String> = redis::cmd("LRANGE").arg("{s}list").arg(0).arg(-1).query(&mut c).unwrap();
    assert!(expected.len() >= 60, "{} elements", expected.len());
    let n: i64 = redis::cmd("GET").arg("{s}n").query(&mut c).unwrap();
    for i in 0..3 {
        wait_until(Duration::from_secs(20), "every replica to hold what the scripts wrote", || {
            let mut c = cl.client(i);
            let _: RedisResult<()> = redis::cmd("READONLY").query(&mut c);
            let list: Vec<String> =
                redis::cmd("LRANGE").arg("{s}list").arg(0).arg(-1).query(&mut c).unwrap_or_default();
            let count: Option<i64> = redis::cmd("GET").arg("{s}n").query(&mut c).ok();
            list == expected && count == Some(n)
        });
    }
    let other =
        (0..100).map(|i| format!("other{i}")).find(|k| cl.partition_of(k) != cl.partition_of("{s}list")).unwrap();
    let e = redis::cmd("EVAL")
        .arg("return redis.call('SET', ARGV[1], 'x')")
        .arg(1)
        .arg("{s}list")
        .arg(&other)
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("non local key"), "{e}");
    let e =
        redis::cmd("EVALSHA").arg(&sha).arg(2).arg("{s}list").arg(&other).arg("x").query::<i64>(&mut c).unwrap_err();
    assert!(e.to_string().contains("hash to the same slot"), "{e}");
}

/// A script or function loaded on one node runs through every node: a node
/// that lacks the script an EVALSHA names, or the function an FCALL names,
/// finds it on another. (redis-py's cluster client loads scripts on the
/// nodes it takes for masters, one of our three: its Lock then got NOSCRIPT
/// through the other two.) Each node's own cache and libraries stay its
/// own, as in Redis Cluster, but SCRIPT FLUSH empties every node's.
#[test]
fn scripts_and_functions_loaded_on_one_node_run_through_every_node() {
    let cl = Cluster::start(ClusterOptions::default());
    let mut keys: Vec<String> = Vec::new();
    for i in 0.. {
        let k = format!("k{i}");
        if !keys.iter().any(|o| cl.partition_of(o) == cl.partition_of(&k)) {
            keys.push(k);
        }
        if keys.len() == cl.opts.partitions as usize {
            break;
        }
    }
    // Served through every node before anything is asserted.
    for i in 0..3 {
        let mut c = cl.client(i);
        for k in &keys {
            wait_until(LONG, "a write through every node", || c.set::<_, _, ()>(k, 0).is_ok());
        }
    }
    let sha: String =
        redis::cmd("SCRIPT").arg("LOAD").arg("return redis.call('INCR', KEYS[1])").query(&mut cl.client(0)).unwrap();
    let library = "#!lua name=lib\nredis.register_function('bump', function(keys, args) \
                   return redis.call('INCRBY', keys[1], args[1]) end)";
    let _: String = redis::cmd("FUNCTION").arg("LOAD").arg(library).query(&mut cl.client(0)).unwrap();
    for i in 0..3 {
        let mut c = cl.client(i);
        for k in &keys {
            let before: i64 = c.get(k).unwrap();
            let n: i64 = redis::cmd("EVALSHA").arg(&sha).arg(1).arg(k).query(&mut c).unwrap();
            assert_eq!(n, before + 1, "EVALSHA of {k} through node {i}");
            let n: i64 = redis::cmd("FCALL").arg("bump").arg(1).arg(k).arg(10).query(&mut c).unwrap();
            assert_eq!(n, before + 11, "FCALL of {k} through node {i}");
        }
        // The script found elsewhere stays in this node's cache; the
        // library is not loaded here.
        let exists: Vec<i64> = redis::cmd("SCRIPT").arg("EXISTS").arg(&sha).query(&mut c).unwrap();
        assert_eq!(exists, vec![1], "SCRIPT EXISTS on node {i}");
        let libs: Vec<Value> = redis::cmd("FUNCTION").arg("LIST").query(&mut c).unwrap();
        assert_eq!(libs.len(), usize::from(i == 0), "FUNCTION LIST on node {i}");
        let e = redis::cmd("EVALSHA").arg("f".repeat(40)).arg(1).arg(&keys[0]).query::<i64>(&mut c).unwrap_err();
        assert_eq!(e.kind(), redis::ErrorKind::NoScriptError, "{e}");
    }
    // SCRIPT FLUSH empties every node's cache, copies included.
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut cl.client(0)).unwrap();
    for i in 0..3 {
        let mut c = cl.client(i);
        let exists: Vec<i64> = redis::cmd("SCRIPT").arg("EXISTS").arg(&sha).query(&mut c).unwrap();
        assert_eq!(exists, vec![0], "SCRIPT EXISTS on node {i} after SCRIPT FLUSH");
        let e = redis::cmd("EVALSHA").arg(&sha).arg(1).arg(&keys[0]).query::<i64>(&mut c).unwrap_err();
        assert_eq!(e.kind(), redis::ErrorKind::NoScriptError, "node {i} after SCRIPT FLUSH: {e}");
    }
    let _: String = redis::cmd("FUNCTION").arg("DELETE").arg("lib").query(&mut cl.client(0)).unwrap();
    for i in 0..3 {
        let e =
            redis::cmd("FCALL").arg("bump").arg(1).arg(&keys[0]).arg(1).query::<i64>(&mut cl.client(i)).unwrap_err();
        assert!(e.to_string().contains("Function not found"), "node {i}: {e}");
    }
    // With a node down, the lookup asks the other one and answers: found,
    // or NOSCRIPT (not a hang, not an error of the dead node's).
    let mut cl = cl;
    cl.kill9(2);
    let other: String =
        redis::cmd("SCRIPT").arg("LOAD").arg("return redis.call('DECR', KEYS[1])").query(&mut cl.client(0)).unwrap();
    // Any key's partition is served with one node of three down (after an
    // election, if node 3 led it): retried until then, the last error told.
    // A new connection each time: a write sent to the killed leader is
    // UNCERTAIN, and its connection refuses that partition from then on.
    let mut last = String::new();
    wait_until(LONG, "EVALSHA through node 2 with node 3 down", || {
        match redis::cmd("EVALSHA").arg(&other).arg(1).arg(&keys[0]).query::<i64>(&mut cl.client(1)) {
            Ok(_) => true,
            Err(e) => {
                if e.to_string() != last {
                    eprintln!("EVALSHA through node 2: {e}");
                    last = e.to_string();
                }
                false
            }
        }
    });
    let e = redis::cmd("EVALSHA").arg("e".repeat(40)).arg(1).arg(&keys[0]).query::<i64>(&mut cl.client(1)).unwrap_err();
    assert_eq!(e.kind(), redis::ErrorKind::NoScriptError, "with node 3 down: {e}");
}

/// CLUSTER LINKS lists each node's connections to and from its peers, as
/// Redis does (redis-py's cluster_links); a killed peer's incoming link goes.
/// CLUSTER's slot management subcommands are refused with a reason.
#[test]
fn cluster_links_lists_the_connections_to_and_from_each_peer() {
    let mut cl = Cluster::start(ClusterOptions::default());
    let names: Vec<String> =
        (0..3).map(|i| redis::cmd("CLUSTER").arg("MYID").query(&mut cl.client(i)).unwrap()).collect();
    // (direction, peer name) of node i's links.
    let links = |cl: &Cluster, i: usize| -> Vec<(String, String)> {
        let listed: Vec<Vec<Value>> = redis::cmd("CLUSTER").arg("LINKS").query(&mut cl.client(i)).unwrap();
        listed
            .into_iter()
            .map(|fields| {
                let field = |name: &str| -> String {
                    let at =
                        fields.iter().position(|f| redis::from_redis_value::<String>(f).ok().as_deref() == Some(name));
                    redis::from_redis_value(&fields[at.expect("the field") + 1]).unwrap()
                };
                let since: i64 = field("create-time").parse().unwrap();
                assert!(since > 1_600_000_000_000, "create-time {since} is in ms since the epoch");
                (field("direction"), field("node"))
            })
            .collect()
    };
    for i in 0..3 {
        let mut want: Vec<(String, String)> = Vec::new();
        for (_, name) in names.iter().enumerate().filter(|(j, _)| *j != i) {
            want.push(("to".into(), name.clone()));
            want.push(("from".into(), name.clone()));
        }
        want.sort_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
        wait_until(LONG, "every link up", || {
            let mut got = links(&cl, i);
            got.sort_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
            got == want
        });
        // Listed a peer's `to` link, then its `from` link.
        let got = links(&cl, i);
        for pair in got.chunks(2) {
            assert_eq!((pair[0].0.as_str(), pair[1].0.as_str()), ("to", "from"), "{got:?}");
            assert_eq!(pair[0].1, pair[1].1, "{got:?}");
        }
    }
    // Slot management is not a node's: a clear refusal, not "unknown".
    for args in [&["DELSLOTS", "1"][..], &["ADDSLOTS", "1"], &["SETSLOT", "1", "NODE", "x"], &["MEET", "h", "1"]] {
        let e = redis::cmd("CLUSTER").arg(args).query::<String>(&mut cl.client(0)).unwrap_err();
        assert!(e.to_string().contains("is not supported: slots are placed by partition"), "{args:?}: {e}");
    }
    cl.kill9(2);
    for i in 0..2 {
        wait_until(LONG, "the killed node's incoming link to go", || {
            !links(&cl, i).iter().any(|(d, n)| d == "from" && *n == names[2])
        });
    }
}

/// A stream's automatic IDs come from the raft entry's stamp, so every
/// replica holds the same IDs; a reader blocked on one node wakes on an
/// XADD through another, and a group's deliveries are the same everywhere.
#[test]
fn streams_get_the_same_ids_on_every_replica_and_wake_readers_across_nodes() {
    let cl = Cluster::start(ClusterOptions::default());
    let url = cl.url(0);
    let reader = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let r: Value =
            redis::cmd("XREAD").arg("BLOCK").arg(30_000).arg("STREAMS").arg("{x}s").arg("$").query(&mut c).unwrap();
        r
    });
    let mut c0 = cl.client(0);
    wait_until(LONG, "XREAD to block", || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c0).unwrap();
        info.contains("blocked_clients:1")
    });
    let mut c2 = cl.client(2);
    let first: String = redis::cmd("XADD").arg("{x}s").arg("*").arg("f").arg("v").query(&mut c2).unwrap();
    let Value::Array(streams) = reader.join().unwrap() else { panic!("no streams") };
    let Value::Array(pair) = &streams[0] else { panic!("no stream") };
    let Value::Array(entries) = &pair[1] else { panic!("no entries") };
    let Value::Array(entry) = &entries[0] else { panic!("no entry") };
    assert_eq!(entry[0], Value::BulkString(first.clone().into_bytes()));
    // More entries through every node, and a group reading some of them.
    for i in 0..30 {
        let mut c = cl.client(i % 3);
        let _: String = redis::cmd("XADD").arg("{x}s").arg("*").arg("n").arg(i).query(&mut c).unwrap();
    }
    let _: () = redis::cmd("XGROUP").arg("CREATE").arg("{x}s").arg("g").arg("0").query(&mut c2).unwrap();
    let _: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("COUNT")
        .arg(7)
        .arg("STREAMS")
        .arg("{x}s")
        .arg(">")
        .query(&mut c2)
        .unwrap();
    let expected: Value = redis::cmd("XRANGE").arg("{x}s").arg("-").arg("+").query(&mut c0).unwrap();
    let pending: Value = redis::cmd("XPENDING").arg("{x}s").arg("g").query(&mut c0).unwrap();
    let Value::Array(all) = &expected else { panic!() };
    assert_eq!(all.len(), 31);
    for i in 0..3 {
        wait_until(LONG, "every replica to hold the same entries and group", || {
            let mut c = cl.client(i);
            let _: RedisResult<()> = redis::cmd("READONLY").query(&mut c);
            let range: Option<Value> = redis::cmd("XRANGE").arg("{x}s").arg("-").arg("+").query(&mut c).ok();
            let p: Option<Value> = redis::cmd("XPENDING").arg("{x}s").arg("g").query(&mut c).ok();
            range.as_ref() == Some(&expected) && p.as_ref() == Some(&pending)
        });
    }
}
