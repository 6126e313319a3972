//! Parsing the GEO family, with Redis 7.0's checks and messages. GEOADD
//! becomes the ZADD Redis turns it into; the searches become a
//! [`GeoSearch`] that carries the errors Redis reports only after its key
//! lookups (see `node::geo_cmds`).

use bytes::Bytes;
use node::coll_cmds::{ScoreMember, ZAdd};
use node::geo::{self, LAT_MAX, LAT_MIN, LON_MAX, LON_MIN};
use node::geo_cmds::{GeoFrom, GeoMembers, GeoReport, GeoSearch, GeoSort};
use node::num::{parse_f64, parse_i64};
use node::reply::err;
use node::{Cmd, Reply};

fn upper(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_uppercase()
}

/// A longitude and latitude argument pair, inside the valid ranges.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), String> {
    let lon = parse_f64(lon).ok_or(err::NOT_FLOAT)?;
    let lat = parse_f64(lat).ok_or(err::NOT_FLOAT)?;
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"));
    }
    Ok((lon, lat))
}

/// Metres per unit.
fn unit(u: &[u8]) -> Result<f64, String> {
    match upper(u).as_str() {
        "M" => Ok(1.0),
        "KM" => Ok(1000.0),
        "FT" => Ok(0.3048),
        "MI" => Ok(1609.34),
        _ => Err("ERR unsupported unit provided. please use M, KM, FT, MI".into()),
    }
}

/// `radius unit`: (radius, metres per unit).
fn radius(args: &[Bytes]) -> Result<(f64, f64), String> {
    let r = parse_f64(&args[0]).ok_or("ERR need numeric radius")?;
    if r < 0.0 {
        return Err("ERR radius cannot be negative".into());
    }
    Ok((r, unit(&args[1])?))
}

/// `width height unit`: (width, height, metres per unit).
fn box_size(args: &[Bytes]) -> Result<(f64, f64, f64), String> {
    let w = parse_f64(&args[0]).ok_or("ERR need numeric width")?;
    let h = parse_f64(&args[1]).ok_or("ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err("ERR height or width cannot be negative".into());
    }
    Ok((w, h, unit(&args[2])?))
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]
pub fn geoadd(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut c = ZAdd { key: argv[1].clone(), ..Default::default() };
    let mut i = 2;
    while i < argv.len() {
        match upper(&argv[i]).as_str() {
            "NX" => c.nx = true,
            "XX" => c.xx = true,
            "CH" => c.ch = true,
            _ => break,
        }
        i += 1;
    }
    if !(argv.len() - i).is_multiple_of(3) || (c.nx && c.xx) {
        return Err(Reply::error(err::SYNTAX));
    }
    for t in argv[i..].chunks(3) {
        let (lon, lat) = lon_lat(&t[0], &t[1]).map_err(Reply::error)?;
        c.pairs.push(ScoreMember { score: Some(geo::score_of(lon, lat)), member: t[2].clone() });
    }
    // ZADD's own check, for a GEOADD of options only.
    if c.pairs.is_empty() {
        return Err(Reply::error(err::SYNTAX));
    }
    Ok(Cmd::ZAdd(c))
}

fn members(argv: &[Bytes], report: GeoReport) -> Cmd {
    Cmd::GeoMembers(GeoMembers { key: argv[1].clone(), members: argv[2..].to_vec(), report: report as i32, unit: 1.0 })
}

pub fn geopos(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(members(argv, GeoReport::Position))
}

pub fn geohash(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(members(argv, GeoReport::Hash))
}

/// GEODIST key member1 member2 [unit]
pub fn geodist(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let to_meters = match argv.len() {
        4 => 1.0,
        5 => unit(&argv[4]).map_err(Reply::error)?,
        _ => return Err(Reply::error(err::SYNTAX)),
    };
    Ok(Cmd::GeoMembers(GeoMembers {
        key: argv[1].clone(),
        members: argv[2..4].to_vec(),
        report: GeoReport::Distance as i32,
        unit: to_meters,
    }))
}

pub fn georadius(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(search(argv, GeoFrom::Coordinates, true))
}

pub fn georadius_ro(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(search(argv, GeoFrom::Coordinates, false))
}

pub fn georadiusbymember(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(search(argv, GeoFrom::Member, true))
}

pub fn georadiusbymember_ro(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(search(argv, GeoFrom::Member, false))
}

pub fn geosearch(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(search(argv, GeoFrom::Options, false))
}

/// GEOSEARCHSTORE destination source ...
pub fn geosearchstore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(search(argv, GeoFrom::Options, true))
}

/// Where COMMAND GETKEYS finds the keys of GEORADIUS and
/// GEORADIUSBYMEMBER: the source, and the word after the first STORE and
/// after the first STOREDIST past the fixed arguments, as Redis' key specs
/// search them (both, though only the last one given is written).
pub fn key_positions(argv: &[Bytes]) -> Vec<usize> {
    let fixed = if argv[0].eq_ignore_ascii_case(b"georadius") { 6 } else { 5 };
    let mut keys = vec![1];
    for word in [&b"STORE"[..], b"STOREDIST"] {
        if let Some(i) = (fixed..argv.len() - 1).find(|&i| argv[i].eq_ignore_ascii_case(word)) {
            keys.push(i + 1);
        }
    }
    keys
}

/// Every search form (Redis' `georadiusGeneric`). `may_store`: STORE and
/// STOREDIST are options of GEORADIUS and GEORADIUSBYMEMBER; for GEOSEARCH
/// it means GEOSEARCHSTORE.
fn search(argv: &[Bytes], from: GeoFrom, may_store: bool) -> Cmd {
    let options_form = from == GeoFrom::Options;
    let store_form = options_form && may_store;
    let mut c = GeoSearch {
        key: argv[if store_form { 2 } else { 1 }].clone(),
        from: from as i32,
        store: store_form.then(|| argv[1].clone()),
        ..Default::default()
    };
    let base = match from {
        GeoFrom::Coordinates => {
            let centre = lon_lat(&argv[2], &argv[3]).and_then(|p| Ok((p, radius(&argv[4..6])?)));
            match centre {
                Ok(((lon, lat), (r, u))) => (c.lon, c.lat, c.radius, c.unit) = (lon, lat, Some(r), u),
                // Redis stops here (after the type check).
                Err(e) => {
                    c.centre_error = Some(e);
                    return Cmd::GeoSearch(c);
                }
            }
            6
        }
        GeoFrom::Member => {
            c.from_members.push(argv[2].clone());
            // Redis reads the radius only when the key exists, and goes on
            // to the options either way.
            match radius(&argv[3..5]) {
                Ok((r, u)) => (c.radius, c.unit) = (Some(r), u),
                Err(e) => c.centre_error = Some(e),
            }
            5
        }
        GeoFrom::Options => {
            if store_form {
                3
            } else {
                2
            }
        }
    };
    if let Err(e) = options(&mut c, argv, base, may_store) {
        c.error = Some(e);
    }
    Cmd::GeoSearch(c)
}

/// The options after `base`, then their combination, as Redis checks them.
fn options(c: &mut GeoSearch, argv: &[Bytes], base: usize, may_store: bool) -> Result<(), String> {
    let options_form = c.from == GeoFrom::Options as i32;
    let rest = &argv[base..];
    let n = rest.len();
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) = (false, false, false, false);
    let mut i = 0;
    while i < n {
        match upper(&rest[i]).as_str() {
            "WITHDIST" => c.with_dist = true,
            "WITHHASH" => c.with_hash = true,
            "WITHCOORD" => c.with_coord = true,
            "ANY" => c.any = true,
            "ASC" => c.sort = GeoSort::Asc as i32,
            "DESC" => c.sort = GeoSort::Desc as i32,
            "COUNT" if i + 1 < n => {
                let count = parse_i64(&rest[i + 1]).ok_or(err::NOT_INTEGER)?;
                if count <= 0 {
                    return Err("ERR COUNT must be > 0".into());
                }
                c.count = count as u64;
                i += 1;
            }
            opt @ ("STORE" | "STOREDIST") if i + 1 < n && may_store && !options_form => {
                c.store = Some(rest[i + 1].clone());
                c.store_dist = opt == "STOREDIST";
                i += 1;
            }
            "STOREDIST" if options_form && may_store => c.store_dist = true,
            "FROMMEMBER" if i + 1 < n && options_form && !from_lonlat => {
                c.from_members.push(rest[i + 1].clone());
                from_member = true;
                i += 1;
            }
            "FROMLONLAT" if i + 2 < n && options_form && !from_member => {
                (c.lon, c.lat) = lon_lat(&rest[i + 1], &rest[i + 2])?;
                from_lonlat = true;
                i += 2;
            }
            "BYRADIUS" if i + 2 < n && options_form && !by_box => {
                let (r, u) = radius(&rest[i + 1..i + 3])?;
                (c.radius, c.unit) = (Some(r), u);
                by_radius = true;
                i += 2;
            }
            "BYBOX" if i + 3 < n && options_form && !by_radius => {
                let (w, h, u) = box_size(&rest[i + 1..i + 4])?;
                (c.width, c.height, c.unit) = (w, h, u);
                by_box = true;
                i += 3;
            }
            _ => return Err(err::SYNTAX.into()),
        }
        i += 1;
    }
    if c.store.is_some() && (c.with_dist || c.with_hash || c.with_coord) {
        let what = if options_form { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(format!("ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"));
    }
    let name = String::from_utf8_lossy(&argv[0]);
    if options_form && !(from_member || from_lonlat) {
        return Err(format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"));
    }
    if options_form && !(by_radius || by_box) {
        return Err(format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"));
    }
    if c.any && c.count == 0 {
        return Err("ERR the ANY argument requires COUNT argument".into());
    }
    // COUNT keeps the nearest: it sorts unless ANY takes the first found.
    if c.count != 0 && c.sort == GeoSort::None as i32 && !c.any {
        c.sort = GeoSort::Asc as i32;
    }
    Ok(())
}
