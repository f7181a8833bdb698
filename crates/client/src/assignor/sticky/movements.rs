//! Java's PartitionMovements: while the general assignment rebalances, it records each
//! partition's net move (first owner → current owner). When a partition is about to move
//! from A to B and some partition of the same topic already moved from B to A, that one
//! moves back instead, so no topic ends with partitions swapped between two members.

use crate::assignor::java_order::{bucket, capacity, topic_partition_hash};
use crate::assignor::TopicPartition;
use std::collections::HashMap;

/// A Java `HashSet<TopicPartition>` reduced to what the algorithm observes: which element
/// its iterator yields first.
#[derive(Default)]
struct JavaSet {
    /// Insertion order.
    items: Vec<TopicPartition>,
    /// Largest size reached: the table grows with it and never shrinks.
    max_len: usize,
}

impl JavaSet {
    fn insert(&mut self, tp: TopicPartition) {
        if !self.items.contains(&tp) {
            self.items.push(tp);
            self.max_len = self.max_len.max(self.items.len());
        }
    }

    fn first(&self) -> Option<&TopicPartition> {
        let cap = capacity(self.max_len);
        // min_by_key keeps the first of equal keys: insertion order within a bucket.
        self.items
            .iter()
            .min_by_key(|(t, p)| bucket(topic_partition_hash(t, *p), cap))
    }
}

/// Net moves by member index: (from, to).
#[derive(Default)]
pub(super) struct Movements {
    by_partition: HashMap<TopicPartition, (usize, usize)>,
    by_topic: HashMap<String, HashMap<(usize, usize), JavaSet>>,
}

impl Movements {
    fn remove(&mut self, tp: &TopicPartition) -> Option<(usize, usize)> {
        let pair = self.by_partition.remove(tp)?;
        let topic = self.by_topic.get_mut(&tp.0).expect("recorded topic");
        let set = topic.get_mut(&pair).expect("recorded pair");
        set.items.retain(|x| x != tp);
        if set.items.is_empty() {
            topic.remove(&pair);
        }
        if topic.is_empty() {
            self.by_topic.remove(&tp.0);
        }
        Some(pair)
    }

    fn add(&mut self, tp: &TopicPartition, pair: (usize, usize)) {
        self.by_partition.insert(tp.clone(), pair);
        self.by_topic
            .entry(tp.0.clone())
            .or_default()
            .entry(pair)
            .or_default()
            .insert(tp.clone());
    }

    /// Records `tp` moving from `old` to `new`; a move back to its first owner erases it.
    pub fn record(&mut self, tp: &TopicPartition, old: usize, new: usize) {
        match self.remove(tp) {
            Some((first, _)) if first == new => {}
            Some((first, _)) => self.add(tp, (first, new)),
            None => self.add(tp, (old, new)),
        }
    }

    /// Which partition should go to `new` when `tp` (owned by `old`) was chosen.
    pub fn partition_to_move(&self, tp: &TopicPartition, old: usize, new: usize) -> TopicPartition {
        let Some(topic) = self.by_topic.get(&tp.0) else {
            return tp.clone();
        };
        let old = self.by_partition.get(tp).map_or(old, |&(first, _)| first);
        match topic.get(&(new, old)).and_then(JavaSet::first) {
            Some(x) => x.clone(),
            None => tp.clone(),
        }
    }
}
