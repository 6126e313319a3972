//! kvbench run as users run it, against real servers: a kvnode, Debian's
//! redis-server (also as a two-node Redis Cluster) and Debian's etcd. Each
//! run is bounded by a request count; results are read from --json.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kvtests::harness::{wait_until, workspace_bin, Etcd, KvNode, RedisServer};
use serde_json::Value;

/// Runs kvbench to completion; returns its exit success and --json summary.
fn kvbench(args: &[&str]) -> (bool, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = Command::new(workspace_bin("kvbench"))
        .args(args)
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run kvbench");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "kvbench {args:?} wrote no JSON: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), serde_json::from_str(&text).unwrap())
}

fn num(v: &Value, path: &str) -> u64 {
    path.split('.').fold(v, |v, k| &v[k]).as_u64().unwrap_or_else(|| panic!("{path} missing in {v}"))
}

/// Every op completed, none failed, and nothing read contradicted a write.
fn assert_clean(ok: bool, v: &Value, ops: u64) {
    assert!(ok, "kvbench failed: {v}");
    assert_eq!(num(v, "ops"), ops, "{}", v["errors_by_kind"]);
    assert_eq!(num(v, "errors"), 0, "{}", v["errors_by_kind"]);
    assert_eq!(num(v, "verify.mismatches"), 0, "{}", v["verify"]);
}

const WORKLOADS: &[&str] = &[
    "set", "get", "mixed", "incr", "hset", "hget", "lpush", "lpop", "sadd", "zadd", "zrange", "mset", "mget", "multi",
];

#[test]
fn every_workload_runs_clean_against_redis_server() {
    let redis = RedisServer::start();
    let addr = format!("127.0.0.1:{}", redis.port);
    for w in WORKLOADS {
        let (ok, v) = kvbench(&["--addr", &addr, "-w", w, "-n", "2000", "-c", "4", "-P", "4", "-r", "500"]);
        assert_clean(ok, &v, 2000);
        assert!(v["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    }
    // Distributions and value ranges, verified.
    for dist in ["uniform", "zipf", "sequential"] {
        let (ok, v) = kvbench(&[
            "--addr",
            &addr,
            "-w",
            "mixed",
            "--distribution",
            dist,
            "-d",
            "8-300",
            "-n",
            "4000",
            "-c",
            "4",
            "-r",
            "200",
            "--verify",
        ]);
        assert_clean(ok, &v, 4000);
        assert!(num(&v, "verify.checked") > 100, "{}", v["verify"]);
    }
}

#[test]
fn verify_passes_against_kvnode() {
    let node = KvNode::with_partitions(4);
    let addr = format!("127.0.0.1:{}", node.port);
    for w in WORKLOADS {
        let (ok, v) = kvbench(&["--addr", &addr, "-w", w, "-n", "600", "-c", "4", "-P", "3", "-r", "200", "--verify"]);
        assert_clean(ok, &v, 600);
    }
    // Reads checked against the writes of the same run.
    for w in ["mixed", "incr", "multi"] {
        let (ok, v) = kvbench(&["--addr", &addr, "-w", w, "-n", "3000", "-c", "8", "-P", "4", "-r", "64", "--verify"]);
        assert_clean(ok, &v, 3000);
        assert!(num(&v, "verify.checked") > 500, "{w}: {}", v["verify"]);
    }
}

#[test]
fn verify_detects_a_server_that_loses_writes() {
    let redis = RedisServer::start();
    let addr = format!("127.0.0.1:{}", redis.port);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    // Open loop at a fixed rate, so the run lasts ~5 s however fast the
    // machine is; the flush below happens within its first second.
    let mut child = Command::new(workspace_bin("kvbench"))
        .args(["--addr", &addr, "-w", "mixed", "--read-ratio", "0.5", "-r", "1000", "-c", "4"])
        .args(["--rate", "20000", "-n", "100000", "--verify", "--quiet", "--json"])
        .arg(&json)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut con = redis.client();
    wait_until(Duration::from_secs(60), "kvbench to write 500 keys", || {
        redis::cmd("DBSIZE").query::<u64>(&mut con).unwrap() >= 500
    });
    assert!(child.try_wait().unwrap().is_none(), "kvbench finished before the flush");
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kvbench did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(!status.success(), "a run with lost writes must fail: {}", v["verify"]);
    assert!(num(&v, "verify.mismatches") > 0, "{}", v["verify"]);
    let example = v["verify"]["examples"][0].as_str().unwrap();
    assert!(example.contains("read nil after writing"), "{example}");
}

#[test]
fn open_loop_never_exceeds_its_schedule() {
    let redis = RedisServer::start();
    let addr = format!("127.0.0.1:{}", redis.port);
    // 4 clients at 250/s each for 2 s: at most 500 due requests per client.
    let (ok, v) = kvbench(&["--addr", &addr, "-w", "set", "--rate", "1000", "--duration", "2", "-c", "4"]);
    assert!(ok, "{v}");
    assert_eq!(num(&v, "errors"), 0);
    let ops = num(&v, "ops");
    assert!(ops > 0 && ops <= 2000, "ops {ops}");
    assert!(v["timeline"].as_array().unwrap().len() >= 2, "{}", v["timeline"]);
}

#[test]
fn etcd_protocol_runs_the_same_workloads() {
    let etcd = Etcd::start();
    let addr = format!("127.0.0.1:{}", etcd.client_port);
    let (ok, v) = kvbench(&["--protocol", "etcd", "--addr", &addr, "-w", "set", "-n", "1000", "-c", "4", "-P", "8"]);
    assert_clean(ok, &v, 1000);
    let (ok, v) = kvbench(&[
        "--protocol",
        "etcd",
        "--addr",
        &addr,
        "-w",
        "mixed",
        "-n",
        "2000",
        "-c",
        "4",
        "-r",
        "100",
        "--verify",
    ]);
    assert_clean(ok, &v, 2000);
    assert!(num(&v, "verify.checked") > 100, "{}; etcd log: {}", v["verify"], etcd.log_tail());
    // Workloads without an etcd form are refused up front.
    let out = Command::new(workspace_bin("kvbench"))
        .args(["--protocol", "etcd", "--addr", &addr, "-w", "lpush"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no etcd form"));
}

#[test]
fn cluster_mode_routes_keys_by_slot() {
    // A two-node Redis Cluster: each node serves half the slots and answers
    // MOVED for the other half, so any misrouted request is an error.
    let a = RedisServer::start_with(&["--cluster-enabled", "yes", "--cluster-config-file", "a.conf"]);
    let b = RedisServer::start_with(&["--cluster-enabled", "yes", "--cluster-config-file", "b.conf"]);
    let (mut ca, mut cb) = (a.client(), b.client());
    let _: () = redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(0).arg(8191).query(&mut ca).unwrap();
    let _: () = redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(8192).arg(16383).query(&mut cb).unwrap();
    let _: () = redis::cmd("CLUSTER").arg("MEET").arg("127.0.0.1").arg(b.port).query(&mut ca).unwrap();
    for c in [&mut ca, &mut cb] {
        wait_until(Duration::from_secs(60), "the cluster to converge", || {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(c).unwrap();
            info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:2")
        });
    }
    let addr = format!("127.0.0.1:{}", a.port);
    for w in ["set", "mixed", "mset", "multi"] {
        let (ok, v) = kvbench(&["--addr", &addr, "--cluster", "-w", w, "-n", "2000", "-c", "4", "-P", "4", "--verify"]);
        assert_clean(ok, &v, 2000);
        assert_eq!(v["nodes"].as_array().unwrap().len(), 2, "{}", v["nodes"]);
    }
    for c in [&mut ca, &mut cb] {
        assert!(redis::cmd("DBSIZE").query::<u64>(c).unwrap() > 100);
    }
}

#[test]
fn plots_and_markdown_reports_are_written() {
    let redis = RedisServer::start();
    let addr = format!("127.0.0.1:{}", redis.port);
    let dir = tempfile::tempdir().unwrap();
    let (png, svg, md) = (dir.path().join("p.png"), dir.path().join("p.svg"), dir.path().join("r.md"));
    for plot in [&png, &svg] {
        let out = Command::new(workspace_bin("kvbench"))
            .args(["--addr", &addr, "-n", "3000", "-c", "4", "--quiet", "--plot"])
            .arg(plot)
            .arg("--markdown")
            .arg(&md)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000, "{} bytes", bytes.len());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("latency by percentile"));
    let report = std::fs::read_to_string(&md).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 4, "{report}");
    assert!(lines[0].starts_with("| run |") && lines[2].starts_with("| set ") && lines[3].starts_with("| set "));
    // A plot name without a known extension is refused, and says why.
    let out = Command::new(workspace_bin("kvbench"))
        .args(["--addr", &addr, "-n", "10", "--quiet", "--plot"])
        .arg(dir.path().join("p.gif"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(".png or .svg"));
    assert!(
        !Path::new(&dir.path().join("p.gif")).exists()
            || std::fs::metadata(dir.path().join("p.gif")).unwrap().len() == 0
    );
}
