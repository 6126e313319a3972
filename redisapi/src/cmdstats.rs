//! Per-command statistics of a node, as Redis keeps them for INFO's
//! commandstats, errorstats and latencystats sections (monitoring
//! exporters read these): calls, time, calls refused before running and
//! calls that answered an error, per command or container subcommand
//! (`config|get`); error replies by their code; latency percentiles.
//! CONFIG RESETSTAT clears them.

use hdrhistogram::Histogram;
use node::Reply;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Redis stops counting new error codes past this many.
const MAX_ERROR_CODES: usize = 128;

#[derive(Clone)]
struct Stat {
    calls: u64,
    usec: u64,
    rejected: u64,
    failed: u64,
    /// Nanoseconds, as Redis records them.
    latency: Histogram<u64>,
}

impl Stat {
    fn new() -> Stat {
        Stat {
            calls: 0,
            usec: 0,
            rejected: 0,
            failed: 0,
            latency: Histogram::new_with_bounds(1_000, 1_000_000_000_000, 2).expect("valid bounds"),
        }
    }
}

#[derive(Default)]
pub struct CommandStats {
    commands: Mutex<HashMap<String, Stat>>,
    errors: Mutex<BTreeMap<String, u64>>,
    /// INFO stats' total_error_replies.
    pub total_errors: AtomicU64,
}

impl CommandStats {
    /// A command that ran and answered `reply` after `took`.
    pub fn ran(&self, name: &str, took: Duration, reply: &Reply) {
        let failed = matches!(reply, Reply::Error(_));
        {
            let mut commands = self.commands.lock();
            if !commands.contains_key(name) {
                commands.insert(name.to_string(), Stat::new());
            }
            let s = commands.get_mut(name).expect("inserted");
            s.calls += 1;
            s.usec += took.as_micros() as u64;
            s.failed += failed as u64;
            let _ = s.latency.record((took.as_nanos() as u64).clamp(1_000, 1_000_000_000_000));
        }
        self.error(reply);
    }

    /// A command refused before it ran (its name if it is one), answering
    /// `reply`.
    pub fn rejected(&self, name: Option<&str>, reply: &Reply) {
        if let Some(name) = name {
            self.commands.lock().entry(name.to_string()).or_insert_with(Stat::new).rejected += 1;
        }
        self.error(reply);
    }

    fn error(&self, reply: &Reply) {
        let Reply::Error(e) = reply else { return };
        self.total_errors.fetch_add(1, Ordering::Relaxed);
        let code = e.split(' ').next().unwrap_or_default();
        let mut errors = self.errors.lock();
        if let Some(n) = errors.get_mut(code) {
            *n += 1;
        } else if errors.len() < MAX_ERROR_CODES {
            errors.insert(code.to_string(), 1);
        }
    }

    pub fn reset(&self) {
        self.commands.lock().clear();
        self.errors.lock().clear();
        self.total_errors.store(0, Ordering::Relaxed);
    }

    /// `cmdstat_<name>:calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=..`
    pub fn commandstats(&self, out: &mut String) {
        for (name, s) in self.sorted().iter() {
            let per_call = if s.calls == 0 { 0.0 } else { s.usec as f64 / s.calls as f64 };
            let _ = write!(
                out,
                "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                s.calls, s.usec, s.rejected, s.failed
            );
        }
    }

    /// `errorstat_<CODE>:count=..`
    pub fn errorstats(&self, out: &mut String) {
        for (code, n) in self.errors.lock().iter() {
            let _ = write!(out, "errorstat_{code}:count={n}\r\n");
        }
    }

    /// `latency_percentiles_usec_<name>:p50=..,p99=..,p99.9=..` for the
    /// commands that ran.
    pub fn latencystats(&self, out: &mut String) {
        for (name, s) in self.sorted().iter().filter(|(_, s)| s.calls > 0) {
            let at = |q: f64| s.latency.value_at_quantile(q) as f64 / 1000.0;
            let _ = write!(
                out,
                "latency_percentiles_usec_{name}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
                at(0.50),
                at(0.99),
                at(0.999)
            );
        }
    }

    fn sorted(&self) -> Vec<(String, Stat)> {
        let mut v: Vec<(String, Stat)> = self.commands.lock().iter().map(|(n, s)| (n.clone(), s.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
