//! When each key was last used, for OBJECT IDLETIME: approximately, as
//! Redis' own LRU clock is (it keeps 24 bits of seconds per object). A key
//! is not stored with its access time here, since that would make every
//! read a write; instead a fixed table in memory maps a hash of the key
//! to the second of its last use. Every command a node executes (a read
//! where it is served, a write where it is applied, the commands inside
//! scripts and transactions) stamps its keys, except those Redis runs
//! without touching: TYPE, EXISTS, TTL and its kin, OBJECT, MEMORY USAGE.
//!
//! Two keys that share a slot overwrite each other's stamp: the one asked
//! about then counts as not used since the node started (as does any key
//! after a restart), which is what IDLETIME answers then. With 2^20 slots
//! (8 MiB), the keys in use at once mostly keep their own.

use crate::command::Cmd;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

const SLOTS: usize = 1 << 20;

/// Stamps count seconds from this far before the clock started, so that a
/// key can be stamped as long idle (RESTORE ... IDLETIME) and 0 stays free
/// for an empty slot.
const EPOCH: u64 = 1 << 31;

pub struct AccessClock {
    started: Instant,
    /// Per slot: the key's hash tag (high 32 bits) and the second of its
    /// last use (low 32 bits, see [`EPOCH`]); 0: never used.
    slots: Box<[AtomicU64]>,
}

/// The node's clock (one per process, as Redis' LRU clock).
pub static CLOCK: LazyLock<AccessClock> = LazyLock::new(AccessClock::new);

impl AccessClock {
    fn new() -> AccessClock {
        AccessClock { started: Instant::now(), slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect() }
    }

    fn slot_and_tag(key: &[u8]) -> (usize, u64) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let h = h.finish();
        ((h as usize) & (SLOTS - 1), h >> 32)
    }

    fn now(&self) -> u64 {
        EPOCH + self.started.elapsed().as_secs()
    }

    pub fn touch(&self, key: &[u8]) {
        self.set_idle(key, 0);
    }

    /// Stamps `key` as last used `secs` seconds ago.
    pub fn set_idle(&self, key: &[u8], secs: u64) {
        let (slot, tag) = Self::slot_and_tag(key);
        let stamp = self.now().saturating_sub(secs).clamp(1, u32::MAX as u64);
        self.slots[slot].store(tag << 32 | stamp, Ordering::Relaxed);
    }

    /// Seconds since `key` was last used (since the node started, when its
    /// use is not on record).
    pub fn idle_secs(&self, key: &[u8]) -> u64 {
        let (slot, tag) = Self::slot_and_tag(key);
        let v = self.slots[slot].load(Ordering::Relaxed);
        let now = self.now();
        if v != 0 && v >> 32 == tag {
            now.saturating_sub(v & 0xffff_ffff)
        } else {
            now - EPOCH
        }
    }

    /// Stamps the keys `cmd` uses, unless Redis runs it without touching
    /// them. (A script's keys are stamped by the commands it calls.)
    pub fn touch_keys(&self, cmd: &Cmd) {
        if matches!(
            cmd,
            Cmd::Type(_)
                | Cmd::Exists(_)
                | Cmd::Ttl(_)
                | Cmd::ObjectEncoding(_)
                | Cmd::ObjectInfo(_)
                | Cmd::MemoryUsage(_)
                | Cmd::Eval(_)
        ) || cmd.is_keyless()
        {
            return;
        }
        for key in cmd.keys() {
            self.touch(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touched_key_is_idle_from_its_touch_and_an_untouched_one_since_the_start() {
        let clock = AccessClock { started: Instant::now() - std::time::Duration::from_secs(100), ..AccessClock::new() };
        assert_eq!(clock.idle_secs(b"never"), 100);
        clock.touch(b"k");
        assert_eq!(clock.idle_secs(b"k"), 0);
        // RESTORE ... IDLETIME: longer than the node has run, too.
        clock.set_idle(b"old", 30);
        assert_eq!(clock.idle_secs(b"old"), 30);
        clock.set_idle(b"older", 1000);
        assert_eq!(clock.idle_secs(b"older"), 1000);
    }
}
