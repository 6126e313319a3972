//! The GEO family on sorted sets whose scores are geohashes (see
//! [`crate::geo`]): positions, distances and hashes of members, and
//! searches by radius or box, replied or stored as Redis 7.0 does.

use super::db::{Apply, Db};
use super::zset;
use crate::geo::{self, Shape, ShapeKind};
use crate::geo_cmds::{GeoFrom, GeoMembers, GeoReport, GeoSearch, GeoSort};
use crate::meta::Meta;
use crate::pqsort::pqsort;
use crate::reply::Reply;
use crate::store::KvRead;
use bytes::Bytes;
use std::cmp::Ordering;

/// GEOPOS, GEOHASH, GEODIST.
pub fn members<K: KvRead + ?Sized>(db: &Db<K>, c: &GeoMembers) -> Reply {
    let m = match zset::zset(db, &c.key) {
        Err(e) => return e,
        Ok(m) => m,
    };
    let score = |member: &Bytes| m.as_ref().and_then(|m| zset::score_of(db, &c.key, m, member));
    match GeoReport::try_from(c.report).unwrap_or(GeoReport::Position) {
        GeoReport::Position => Reply::Array(
            c.members
                .iter()
                .map(|x| match score(x) {
                    Some(s) => {
                        let (lon, lat) = geo::decode_score(s);
                        Reply::Array(vec![Reply::HumanDouble(lon), Reply::HumanDouble(lat)])
                    }
                    None => Reply::NilArray,
                })
                .collect(),
        ),
        GeoReport::Hash => Reply::Array(
            c.members.iter().map(|x| score(x).map_or(Reply::Nil, |s| Reply::bulk(geo::geohash_string(s)))).collect(),
        ),
        GeoReport::Distance => match (score(&c.members[0]), score(&c.members[1])) {
            (Some(a), Some(b)) => {
                let (lon1, lat1) = geo::decode_score(a);
                let (lon2, lat2) = geo::decode_score(b);
                Reply::bulk(geo::format_distance(geo::distance(lon1, lat1, lon2, lat2) / c.unit))
            }
            _ => Reply::Nil,
        },
    }
}

/// A member a search found.
struct Found {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    /// From the centre, in metres.
    dist: f64,
}

/// What a search found, in reply order (at most COUNT), or the reply it
/// ends with before searching (an argument error, or nothing to search).
fn find<K: KvRead + ?Sized>(db: &Db<K>, c: &GeoSearch) -> Result<(Vec<Found>, f64), Reply> {
    let m = zset::zset(db, &c.key)?;
    let from = GeoFrom::try_from(c.from).unwrap_or(GeoFrom::Options);
    if let (GeoFrom::Coordinates, Some(e)) = (from, &c.centre_error) {
        return Err(Reply::error(e.clone()));
    }
    let (mut lon, mut lat) = (c.lon, c.lat);
    if let Some(m) = &m {
        for member in &c.from_members {
            let Some(s) = zset::score_of(db, &c.key, m, member) else {
                return Err(Reply::error("ERR could not decode requested zset member"));
            };
            (lon, lat) = geo::decode_score(s);
        }
        if let (GeoFrom::Member, Some(e)) = (from, &c.centre_error) {
            return Err(Reply::error(e.clone()));
        }
    }
    if let Some(e) = &c.error {
        return Err(Reply::error(e.clone()));
    }
    let Some(m) = m else {
        return Ok((vec![], c.unit));
    };
    let kind = match c.radius {
        Some(r) => ShapeKind::Radius(r),
        None => ShapeKind::Box { width: c.width, height: c.height },
    };
    let shape = Shape { lon, lat, conversion: c.unit, kind };
    let mut found = within(db, &c.key, &m, &shape, if c.any { c.count as usize } else { 0 });
    let wanted = if c.count == 0 { found.len() } else { found.len().min(c.count as usize) };
    let sort = GeoSort::try_from(c.sort).unwrap_or(GeoSort::None);
    if sort != GeoSort::None && wanted > 0 {
        let nearer = |a: &Found, b: &Found| a.dist.partial_cmp(&b.dist).unwrap_or(Ordering::Equal);
        let cmp: &dyn Fn(&Found, &Found) -> Ordering =
            if sort == GeoSort::Asc { &nearer } else { &|a: &Found, b: &Found| nearer(b, a) };
        // Redis sorts everything with the C library's qsort (glibc's is a
        // stable merge sort), or, to keep fewer, with its own partial
        // quicksort, whose order of ties is its own.
        if wanted == found.len() {
            found.sort_by(cmp);
        } else {
            pqsort(&mut found, cmp, 0, wanted - 1);
        }
    }
    found.truncate(wanted);
    Ok((found, c.unit))
}

/// The members inside the shape, box by box in Redis' order, each box in
/// score order; with `limit` (ANY), the first `limit` found.
fn within<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, shape: &Shape, limit: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let full = |found: &Vec<Found>| limit > 0 && found.len() >= limit;
    for b in geo::boxes_to_read(shape) {
        if full(&found) {
            break;
        }
        zset::walk_scores(db, key, m, b.score_range(), &mut |member, score| {
            if let Some((lon, lat, dist)) = geo::within(shape, score) {
                found.push(Found { member: Bytes::copy_from_slice(member), score, lon, lat, dist });
            }
            !full(&found)
        });
    }
    found
}

/// GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCH (and the _RO forms).
pub fn search<K: KvRead + ?Sized>(db: &Db<K>, c: &GeoSearch) -> Reply {
    let (found, unit) = match find(db, c) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let with = c.with_dist || c.with_hash || c.with_coord;
    Reply::Array(
        found
            .into_iter()
            .map(|f| {
                if !with {
                    return Reply::Bulk(f.member);
                }
                let mut item = vec![Reply::Bulk(f.member)];
                if c.with_dist {
                    item.push(Reply::bulk(geo::format_distance(f.dist / unit)));
                }
                if c.with_hash {
                    // C's (long long) of the score: truncation.
                    item.push(Reply::Int(f.score as i64));
                }
                if c.with_coord {
                    item.push(Reply::Array(vec![Reply::HumanDouble(f.lon), Reply::HumanDouble(f.lat)]));
                }
                Reply::Array(item)
            })
            .collect(),
    )
}

/// The same with STORE, STOREDIST or GEOSEARCHSTORE: the members found
/// (with their geohash scores, or their distances) replace the destination;
/// nothing found deletes it.
pub fn search_store(a: &mut Apply, c: &GeoSearch) -> Reply {
    let (found, unit) = match find(&a.db(), c) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let dst = c.store.clone().expect("a store command");
    let mut seen = std::collections::HashSet::new();
    let items = found
        .into_iter()
        .filter(|f| seen.insert(f.member.clone()))
        .map(|f| (f.member, if c.store_dist { f.dist / unit } else { f.score }))
        .collect();
    let event = if c.from == GeoFrom::Options as i32 { "geosearchstore" } else { "georadiusstore" };
    zset::store(a, &dst, items, event)
}
