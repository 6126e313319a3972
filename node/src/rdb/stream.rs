//! Streams in RDB: the radix tree of listpack nodes, the stream's counters,
//! and its consumer groups with their pending entries and consumers
//! (RDB_TYPE_STREAM_LISTPACKS, _2 from Redis 7.0, _3 from 7.2).
//!
//! A node is a listpack holding a "master entry" (`count`, `deleted`, the
//! number of master fields, the fields, `0`) and then entries of `flags`,
//! `ms-diff`, `seq-diff` (from the node's key, its first ID), the fields and
//! values (only the values when flags say the fields are the master's), and
//! the entry's element count. Entries flagged deleted are skipped.

use super::compact::{self, Lp};
use super::read::Reader;
use super::DecodeError::{self, BadFormat};
use crate::stream::{StreamId, MIN_ID};
use bytes::Bytes;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;
/// Entries per node DUMP writes (Redis' stream-node-max-entries).
const NODE_ENTRIES: usize = 100;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamValue {
    /// Entries in ID order, their fields and values alternating.
    pub entries: Vec<(StreamId, Vec<Bytes>)>,
    pub last_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: Vec<GroupValue>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupValue {
    pub name: Bytes,
    pub last_id: StreamId,
    /// The entries-read counter (-1: unknown); None when the payload
    /// predates it (Redis 5 and 6), to be estimated as Redis does at load.
    pub entries_read: Option<i64>,
    pub pending: Vec<PendingValue>,
    /// Consumers by name, with their seen time.
    pub consumers: Vec<(Bytes, u64)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PendingValue {
    pub id: StreamId,
    pub time: u64,
    pub count: u64,
    pub consumer: Bytes,
}

fn int(b: &Bytes) -> Result<i64, DecodeError> {
    crate::num::parse_i64(b).ok_or(BadFormat)
}

fn id_of(raw: &[u8]) -> Result<StreamId, DecodeError> {
    if raw.len() != 16 {
        return Err(BadFormat);
    }
    StreamId::from_bytes(raw).ok_or(BadFormat)
}

/// The live entries of one node whose first ID is `master`.
fn node_entries(master: StreamId, items: &[Bytes], out: &mut Vec<(StreamId, Vec<Bytes>)>) -> Result<(), DecodeError> {
    let mut it = items.iter();
    let mut next = || it.next().ok_or(BadFormat);
    let (_count, _deleted) = (int(next()?)?, int(next()?)?);
    let n_master = usize::try_from(int(next()?)?).map_err(|_| BadFormat)?;
    let master_fields: Vec<Bytes> = (0..n_master).map(|_| next().cloned()).collect::<Result<_, _>>()?;
    if int(next()?)? != 0 {
        return Err(BadFormat);
    }
    while let Ok(flags) = next() {
        let flags = int(flags)?;
        let id =
            StreamId::new(master.ms.wrapping_add(int(next()?)? as u64), master.seq.wrapping_add(int(next()?)? as u64));
        let mut fields = Vec::new();
        if flags & FLAG_SAMEFIELDS != 0 {
            for f in &master_fields {
                fields.push(f.clone());
                fields.push(next()?.clone());
            }
        } else {
            let n = usize::try_from(int(next()?)?).map_err(|_| BadFormat)?;
            for _ in 0..n {
                fields.push(next()?.clone());
                fields.push(next()?.clone());
            }
        }
        int(next()?)?; // lp-count
        if flags & FLAG_DELETED == 0 {
            out.push((id, fields));
        }
    }
    Ok(())
}

/// Reads a stream of RDB type `ty` (15, 19 or 21).
pub fn read(r: &mut Reader, ty: u8) -> Result<StreamValue, DecodeError> {
    let v2 = ty >= super::T_STREAM_2;
    let v3 = ty >= super::T_STREAM_3;
    let mut s = StreamValue::default();
    for _ in 0..r.len()? {
        let master = id_of(&r.string()?)?;
        let blob = r.string()?;
        let items = compact::listpack(&blob, &mut r.budget)?;
        if items.is_empty() {
            return Err(BadFormat);
        }
        node_entries(master, &items, &mut s.entries)?;
    }
    if s.entries.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(BadFormat);
    }
    let _length = r.len_value()?;
    s.last_id = StreamId::new(r.len_value()?, r.len_value()?);
    if v2 {
        let _first = StreamId::new(r.len_value()?, r.len_value()?);
        s.max_deleted = StreamId::new(r.len_value()?, r.len_value()?);
        s.entries_added = r.len_value()?;
    } else {
        s.entries_added = s.entries.len() as u64;
    }
    for _ in 0..r.len()? {
        let mut g = GroupValue { name: r.string()?, ..Default::default() };
        g.last_id = StreamId::new(r.len_value()?, r.len_value()?);
        g.entries_read = if v2 { Some(r.len_value()? as i64) } else { None };
        for _ in 0..r.len()? {
            let id = id_of(r.raw(16)?)?;
            let time = r.millis()?;
            let count = r.len_value()?;
            g.pending.push(PendingValue { id, time, count, consumer: Bytes::new() });
        }
        let mut owned = vec![false; g.pending.len()];
        let at_of: std::collections::HashMap<StreamId, usize> =
            g.pending.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
        for _ in 0..r.len()? {
            let name = r.string()?;
            let seen = r.millis()?;
            if v3 {
                r.millis()?; // active time (Redis 7.2)
            }
            for _ in 0..r.len()? {
                let id = id_of(r.raw(16)?)?;
                let at = *at_of.get(&id).ok_or(BadFormat)?;
                g.pending[at].consumer = name.clone();
                owned[at] = true;
            }
            g.consumers.push((name, seen));
        }
        // Every pending entry belongs to a consumer.
        if owned.contains(&false) {
            return Err(BadFormat);
        }
        s.groups.push(g);
    }
    // Payloads from before Redis 7.0 have no read counters: estimated as
    // Redis estimates them when it loads one.
    let st = crate::exec::stream::StreamState {
        last_id: s.last_id,
        entries_added: s.entries_added,
        max_deleted: s.max_deleted,
        first_id: s.entries.first().map_or(MIN_ID, |e| e.0),
    };
    for g in &mut s.groups {
        if g.entries_read.is_none() {
            let n = s.entries.len() as u64;
            g.entries_read = Some(crate::exec::stream_group::estimate_read(&st, n, st.first_id, g.last_id));
        }
    }
    Ok(s)
}

/// A stream as the body RESTORE's raft entry carries (RDB_TYPE_STREAM_LISTPACKS_2
/// without its type byte).
pub fn to_body(s: &StreamValue) -> Bytes {
    let mut out = Vec::new();
    write(&mut out, s);
    Bytes::from(out)
}

pub fn from_body(body: &[u8]) -> Option<StreamValue> {
    read(&mut Reader::new(body), super::T_STREAM_2).ok()
}

/// Writes `s` as RDB_TYPE_STREAM_LISTPACKS_2 (after the type byte).
pub fn write(out: &mut Vec<u8>, s: &StreamValue) {
    use super::{put_len, put_string};
    let nodes: Vec<&[(StreamId, Vec<Bytes>)]> = s.entries.chunks(NODE_ENTRIES).collect();
    put_len(out, nodes.len() as u64);
    for node in nodes {
        let master = node[0].0;
        let master_fields: Vec<&Bytes> = node[0].1.iter().step_by(2).collect();
        let mut items = vec![Lp::Int(node.len() as i64), Lp::Int(0), Lp::Int(master_fields.len() as i64)];
        items.extend(master_fields.iter().map(|f| Lp::Str(f)));
        items.push(Lp::Int(0));
        for (id, fields) in node {
            let names: Vec<&Bytes> = fields.iter().step_by(2).collect();
            let same = names == master_fields;
            items.push(Lp::Int(if same { FLAG_SAMEFIELDS } else { 0 }));
            items.push(Lp::Int(id.ms.wrapping_sub(master.ms) as i64));
            items.push(Lp::Int(id.seq.wrapping_sub(master.seq) as i64));
            let n = fields.len() / 2;
            if same {
                items.extend(fields.iter().skip(1).step_by(2).map(|v| Lp::Str(v)));
            } else {
                items.push(Lp::Int(n as i64));
                items.extend(fields.iter().map(|f| Lp::Str(f)));
            }
            // The entry's element count: flags, the two diffs and the values,
            // plus the count and the field names when they are its own.
            items.push(Lp::Int((3 + n + if same { 0 } else { n + 1 }) as i64));
        }
        put_string(out, &master.to_bytes());
        put_string(out, &compact::write_listpack(&items));
    }
    put_len(out, s.entries.len() as u64);
    let first = s.entries.first().map_or(MIN_ID, |e| e.0);
    for v in [s.last_id.ms, s.last_id.seq, first.ms, first.seq, s.max_deleted.ms, s.max_deleted.seq, s.entries_added] {
        put_len(out, v);
    }
    put_len(out, s.groups.len() as u64);
    for g in &s.groups {
        put_string(out, &g.name);
        put_len(out, g.last_id.ms);
        put_len(out, g.last_id.seq);
        put_len(out, g.entries_read.unwrap_or(-1) as u64);
        put_len(out, g.pending.len() as u64);
        for p in &g.pending {
            out.extend_from_slice(&p.id.to_bytes());
            out.extend_from_slice(&(p.time as i64).to_le_bytes());
            put_len(out, p.count);
        }
        put_len(out, g.consumers.len() as u64);
        for (name, seen) in &g.consumers {
            put_string(out, name);
            out.extend_from_slice(&(*seen as i64).to_le_bytes());
            let own: Vec<&PendingValue> = g.pending.iter().filter(|p| p.consumer == *name).collect();
            put_len(out, own.len() as u64);
            for p in own {
                out.extend_from_slice(&p.id.to_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode, encode, Value};
    use super::*;

    fn sealed(body: &[u8], version: u16) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&version.to_le_bytes());
        let crc = super::super::CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn streams_round_trip() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let entries: Vec<(StreamId, Vec<Bytes>)> = (0..250u64)
            .map(|i| {
                let fields = if i % 7 == 0 { vec![b("other"), b("x")] } else { vec![b("f"), b(&i.to_string())] };
                (StreamId::new(1000 + i / 3, i % 3), fields)
            })
            .collect();
        let s = StreamValue {
            entries,
            last_id: StreamId::new(2000, 0),
            max_deleted: StreamId::new(5, 5),
            entries_added: 300,
            groups: vec![GroupValue {
                name: b("g"),
                last_id: StreamId::new(1010, 1),
                entries_read: Some(-1),
                pending: vec![PendingValue { id: StreamId::new(1001, 0), time: 77, count: 2, consumer: b("c") }],
                consumers: vec![(b("c"), 99), (b("idle"), 5)],
            }],
        };
        let v = Value::Stream(Box::new(s));
        assert_eq!(decode(&encode(&v)), Ok(v));
    }

    #[test]
    fn redis_7_2_streams_carry_an_active_time() {
        let mut body = vec![super::super::T_STREAM_3, 0, 0, 5, 1, 0, 0, 0, 0, 3, 1, 1, b'g', 5, 1, 3, 0, 1, 1, b'c'];
        body.extend_from_slice(&8i64.to_le_bytes());
        body.extend_from_slice(&9i64.to_le_bytes());
        body.push(0);
        let Ok(Value::Stream(s)) = decode(&sealed(&body, 11)) else { panic!("not a stream") };
        assert_eq!(s.last_id, StreamId::new(5, 1));
        assert_eq!(s.entries_added, 3);
        assert_eq!(s.groups[0].consumers, vec![(Bytes::from_static(b"c"), 8)]);
        assert_eq!(s.groups[0].entries_read, Some(3));
        // A pending entry no consumer owns is refused.
        let mut body = vec![super::super::T_STREAM_2, 0, 0, 5, 1, 0, 0, 0, 0, 3, 1, 1, b'g', 5, 1, 3, 1];
        body.extend_from_slice(&StreamId::new(5, 1).to_bytes());
        body.extend_from_slice(&8i64.to_le_bytes());
        body.extend_from_slice(&[1, 0]);
        assert_eq!(decode(&sealed(&body, 10)), Err(BadFormat));
    }
}
