//! Checks replies against what the run wrote (--verify). Replies of one
//! connection arrive in send order, so a read must return the last write
//! its client sent before it, and the n-th INCR of a key must answer the
//! first one's reply plus n.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::value::describe;
use crate::workload::{Expect, Key, Planned};

/// The part of a reply verification looks at, protocol-independent.
pub enum Observed<'a> {
    /// A reply with nothing to check (OK, a count, a list of members).
    Done,
    Value(Option<&'a [u8]>),
    Values(Vec<Option<&'a [u8]>>),
    Int(i64),
}

/// How many mismatches are kept as examples.
const EXAMPLES: usize = 10;

#[derive(Default, Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub enabled: bool,
    /// Replies compared with an expectation.
    pub checked: u64,
    pub mismatches: u64,
    pub examples: Vec<String>,
}

impl VerifyReport {
    pub fn merge(&mut self, other: VerifyReport) {
        self.enabled |= other.enabled;
        self.checked += other.checked;
        self.mismatches += other.mismatches;
        for e in other.examples {
            if self.examples.len() < EXAMPLES {
                self.examples.push(e);
            }
        }
    }
}

/// One connection's checker (counter bases are per key, and a key always
/// travels on one connection).
pub struct Checker {
    report: VerifyReport,
    first_increment: HashMap<Key, i64>,
    /// Keys whose state this run no longer knows (open loop: a write to
    /// them failed after later reads were already planned).
    unknown: HashSet<Key>,
}

impl Checker {
    pub fn new(enabled: bool) -> Checker {
        Checker {
            report: VerifyReport { enabled, ..Default::default() },
            first_increment: HashMap::new(),
            unknown: HashSet::new(),
        }
    }

    pub fn check(&mut self, planned: &Planned, got: Observed<'_>) {
        let key = planned.op.key();
        if self.unknown.contains(&key) {
            return;
        }
        let failure = match (&planned.expect, got) {
            (Expect::Unchecked, _) => return,
            (Expect::Value(want), Observed::Value(v)) => (!v.is_some_and(|b| want.matches(b)))
                .then(|| format!("{key:?}: read {} after writing seq {}", describe(v), want.seq)),
            (Expect::Values(want, n), Observed::Values(vs)) => {
                if vs.len() != *n as usize {
                    Some(format!("{key:?}: {} values for {n} keys", vs.len()))
                } else {
                    vs.iter().enumerate().find_map(|(i, v)| {
                        let want = crate::value::ValId { sub: i as u16, ..*want };
                        (!v.is_some_and(|b| want.matches(b))).then(|| {
                            format!("{key:?} sub-key {i}: read {} after writing seq {}", describe(*v), want.seq)
                        })
                    })
                }
            }
            (Expect::Counter { nth, .. }, Observed::Int(got)) => {
                let base = *self.first_increment.entry(key).or_insert(got - *nth as i64);
                let want = base + *nth as i64;
                (got != want).then(|| format!("{key:?}: increment {nth} answered {got}, expected {want}"))
            }
            (want, _) => Some(format!("{key:?}: reply of the wrong shape for {want:?}")),
        };
        self.report.checked += 1;
        if let Some(f) = failure {
            self.report.mismatches += 1;
            if self.report.examples.len() < EXAMPLES {
                self.report.examples.push(f);
            }
        }
    }

    /// A write's reply was lost: forget the counter base of its key.
    pub fn forget(&mut self, key: &Key) {
        self.first_increment.remove(key);
    }

    /// A write's outcome is unknown and reads of its key were planned
    /// assuming it: stop checking the key.
    pub fn uncertain(&mut self, key: &Key) {
        self.unknown.insert(*key);
    }

    pub fn finish(self) -> VerifyReport {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ValId;
    use crate::workload::{Family, Op};

    fn key(i: u64) -> Key {
        Key { family: Family::String, index: i }
    }

    #[test]
    fn detects_lost_and_wrong_values() {
        let mut c = Checker::new(true);
        let v = ValId { client: 0, seq: 5, sub: 0, len: 16 };
        let get = Planned { op: Op::Get { key: key(1) }, expect: Expect::Value(v) };
        let bytes = v.to_bytes();
        c.check(&get, Observed::Value(Some(&bytes)));
        c.check(&get, Observed::Value(None));
        let older = ValId { seq: 4, ..v }.to_bytes();
        c.check(&get, Observed::Value(Some(&older)));
        let r = c.finish();
        assert_eq!((r.checked, r.mismatches), (3, 2));
        assert!(r.examples[0].contains("read nil after writing seq 5"), "{:?}", r.examples);
    }

    #[test]
    fn counters_must_keep_counting() {
        let mut c = Checker::new(true);
        let incr = |nth| Planned { op: Op::Incr { key: key(2) }, expect: Expect::Counter { key: key(2), nth } };
        c.check(&incr(0), Observed::Int(41));
        c.check(&incr(1), Observed::Int(42));
        // The store lost the counter: it starts again from 1.
        c.check(&incr(2), Observed::Int(1));
        let r = c.finish();
        assert_eq!((r.checked, r.mismatches), (3, 1));
    }

    #[test]
    fn unchecked_replies_are_not_counted() {
        let mut c = Checker::new(true);
        c.check(&Planned { op: Op::Get { key: key(3) }, expect: Expect::Unchecked }, Observed::Value(None));
        assert_eq!(c.finish().checked, 0);
    }
}
