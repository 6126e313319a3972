//! Stream consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM, and XINFO (which reports on entries and groups alike).
//!
//! A group lives in its stream's elements, beside the entries:
//! * `g` + name: the group's last delivered ID and entries-read counter;
//! * `p` + [len u32] + group + ID: a pending (delivered, unacknowledged)
//!   entry: delivery time, delivery count, owning consumer;
//! * `c` + [len u32] + group + consumer: a consumer and when it was last seen.
//!
//! Times are the entry's stamp, the same on every replica; idle times are
//! measured against the reader's clock, as Redis measures them against its own.

use super::collections::{scan_elems, Coll};
use super::db::{Apply, Db};
use super::stream::{check_reads, edge_id, entry_reply, finish_quietly, first_id, get, range, state, StreamState};
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::rdb;
use crate::reply::{err, Reply};
use crate::store::KvRead;
use crate::stream::{self, entry_sub, StreamId, MAX_ID, MIN_ID};
use crate::stream_cmds as sc;
use bytes::Bytes;
use std::collections::BTreeMap;

const GROUP: u8 = b'g';
const PEL: u8 = b'p';
const CONSUMER: u8 = b'c';

/// Redis' SCG_INVALID_ENTRIES_READ: the group's read counter is unknown.
const UNKNOWN: i64 = -1;

fn named(tag: u8, group: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + group.len() + 16);
    v.push(tag);
    v.extend_from_slice(&(group.len() as u32).to_be_bytes());
    v.extend_from_slice(group);
    v
}

fn group_sub(name: &[u8]) -> Vec<u8> {
    let mut v = vec![GROUP];
    v.extend_from_slice(name);
    v
}

fn pel_sub(group: &[u8], id: StreamId) -> Vec<u8> {
    let mut v = named(PEL, group);
    v.extend_from_slice(&id.to_bytes());
    v
}

fn consumer_sub(group: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = named(CONSUMER, group);
    v.extend_from_slice(name);
    v
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    /// No pending entry lies below this ID (MAX when none is pending).
    /// Scans of the pending entries start here: acknowledged entries leave
    /// RocksDB tombstones in front, which a scan from 0-0 would step over
    /// one by one (XPENDING and XAUTOCLAIM would slow down with every
    /// acknowledgement until compaction).
    pub pel_first: StreamId,
}

impl Group {
    fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group { last_id, entries_read, pel_first: MAX_ID }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = self.last_id.to_bytes().to_vec();
        v.extend_from_slice(&self.entries_read.to_be_bytes());
        v.extend_from_slice(&self.pel_first.to_bytes());
        v
    }

    fn decode(b: &[u8]) -> Option<Group> {
        Some(Group {
            last_id: StreamId::from_bytes(b)?,
            entries_read: i64::from_be_bytes(b.get(16..24)?.try_into().ok()?),
            pel_first: b.get(24..).and_then(StreamId::from_bytes).unwrap_or(MIN_ID),
        })
    }
}

/// A pending entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub time: u64,
    pub count: u64,
    pub consumer: Bytes,
}

impl Nack {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.consumer.len());
        v.extend_from_slice(&self.time.to_be_bytes());
        v.extend_from_slice(&self.count.to_be_bytes());
        v.extend_from_slice(&self.consumer);
        v
    }

    fn decode(b: &[u8]) -> Option<Nack> {
        Some(Nack {
            time: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            count: u64::from_be_bytes(b.get(8..16)?.try_into().ok()?),
            consumer: Bytes::copy_from_slice(b.get(16..)?),
        })
    }
}

pub fn group<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, name: &[u8]) -> Option<Group> {
    db.elem(key, m, &group_sub(name)).and_then(|v| Group::decode(&v))
}

/// Every group, by name.
fn groups<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta) -> Vec<(Bytes, Group)> {
    let mut out = Vec::new();
    scan_elems(db.kv, db.ns, key, m.version, &[GROUP], Some(&[GROUP + 1]), false, &mut |sub, v| {
        if let Some(g) = Group::decode(v) {
            out.push((Bytes::copy_from_slice(&sub[1..]), g));
        }
        true
    });
    out
}

/// The group's pending entries with IDs from `from` on, in order, until
/// `f` returns false.
fn scan_pel<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    group: &[u8],
    from: StreamId,
    f: &mut dyn FnMut(StreamId, Nack) -> bool,
) {
    let from = from.max(self::group(db, key, m, group).map_or(MIN_ID, |g| g.pel_first));
    let prefix = named(PEL, group);
    let mut lo = prefix.clone();
    lo.extend_from_slice(&from.to_bytes());
    let hi = crate::keys::prefix_end(&prefix);
    let n = prefix.len();
    scan_elems(db.kv, db.ns, key, m.version, &lo, Some(&hi), false, &mut |sub, v| match (
        StreamId::from_bytes(&sub[n..]),
        Nack::decode(v),
    ) {
        (Some(id), Some(nack)) => f(id, nack),
        _ => true,
    });
}

fn pel<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, group: &[u8]) -> Vec<(StreamId, Nack)> {
    let mut out = Vec::new();
    scan_pel(db, key, m, group, MIN_ID, &mut |id, n| {
        out.push((id, n));
        true
    });
    out
}

/// The group's consumers, by name, with when each was last seen.
fn consumers<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, group: &[u8]) -> Vec<(Bytes, u64)> {
    let prefix = named(CONSUMER, group);
    let hi = crate::keys::prefix_end(&prefix);
    let n = prefix.len();
    let mut out = Vec::new();
    scan_elems(db.kv, db.ns, key, m.version, &prefix, Some(&hi), false, &mut |sub, v| {
        let seen = v.get(..8).map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()));
        out.push((Bytes::copy_from_slice(&sub[n..]), seen));
        true
    });
    out
}

/// Milliseconds from `then` to `now`, 0 if `then` is later. Times from a
/// RESTOREd payload can be anything: the difference wraps as Redis' C
/// arithmetic does, rather than overflow.
fn idle_ms(now: u64, then: u64) -> i64 {
    (now as i64).wrapping_sub(then as i64).max(0)
}

/// Pending entries per consumer.
fn pending_counts(pel: &[(StreamId, Nack)]) -> BTreeMap<Bytes, u64> {
    let mut counts = BTreeMap::new();
    for (_, n) in pel {
        *counts.entry(n.consumer.clone()).or_insert(0) += 1;
    }
    counts
}

/// Redis' streamRangeHasTombstones: whether an entry deleted from the
/// middle of the stream may lie in `[start, end]`.
fn range_has_tombstones(st: &StreamState, len: u64, first: StreamId, start: StreamId, end: StreamId) -> bool {
    if len == 0 || st.max_deleted == MIN_ID || first > st.max_deleted {
        return false;
    }
    start <= st.max_deleted && st.max_deleted <= end
}

/// Redis' streamEstimateDistanceFromFirstEverEntry: the entries-read
/// counter of `id`, when it can be known.
pub(crate) fn estimate_read(st: &StreamState, len: u64, first: StreamId, id: StreamId) -> i64 {
    if st.entries_added == 0 {
        return 0;
    }
    if len == 0 && id <= st.last_id {
        return st.entries_added as i64;
    }
    if id == st.last_id {
        return st.entries_added as i64;
    } else if id > st.last_id {
        return UNKNOWN;
    }
    if st.max_deleted == MIN_ID || st.max_deleted < first {
        if id < first {
            return st.entries_added.wrapping_sub(len) as i64;
        } else if id == first {
            return st.entries_added.wrapping_sub(len).wrapping_add(1) as i64;
        }
    }
    UNKNOWN
}

/// The group's lag (Redis' streamReplyWithCGLag): nil when unknown.
fn lag(st: &StreamState, len: u64, first: StreamId, g: &Group) -> Reply {
    if st.entries_added == 0 {
        return Reply::Int(0);
    }
    if g.entries_read != UNKNOWN && !range_has_tombstones(st, len, first, g.last_id, MAX_ID) {
        return Reply::Int((st.entries_added as i64).wrapping_sub(g.entries_read));
    }
    match estimate_read(st, len, first, g.last_id) {
        UNKNOWN => Reply::Nil,
        n => Reply::Int((st.entries_added as i64).wrapping_sub(n)),
    }
}

fn entries_read_reply(g: &Group) -> Reply {
    if g.entries_read == UNKNOWN {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

const NEEDS_KEY: &str =
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use \
                         the MKSTREAM option to create an empty stream automatically.";

fn no_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

fn no_key_or_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn stored_group(a: &Apply, c: &Coll, name: &[u8]) -> Option<Group> {
    get(a, c, &group_sub(name)).and_then(|v| Group::decode(&v))
}

/// Removes a pending entry; the group's first pending ID moves past it.
fn drop_nack(a: &mut Apply, c: &mut Coll, group: &[u8], id: StreamId) {
    c.delete(a, &pel_sub(group, id));
    if let Some(mut g) = stored_group(a, c, group).filter(|g| g.pel_first == id) {
        g.pel_first = MAX_ID;
        scan_pel(&a.db(), &c.key, &c.meta, group, id, &mut |next, _| {
            g.pel_first = next;
            false
        });
        c.put(a, &group_sub(group), &g.encode());
    }
}

/// Adds (or updates) a pending entry.
fn put_nack(a: &mut Apply, c: &mut Coll, group: &[u8], id: StreamId, n: &Nack) {
    c.put(a, &pel_sub(group, id), &n.encode());
    if let Some(mut g) = stored_group(a, c, group).filter(|g| id < g.pel_first) {
        g.pel_first = id;
        c.put(a, &group_sub(group), &g.encode());
    }
}

/// Writes a group's last ID and read counter (its first pending ID is the
/// one stored: the pending entries keep it).
fn put_group(a: &mut Apply, c: &mut Coll, name: &[u8], g: &Group) {
    let pel_first = stored_group(a, c, name).map_or(MAX_ID, |s| s.pel_first);
    c.put(a, &group_sub(name), &Group { pel_first, ..*g }.encode());
}

/// Marks `consumer` seen now, creating it if needed (an event, when
/// stream events are collected).
fn touch_consumer(a: &mut Apply, c: &mut Coll, group: &[u8], consumer: &[u8]) {
    let now = a.now;
    let sub = consumer_sub(group, consumer);
    if a.notify & notify::STREAM != 0 && get(a, c, &sub).is_none() {
        let key = c.key.clone();
        a.event(notify::STREAM, "xgroup-createconsumer", &key);
    }
    c.put(a, &sub, &now.to_be_bytes());
}

pub fn xgroup(a: &mut Apply, cmd: &sc::XGroup) -> Reply {
    let m = match a.db().typed(&cmd.key, DataType::Stream) {
        Err(e) => return e,
        Ok(m) => m,
    };
    let op = sc::XGroupOp::try_from(cmd.op).unwrap_or(sc::XGroupOp::Create);
    let create = op == sc::XGroupOp::Create;
    if m.is_none() && !(create && cmd.mkstream) {
        return Reply::error(NEEDS_KEY);
    }
    let g = m.as_ref().and_then(|m| group(&a.db(), &cmd.key, m, &cmd.group));
    if g.is_none() && matches!(op, sc::XGroupOp::SetId | sc::XGroupOp::CreateConsumer | sc::XGroupOp::DelConsumer) {
        return no_group(&cmd.key, &cmd.group);
    }
    if matches!(op, sc::XGroupOp::Create | sc::XGroupOp::SetId) && cmd.invalid_id {
        return Reply::error(stream::INVALID_ID);
    }
    let mut c = match Coll::open(a, &cmd.key, DataType::Stream) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let last = state(&c.meta).last_id;
    let mut event = None;
    let reply = match op {
        sc::XGroupOp::Create | sc::XGroupOp::SetId => {
            if create && g.is_some() {
                return Reply::error("BUSYGROUP Consumer Group name already exists");
            }
            if m.is_none() {
                // MKSTREAM: a new, empty stream.
                let st = state(&c.meta);
                super::stream::set_state(&mut c, st);
            }
            let g = Group::new(cmd.id.unwrap_or(last), cmd.entries_read);
            put_group(a, &mut c, &cmd.group, &g);
            event = Some(if create { "xgroup-create" } else { "xgroup-setid" });
            Reply::Ok
        }
        sc::XGroupOp::Destroy => {
            if g.is_none() {
                return Reply::Int(0);
            }
            // Everything of the group goes, its record with its first
            // pending ID too: no need to keep that up to date meanwhile.
            let db = a.db();
            let pending: Vec<StreamId> = pel(&db, &cmd.key, &c.meta, &cmd.group).into_iter().map(|p| p.0).collect();
            let names: Vec<Bytes> = consumers(&db, &cmd.key, &c.meta, &cmd.group).into_iter().map(|p| p.0).collect();
            for id in pending {
                c.delete(a, &pel_sub(&cmd.group, id));
            }
            for n in names {
                c.delete(a, &consumer_sub(&cmd.group, &n));
            }
            c.delete(a, &group_sub(&cmd.group));
            event = Some("xgroup-destroy");
            Reply::Int(1)
        }
        sc::XGroupOp::CreateConsumer => {
            if get(a, &c, &consumer_sub(&cmd.group, &cmd.consumer)).is_some() {
                return Reply::Int(0);
            }
            touch_consumer(a, &mut c, &cmd.group, &cmd.consumer);
            Reply::Int(1)
        }
        sc::XGroupOp::DelConsumer => {
            if get(a, &c, &consumer_sub(&cmd.group, &cmd.consumer)).is_none() {
                return Reply::Int(0);
            }
            let owned: Vec<StreamId> = pel(&a.db(), &cmd.key, &c.meta, &cmd.group)
                .into_iter()
                .filter(|(_, n)| n.consumer == cmd.consumer)
                .map(|p| p.0)
                .collect();
            for id in &owned {
                drop_nack(a, &mut c, &cmd.group, *id);
            }
            c.delete(a, &consumer_sub(&cmd.group, &cmd.consumer));
            event = Some("xgroup-delconsumer");
            Reply::Int(owned.len() as i64)
        }
    };
    finish_quietly(c, a);
    if let Some(e) = event {
        a.event(notify::STREAM, e, &cmd.key);
    }
    reply
}

/// XREADGROUP: new entries (`>`) delivered to the consumer and made
/// pending, or the consumer's pending history after an ID.
pub fn xreadgroup(a: &mut Apply, cmd: &sc::XRead) -> Reply {
    if let Err(e) = check_reads(&a.db(), cmd) {
        return e;
    }
    let count = cmd.count.filter(|&n| n > 0);
    let mut out = Vec::new();
    for r in &cmd.streams {
        let mut c = match Coll::existing(a, &r.key, DataType::Stream) {
            Ok(Some(c)) => c,
            _ => continue,
        };
        let Some(mut g) = group(&a.db(), &r.key, &c.meta, &cmd.group) else { continue };
        let after = r.after.unwrap_or_default();
        let mut entries = Vec::new();
        if reads_history(r) {
            touch_consumer(a, &mut c, &cmd.group, &cmd.consumer);
            let mut mine = Vec::new();
            if let Some(start) = after.incr() {
                scan_pel(&a.db(), &r.key, &c.meta, &cmd.group, start, &mut |id, n| {
                    if n.consumer == cmd.consumer {
                        mine.push((id, n));
                    }
                    count.is_none_or(|k| (mine.len() as u64) < k)
                });
            }
            for (id, mut n) in mine {
                match get(a, &c, &entry_sub(id)) {
                    Some(v) => {
                        entries.push(entry_reply(id, &v));
                        n.time = a.now;
                        n.count = n.count.wrapping_add(1);
                        put_nack(a, &mut c, &cmd.group, id, &n);
                    }
                    None => entries.push(Reply::Array(vec![id.reply(), Reply::NilArray])),
                }
            }
        } else {
            if !has_new(&a.db(), &r.key, &c.meta, &g) {
                continue;
            }
            touch_consumer(a, &mut c, &cmd.group, &cmd.consumer);
            let st = state(&c.meta);
            let first = first_id(&c.meta);
            let start = g.last_id.incr().expect("below the top entry");
            let new = range(&a.db(), &r.key, &c.meta, start, MAX_ID, false, count);
            for (id, v) in new {
                if id > g.last_id {
                    if g.entries_read != UNKNOWN && !range_has_tombstones(&st, c.meta.count, first, id, MAX_ID) {
                        g.entries_read = g.entries_read.wrapping_add(1);
                    } else if st.entries_added > 0 {
                        g.entries_read = estimate_read(&st, c.meta.count, first, id);
                    }
                    g.last_id = id;
                }
                if !cmd.noack {
                    let n = Nack { time: a.now, count: 1, consumer: cmd.consumer.clone() };
                    put_nack(a, &mut c, &cmd.group, id, &n);
                }
                entries.push(entry_reply(id, &v));
            }
            put_group(a, &mut c, &cmd.group, &g);
        }
        finish_quietly(c, a);
        out.push((Reply::Bulk(r.key.clone()), Reply::Array(entries)));
    }
    if out.is_empty() {
        Reply::NilArray
    } else {
        Reply::PairMap(out)
    }
}

/// How many of an XREADGROUP's streams it would answer now (a read): those
/// read from `>` with entries past the group's last ID, and every history
/// read. An error as XREADGROUP would give it.
pub fn xreadgroup_peek<K: KvRead + ?Sized>(db: &Db<K>, cmd: &sc::XRead) -> Reply {
    let metas = match check_reads(db, cmd) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let mut ready = 0;
    for (r, m) in cmd.streams.iter().zip(metas) {
        let Some(m) = m else { continue };
        if reads_history(r) || group(db, &r.key, &m, &cmd.group).is_some_and(|g| has_new(db, &r.key, &m, &g)) {
            ready += 1;
        }
    }
    Reply::Int(ready)
}

/// Whether an XREADGROUP stream argument reads the consumer's history (an
/// ID; Redis takes the last possible ID for `>`) rather than new entries.
fn reads_history(r: &sc::ReadFrom) -> bool {
    sc::ReadKind::try_from(r.kind) == Ok(sc::ReadKind::After) && r.after.unwrap_or_default() != MAX_ID
}

/// Whether the stream has entries the group has not been delivered.
fn has_new<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, g: &Group) -> bool {
    edge_id(db, key, m, true).is_some_and(|top| top > g.last_id)
}

pub fn xack(a: &mut Apply, cmd: &sc::KeyIds) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::Stream) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    if group(&a.db(), &cmd.key, &c.meta, &cmd.group).is_none() {
        return Reply::Int(0);
    }
    if cmd.invalid {
        return Reply::error(stream::INVALID_ID);
    }
    let mut acked = 0;
    for id in &cmd.ids {
        if get(a, &c, &pel_sub(&cmd.group, *id)).is_some() {
            drop_nack(a, &mut c, &cmd.group, *id);
            acked += 1;
        }
    }
    finish_quietly(c, a);
    Reply::Int(acked)
}

pub fn xpending<K: KvRead + ?Sized>(db: &Db<K>, cmd: &sc::XPending) -> Reply {
    let m = match db.typed(&cmd.key, DataType::Stream) {
        Err(e) => return e,
        Ok(m) => m,
    };
    let Some(m) = m.filter(|m| group(db, &cmd.key, m, &cmd.group).is_some()) else {
        return no_key_or_group(&cmd.key, &cmd.group);
    };
    let Some(start) = cmd.start else {
        let all = pel(db, &cmd.key, &m, &cmd.group);
        let (Some(first), Some(last)) = (all.first(), all.last()) else {
            return Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
        };
        let per = pending_counts(&all)
            .into_iter()
            .map(|(name, n)| Reply::Array(vec![Reply::Bulk(name), Reply::bulk(n.to_string())]))
            .collect();
        return Reply::Array(vec![Reply::Int(all.len() as i64), first.0.reply(), last.0.reply(), Reply::Array(per)]);
    };
    let end = cmd.end.unwrap_or(MAX_ID);
    if let Some(name) = &cmd.consumer {
        if db.elem(&cmd.key, &m, &consumer_sub(&cmd.group, name)).is_none() {
            return Reply::Array(vec![]);
        }
    }
    let mut out = Vec::new();
    let mut left = cmd.count;
    scan_pel(db, &cmd.key, &m, &cmd.group, start, &mut |id, n| {
        if left == 0 || id > end {
            return false;
        }
        if cmd.consumer.as_ref().is_some_and(|c| *c != n.consumer) {
            return true;
        }
        let idle = idle_ms(db.now, n.time);
        if cmd.min_idle != 0 && idle < cmd.min_idle {
            return true;
        }
        left -= 1;
        out.push(Reply::Array(vec![id.reply(), Reply::Bulk(n.consumer), Reply::Int(idle), Reply::Int(n.count as i64)]));
        true
    });
    Reply::Array(out)
}

/// XCLAIM and XAUTOCLAIM.
pub fn xclaim(a: &mut Apply, cmd: &sc::XClaim) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::Stream) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let g = c.as_ref().and_then(|c| group(&a.db(), &cmd.key, &c.meta, &cmd.group));
    let (Some(mut c), Some(mut g)) = (c.take(), g) else {
        return no_key_or_group(&cmd.key, &cmd.group);
    };
    if !cmd.error.is_empty() {
        return Reply::error(cmd.error.clone());
    }
    let now = a.now;
    let min_idle = cmd.min_idle.max(0);
    if cmd.auto {
        return autoclaim(a, c, cmd, min_idle);
    }
    if let Some(last) = cmd.last_id.filter(|l| *l > g.last_id) {
        g.last_id = last;
        put_group(a, &mut c, &cmd.group, &g);
    }
    let delivery = match (cmd.time, cmd.idle) {
        (Some(t), _) => t,
        (None, Some(idle)) => (now as i64).wrapping_sub(idle),
        (None, None) => now as i64,
    };
    let delivery = if delivery < 0 || delivery > now as i64 { now } else { delivery as u64 };
    let mut out = Vec::new();
    for id in &cmd.ids {
        let id = *id;
        let existing = get(a, &c, &pel_sub(&cmd.group, id)).and_then(|v| Nack::decode(&v));
        let Some(entry) = get(a, &c, &entry_sub(id)) else {
            if existing.is_some() {
                drop_nack(a, &mut c, &cmd.group, id);
            }
            continue;
        };
        let mut n = match existing {
            Some(n) => {
                if min_idle > 0 && idle_ms(now, n.time) < min_idle {
                    continue;
                }
                n
            }
            None if cmd.force => Nack { time: now, count: 1, consumer: Bytes::new() },
            None => continue,
        };
        touch_consumer(a, &mut c, &cmd.group, &cmd.consumer);
        n.time = delivery;
        match cmd.retry_count {
            Some(r) if r >= 0 => n.count = r as u64,
            _ if !cmd.justid => n.count += 1,
            _ => {}
        }
        n.consumer = cmd.consumer.clone();
        put_nack(a, &mut c, &cmd.group, id, &n);
        out.push(if cmd.justid { id.reply() } else { entry_reply(id, &entry) });
    }
    finish_quietly(c, a);
    Reply::Array(out)
}

fn autoclaim(a: &mut Apply, mut c: Coll, cmd: &sc::XClaim, min_idle: i64) -> Reply {
    let now = a.now;
    // As Redis: COUNT bounds the claimed and deleted entries, ten times
    // COUNT the entries looked at.
    let mut attempts = cmd.count.saturating_mul(10);
    let mut count = cmd.count;
    let mut next = MIN_ID;
    let (mut claim, mut deleted) = (Vec::new(), Vec::new());
    let db = a.db();
    scan_pel(&db, &cmd.key, &c.meta, &cmd.group, cmd.start.unwrap_or(MIN_ID), &mut |id, n| {
        if attempts == 0 || count == 0 {
            next = id;
            return false;
        }
        attempts -= 1;
        match db.elem(&cmd.key, &c.meta, &entry_sub(id)) {
            None => deleted.push(id),
            Some(_) if min_idle > 0 && idle_ms(now, n.time) < min_idle => return true,
            Some(entry) => claim.push((id, n, entry)),
        }
        count -= 1;
        true
    });
    for id in &deleted {
        drop_nack(a, &mut c, &cmd.group, *id);
    }
    let mut claimed = Vec::with_capacity(claim.len());
    for (id, mut n, entry) in claim {
        touch_consumer(a, &mut c, &cmd.group, &cmd.consumer);
        n.time = now;
        if !cmd.justid {
            n.count = n.count.wrapping_add(1);
        }
        n.consumer = cmd.consumer.clone();
        put_nack(a, &mut c, &cmd.group, id, &n);
        claimed.push(if cmd.justid { id.reply() } else { entry_reply(id, &entry) });
    }
    finish_quietly(c, a);
    Reply::Array(vec![
        next.reply(),
        Reply::Array(claimed),
        Reply::Array(deleted.into_iter().map(StreamId::reply).collect()),
    ])
}

fn stream_or_nokey<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Result<Meta, Reply> {
    match db.typed(key, DataType::Stream)? {
        Some(m) => Ok(m),
        None => Err(Reply::error(err::NO_SUCH_KEY)),
    }
}

fn map(fields: Vec<(&str, Reply)>) -> Reply {
    Reply::Map(fields.into_iter().map(|(k, v)| (Reply::bulk(k.to_string()), v)).collect())
}

pub fn xinfo<K: KvRead + ?Sized>(db: &Db<K>, cmd: &sc::XInfo) -> Reply {
    let m = match stream_or_nokey(db, &cmd.key) {
        Ok(m) => m,
        Err(e) => return e,
    };
    if !cmd.error.is_empty() {
        return Reply::error(cmd.error.clone());
    }
    let st = state(&m);
    let first = first_id(&m);
    let len = m.count;
    match sc::XInfoKind::try_from(cmd.kind).unwrap_or(sc::XInfoKind::Stream) {
        sc::XInfoKind::Groups => Reply::Array(
            groups(db, &cmd.key, &m)
                .into_iter()
                .map(|(name, g)| {
                    let pending = pel(db, &cmd.key, &m, &name).len();
                    let n_consumers = consumers(db, &cmd.key, &m, &name).len();
                    map(vec![
                        ("name", Reply::Bulk(name)),
                        ("consumers", Reply::Int(n_consumers as i64)),
                        ("pending", Reply::Int(pending as i64)),
                        ("last-delivered-id", g.last_id.reply()),
                        ("entries-read", entries_read_reply(&g)),
                        ("lag", lag(&st, len, first, &g)),
                    ])
                })
                .collect(),
        ),
        sc::XInfoKind::Consumers => {
            if group(db, &cmd.key, &m, &cmd.group).is_none() {
                return no_group(&cmd.key, &cmd.group);
            }
            let counts = pending_counts(&pel(db, &cmd.key, &m, &cmd.group));
            Reply::Array(
                consumers(db, &cmd.key, &m, &cmd.group)
                    .into_iter()
                    .map(|(name, seen)| {
                        let pending = counts.get(&name).copied().unwrap_or(0);
                        map(vec![
                            ("name", Reply::Bulk(name)),
                            ("pending", Reply::Int(pending as i64)),
                            ("idle", Reply::Int(idle_ms(db.now, seen))),
                        ])
                    })
                    .collect(),
            )
        }
        sc::XInfoKind::Stream => {
            let entry = |last: bool| -> Reply {
                match range(db, &cmd.key, &m, MIN_ID, MAX_ID, last, Some(1)).pop() {
                    Some((id, v)) => entry_reply(id, &v),
                    None => Reply::Nil,
                }
            };
            // Redis' radix tree holds up to 100 entries per node; reported
            // as if the entries were packed that way.
            let nodes = len.div_ceil(super::stream::NODE_ENTRIES);
            let mut fields = vec![
                ("length", Reply::Int(len as i64)),
                ("radix-tree-keys", Reply::Int(nodes as i64)),
                ("radix-tree-nodes", Reply::Int(nodes as i64 + 1)),
                ("last-generated-id", st.last_id.reply()),
                ("max-deleted-entry-id", st.max_deleted.reply()),
                ("entries-added", Reply::Int(st.entries_added as i64)),
                ("recorded-first-entry-id", first.reply()),
            ];
            let all_groups = groups(db, &cmd.key, &m);
            if !cmd.full {
                fields.push(("groups", Reply::Int(all_groups.len() as i64)));
                fields.push(("first-entry", entry(false)));
                fields.push(("last-entry", entry(true)));
                return map(fields);
            }
            let count = if cmd.count == 0 { None } else { Some(cmd.count) };
            let entries = range(db, &cmd.key, &m, MIN_ID, MAX_ID, false, count);
            fields.push(("entries", Reply::Array(entries.into_iter().map(|(id, v)| entry_reply(id, &v)).collect())));
            let full_groups = all_groups
                .into_iter()
                .map(|(name, g)| {
                    let all = pel(db, &cmd.key, &m, &name);
                    let limit = count.unwrap_or(u64::MAX) as usize;
                    let pending = all
                        .iter()
                        .take(limit)
                        .map(|(id, n)| {
                            Reply::Array(vec![
                                id.reply(),
                                Reply::Bulk(n.consumer.clone()),
                                Reply::Int(n.time as i64),
                                Reply::Int(n.count as i64),
                            ])
                        })
                        .collect();
                    let members = consumers(db, &cmd.key, &m, &name)
                        .into_iter()
                        .map(|(cname, seen)| {
                            let own: Vec<_> = all.iter().filter(|(_, n)| n.consumer == cname).collect();
                            map(vec![
                                ("name", Reply::Bulk(cname.clone())),
                                ("seen-time", Reply::Int(seen as i64)),
                                ("pel-count", Reply::Int(own.len() as i64)),
                                (
                                    "pending",
                                    Reply::Array(
                                        own.iter()
                                            .take(limit)
                                            .map(|(id, n)| {
                                                Reply::Array(vec![
                                                    id.reply(),
                                                    Reply::Int(n.time as i64),
                                                    Reply::Int(n.count as i64),
                                                ])
                                            })
                                            .collect(),
                                    ),
                                ),
                            ])
                        })
                        .collect();
                    map(vec![
                        ("name", Reply::Bulk(name)),
                        ("last-delivered-id", g.last_id.reply()),
                        ("entries-read", entries_read_reply(&g)),
                        ("lag", lag(&st, len, first, &g)),
                        ("pel-count", Reply::Int(all.len() as i64)),
                        ("pending", Reply::Array(pending)),
                        ("consumers", Reply::Array(members)),
                    ])
                })
                .collect();
            fields.push(("groups", Reply::Array(full_groups)));
            map(fields)
        }
    }
}

/// The whole stream `key` (record `m`) as DUMP writes it.
pub fn dump<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta) -> rdb::stream::StreamValue {
    let st = state(m);
    let entries = range(db, key, m, MIN_ID, MAX_ID, false, None)
        .into_iter()
        .map(|(id, v)| (id, stream::decode_fields(&v)))
        .collect();
    let groups = groups(db, key, m)
        .into_iter()
        .map(|(name, g)| rdb::stream::GroupValue {
            last_id: g.last_id,
            entries_read: Some(g.entries_read),
            pending: pel(db, key, m, &name)
                .into_iter()
                .map(|(id, n)| rdb::stream::PendingValue { id, time: n.time, count: n.count, consumer: n.consumer })
                .collect(),
            consumers: consumers(db, key, m, &name),
            name,
        })
        .collect();
    rdb::stream::StreamValue {
        entries,
        last_id: st.last_id,
        max_deleted: st.max_deleted,
        entries_added: st.entries_added,
        groups,
    }
}

/// Writes the restored stream `s` at `key` (where nothing is now).
pub fn restore(a: &mut Apply, key: &Bytes, s: &rdb::stream::StreamValue) {
    let mut c = match Coll::open(a, key, DataType::Stream) {
        Ok(c) => c,
        Err(_) => return,
    };
    for (id, fields) in &s.entries {
        c.put(a, &entry_sub(*id), &stream::encode_fields(fields));
        c.meta.count += 1;
    }
    let first_id = s.entries.first().map_or(MIN_ID, |e| e.0);
    let st = StreamState { last_id: s.last_id, entries_added: s.entries_added, max_deleted: s.max_deleted, first_id };
    super::stream::set_state(&mut c, st);
    for g in &s.groups {
        let pel_first = g.pending.iter().map(|p| p.id).min().unwrap_or(MAX_ID);
        let record = Group { last_id: g.last_id, entries_read: g.entries_read.unwrap_or(UNKNOWN), pel_first };
        c.put(a, &group_sub(&g.name), &record.encode());
        for p in &g.pending {
            let n = Nack { time: p.time, count: p.count, consumer: p.consumer.clone() };
            c.put(a, &pel_sub(&g.name, p.id), &n.encode());
        }
        for (name, seen) in &g.consumers {
            c.put(a, &consumer_sub(&g.name, name), &seen.to_be_bytes());
        }
    }
    super::stream::finish(c, a);
}
