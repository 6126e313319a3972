//! The stream family's entries: XADD, XTRIM, XDEL, XLEN, XRANGE, XREVRANGE,
//! XREAD, XSETID. Consumer groups are in [`super::stream_group`].
//!
//! A stream is a collection whose count is its length. Its metadata payload
//! holds `[flags][last ID 16][entries added u64][max deleted ID 16][first ID
//! 16]` ([`StreamState`]); each entry is an element under
//! [`crate::stream::ENTRY`] + its ID, its value the flattened
//! fields ([`stream::encode_fields`]). Unlike the other collections a stream
//! outlives its last entry (Redis keeps an empty stream, with its last ID
//! and its groups), so it is finished by [`finish`], never removed for being
//! empty.

use super::collections::{scan_elems, Coll};
use super::db::{Apply, Db};
use super::stream_group;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::reply::{err, Reply};
use crate::store::{Cf, KvRead};
use crate::stream::{self, entry_sub, StreamId, MAX_ID, MIN_ID};
use crate::stream_cmds as sc;

const PAYLOAD: usize = 1 + 16 + 8 + 16 + 16;

/// What a stream's metadata keeps besides its length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamState {
    pub last_id: StreamId,
    pub entries_added: u64,
    pub max_deleted: StreamId,
    /// The first entry's ID (0-0 when empty). Scans start here rather than
    /// at 0-0: trimming leaves RocksDB tombstones of the removed entries in
    /// front of it, which a scan from 0-0 would step over one by one (a
    /// stream capped with MAXLEN would slow down with every entry it shed).
    pub first_id: StreamId,
}

pub fn state(m: &Meta) -> StreamState {
    let p = &m.payload;
    if p.len() < PAYLOAD {
        return StreamState::default();
    }
    StreamState {
        last_id: StreamId::from_bytes(&p[1..17]).unwrap(),
        entries_added: u64::from_be_bytes(p[17..25].try_into().unwrap()),
        max_deleted: StreamId::from_bytes(&p[25..41]).unwrap(),
        first_id: StreamId::from_bytes(&p[41..57]).unwrap(),
    }
}

pub fn set_state(c: &mut Coll, st: StreamState) {
    let p = &mut c.meta.payload;
    p.resize(PAYLOAD.max(p.len()), 0);
    p[1..17].copy_from_slice(&st.last_id.to_bytes());
    p[17..25].copy_from_slice(&st.entries_added.to_be_bytes());
    p[25..41].copy_from_slice(&st.max_deleted.to_bytes());
    p[41..57].copy_from_slice(&st.first_id.to_bytes());
    c.changed = true;
}

/// An element of the stream being written. (Not [`Coll::get`], which takes
/// an empty collection for one without elements: a stream without entries
/// still has its groups.)
pub fn get(a: &Apply, c: &Coll, sub: &[u8]) -> Option<Vec<u8>> {
    a.kv.get(Cf::Data, &super::collections::elem_key(a.ns, &c.key, c.meta.version, sub))
}

/// Writes a changed stream's metadata; an empty stream stays.
pub fn finish(c: Coll, a: &mut Apply) {
    if c.changed {
        a.put_meta(&c.key, c.meta, c.old.as_ref());
    }
}

/// Whether the stream `c` was there before this command (not created by it).
fn existed(c: &Coll, a: &Apply) -> bool {
    c.old.as_ref().is_some_and(|o| !o.expired(a.now) && o.version == c.meta.version)
}

/// Writes a stream whose groups (or last ID) changed but not its entries:
/// Redis signals no change of the key then, so WATCH does not fire. A
/// stream this command created is a change all the same.
pub fn finish_quietly(c: Coll, a: &mut Apply) {
    if c.changed && existed(&c, a) {
        a.put_meta_quietly(&c.key, &c.meta);
    } else {
        finish(c, a);
    }
}

fn stream<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    db.typed(key, DataType::Stream)
}

/// One entry as Redis replies it: `[id, [field, value, ...]]`.
pub fn entry_reply(id: StreamId, value: &[u8]) -> Reply {
    Reply::Array(vec![id.reply(), Reply::Array(stream::decode_fields(value).into_iter().map(Reply::Bulk).collect())])
}

/// Visits the entries with IDs in `[start, end]`, in order or reversed,
/// until `f` returns false.
pub fn scan_entries<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    start: StreamId,
    end: StreamId,
    rev: bool,
    f: &mut dyn FnMut(StreamId, &[u8]) -> bool,
) {
    // Nothing lies before the first entry but what was removed.
    let start = start.max(state(m).first_id);
    if start > end || m.count == 0 {
        return;
    }
    let from = entry_sub(start);
    // Every entry sub-key has the same length: one byte more bounds `end`.
    let mut to = entry_sub(end).to_vec();
    to.push(0);
    scan_elems(
        db.kv,
        db.ns,
        key,
        m.version,
        &from,
        Some(&to),
        rev,
        &mut |sub, v| match StreamId::from_bytes(&sub[1..]) {
            Some(id) => f(id, v),
            None => true,
        },
    );
}

/// Up to `count` entries in `[start, end]`.
pub fn range<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: Option<u64>,
) -> Vec<(StreamId, Vec<u8>)> {
    let mut out = Vec::new();
    if count == Some(0) {
        return out;
    }
    scan_entries(db, key, m, start, end, rev, &mut |id, v| {
        out.push((id, v.to_vec()));
        count.is_none_or(|c| (out.len() as u64) < c)
    });
    out
}

/// The first (or last) entry's ID.
pub fn edge_id<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, last: bool) -> Option<StreamId> {
    range(db, key, m, MIN_ID, MAX_ID, last, Some(1)).first().map(|e| e.0)
}

/// Redis' `s->first_id`: the first entry's ID, 0-0 when empty.
pub fn first_id(m: &Meta) -> StreamId {
    if m.count == 0 {
        MIN_ID
    } else {
        state(m).first_id
    }
}

/// After entries were removed: the first ID is the first that is left.
fn refresh_first_id(a: &Apply, c: &mut Coll) {
    let mut st = state(&c.meta);
    st.first_id = if c.meta.count == 0 { MIN_ID } else { edge_id(&a.db(), &c.key, &c.meta, false).unwrap_or(MIN_ID) };
    set_state(c, st);
}

pub fn xlen<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Reply {
    match stream(db, key) {
        Err(e) => e,
        Ok(m) => Reply::Int(m.map_or(0, |m| m.count as i64)),
    }
}

pub fn xrange<K: KvRead + ?Sized>(db: &Db<K>, c: &sc::XRange) -> Reply {
    let m = match stream(db, &c.key) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(vec![]),
        // COUNT 0 on a stream is a null reply.
        Ok(Some(_)) if c.count == Some(0) => return Reply::NilArray,
        Ok(Some(m)) => m,
    };
    // The parser gave the lower bound as `start` for XREVRANGE too.
    let (start, end) = (c.start.unwrap_or(MIN_ID), c.end.unwrap_or(MAX_ID));
    Reply::Array(
        range(db, &c.key, &m, start, end, c.rev, c.count).into_iter().map(|(id, v)| entry_reply(id, &v)).collect(),
    )
}

const EXHAUSTED: &str = "ERR The stream has exhausted the last possible ID, unable to add more items";
const TOO_SMALL: &str = "ERR The ID specified in XADD is equal or smaller than the target stream top item";

pub fn xadd(a: &mut Apply, cmd: &sc::XAdd) -> Reply {
    let mut c = match Coll::open(a, &cmd.key, DataType::Stream) {
        Ok(c) => c,
        Err(e) => return e,
    };
    if cmd.nomkstream && !existed(&c, a) {
        return Reply::Nil;
    }
    let mut st = state(&c.meta);
    if st.last_id == MAX_ID {
        return Reply::error(EXHAUSTED);
    }
    let id = match cmd.id {
        None => {
            if a.now > st.last_id.ms {
                StreamId::new(a.now, 0)
            } else {
                st.last_id.incr().expect("not the last ID")
            }
        }
        Some(id) if cmd.auto_seq => {
            if id.ms == st.last_id.ms {
                match st.last_id.seq.checked_add(1) {
                    Some(seq) => StreamId::new(id.ms, seq),
                    None => return Reply::error(TOO_SMALL),
                }
            } else {
                id
            }
        }
        Some(id) => id,
    };
    if id <= st.last_id {
        return Reply::error(TOO_SMALL);
    }
    c.put(a, &entry_sub(id), &stream::encode_fields(&cmd.fields));
    if c.meta.count == 0 {
        st.first_id = id;
    }
    c.meta.count += 1;
    st.last_id = id;
    st.entries_added += 1;
    set_state(&mut c, st);
    let trimmed = cmd.trim.as_ref().map_or(0, |t| trim(a, &mut c, t));
    finish(c, a);
    a.event(notify::STREAM, "xadd", &cmd.key);
    if trimmed > 0 {
        a.event(notify::STREAM, "xtrim", &cmd.key);
    }
    id.reply()
}

/// Redis' stream-node-max-entries: the entries one radix-tree node holds,
/// which `~` trimming removes only together.
pub(super) const NODE_ENTRIES: u64 = 100;

/// Removes the entries `t` asks to go (oldest first); how many went.
/// With `~`, whole nodes only: Redis' nodes fill in insertion order, so
/// they are counted here as runs of [`NODE_ENTRIES`] from the oldest entry
/// (which is where a node starts in a stream only ever trimmed with `~`),
/// the newest node holding the rest.
fn trim(a: &mut Apply, c: &mut Coll, t: &sc::Trim) -> u64 {
    let mut doomed = Vec::new();
    let limit = if t.limit == 0 { u64::MAX } else { t.limit };
    let count = c.meta.count;
    let want = match (t.maxlen, t.minid) {
        (Some(maxlen), _) => count.saturating_sub(maxlen).min(limit),
        (None, Some(_)) => limit,
        (None, None) => 0,
    };
    if want > 0 {
        let db = a.db();
        scan_entries(&db, &c.key, &c.meta, MIN_ID, MAX_ID, false, &mut |id, _| {
            if t.minid.is_some_and(|min| id >= min) {
                return false;
            }
            doomed.push(id);
            (doomed.len() as u64) < want
        });
    }
    let n = doomed.len() as u64;
    if t.approx && n < count {
        doomed.truncate((n / NODE_ENTRIES * NODE_ENTRIES) as usize);
    }
    for id in &doomed {
        c.delete(a, &entry_sub(*id));
    }
    c.meta.count -= doomed.len() as u64;
    if !doomed.is_empty() {
        refresh_first_id(a, c);
    }
    doomed.len() as u64
}

pub fn xtrim(a: &mut Apply, cmd: &sc::XTrim) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::Stream) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let n = cmd.trim.as_ref().map_or(0, |t| trim(a, &mut c, t));
    finish(c, a);
    if n > 0 {
        a.event(notify::STREAM, "xtrim", &cmd.key);
    }
    Reply::Int(n as i64)
}

pub fn xdel(a: &mut Apply, cmd: &sc::KeyIds) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::Stream) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    if cmd.invalid {
        return Reply::error(stream::INVALID_ID);
    }
    let mut st = state(&c.meta);
    let mut deleted = 0;
    for id in &cmd.ids {
        if get(a, &c, &entry_sub(*id)).is_some() {
            c.delete(a, &entry_sub(*id));
            c.meta.count -= 1;
            st.max_deleted = st.max_deleted.max(*id);
            deleted += 1;
        }
    }
    if deleted > 0 {
        set_state(&mut c, st);
        refresh_first_id(a, &mut c);
    }
    finish(c, a);
    if deleted > 0 {
        a.event(notify::STREAM, "xdel", &cmd.key);
    }
    Reply::Int(deleted)
}

pub fn xsetid(a: &mut Apply, cmd: &sc::XSetId) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::Stream) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::error(err::NO_SUCH_KEY),
        Err(e) => return e,
    };
    let id = cmd.last_id.unwrap_or_default();
    let mut st = state(&c.meta);
    if c.meta.count > 0 {
        let top = edge_id(&a.db(), &c.key, &c.meta, true).unwrap_or(MIN_ID);
        if id < top {
            return Reply::error("ERR The ID specified in XSETID is smaller than the target stream top item");
        }
        if cmd.entries_added.is_some_and(|n| n < c.meta.count) {
            return Reply::error("ERR The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    st.last_id = id;
    if let Some(n) = cmd.entries_added {
        st.entries_added = n;
    }
    if let Some(m) = cmd.max_deleted.filter(|m| *m != MIN_ID) {
        st.max_deleted = m;
    }
    set_state(&mut c, st);
    finish_quietly(c, a);
    a.event(notify::STREAM, "xsetid", &cmd.key);
    Reply::Ok
}

/// The error of an XREAD / XREADGROUP ID argument, if it is one.
fn read_id_error(r: &sc::ReadFrom, group: bool) -> Option<Reply> {
    match sc::ReadKind::try_from(r.kind).unwrap_or(sc::ReadKind::Invalid) {
        sc::ReadKind::Last if group => Some(Reply::error(
            "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this \
             consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return \
             an empty result set.",
        )),
        sc::ReadKind::New if !group => Some(Reply::error(
            "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
        )),
        sc::ReadKind::Invalid => Some(Reply::error(stream::INVALID_ID)),
        _ => None,
    }
}

/// Checks every stream of an XREAD / XREADGROUP in Redis' order (type,
/// group, ID, stream by stream); the metadata of each, None if absent.
pub fn check_reads<K: KvRead + ?Sized>(db: &Db<K>, c: &sc::XRead) -> Result<Vec<Option<Meta>>, Reply> {
    let group = !c.group.is_empty();
    let mut metas = Vec::with_capacity(c.streams.len());
    for r in &c.streams {
        let m = stream(db, &r.key)?;
        if group && m.as_ref().is_none_or(|m| stream_group::group(db, &r.key, m, &c.group).is_none()) {
            return Err(Reply::error(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(&r.key),
                String::from_utf8_lossy(&c.group)
            )));
        }
        if let Some(e) = read_id_error(r, group) {
            return Err(e);
        }
        metas.push(m);
    }
    Ok(metas)
}

/// XREAD: for each stream with entries after its ID, `key => entries`; a
/// null array when none has any (what a blocked reader waits on).
pub fn xread<K: KvRead + ?Sized>(db: &Db<K>, c: &sc::XRead) -> Reply {
    let metas = match check_reads(db, c) {
        Ok(m) => m,
        Err(e) => return e,
    };
    if c.last_ids {
        return Reply::Array(metas.iter().map(|m| m.as_ref().map_or(MIN_ID, |m| state(m).last_id).reply()).collect());
    }
    let mut out = Vec::new();
    for (r, m) in c.streams.iter().zip(metas) {
        let Some(m) = m else { continue };
        let after = match sc::ReadKind::try_from(r.kind) {
            Ok(sc::ReadKind::Last) => state(&m).last_id,
            _ => r.after.unwrap_or_default(),
        };
        let Some(start) = after.incr() else { continue };
        let entries = range(db, &r.key, &m, start, MAX_ID, false, c.count.filter(|&n| n > 0));
        if !entries.is_empty() {
            let entries = entries.into_iter().map(|(id, v)| entry_reply(id, &v)).collect();
            out.push((Reply::Bulk(r.key.clone()), Reply::Array(entries)));
        }
    }
    if out.is_empty() {
        Reply::NilArray
    } else {
        Reply::PairMap(out)
    }
}
