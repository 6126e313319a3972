//! Open-loop send times. Request i of a client is due at
//! `start + (i + phase) / rate`, whatever happened to earlier requests: if
//! the server stalls, requests pile up and their latency, counted from the
//! due time, shows the stall instead of hiding it (no coordinated omission).

use std::time::{Duration, Instant};

pub struct Schedule {
    start: Instant,
    /// Seconds between two requests of this client.
    interval: f64,
    /// Offset of this client within one interval, in intervals (0..1), so
    /// clients do not all fire at the same instant.
    phase: f64,
    next: u64,
}

impl Schedule {
    pub fn new(start: Instant, per_second: f64, phase: f64) -> Schedule {
        assert!(per_second > 0.0);
        Schedule { start, interval: 1.0 / per_second, phase, next: 0 }
    }

    /// When request `i` is due.
    pub fn due_at(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64((i as f64 + self.phase) * self.interval)
    }

    /// When the next request is due.
    pub fn next_due(&self) -> Instant {
        self.due_at(self.next)
    }

    /// The due time of the next request if it is due by `now`, and moves on.
    pub fn pop_due(&mut self, now: Instant) -> Option<Instant> {
        let t = self.next_due();
        if t <= now {
            self.next += 1;
            Some(t)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_exactly_the_due_requests() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 1000.0, 0.5);
        assert!(s.pop_due(t0).is_none());
        // By 10 ms: requests due at 0.5, 1.5, ..., 9.5 ms.
        let due: Vec<Instant> = std::iter::from_fn(|| s.pop_due(t0 + Duration::from_millis(10))).collect();
        assert_eq!(due.len(), 10);
        assert_eq!(due[0], t0 + Duration::from_micros(500));
        assert_eq!(due[9], t0 + Duration::from_micros(9500));
        assert_eq!(s.next_due(), t0 + Duration::from_micros(10_500));
    }

    #[test]
    fn a_late_sender_keeps_the_original_due_times() {
        // After a 1 s stall the backlog is released with the times it was
        // due, not the time it was finally sent.
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 100.0, 0.0);
        let backlog: Vec<Instant> = std::iter::from_fn(|| s.pop_due(t0 + Duration::from_secs(1))).collect();
        assert_eq!(backlog.len(), 101);
        assert_eq!(backlog[50], t0 + Duration::from_millis(500));
    }
}
