//! One partition's metadata. Its fields change only through [`PartitionRecord::apply_change`],
//! which keeps the invariants: replicas non-empty and distinct, `isr ⊆ replicas`,
//! `leader ∈ isr`, epochs only grow.

use serde::{Deserialize, Serialize};

use crate::records::{BrokerId, CommandError};

/// KRaft's `PartitionRecord`: the state of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    partition: i32,
    replicas: Vec<BrokerId>,
    isr: Vec<BrokerId>,
    leader: Option<BrokerId>,
    leader_epoch: i32,
    partition_epoch: i32,
}

/// The target state of a partition change (the whole ISR, the leader, optionally new replicas).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChange {
    /// `None`: no leader (Kafka's -1).
    pub leader: Option<BrokerId>,
    pub isr: Vec<BrokerId>,
    /// `None` keeps the replicas.
    pub replicas: Option<Vec<BrokerId>>,
}

/// Checks a replica list: non-empty, no duplicates, no negative ids.
pub fn validate_replicas(replicas: &[BrokerId]) -> Result<(), CommandError> {
    if replicas.is_empty() {
        return Err(CommandError::InvalidReplicas("no replicas".into()));
    }
    if let Some(id) = replicas.iter().find(|id| **id < 0) {
        return Err(CommandError::InvalidReplicas(format!(
            "negative broker id {id}"
        )));
    }
    for (i, id) in replicas.iter().enumerate() {
        if replicas[..i].contains(id) {
            return Err(CommandError::InvalidReplicas(format!(
                "broker {id} listed twice in {replicas:?}"
            )));
        }
    }
    Ok(())
}

impl PartitionRecord {
    /// A new partition: all replicas in sync, the first one leads, epochs 0.
    pub fn new(partition: i32, replicas: Vec<BrokerId>) -> Result<Self, CommandError> {
        validate_replicas(&replicas)?;
        let record = Self {
            partition,
            isr: replicas.clone(),
            leader: Some(replicas[0]),
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
        };
        record.assert_invariants();
        Ok(record)
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }
    pub fn replicas(&self) -> &[BrokerId] {
        &self.replicas
    }
    pub fn isr(&self) -> &[BrokerId] {
        &self.isr
    }
    pub fn leader(&self) -> Option<BrokerId> {
        self.leader
    }
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// Checks a change against the current state without applying it.
    pub fn check_change(
        &self,
        expected_partition_epoch: i32,
        expected_leader_epoch: i32,
        change: &PartitionChange,
    ) -> Result<(), CommandError> {
        if expected_partition_epoch != self.partition_epoch {
            return Err(CommandError::StalePartitionEpoch {
                expected: expected_partition_epoch,
                current: self.partition_epoch,
            });
        }
        if expected_leader_epoch != self.leader_epoch {
            return Err(CommandError::StaleLeaderEpoch {
                expected: expected_leader_epoch,
                current: self.leader_epoch,
            });
        }
        let replicas = change.replicas.as_deref().unwrap_or(&self.replicas);
        validate_replicas(replicas)?;
        for (i, id) in change.isr.iter().enumerate() {
            if !replicas.contains(id) || change.isr[..i].contains(id) {
                return Err(CommandError::InvalidPartitionChange(format!(
                    "isr {:?} is not a set within replicas {replicas:?}",
                    change.isr
                )));
            }
        }
        if let Some(leader) = change.leader {
            if !change.isr.contains(&leader) {
                return Err(CommandError::InvalidPartitionChange(format!(
                    "leader {leader} is not in isr {:?}",
                    change.isr
                )));
            }
        }
        Ok(())
    }

    /// Applies a checked change: the partition epoch always grows, the leader epoch grows
    /// when the leader changes (as KRaft's PartitionChangeBuilder does).
    pub fn apply_change(
        &mut self,
        expected_partition_epoch: i32,
        expected_leader_epoch: i32,
        change: &PartitionChange,
    ) -> Result<(), CommandError> {
        self.check_change(expected_partition_epoch, expected_leader_epoch, change)?;
        let (old_leader_epoch, old_partition_epoch) = (self.leader_epoch, self.partition_epoch);
        if change.leader != self.leader {
            self.leader_epoch += 1;
        }
        self.partition_epoch += 1;
        self.leader = change.leader;
        self.isr = change.isr.clone();
        if let Some(replicas) = &change.replicas {
            self.replicas = replicas.clone();
        }
        assert!(
            self.leader_epoch >= old_leader_epoch && self.partition_epoch > old_partition_epoch,
            "epochs must grow: leader epoch {old_leader_epoch} -> {}, partition epoch {old_partition_epoch} -> {}",
            self.leader_epoch,
            self.partition_epoch
        );
        self.assert_invariants();
        Ok(())
    }

    fn assert_invariants(&self) {
        assert!(
            self.isr.iter().all(|id| self.replicas.contains(id)),
            "partition {}: isr {:?} must be within replicas {:?}",
            self.partition,
            self.isr,
            self.replicas
        );
        if let Some(leader) = self.leader {
            assert!(
                self.isr.contains(&leader),
                "partition {}: leader {leader} must be in isr {:?}",
                self.partition,
                self.isr
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(leader: Option<BrokerId>, isr: &[BrokerId]) -> PartitionChange {
        PartitionChange {
            leader,
            isr: isr.to_vec(),
            replicas: None,
        }
    }

    #[test]
    fn changes_that_break_leader_in_isr_within_replicas_are_refused_and_change_nothing() {
        let mut p = PartitionRecord::new(0, vec![1, 2, 3]).unwrap();
        let before = p.clone();
        let leader_outside = p.apply_change(0, 0, &change(Some(3), &[1, 2]));
        assert!(
            matches!(leader_outside, Err(CommandError::InvalidPartitionChange(_))),
            "{leader_outside:?}"
        );
        let isr_outside = p.apply_change(0, 0, &change(Some(1), &[1, 4]));
        assert!(
            matches!(isr_outside, Err(CommandError::InvalidPartitionChange(_))),
            "{isr_outside:?}"
        );
        let duplicate = p.apply_change(0, 0, &change(Some(1), &[1, 1]));
        assert!(
            matches!(duplicate, Err(CommandError::InvalidPartitionChange(_))),
            "{duplicate:?}"
        );
        assert_eq!(p, before);
        assert!(
            PartitionRecord::new(0, vec![]).is_err()
                && PartitionRecord::new(0, vec![1, 1]).is_err()
        );
    }

    #[test]
    fn the_leader_epoch_grows_only_with_a_new_leader_and_the_partition_epoch_always() {
        let mut p = PartitionRecord::new(0, vec![1, 2, 3]).unwrap();
        p.apply_change(0, 0, &change(Some(1), &[1, 2])).unwrap(); // ISR shrink, same leader
        assert_eq!((p.leader_epoch(), p.partition_epoch()), (0, 1));
        p.apply_change(1, 0, &change(Some(2), &[1, 2])).unwrap();
        assert_eq!(
            (p.leader(), p.leader_epoch(), p.partition_epoch()),
            (Some(2), 1, 2)
        );
        p.apply_change(2, 1, &change(None, &[])).unwrap(); // offline
        assert_eq!(
            (p.leader(), p.leader_epoch(), p.partition_epoch()),
            (None, 2, 3)
        );
        let moved = PartitionChange {
            leader: Some(5),
            isr: vec![5],
            replicas: Some(vec![5, 6]),
        };
        p.apply_change(3, 2, &moved).unwrap();
        assert_eq!(
            (p.replicas(), p.isr(), p.leader_epoch()),
            (&[5, 6][..], &[5][..], 3)
        );
    }
}
