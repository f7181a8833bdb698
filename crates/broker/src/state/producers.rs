//! Idempotent-producer state of one partition: per producer id, its epoch and the last five
//! batches it wrote, so that a retried batch is acknowledged again without a second append and a
//! gap in sequence numbers is refused (OUT_OF_ORDER_SEQUENCE_NUMBER). Five is Kafka's bound on
//! `max.in.flight.requests.per.connection` with idempotence, and the number of batches Kafka
//! remembers per producer.
//!
//! Kafka bounds this state only by time (`producer.id.expiration.ms`), so a client writing
//! with ever new producer ids could grow it without limit for a day. Runnel also caps the
//! producers remembered per partition (`runnel.max.producer.states.per.partition`): when a new
//! producer would exceed it, the least recently written eighth is forgotten. A forgotten
//! producer is treated as unknown: its next batch must start a new epoch or sequence 0, which
//! the Java client does by itself (KIP-360) after OUT_OF_ORDER_SEQUENCE_NUMBER.

use crate::error::BrokerError;
use runnel_log::batch::BatchHeader;
use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer.
pub const RETAINED_BATCHES: usize = 5;

/// Where an earlier copy of a batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub timestamp_ms: i64,
}

#[derive(Debug, Default, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchRecord>,
    last_write_ms: i64,
}

/// Outcome of checking a batch before append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not idempotent, or the next batch in sequence: append it.
    Append,
    /// Already appended: answer with the original offsets, append nothing.
    Duplicate(BatchRecord),
}

#[derive(Debug)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    max_producers: usize,
}

impl Default for ProducerStates {
    fn default() -> Self {
        ProducerStates::with_limit(usize::MAX)
    }
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStates {
    pub fn with_limit(max_producers: usize) -> ProducerStates {
        ProducerStates {
            producers: HashMap::new(),
            max_producers: max_producers.max(1),
        }
    }

    /// Forgets the least recently written eighth of the producers (at least one), so a full
    /// map costs one pass per `max / 8` new producers rather than one per producer.
    fn evict_oldest(&mut self) {
        let mut ages: Vec<(i64, i64)> = self
            .producers
            .iter()
            .map(|(id, e)| (e.last_write_ms, *id))
            .collect();
        let count = (ages.len() / 8).max(1);
        ages.select_nth_unstable(count - 1);
        for (_, id) in &ages[..count] {
            self.producers.remove(id);
        }
        tracing::debug!(
            evicted = count,
            "producer state limit reached; forgot the least recently written producers"
        );
    }

    /// Checks a batch against the producer's state without changing it.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, BrokerError> {
        if !h.has_producer_id() || h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            if h.base_sequence == 0 {
                return Ok(SequenceCheck::Append);
            }
            return Err(BrokerError::OutOfOrderSequence(format!(
                "producer {} is unknown to this partition and sent sequence {} (expected 0)",
                h.producer_id, h.base_sequence
            )));
        };
        if h.producer_epoch < entry.epoch {
            return Err(BrokerError::InvalidProducerEpoch {
                got: h.producer_epoch,
                current: entry.epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            if h.base_sequence != 0 {
                return Err(BrokerError::OutOfOrderSequence(format!(
                    "new epoch {} of producer {} must start at sequence 0, got {}",
                    h.producer_epoch, h.producer_id, h.base_sequence
                )));
            }
            return Ok(SequenceCheck::Append);
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence())
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        let last = entry.batches.back().map_or(-1, |b| b.last_seq);
        if h.base_sequence != next_seq(last) {
            return Err(BrokerError::OutOfOrderSequence(format!(
                "producer {} epoch {}: expected sequence {}, got {}",
                h.producer_id,
                h.producer_epoch,
                next_seq(last),
                h.base_sequence
            )));
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch that was appended (or found in the log during recovery).
    pub fn record(&mut self, h: &BatchHeader, base_offset: i64, now_ms: i64) {
        if !h.has_producer_id() || h.base_sequence < 0 {
            return;
        }
        if !self.producers.contains_key(&h.producer_id)
            && self.producers.len() >= self.max_producers
        {
            self.evict_oldest();
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(BatchRecord {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset,
            last_offset: base_offset + h.last_offset_delta as i64,
            timestamp_ms: h.max_timestamp,
        });
        while entry.batches.len() > RETAINED_BATCHES {
            entry.batches.pop_front();
        }
        entry.last_write_ms = now_ms;
    }

    /// Forgets producers idle longer than `producer.id.expiration.ms`.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        self.producers
            .retain(|_, e| now_ms - e.last_write_ms < expiration_ms);
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn a_retried_batch_is_a_duplicate_with_its_original_offsets() {
        let mut s = ProducerStates::default();
        let h = header(7, 0, 0, 3);
        assert_eq!(s.check(&h).unwrap(), SequenceCheck::Append);
        s.record(&h, 100, 1);
        match s.check(&h).unwrap() {
            SequenceCheck::Duplicate(b) => assert_eq!((b.base_offset, b.last_offset), (100, 102)),
            other => panic!("expected duplicate, got {other:?}"),
        }
    }

    #[test]
    fn a_gap_in_sequence_is_refused() {
        let mut s = ProducerStates::default();
        s.record(&header(7, 0, 0, 3), 0, 1);
        assert!(matches!(
            s.check(&header(7, 0, 5, 1)),
            Err(BrokerError::OutOfOrderSequence(_))
        ));
        assert_eq!(s.check(&header(7, 0, 3, 1)).unwrap(), SequenceCheck::Append);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerStates::default();
        for i in 0..7 {
            s.record(&header(1, 0, i, 1), i as i64, 1);
        }
        assert!(matches!(
            s.check(&header(1, 0, 6, 1)).unwrap(),
            SequenceCheck::Duplicate(_)
        ));
        assert!(matches!(
            s.check(&header(1, 0, 2, 1)).unwrap(),
            SequenceCheck::Duplicate(_)
        ));
        assert!(
            s.check(&header(1, 0, 1, 1)).is_err(),
            "too old to be known as a duplicate"
        );
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_newer_one_restarts_at_zero() {
        let mut s = ProducerStates::default();
        s.record(&header(1, 3, 0, 1), 0, 1);
        assert!(matches!(
            s.check(&header(1, 2, 1, 1)),
            Err(BrokerError::InvalidProducerEpoch { .. })
        ));
        assert_eq!(s.check(&header(1, 4, 0, 1)).unwrap(), SequenceCheck::Append);
        assert!(s.check(&header(1, 4, 1, 1)).is_err());
    }

    #[test]
    fn new_producers_beyond_the_limit_evict_the_least_recently_written() {
        let mut s = ProducerStates::with_limit(16);
        for pid in 0..16 {
            s.record(&header(pid, 0, 0, 1), pid, 1_000 + pid);
        }
        s.record(&header(3, 0, 1, 1), 100, 5_000);
        s.record(&header(99, 0, 0, 1), 101, 6_000);
        assert!(s.len() <= 16, "{} producers remembered, limit 16", s.len());
        assert!(
            s.check(&header(0, 0, 1, 1)).is_err(),
            "the oldest producer was forgotten"
        );
        assert_eq!(
            s.check(&header(3, 0, 2, 1)).unwrap(),
            SequenceCheck::Append,
            "a recently written one is kept"
        );
        assert!(matches!(
            s.check(&header(99, 0, 0, 1)).unwrap(),
            SequenceCheck::Duplicate(_)
        ));
        for pid in 1000..2000 {
            s.record(&header(pid, 0, 0, 1), pid, 10_000 + pid);
        }
        assert!(s.len() <= 16, "{} producers remembered", s.len());
    }

    #[test]
    fn a_non_idempotent_batch_always_appends() {
        let s = ProducerStates::default();
        assert_eq!(
            s.check(&header(-1, -1, -1, 1)).unwrap(),
            SequenceCheck::Append
        );
    }
}
