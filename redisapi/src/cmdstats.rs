//! Per-command statistics of a node, as Redis keeps them for INFO's
//! commandstats, errorstats and latencystats sections (monitoring
//! exporters read these): calls, time, calls refused before running and
//! calls that answered an error, per command or container subcommand
//! (`config|get`); error replies by their code; latency percentiles, and
//! LATENCY HISTOGRAM's distributions. CONFIG RESETSTAT clears them.

use hdrhistogram::Histogram;
use node::Reply;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Redis stops counting new error codes past this many.
const MAX_ERROR_CODES: usize = 128;
/// Latencies above a second count as a second (Redis' histogram bound).
const LATENCY_MAX_NS: u64 = 1_000_000_000;

#[derive(Clone)]
struct Stat {
    calls: u64,
    usec: u64,
    rejected: u64,
    failed: u64,
    /// Nanoseconds, as Redis records them (1 ns to 1 s, two significant
    /// digits: Redis' own histogram, so that LATENCY HISTOGRAM's buckets are
    /// Redis').
    latency: Histogram<u64>,
}

impl Stat {
    fn new() -> Stat {
        Stat {
            calls: 0,
            usec: 0,
            rejected: 0,
            failed: 0,
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_NS, 2).expect("valid bounds"),
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
            let _ = s.latency.record((took.as_nanos() as u64).clamp(1, LATENCY_MAX_NS));
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

    /// LATENCY HISTOGRAM: for each command (or container subcommand) named
    /// in `wanted`, or all without names, that ran: its calls and
    /// cumulative counts by latency bucket. A container's name stands for
    /// its subcommands; unknown names are left out, as in Redis.
    pub fn histogram(&self, wanted: Option<&[String]>) -> Reply {
        let all = self.sorted();
        let entry = |(name, s): &(String, Stat)| {
            (
                Reply::bulk(name.clone()),
                Reply::Map(vec![
                    (Reply::bulk("calls"), Reply::Int(s.latency.len() as i64)),
                    (Reply::bulk("histogram_usec"), Reply::Map(cumulative_buckets(&s.latency))),
                ]),
            )
        };
        let ran = |s: &Stat| !s.latency.is_empty();
        let shown: Vec<(Reply, Reply)> = match wanted {
            None => all.iter().filter(|(_, s)| ran(s)).map(entry).collect(),
            Some(names) => names
                .iter()
                .flat_map(|n| {
                    let prefix = format!("{n}|");
                    all.iter().filter(move |(name, s)| ran(s) && (*name == *n || name.starts_with(&prefix)))
                })
                .map(entry)
                .collect(),
        };
        Reply::Map(shown)
    }

    fn sorted(&self) -> Vec<(String, Stat)> {
        let mut v: Vec<(String, Stat)> = self.commands.lock().iter().map(|(n, s)| (n.clone(), s.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Redis' fillCommandCDF: buckets from 1024 ns, each twice the last, named
/// by the highest latency (in us) the histogram counts in them, with the
/// calls up to there; a bucket that adds none is left out.
fn cumulative_buckets(h: &Histogram<u64>) -> Vec<(Reply, Reply)> {
    let mut out = Vec::new();
    let (total, mut previous) = (h.len(), 0);
    let mut level: u64 = 1024;
    while previous < total && level <= 2 * LATENCY_MAX_NS {
        let cumulative = h.count_between(0, level);
        if cumulative > previous {
            out.push((Reply::Int((h.highest_equivalent(level) / 1000) as i64), Reply::Int(cumulative as i64)));
        }
        previous = cumulative;
        level *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_redis_buckets() {
        let s = CommandStats::default();
        for us in [0.5, 0.9, 1.5, 40.0, 40.5, 2000.0, 5_000_000.0] {
            s.ran("set", Duration::from_nanos((us * 1000.0) as u64), &Reply::Ok);
        }
        let pairs = match s.histogram(None) {
            Reply::Map(m) => match &m[0].1 {
                Reply::Map(f) => match &f[1].1 {
                    Reply::Map(b) => b.clone(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let ints: Vec<(i64, i64)> = pairs
            .iter()
            .map(|(k, v)| match (k, v) {
                (Reply::Int(k), Reply::Int(v)) => (*k, *v),
                other => panic!("{other:?}"),
            })
            .collect();
        // Redis' labels: 1024 ns .. 1031 ns is "1", 32768 .. 33023 "33"
        // (its documentation's example), 65536 .. 66047 "66", 2^21 ns ..
        // "2113"; above a second counts as a second, in the 2^30 ns bucket.
        assert_eq!(ints, vec![(1, 2), (2, 3), (66, 5), (2113, 6), (1082130, 7)]);
    }
}
