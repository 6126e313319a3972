//! A linearizability checker for histories of one register-like key with
//! GET, SET and INCR: the Wing-Gong-Lowe search with the memoization of
//! Porcupine (Lowe's "just-in-time linearizability"; Porcupine caches the
//! set of linearized operations together with the model state, so equal
//! prefixes are explored once).
//!
//! An operation whose outcome is unknown (timeout, UNCERTAIN, a lost
//! connection) stays in the history with a return time at infinity and an
//! unconstrained result: it may take effect at any point after its call, or
//! never (linearized at the very end it affects nobody). Operations that
//! definitely failed (TRYAGAIN) are left out by the caller.

use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// GET answered this (None: nil).
    Get(Option<i64>),
    Set(i64),
    /// INCR answered this; None when the outcome is unknown.
    Incr(Option<i64>),
}

#[derive(Clone, Debug)]
pub struct Event {
    pub client: usize,
    pub op: Op,
    /// Nanoseconds since a common origin.
    pub call: u64,
    /// None: outcome unknown.
    pub ret: Option<u64>,
}

/// The register's effect: Some(next state) when `op` may apply in `state`.
fn step(state: Option<i64>, op: &Op, unknown: bool) -> Option<Option<i64>> {
    match op {
        Op::Get(v) => (unknown || *v == state).then_some(state),
        Op::Set(v) => Some(Some(*v)),
        Op::Incr(r) => {
            let next = state.unwrap_or(0) + 1;
            (unknown || *r == Some(next)).then_some(Some(next))
        }
    }
}

/// Whether the history of one key (starting from `initial`) is linearizable.
pub fn check(history: &[Event], initial: Option<i64>) -> bool {
    let n = history.len();
    if n == 0 {
        return true;
    }
    // Events: (time, is_return, op index). Calls sort before returns at the
    // same instant, so touching operations count as concurrent.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, e) in history.iter().enumerate() {
        events.push((e.call, false, i));
        events.push((e.ret.unwrap_or(u64::MAX), true, i));
    }
    events.sort();
    // A doubly linked list over the events with a head sentinel at index 0.
    let len = events.len() + 1;
    let mut next: Vec<usize> = (1..=len).collect();
    let mut prev: Vec<usize> = (0..len).map(|i| i.wrapping_sub(1)).collect();
    next[len - 1] = usize::MAX;
    let mut call_node = vec![0usize; n];
    let mut ret_node = vec![0usize; n];
    for (k, (_, is_ret, i)) in events.iter().enumerate() {
        if *is_ret {
            ret_node[*i] = k + 1;
        } else {
            call_node[*i] = k + 1;
        }
    }
    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, node: usize| {
        let (p, nx) = (prev[node], next[node]);
        next[p] = nx;
        if nx != usize::MAX {
            prev[nx] = p;
        }
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, node: usize| {
        let (p, nx) = (prev[node], next[node]);
        next[p] = node;
        if nx != usize::MAX {
            prev[nx] = node;
        }
    };
    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, Option<i64>)> = HashSet::new();
    let mut calls: Vec<(usize, Option<i64>)> = Vec::new();
    let mut state = initial;
    let mut entry = next[0];
    while next[0] != usize::MAX {
        if entry == usize::MAX {
            // Every remaining call was tried: backtrack.
            let Some((i, s)) = calls.pop() else { return false };
            state = s;
            linearized[i / 64] &= !(1 << (i % 64));
            unlift(&mut next, &mut prev, ret_node[i]);
            unlift(&mut next, &mut prev, call_node[i]);
            entry = next[call_node[i]];
            continue;
        }
        let (_, is_ret, i) = events[entry - 1];
        if !is_ret {
            let e = &history[i];
            if let Some(s2) = step(state, &e.op, e.ret.is_none()) {
                let mut lin = linearized.clone();
                lin[i / 64] |= 1 << (i % 64);
                if cache.insert((lin.clone(), s2)) {
                    calls.push((i, state));
                    state = s2;
                    linearized = lin;
                    lift(&mut next, &mut prev, call_node[i]);
                    lift(&mut next, &mut prev, ret_node[i]);
                    entry = next[0];
                    continue;
                }
            }
            entry = next[entry];
        } else {
            // A return whose call is not linearized yet: undo the last choice.
            let Some((j, s)) = calls.pop() else { return false };
            state = s;
            linearized[j / 64] &= !(1 << (j % 64));
            unlift(&mut next, &mut prev, ret_node[j]);
            unlift(&mut next, &mut prev, call_node[j]);
            entry = next[call_node[j]];
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(client: usize, op: Op, call: u64, ret: Option<u64>) -> Event {
        Event { client, op, call, ret }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            ev(0, Op::Set(1), 0, Some(10)),
            ev(0, Op::Get(Some(1)), 11, Some(20)),
            ev(1, Op::Incr(Some(2)), 21, Some(30)),
            ev(1, Op::Get(Some(2)), 31, Some(40)),
        ];
        assert!(check(&h, None));
    }

    #[test]
    fn a_stale_read_is_rejected() {
        // SET 2 completes, then a later GET still sees 1.
        let h = vec![
            ev(0, Op::Set(1), 0, Some(10)),
            ev(0, Op::Set(2), 11, Some(20)),
            ev(1, Op::Get(Some(1)), 21, Some(30)),
        ];
        assert!(!check(&h, None));
    }

    #[test]
    fn concurrent_operations_may_take_either_order() {
        let h = vec![
            ev(0, Op::Set(1), 0, Some(100)),
            ev(1, Op::Set(2), 10, Some(90)),
            ev(2, Op::Get(Some(1)), 101, Some(110)),
        ];
        assert!(check(&h, None));
        let h2 = vec![
            ev(0, Op::Set(1), 0, Some(100)),
            ev(1, Op::Get(Some(1)), 10, Some(20)),
            ev(2, Op::Get(None), 30, Some(40)),
        ];
        // Once a read saw 1 (so SET 1 took effect), a later read cannot see nil.
        assert!(!check(&h2, None));
    }

    #[test]
    fn unknown_writes_may_or_may_not_happen() {
        let took = vec![ev(0, Op::Set(5), 0, None), ev(1, Op::Get(Some(5)), 10, Some(20))];
        assert!(check(&took, None));
        let never = vec![ev(0, Op::Set(5), 0, None), ev(1, Op::Get(None), 10, Some(20))];
        assert!(check(&never, None));
        // But not both ways: once seen, it stays.
        let flip =
            vec![ev(0, Op::Set(5), 0, None), ev(1, Op::Get(Some(5)), 10, Some(20)), ev(1, Op::Get(None), 30, Some(40))];
        assert!(!check(&flip, None));
    }

    #[test]
    fn increments_count_exactly() {
        let h = vec![
            ev(0, Op::Incr(Some(1)), 0, Some(10)),
            ev(1, Op::Incr(None), 5, None),
            ev(0, Op::Incr(Some(3)), 20, Some(30)),
        ];
        assert!(check(&h, None));
        let lost = vec![ev(0, Op::Incr(Some(1)), 0, Some(10)), ev(0, Op::Incr(Some(3)), 20, Some(30))];
        assert!(!check(&lost, None));
    }

    #[test]
    fn a_large_concurrent_history_checks_quickly() {
        // 5 clients, 400 operations, heavily overlapping, all consistent.
        let mut h = Vec::new();
        let mut t = 0;
        let mut value = 0;
        for k in 0..400 {
            let client = k % 5;
            let op = if k % 3 == 0 {
                value += 1;
                Op::Incr(Some(value))
            } else {
                Op::Get(Some(value))
            };
            h.push(ev(client, op, t, Some(t + 50)));
            t += 10;
        }
        assert!(check(&h, None));
    }
}
