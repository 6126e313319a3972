//! Runs the clients: closed loop (send a pipeline of requests, wait for
//! their replies, repeat) or open loop (send on a fixed schedule, read
//! replies in a separate task), then merges what they counted.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::cli::{Args, Protocol};
use crate::keys::KeyChooser;
use crate::resp::{self, Auth, Conn, FrameReader};
use crate::schedule::Schedule;
use crate::stats::{Recorder, Second, Timeline, Totals};
use crate::topology::Topology;
use crate::verify::{Checker, VerifyReport};
use crate::workload::{Generator, Planned};

/// Everything the clients of one run share.
pub struct Ctx {
    pub args: Args,
    pub auth: Auth,
    pub topology: Topology,
    /// Requests sent before this instant are warmup.
    pub measure_from: Instant,
    /// Duration mode: no request starts at or after this instant.
    pub stop_at: Option<Instant>,
    /// Requests mode: requests still to start after warmup.
    remaining: Option<AtomicI64>,
    pub timeline: Arc<Timeline>,
    /// Completed requests (for the progress bar).
    pub progress: Arc<AtomicU64>,
    pub timeout: Duration,
}

impl Ctx {
    /// How many of `want` more requests may start at `at` (0: the run is over).
    pub fn claim(&self, want: u64, at: Instant) -> u64 {
        if self.stop_at.is_some_and(|s| at >= s) {
            return 0;
        }
        match &self.remaining {
            Some(_) if at < self.measure_from => want,
            Some(r) => {
                let before = r.fetch_sub(want as i64, Ordering::Relaxed);
                before.clamp(0, want as i64) as u64
            }
            None => want,
        }
    }

    pub fn generator(&self, client: usize) -> Generator {
        let a = &self.args;
        let owner = a.verify.then_some((client as u64, a.clients as u64));
        let seed = a.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(client as u64);
        let keys = KeyChooser::new(a.distribution, a.zipf_skew, a.keyspace, owner, seed);
        Generator::new(a.workload, a.read_ratio, keys, a.value_size, a.batch_keys, client as u32, a.verify)
    }

    pub fn recorder(&self) -> Recorder {
        Recorder::new(self.measure_from, self.timeline.clone(), self.progress.clone())
    }
}

/// What one client (or the whole run) counted.
#[derive(Default)]
pub struct Outcome {
    pub totals: Totals,
    pub verify: VerifyReport,
}

impl Outcome {
    fn merge(&mut self, o: Outcome) {
        self.totals.merge(o.totals);
        self.verify.merge(o.verify);
    }
}

/// The result of a run.
pub struct RunResult {
    pub outcome: Outcome,
    pub seconds: Vec<Second>,
    /// Measured wall time (after warmup).
    pub elapsed: Duration,
    pub nodes: Vec<String>,
}

pub async fn run(args: Args, progress_bar: bool) -> Result<RunResult> {
    args.validate()?;
    let auth = Auth { namespace: args.namespace.clone(), password: args.auth.clone() };
    let topology = match (args.protocol, args.cluster) {
        (Protocol::Redis, true) => Topology::discover(&args.addrs, &auth).await?,
        _ => Topology::spread(&args.addrs),
    };
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let ctx = Arc::new(Ctx {
        stop_at: args.duration.map(|d| measure_from + Duration::from_secs_f64(d)),
        remaining: args.request_budget().map(|n| AtomicI64::new(n as i64)),
        auth,
        topology,
        measure_from,
        timeline: Timeline::new(),
        progress: Arc::new(AtomicU64::new(0)),
        timeout: Duration::from_secs_f64(args.timeout),
        args,
    });
    let progress = progress_bar.then(|| crate::report::Progress::start(&ctx));
    let mut tasks = Vec::new();
    for id in 0..ctx.args.clients {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            match (ctx.args.protocol, ctx.args.rate) {
                (Protocol::Etcd, _) => crate::etcd::client(ctx, id).await,
                (Protocol::Redis, None) => resp_closed_loop(ctx, id).await,
                (Protocol::Redis, Some(_)) => resp_open_loop(ctx, id).await,
            }
        }));
    }
    let mut outcome = Outcome::default();
    let mut first_err = None;
    for t in tasks {
        match t.await? {
            Ok(o) => outcome.merge(o),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    if let Some(p) = progress {
        p.finish();
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(RunResult { outcome, seconds: ctx.timeline.seconds(), elapsed, nodes: ctx.topology.nodes.clone() })
}

/// A request on the wire: its plan, how many replies it produces, when it
/// counts from.
struct InFlight {
    planned: Planned,
    replies: usize,
    start: Instant,
}

/// Connects lazily; a failed connect is retried on the next batch after a pause.
async fn ensure_conn<'a>(slot: &'a mut Option<Conn>, ctx: &Ctx, node: usize) -> Result<&'a mut Conn> {
    if slot.is_none() {
        match Conn::connect(&ctx.topology.nodes[node], &ctx.auth).await {
            Ok(c) => *slot = Some(c),
            Err(e) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(e);
            }
        }
    }
    Ok(slot.as_mut().expect("connected"))
}

/// Closed loop: each client sends --pipeline requests, waits for all their
/// replies, and repeats. Latency counts from the send.
async fn resp_closed_loop(ctx: Arc<Ctx>, id: usize) -> Result<Outcome> {
    let nodes = ctx.topology.nodes.len();
    let mut conns: Vec<Option<Conn>> = (0..nodes).map(|_| None).collect();
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); nodes];
    let mut batches: Vec<Vec<InFlight>> = (0..nodes).map(|_| Vec::new()).collect();
    let mut gen = ctx.generator(id);
    let mut checker = Checker::new(ctx.args.verify);
    let mut rec = ctx.recorder();
    let mut frames = Vec::new();
    // Fail fast when a server is not there at all; later failures reconnect.
    for node in ctx.topology.nodes_of(id) {
        conns[node] = Some(Conn::connect(&ctx.topology.nodes[node], &ctx.auth).await?);
    }
    loop {
        let now = Instant::now();
        let n = ctx.claim(ctx.args.pipeline as u64, now);
        if n == 0 {
            break;
        }
        for _ in 0..n {
            let planned = gen.next();
            let node = ctx.topology.node_for(&planned.op, id);
            let replies = resp::encode(&planned.op, &mut out[node]);
            batches[node].push(InFlight { planned, replies, start: now });
        }
        let sent = Instant::now();
        for node in 0..nodes {
            if batches[node].is_empty() {
                continue;
            }
            let written = match ensure_conn(&mut conns[node], &ctx, node).await {
                Ok(c) => c.writer.write_all(&out[node]).await.map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            out[node].clear();
            if written.is_err() {
                conns[node] = None;
                lose(&mut batches[node], &mut gen, &mut checker, &mut rec, "io");
            }
        }
        for node in 0..nodes {
            let Some(conn) = conns[node].as_mut() else {
                continue;
            };
            let mut batch = std::mem::take(&mut batches[node]);
            let mut broken = None;
            for f in batch.drain(..) {
                if let Some(kind) = broken {
                    lose(&mut vec![f], &mut gen, &mut checker, &mut rec, kind);
                    continue;
                }
                match conn.reader.frames(f.replies, ctx.timeout, &mut frames).await {
                    Ok(()) => {
                        let done = Instant::now();
                        match resp::interpret(&f.planned.op, &frames) {
                            Ok(seen) => {
                                rec.ok(sent, done);
                                checker.check(&f.planned, seen);
                            }
                            Err(kind) => {
                                // A failed write may or may not have happened.
                                if f.planned.op.writes() {
                                    gen.forget(&f.planned.op);
                                    checker.forget(&f.planned.op.key());
                                }
                                rec.error(sent, done, &kind);
                            }
                        }
                    }
                    Err(e) => {
                        let kind = if e.to_string() == "timeout" { "timeout" } else { "io" };
                        lose(&mut vec![f], &mut gen, &mut checker, &mut rec, kind);
                        broken = Some(kind);
                    }
                }
            }
            batches[node] = batch;
            if broken.is_some() {
                conns[node] = None;
            }
        }
    }
    Ok(Outcome { totals: rec.finish(), verify: checker.finish() })
}

/// Requests whose replies will never come: errors, and their keys unknown.
fn lose(batch: &mut Vec<InFlight>, gen: &mut Generator, checker: &mut Checker, rec: &mut Recorder, kind: &str) {
    let now = Instant::now();
    for f in batch.drain(..) {
        if f.planned.op.writes() {
            gen.forget(&f.planned.op);
            checker.forget(&f.planned.op.key());
        }
        rec.error(f.start, now, kind);
    }
}

/// Open loop: requests go out when the schedule says, whether or not earlier
/// replies came back; a reader task per connection matches replies to
/// requests and counts latency from the due time. A connection that breaks
/// is not reopened: the rest of its requests count as errors.
async fn resp_open_loop(ctx: Arc<Ctx>, id: usize) -> Result<Outcome> {
    let nodes = ctx.topology.nodes.len();
    let per_client = ctx.args.rate.expect("open loop has a rate") / ctx.args.clients as f64;
    let mut sched = Schedule::new(Instant::now(), per_client, id as f64 / ctx.args.clients as f64);
    let mut writers: Vec<Option<_>> = (0..nodes).map(|_| None).collect();
    let mut readers = Vec::new();
    for node in ctx.topology.nodes_of(id) {
        let conn = Conn::connect(&ctx.topology.nodes[node], &ctx.auth).await?;
        let (tx, rx) = mpsc::channel::<Vec<InFlight>>(4096);
        readers.push(tokio::spawn(open_loop_reader(
            conn.reader,
            rx,
            ctx.recorder(),
            Checker::new(ctx.args.verify),
            ctx.timeout,
        )));
        writers[node] = Some((conn.writer, tx));
    }
    let mut gen = ctx.generator(id);
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); nodes];
    let mut pending: Vec<Vec<InFlight>> = (0..nodes).map(|_| Vec::new()).collect();
    let mut rec = ctx.recorder();
    let mut over = false;
    while !over {
        let now = Instant::now();
        while let Some(due) = sched.pop_due(now) {
            if ctx.claim(1, due) == 0 {
                over = true;
                break;
            }
            let planned = gen.next();
            let node = ctx.topology.node_for(&planned.op, id);
            let replies = resp::encode(&planned.op, &mut out[node]);
            pending[node].push(InFlight { planned, replies, start: due });
        }
        for node in 0..nodes {
            if pending[node].is_empty() {
                continue;
            }
            let batch = std::mem::take(&mut pending[node]);
            let unsent = match &mut writers[node] {
                Some((w, tx)) => match w.write_all(&out[node]).await {
                    Ok(()) => tx.send(batch).await.err().map(|e| e.0),
                    Err(_) => Some(batch),
                },
                None => Some(batch),
            };
            out[node].clear();
            if let Some(lost) = unsent {
                writers[node] = None;
                for f in lost {
                    rec.error(f.start, Instant::now(), "io");
                }
            }
        }
        if !over {
            tokio::time::sleep_until(sched.next_due().into()).await;
        }
    }
    drop(writers);
    let mut outcome = Outcome { totals: rec.finish(), verify: VerifyReport::default() };
    for r in readers {
        outcome.merge(r.await?);
    }
    Ok(outcome)
}

async fn open_loop_reader(
    mut reader: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    mut rx: mpsc::Receiver<Vec<InFlight>>,
    mut rec: Recorder,
    mut checker: Checker,
    timeout: Duration,
) -> Outcome {
    let mut frames = Vec::new();
    let mut broken: Option<&str> = None;
    while let Some(batch) = rx.recv().await {
        for f in batch {
            if let Some(kind) = broken {
                rec.error(f.start, Instant::now(), kind);
                continue;
            }
            match reader.frames(f.replies, timeout, &mut frames).await {
                Ok(()) => {
                    let done = Instant::now();
                    match resp::interpret(&f.planned.op, &frames) {
                        Ok(seen) => {
                            rec.ok(f.start, done);
                            checker.check(&f.planned, seen);
                        }
                        Err(kind) => {
                            if f.planned.op.writes() {
                                checker.uncertain(&f.planned.op.key());
                            }
                            rec.error(f.start, done, &kind)
                        }
                    }
                }
                Err(e) => {
                    let kind = if e.to_string() == "timeout" { "timeout" } else { "io" };
                    rec.error(f.start, Instant::now(), kind);
                    broken = Some(kind);
                    // Dropping the receiver tells the writer to stop sending here.
                    rx.close();
                }
            }
        }
    }
    Outcome { totals: rec.finish(), verify: checker.finish() }
}
