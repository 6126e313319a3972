//! A replicated kvnode cluster of real processes for fault tests.
//!
//! Node i (id i+1) gets its own copy of the cluster description in which
//! every *other* node's raft address is a [`Proxy`] owned by the test: the
//! link from a to b (the connection a dials to b) goes through proxy (a, b),
//! so each direction of each link can be cut, black-holed or delayed on its
//! own. Nodes can be SIGKILLed, SIGSTOPped/SIGCONTed and restarted on the
//! same ports and data directory. Every process is killed by pid on drop.

use crate::harness::{
    answers_as, free_port, http_get, http_post, kvnode_bin, kvnode_env, log_excerpt, log_len, FailedStart,
};
use crate::proxy::Proxy;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub nodes: usize,
    pub partitions: u32,
    pub replication: usize,
    /// Lines of the kvnode `--config` TOML (timeouts, tick, compaction).
    pub config: Vec<String>,
    /// Extra kvnode arguments.
    pub args: Vec<String>,
    /// (node index, data directory) for nodes whose data lives elsewhere
    /// than in the cluster's temporary directory (on a [`SmallDisk`]).
    ///
    /// [`SmallDisk`]: crate::harness::SmallDisk
    pub data_dirs: Vec<(usize, PathBuf)>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 3,
            partitions: 4,
            replication: 3,
            config: vec![
                "raft-tick-ms = 50".into(),
                "election-ticks = 10".into(),
                "write-timeout-ms = 2000".into(),
                "read-timeout-ms = 2000".into(),
                // Leadership stays where a test puts it (a test of the
                // preferred leaders turns this on).
                "leader-balance-secs = 0".into(),
            ],
            args: vec![],
            data_dirs: vec![],
        }
    }
}

pub struct ClusterNode {
    pub id: u64,
    pub redis_port: u16,
    pub http_port: u16,
    pub raft_port: u16,
    pub data_dir: PathBuf,
    config_file: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// Extra environment of the next start (e.g. `KVNODE_FAILPOINTS`).
    pub env: Vec<(String, String)>,
}

impl ClusterNode {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn log_tail(&self) -> String {
        log_excerpt(&self.log)
    }

    /// Everything the node logged, over all its starts.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub struct Cluster {
    pub opts: ClusterOptions,
    pub nodes: Vec<ClusterNode>,
    /// (from, to) -> the proxy `from` dials to reach `to`.
    proxies: HashMap<(usize, usize), Proxy>,
    /// Runs the proxies' tasks: it must live as long as they do.
    _rt: tokio::runtime::Runtime,
    tmp: tempfile::TempDir,
}

fn signal(pid: u32, sig: i32) {
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

impl Cluster {
    /// Starts every node with `--bootstrap` and waits until each reports
    /// every partition it holds as led.
    pub fn start(opts: ClusterOptions) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        // The proxies listen first: the nodes' ports, picked free after
        // them, then cannot be one a proxy took in between.
        let mut proxies = HashMap::new();
        for a in 0..opts.nodes {
            for b in 0..opts.nodes {
                if a != b {
                    let unset: SocketAddr = "127.0.0.1:1".parse().unwrap();
                    proxies.insert((a, b), rt.block_on(Proxy::start(unset)).unwrap());
                }
            }
        }
        let mut nodes = Vec::new();
        for i in 0..opts.nodes {
            let dir = tmp.path().join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            nodes.push(ClusterNode {
                id: i as u64 + 1,
                redis_port: free_port(),
                http_port: free_port(),
                raft_port: free_port(),
                data_dir: dir.join("data"),
                config_file: dir.join("cluster.toml"),
                log: dir.join("kvnode.log"),
                child: None,
                paused: false,
                env: Vec::new(),
            });
        }
        for (i, dir) in &opts.data_dirs {
            nodes[*i].data_dir = dir.clone();
        }
        for ((_, b), p) in &proxies {
            p.set_target(format!("127.0.0.1:{}", nodes[*b].raft_port).parse().unwrap());
        }
        std::fs::write(tmp.path().join("node.toml"), opts.config.join("\n") + "\n").unwrap();
        let mut c = Cluster { opts, nodes, proxies, _rt: rt, tmp };
        for i in 0..c.nodes.len() {
            c.write_description(i);
        }
        // All nodes start at once: a node started with --bootstrap on an
        // empty directory opens only once every peer has told it that it
        // never heard from it.
        // (Each child is its node's at once: a failed start kills them all.)
        let mut log_starts = Vec::new();
        for i in 0..c.nodes.len() {
            log_starts.push(log_len(&c.nodes[i].log));
            c.nodes[i].child = Some(c.launch(i, true));
        }
        for (i, log_start) in log_starts.into_iter().enumerate() {
            let child = c.nodes[i].child.take().unwrap();
            match c.await_start(i, child, log_start) {
                Ok(()) => {}
                Err(failed) if failed.port_taken() => c.spawn(i, true),
                Err(failed) => panic!("node {} exited at start: {}", i + 1, failed.0),
            }
        }
        c.wait_healthy(Duration::from_secs(60));
        c
    }

    /// Node `i`'s view of the cluster: its own raft address real, the
    /// others' through the proxies it dials.
    fn write_description(&self, i: usize) {
        let mut s = format!(
            "replication = {}\n[[namespace]]\nname = \"default\"\npartitions = {}\n",
            self.opts.replication, self.opts.partitions
        );
        for (j, n) in self.nodes.iter().enumerate() {
            let raft =
                if i == j { format!("127.0.0.1:{}", n.raft_port) } else { self.proxies[&(i, j)].addr().to_string() };
            s += &format!(
                "[[node]]\nid = {}\nraft-addr = \"{raft}\"\nredis-addr = \"127.0.0.1:{}\"\nhttp-addr = \"127.0.0.1:{}\"\n",
                n.id, n.redis_port, n.http_port
            );
        }
        std::fs::write(&self.nodes[i].config_file, s).unwrap();
    }

    fn spawn(&mut self, i: usize, bootstrap: bool) {
        // A port picked free may be taken by someone else before the node
        // binds it: then move the node to new ports and try again.
        for _ in 0..5 {
            match self.try_spawn(i, bootstrap) {
                Ok(()) => return,
                Err(failed) if failed.port_taken() => {
                    let n = &mut self.nodes[i];
                    n.redis_port = free_port();
                    n.http_port = free_port();
                    n.raft_port = free_port();
                    let target: SocketAddr = format!("127.0.0.1:{}", n.raft_port).parse().unwrap();
                    for j in 0..self.nodes.len() {
                        if j != i {
                            self.proxies[&(j, i)].set_target(target);
                        }
                    }
                    for j in 0..self.nodes.len() {
                        self.write_description(j);
                    }
                }
                Err(failed) => panic!("node {} exited at start: {}", i + 1, failed.0),
            }
        }
        panic!("node {} found no free ports", i + 1);
    }

    fn launch(&self, i: usize, bootstrap: bool) -> Child {
        let node_config = self.tmp.path().join("node.toml");
        let n = &self.nodes[i];
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&n.log).unwrap();
        let mut cmd = Command::new(kvnode_bin());
        cmd.arg("--cluster")
            .arg(&n.config_file)
            .arg("--node-id")
            .arg(n.id.to_string())
            .arg("--data-dir")
            .arg(&n.data_dir)
            .arg("--config")
            .arg(&node_config)
            .args(&self.opts.args)
            .envs(n.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log);
        if bootstrap {
            cmd.arg("--bootstrap");
        }
        kvnode_env(&mut cmd).spawn().expect("spawn kvnode")
    }

    /// Err carries everything this start wrote to the log, so the cause is
    /// never cut off.
    fn try_spawn(&mut self, i: usize, bootstrap: bool) -> Result<(), FailedStart> {
        let log_start = log_len(&self.nodes[i].log);
        let child = self.launch(i, bootstrap);
        self.await_start(i, child, log_start)
    }

    /// Waits until node `i`, launched as `child`, answers on its redis port.
    /// The child is the node's from the start, so that a failed wait still
    /// kills it when the cluster is dropped.
    fn await_start(&mut self, i: usize, child: Child, log_start: usize) -> Result<(), FailedStart> {
        let n = &mut self.nodes[i];
        n.child = Some(child);
        n.paused = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = n.child.as_mut().unwrap();
            if answers_as(n.redis_port, c.id(), None) {
                return Ok(());
            }
            if let Ok(Some(st)) = c.try_wait() {
                n.child = None;
                let mut failed = FailedStart::read(&n.log, log_start);
                failed.0.insert_str(0, &format!("({st}) "));
                return Err(failed);
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not answer INFO (as the process started): {}",
                n.id,
                n.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn url(&self, i: usize) -> String {
        format!("redis://127.0.0.1:{}/", self.nodes[i].redis_port)
    }

    /// A connection to node `i` with a read timeout (no reply in time is an
    /// unknown outcome for the caller).
    pub fn client(&self, i: usize) -> redis::Connection {
        let c = redis::Client::open(self.url(i)).unwrap();
        let conn = c.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        conn.set_write_timeout(Some(Duration::from_secs(8))).unwrap();
        conn
    }

    pub fn http(&self, i: usize, path: &str) -> Option<String> {
        http_get(self.nodes[i].http_port, path)
    }

    /// POSTs an admin request to node `i`: (status code, JSON body).
    pub fn post(&self, i: usize, path: &str) -> (u16, String) {
        http_post(self.nodes[i].http_port, path, Duration::from_secs(180))
            .unwrap_or_else(|| panic!("POST {path} to node {}: no answer", i + 1))
    }

    /// Starts stopped node `i` (no --bootstrap) and waits until it exits by
    /// itself (at a crash point of its `env`); it is stopped afterwards.
    pub fn run_until_exit(&mut self, i: usize, timeout: Duration) {
        assert!(!self.nodes[i].running(), "node {} is running", i + 1);
        let mut c = self.launch(i, false);
        let deadline = Instant::now() + timeout;
        while c.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                signal(c.id(), libc::SIGKILL);
                let _ = c.wait();
                panic!("node {} did not exit: {}", i + 1, self.nodes[i].log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True when node `i` answers /health with every partition it holds led.
    pub fn healthy(&self, i: usize) -> bool {
        self.http(i, "/health").is_some_and(|b| b.contains("\"status\":\"ok\""))
    }

    pub fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].running() || self.nodes[i].paused {
                continue;
            }
            while !self.healthy(i) {
                assert!(Instant::now() < deadline, "node {} not healthy: {}", i + 1, self.nodes[i].log_tail());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// A gauge of node `i`'s /metrics for `partition`.
    pub fn metric(&self, i: usize, name: &str, partition: u32) -> Option<u64> {
        let body = self.http(i, "/metrics")?;
        let prefix = format!("{name}{{partition=\"{partition}\"}} ");
        body.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
    }

    /// A metric of node `i` without labels.
    pub fn counter(&self, i: usize, name: &str) -> Option<u64> {
        let body = self.http(i, "/metrics")?;
        let prefix = format!("{name} ");
        body.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
    }

    /// The role of node `i`'s replica of `partition`.
    pub fn role(&self, i: usize, partition: u32) -> Option<String> {
        let body = self.http(i, "/metrics")?;
        let prefix = format!("kvnode_partition_role{{partition=\"{partition}\",role=\"");
        body.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|r| r.split('"').next()).map(str::to_string)
    }

    /// The running node that reports itself leader of `partition`, waiting
    /// for one (an isolated old leader may also claim it for a while:
    /// `exclude` names nodes not to ask).
    pub fn leader_of(&self, partition: u32, exclude: &[usize], timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            for i in 0..self.nodes.len() {
                if self.nodes[i].running()
                    && !self.nodes[i].paused
                    && !exclude.contains(&i)
                    && self.role(i, partition).as_deref() == Some("leader")
                {
                    return i;
                }
            }
            assert!(Instant::now() < deadline, "no leader for partition {partition}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The partition of `key` (slot ranges split evenly, as the node does).
    pub fn partition_of(&self, key: &str) -> u32 {
        self.partition_of_slot(redis::cluster_routing::get_slot(key.as_bytes()) as u32)
    }

    pub fn partition_of_slot(&self, slot: u32) -> u32 {
        let p = self.opts.partitions;
        (0..p).find(|i| slot < (i + 1) * 16384 / p).unwrap()
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            signal(c.id(), libc::SIGKILL);
            let _ = c.wait();
        }
        self.nodes[i].paused = false;
    }

    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            if self.nodes[i].paused {
                signal(c.id(), libc::SIGCONT);
            }
            signal(c.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    signal(c.id(), libc::SIGKILL);
                    let _ = c.wait();
                    panic!("node {} did not stop on SIGTERM", i + 1);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.nodes[i].paused = false;
    }

    /// Starts a stopped node again: same ports, same data, no --bootstrap.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.nodes[i].running(), "node {} is running", i + 1);
        self.spawn(i, false);
    }

    /// Starts a stopped node again with `--bootstrap` (as `make cluster`
    /// always does): same ports, same data.
    pub fn restart_with_bootstrap(&mut self, i: usize) {
        assert!(!self.nodes[i].running(), "node {} is running", i + 1);
        self.spawn(i, true);
    }

    /// Starts a stopped node with `--bootstrap` and returns without waiting
    /// for it to serve (a new node may wait for its peers first); then
    /// [`Cluster::wait_started`].
    pub fn launch_with_bootstrap(&mut self, i: usize) {
        assert!(!self.nodes[i].running(), "node {} is running", i + 1);
        self.nodes[i].child = Some(self.launch(i, true));
        self.nodes[i].paused = false;
    }

    /// Waits until node `i`, launched by [`Cluster::launch_with_bootstrap`],
    /// answers on its redis port.
    pub fn wait_started(&mut self, i: usize) {
        let child = self.nodes[i].child.take().expect("launched");
        if let Err(failed) = self.await_start(i, child, 0) {
            panic!("node {} exited at start: {}", i + 1, failed.0);
        }
    }

    /// Whether node `i`'s process has exited by itself (reaped if so).
    pub fn exited(&mut self, i: usize) -> bool {
        let n = &mut self.nodes[i];
        match n.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(_))) => {
                n.child = None;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Wipes node `i`'s data directory (it must be stopped).
    pub fn wipe(&mut self, i: usize) {
        assert!(!self.nodes[i].running());
        let _ = std::fs::remove_dir_all(&self.nodes[i].data_dir);
    }

    pub fn pause(&mut self, i: usize) {
        if let Some(pid) = self.nodes[i].pid() {
            signal(pid, libc::SIGSTOP);
            self.nodes[i].paused = true;
        }
    }

    pub fn resume(&mut self, i: usize) {
        if let Some(pid) = self.nodes[i].pid() {
            signal(pid, libc::SIGCONT);
        }
        self.nodes[i].paused = false;
    }

    pub fn link(&self, from: usize, to: usize) -> &Proxy {
        &self.proxies[&(from, to)]
    }

    /// Cuts every link to and from node `i` (its clients still reach it).
    pub fn isolate(&self, i: usize) {
        for j in 0..self.nodes.len() {
            if j != i {
                self.link(i, j).cut();
                self.link(j, i).cut();
            }
        }
    }

    pub fn heal_all(&self) {
        for p in self.proxies.values() {
            p.heal();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                signal(c.id(), libc::SIGKILL);
                let _ = c.wait();
            }
        }
    }
}
