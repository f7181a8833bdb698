//! The iteration order of Java's `HashMap`/`HashSet`, which the Java sticky assignor lets
//! decide some ties: which member keeps its extra partition when more members own one than
//! the quota allows, which of two equal-generation claims is seen first, and which partition
//! a reversed move picks. Emulating it is what makes those ties land where Java's land.
//!
//! A Java hash table created with the default constructor starts at 16 buckets and doubles
//! whenever it holds more than three quarters of its capacity; it never shrinks. Iteration
//! walks buckets in index order, and a bucket's entries in insertion order (a resize splits
//! a bucket without reordering it). Bins large enough to become trees (8 entries in one
//! bucket of a 64+ table) are not modelled.

/// `String.hashCode()`: the UTF-16 code units folded with 31.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `TopicPartition.hashCode()`.
pub fn topic_partition_hash(topic: &str, partition: i32) -> i32 {
    31i32
        .wrapping_add(partition)
        .wrapping_mul(31)
        .wrapping_add(string_hash(topic))
}

/// How many buckets a default-constructed table has after it held `max_len` entries.
pub fn capacity(max_len: usize) -> usize {
    let mut cap = 16;
    while max_len > cap / 4 * 3 {
        cap *= 2;
    }
    cap
}

/// The bucket `hash` falls in: `HashMap.hash()` spreads the high bits into the low ones.
pub fn bucket(hash: i32, cap: usize) -> usize {
    let h = hash as u32;
    ((h ^ (h >> 16)) as usize) & (cap - 1)
}

/// The order (as indices into `keys`, given in insertion order) in which a
/// `HashMap<String, _>` holding `keys` iterates.
pub fn string_key_order(keys: &[&str]) -> Vec<usize> {
    let cap = capacity(keys.len());
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // Stable: equal buckets keep insertion order.
    order.sort_by_key(|&i| bucket(string_hash(keys[i]), cap));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java_values() {
        // Values printed by a JVM.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("hello"), 99162322);
        assert_eq!(string_hash("consumer1"), -421004549);
    }

    /// A JVM iterates a HashMap of consumer1..consumer4 as consumer4, 3, 2, 1.
    #[test]
    fn string_keys_iterate_in_javas_hash_map_order() {
        let keys = ["consumer1", "consumer2", "consumer3", "consumer4"];
        assert_eq!(string_key_order(&keys), vec![3, 2, 1, 0]);
    }

    #[test]
    fn capacity_doubles_past_three_quarters_full() {
        assert_eq!(capacity(0), 16);
        assert_eq!(capacity(12), 16);
        assert_eq!(capacity(13), 32);
        assert_eq!(capacity(24), 32);
        assert_eq!(capacity(25), 64);
    }
}
