//! The RESP listener: accepts clients (up to maxclients), keeps the registry
//! CLIENT LIST/KILL work on, the runtime configuration CONFIG GET/SET work on,
//! and the counters INFO reports.

use crate::conn;
use crate::resp::Limits;
use node::Node;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub requirepass: Option<String>,
    /// The ACL file (`aclfile`): users are read from it at the start and by
    /// ACL LOAD, written by ACL SAVE.
    pub aclfile: Option<std::path::PathBuf>,
    pub maxclients: usize,
    pub limits: Limits,
    /// Bytes of commands read from all clients and not yet answered, above
    /// which connections stop reading (a single command is always admitted).
    pub read_budget: usize,
    /// Commands in flight per connection before it stops reading.
    pub max_pipeline: usize,
    /// Settings Redis tooling sets that have no effect here (save, appendonly, ...).
    pub inert: BTreeMap<String, String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let inert = [
            ("save", ""),
            ("appendonly", "no"),
            ("appendfsync", "everysec"),
            ("maxmemory", "0"),
            ("maxmemory-policy", "noeviction"),
            ("databases", "1"),
            ("hz", "10"),
            ("lazyfree-lazy-user-del", "no"),
            ("latency-tracking", "no"),
            ("lua-time-limit", "5000"),
            ("busy-reply-threshold", "5000"),
            ("stop-writes-on-bgsave-error", "no"),
            ("loglevel", "notice"),
            ("protected-mode", "no"),
            ("cluster-enabled", "no"),
            // The encodings OBJECT ENCODING reports follow these (fixed)
            // thresholds, Redis 7's defaults as Debian builds it.
            ("hash-max-listpack-entries", "512"),
            ("hash-max-listpack-value", "64"),
            ("hash-max-ziplist-entries", "512"),
            ("hash-max-ziplist-value", "64"),
            ("set-max-intset-entries", "512"),
            ("zset-max-listpack-entries", "128"),
            ("zset-max-listpack-value", "64"),
            ("zset-max-ziplist-entries", "128"),
            ("zset-max-ziplist-value", "64"),
            ("list-max-listpack-size", "-2"),
            ("list-max-ziplist-size", "-2"),
            ("stream-node-max-entries", "100"),
            ("stream-node-max-bytes", "4096"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        ServerConfig {
            requirepass: None,
            aclfile: None,
            maxclients: 10000,
            limits: Limits::default(),
            read_budget: 256 << 20,
            max_pipeline: 512,
            inert,
        }
    }
}

/// Redis' `tcp-keepalive`: the kernel probes a client silent for `secs`
/// seconds, then every third of that, three times, so that a client whose
/// machine vanished is noticed and its connection freed.
fn keep_alive(stream: &tokio::net::TcpStream, secs: u64) -> std::io::Result<()> {
    if secs == 0 {
        return Ok(());
    }
    let probes = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(secs))
        .with_interval(std::time::Duration::from_secs((secs / 3).max(1)))
        .with_retries(3);
    socket2::SockRef::from(stream).set_tcp_keepalive(&probes)
}

/// One connected client, as CLIENT LIST shows it.
pub struct ClientHandle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub name: Mutex<Option<String>>,
    /// (time of the last command, its name)
    pub last: Mutex<(Instant, &'static str)>,
    pub proto: AtomicU8,
    pub in_multi: std::sync::atomic::AtomicBool,
    /// Commands queued in the transaction (CLIENT LIST's multi=).
    pub queued: AtomicUsize,
    /// Channels and patterns subscribed to (CLIENT LIST's sub and psub).
    pub sub: std::sync::atomic::AtomicUsize,
    pub psub: std::sync::atomic::AtomicUsize,
    pub ssub: std::sync::atomic::AtomicUsize,
    /// Notified by CLIENT KILL.
    pub kill: Notify,
    /// While a blocking command of this client waits: where CLIENT UNBLOCK
    /// sends whether it ends with an error (else as a timeout). One channel
    /// per wait, so that an unblock never reaches a later command.
    pub unblock: Mutex<Option<tokio::sync::oneshot::Sender<bool>>>,
    /// The user the connection authenticated as (CLIENT LIST's user).
    pub user: Mutex<String>,
    /// Notified when the user's channel permissions shrink: a subscriber
    /// no longer allowed one of its channels closes (as in Redis).
    pub acl_check: Notify,
    /// CLIENT LIST's tracking flags ([`TRACKING`], ...).
    pub tracking_flags: AtomicU8,
    /// Client-side caching messages for this connection (its own, or those
    /// of clients that redirect to it); the connection takes the receiver.
    pub invalidations: tokio::sync::mpsc::UnboundedSender<crate::tracking::Invalidation>,
    pub invalidations_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<crate::tracking::Invalidation>>>,
}

/// [`ClientHandle::tracking_flags`] bits.
pub const TRACKING: u8 = 1;
pub const TRACKING_BROKEN_REDIRECT: u8 = 2;
pub const TRACKING_BCAST: u8 = 4;

impl ClientHandle {
    /// A blocking command of this client begins: what CLIENT UNBLOCK will
    /// send to.
    pub fn waiting(&self) -> tokio::sync::oneshot::Receiver<bool> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.unblock.lock() = Some(tx);
        rx
    }

    /// The blocking command ended.
    pub fn done_waiting(&self) {
        self.unblock.lock().take();
    }

    /// Channels, patterns and shard channels subscribed to.
    pub fn subscriptions(&self) -> usize {
        self.sub.load(Ordering::Relaxed) + self.psub.load(Ordering::Relaxed) + self.ssub.load(Ordering::Relaxed)
    }

    /// CLIENT LIST's flags, in Redis' order: P subscribed, x in MULTI, b
    /// blocked, t tracking, R its redirect broken, B in BCAST mode, else N.
    fn flags(&self) -> String {
        let mut f = String::new();
        if self.subscriptions() > 0 {
            f.push('P');
        }
        if self.in_multi.load(Ordering::Relaxed) {
            f.push('x');
        }
        if self.unblock.lock().is_some() {
            f.push('b');
        }
        let tracking = self.tracking_flags.load(Ordering::Relaxed);
        for (bit, c) in [(TRACKING, 't'), (TRACKING_BROKEN_REDIRECT, 'R'), (TRACKING_BCAST, 'B')] {
            if tracking & bit != 0 {
                f.push(c);
            }
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// Redis' CLIENT LIST / CLIENT INFO line.
    pub fn info_line(&self) -> String {
        let (last, cmd) = *self.last.lock();
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db=0 sub={} psub={} ssub={} multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.name.lock().clone().unwrap_or_default(),
            self.created.elapsed().as_secs(),
            last.elapsed().as_secs(),
            self.flags(),
            self.sub.load(Ordering::Relaxed),
            self.psub.load(Ordering::Relaxed),
            self.ssub.load(Ordering::Relaxed),
            if self.in_multi.load(Ordering::Relaxed) { self.queued.load(Ordering::Relaxed) as i64 } else { -1 },
            if cmd.is_empty() { "NULL" } else { cmd },
            self.user.lock(),
            self.proto.load(Ordering::Relaxed),
        )
    }
}

#[derive(Default)]
pub struct ServerStats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

pub struct Server {
    pub node: Arc<Node>,
    pub cfg: RwLock<ServerConfig>,
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    next_id: AtomicU64,
    pub stats: ServerStats,
    /// Bytes of commands in flight across all connections.
    pub inflight_bytes: AtomicUsize,
    /// Bytes of replies waiting to be written, across all connections.
    pub output_bytes: AtomicUsize,
    shutdown: watch::Sender<bool>,
    pub started: Instant,
    /// The process's resident memory once the server was set up (MEMORY
    /// STATS' startup.allocated).
    pub startup_rss: u64,
    pub port: AtomicU64,
    /// Redis' `timeout`: seconds after which an idle client is closed (0:
    /// never).
    pub idle_timeout: AtomicU64,
    /// Redis' `tcp-keepalive`: seconds of silence after which the kernel
    /// probes a client connection (0: no probes). For new connections.
    pub tcp_keepalive: AtomicU64,
    /// The scripts EVAL ran or SCRIPT LOAD loaded, by SHA1 digest (for
    /// EVALSHA; per node, as in Redis Cluster).
    pub scripts: Mutex<std::collections::HashMap<String, bytes::Bytes>>,
    /// FUNCTION's libraries (per node, as in Redis Cluster).
    pub functions: crate::functions::Functions,
    /// CLIENT PAUSE.
    pub pause: crate::pause::Pause,
    /// SLOWLOG (per node, as in Redis Cluster).
    pub slowlog: crate::slowlog::SlowLog,
    /// The connections in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// INFO commandstats, errorstats, latencystats.
    pub cmdstats: crate::cmdstats::CommandStats,
    /// ACL users (per node, as in Redis Cluster) and the ACL log.
    pub acl: crate::acl::Acl,
    /// SAVE and BGSAVE.
    pub saves: crate::save::Saves,
    /// CLIENT TRACKING (per node, as in Redis Cluster).
    pub tracking: crate::tracking::Tracking,
}

impl Server {
    /// The server of `node`; an error if the libraries the node keeps do
    /// not load.
    pub fn new(node: Arc<Node>, cfg: ServerConfig) -> Result<Arc<Server>, String> {
        node::exec::script::set_command_parser(crate::cmd::scripting::script_command);
        let (shutdown, _) = watch::channel(false);
        let functions =
            crate::functions::Functions::open(Some(&node.cfg.data_dir)).map_err(|e| format!("functions: {e}"))?;
        // requirepass is the default user's password; an ACL file that
        // defines the default user overrides it, as in Redis.
        let acl = crate::acl::Acl::default();
        if let Some(p) = &cfg.requirepass {
            acl.set_default_password(Some(p));
        }
        if let Some(path) = &cfg.aclfile {
            acl.replace_all(crate::acl::file::load(path).map_err(|e| format!("ACL file: {e}"))?);
        }
        let server = Arc::new(Server {
            node,
            cfg: RwLock::new(cfg),
            clients: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            stats: ServerStats::default(),
            inflight_bytes: AtomicUsize::new(0),
            output_bytes: AtomicUsize::new(0),
            shutdown,
            started: Instant::now(),
            startup_rss: crate::info::rss_bytes(),
            port: AtomicU64::new(0),
            idle_timeout: AtomicU64::new(0),
            tcp_keepalive: AtomicU64::new(300),
            slowlog: Default::default(),
            monitors: Default::default(),
            cmdstats: Default::default(),
            scripts: Mutex::new(Default::default()),
            functions,
            pause: Default::default(),
            acl,
            saves: Default::default(),
            tracking: Default::default(),
        });
        // The commands scripts run, as `[0 lua]` lines (the first server
        // of a process: kvnode has one).
        let weak = Arc::downgrade(&server);
        node::exec::script::set_monitor_sink(Box::new(move |argv| {
            if let Some(s) = weak.upgrade().filter(|s| s.monitors.active()) {
                s.monitors.feed(argv, "lua");
            }
        }));
        // The keys applied entries change, for the tracking table.
        let weak = Arc::downgrade(&server);
        server.node.changes().set_sink(Box::new(move |changed| {
            if let Some(s) = weak.upgrade() {
                s.tracking.changed(&s, changed);
            }
        }));
        // Other nodes' questions for a script or function they lack.
        let weak = Arc::downgrade(&server);
        server
            .node
            .peer_lookup()
            .set_sink(Box::new(move |wanted| weak.upgrade().map_or(node::Reply::Nil, |s| s.answer_lookup(wanted))));
        // The ACL refusals of what scripts call.
        let weak = Arc::downgrade(&server);
        crate::acl::command::set_script_log(Box::new(move |entry| {
            if let Some(s) = weak.upgrade() {
                s.acl.log(entry);
            }
        }));
        Ok(server)
    }

    /// EVAL remembers its script; EVALSHA gets the script it names (the
    /// entry carries the body, not the digest), or NOSCRIPT; FCALL gets its
    /// function's library, keys and arguments, or Redis' error. In a
    /// cluster, a script or function this node lacks is asked of the other
    /// nodes first (see [`node::peer_lookup`]).
    pub async fn resolve_script(&self, cmd: node::Cmd) -> Result<node::Cmd, node::Reply> {
        let node::Cmd::Eval(mut e) = cmd else { return Ok(cmd) };
        if !e.function.is_empty() {
            let found = self.functions.resolve(&e.function);
            let f = match found {
                Some(f) => f,
                None => self
                    .function_elsewhere(&e.function)
                    .await
                    .ok_or_else(|| node::Reply::error("ERR Function not found"))?,
            };
            let cluster = self.node.cluster().is_some();
            (e.keys, e.args, e.read_only) = crate::functions::check_call(&e.args, f.flags, e.read_only, cluster)?;
            e.body = f.body;
        } else if e.sha.is_empty() {
            // A script that does not compile is not remembered: its error
            // comes from running it, where the entry is applied.
            let _ = self.remember_script(&e.body);
        } else {
            let known = self.scripts.lock().get(&e.sha).cloned();
            e.body = match known {
                Some(body) => body,
                None => self
                    .script_elsewhere(&e.sha)
                    .await
                    .ok_or_else(|| node::Reply::error(crate::cmd::scripting::NOSCRIPT))?,
            };
            e.sha.clear();
        }
        Ok(node::Cmd::Eval(e))
    }

    /// A script another node has (in a cluster), kept in this node's cache
    /// from then on, as EVAL would leave it.
    async fn script_elsewhere(&self, sha: &str) -> Option<bytes::Bytes> {
        match self.node.peer_lookup().find(node::peer_lookup::Wanted::Script(sha.to_string())).await? {
            node::Reply::Bulk(body) if node::exec::script::sha1_hex(&body) == sha => {
                self.scripts.lock().insert(sha.to_string(), body.clone());
                Some(body)
            }
            _ => None,
        }
    }

    /// A function another node has (in a cluster): what FCALL needs of it,
    /// for this call only (the entry carries the library's code).
    async fn function_elsewhere(&self, name: &str) -> Option<crate::functions::Resolved> {
        match self.node.peer_lookup().find(node::peer_lookup::Wanted::Function(name.to_string())).await? {
            node::Reply::Array(items) => match &items[..] {
                [node::Reply::Bulk(body), node::Reply::Int(flags)] => {
                    Some(crate::functions::Resolved { body: body.clone(), flags: *flags as u32 })
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// What this node answers to another node's lookup.
    fn answer_lookup(&self, wanted: &node::peer_lookup::Wanted) -> node::Reply {
        use node::peer_lookup::Wanted;
        match wanted {
            Wanted::Script(sha) => {
                self.scripts.lock().get(sha).map_or(node::Reply::Nil, |b| node::Reply::Bulk(b.clone()))
            }
            Wanted::Function(name) => self.functions.resolve(name).map_or(node::Reply::Nil, |f| {
                node::Reply::Array(vec![node::Reply::Bulk(f.body), node::Reply::Int(f.flags as i64)])
            }),
            Wanted::FlushScripts(_) => {
                self.scripts.lock().clear();
                node::Reply::Ok
            }
        }
    }

    /// Adds a script to the cache (SCRIPT LOAD, EVAL) once it compiles;
    /// its digest, or the compile error.
    pub fn remember_script(&self, body: &bytes::Bytes) -> Result<String, node::Reply> {
        let sha = node::exec::script::sha1_hex(body);
        if self.scripts.lock().contains_key(&sha) {
            return Ok(sha);
        }
        // Compiled outside the lock: other connections' lookups go on.
        if let Some(e) = node::exec::script::compile_error(body) {
            return Err(e);
        }
        self.scripts.lock().insert(sha.clone(), body.clone());
        Ok(sha)
    }

    /// Accepts clients until shutdown is requested.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        if let Ok(a) = listener.local_addr() {
            self.port.store(a.port() as u64, Ordering::Relaxed);
        }
        let mut stop = self.shutdown.subscribe();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                accepted = listener.accept() => {
                    let (mut stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of file descriptors and the like: keep serving the others.
                            tracing::warn!("accept: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    self.stats.connections_received.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = keep_alive(&stream, self.tcp_keepalive.load(Ordering::Relaxed)) {
                        tracing::debug!("client {peer}: TCP keepalive: {e}");
                    }
                    let maxclients = self.cfg.read().maxclients;
                    if self.clients.lock().len() >= maxclients {
                        self.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move {
                            let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                        });
                        continue;
                    }
                    let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    let client = self.register(peer.to_string(), laddr);
                    let server = self.clone();
                    tokio::spawn(async move {
                        conn::serve(server.clone(), client.clone(), stream).await;
                        server.tracking.disable(&server, client.id);
                        server.clients.lock().remove(&client.id);
                    });
                }
            }
        }
    }

    fn register(&self, addr: String, laddr: String) -> Arc<ClientHandle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (invalidations, invalidations_rx) = tokio::sync::mpsc::unbounded_channel();
        let c = Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(None),
            last: Mutex::new((Instant::now(), "")),
            proto: AtomicU8::new(2),
            in_multi: Default::default(),
            queued: Default::default(),
            sub: Default::default(),
            psub: Default::default(),
            ssub: Default::default(),
            kill: Notify::new(),
            unblock: Mutex::new(None),
            user: Mutex::new("default".to_string()),
            acl_check: Notify::new(),
            tracking_flags: AtomicU8::new(0),
            invalidations,
            invalidations_rx: Mutex::new(Some(invalidations_rx)),
        });
        self.clients.lock().insert(id, c.clone());
        c
    }

    pub fn client_by_id(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.lock().get(&id).cloned()
    }

    pub fn clients(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn client_count(&self) -> usize {
        self.clients.lock().len()
    }

    /// Asks the process to shut down (SHUTDOWN, or a signal).
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::keep_alive;
    use std::time::Duration;

    #[tokio::test]
    async fn client_sockets_get_redis_keepalive_probes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let sock = socket2::SockRef::from(&accepted);
        assert!(!sock.keepalive().unwrap());
        keep_alive(&accepted, 0).unwrap();
        assert!(!sock.keepalive().unwrap(), "0: no probes");
        keep_alive(&accepted, 300).unwrap();
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(300));
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), Duration::from_secs(100));
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), 3);
    }
}
