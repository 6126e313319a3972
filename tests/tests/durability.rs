//! Nothing acknowledged is lost: SIGKILL at rest and during a flood of
//! pipelined writes, restart, check; a disk that fills up; expired keys stay
//! gone; the raft log is compacted and a restart replays only its tail.

use kvtests::harness::{failed_start, incompressible, wait_until, KvNode, NodeOptions, SmallDisk};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info}"))
}

#[test]
fn restart_after_sigkill_keeps_ten_thousand_keys_and_drops_expired_ones() {
    for partitions in [1, 8] {
        let mut node = KvNode::with_partitions(partitions);
        let mut c = node.client();
        let mut p = redis::pipe();
        for i in 0..10_000 {
            match i % 10 {
                // Short TTLs: gone by the time we look.
                0 => p.cmd("SET").arg(format!("k{i}")).arg(i).arg("PX").arg(300),
                // Long TTLs: still there.
                1 => p.cmd("SET").arg(format!("k{i}")).arg(i).arg("EX").arg(3600),
                _ => p.cmd("SET").arg(format!("k{i}")).arg(i),
            };
        }
        let _: () = p.query(&mut c).unwrap();
        let short_deadline = Instant::now() + Duration::from_millis(300);
        node.kill9();
        node.restart();
        let mut c = node.client();
        while Instant::now() < short_deadline + Duration::from_millis(50) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let keys: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
        let values: Vec<Option<i64>> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap_or_else(|_| {
            // With 8 partitions MGET spans partitions and is answered per key.
            panic!("MGET failed")
        });
        for (i, v) in values.iter().enumerate() {
            if i % 10 == 0 {
                assert_eq!(*v, None, "k{i} expired but is visible ({partitions} partitions)");
            } else {
                assert_eq!(*v, Some(i as i64), "k{i} lost after SIGKILL ({partitions} partitions)");
            }
        }
        let ttl: i64 = redis::cmd("TTL").arg("k1").query(&mut c).unwrap();
        assert!(ttl > 3000 && ttl <= 3600, "TTL survives the restart: {ttl}");
        // Active expiry removes the expired ones in the background.
        wait_until(Duration::from_secs(30), "expired keys removed", || {
            let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
            n == 9000
        });
    }
}

/// Writes pipelines of SETs with fresh keys until told to stop; records the
/// keys whose pipeline was acknowledged.
fn flood(port: u16, round: usize, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<(String, String)>>>) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let Ok(mut c) = client.get_connection() else {
        return;
    };
    let mut batch = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut p = redis::pipe();
        let mut keys = Vec::new();
        for i in 0..50 {
            let k = format!("r{round}:b{batch}:{i}");
            let v = format!("v{round}.{batch}.{i}");
            p.cmd("SET").arg(&k).arg(&v);
            keys.push((k, v));
        }
        match p.query::<()>(&mut c) {
            Ok(()) => acked.lock().unwrap().extend(keys),
            Err(_) => return, // the node died: this pipeline's outcome is unknown
        }
        batch += 1;
    }
}

#[test]
fn sigkill_during_a_flood_of_pipelined_writes_twenty_times() {
    let mut node = KvNode::start(NodeOptions { partitions: 4, ..Default::default() });
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut all_acked: HashMap<String, String> = HashMap::new();
    for round in 0..20 {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (stop, acked, port) = (stop.clone(), acked.clone(), node.port);
                std::thread::spawn(move || flood(port, round * 10 + w, stop, acked))
            })
            .collect();
        // Let some writes be acknowledged, then kill at a random moment.
        wait_until(Duration::from_secs(30), "acknowledged writes", || acked.lock().unwrap().len() >= 200);
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..150)));
        node.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        all_acked.extend(acked.lock().unwrap().drain(..));
        node.restart();
        let mut c = node.client();
        let keys: Vec<&String> = all_acked.keys().collect();
        for chunk in keys.chunks(2000) {
            let vals: Vec<Option<String>> = redis::cmd("MGET").arg(chunk).query(&mut c).unwrap();
            for (k, v) in chunk.iter().zip(vals) {
                assert_eq!(v.as_deref(), Some(all_acked[*k].as_str()), "round {round}: acknowledged {k} lost");
            }
        }
    }
    assert!(all_acked.len() > 20 * 200);
}

#[test]
fn the_raft_log_is_compacted_and_restart_replays_only_the_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("kvnode.toml");
    std::fs::write(&conf, "log-compact-entries = 500\n").unwrap();
    let mut node =
        KvNode::start(NodeOptions { extra: vec!["--config".into(), conf.display().to_string()], ..Default::default() });
    let mut c = node.client();
    for batch in 0..50 {
        let mut p = redis::pipe();
        for i in 0..100 {
            p.cmd("SET").arg(format!("c{}", batch * 100 + i)).arg(i);
        }
        let _: () = p.query(&mut c).unwrap();
    }
    // 5000 entries were written; compaction keeps the log near its threshold.
    wait_until(Duration::from_secs(30), "log compaction", || {
        info_field(&mut c, "persistence", "raft_log_entries") < 1500
    });
    node.kill9();
    node.restart();
    let mut c = node.client();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 5000);
    let v: i64 = redis::cmd("GET").arg("c4999").query(&mut c).unwrap();
    assert_eq!(v, 99);
    assert!(info_field(&mut c, "persistence", "raft_log_entries") < 1500);
}

#[test]
fn sigterm_shuts_down_cleanly_and_everything_is_there_after() {
    let mut node = KvNode::with_partitions(2);
    let mut c = node.client();
    let _: () = redis::cmd("MSET").arg("{a}x").arg(1).arg("{a}y").arg(2).query(&mut c).unwrap();
    let status = node.stop();
    assert!(status.success(), "kvnode exited with {status}");
    node.restart();
    let mut c = node.client();
    let v: Vec<i64> = redis::cmd("MGET").arg("{a}x").arg("{a}y").query(&mut c).unwrap();
    assert_eq!(v, vec![1, 2]);
}

/// FUNCTION LOAD, DELETE and RESTORE are on disk once acknowledged: a
/// SIGKILL right after loses none of them; a damaged file of libraries
/// stops the start with an error naming it rather than serve without them.
#[test]
fn function_libraries_survive_sigkill_and_a_damaged_file_stops_the_start() {
    let mut node = KvNode::with_partitions(1);
    let mut c = node.client();
    let lib = |name: &str, f: &str, reply: &str| {
        format!(
            "#!lua name={name}\nredis.register_function('{f}', function(keys) return '{reply}' .. (keys[1] or '') end)"
        )
    };
    for (name, f) in [("one", "f1"), ("two", "f2"), ("three", "f3")] {
        let loaded: String = redis::cmd("FUNCTION").arg("LOAD").arg(lib(name, f, name)).query(&mut c).unwrap();
        assert_eq!(loaded, name);
    }
    let _: () = redis::cmd("FUNCTION").arg("DELETE").arg("two").query(&mut c).unwrap();
    let _: String =
        redis::cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(lib("three", "f3b", "new")).query(&mut c).unwrap();
    node.kill9();
    node.restart();
    let mut c = node.client();
    let call = |c: &mut redis::Connection, f: &str| -> redis::RedisResult<String> {
        redis::cmd("FCALL").arg(f).arg(1).arg("k").query(c)
    };
    assert_eq!(call(&mut c, "f1").unwrap(), "onek");
    assert_eq!(call(&mut c, "f3b").unwrap(), "newk");
    for gone in ["f2", "f3"] {
        assert!(call(&mut c, gone).unwrap_err().to_string().contains("Function not found"));
    }
    // FUNCTION RESTORE ... FLUSH replaces them all, durably too.
    let payload: Vec<u8> = redis::cmd("FUNCTION").arg("DUMP").query(&mut c).unwrap();
    let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut c).unwrap();
    let _: () = redis::cmd("FUNCTION").arg("RESTORE").arg(&payload).arg("FLUSH").query(&mut c).unwrap();
    node.kill9();
    node.restart();
    let mut c = node.client();
    assert_eq!(call(&mut c, "f1").unwrap(), "onek");
    let stats: redis::Value = redis::cmd("FUNCTION").arg("STATS").query(&mut c).unwrap();
    assert!(format!("{stats:?}").contains("int(2)"), "{stats:?}");
    let memory: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
    assert!(memory.contains("number_of_functions:2\r\n"), "{memory}");
    node.kill9();
    // One byte flipped: the checksum no longer matches.
    let file = node.data_dir().join("functions");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[4] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let (status, err) = failed_start(node.data_dir(), &[]);
    assert!(!status.success());
    assert!(err.contains("functions: ") && err.contains("DUMP payload version or checksum are wrong"), "{err}");
}

#[test]
fn a_full_disk_stops_the_node_and_loses_no_acknowledged_write() {
    let Some(disk) = SmallDisk::mount(160) else { return };
    let mut node = KvNode::start_in(disk.path().join("data"), NodeOptions::default());
    let mut c = node.client();
    // 128 MiB of values: more than the disk holds beside the files the node
    // preallocates, so a write fails before the loop ends.
    let limit = 8192;
    let mut acked = 0;
    let set = |c: &mut redis::Connection, k: u64| {
        redis::cmd("SET").arg(format!("k{k}")).arg(incompressible(k)).query::<()>(c)
    };
    while acked < limit && set(&mut c, acked).is_ok() {
        acked += 1;
    }
    assert!(acked < limit, "the disk never filled");
    assert!(acked > 0, "no write fit: {}", node.log_tail());
    // A write that cannot be made durable is never acknowledged and never
    // retried: the node stops, saying why.
    let status = node.wait_exit(Duration::from_secs(60));
    assert!(!status.success());
    let log = node.log_tail();
    assert!(log.contains("No space left on device"), "{log}");
    eprintln!(
        "{acked} writes acknowledged, then: {}",
        log.lines().filter(|l| l.contains("FATAL")).collect::<Vec<_>>().join(" / ")
    );
    // With space again, the restart recovers every acknowledged write.
    disk.resize(1024);
    node.restart();
    let mut c = node.client();
    for i in 0..acked {
        let v: Vec<u8> = redis::cmd("GET").arg(format!("k{i}")).query(&mut c).unwrap();
        assert!(v == incompressible(i), "k{i} of {acked} acknowledged: {} bytes", v.len());
    }
    let _: () = redis::cmd("SET").arg("after").arg(1).query(&mut c).unwrap();
}
