//! The string family.

use super::chunks::InPlace;
use super::db::{Apply, Db};
use crate::command::{self as c, SetCond};
use crate::ldouble::F80;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::num::{parse_i64, parse_i64_arg};
use crate::reply::{err, Reply};
use crate::store::KvRead;
use bytes::Bytes;

/// Redis' proto-max-bulk-len: no string may grow beyond it.
pub const MAX_STRING: u64 = 512 << 20;

fn try_reply(r: Result<Reply, Reply>) -> Reply {
    r.unwrap_or_else(|e| e)
}

pub fn get<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Reply {
    try_reply(db.string(key).map(Reply::bulk_or_nil))
}

pub fn mget<K: KvRead + ?Sized>(db: &Db<K>, keys: &[Bytes]) -> Reply {
    Reply::Array(keys.iter().map(|k| Reply::bulk_or_nil(db.string(k).ok().flatten())).collect())
}

pub fn strlen<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Reply {
    // (No bytes wanted: a long string's chunks are not read.)
    try_reply(db.string_part(key, |_| 0..0).map(|v| Reply::Int(v.map_or(0, |(len, _)| len as i64))))
}

/// GETRANGE/SUBSTR with Redis' clamping of negative and out-of-range ends.
pub fn getrange<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::GetRange) -> Reply {
    // The bytes Redis' clamping selects in a string of `len` bytes.
    let range = |len: usize| {
        let (mut start, mut end) = (cmd.start, cmd.end);
        if start < 0 && end < 0 && start > end {
            return 0..0;
        }
        let len = len as i64;
        if start < 0 {
            start += len;
        }
        if end < 0 {
            end += len;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= len {
            end = len - 1;
        }
        if start > end || len == 0 {
            return 0..0;
        }
        start as usize..end as usize + 1
    };
    match db.string_part(&cmd.key, range) {
        Ok(v) => Reply::bulk(Bytes::from(v.map(|(_, part)| part).unwrap_or_default())),
        Err(e) => e,
    }
}

/// The expire-at of a new value: kept, set, or none.
fn new_expiry(a: &Apply, expiry: Option<c::Expiry>, keep_ttl: bool, old_live: Option<&Meta>) -> Option<i64> {
    match expiry {
        Some(e) => Some(e.at(a.now)),
        None if keep_ttl => old_live.map(|m| m.expire_at as i64).filter(|at| *at != 0),
        None => None,
    }
}

/// How Redis would have encoded a string after the command that wrote it
/// (kept in the metadata's count field, for OBJECT ENCODING).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// tryObjectEncoding: int, embstr or raw by value (SET, MSET, INCR...).
    ByValue = 0,
    /// Modified in place (APPEND to an existing key, SETRANGE).
    Raw = 1,
    /// A new string object: embstr or raw by length, never int (INCRBYFLOAT).
    String = 2,
    /// COPY of a ByValue string: encoded alike, but a copy of its own, never
    /// one of Redis' shared integers (OBJECT REFCOUNT 1).
    Copied = 3,
}

/// Writes a string value, or removes the key when its expiry is already past
/// (Redis sets and immediately expires it).
pub fn write_string(
    a: &mut Apply,
    key: &[u8],
    value: Vec<u8>,
    expire_at: Option<i64>,
    enc: Encoding,
    old: Option<&Meta>,
) {
    if let Some(at) = expire_at {
        if at <= a.now as i64 {
            // Redis adds the key (a new one if nothing lived there) and it
            // expires at once.
            match old {
                Some(o) if !o.expired(a.now) => {}
                Some(_) => {
                    a.event(notify::EXPIRED, "expired", key);
                    a.event(notify::NEW, "new", key);
                }
                None => a.event(notify::NEW, "new", key),
            }
            match old {
                Some(o) => a.remove_key(key, o),
                // A change WATCH sees.
                None => a.note_removal(key),
            }
            return;
        }
    }
    let mut m = Meta::string(value, 0);
    m.expire_at = expire_at.map_or(0, |at| at as u64);
    m.count = enc as u64;
    a.put_meta(key, m, old);
}

pub fn set(a: &mut Apply, cmd: &c::Set) -> Reply {
    let old = a.db().meta_raw(&cmd.key);
    let live = old.clone().filter(|m| !m.expired(a.now));
    let old_value = if cmd.get {
        match &live {
            Some(m) if m.ty != DataType::String => return Reply::error(err::WRONGTYPE),
            Some(m) => Reply::bulk(m.payload.clone()),
            None => Reply::Nil,
        }
    } else {
        Reply::Nil
    };
    let refused = match SetCond::try_from(cmd.cond).unwrap_or(SetCond::Always) {
        SetCond::Nx => live.is_some(),
        SetCond::Xx => live.is_none(),
        SetCond::Always => false,
    };
    if refused {
        return if cmd.int_reply { Reply::Int(0) } else { old_value };
    }
    let at = new_expiry(a, cmd.expiry, cmd.keep_ttl, live.as_ref());
    write_string(a, &cmd.key, cmd.value.to_vec(), at, Encoding::ByValue, old.as_ref());
    a.event(notify::STRING, "set", &cmd.key);
    if cmd.expiry.is_some() {
        a.event(notify::GENERIC, "expire", &cmd.key);
    }
    if cmd.int_reply {
        Reply::Int(1)
    } else if cmd.get {
        old_value
    } else {
        Reply::Ok
    }
}

pub fn mset(a: &mut Apply, cmd: &c::MSet) -> Reply {
    if cmd.nx && cmd.pairs.iter().any(|p| a.db().meta(&p.key).is_some()) {
        return Reply::Int(0);
    }
    for p in &cmd.pairs {
        let old = a.db().meta_raw(&p.key);
        write_string(a, &p.key, p.value.to_vec(), None, Encoding::ByValue, old.as_ref());
        a.event(notify::STRING, "set", &p.key);
    }
    if cmd.nx {
        Reply::Int(1)
    } else {
        Reply::Ok
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Modify {
    Append,
    SetRange,
    IncrBy,
    IncrByFloat,
}

impl Modify {
    /// The keyspace event it fires.
    fn event(self) -> &'static str {
        match self {
            Modify::Append => "append",
            Modify::SetRange => "setrange",
            Modify::IncrBy => "incrby",
            Modify::IncrByFloat => "incrbyfloat",
        }
    }
}

/// APPEND or SETRANGE (`kind`) of `value` at `offset(length)` into a live
/// string kept in chunks: only the chunks it covers are read and written,
/// with what [`modify`] would write (a signalled change, the encoding raw,
/// the TTL kept). None where the general path must run.
fn write_in_chunks(
    a: &mut Apply,
    key: &[u8],
    offset: impl FnOnce(usize) -> u64,
    value: &[u8],
    kind: Modify,
) -> Option<Reply> {
    let mut at = InPlace::open(a, key)?;
    let offset = offset(at.len);
    if value.is_empty() {
        // Nothing to write: Redis answers the current length.
        return Some(Reply::Int(at.len as i64));
    }
    if offset + value.len() as u64 > MAX_STRING {
        return Some(Reply::error(err::STRING_TOO_LONG));
    }
    at.write_at(a, key, offset as usize, value);
    let len = at.len as i64;
    finish_in_chunks(a, key, at, Some(kind.event()), true);
    Some(Reply::Int(len))
}

/// Ends an in-place write of a long string ([`InPlace`]) as
/// [`finish_in_place`] ends the others: a signalled change (`event`) gets a
/// new mod index, counts as a change of the key (WATCH, tracking) and fires
/// `event`; otherwise the record is rewritten unsignalled, and only if
/// chunks were `written` or its encoding was not yet raw.
pub fn finish_in_chunks(a: &mut Apply, key: &[u8], at: InPlace, event: Option<&str>, written: bool) {
    match event {
        Some(event) => {
            at.finish(a, key, Encoding::Raw as u64, a.index);
            a.changed.push(crate::changes::Changed::Key(Bytes::copy_from_slice(key)));
            a.event(notify::STRING, event, key);
        }
        None if written || at.encoding() != Encoding::Raw as u64 => {
            let mod_index = at.stored.mod_index;
            at.finish(a, key, Encoding::Raw as u64, mod_index);
        }
        None => {}
    }
}

/// Changes a string in place (APPEND, SETRANGE, INCR...), keeping its TTL.
/// `f` gets the current value (None if absent) and returns the new value and
/// the reply, or an error reply.
fn modify(
    a: &mut Apply,
    key: &[u8],
    enc: Encoding,
    kind: Modify,
    f: impl FnOnce(Option<&[u8]>) -> Result<Option<(Vec<u8>, Reply)>, Reply>,
) -> Reply {
    let old = a.db().meta_raw(key);
    // (Borrowed, not cloned: a long string is large.)
    let live = old.as_ref().filter(|m| !m.expired(a.now));
    if let Some(m) = live {
        if m.ty != DataType::String {
            return Reply::error(err::WRONGTYPE);
        }
    }
    match f(live.map(|m| m.payload.as_slice())) {
        Err(e) => e,
        Ok(None) => Reply::Int(live.map_or(0, |m| m.payload.len() as i64)),
        Ok(Some((value, reply))) => {
            let at = live.map(|m| m.expire_at as i64).filter(|at| *at != 0);
            // Only an existing string is changed in place.
            let enc = if enc == Encoding::Raw && live.is_none() && !matches!(kind, Modify::SetRange) {
                Encoding::ByValue
            } else {
                enc
            };
            write_string(a, key, value, at, enc, old.as_ref());
            a.event(notify::STRING, kind.event(), key);
            reply
        }
    }
}

/// LCS: the longest common subsequence of two strings, by Redis' dynamic
/// programming table (and its limit on the table's size), with its replies:
/// the subsequence, its length (LEN), or the matching ranges (IDX).
pub fn lcs<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::Lcs) -> Reply {
    let (Ok(a), Ok(b)) = (db.string(&cmd.a), db.string(&cmd.b)) else {
        return Reply::error("ERR The specified keys must contain string values");
    };
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let (mut len, mut idx, mut with_len, mut min_len) = (false, false, false, 0i64);
    let mut j = 0;
    while j < cmd.args.len() {
        match cmd.args[j].to_ascii_uppercase().as_slice() {
            b"IDX" => idx = true,
            b"LEN" => len = true,
            b"WITHMATCHLEN" => with_len = true,
            b"MINMATCHLEN" if j + 1 < cmd.args.len() => {
                match parse_i64_arg(&cmd.args[j + 1]) {
                    Ok(n) => min_len = n.max(0),
                    Err(e) => return e,
                }
                j += 1;
            }
            _ => return Reply::error(err::SYNTAX),
        }
        j += 1;
    }
    if len && idx {
        return Reply::error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (n, m) = (a.len(), b.len());
    if (n as u64 + 1) * (m as u64 + 1) * 4 > MAX_STRING {
        return Reply::error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    // table[i * (m + 1) + j]: the LCS length of a[..i] and b[..j].
    let w = m + 1;
    let mut table = vec![0u32; (n + 1) * w];
    for i in 1..=n {
        for j in 1..=m {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[n * w + m];
    if len {
        return Reply::Int(total as i64);
    }
    // Walk back from the end, collecting the subsequence and, for IDX, the
    // contiguous ranges (last first, as Redis emits them).
    let mut out = vec![0u8; total as usize];
    let mut k = total as usize;
    let mut ranges = Vec::new();
    let mut cur: Option<(usize, usize, usize, usize)> = None; // a start, a end, b start, b end
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            out[k - 1] = a[i - 1];
            k -= 1;
            cur = match cur {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                Some((sa, ea, sb, eb)) if sa == i && sb == j => Some((sa - 1, ea, sb - 1, eb)),
                Some(r) => {
                    emit = true;
                    Some(r)
                }
            };
            if cur.is_some_and(|(sa, _, sb, _)| sa == 0 || sb == 0) {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = cur.is_some();
        }
        if emit {
            if let Some((sa, ea, sb, eb)) = cur.take() {
                let match_len = ea - sa + 1;
                if min_len == 0 || match_len as i64 >= min_len {
                    ranges.push((sa, ea, sb, eb, match_len));
                }
            }
        }
    }
    if !idx {
        return Reply::bulk(out);
    }
    let pair = |s: usize, e: usize| Reply::Array(vec![Reply::Int(s as i64), Reply::Int(e as i64)]);
    let matches = ranges
        .into_iter()
        .map(|(sa, ea, sb, eb, l)| {
            let mut r = vec![pair(sa, ea), pair(sb, eb)];
            if with_len {
                r.push(Reply::Int(l as i64));
            }
            Reply::Array(r)
        })
        .collect();
    Reply::Map(vec![(Reply::bulk("matches"), Reply::Array(matches)), (Reply::bulk("len"), Reply::Int(total as i64))])
}

/// A bit command's write (SETBIT, BITFIELD): the string at `key` (new when
/// absent) grown with zero bytes to hold bit `max_bit`, then changed by
/// `f`. The key is written (created or grown) either way; WATCH fires and
/// `setbit` is announced only when Redis signals a change. Otherwise its
/// encoding becomes raw all the same, as Redis unshares the value.
///
/// `f` is told whether the string was created or grew, and says whether
/// the command changed the key (Redis' signal): SETBIT whenever it grew or
/// a bit changed; BITFIELD only when one of its writes ran and the string
/// grew or the value changed (an OVERFLOW FAIL that wrote nothing after
/// growing the string is no change).
pub fn update_bits(
    a: &mut Apply,
    key: &[u8],
    max_bit: u64,
    f: impl FnOnce(&mut Vec<u8>, bool) -> (bool, Reply),
) -> Reply {
    let old = a.db().meta_raw(key);
    // (Borrowed, not cloned: a long string is large.)
    let live = old.as_ref().filter(|m| !m.expired(a.now));
    if live.is_some_and(|m| m.ty != DataType::String) {
        return Reply::error(err::WRONGTYPE);
    }
    let mut v = live.map_or_else(Vec::new, |m| m.payload.clone());
    let need = (max_bit >> 3) as usize + 1;
    let grew = v.len() < need;
    if grew {
        v.resize(need, 0);
    }
    let (signalled, reply) = f(&mut v, grew);
    finish_in_place(a, key, v, signalled, old.as_ref(), live);
    if signalled {
        a.event(notify::STRING, "setbit", key);
    }
    reply
}

/// Stores `v` as the new value of the string at `key` that a command
/// changed in place (SETBIT, PFADD, ...): `old` is the raw record, `live`
/// the key as the command found it (None: the command created it). The
/// value keeps its expiry and becomes raw, as Redis unshares it. Unless
/// `signalled` (Redis signals the change, and WATCH fires), the record keeps
/// its mod index: Redis only unshared the value, or changed it without
/// telling anyone (a cached count, a write cut short by an error).
pub fn finish_in_place(
    a: &mut Apply,
    key: &[u8],
    v: Vec<u8>,
    signalled: bool,
    old: Option<&Meta>,
    live: Option<&Meta>,
) {
    match live {
        Some(m) if !signalled => {
            if m.count != Encoding::Raw as u64 || m.payload != v {
                let mut m = m.clone();
                m.count = Encoding::Raw as u64;
                m.payload = v;
                a.put_meta_quietly(key, &m);
            }
        }
        // Created without a signalled change: Redis adds the key without
        // touching WATCH.
        None if !signalled => {
            let mut m = Meta::string(v, 0);
            m.count = Encoding::Raw as u64;
            a.put_meta_unsignalled(key, m, old);
        }
        _ => {
            let at = live.map(|m| m.expire_at as i64).filter(|at| *at != 0);
            write_string(a, key, v, at, Encoding::Raw, old);
        }
    }
}

pub fn append(a: &mut Apply, cmd: &c::KeyValue) -> Reply {
    if let Some(reply) = write_in_chunks(a, &cmd.key, |len| len as u64, &cmd.value, Modify::Append) {
        return reply;
    }
    modify(a, &cmd.key, Encoding::Raw, Modify::Append, |old| {
        let old = old.unwrap_or_default();
        if old.len() as u64 + cmd.value.len() as u64 > MAX_STRING {
            return Err(Reply::error(err::STRING_TOO_LONG));
        }
        let mut v = old.to_vec();
        v.extend_from_slice(&cmd.value);
        let n = v.len() as i64;
        Ok(Some((v, Reply::Int(n))))
    })
}

pub fn setrange(a: &mut Apply, cmd: &c::SetRange) -> Reply {
    if let Some(reply) = write_in_chunks(a, &cmd.key, |_| cmd.offset, &cmd.value, Modify::SetRange) {
        return reply;
    }
    modify(a, &cmd.key, Encoding::Raw, Modify::SetRange, |old| {
        if cmd.value.is_empty() {
            // Nothing to write: Redis answers the current length, creates nothing.
            return Ok(None);
        }
        if cmd.offset + cmd.value.len() as u64 > MAX_STRING {
            return Err(Reply::error(err::STRING_TOO_LONG));
        }
        let mut v = old.unwrap_or_default().to_vec();
        let end = cmd.offset as usize + cmd.value.len();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[cmd.offset as usize..end].copy_from_slice(&cmd.value);
        let n = v.len() as i64;
        Ok(Some((v, Reply::Int(n))))
    })
}

pub fn incrby(a: &mut Apply, cmd: &c::IncrBy) -> Reply {
    modify(a, &cmd.key, Encoding::ByValue, Modify::IncrBy, |old| {
        let cur = match old {
            Some(v) => parse_i64_arg(v)?,
            None => 0,
        };
        let n = cur.checked_add(cmd.delta).ok_or_else(|| Reply::error(err::OVERFLOW))?;
        Ok(Some((n.to_string().into_bytes(), Reply::Int(n))))
    })
}

pub fn incrbyfloat(a: &mut Apply, cmd: &c::IncrByFloat) -> Reply {
    modify(a, &cmd.key, Encoding::String, Modify::IncrByFloat, |old| {
        let cur = match old {
            Some(v) => F80::parse(v).ok_or_else(|| Reply::error(err::NOT_FLOAT))?,
            None => F80::Zero { neg: false },
        };
        let delta = F80::parse(&cmd.delta).ok_or_else(|| Reply::error(err::NOT_FLOAT))?;
        let sum = cur.add(&delta).filter(|s| s.is_finite()).ok_or_else(|| Reply::error(err::NAN_OR_INF))?;
        let s = sum.to_human_string();
        Ok(Some((s.clone().into_bytes(), Reply::bulk(s))))
    })
}

pub fn getdel(a: &mut Apply, key: &[u8]) -> Reply {
    match a.db().meta(key) {
        None => Reply::Nil,
        Some(m) if m.ty != DataType::String => Reply::error(err::WRONGTYPE),
        Some(m) => {
            a.remove_key(key, &m);
            a.event(notify::GENERIC, "del", key);
            Reply::bulk(m.payload)
        }
    }
}

pub fn getex(a: &mut Apply, cmd: &c::GetEx) -> Reply {
    let m = match a.db().meta(&cmd.key) {
        None => return Reply::Nil,
        Some(m) if m.ty != DataType::String => return Reply::error(err::WRONGTYPE),
        Some(m) => m,
    };
    if let Some(e) = &cmd.invalid_expiry {
        return Reply::error(e.clone());
    }
    let reply = Reply::bulk(m.payload.clone());
    if let Some(e) = cmd.expiry {
        let at = e.at(a.now);
        a.set_expiry(&cmd.key, &m, Some(at));
        a.event(notify::GENERIC, if at <= a.now as i64 { "del" } else { "expire" }, &cmd.key);
    } else if cmd.persist && m.expire_at != 0 {
        a.set_expiry(&cmd.key, &m, None);
        a.event(notify::GENERIC, "persist", &cmd.key);
    }
    reply
}

/// OBJECT ENCODING of a string, as Redis would report it.
pub fn string_encoding(m: &Meta) -> &'static str {
    let by_value = m.count == Encoding::ByValue as u64 || m.count == Encoding::Copied as u64;
    let fresh = by_value || m.count == Encoding::String as u64;
    if by_value && m.payload.len() <= 20 && parse_i64(&m.payload).is_some() {
        "int"
    } else if fresh && m.payload.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}
