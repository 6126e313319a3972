//! Typed commands of the GEO family (prost; the tags are part of the log
//! format). GEOADD is a ZADD of geohash scores and needs none. The front end
//! parses every argument; what Redis checks only after looking the key up
//! travels as the error to give at that point, so that a replica fails only
//! on the data, in Redis' order.

use bytes::Bytes;

/// What GEOPOS, GEOHASH and GEODIST report of their members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum GeoReport {
    Position = 0,
    Hash = 1,
    Distance = 2,
}

/// GEOPOS, GEOHASH, GEODIST.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GeoMembers {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub members: Vec<Bytes>,
    #[prost(enumeration = "GeoReport", tag = "3")]
    pub report: i32,
    /// GEODIST: metres per unit.
    #[prost(double, tag = "4")]
    pub unit: f64,
}

/// Which form a search came in: where Redis takes its centre from decides
/// which argument errors it reports when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum GeoFrom {
    /// GEORADIUS: longitude and latitude arguments.
    Coordinates = 0,
    /// GEORADIUSBYMEMBER: a member's position.
    Member = 1,
    /// GEOSEARCH, GEOSEARCHSTORE: FROMLONLAT or FROMMEMBER options.
    Options = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum GeoSort {
    None = 0,
    Asc = 1,
    Desc = 2,
}

/// GEORADIUS, GEORADIUSBYMEMBER (and their _RO forms), GEOSEARCH,
/// GEOSEARCHSTORE.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GeoSearch {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(enumeration = "GeoFrom", tag = "2")]
    pub from: i32,
    /// STORE, STOREDIST or GEOSEARCHSTORE's destination: a write.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub store: Option<Bytes>,
    /// Store distances instead of geohash scores.
    #[prost(bool, tag = "4")]
    pub store_dist: bool,
    /// GEORADIUS: a bad position or radius, reported right after the type
    /// check. GEORADIUSBYMEMBER: a bad radius, reported after the member
    /// lookup and only if the key exists.
    #[prost(string, optional, tag = "5")]
    pub centre_error: Option<String>,
    /// The members whose positions are looked up (if the key exists) before
    /// `error` is reached: GEORADIUSBYMEMBER's member, or each FROMMEMBER.
    /// A missing one ends the command; the last one found is the centre.
    #[prost(bytes = "bytes", repeated, tag = "6")]
    pub from_members: Vec<Bytes>,
    /// The first error in the options, or of their combination.
    #[prost(string, optional, tag = "7")]
    pub error: Option<String>,
    /// The centre when given as coordinates.
    #[prost(double, tag = "8")]
    pub lon: f64,
    #[prost(double, tag = "9")]
    pub lat: f64,
    /// BYRADIUS (or GEORADIUS's radius), in `unit`s.
    #[prost(double, optional, tag = "10")]
    pub radius: Option<f64>,
    /// BYBOX width and height, in `unit`s.
    #[prost(double, tag = "11")]
    pub width: f64,
    #[prost(double, tag = "12")]
    pub height: f64,
    /// Metres per unit.
    #[prost(double, tag = "13")]
    pub unit: f64,
    /// COUNT (0: all).
    #[prost(uint64, tag = "14")]
    pub count: u64,
    /// ANY: stop at the first `count` members found.
    #[prost(bool, tag = "15")]
    pub any: bool,
    #[prost(enumeration = "GeoSort", tag = "16")]
    pub sort: i32,
    #[prost(bool, tag = "17")]
    pub with_dist: bool,
    #[prost(bool, tag = "18")]
    pub with_hash: bool,
    #[prost(bool, tag = "19")]
    pub with_coord: bool,
}
