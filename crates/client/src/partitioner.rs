//! Partitioners: Kafka's murmur2 for keyed records, uniform sticky for keyless ones, round
//! robin, and user-supplied.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed 0x9747b28c, little-endian blocks.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = 0x9747_b28c ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`.
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition the Java client (and librdkafka's `murmur2_random`) gives a keyed record.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    to_positive(murmur2(key)) % num_partitions
}

/// A user-supplied partitioner: (topic, key, value, number of partitions) -> partition.
pub type CustomPartitioner =
    Arc<dyn Fn(&str, Option<&[u8]>, Option<&[u8]>, i32) -> i32 + Send + Sync>;

/// How the producer chooses a partition for records without an explicit one.
#[derive(Clone)]
pub enum Partitioner {
    /// murmur2 for keyed records; uniform sticky for keyless ones.
    Default(Arc<StickyState>),
    /// Every record to the next partition of its topic in turn.
    RoundRobin(Arc<Mutex<HashMap<String, i32>>>),
    /// The application decides.
    Custom(CustomPartitioner),
}

/// Keyless records stick to one partition until `batch.size` bytes went there, then move
/// to another chosen at random (KIP-794's uniform sticky partitioner).
#[derive(Default)]
pub struct StickyState {
    /// Per topic: the current partition and the bytes sent to it (fast hash: looked up for
    /// every keyless record).
    current: Mutex<HashMap<String, (i32, usize), foldhash::fast::RandomState>>,
    rng: AtomicU64,
}

impl StickyState {
    fn next_random(&self) -> u64 {
        // xorshift64*, seeded from the clock on first use.
        let mut x = self.rng.load(Ordering::Relaxed);
        if x == 0 {
            x = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Partitioner {
    pub fn default_sticky() -> Partitioner {
        Partitioner::Default(Arc::new(StickyState::default()))
    }

    pub fn round_robin() -> Partitioner {
        Partitioner::RoundRobin(Arc::new(Mutex::new(HashMap::new())))
    }

    /// The partition for a record of `size` bytes; `batch_size` drives the sticky switch.
    pub fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        num_partitions: i32,
        size: usize,
        batch_size: usize,
    ) -> i32 {
        match self {
            Partitioner::Custom(f) => f(topic, key, value, num_partitions),
            Partitioner::RoundRobin(next) => {
                let mut next = next.lock();
                let n = next.entry(topic.to_string()).or_insert(0);
                let p = *n % num_partitions;
                *n = (*n + 1) % num_partitions;
                p
            }
            Partitioner::Default(sticky) => {
                if let Some(k) = key {
                    return partition_for_key(k, num_partitions);
                }
                let mut cur = sticky.current.lock();
                let entry = cur.get(topic).copied();
                let (p, bytes) = match entry {
                    Some((p, bytes)) if p < num_partitions && bytes < batch_size.max(1) => {
                        (p, bytes)
                    }
                    previous => {
                        let mut p = (sticky.next_random() % num_partitions as u64) as i32;
                        if let Some((old, _)) = previous {
                            if num_partitions > 1 && p == old {
                                p = (p + 1) % num_partitions;
                            }
                        }
                        (p, 0)
                    }
                };
                match cur.get_mut(topic) {
                    // The per-record case: no copy of the topic name.
                    Some(slot) => *slot = (p, bytes + size),
                    None => {
                        cur.insert(topic.to_string(), (p, bytes + size));
                    }
                }
                p
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_vectors_in_kafkas_utils_test() {
        let cases: &[(&str, i32)] = &[
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ];
        for (s, want) in cases {
            assert_eq!(murmur2(s.as_bytes()), *want, "murmur2({s:?})");
        }
    }

    #[test]
    fn keyed_records_use_to_positive_murmur2_modulo_partitions() {
        // murmur2("foobar") = -790332482; toPositive = 1357151166; % 7 = 1357151166 % 7.
        assert_eq!(partition_for_key(b"foobar", 7), 1_357_151_166 % 7);
        let p = Partitioner::default_sticky();
        for key in ["a", "b", "key-17", ""] {
            let want = partition_for_key(key.as_bytes(), 12);
            assert_eq!(
                p.partition("t", Some(key.as_bytes()), None, 12, 10, 100),
                want
            );
        }
    }

    #[test]
    fn keyless_records_stick_to_one_partition_until_batch_size_bytes_then_move() {
        let p = Partitioner::default_sticky();
        let first = p.partition("t", None, None, 4, 40, 100);
        assert_eq!(p.partition("t", None, None, 4, 40, 100), first);
        assert_eq!(p.partition("t", None, None, 4, 40, 100), first);
        // 120 bytes went to `first`: the next record moves on.
        assert_ne!(p.partition("t", None, None, 4, 40, 100), first);
    }

    #[test]
    fn round_robin_cycles_through_partitions() {
        let p = Partitioner::round_robin();
        let got: Vec<i32> = (0..7)
            .map(|_| p.partition("t", Some(b"k"), None, 3, 1, 1))
            .collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2, 0]);
    }
}
