//! Key routing and the on-disk key layout.
//!
//! * slot = CRC16(key, or its `{hash tag}`) mod 16384, exactly as Redis Cluster.
//! * Every stored key starts with `[namespace id u32 BE][slot u16 BE]`, so a
//!   partition's data is one contiguous range in every column family.
//! * Metadata: `[ns][slot][hash32(key) BE][key]`; SCAN's cursor is
//!   `slot << 32 | hash`, so a scan resumes by seek on any node.
//! * Expiry index: `[ns][slot][expire-at ms BE][key]`.
//! * Elements (collections): `[ns][slot][key len u32 BE][key][version BE][sub]`.

pub use meta::slot::{crc16, hash_tag, slot, SLOTS};

/// The hash that orders keys within a slot (stable across versions and nodes).
pub fn hash32(key: &[u8]) -> u32 {
    crc32fast::hash(key)
}

/// Length of the `[ns u32][slot u16]` prefix every stored key starts with.
pub const SLOT_PREFIX_LEN: usize = 6;

/// `[ns][slot]`
pub fn slot_prefix(ns: u32, slot: u16) -> [u8; SLOT_PREFIX_LEN] {
    let mut p = [0u8; SLOT_PREFIX_LEN];
    p[..4].copy_from_slice(&ns.to_be_bytes());
    p[4..].copy_from_slice(&slot.to_be_bytes());
    p
}

/// The first key of slot `slot` (may be `SLOTS`, i.e. the end of the namespace).
pub fn slot_start(ns: u32, slot: u32) -> Vec<u8> {
    if slot >= SLOTS as u32 {
        // The start of the next namespace.
        let mut k = (ns + 1).to_be_bytes().to_vec();
        k.extend_from_slice(&[0, 0]);
        return k;
    }
    slot_prefix(ns, slot as u16).to_vec()
}

pub fn meta_key(ns: u32, key: &[u8]) -> Vec<u8> {
    let s = slot(key);
    let mut k = Vec::with_capacity(10 + key.len());
    k.extend_from_slice(&slot_prefix(ns, s));
    k.extend_from_slice(&hash32(key).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The user key of a metadata key.
pub fn meta_user_key(mk: &[u8]) -> &[u8] {
    &mk[10..]
}

/// (slot, hash) of a metadata key.
pub fn meta_position(mk: &[u8]) -> (u16, u32) {
    (u16::from_be_bytes([mk[4], mk[5]]), u32::from_be_bytes([mk[6], mk[7], mk[8], mk[9]]))
}

/// Where a SCAN cursor resumes: the first metadata key at (slot, hash).
pub fn cursor_seek_key(ns: u32, cursor: u64) -> Vec<u8> {
    let slot = (cursor >> 32) as u16;
    let hash = cursor as u32;
    let mut k = slot_prefix(ns, slot).to_vec();
    k.extend_from_slice(&hash.to_be_bytes());
    k
}

pub fn cursor_of(slot: u16, hash: u32) -> u64 {
    (slot as u64) << 32 | hash as u64
}

pub fn expire_key(ns: u32, key: &[u8], expire_at: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(14 + key.len());
    k.extend_from_slice(&slot_prefix(ns, slot(key)));
    k.extend_from_slice(&expire_at.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// (slot, expire-at, user key) of an expiry index key.
pub fn parse_expire_key(k: &[u8]) -> Option<(u16, u64, &[u8])> {
    if k.len() < 14 {
        return None;
    }
    let slot = u16::from_be_bytes([k[4], k[5]]);
    let at = u64::from_be_bytes(k[6..14].try_into().unwrap());
    Some((slot, at, &k[14..]))
}

/// `[ns][slot][key len][key][version]`: the prefix of a collection's elements.
pub fn element_prefix(ns: u32, key: &[u8], version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(18 + key.len());
    k.extend_from_slice(&slot_prefix(ns, slot(key)));
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// The smallest byte string greater than every string with this prefix.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.last_mut() {
        if *last < 0xff {
            *last += 1;
            return end;
        }
        end.pop();
    }
    vec![0xff; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_orders_by_slot_then_hash() {
        let a = meta_key(1, b"foo");
        let (s, h) = meta_position(&a);
        assert_eq!(s, slot(b"foo"));
        assert_eq!(h, hash32(b"foo"));
        assert_eq!(meta_user_key(&a), b"foo");
        assert!(cursor_seek_key(1, cursor_of(s, h)).as_slice() <= a.as_slice());
        assert!(slot_start(1, SLOTS as u32) > meta_key(1, b"anything"));
        assert_eq!(slot_start(1, SLOTS as u32), slot_start(2, 0));
        let e = expire_key(1, b"k", 1234);
        assert_eq!(parse_expire_key(&e), Some((slot(b"k"), 1234, &b"k"[..])));
        assert_eq!(prefix_end(b"ab\xff"), b"ac");
    }
}
