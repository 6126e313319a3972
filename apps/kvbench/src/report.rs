//! Presenting a run: the live progress bar, the summary (table, JSON,
//! markdown row).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{Args, Protocol};
use crate::keys::DistKind;
use crate::runner::{Ctx, RunResult};
use crate::value::ValueSize;
use crate::verify::VerifyReport;
use crate::workload::WorkloadKind;

/// Redraws the bar four times a second with the ops/s of the last tick.
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn start(ctx: &Arc<Ctx>) -> Progress {
        let (bar, by_time) = match (ctx.args.request_budget(), ctx.stop_at) {
            (Some(n), _) => (ProgressBar::new(n), false),
            (None, Some(stop)) => {
                (ProgressBar::new(stop.saturating_duration_since(ctx.measure_from).as_secs().max(1)), true)
            }
            (None, None) => (ProgressBar::new_spinner(), false),
        };
        let template = if by_time { "{bar:40} {pos}/{len} s  {msg}" } else { "{bar:40} {pos}/{len}  {msg}" };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        let (ctx, b) = (ctx.clone(), bar.clone());
        let task = tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let (now, done) = (Instant::now(), ctx.progress.load(Ordering::Relaxed));
                let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                last = (now, done);
                if now < ctx.measure_from {
                    b.set_message(format!("warmup, {rate:.0} ops/s"));
                    continue;
                }
                b.set_position(if by_time { now.duration_since(ctx.measure_from).as_secs() } else { done });
                b.set_message(format!("{rate:.0} ops/s"));
            }
        });
        Progress { bar, task }
    }

    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct SecondSummary {
    pub second: usize,
    pub ops: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Everything a run measured; what --json writes.
#[derive(Serialize, Clone, Debug)]
pub struct Summary {
    pub label: String,
    pub protocol: Protocol,
    pub workload: WorkloadKind,
    pub distribution: DistKind,
    pub nodes: Vec<String>,
    pub clients: usize,
    pub pipeline: usize,
    /// Open loop target, requests per second.
    pub rate: Option<f64>,
    pub value_size: ValueSize,
    pub keyspace: u64,
    pub duration_s: f64,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Milliseconds; from the send (closed loop) or the due time (open loop).
    pub latency_ms: Latency,
    /// (quantile, milliseconds) points of the latency distribution.
    pub percentiles: Vec<(f64, f64)>,
    pub timeline: Vec<SecondSummary>,
    pub verify: VerifyReport,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn latency(h: &Histogram<u64>) -> Latency {
    let q = |x| ms(h.value_at_quantile(x));
    Latency { mean: h.mean() / 1000.0, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: ms(h.max()) }
}

impl Summary {
    pub fn new(args: &Args, r: &RunResult) -> Summary {
        let t = &r.outcome.totals;
        let secs = r.elapsed.as_secs_f64().max(1e-9);
        let label = args
            .label
            .clone()
            .unwrap_or_else(|| format!("{:?} {}", args.workload, args.addrs.join(",")).to_lowercase());
        let mut percentiles: Vec<(f64, f64)> = Vec::new();
        if !t.latency.is_empty() {
            for v in t.latency.iter_quantiles(4) {
                let point = (v.quantile_iterated_to(), ms(v.value_iterated_to()));
                if percentiles.last().is_none_or(|p| p.0 < point.0) {
                    percentiles.push(point);
                }
            }
        }
        Summary {
            label,
            protocol: args.protocol,
            workload: args.workload,
            distribution: args.distribution,
            nodes: r.nodes.clone(),
            clients: args.clients,
            pipeline: args.pipeline,
            rate: args.rate,
            value_size: args.value_size,
            keyspace: args.keyspace,
            duration_s: secs,
            ops: t.ops,
            ops_per_sec: t.ops as f64 / secs,
            errors: t.error_count(),
            errors_by_kind: t.errors.clone(),
            latency_ms: latency(&t.latency),
            percentiles,
            timeline: r
                .seconds
                .iter()
                .enumerate()
                .map(|(i, s)| SecondSummary {
                    second: i,
                    ops: s.ops,
                    errors: s.errors,
                    p50_ms: ms(s.latency.value_at_quantile(0.5)),
                    p99_ms: ms(s.latency.value_at_quantile(0.99)),
                    max_ms: ms(s.latency.max()),
                })
                .collect(),
            verify: r.outcome.verify.clone(),
        }
    }

    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let l = &self.latency_ms;
        let mode = match self.rate {
            Some(r) => format!("open loop at {r:.0}/s"),
            None => format!("closed loop, pipeline {}", self.pipeline),
        };
        writeln!(
            out,
            "{}: {:?} x {} clients, {mode}, {} nodes",
            self.label,
            self.workload,
            self.clients,
            self.nodes.len()
        )?;
        writeln!(
            out,
            "{:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "ops", "ops/s", "p50 ms", "p90", "p99", "p99.9", "max", "mean", "errors"
        )?;
        writeln!(
            out,
            "{:>10} {:>12.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>8}",
            self.ops, self.ops_per_sec, l.p50, l.p90, l.p99, l.p999, l.max, l.mean, self.errors
        )?;
        for (kind, n) in &self.errors_by_kind {
            writeln!(out, "  error {kind}: {n}")?;
        }
        if self.verify.enabled {
            writeln!(out, "verify: {} replies checked, {} mismatches", self.verify.checked, self.verify.mismatches)?;
            for e in &self.verify.examples {
                writeln!(out, "  {e}")?;
            }
        }
        Ok(())
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(f, self)?;
        Ok(())
    }

    /// Appends one row; writes the header first if the file is new or empty.
    pub fn append_markdown(&self, path: &Path) -> Result<()> {
        let new = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        if new {
            writeln!(f, "| run | workload | clients | pipeline | rate | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | verify |")?;
            writeln!(f, "|---|---|---|---|---|---|---|---|---|---|---|---|")?;
        }
        let l = &self.latency_ms;
        let verify = if self.verify.enabled {
            format!("{}/{} bad", self.verify.mismatches, self.verify.checked)
        } else {
            "-".into()
        };
        let rate = self.rate.map_or("-".into(), |r| format!("{r:.0}"));
        writeln!(
            f,
            "| {} | {:?} | {} | {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} |",
            self.label,
            self.workload,
            self.clients,
            self.pipeline,
            rate,
            self.ops_per_sec,
            l.p50,
            l.p99,
            l.p999,
            l.max,
            self.errors,
            verify
        )?;
        Ok(())
    }
}
