//! One client connection.
//!
//! The loop reads whatever arrived, parses every complete command in it and
//! dispatches each in order: a data command goes to the node (which queues
//! it on its partition's raft group before returning: that is this
//! connection's ordering point), a connection command is answered here.
//! Every command leaves a future in an ordered queue; replies are written as
//! their futures complete, in request order. While replies wait to be
//! written (a client that does not read) or too much is in flight, the
//! connection stops reading: what it buffers stays bounded.

use crate::cmd::{self, CommandSpec, Run};
use crate::encode::encode;
use crate::local;
use crate::resend::{Answer, Resend};
use crate::resp::RequestParser;
use crate::server::{ClientHandle, Server};
use bytes::{Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use node::command::Watch;
use node::reply::err;
use node::{Cmd, PendingReply, Reply};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// What dispatching one command produced.
pub enum Outcome {
    Reply(Reply),
    Pending(PendingReply),
    /// A blocked command: nothing after it on this connection runs before it ends.
    Blocked(PendingReply),
    /// Reply, then close the connection (QUIT, a protocol error).
    Close(Reply),
    /// Close without a reply (SHUTDOWN, CLIENT KILL of itself).
    Drop,
}

/// CLIENT REPLY ON|OFF|SKIP: whether replies are written.
#[derive(Default)]
pub struct Replies {
    /// OFF: none until ON.
    pub off: bool,
    /// SKIP was the last command: the next one's reply is dropped.
    pub skip_next: bool,
    /// The command being run is not answered (decided as it starts; CLIENT
    /// REPLY changes it for itself).
    pub silent: bool,
}

/// The protocol a reply is written in; 0: not written (CLIENT REPLY).
const SILENT: u8 = 0;

/// A command queued between MULTI and EXEC.
pub enum Queued {
    Data(Cmd),
    Local(Vec<Bytes>),
    /// Arguments that do not parse (a syntax error, a bad number): as in
    /// Redis, only EXEC reports it, in its place, and the rest of the
    /// transaction runs. (An unknown command or a wrong argument count
    /// refuses the whole transaction at once instead.)
    Failed(Reply),
}

#[derive(Default)]
pub struct Multi {
    pub queued: Vec<Queued>,
    /// Each queued command's arguments (MONITOR shows them at EXEC, INFO
    /// commandstats counts them by name).
    pub argvs: Vec<Vec<Bytes>>,
    /// A queued command was refused: EXEC answers EXECABORT.
    pub dirty: bool,
}

pub struct Conn {
    pub server: Arc<Server>,
    pub client: Arc<ClientHandle>,
    pub session: node::Session,
    pub proto: u8,
    /// Authenticated: by AUTH or HELLO, or at connect while the default
    /// user needed no password. See [`Conn::must_authenticate`].
    pub authed: bool,
    /// The user the connection runs as (the default user until AUTH), and
    /// the ACL generation it was read at.
    pub user: Arc<crate::acl::User>,
    pub user_generation: u64,
    pub multi: Option<Multi>,
    pub watches: Vec<Watch>,
    /// The partition WATCH or queued commands bound the transaction to.
    pub txn_partition: Option<u32>,
    /// Running the local commands of an EXEC (WAIT answers at once then).
    pub in_exec: bool,
    /// Pub/sub: this connection's subscriptions and the messages for it.
    pub sub: Option<node::pubsub::Subscriber>,
    /// The last command dispatched, if it ran (rather than being refused or
    /// queued): for its accounting (statistics, slow log, MONITOR).
    pub ran: Option<&'static CommandSpec>,
    /// The command's MONITOR line went out already: before it was proposed,
    /// so that the lines of the commands a script runs, which the apply
    /// thread feeds, follow it (as in Redis).
    pub monitor_fed: bool,
    /// MONITOR mode: the lines of the commands the node runs.
    pub mon_rx: Option<tokio::sync::mpsc::UnboundedReceiver<Bytes>>,
    /// CLIENT REPLY: what is answered (see [`Replies`]).
    pub replies: Replies,
    pub sub_rx: Option<tokio::sync::mpsc::UnboundedReceiver<node::pubsub::Delivery>>,
    /// Client-side caching: whether this client tracks keys (CLIENT
    /// TRACKING ON), CLIENT CACHING's answer for the next command, and the
    /// messages for this connection.
    pub tracking: bool,
    pub caching: bool,
    pub invalidations: Option<tokio::sync::mpsc::UnboundedReceiver<crate::tracking::Invalidation>>,
    /// The arguments of the command just submitted, if it may be sent again
    /// (see [`Conn::submit`]).
    pub again: Option<Resend>,
}

/// Commands a RESP2 connection may send while subscribed (Redis 7.0).
const SUBSCRIBED_CONTEXT: &[&str] =
    &["subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset"];

/// Redis' "unknown command" error, quoting the first arguments.
fn unknown_command(argv: &[Bytes]) -> Reply {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let s = String::from_utf8_lossy(a);
        let s: String = s.chars().take(room).collect();
        args.push_str(&format!("'{s}' "));
    }
    let name: String = String::from_utf8_lossy(&argv[0]).chars().take(128).collect();
    Reply::error(format!("ERR unknown command '{name}', with args beginning with: {args}"))
}

pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!("ERR wrong number of arguments for '{name}' command"))
}

impl Conn {
    /// Whether commands must wait for AUTH, asked per command as Redis'
    /// authRequired does: a connection made while a password was needed
    /// may run commands once the default user needs none again (CONFIG
    /// SET requirepass "", ACL SETUSER default nopass), and is held again
    /// if a password comes back before it authenticated.
    pub fn must_authenticate(&self) -> bool {
        !self.authed && self.server.acl.auth_required()
    }

    /// Runs one command. Awaiting this only waits for the command to be
    /// queued (for ordering and backpressure), never for its result.
    pub async fn dispatch(&mut self, argv: Vec<Bytes>, arrived: Instant) -> Outcome {
        self.server.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
        let Some(spec) = cmd::lookup(&argv[0]) else {
            return self.refuse(unknown_command(&argv));
        };
        *self.client.last.lock() = (arrived, spec.name);
        if !spec.arity_ok(argv.len()) {
            return self.refuse_command(spec, wrong_arity(spec.name));
        }
        if self.must_authenticate() && !spec.has_flag("no_auth") {
            return self.refuse_command(spec, Reply::error("NOAUTH Authentication required."));
        }
        if let Some(e) = local::subcommand_refusal(spec.name, &argv) {
            return self.refuse(e);
        }
        if let Err(e) = self.check_acl(spec, &argv, crate::acl::command::Context::Toplevel) {
            return self.refuse_command(spec, e);
        }
        if self.proto == 2 && self.subscriptions() > 0 && !SUBSCRIBED_CONTEXT.contains(&spec.name) {
            return self.refuse(Reply::error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )));
        }
        let queued = self.multi.as_ref().map_or(&[][..], |m| &m.argvs[..]);
        self.server.pause.wait(&self.server, spec, &argv, queued).await;
        if self.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset") {
            return Outcome::Reply(self.queue(spec, argv).await);
        }
        self.ran = Some(spec);
        // CLIENT CACHING answers for the next command (but CLIENT's own).
        // (Inside MULTI it holds until EXEC, which reads it.)
        let caching = self.caching;
        if spec.name != "client" && spec.name != "multi" && self.multi.is_none() {
            self.caching = false;
        }
        match spec.run {
            Run::Data(parse) => match self.parse_data(parse, &argv).await {
                Ok(c) => match self.moved(&c) {
                    None => {
                        let c = self.stamp_caller(c);
                        self.remember_keys(spec, &c, caching);
                        if self.server.monitors.active() {
                            crate::accounting::feed_unless_admin(&self.server, &argv, &self.client.addr);
                            self.monitor_fed = true;
                        }
                        Outcome::Pending(self.submit(c, argv).await)
                    }
                    Some(e) => Outcome::Reply(e),
                },
                Err(e) => Outcome::Reply(e),
            },
            Run::Blocking(parse) => match parse(&argv) {
                Ok((c, timeout)) => match self.moved(&c) {
                    Some(e) => Outcome::Reply(e),
                    // No wait (XREAD without BLOCK): an ordinary command,
                    // which pipelines.
                    None if timeout == Some(std::time::Duration::ZERO) => {
                        self.remember_keys(spec, &c, caching);
                        Outcome::Pending(self.submit(c, argv).await)
                    }
                    None => {
                        let unblock = self.client.waiting();
                        Outcome::Blocked(self.server.node.submit_blocking(&mut self.session, c, timeout, unblock).await)
                    }
                },
                Err(e) => Outcome::Reply(e),
            },
            Run::Local => local::run(self, spec, argv).await,
        }
    }

    /// Hands a data command to the node. One with keys (so on one
    /// partition: a keyless one may have run on some partitions only)
    /// leaves its arguments in `again`, for a resend after a leadership
    /// change (see [`crate::resend`]).
    async fn submit(&mut self, c: node::Cmd, argv: Vec<Bytes>) -> PendingReply {
        if !c.is_keyless() {
            self.again = Some(Resend::new(argv, !c.is_write()));
        }
        self.server.node.submit(&mut self.session, c).await
    }

    /// A data command's typed form, with the script or function it names
    /// found (see [`Server::resolve_script`]).
    async fn parse_data(&self, parse: cmd::Parser, argv: &[Bytes]) -> Result<node::Cmd, node::Reply> {
        match parse(argv) {
            Ok(c) => self.server.resolve_script(c).await,
            Err(e) => Err(e),
        }
    }

    /// Sends a command again that the node refused because the leadership
    /// of its partition was changing. Checks, statistics and MONITOR saw it
    /// the first time; it is only parsed and submitted anew.
    pub async fn resubmit(&mut self, argv: Vec<Bytes>) -> PendingReply {
        let parsed = match cmd::lookup(&argv[0]).map(|spec| spec.run) {
            Some(Run::Data(parse)) => self.parse_data(parse, &argv).await,
            Some(Run::Blocking(parse)) => parse(&argv).map(|(c, _)| c),
            _ => unreachable!("only data commands are sent again"),
        };
        match parsed.map(|c| (self.moved(&c), c)) {
            Ok((None, c)) => {
                let c = self.stamp_caller(c);
                self.submit(c, argv).await
            }
            Ok((Some(e), _)) | Err(e) => futures::future::ready(e).boxed(),
        }
    }

    /// trackingRememberKeys: the keys of a tracking client's read-only
    /// command, recorded before it is sent on (see [`crate::tracking`]).
    pub fn remember_keys(&self, spec: &CommandSpec, c: &node::Cmd, caching: bool) {
        if !self.tracking || !spec.has_flag("readonly") || spec.has_flag("pubsub") {
            return;
        }
        let Some(mode) = self.server.tracking.mode(self.client.id) else { return };
        self.server.tracking.read_by(self.client.id);
        if mode.bcast || (mode.optin && !caching) || (mode.optout && caching) {
            return;
        }
        self.server.tracking.remember(&self.server, &self.client, &c.keys());
    }

    /// With `--redirect moved`: -MOVED when another node leads the partition
    /// of the command's first key (a READONLY read stays here).
    fn moved(&self, c: &node::Cmd) -> Option<Reply> {
        if self.session.readonly && !c.is_write() {
            return None;
        }
        let keys = c.keys();
        let key = keys.first()?;
        let (slot, leader) = self.server.node.moved(&self.session, key)?;
        Some(crate::cluster::moved(self, slot, leader))
    }

    /// `spec` refused before execution. EXEC refused (a wrong argument
    /// count, NOAUTH) discards the transaction and its watches, and says so
    /// as Redis does.
    fn refuse_command(&mut self, spec: &CommandSpec, e: Reply) -> Outcome {
        if spec.name != "exec" {
            return self.refuse(e);
        }
        self.reset_txn();
        let Reply::Error(msg) = e else { unreachable!("a refusal is an error") };
        let why = msg.strip_prefix("ERR ").unwrap_or(&msg);
        Outcome::Reply(Reply::error(format!("EXECABORT Transaction discarded because of: {why}")))
    }

    /// An error before execution: inside MULTI it also dooms the transaction.
    fn refuse(&mut self, e: Reply) -> Outcome {
        if let Some(m) = &mut self.multi {
            m.dirty = true;
        }
        Outcome::Reply(e)
    }

    /// Binds the transaction to the partition of `keys`; CROSSSLOT if they
    /// (with what is bound already) span partitions.
    pub fn bind_partition(&mut self, keys: &[&Bytes], keyless: bool) -> Result<(), Reply> {
        let ns = self.session.ns.clone();
        if keyless && ns.partitions.len() > 1 {
            return Err(Reply::error(err::CROSSSLOT));
        }
        let p = self.server.node.partition_for(&ns, keys)?;
        match (self.txn_partition, p) {
            (Some(a), Some(b)) if a != b => Err(Reply::error(err::CROSSSLOT)),
            (None, Some(b)) => {
                self.txn_partition = Some(b);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn queue(&mut self, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
        let copy = argv.clone();
        // Inside MULTI a blocking pop does not block: it is its plain pop.
        let parsed = match spec.run {
            Run::Data(parse) => Some(self.parse_data(parse, &argv).await.map(|c| self.stamp_caller(c))),
            Run::Blocking(parse) => Some(parse(&argv).map(|(c, _)| c)),
            Run::Local => local::data_form(&argv).map(Ok),
        };
        let item = match parsed {
            Some(parsed) => match parsed {
                Ok(c) => {
                    let keys = c.keys();
                    if let Err(e) = self.bind_partition(&keys, c.is_keyless()) {
                        self.multi.as_mut().unwrap().dirty = true;
                        return e;
                    }
                    Queued::Data(c)
                }
                Err(e) => Queued::Failed(e),
            },
            None => Queued::Local(argv),
        };
        let multi = self.multi.as_mut().unwrap();
        multi.queued.push(item);
        multi.argvs.push(copy);
        self.client.queued.store(multi.argvs.len(), Ordering::Relaxed);
        Reply::status("QUEUED")
    }

    /// Drops the transaction state (EXEC, DISCARD, UNWATCH outside MULTI).
    pub fn reset_txn(&mut self) {
        self.multi = None;
        self.watches.clear();
        self.txn_partition = None;
        self.client.in_multi.store(false, Ordering::Relaxed);
    }
}

/// Output a connection may have queued for its writer before it stops
/// reading: a client that never reads costs at most this much (plus its
/// in-flight commands), while ordinary pipelines, whose clients write
/// everything before reading, never stall.
const OUTPUT_LIMIT: usize = 8 << 20;

/// Moves encoded replies to the socket without ever making the reader wait:
/// a reply is written directly when nothing is queued (the common case,
/// no task hop), and what the socket does not take at once is queued for a
/// writer task.
struct Writer {
    wr: Arc<tokio::net::tcp::OwnedWriteHalf>,
    tx: Option<tokio::sync::mpsc::UnboundedSender<Bytes>>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    drained: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
    broken: bool,
}

impl Writer {
    fn start(wr: tokio::net::tcp::OwnedWriteHalf, server: Arc<Server>) -> Writer {
        let wr = Arc::new(wr);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let drained = Arc::new(tokio::sync::Notify::new());
        let (q, d, w) = (queued.clone(), drained.clone(), wr.clone());
        let task = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                let ok = write_all(&w, &b).await;
                q.fetch_sub(b.len(), Ordering::AcqRel);
                server.output_bytes.fetch_sub(b.len(), Ordering::AcqRel);
                d.notify_one();
                if !ok {
                    // The reader sees the connection end by itself.
                    while let Ok(b) = rx.try_recv() {
                        q.fetch_sub(b.len(), Ordering::AcqRel);
                        server.output_bytes.fetch_sub(b.len(), Ordering::AcqRel);
                    }
                    return;
                }
                server.stats.net_output_bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            // Dropping the last handle of the write half shuts the socket down.
        });
        Writer { wr, tx: Some(tx), queued, drained, task, broken: false }
    }

    /// Sends what `out` holds: directly if nothing is queued, else through the
    /// writer task (which keeps the order).
    fn flush(&mut self, out: &mut BytesMut, server: &Server) {
        if out.is_empty() || self.broken {
            out.clear();
            return;
        }
        if self.queued.load(Ordering::Acquire) == 0 {
            match self.wr.try_write(out) {
                Ok(n) => {
                    server.stats.net_output_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let _ = out.split_to(n);
                    if out.is_empty() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    self.broken = true;
                    out.clear();
                    return;
                }
            }
        }
        let b = out.split().freeze();
        self.queued.fetch_add(b.len(), Ordering::AcqRel);
        server.output_bytes.fetch_add(b.len(), Ordering::AcqRel);
        if let Some(tx) = &self.tx {
            if tx.send(b.clone()).is_err() {
                self.queued.fetch_sub(b.len(), Ordering::AcqRel);
                server.output_bytes.fetch_sub(b.len(), Ordering::AcqRel);
            }
        }
    }

    fn backed_up(&self, server: &Server, budget: usize) -> bool {
        let mine = self.queued.load(Ordering::Acquire);
        mine >= OUTPUT_LIMIT || (mine > 0 && server.output_bytes.load(Ordering::Relaxed) > budget)
    }
}

async fn write_all(w: &tokio::net::tcp::OwnedWriteHalf, mut b: &[u8]) -> bool {
    while !b.is_empty() {
        if w.writable().await.is_err() {
            return false;
        }
        match w.try_write(b) {
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
}

/// The next item of an optional channel (a subscriber's messages, a
/// monitor's lines); never, without one.
async fn next_from<T>(rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes a command's reply in `proto`, unless it is [`SILENT`].
pub(crate) fn encode_reply(out: &mut BytesMut, r: &Reply, proto: u8) {
    if proto != SILENT {
        encode(out, r, proto);
    }
}

/// Output a subscriber (or a monitor) may leave unread before it is dropped.
const PUBSUB_OUTPUT_LIMIT: usize = 32 << 20;

/// Writes `first` and what else `rx` holds now (up to 64 KiB) with `put`,
/// and hands it to the writer. False when the client has left more than
/// [`PUBSUB_OUTPUT_LIMIT`] unread: it is dropped, as Redis' pubsub
/// client-output-buffer-limit (32 MB) drops it.
fn push_out<T>(
    first: T,
    rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<T>>,
    out: &mut BytesMut,
    writer: &mut Writer,
    server: &Server,
    mut put: impl FnMut(&mut BytesMut, T),
) -> bool {
    put(out, first);
    while out.len() < 64 * 1024 {
        match rx.as_mut().and_then(|rx| rx.try_recv().ok()) {
            Some(x) => put(out, x),
            None => break,
        }
    }
    writer.flush(out, server);
    writer.queued.load(Ordering::Acquire) <= PUBSUB_OUTPUT_LIMIT
}

/// What `read_more` returns when it did not read because the buffer holds
/// commands still to be parsed.
const BUFFERED: usize = usize::MAX;

/// How much a client may send behind a blocked command before the server
/// stops reading it (and so stops noticing that it left) until it unblocks.
const BLOCKED_READ_LIMIT: usize = 1 << 20;

async fn read_more(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    inbuf: &mut BytesMut,
    unparsed: bool,
) -> std::io::Result<usize> {
    if unparsed {
        return Ok(BUFFERED);
    }
    rd.read_buf(inbuf).await
}

/// Waits until `deadline`; forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Awaits `f` (a command being dispatched) while the answers of the
/// commands in flight keep coming, into `early`: a command whose
/// partition's route changed waits (in the node) until this connection's
/// earlier commands there have ended, and those end only when their
/// futures are polled.
///
/// A refusal for a leadership change among them raises `refusal` at once,
/// so that the node refuses `f`'s command too rather than let it overtake
/// the refused one (see [`crate::resend`]).
async fn answering<F: std::future::Future>(
    f: F,
    pending: &mut FuturesOrdered<futures::future::BoxFuture<'static, Answer>>,
    early: &mut Vec<Answer>,
    refusal: &AtomicBool,
) -> F::Output {
    if pending.is_empty() {
        return f.await;
    }
    tokio::pin!(f);
    loop {
        tokio::select! {
            biased;
            r = &mut f => return r,
            Some(a) = pending.next(), if !pending.is_empty() => {
                if a.refused {
                    refusal.store(true, Ordering::Release);
                }
                early.push(a);
            }
        }
    }
}

/// Takes an answer off the queue of commands in flight: a refusal for a
/// leadership change is held back in `refused` until the commands sent
/// after it have come back (see [`crate::resend`]); any other answer is
/// written, after the refusals held before it, which go as they are (it
/// may have taken effect after them).
fn take_answer(a: Answer, refused: &mut Vec<Answer>, out: &mut BytesMut, closing: bool) {
    // (A read behind a refusal runs again too.)
    if !closing && (a.refused || (!refused.is_empty() && a.again.is_some())) {
        refused.push(a);
    } else {
        for r in refused.drain(..) {
            r.give(out);
        }
        a.give(out);
    }
}

/// [`take_answer`] for each answer in `early`, giving back their read
/// budget; returns how much.
fn take_early(early: &mut Vec<Answer>, refused: &mut Vec<Answer>, out: &mut BytesMut, server: &Server) -> usize {
    let mut size = 0;
    for a in early.drain(..) {
        size += a.size;
        take_answer(a, refused, out, false);
    }
    server.inflight_bytes.fetch_sub(size, Ordering::Relaxed);
    size
}

/// Serves one client until it leaves, is killed, or the server shuts down.
pub async fn serve(server: Arc<Server>, client: Arc<ClientHandle>, stream: TcpStream) {
    let (limits, max_pipeline, read_budget) = {
        let c = server.cfg.read();
        (c.limits.clone(), c.max_pipeline, c.read_budget)
    };
    let mut conn = Conn {
        session: server.node.new_session(),
        server: server.clone(),
        client: client.clone(),
        proto: 2,
        authed: !server.acl.auth_required(),
        user: server.acl.default_user(),
        user_generation: server.acl.generation(),
        multi: None,
        watches: Vec::new(),
        txn_partition: None,
        in_exec: false,
        sub: None,
        sub_rx: None,
        ran: None,
        mon_rx: None,
        replies: Replies::default(),
        tracking: false,
        caching: false,
        monitor_fed: false,
        invalidations: client.invalidations_rx.lock().take(),
        again: None,
    };
    conn.session.client = client.id;
    let (mut rd, wr) = stream.into_split();
    let mut writer = Writer::start(wr, server.clone());
    let mut parser = RequestParser::new(limits);
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::with_capacity(16 * 1024);
    // Each command's answer (the bytes it took, the protocol it is answered
    // in, its reply; see crate::resend::Answer), in request order. The
    // protocol is the one in force when the command came: a HELLO pipelined
    // behind a command still in flight must not change how that command is
    // answered.
    let mut pending: FuturesOrdered<futures::future::BoxFuture<'static, Answer>> = FuturesOrdered::new();
    let leader_wait = server.node.cfg.leader_wait;
    // Answers refused for a leadership change, in order, while the commands
    // sent after them are still in flight (see crate::resend).
    let mut refused: Vec<Answer> = Vec::new();
    // Answers that came while a command was being dispatched.
    let mut early: Vec<Answer> = Vec::new();
    // Raised while a refusal is held or on its way (node's Session::refused).
    let refusal = conn.session.refusal_flag();
    let mut closing = false;
    // Budget this connection holds for commands not yet answered.
    let mut held = 0usize;
    let mut stop = server.shutdown_signal();
    let mut killed = false;
    // The buffer may hold commands not parsed yet (a limit was reached).
    let mut unparsed = false;
    // A blocked command is in flight: later commands wait for it.
    let mut blocked = false;
    // The client closed its side: nothing more to read, but what it sent
    // before is still answered (as Redis does for `nc -N` and the like).
    let mut eof = false;
    // When the client last sent something or was answered (`timeout`).
    let mut last_io = tokio::time::Instant::now();

    loop {
        let over_budget = server.inflight_bytes.load(Ordering::Relaxed) > read_budget && !pending.is_empty();
        let backed_up = writer.backed_up(&server, read_budget);
        if blocked && pending.is_empty() {
            blocked = false;
        }
        let can_read = !closing
            && !blocked
            && refused.is_empty()
            && pending.len() < max_pipeline
            && !over_budget
            && !backed_up
            && (!eof || unparsed);
        // While a command is blocked, what the client sends waits in the
        // buffer, but a client that leaves must be noticed: its blocked
        // command is dropped, as Redis frees such a client, so that a later
        // push is not popped for nobody (and lost).
        let watch_blocked = blocked && !eof && inbuf.len() < BLOCKED_READ_LIMIT;
        // Redis' `timeout` closes a client idle that long, but not one with
        // a command in flight (blocked ones included), subscribed, or
        // MONITORing.
        let idle_limit = server.idle_timeout.load(Ordering::Relaxed);
        let idle_deadline =
            (idle_limit > 0 && pending.is_empty() && !unparsed && conn.subscriptions() == 0 && conn.mon_rx.is_none())
                .then(|| last_io + std::time::Duration::from_secs(idle_limit) + std::time::Duration::from_millis(999));
        tokio::select! {
            biased;
            _ = client.kill.notified() => { killed = true; break }
            _ = sleep_until_some(idle_deadline) => {
                tracing::debug!("client {}: idle for {idle_limit} s, closing", client.addr);
                break;
            }
            _ = client.acl_check.notified() => if !conn.subscriptions_allowed() { killed = true; break },
            _ = stop.changed() => break,
            Some(first) = pending.next(), if !pending.is_empty() => {
                // This answer and every other one that is already there, then
                // one hand-over to the writer.
                let mut next = Some(first);
                while let Some(a) = next.take() {
                    held -= a.size;
                    server.inflight_bytes.fetch_sub(a.size, Ordering::Relaxed);
                    take_answer(a, &mut refused, &mut out, closing);
                    if out.len() < 64 * 1024 {
                        next = pending.next().now_or_never().flatten();
                    }
                }
                writer.flush(&mut out, &server);
                if pending.is_empty() && !refused.is_empty() {
                    // Everything sent since the first refused command was
                    // refused too: sent again in their order, they overtake
                    // nothing (see crate::resend).
                    tokio::time::sleep(refused[0].pause()).await;
                    refusal.store(false, Ordering::Release);
                    for r in std::mem::take(&mut refused) {
                        let size = r.size;
                        let answer = answering(r.send_again(&mut conn), &mut pending, &mut early, &refusal).await;
                        // (Those answers are of the commands sent again
                        // before it.)
                        held -= take_early(&mut early, &mut refused, &mut out, &server);
                        held += size;
                        server.inflight_bytes.fetch_add(size, Ordering::Relaxed);
                        pending.push_back(answer);
                    }
                }
                refusal.store(!refused.is_empty(), Ordering::Release);
                last_io = tokio::time::Instant::now();
                if (closing || eof) && pending.is_empty() && !unparsed {
                    break;
                }
            }
            // Pub/sub messages, between replies (never ahead of one in flight).
            Some(d) = next_from(&mut conn.sub_rx), if pending.is_empty() && conn.sub_rx.is_some() => {
                let proto = conn.proto;
                let put = |o: &mut BytesMut, d| encode(o, &crate::pubsub::message(d), proto);
                if !push_out(d, &mut conn.sub_rx, &mut out, &mut writer, &server, put) {
                    tracing::info!("client {}: pub/sub output over {PUBSUB_OUTPUT_LIMIT} bytes, closing", client.addr);
                    killed = true;
                    break;
                }
            }
            // Client-side caching messages, between replies: after the
            // replies in flight, which may have read what they invalidate.
            // (A client that leaves them unread is dropped, as a
            // subscriber is.)
            Some(inv) = next_from(&mut conn.invalidations), if pending.is_empty() => {
                let (proto, subscribed) = (conn.proto, conn.subscriptions() > 0);
                let put = |o: &mut BytesMut, inv: crate::tracking::Invalidation| {
                    if let Some(r) = inv.reply(proto, subscribed) {
                        encode(o, &r, proto);
                    }
                };
                if !push_out(inv, &mut conn.invalidations, &mut out, &mut writer, &server, put) {
                    tracing::info!("client {}: tracking output over {PUBSUB_OUTPUT_LIMIT} bytes, closing", client.addr);
                    killed = true;
                    break;
                }
            }
            // MONITOR lines, between replies.
            Some(line) = next_from(&mut conn.mon_rx), if pending.is_empty() && conn.mon_rx.is_some() => {
                let put = |o: &mut BytesMut, line: Bytes| o.extend_from_slice(&line);
                if !push_out(line, &mut conn.mon_rx, &mut out, &mut writer, &server, put) {
                    tracing::info!("client {}: monitor output over {PUBSUB_OUTPUT_LIMIT} bytes, closing", client.addr);
                    killed = true;
                    break;
                }
            }
            // Output drained: reading may resume.
            _ = writer.drained.notified(), if backed_up => {}
            r = read_more(&mut rd, &mut inbuf, unparsed && !blocked), if can_read || watch_blocked => {
                if blocked {
                    match r {
                        Ok(n) if n > 0 => {
                            server.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                            unparsed = true;
                            continue;
                        }
                        _ => break,
                    }
                }
                match r {
                    Ok(0) if pending.is_empty() => break,
                    Ok(0) => eof = true,
                    Err(_) => break,
                    Ok(BUFFERED) => {}
                    Ok(n) => {
                        server.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        last_io = tokio::time::Instant::now();
                    }
                }
                unparsed = false;
                loop {
                    let before = inbuf.len();
                    let argv = match parser.next(&mut inbuf, !conn.must_authenticate()) {
                        Ok(Some(argv)) => argv,
                        Ok(None) => break,
                        Err(e) => {
                            let msg = format!("ERR Protocol error: {}", e.0);
                            tracing::debug!("client {}: {msg}", client.addr);
                            pending.push_back(futures::future::ready(Answer::settle(0, conn.proto, Reply::error(msg), None, None, leader_wait)).boxed());
                            closing = true;
                            break;
                        }
                    };
                    let size = before.saturating_sub(inbuf.len()).max(argv.iter().map(|a| a.len()).sum());
                    conn.replies.silent = conn.replies.off || std::mem::take(&mut conn.replies.skip_next);
                    let (outcome, timed) =
                        answering(crate::accounting::dispatch(&mut conn, argv), &mut pending, &mut early, &refusal)
                            .await;
                    // Those answers go before this command's.
                    held -= take_early(&mut early, &mut refused, &mut out, &server);
                    refusal.store(!refused.is_empty(), Ordering::Release);
                    // The protocol the reply is written in, or SILENT.
                    let answer_in = if conn.replies.silent { SILENT } else { conn.proto };
                    let (reply, close) = match outcome {
                        Outcome::Reply(r) => (Ok(r), false),
                        Outcome::Pending(f) => (Err(f), false),
                        Outcome::Blocked(f) => {
                            blocked = true;
                            // Its wait over, the client no longer counts as blocked.
                            let client = client.clone();
                            (Err(f.inspect(move |_| client.done_waiting()).boxed()), false)
                        }
                        Outcome::Close(r) => (Ok(r), true),
                        Outcome::Drop => {
                            killed = true;
                            break;
                        }
                    };
                    closing |= close;
                    // A reply that is already there, with nothing before it in
                    // flight, goes straight to the output buffer.
                    let reply = match reply {
                        Err(mut f) if pending.is_empty() => match (&mut f).now_or_never() {
                            Some(r) => Ok(r),
                            None => Err(f),
                        },
                        other => other,
                    };
                    // The accounting sees a reply that is there now at once,
                    // a pending one when it comes (see `Answer::settle`).
                    let resend = conn.again.take();
                    match reply {
                        Ok(r) => {
                            let a = Answer::settle(size, answer_in, r, timed, resend, leader_wait);
                            // (Behind held refusals it goes through the queue,
                            // which answers them first.)
                            if pending.is_empty() && refused.is_empty() && !a.refused {
                                a.give(&mut out);
                                if out.len() >= 64 * 1024 {
                                    writer.flush(&mut out, &server);
                                }
                            } else {
                                held += size;
                                server.inflight_bytes.fetch_add(size, Ordering::Relaxed);
                                pending.push_back(futures::future::ready(a).boxed());
                            }
                        }
                        Err(f) => {
                            held += size;
                            server.inflight_bytes.fetch_add(size, Ordering::Relaxed);
                            let proto = answer_in;
                            pending.push_back(
                                f.map(move |r| Answer::settle(size, proto, r, timed, resend, leader_wait)).boxed(),
                            );
                        }
                    }
                    if closing || killed {
                        break;
                    }
                    if (blocked && !pending.is_empty())
                        || !refused.is_empty()
                        || pending.len() >= max_pipeline
                        || writer.backed_up(&server, read_budget)
                    {
                        // Later commands may already be in the buffer: take them
                        // up again when this is over, not when more bytes arrive.
                        unparsed = !inbuf.is_empty();
                        break;
                    }
                }
                writer.flush(&mut out, &server);
                if killed || ((closing || eof) && pending.is_empty() && !unparsed) {
                    break;
                }
            }
        }
    }
    // Whatever is still in flight is not answered; give back its budget.
    server.inflight_bytes.fetch_sub(held, Ordering::Relaxed);
    if conn.mon_rx.is_some() {
        server.monitors.remove(client.id);
    }
    drop(pending);
    if killed {
        writer.task.abort();
        let q = writer.queued.swap(0, Ordering::AcqRel);
        server.output_bytes.fetch_sub(q, Ordering::AcqRel);
    } else {
        // Let the writer finish what it has; the socket closes with the
        // last handle of its write half.
        writer.tx = None;
        let _ = (&mut writer.task).await;
        drop(writer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(3);

    /// The answer of a command that may be sent again, with `reply`.
    fn answer(reply: Reply, read_only: bool) -> Answer {
        let resend = Resend::new(vec![Bytes::from_static(b"GET"), Bytes::from_static(b"k")], read_only);
        Answer::settle(10, 2, reply, None, Some(resend), WAIT)
    }

    fn refusal() -> Answer {
        answer(Reply::error("TRYAGAIN the partition has no leader yet"), false)
    }

    fn written(out: &BytesMut) -> String {
        String::from_utf8_lossy(out).into_owned()
    }

    #[test]
    fn refusals_are_held_until_an_answer_that_took_effect_comes_after_them() {
        let (mut refused, mut out) = (Vec::new(), BytesMut::new());
        take_answer(refusal(), &mut refused, &mut out, false);
        take_answer(refusal(), &mut refused, &mut out, false);
        assert_eq!(refused.len(), 2);
        assert!(out.is_empty(), "nothing is written while they are held");
        // A write that succeeded after them: they go as they are, first.
        take_answer(answer(Reply::Ok, false), &mut refused, &mut out, false);
        assert!(refused.is_empty());
        assert_eq!(
            written(&out),
            "-TRYAGAIN the partition has no leader yet\r\n-TRYAGAIN the partition has no leader yet\r\n+OK\r\n"
        );
    }

    #[test]
    fn a_read_behind_a_refusal_is_held_to_run_again_but_not_on_its_own() {
        let (mut refused, mut out) = (Vec::new(), BytesMut::new());
        // A read with nothing held is simply answered.
        take_answer(answer(Reply::bulk("v"), true), &mut refused, &mut out, false);
        assert_eq!(written(&out), "$1\r\nv\r\n");
        out.clear();
        // Behind a refusal it is held too (it ran before the refused write).
        take_answer(refusal(), &mut refused, &mut out, false);
        take_answer(answer(Reply::bulk("v"), true), &mut refused, &mut out, false);
        assert_eq!(refused.len(), 2);
        assert!(out.is_empty());
        // A command that may not be sent again ends the hold.
        let final_answer = Answer::settle(4, 2, Reply::status("PONG"), None, None, WAIT);
        take_answer(final_answer, &mut refused, &mut out, false);
        assert!(refused.is_empty());
        assert!(written(&out).ends_with("$1\r\nv\r\n+PONG\r\n"), "{}", written(&out));
    }

    #[test]
    fn only_leadership_refusals_are_held_and_none_while_closing() {
        let (mut refused, mut out) = (Vec::new(), BytesMut::new());
        // Another TRYAGAIN (an upgrade under way) is not a leadership change.
        let upgrade = answer(Reply::error("TRYAGAIN EVAL needs every replica at apply version 12"), false);
        assert!(!upgrade.refused);
        take_answer(upgrade, &mut refused, &mut out, false);
        assert!(refused.is_empty() && !out.is_empty());
        // A refusal of a command that may not be sent again is no refusal
        // to hold either (a keyless one, EXEC).
        let keyless = Answer::settle(4, 2, Reply::error("TRYAGAIN the partition has no leader yet"), None, None, WAIT);
        assert!(!keyless.refused);
        take_answer(refusal(), &mut refused, &mut out, true);
        assert!(refused.is_empty(), "a closing connection answers at once");
        // Nor one refused again past the window since its first refusal.
        let mut late = Resend::new(vec![Bytes::from_static(b"SET")], false);
        late.since = Some(tokio::time::Instant::now() - Duration::from_secs(4));
        let late =
            Answer::settle(4, 2, Reply::error("TRYAGAIN the partition has no leader yet"), None, Some(late), WAIT);
        assert!(!late.refused);
    }
}
