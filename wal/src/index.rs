//! The in-memory index: for every group, where each live entry, its hard state
//! and its log mark are stored, plus a bounded cache of recently written entry
//! data. Reads are answered from here, never by scanning segments.

use crate::record::{DataSpan, Op};
use crate::{HardState, LogEntry};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};

/// Where an entry's data is stored.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Loc {
    pub seg: u64,
    pub offset: u64,
    pub len: u32,
}

pub(crate) struct Slot {
    pub term: u64,
    pub loc: Loc,
    pub data: Option<Bytes>,
}

/// The live state of one group.
#[derive(Default)]
pub(crate) struct GroupState {
    /// The log continues after this index (compaction or snapshot point).
    pub mark_index: u64,
    pub mark_term: u64,
    /// The segment of the record that set the mark (None: never written).
    pub mark_seg: Option<u64>,
    /// Index of `entries[0]` (meaningless while `entries` is empty).
    pub first: u64,
    pub entries: VecDeque<Slot>,
    pub hard_state: Option<(HardState, u64)>,
}

impl GroupState {
    pub fn first_index(&self) -> u64 {
        if self.entries.is_empty() {
            self.mark_index + 1
        } else {
            self.first
        }
    }
    pub fn last_index(&self) -> u64 {
        if self.entries.is_empty() {
            self.mark_index
        } else {
            self.first + self.entries.len() as u64 - 1
        }
    }
    pub fn slot(&self, index: u64) -> Option<&Slot> {
        if self.entries.is_empty() || index < self.first {
            return None;
        }
        self.entries.get((index - self.first) as usize)
    }
    /// The oldest segment holding a record this group still needs.
    pub fn min_seg(&self) -> Option<u64> {
        let mut m = self.mark_seg;
        let mut take = |s: u64| m = Some(m.map_or(s, |x: u64| x.min(s)));
        if let Some((_, s)) = self.hard_state {
            take(s);
        }
        for slot in &self.entries {
            take(slot.loc.seg);
        }
        m
    }
    /// Bytes of entry data this group keeps alive.
    pub fn live_bytes(&self) -> u64 {
        self.entries.iter().map(|s| s.loc.len as u64 + 20).sum::<u64>() + 64
    }
}

/// An index error: an op that does not fit the group's log.
#[derive(Debug)]
pub(crate) struct Misfit(pub String);

/// All groups plus the cache accounting.
pub(crate) struct Index {
    pub groups: BTreeMap<u64, GroupState>,
    cache_budget: usize,
    cache_bytes: usize,
    /// Append order of cached entries, for eviction.
    cache_fifo: VecDeque<(u64, u64)>,
}

impl Index {
    pub fn new(cache_budget: usize) -> Index {
        Index { groups: BTreeMap::new(), cache_budget, cache_bytes: 0, cache_fifo: VecDeque::new() }
    }

    /// Checks that `op` can be applied, without changing anything.
    pub fn check(&self, op: &Op) -> Result<(), Misfit> {
        if let Op::Entries { group, entries } = op {
            let Some(first) = entries.first() else {
                return Err(Misfit(format!("group {group}: empty entries record")));
            };
            for w in entries.windows(2) {
                if w[1].index != w[0].index + 1 {
                    return Err(Misfit(format!("group {group}: entries not contiguous")));
                }
            }
            if let Some(g) = self.groups.get(group) {
                if !g.entries.is_empty() && first.index > g.last_index() + 1 {
                    return Err(Misfit(format!(
                        "group {group}: append at {} leaves a gap after {}",
                        first.index,
                        g.last_index()
                    )));
                }
                if first.index <= g.mark_index && g.mark_seg.is_some() {
                    return Err(Misfit(format!(
                        "group {group}: append at {} is at or below the compaction mark {}",
                        first.index, g.mark_index
                    )));
                }
            }
        }
        Ok(())
    }

    /// Applies one op whose entries' data spans (absolute, in segment `seg`)
    /// are `spans`. `cache` says whether to keep entry data in memory (until
    /// the next `evict_to_budget`).
    pub fn apply(&mut self, op: Op, seg: u64, spans: &[DataSpan], cache: bool) -> Result<(), Misfit> {
        self.check(&op)?;
        match op {
            Op::Entries { group, entries } => {
                let g = self.groups.entry(group).or_default();
                let first_index = entries[0].index;
                if g.entries.is_empty() {
                    g.first = first_index;
                    if g.mark_seg.is_none() {
                        // Implicit start (a group that begins at a later index,
                        // with no mark record): the log starts here.
                        g.mark_index = first_index - 1;
                        g.mark_term = 0;
                    }
                } else {
                    // A new leader overwrites the conflicting suffix.
                    let keep = first_index.saturating_sub(g.first) as usize;
                    for s in g.entries.drain(keep.min(g.entries.len())..) {
                        drop_cached(&s, &mut self.cache_bytes);
                    }
                    if g.entries.is_empty() {
                        g.first = first_index;
                    }
                }
                push_entries(group, g, entries, seg, spans, cache, &mut self.cache_fifo, &mut self.cache_bytes);
            }
            Op::HardState { group, state } => {
                self.groups.entry(group).or_default().hard_state = Some((state, seg));
            }
            Op::Compact { group, index, term } => {
                let g = self.groups.entry(group).or_default();
                if index >= g.mark_index {
                    while !g.entries.is_empty() && g.first <= index {
                        let s = g.entries.pop_front().unwrap();
                        drop_cached(&s, &mut self.cache_bytes);
                        g.first += 1;
                    }
                    g.mark_index = index;
                    g.mark_term = term;
                    g.mark_seg = Some(seg);
                    if g.entries.is_empty() {
                        g.first = index + 1;
                    }
                }
            }
            Op::Reset { group, index, term } => {
                let g = self.groups.entry(group).or_default();
                for s in g.entries.drain(..) {
                    drop_cached(&s, &mut self.cache_bytes);
                }
                g.first = index + 1;
                g.mark_index = index;
                g.mark_term = term;
                g.mark_seg = Some(seg);
            }
            Op::RemoveGroup { group } => {
                if let Some(g) = self.groups.remove(&group) {
                    for s in &g.entries {
                        drop_cached(s, &mut self.cache_bytes);
                    }
                }
            }
            Op::Moved(m) => {
                let old = self.groups.remove(&m.group);
                if let Some(old) = &old {
                    for s in &old.entries {
                        drop_cached(s, &mut self.cache_bytes);
                    }
                }
                let mut g = GroupState {
                    mark_index: m.mark_index,
                    mark_term: m.mark_term,
                    mark_seg: Some(seg),
                    first: m.entries.first().map_or(m.mark_index + 1, |e| e.index),
                    entries: VecDeque::new(),
                    hard_state: m.hard_state.map(|hs| (hs, seg)),
                };
                push_entries(
                    m.group,
                    &mut g,
                    m.entries,
                    seg,
                    spans,
                    cache,
                    &mut self.cache_fifo,
                    &mut self.cache_bytes,
                );
                self.groups.insert(m.group, g);
            }
        }
        Ok(())
    }

    /// Drops cached data, oldest first, until the cache fits its budget. Called
    /// once a round is written, so that a round's entries are never looked up
    /// on disk before they are there.
    pub fn evict_to_budget(&mut self) {
        while self.cache_bytes > self.cache_budget {
            let Some((group, index)) = self.cache_fifo.pop_front() else {
                break;
            };
            if let Some(g) = self.groups.get_mut(&group) {
                if !g.entries.is_empty() && index >= g.first {
                    if let Some(s) = g.entries.get_mut((index - g.first) as usize) {
                        if let Some(d) = s.data.take() {
                            self.cache_bytes -= d.len();
                        }
                    }
                }
            }
        }
    }

    pub fn cached_bytes(&self) -> usize {
        self.cache_bytes
    }
}

fn drop_cached(s: &Slot, cache_bytes: &mut usize) {
    if let Some(d) = &s.data {
        *cache_bytes -= d.len();
    }
}

#[allow(clippy::too_many_arguments)] // the index's parts one append touches
fn push_entries(
    group: u64,
    g: &mut GroupState,
    entries: Vec<LogEntry>,
    seg: u64,
    spans: &[DataSpan],
    cache: bool,
    fifo: &mut VecDeque<(u64, u64)>,
    cache_bytes: &mut usize,
) {
    debug_assert_eq!(entries.len(), spans.len());
    for (e, span) in entries.into_iter().zip(spans) {
        let data = if cache {
            *cache_bytes += e.data.len();
            fifo.push_back((group, e.index));
            Some(e.data)
        } else {
            None
        };
        g.entries.push_back(Slot { term: e.term, loc: Loc { seg, offset: span.offset, len: span.len }, data });
    }
}
