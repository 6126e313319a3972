//! The etcd side (--protocol etcd): the same workloads (set, get, mixed) as
//! put and range requests through etcd-client, one gRPC connection per
//! client, --pipeline requests in flight per client (closed loop) or sent on
//! schedule (open loop).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use etcd_client::{Client, ConnectOptions, KvClient};
use futures::stream::{FuturesUnordered, StreamExt};

use crate::runner::{Ctx, Outcome};
use crate::schedule::Schedule;
use crate::verify::{Checker, Observed};
use crate::workload::{Op, Planned};

type Reply = Result<Option<Vec<u8>>, String>;
type Pending = Pin<Box<dyn Future<Output = (Planned, Instant, Reply)> + Send>>;

fn endpoint(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// Sends one op; the reply is the value read (gets) or nothing (puts).
fn send(mut kv: KvClient, planned: Planned, start: Instant) -> Pending {
    Box::pin(async move {
        let reply = match &planned.op {
            Op::Set { key, val } => kv.put(key.name(None), val.to_bytes(), None).await.map(|_| None),
            Op::Get { key } => {
                kv.get(key.name(None), None).await.map(|r| r.kvs().first().map(|kv| kv.value().to_vec()))
            }
            other => unreachable!("validated: {other:?} has no etcd form"),
        };
        // gRPC status codes name the error kind (Unavailable, DeadlineExceeded, ...).
        let reply = reply.map_err(|e| match e {
            etcd_client::Error::GRpcStatus(s) => format!("{:?}", s.code()),
            other => other.to_string().split(':').next().unwrap_or("error").to_string(),
        });
        (planned, start, reply)
    })
}

pub async fn client(ctx: Arc<Ctx>, id: usize) -> Result<Outcome> {
    let endpoints: Vec<String> = ctx.args.addrs.iter().map(|a| endpoint(a)).collect();
    let mut opts = ConnectOptions::new().with_timeout(ctx.timeout).with_connect_timeout(ctx.timeout);
    if let Some(auth) = &ctx.args.auth {
        // etcd authenticates users: --auth user:password (user root if none).
        let (user, pw) = auth.split_once(':').unwrap_or(("root", auth));
        opts = opts.with_user(user, pw);
    }
    let client = Client::connect(&endpoints, Some(opts))
        .await
        .with_context(|| format!("connecting to etcd at {endpoints:?}"))?;
    let kv = client.kv_client();
    let mut gen = ctx.generator(id);
    let mut checker = Checker::new(ctx.args.verify);
    let mut rec = ctx.recorder();
    let mut sched = ctx
        .args
        .rate
        .map(|r| Schedule::new(Instant::now(), r / ctx.args.clients as f64, id as f64 / ctx.args.clients as f64));
    let mut inflight: FuturesUnordered<Pending> = FuturesUnordered::new();
    let mut over = false;
    loop {
        let now = Instant::now();
        match &mut sched {
            Some(s) => {
                while !over {
                    let Some(due) = s.pop_due(now) else { break };
                    if ctx.claim(1, due) == 0 {
                        over = true;
                    } else {
                        inflight.push(send(kv.clone(), gen.next(), due));
                    }
                }
            }
            None => {
                while !over && inflight.len() < ctx.args.pipeline {
                    if ctx.claim(1, now) == 0 {
                        over = true;
                    } else {
                        inflight.push(send(kv.clone(), gen.next(), Instant::now()));
                    }
                }
            }
        }
        if over && inflight.is_empty() {
            break;
        }
        let next_due = sched.as_ref().map(|s| s.next_due());
        tokio::select! {
            Some((planned, start, reply)) = inflight.next(), if !inflight.is_empty() => {
                let done = Instant::now();
                match reply {
                    Ok(v) => {
                        rec.ok(start, done);
                        let seen = match planned.op { Op::Get { .. } => Observed::Value(v.as_deref()), _ => Observed::Done };
                        checker.check(&planned, seen);
                    }
                    Err(kind) => {
                        if planned.op.writes() {
                            checker.uncertain(&planned.op.key());
                        }
                        rec.error(start, done, &kind);
                    }
                }
            }
            _ = tokio::time::sleep_until(next_due.unwrap_or(now).into()), if next_due.is_some() && !over => {}
        }
    }
    Ok(Outcome { totals: rec.finish(), verify: checker.finish() })
}
