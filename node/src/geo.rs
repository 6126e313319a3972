//! Geohash arithmetic of Redis' GEO commands, float for float.
//!
//! A position is stored as a sorted-set member whose score is a 52-bit
//! geohash: longitude and latitude each scaled to 26 bits over Redis'
//! ranges (-180..180, -85.05112878..85.05112878, the Web Mercator limits)
//! and interleaved, latitude in the even bits. Searches cover the area with
//! the geohash box of the centre and its eight neighbours, at a precision
//! chosen from the radius, and read each box as one score range.
//!
//! Every value a client sees (positions decoded from scores, distances,
//! which members a search finds and in what order) depends on the exact
//! floating-point operations, so this module does Redis' operations in
//! Redis' order (geohash.c, geohash_helper.c, geo.c of Redis 7.0). The
//! trigonometry is the C library's, as in Redis.

use std::f64::consts::PI;

/// 26 bits per coordinate: 52-bit scores, exact in a double.
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, Redis' figure.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A geohash of `step` bits per coordinate. `step` 0 with no bits marks a
/// box a search leaves out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    const NONE: Hash = Hash { bits: 0, step: 0 };

    fn is_none(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash moved to the 52-bit score scale: the first score of its box.
    pub fn align52(&self) -> u64 {
        self.bits << (52 - self.step as u32 * 2)
    }

    /// The scores of the members inside this box: `min <= score < max`.
    pub fn score_range(&self) -> (f64, f64) {
        let next = Hash { bits: self.bits.wrapping_add(1), step: self.step };
        (self.align52() as f64, next.align52() as f64)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Range {
    min: f64,
    max: f64,
}

const LON_RANGE: Range = Range { min: LON_MIN, max: LON_MAX };
const LAT_RANGE: Range = Range { min: LAT_MIN, max: LAT_MAX };

/// The box a hash stands for.
#[derive(Clone, Copy, Debug, Default)]
struct Area {
    lon: Range,
    lat: Range,
}

/// Spreads the 32 bits of `v` over the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `v` into the low 32 bits.
fn gather(v: u64) -> u64 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF
}

/// `lat` in the even bits, `lon` in the odd ones.
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// (latitude bits, longitude bits) of an interleaved hash.
fn deinterleave(h: u64) -> (u32, u32) {
    (gather(h) as u32, gather(h >> 1) as u32)
}

/// C's `(uint32_t)` of a double as the compiler does it on x86-64 for the
/// values that reach it here (0 ..= 2^26): truncation.
fn to_u32(d: f64) -> u32 {
    d as u32
}

fn encode_in(lon_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Hash {
    // Outside the supported constraints Redis leaves the hash empty.
    if !(LON_MIN..=LON_MAX).contains(&lon)
        || !(LAT_MIN..=LAT_MAX).contains(&lat)
        || lat < lat_range.min
        || lat > lat_range.max
        || lon < lon_range.min
        || lon > lon_range.max
    {
        return Hash { bits: 0, step };
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min);
    lat_offset *= (1u64 << step) as f64;
    lon_offset *= (1u64 << step) as f64;
    Hash { bits: interleave(to_u32(lat_offset), to_u32(lon_offset)), step }
}

/// The hash of a position at `step` bits per coordinate.
pub fn encode(lon: f64, lat: f64, step: u8) -> Hash {
    encode_in(LON_RANGE, LAT_RANGE, lon, lat, step)
}

/// The score GEOADD gives a position (assumed valid).
pub fn score_of(lon: f64, lat: f64) -> f64 {
    encode(lon, lat, STEP_MAX).align52() as f64
}

fn decode_in(lon_range: Range, lat_range: Range, h: Hash) -> Option<Area> {
    if h.is_none() {
        return None;
    }
    let (ilat, ilon) = deinterleave(h.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let lon_scale = lon_range.max - lon_range.min;
    let cells = (1u64 << h.step) as f64;
    Some(Area {
        lat: Range {
            min: lat_range.min + (ilat as f64 / cells) * lat_scale,
            max: lat_range.min + ((ilat as u64 + 1) as f64 / cells) * lat_scale,
        },
        lon: Range {
            min: lon_range.min + (ilon as f64 / cells) * lon_scale,
            max: lon_range.min + ((ilon as u64 + 1) as f64 / cells) * lon_scale,
        },
    })
}

fn decode(h: Hash) -> Option<Area> {
    decode_in(LON_RANGE, LAT_RANGE, h)
}

/// C's `(uint64_t)` of a double as gcc compiles it for x86-64: scores
/// outside 0..2^64 (a sorted set may hold any score) give what Redis'
/// conversion gives, not Rust's saturation.
fn c_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    // cvttsd2si: truncation, or 0x8000000000000000 when out of i64 range
    // (and for NaN).
    let cvtt = |x: f64| -> u64 {
        if x.is_nan() || !(-TWO63..TWO63).contains(&x) {
            0x8000_0000_0000_0000
        } else {
            x as i64 as u64
        }
    };
    if d.is_nan() || d < TWO63 {
        cvtt(d)
    } else {
        cvtt(d - TWO63) ^ 0x8000_0000_0000_0000
    }
}

/// The position (longitude, latitude) a score stands for: the centre of
/// its 52-bit box, kept inside the valid ranges. Any score decodes.
pub fn decode_score(score: f64) -> (f64, f64) {
    let area = decode(Hash { bits: c_u64(score), step: STEP_MAX }).expect("a 26-step hash decodes");
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The 11-character standard geohash of a score (GEOHASH): the position
/// re-encoded over latitudes -90..90, as everyone else's geohashes are.
pub fn geohash_string(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let h = encode_in(LON_RANGE, Range { min: -90.0, max: 90.0 }, lon, lat, STEP_MAX);
    (0..11)
        .map(|i| {
            // 52 bits make ten characters; the eleventh is taken as zero.
            let idx = if i == 10 { 0 } else { (h.bits >> (52 - (i + 1) * 5)) & 0x1f };
            ALPHABET[idx as usize] as char
        })
        .collect()
}

/// Moves `h` one box along the axis whose bits `own` masks (odd bits:
/// longitude, even bits: latitude), `d` > 0 up, < 0 down, wrapping.
fn move_along(h: &mut Hash, d: i8, own: u64) {
    if d == 0 {
        return;
    }
    let shift = 64 - h.step as u32 * 2;
    let other = !own;
    let mut a = h.bits & own;
    let b = h.bits & other;
    // Filling the other axis' bits with ones makes the carry (or the
    // borrow) run through them to the next bit of this axis.
    let zz = other >> shift;
    if d > 0 {
        a = a.wrapping_add(zz + 1);
    } else {
        a |= zz;
        a = a.wrapping_sub(zz + 1);
    }
    a &= own >> shift;
    h.bits = a | b;
}

fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    move_along(&mut n, dx, 0xaaaa_aaaa_aaaa_aaaa);
    move_along(&mut n, dy, 0x5555_5555_5555_5555);
    n
}

/// What a search covers: a circle around a point, or an axis-aligned box
/// centred on it. Sizes are in the unit given; `conversion` is metres per
/// unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    pub conversion: f64,
    pub kind: ShapeKind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// The precision (bits per coordinate) of the boxes that cover a search
/// of this radius.
fn steps_for_radius(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2; // Make sure the range is included in most of the base cases.
               // Wider boxes towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The shape's bounding box: (min lon, min lat, max lon, max lat).
fn bounding_box(s: &Shape) -> (f64, f64, f64, f64) {
    let (h, w) = match s.kind {
        ShapeKind::Radius(r) => (r, r),
        ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let height = s.conversion * h;
    let width = s.conversion * w;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let lon_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(s.lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(s.lat - lat_delta).cos());
    // A box is widest on the side nearer the equator.
    let lon_delta = if s.lat < 0.0 { lon_delta_bottom } else { lon_delta_top };
    (s.lon - lon_delta, s.lat - lat_delta, s.lon + lon_delta, s.lat + lat_delta)
}

/// The boxes a search reads, in Redis' order (centre, N, S, E, W, NE, NW,
/// SE, SW), with the ones it needs not replaced by [`Hash::NONE`].
pub fn boxes_for(s: &Shape) -> [Hash; 9] {
    let (min_lon, min_lat, max_lon, max_lat) = bounding_box(s);
    let radius_meters = match s.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
    } * s.conversion;
    let mut steps = steps_for_radius(radius_meters, s.lat);
    let mut hash = encode(s.lon, s.lat, steps);
    // Near the edge of its box, the estimated step may not let the
    // neighbours cover the area: then one step coarser.
    let area = |h: Hash| decode(h).unwrap_or_default();
    let too_small = area(moved(hash, 0, 1)).lat.max < max_lat
        || area(moved(hash, 0, -1)).lat.min > min_lat
        || area(moved(hash, 1, 0)).lon.max < max_lon
        || area(moved(hash, -1, 0)).lon.min > min_lon;
    if steps > 1 && too_small {
        steps -= 1;
        hash = encode(s.lon, s.lat, steps);
    }
    let [mut n, mut s_, mut e, mut w, mut ne, mut nw, mut se, mut sw] =
        [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)].map(|(dx, dy)| moved(hash, dx, dy));
    // Leave out the neighbours on a side the area does not reach.
    if steps >= 2 {
        let centre = area(hash);
        if centre.lat.min < min_lat {
            (s_, sw, se) = (Hash::NONE, Hash::NONE, Hash::NONE);
        }
        if centre.lat.max > max_lat {
            (n, ne, nw) = (Hash::NONE, Hash::NONE, Hash::NONE);
        }
        if centre.lon.min < min_lon {
            (w, sw, nw) = (Hash::NONE, Hash::NONE, Hash::NONE);
        }
        if centre.lon.max > max_lon {
            (e, se, ne) = (Hash::NONE, Hash::NONE, Hash::NONE);
        }
    }
    [hash, n, s_, e, w, ne, nw, se, sw]
}

/// The boxes to read: [`boxes_for`] without the left-out ones and without
/// a neighbour equal to the neighbour read just before it (huge radii make
/// neighbours coincide). As in Redis, a neighbour is never compared with
/// the centre box, so a member may then be found twice.
pub fn boxes_to_read(s: &Shape) -> Vec<Hash> {
    let mut out: Vec<Hash> = Vec::with_capacity(9);
    let mut last_neighbour: Option<Hash> = None;
    for (i, h) in boxes_for(s).into_iter().enumerate() {
        if h.is_none() || last_neighbour == Some(h) {
            continue;
        }
        if i > 0 {
            last_neighbour = Some(h);
        }
        out.push(h);
    }
    out
}

/// Distance along a meridian (the haversine formula when the longitudes
/// are equal).
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Great-circle distance in metres (haversine).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// Whether the member with `score` lies in the shape: its position and
/// its distance (metres) from the centre if so.
pub fn within(s: &Shape, score: f64) -> Option<(f64, f64, f64)> {
    let (lon, lat) = decode_score(score);
    match s.kind {
        ShapeKind::Radius(r) => {
            let d = distance(s.lon, s.lat, lon, lat);
            (d <= r * s.conversion).then_some((lon, lat, d))
        }
        ShapeKind::Box { width, height } => {
            // The cheaper latitude test first, as Redis.
            if lat_distance(lat, s.lat) > height * s.conversion / 2.0 {
                return None;
            }
            if distance(lon, lat, s.lon, lat) > width * s.conversion / 2.0 {
                return None;
            }
            Some((lon, lat, distance(s.lon, s.lat, lon, lat)))
        }
    }
}

/// A distance as GEODIST and WITHDIST show it: four decimals, rounded as
/// Redis' fixed-point conversion rounds (llrint of the scaled value).
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let scaled = (d * 10000.0).round_ties_even();
    let neg = scaled < 0.0;
    let v = scaled.abs() as u64;
    format!("{}{}.{:04}", if neg { "-" } else { "" }, v / 10000, v % 10000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::num::format_human_double;

    #[test]
    fn interleaving_round_trips() {
        for (a, b) in [(0u32, 0u32), (1, 0), (0, 1), (0x3ff_ffff, 0x155_5555), (u32::MAX, 7)] {
            assert_eq!(deinterleave(interleave(a, b)), (a, b));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    /// Redis' documented example: Palermo and Catania.
    #[test]
    fn sicily_as_in_redis_documentation() {
        let palermo = score_of(13.361389, 38.115556);
        let catania = score_of(15.087269, 37.502669);
        assert_eq!(palermo, 3479099956230698.0);
        assert_eq!(catania, 3479447370796909.0);
        let (plon, plat) = decode_score(palermo);
        let (clon, clat) = decode_score(catania);
        assert_eq!(format_human_double(plon), "13.36138933897018433");
        assert_eq!(format_human_double(plat), "38.11555639549629859");
        assert_eq!(format_distance(distance(plon, plat, clon, clat)), "166274.1516");
        assert_eq!(format_distance(distance(plon, plat, clon, clat) / 1000.0), "166.2742");
        assert_eq!(geohash_string(palermo), "sqc8b49rny0");
        assert_eq!(geohash_string(catania), "sqdtr74hyu0");
    }

    #[test]
    fn odd_scores_decode_as_redis_casts_them() {
        assert_eq!(c_u64(-1.0), u64::MAX);
        assert_eq!(c_u64(-1.5), u64::MAX);
        assert_eq!(c_u64(f64::NEG_INFINITY), 0x8000_0000_0000_0000);
        assert_eq!(c_u64(f64::INFINITY), 0);
        assert_eq!(c_u64(1.9), 1);
        assert_eq!(c_u64(9223372036854775808.0), 0x8000_0000_0000_0000);
        assert_eq!(c_u64(18446744073709551616.0), 0);
        // The largest score decodes to the clamped corner.
        let (lon, lat) = decode_score(-1.0);
        assert_eq!((lon, lat), (LON_MAX, LAT_MAX));
    }

    #[test]
    fn distances_print_with_four_decimals() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(0.00004), "0.0000");
        // llrint: halves go to the even neighbour.
        assert_eq!(format_distance(0.00005), "0.0000");
        assert_eq!(format_distance(0.00006), "0.0001");
        assert_eq!(format_distance(0.7750), "0.7750");
        assert_eq!(format_distance(12.5), "12.5000");
        assert_eq!(format_human_double(-0.0), "0");
        assert_eq!(format_human_double(2.0), "2");
        assert_eq!(format_human_double(0.5), "0.5");
    }

    #[test]
    fn huge_radii_read_distinct_boxes() {
        let s = Shape { lon: 0.0, lat: 0.0, conversion: 1000.0, kind: ShapeKind::Radius(20000.0) };
        let boxes = boxes_to_read(&s);
        assert!(!boxes.is_empty());
        assert!(boxes.windows(2).all(|w| w[0] != w[1]));
    }
}
