//! Latency and throughput accounting: an HDR histogram per recorder for the
//! whole run, and a per-second timeline that recorders flush into once a
//! second (so clients do not contend on every reply).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Latencies in microseconds, from 1 µs to an hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// One second of the run, summed over every recorder.
#[derive(Clone)]
pub struct Second {
    pub ops: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

impl Second {
    fn new() -> Second {
        Second { ops: 0, errors: 0, latency: latency_histogram() }
    }

    fn add(&mut self, other: &Second) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.latency.add(&other.latency).expect("same bounds");
    }
}

/// Seconds since the start of measurement.
pub struct Timeline {
    seconds: Mutex<Vec<Second>>,
}

impl Timeline {
    pub fn new() -> Arc<Timeline> {
        Arc::new(Timeline { seconds: Mutex::new(Vec::new()) })
    }

    fn merge(&self, at: usize, s: &Second) {
        let mut secs = self.seconds.lock();
        while secs.len() <= at {
            secs.push(Second::new());
        }
        secs[at].add(s);
    }

    pub fn seconds(&self) -> Vec<Second> {
        self.seconds.lock().clone()
    }
}

/// What one recorder (or, merged, the whole run) counted.
pub struct Totals {
    pub ops: u64,
    pub errors: BTreeMap<String, u64>,
    pub latency: Histogram<u64>,
}

impl Totals {
    pub fn new() -> Totals {
        Totals { ops: 0, errors: BTreeMap::new(), latency: latency_histogram() }
    }

    pub fn merge(&mut self, other: Totals) {
        self.ops += other.ops;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.latency.add(&other.latency).expect("same bounds");
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl Default for Totals {
    fn default() -> Self {
        Totals::new()
    }
}

/// Counts completions of one task. Only requests sent (or, open loop,
/// scheduled) at or after `measure_from` count; warmup is discarded.
pub struct Recorder {
    measure_from: Instant,
    totals: Totals,
    current: Option<usize>,
    second: Second,
    timeline: Arc<Timeline>,
    progress: Arc<AtomicU64>,
}

impl Recorder {
    pub fn new(measure_from: Instant, timeline: Arc<Timeline>, progress: Arc<AtomicU64>) -> Recorder {
        Recorder { measure_from, totals: Totals::new(), current: None, second: Second::new(), timeline, progress }
    }

    /// Moves to the second `done` falls in, flushing the previous one.
    fn second_of(&mut self, done: Instant) -> &mut Second {
        let at = done.saturating_duration_since(self.measure_from).as_secs() as usize;
        if self.current != Some(at) {
            self.flush();
            self.current = Some(at);
        }
        &mut self.second
    }

    fn flush(&mut self) {
        if let Some(at) = self.current {
            if self.second.ops + self.second.errors > 0 {
                self.timeline.merge(at, &self.second);
                self.second.ops = 0;
                self.second.errors = 0;
                self.second.latency.reset();
            }
        }
    }

    /// A success: `start` is when the request was sent (closed loop) or was
    /// due to be sent (open loop), `done` when its reply arrived.
    pub fn ok(&mut self, start: Instant, done: Instant) {
        if start < self.measure_from {
            return;
        }
        let us = micros(done.saturating_duration_since(start));
        self.totals.ops += 1;
        self.totals.latency.saturating_record(us);
        let s = self.second_of(done);
        s.ops += 1;
        s.latency.saturating_record(us);
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&mut self, start: Instant, done: Instant, kind: &str) {
        if start < self.measure_from {
            return;
        }
        *self.totals.errors.entry(kind.to_string()).or_default() += 1;
        self.second_of(done).errors += 1;
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finish(mut self) -> Totals {
        self.flush();
        self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_counts_from_the_given_start() {
        let t0 = Instant::now();
        let timeline = Timeline::new();
        let mut r = Recorder::new(t0, timeline.clone(), Arc::new(AtomicU64::new(0)));
        // Open loop: a request due at t0 whose reply came 100 ms later waited
        // 100 ms, even if it was sent late because the server stalled.
        for i in 0..100 {
            r.ok(t0 + Duration::from_millis(i), t0 + Duration::from_millis(100 + i));
        }
        let t = r.finish();
        assert_eq!(t.ops, 100);
        let p50 = t.latency.value_at_quantile(0.5);
        assert!((99_900..=100_100).contains(&p50), "p50 {p50} us");
    }

    #[test]
    fn warmup_is_discarded_and_seconds_are_bucketed() {
        let t0 = Instant::now();
        let timeline = Timeline::new();
        let progress = Arc::new(AtomicU64::new(0));
        let mut a = Recorder::new(t0 + Duration::from_secs(1), timeline.clone(), progress.clone());
        let mut b = Recorder::new(t0 + Duration::from_secs(1), timeline.clone(), progress.clone());
        a.ok(t0, t0 + Duration::from_millis(1)); // warmup
        a.ok(t0 + Duration::from_millis(1500), t0 + Duration::from_millis(1501)); // second 0
        a.ok(t0 + Duration::from_millis(2500), t0 + Duration::from_millis(2502)); // second 1
        b.ok(t0 + Duration::from_millis(2600), t0 + Duration::from_millis(2601)); // second 1
        b.error(t0 + Duration::from_millis(3100), t0 + Duration::from_millis(3200), "ERR"); // second 2
        let mut total = a.finish();
        total.merge(b.finish());
        assert_eq!(total.ops, 3);
        assert_eq!(total.error_count(), 1);
        assert_eq!(progress.load(Ordering::Relaxed), 4);
        let secs = timeline.seconds();
        let per: Vec<(u64, u64)> = secs.iter().map(|s| (s.ops, s.errors)).collect();
        assert_eq!(per, vec![(1, 0), (2, 0), (0, 1)]);
        assert_eq!(secs[1].latency.max(), secs[1].latency.highest_equivalent(2000));
    }
}
