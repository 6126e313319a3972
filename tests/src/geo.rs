//! Random GEO commands for the differential tests: positions clustered
//! around a few places (so that searches find members, at equal distances
//! too), the edges of the valid ranges, malformed arguments, every search
//! form and option, stored results read back, and sorted sets whose scores
//! are no geohash.

use rand::seq::SliceRandom;
use rand::Rng;

fn pick<T: Copy, R: Rng>(rng: &mut R, v: &[T]) -> T {
    *v.choose(rng).unwrap()
}

fn owned((a, b): (&str, &str)) -> (String, String) {
    (a.to_string(), b.to_string())
}

/// Places positions cluster around: (longitude, latitude).
const PLACES: &[(f64, f64)] =
    &[(13.36, 38.11), (15.08, 37.5), (-0.12, 51.5), (179.9, 0.0), (0.0, 85.0), (-179.99, -84.9)];

fn coordinate<R: Rng>(rng: &mut R) -> (String, String) {
    match rng.gen_range(0..40) {
        0 => owned(pick(rng, &[("181", "0"), ("0", "86"), ("-180.0001", "1"), ("1", "-85.06"), ("inf", "0")])),
        1 => owned(pick(rng, &[("x", "1"), ("1", "y"), ("nan", "1"), ("", "1"), (" 1", "2")])),
        2 => owned(pick(rng, &[("180", "85.05112878"), ("-180", "-85.05112878"), ("0", "0"), ("-0", "0")])),
        // Exactly repeated positions give equal distances.
        3..=6 => owned(pick(rng, &[("13.5", "38.0"), ("15", "37")])),
        _ => {
            let (lon, lat) = PLACES[rng.gen_range(0..PLACES.len())];
            let spread = pick(rng, &[0.001, 0.05, 1.0, 5.0]);
            let lon = (lon + rng.gen_range(-spread..spread)).clamp(-180.0, 180.0);
            let lat = (lat + rng.gen_range(-spread..spread)).clamp(-85.05, 85.05);
            (format!("{lon:.6}"), format!("{lat:.6}"))
        }
    }
}

fn radius<R: Rng>(rng: &mut R) -> String {
    match rng.gen_range(0..20) {
        0 => pick(rng, &["0", "-1", "x", "1e400", "inf"]).into(),
        1 => pick(rng, &["5000", "20000", "40000"]).into(),
        _ => format!("{}", rng.gen_range(1..600)),
    }
}

fn unit<R: Rng>(rng: &mut R) -> String {
    pick(rng, &["km", "km", "km", "KM", "m", "mi", "ft", "Mi", "parsec"]).into()
}

/// A random GEO (or related sorted-set) command over keys tagged `tag`.
pub fn random_geo_command<R: Rng>(rng: &mut R, tag: &str) -> Vec<Vec<u8>> {
    let key = |rng: &mut R| -> String {
        match rng.gen_range(0..30) {
            0 => format!("{tag}str"),
            1 => format!("{tag}none"),
            2 => format!("{tag}odd"),
            _ => format!("{tag}geo{}", rng.gen_range(0..2)),
        }
    };
    let member = |rng: &mut R| -> String {
        if rng.gen_bool(0.05) {
            "nope".into()
        } else {
            format!("m{}", rng.gen_range(0..25))
        }
    };
    let dst = |rng: &mut R| -> String { format!("{tag}dst{}", rng.gen_range(0..2)) };
    let mut c: Vec<String> = Vec::new();
    match rng.gen_range(0..100) {
        0..=29 => {
            c.push("GEOADD".into());
            c.push(key(rng));
            for o in ["NX", "XX", "CH"] {
                if rng.gen_bool(0.1) {
                    c.push(o.into());
                }
            }
            for _ in 0..rng.gen_range(0..5) {
                let (lon, lat) = coordinate(rng);
                c.extend([lon, lat, member(rng)]);
            }
            if rng.gen_bool(0.03) {
                c.push("dangling".into());
            }
        }
        30..=34 => {
            c.extend([pick(rng, &["GEOPOS", "GEOHASH"]).into(), key(rng)]);
            c.extend((0..rng.gen_range(0..4)).map(|_| member(rng)));
        }
        35..=39 => {
            c.extend(["GEODIST".into(), key(rng), member(rng), member(rng)]);
            if rng.gen_bool(0.6) {
                c.push(unit(rng));
            }
            if rng.gen_bool(0.05) {
                c.push("extra".into());
            }
        }
        40..=84 => {
            let form = pick(
                rng,
                &[
                    "GEORADIUS",
                    "GEORADIUS_RO",
                    "GEORADIUSBYMEMBER",
                    "GEORADIUSBYMEMBER_RO",
                    "GEOSEARCH",
                    "GEOSEARCH",
                    "GEOSEARCHSTORE",
                    "geosearch",
                ],
            );
            let upper = form.to_ascii_uppercase();
            c.push(form.into());
            if upper == "GEOSEARCHSTORE" {
                c.push(dst(rng));
            }
            c.push(key(rng));
            if upper.starts_with("GEORADIUSBYMEMBER") {
                c.extend([member(rng), radius(rng), unit(rng)]);
            } else if upper.starts_with("GEORADIUS") {
                let (lon, lat) = coordinate(rng);
                c.extend([lon, lat, radius(rng), unit(rng)]);
            } else {
                // FROM and BY, mostly one of each.
                let mut parts: Vec<Vec<String>> = Vec::new();
                for _ in 0..pick(rng, &[1, 1, 1, 1, 0, 2]) {
                    if rng.gen_bool(0.5) {
                        parts.push(vec!["FROMMEMBER".into(), member(rng)]);
                    } else {
                        let (lon, lat) = coordinate(rng);
                        parts.push(vec!["FROMLONLAT".into(), lon, lat]);
                    }
                }
                for _ in 0..pick(rng, &[1, 1, 1, 1, 0, 2]) {
                    if rng.gen_bool(0.5) {
                        parts.push(vec!["BYRADIUS".into(), radius(rng), unit(rng)]);
                    } else {
                        parts.push(vec!["BYBOX".into(), radius(rng), radius(rng), unit(rng)]);
                    }
                }
                if rng.gen_bool(0.3) {
                    parts.reverse();
                }
                c.extend(parts.into_iter().flatten());
            }
            let mut options: Vec<Vec<String>> = Vec::new();
            for o in ["WITHDIST", "WITHHASH", "WITHCOORD", "ANY"] {
                if rng.gen_bool(0.25) {
                    options.push(vec![o.into()]);
                }
            }
            if rng.gen_bool(0.3) {
                options.push(vec![pick(rng, &["ASC", "DESC", "asc"]).into()]);
            }
            if rng.gen_bool(0.4) {
                let n = match rng.gen_range(0..10) {
                    0 => pick(rng, &["0", "-1", "x"]).to_string(),
                    _ => format!("{}", rng.gen_range(1..8)),
                };
                options.push(vec!["COUNT".into(), n]);
            }
            if rng.gen_bool(0.2) {
                match upper.as_str() {
                    "GEOSEARCHSTORE" => options.push(vec!["STOREDIST".into()]),
                    _ => options.push(vec![pick(rng, &["STORE", "STOREDIST"]).into(), dst(rng)]),
                }
            }
            if rng.gen_bool(0.03) {
                // (A bare STORE takes the next option for its key, which
                // with several partitions lies elsewhere: CROSSSLOT.)
                let bogus: &[&str] = if tag.is_empty() { &["COUNT", "BOGUS", "STORE"] } else { &["COUNT", "BOGUS"] };
                options.push(vec![pick(rng, bogus).into()]);
            }
            options.sort_by_key(|_| rng.gen::<u8>());
            c.extend(options.into_iter().flatten());
        }
        85..=89 => c.extend(["ZRANGE".into(), dst(rng), "0".into(), "-1".into(), "WITHSCORES".into()]),
        90 => c.extend(["ZREM".into(), key(rng), member(rng)]),
        91 => c.extend(["DEL".into(), key(rng)]),
        92 => c.extend(["SET".into(), format!("{tag}str"), "v".into()]),
        93 => {
            // Scores that are no geohash: negative, infinite, fractional,
            // past 52 bits.
            let score = pick(rng, &["-1", "inf", "-inf", "1.5", "4503599627370496", "9007199254740993", "0", "-0"]);
            c.extend(["ZADD".into(), format!("{tag}odd"), score.into(), member(rng)]);
        }
        94 => c.extend(["TYPE".into(), dst(rng)]),
        95 => c.extend(["ZCARD".into(), key(rng)]),
        96 => c.extend(["COPY".into(), key(rng), key(rng), "REPLACE".into()]),
        // Wrong arity.
        _ => c.push(pick(rng, &["GEOADD", "GEOPOS", "GEODIST", "GEORADIUS", "GEOSEARCH", "GEOSEARCHSTORE"]).into()),
    }
    c.into_iter().map(String::into_bytes).collect()
}
