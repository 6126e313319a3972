//! What every collection type shares: its elements live under
//! `[ns][slot][key len][key][version]` in the `data` column family.

use super::db::Apply;
use crate::keys;
use crate::meta::Meta;
use crate::store::{Cf, KvRead};

/// Copies the elements of `src` (metadata `src_meta`) to `dst` under `version`.
pub fn copy_elements(a: &mut Apply, src: &[u8], src_meta: &Meta, dst: &[u8], version: u64) {
    let from = keys::element_prefix(a.ns, src, src_meta.version);
    let to = keys::prefix_end(&from);
    let dst_prefix = keys::element_prefix(a.ns, dst, version);
    let mut elements = Vec::new();
    a.kv.scan(Cf::Data, &from, &to, &mut |k, v| {
        elements.push((k[from.len()..].to_vec(), v.to_vec()));
        true
    });
    for (sub, v) in elements {
        let mut k = dst_prefix.clone();
        k.extend_from_slice(&sub);
        a.kv.put(Cf::Data, &k, &v);
    }
}
