//! SORT and SORT_RO over a list, set or sorted set: by the elements or by
//! weights looked up through a pattern, numerically or ALPHA (bytes, as
//! strcmp in the C locale), with LIMIT, GET patterns and STORE, following
//! Redis 7.0's sortCommandGeneric step by step.

use super::db::{Apply, Db};
use super::{list, set, zset};
use crate::command as c;
use crate::meta::DataType;
use crate::num::{c_string, parse_sort_weight};
use crate::reply::{err, Reply};
use crate::store::KvRead;
use bytes::Bytes;
use std::cmp::Ordering;

/// What a pattern names for element `elem`: `#` is the element itself;
/// else the `*` is replaced by it and the key read (a string), or with
/// `->field` the field of a hash. None when there is no `*`, no such key,
/// or it holds another type.
fn lookup<K: KvRead + ?Sized>(db: &Db<K>, pattern: &[u8], elem: &Bytes) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(elem.clone());
    }
    let pattern = c_string(pattern);
    let star = pattern.iter().position(|&b| b == b'*')?;
    let rest = &pattern[star + 1..];
    let (suffix, field) = match rest.windows(2).position(|w| w == b"->") {
        Some(f) if f + 2 < rest.len() => (&rest[..f], Some(&rest[f + 2..])),
        _ => (rest, None),
    };
    let key = [&pattern[..star], elem.as_ref(), suffix].concat();
    let m = db.meta(&key)?;
    match field {
        Some(f) if m.ty == DataType::Hash => db.elem(&key, &m, f).map(Bytes::from),
        None if m.ty == DataType::String => Some(Bytes::from(m.payload)),
        _ => None,
    }
}

/// Redis' compareStringObjects (binary) and strcoll in the C locale (the
/// strings as C sees them, up to a NUL).
fn binary(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

fn collate(a: &[u8], b: &[u8]) -> Ordering {
    c_string(a).cmp(c_string(b))
}

/// Whether the partition holds the whole keyspace: only then may BY and GET
/// patterns name keys of any slot (Redis Cluster refuses them).
fn whole_keyspace<K: KvRead + ?Sized>(db: &Db<K>) -> bool {
    db.slots == (0, meta::slot::SLOTS as u32)
}

/// The rows SORT answers (or stores): each element, or each GET's value.
fn rows<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::Sort) -> Result<Vec<Option<Bytes>>, Reply> {
    let pattern_by = cmd.by.as_ref().filter(|b| c_string(b).contains(&b'*'));
    if !whole_keyspace(db) {
        if pattern_by.is_some() {
            return Err(Reply::error("ERR BY option of SORT denied in Cluster mode."));
        }
        if !cmd.get.is_empty() {
            return Err(Reply::error("ERR GET option of SORT denied in Cluster mode."));
        }
    }
    // BY without a `*` means: do not sort.
    let mut dont_sort = cmd.no_sort;
    let (mut alpha, mut by) = (cmd.alpha, pattern_by);
    let (ty, mut elems): (Option<DataType>, Vec<Bytes>) = match db.meta(&cmd.key) {
        None => (None, vec![]),
        Some(m) => match m.ty {
            DataType::List => (Some(m.ty), list::all(db, &cmd.key, &m)),
            DataType::Set => (Some(m.ty), set::members(db, &cmd.key, &m)),
            DataType::ZSet => (Some(m.ty), zset::input(db, &cmd.key)?.into_iter().map(|(e, _)| e).collect()),
            _ => return Err(Reply::error(err::WRONGTYPE)),
        },
    };
    // A set has no order of its own: stored, or read by a script, it is
    // sorted ALPHA instead (Redis' sortCommandGeneric).
    if dont_sort && ty == Some(DataType::Set) && (cmd.store.is_some() || cmd.in_script) {
        (dont_sort, alpha, by) = (false, true, None);
    }
    let n = elems.len() as i64;
    let mut start = cmd.offset.unwrap_or(0).max(0);
    let count = cmd.count.unwrap_or(-1);
    let mut end = if count < 0 { n - 1 } else { start.saturating_add(count) - 1 };
    if start >= n {
        (start, end) = (n - 1, n - 2);
    }
    end = end.min(n - 1);
    if dont_sort {
        // Lists and sorted sets keep their order, DESC walking it backwards.
        if cmd.desc && ty != Some(DataType::Set) {
            elems.reverse();
        }
    } else {
        elems = sorted(db, elems, by.map(|b| b.as_ref()), alpha, cmd.desc, cmd.store.is_some())?;
    }
    let picked = if end >= start { &elems[start as usize..=end as usize] } else { &[][..] };
    Ok(picked
        .iter()
        .flat_map(|e| {
            if cmd.get.is_empty() {
                vec![Some(e.clone())]
            } else {
                cmd.get.iter().map(|g| lookup(db, g, e)).collect()
            }
        })
        .collect())
}

fn sorted<K: KvRead + ?Sized>(
    db: &Db<K>,
    elems: Vec<Bytes>,
    by: Option<&[u8]>,
    alpha: bool,
    desc: bool,
    store: bool,
) -> Result<Vec<Bytes>, Reply> {
    // Each element with what it sorts by: a weight (numeric) or the looked
    // up value (ALPHA with BY; None when missing).
    let mut keyed: Vec<(Bytes, f64, Option<Bytes>)> = Vec::with_capacity(elems.len());
    let mut bad_weight = false;
    for e in elems {
        let weight = match by {
            Some(p) => lookup(db, p, &e),
            None => Some(e.clone()),
        };
        let (score, cmp) = if alpha {
            (0.0, if by.is_some() { weight } else { None })
        } else {
            // A missing weight counts as 0.
            let s = match &weight {
                None => 0.0,
                Some(w) => parse_sort_weight(w).unwrap_or_else(|| {
                    bad_weight = true;
                    0.0
                }),
            };
            (s, None)
        };
        keyed.push((e, score, cmp));
    }
    if bad_weight {
        return Err(Reply::error("ERR One or more scores can't be converted into double"));
    }
    // Stable, as glibc's qsort (a merge sort) that Redis calls.
    keyed.sort_by(|(ea, sa, ca), (eb, sb, cb)| {
        let ord = if !alpha {
            sa.partial_cmp(sb).unwrap_or(Ordering::Equal).then_with(|| binary(ea, eb))
        } else if by.is_some() {
            match (ca, cb) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) if store => binary(a, b),
                (Some(a), Some(b)) => collate(a, b),
            }
        } else if store {
            binary(ea, eb)
        } else {
            collate(ea, eb)
        };
        if desc {
            ord.reverse()
        } else {
            ord
        }
    });
    Ok(keyed.into_iter().map(|(e, _, _)| e).collect())
}

pub fn sort_read<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::Sort) -> Reply {
    match rows(db, cmd) {
        Err(e) => e,
        Ok(rows) => Reply::Array(rows.into_iter().map(|r| r.map_or(Reply::Nil, Reply::Bulk)).collect()),
    }
}

/// SORT ... STORE: the rows as a list (a missing GET value as an empty
/// string); no rows removes the destination.
pub fn sort_store(a: &mut Apply, cmd: &c::Sort) -> Reply {
    let rows = match rows(&a.db(), cmd) {
        Err(e) => return e,
        Ok(r) => r,
    };
    let values: Vec<Bytes> = rows.into_iter().map(Option::unwrap_or_default).collect();
    let dst = cmd.store.clone().expect("a store command");
    list::store(a, &dst, &values, "sortstore");
    Reply::Int(values.len() as i64)
}
