//! The cleaner's key map, bounded in memory like Kafka's `SkimpyOffsetMap`: an open-addressing
//! table of 24-byte slots (a 16-byte key hash and an 8-byte offset), never more slots than
//! `log.cleaner.dedupe.buffer.size / 24` and never fuller than
//! `log.cleaner.io.buffer.load.factor`. It starts small and doubles as keys arrive, so a small
//! log does not pay for the whole budget.
//!
//! Keys are hashed with two independently keyed SipHash instances with random keys (std's
//! `RandomState`), so a client cannot craft two keys that share a hash and make the cleaner
//! drop the wrong record.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// Bytes one slot costs, as Kafka counts it (MD5 hash + offset).
pub const SLOT_BYTES: usize = 24;
/// Kafka's `log.cleaner.dedupe.buffer.size` default.
pub const DEFAULT_DEDUPE_BUFFER_BYTES: usize = 128 * 1024 * 1024;
/// Kafka's `log.cleaner.io.buffer.load.factor` default.
pub const DEFAULT_LOAD_FACTOR: f64 = 0.9;
const INITIAL_SLOTS: usize = 1024;
const EMPTY: i64 = -1;

/// How much memory one compaction's key map may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerBudget {
    pub dedupe_buffer_bytes: usize,
    pub load_factor: f64,
}

impl Default for CleanerBudget {
    fn default() -> Self {
        CleanerBudget {
            dedupe_buffer_bytes: DEFAULT_DEDUPE_BUFFER_BYTES,
            load_factor: DEFAULT_LOAD_FACTOR,
        }
    }
}

impl CleanerBudget {
    /// Keys the map can hold: `slots * load_factor`, as Kafka's `maxDesiredMapSize`.
    pub fn max_entries(&self) -> usize {
        ((self.dedupe_buffer_bytes / SLOT_BYTES) as f64 * self.load_factor) as usize
    }
}

#[derive(Clone, Copy)]
struct Slot {
    hash: [u64; 2],
    offset: i64,
}

pub(crate) struct OffsetMap {
    hashers: [RandomState; 2],
    slots: Vec<Slot>,
    len: usize,
    max_slots: usize,
    max_entries: usize,
    load_factor: f64,
}

impl OffsetMap {
    pub fn new(budget: CleanerBudget) -> OffsetMap {
        let max_slots = budget.dedupe_buffer_bytes / SLOT_BYTES;
        let max_entries = budget.max_entries().min(max_slots.saturating_sub(1));
        OffsetMap {
            hashers: [RandomState::new(), RandomState::new()],
            slots: Vec::new(),
            len: 0,
            max_slots,
            max_entries,
            load_factor: budget.load_factor,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes the slots take now (never above the budget).
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    fn hash(&self, key: &[u8]) -> [u64; 2] {
        [self.hashers[0].hash_one(key), self.hashers[1].hash_one(key)]
    }

    /// Index of `hash`'s slot, or of the empty slot where it would go.
    fn find(&self, hash: [u64; 2]) -> usize {
        let n = self.slots.len();
        let mut i = (hash[0] % n as u64) as usize;
        loop {
            let s = &self.slots[i];
            if s.offset == EMPTY || s.hash == hash {
                return i;
            }
            i = (i + 1) % n;
        }
    }

    /// Records `offset` as the newest for `key`. Returns false, changing nothing, when `key` is
    /// new and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        debug_assert!(
            offset >= 0,
            "offsets are never negative, -1 marks an empty slot"
        );
        let hash = self.hash(key);
        if !self.slots.is_empty() {
            let i = self.find(hash);
            if self.slots[i].offset != EMPTY {
                self.slots[i].offset = offset;
                return true;
            }
        }
        if self.len >= self.max_entries {
            return false;
        }
        if (self.len + 1) as f64 > self.slots.len() as f64 * self.load_factor {
            self.grow();
        }
        let i = self.find(hash);
        self.slots[i] = Slot { hash, offset };
        self.len += 1;
        true
    }

    /// The newest offset recorded for `key`.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        if self.slots.is_empty() {
            return None;
        }
        let s = &self.slots[self.find(self.hash(key))];
        (s.offset != EMPTY).then_some(s.offset)
    }

    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2)
            .max(INITIAL_SLOTS)
            .min(self.max_slots);
        if new_len <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(
            &mut self.slots,
            vec![
                Slot {
                    hash: [0, 0],
                    offset: EMPTY
                };
                new_len
            ],
        );
        for s in old.into_iter().filter(|s| s.offset != EMPTY) {
            let i = self.find(s.hash);
            self.slots[i] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_holds_at_most_its_budget_and_keeps_updating_known_keys_when_full() {
        let budget = CleanerBudget {
            dedupe_buffer_bytes: 100 * SLOT_BYTES,
            load_factor: 0.9,
        };
        let mut m = OffsetMap::new(budget);
        let mut accepted = 0;
        for i in 0..1000i64 {
            if m.put(format!("k{i}").as_bytes(), i) {
                accepted += 1;
            }
        }
        assert_eq!((accepted, m.len()), (90, 90));
        assert!(
            m.memory_bytes() <= budget.dedupe_buffer_bytes,
            "{} bytes",
            m.memory_bytes()
        );
        assert!(m.put(b"k3", 5000), "a known key updates when full");
        assert_eq!(m.get(b"k3"), Some(5000));
        assert_eq!(m.get(b"k999"), None);
        assert_eq!(m.get(b"k89"), Some(89));
    }
}
