//! Real processes for integration tests: kvnode (from this build) and
//! redis-server (Debian's), on ephemeral loopback ports and temporary
//! directories. Every wait has a deadline; every process is killed by pid
//! when its handle drops.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary of this workspace from the build these tests belong to.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(name);
    assert!(bin.exists(), "{} is missing: build it first (cargo build -p {name})", bin.display());
    bin
}

pub fn kvnode_bin() -> PathBuf {
    workspace_bin("kvnode")
}

/// What a reader of a failed test needs from a node's log: the start of a
/// panic report or of an error returned by main, if any, and the last lines.
pub fn log_excerpt(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    let mut out = Vec::new();
    if let Some(p) = lines.iter().position(|l| l.contains("panicked at") || l.starts_with("Error: ")) {
        out.extend(lines[p..(p + 12).min(lines.len())].iter().copied());
        out.push("...");
    }
    out.extend(lines[lines.len().saturating_sub(20)..].iter().copied());
    out.join("\n")
}

/// Environment for every kvnode a test starts: warnings logged, panics with
/// a backtrace, but errors returned by main without one (anyhow would print
/// a backtrace too and bury the message).
pub fn kvnode_env(cmd: &mut Command) -> &mut Command {
    cmd.env("RUST_LOG", "warn").env("RUST_BACKTRACE", "1").env("RUST_LIB_BACKTRACE", "0")
}

/// Where a node's log ends now: [`FailedStart::read`] later returns what one
/// start wrote (logs are appended across restarts).
pub fn log_len(path: &Path) -> usize {
    std::fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0)
}

/// What a node that exited at start wrote to its log since `from`.
pub struct FailedStart(pub String);

impl FailedStart {
    pub fn read(path: &Path, from: usize) -> FailedStart {
        let log = std::fs::read(path).unwrap_or_default();
        FailedStart(String::from_utf8_lossy(&log[from.min(log.len())..]).into_owned())
    }

    /// A port picked free was taken by someone else before the node bound
    /// it: start again on other ports.
    pub fn port_taken(&self) -> bool {
        self.0.contains("Address already in use")
    }
}

/// Ports handed to test servers: below the kernel's ephemeral range
/// (32768-60999), so no port the kernel picks for a bind to port 0 or an
/// outgoing connection can take one between our pick and the server's bind.
const TEST_PORTS: std::ops::Range<u16> = 20000..32000;

/// Locks held for the life of this test process, one per port it was given.
static RESERVED: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());

/// A loopback port reserved for this test process: free now, and kept from
/// every other test process (each takes an flock on a per-port file, which
/// the kernel releases when the process ends, however it ends).
pub fn free_port() -> u16 {
    use std::os::fd::AsRawFd;
    let dir = std::env::temp_dir().join("kvstore-test-ports");
    std::fs::create_dir_all(&dir).unwrap();
    let span = TEST_PORTS.end - TEST_PORTS.start;
    let first = rand::random::<u16>() % span;
    for step in 0..span {
        let port = TEST_PORTS.start + (first + step) % span;
        let Ok(file) = std::fs::File::create(dir.join(format!("{port}.lock"))) else { continue };
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            continue; // another test process holds it
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue; // in use outside the tests; the lock is dropped with the file
        }
        RESERVED.lock().unwrap().push(file);
        return port;
    }
    panic!("no free test port in {TEST_PORTS:?}");
}

/// Polls `f` every 10 ms until it returns true; panics with `what` after `timeout`.
/// Sends one command given as words.
pub fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

/// How many clients a node (or Redis) reports blocked right now.
pub fn blocked(c: &mut redis::Connection) -> u64 {
    let info: String = q(c, &["INFO", "clients"]).unwrap();
    info.lines().find_map(|l| l.strip_prefix("blocked_clients:")).unwrap().trim().parse().unwrap()
}

pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// True when the server answering on `port` is process `pid` (INFO's
/// process_id). A PONG alone is not enough: a port picked free may have been
/// bound by another test's server before ours, which then exits.
pub fn answers_as(port: u16, pid: u32, password: Option<&str>) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = String::new();
    if let Some(p) = password {
        request += &format!("AUTH {p}\r\n");
    }
    request += "INFO server\r\n";
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 1 << 16 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&got);
        if let Some(at) = text.find("process_id:") {
            if let Some(end) = text[at..].find("\r\n") {
                return text[at + "process_id:".len()..at + end] == pid.to_string();
            }
        }
        if text.starts_with('-') || text.contains("\r\n-") {
            return false; // an error reply (e.g. -LOADING): not ready
        }
    }
    false
}

/// Starts kvnode on `data_dir` with `extra` arguments, expecting it to
/// refuse to start: its exit status and what it wrote to stderr.
pub fn failed_start(data_dir: &Path, extra: &[String]) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(kvnode_bin());
    cmd.arg("--redis-addr").arg("127.0.0.1:0").arg("--data-dir").arg(data_dir).args(extra);
    let mut child = kvnode_env(&mut cmd).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            kill_child(&mut child);
            panic!("kvnode started where it should have refused to");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

fn kill_child(child: &mut Child) {
    // Already exited and reaped: its pid may belong to another process now.
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
}

#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub partitions: u32,
    pub requirepass: Option<String>,
    pub maxclients: Option<usize>,
    pub extra: Vec<String>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions { partitions: 1, requirepass: None, maxclients: None, extra: vec![] }
    }
}

/// A kvnode process.
pub struct KvNode {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    opts: NodeOptions,
    log: PathBuf,
}

impl KvNode {
    pub fn start(opts: NodeOptions) -> KvNode {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let log = tmp.path().join("kvnode.log");
        let mut n = KvNode { child: None, port: 0, dir, _tmp: Some(tmp), opts, log };
        n.spawn();
        n
    }

    /// Starts a node whose data directory is `dir` (on a disk the test
    /// chose, see [`SmallDisk`]).
    pub fn start_in(dir: PathBuf, opts: NodeOptions) -> KvNode {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("kvnode.log");
        let mut n = KvNode { child: None, port: 0, dir, _tmp: Some(tmp), opts, log };
        n.spawn();
        n
    }

    pub fn with_partitions(p: u32) -> KvNode {
        KvNode::start(NodeOptions { partitions: p, ..Default::default() })
    }

    fn spawn(&mut self) {
        // A port picked free may be taken before the node binds it: retry.
        for _ in 0..5 {
            if self.port == 0 {
                self.port = free_port();
            }
            let log_start = log_len(&self.log);
            let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
            let mut cmd = Command::new(kvnode_bin());
            cmd.arg("--redis-addr")
                .arg(format!("127.0.0.1:{}", self.port))
                .arg("--data-dir")
                .arg(&self.dir)
                .arg("--partitions")
                .arg(self.opts.partitions.to_string())
                .args(&self.opts.extra)
                .stdout(Stdio::null())
                .stderr(log);
            if let Some(p) = &self.opts.requirepass {
                cmd.arg("--requirepass").arg(p);
            }
            if let Some(m) = self.opts.maxclients {
                cmd.arg("--maxclients").arg(m.to_string());
            }
            let mut child = kvnode_env(&mut cmd).spawn().expect("spawn kvnode");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: maybe the port was taken
                }
                if answers_as(self.port, child.id(), self.opts.requirepass.as_deref()) {
                    self.child = Some(child);
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "kvnode did not answer INFO (as the process started): {}",
                    self.log_tail()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let failed = FailedStart::read(&self.log, log_start);
            if !failed.port_taken() {
                panic!("kvnode exited at start: {}", failed.0);
            }
            self.port = 0;
        }
        panic!("kvnode could not bind a port: {}", self.log_tail());
    }

    pub fn log_tail(&self) -> String {
        log_excerpt(&self.log)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c);
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.pid() as i32, libc::SIGTERM);
        }
        // (On a timeout the panic leaves the child to Drop, which kills it.)
        self.wait_exit(Duration::from_secs(30))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Waits until the process exits by itself and reaps it.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let c = self.child.as_mut().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            assert!(Instant::now() < deadline, "kvnode did not exit: {}", self.log_tail());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts again on the same port and data directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the node first");
        self.spawn();
    }

    pub fn url(&self) -> String {
        match &self.opts.requirepass {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    pub fn client(&self) -> redis::Connection {
        Self::connect(&self.url())
    }

    /// A client that speaks RESP3 (HELLO 3 when it connects).
    pub fn client_resp3(&self) -> redis::Connection {
        Self::connect(&format!("{}?protocol=resp3", self.url()))
    }

    fn connect(url: &str) -> redis::Connection {
        let c = redis::Client::open(url).unwrap();
        let con = c.get_connection().expect("connect to kvnode");
        con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        con
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for KvNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c);
        }
    }
}

/// 16 KiB that do not compress (RocksDB compresses what it writes, and a
/// [`SmallDisk`] must fill), different for every `i`.
pub fn incompressible(i: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut v = vec![0u8; 16 << 10];
    rand::rngs::StdRng::seed_from_u64(i).fill(&mut v[..]);
    v
}

/// A size-limited tmpfs mounted for one test, for a disk that fills up for
/// real (`No space left on device` from the kernel, to RocksDB and the WAL
/// alike). Unmounted when dropped.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// None, saying so on stderr, when this process may not mount (it
    /// needs CAP_SYS_ADMIN, which the root user of this project's machines
    /// and CI has): the test then skips.
    pub fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: mounting a small tmpfs needs CAP_SYS_ADMIN");
        }
        ok.then_some(SmallDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Frees space by growing the file system to `mib`.
    pub fn resize(&self, mib: u64) {
        let st =
            Command::new("mount").args(["-o", &format!("remount,size={mib}m")]).arg(self.dir.path()).status().unwrap();
        assert!(st.success(), "remounting {} failed", self.dir.path().display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process that still holds a file in it cannot keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Debian's redis-server without persistence, as the oracle.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    _tmp: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// With extra redis-server options (e.g. `--cluster-enabled yes`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        RedisServer::start_in(tempfile::tempdir().unwrap(), extra)
    }

    /// In directory `tmp` (which may hold a dump.rdb for it to load).
    pub fn start_in(tmp: tempfile::TempDir, extra: &[&str]) -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            // The C locale: SORT ... ALPHA collates with strcoll, bytes here.
            let mut child = Command::new("redis-server")
                .env("LC_ALL", "C")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(extra)
                .arg("--dir")
                .arg(tmp.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (apt-get install -y redis-server)");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if answers_as(port, child.id(), None) {
                    return RedisServer { child, port, _tmp: tmp };
                }
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server could not start");
    }

    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap();
        c.get_connection().expect("connect to redis-server")
    }

    /// A client that speaks RESP3 (HELLO 3 when it connects).
    pub fn client_resp3(&self) -> redis::Connection {
        let c = redis::Client::open(format!("redis://127.0.0.1:{}/?protocol=resp3", self.port)).unwrap();
        c.get_connection().expect("connect to redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

/// Debian's etcd (etcd-server), one member, on ephemeral loopback ports.
pub struct Etcd {
    child: Child,
    pub client_port: u16,
    tmp: tempfile::TempDir,
}

impl Etcd {
    pub fn start() -> Etcd {
        let tmp = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let (client_port, peer_port) = (free_port(), free_port());
            let client = format!("http://127.0.0.1:{client_port}");
            let peer = format!("http://127.0.0.1:{peer_port}");
            let log = std::fs::File::create(tmp.path().join("etcd.log")).unwrap();
            let mut child = Command::new("etcd")
                .args(["--name", "m0", "--listen-client-urls", &client, "--advertise-client-urls", &client])
                .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
                .args(["--initial-cluster", &format!("m0={peer}")])
                .arg("--data-dir")
                .arg(tmp.path().join("data"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("etcd (apt-get install -y etcd-server)");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // a port was taken: try others
                }
                // Healthy, and the member listening there is this one (its
                // peer URL), not another test's etcd on a reused port.
                if http_get(client_port, "/health").is_some_and(|b| b.contains("\"health\":\"true\""))
                    && http_post(client_port, "/v3/cluster/member/list", Duration::from_secs(5))
                        .is_some_and(|(code, body)| code == 200 && body.contains(&format!("\"{peer}\"")))
                {
                    return Etcd { child, client_port, tmp };
                }
                assert!(Instant::now() < deadline, "etcd did not become healthy: {}", Etcd::log(tmp.path()));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("etcd could not start: {}", Etcd::log(tmp.path()));
    }

    fn log(dir: &Path) -> String {
        let s = std::fs::read_to_string(dir.join("etcd.log")).unwrap_or_default();
        s[s.len().saturating_sub(2000)..].to_string()
    }

    pub fn log_tail(&self) -> String {
        Etcd::log(self.tmp.path())
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

/// A plain HTTP/1.0 GET on loopback; the body, or None on any failure.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// POSTs to `path` (empty body); (status code, body). `timeout` bounds the
/// wait for the answer (admin requests may take a while).
pub fn http_post(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    write!(s, "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let code = head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// A raw TCP client for protocol-level tests. Reads are buffered: what
/// arrives beyond the requested line or reply is kept for the next call.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Raw { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(b)
    }

    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) => panic!("read: {e}; buffered: {:?}", String::from_utf8_lossy(&self.buf)),
        }
    }

    /// Reads until the first `n` bytes satisfy `pred(buffer) -> Some(n)`,
    /// and returns those bytes.
    pub fn read_until(&mut self, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        loop {
            for end in 1..=self.buf.len() {
                if pred(&self.buf[..end]) {
                    return self.buf.drain(..end).collect();
                }
            }
            if !self.fill() {
                return std::mem::take(&mut self.buf);
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub fn exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            if !self.fill() {
                break;
            }
        }
        self.buf.drain(..n.min(self.buf.len())).collect()
    }

    /// Reads the next bytes and checks they are `want`.
    pub fn expect(&mut self, want: &[u8]) {
        let got = self.exact(want.len());
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }

    /// Reads one line (through "\r\n").
    pub fn line(&mut self) -> String {
        let b = self.read_until(|b| b.ends_with(b"\r\n"));
        String::from_utf8_lossy(&b).into_owned()
    }

    /// True once the server closed the connection (reads hit EOF).
    pub fn closed(&mut self) -> bool {
        self.buf.clear();
        let mut tmp = [0u8; 1024];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start check tells our server from another one on the port.
    #[test]
    fn answers_as_tells_the_server_by_its_pid() {
        let r = RedisServer::start();
        let pid = r.child.id();
        assert!(answers_as(r.port, pid, None));
        assert!(!answers_as(r.port, pid + 1, None));
        assert!(!answers_as(free_port(), pid, None), "nobody listens on a fresh port");
    }

    /// A port is given to one holder only, and lies outside the kernel's
    /// ephemeral range.
    #[test]
    fn free_ports_are_reserved_and_distinct() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
        assert!(ports.iter().all(|p| TEST_PORTS.contains(p)));
    }
}
