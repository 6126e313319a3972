//! The metadata record of a key (column family `meta`).
//!
//! `[type u8][expire-at u64][version u64][mod index u64][count u64][payload]`,
//! big-endian. `expire-at` is in ms, 0 for none. `version` names the
//! generation of a collection's elements (from the raft log: index << 16 |
//! position). `mod_index` is the raft index of the key's last change (WATCH).
//! A string's value is the payload (one longer than 64 KiB is stored in
//! chunks, see `exec::chunks`; readers get it whole); a list keeps its head
//! and tail there.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DataType {
    String = 0,
    Hash = 1,
    List = 2,
    Set = 3,
    ZSet = 4,
    Stream = 5,
}

impl DataType {
    pub fn from_u8(v: u8) -> Option<DataType> {
        Some(match v {
            0 => DataType::String,
            1 => DataType::Hash,
            2 => DataType::List,
            3 => DataType::Set,
            4 => DataType::ZSet,
            5 => DataType::Stream,
            _ => return None,
        })
    }

    /// The name TYPE answers.
    pub fn name(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Hash => "hash",
            DataType::List => "list",
            DataType::Set => "set",
            DataType::ZSet => "zset",
            DataType::Stream => "stream",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<DataType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => DataType::String,
            b"hash" => DataType::Hash,
            b"list" => DataType::List,
            b"set" => DataType::Set,
            b"zset" => DataType::ZSet,
            b"stream" => DataType::Stream,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub ty: DataType,
    pub expire_at: u64,
    pub version: u64,
    pub mod_index: u64,
    pub count: u64,
    pub payload: Vec<u8>,
}

const HEADER: usize = 33;

impl Meta {
    pub fn string(value: Vec<u8>, version: u64) -> Meta {
        Meta { ty: DataType::String, expire_at: 0, version, mod_index: 0, count: 0, payload: value }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + self.payload.len());
        v.push(self.ty as u8);
        v.extend_from_slice(&self.expire_at.to_be_bytes());
        v.extend_from_slice(&self.version.to_be_bytes());
        v.extend_from_slice(&self.mod_index.to_be_bytes());
        v.extend_from_slice(&self.count.to_be_bytes());
        v.extend_from_slice(&self.payload);
        v
    }

    pub fn decode(b: &[u8]) -> Option<Meta> {
        if b.len() < HEADER {
            return None;
        }
        let u = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap());
        Some(Meta {
            ty: DataType::from_u8(b[0])?,
            expire_at: u(1),
            version: u(9),
            mod_index: u(17),
            count: u(25),
            payload: b[HEADER..].to_vec(),
        })
    }

    /// Whether the key is expired at `now` (ms).
    pub fn expired(&self, now: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Meta {
            ty: DataType::ZSet,
            expire_at: 99,
            version: 7 << 16,
            mod_index: 7,
            count: 3,
            payload: b"xy".to_vec(),
        };
        assert_eq!(Meta::decode(&m.encode()), Some(m));
        assert_eq!(Meta::decode(b"short"), None);
    }
}
