//! Durability of group state: appending offset and group records to `__consumer_offsets`
//! before a client is answered, and replaying them at start-up.

use super::*;
use runnel_protocol::records::{for_each_record, ReadLimits};

impl GroupCoordinator {
    /// Appends records for `group` to its `__consumer_offsets` partition as one batch.
    pub(super) fn persist(&self, group: &str, kvs: &[KeyValue]) -> BrokerResult<()> {
        if kvs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let recs: Vec<Record> = kvs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder starts a new batch wherever `offset - sequence` changes, and the
                // log takes one batch per append: with no producer the sequence runs from -1,
                // so the batch's base sequence stays -1 and every record lands in one batch.
                sequence: i as i32 - 1,
                timestamp: now,
                key: Some(k.clone()),
                value: v.clone(),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            recs.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| BrokerError::InvalidRequest(format!("encoding group records: {e}")))?;
        self.partition_of(group).append(&buf, now).map(|_| ())
    }

    pub(super) fn group_record(g: &Group) -> KeyValue {
        let protocol = g.protocol.as_deref();
        let value = GroupValue {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation,
            protocol: g.protocol.clone(),
            leader: g.leader.clone(),
            current_state_timestamp: g.state_timestamp,
            members: g
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: protocol.map(|p| m.metadata_for(p)).unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        };
        (
            records::encode_group_key(&g.id),
            Some(records::encode_group_value(&value)),
        )
    }

    /// Persists the group's metadata; failures are logged (the state in memory stands, as a
    /// later change writes the whole group again).
    pub(super) fn persist_group(&self, g: &Group) {
        if let Err(e) = self.persist(&g.id, &[Self::group_record(g)]) {
            tracing::warn!(group = %g.id, error = %e, "writing group metadata failed");
        }
    }

    // ---------------------------------------------------------------- loading

    /// Replays every `__consumer_offsets` partition to rebuild groups and offsets.
    pub fn load(&self) -> BrokerResult<()> {
        let mut metas: HashMap<String, Option<GroupValue>> = HashMap::new();
        let mut offsets: HashMap<String, BTreeMap<(String, i32), OffsetEntry>> = HashMap::new();
        let mut count = 0usize;
        for p in &self.partitions {
            let mut offset = p.log_start_offset();
            let end = p.high_watermark();
            while offset < end {
                let fetched = p.read(offset, 4 * 1024 * 1024)?;
                if fetched.records.is_empty() {
                    break;
                }
                let batches = runnel_log::batch::split_batches(&fetched.records)
                    .map_err(runnel_log::LogError::from)?;
                if batches.is_empty() {
                    break;
                }
                for (h, bytes) in batches {
                    offset = h.last_offset() + 1;
                    if h.is_control() {
                        continue;
                    }
                    let limits = ReadLimits::for_batch_limit(bytes.len());
                    let walked = for_each_record(bytes, &h, limits, |r| {
                        if let Some(key) = r.key {
                            count += 1;
                            replay_record(key, r.value, &mut metas, &mut offsets);
                        }
                    });
                    if let Err(e) = walked {
                        // Records before the fault were applied, as Kafka's loader does.
                        tracing::warn!(partition = p.index, offset = h.base_offset, error = %e, "skipping the rest of an unreadable batch in __consumer_offsets");
                    }
                }
            }
        }
        let now = now_ms();
        let mut groups = self.groups.lock();
        let mut ids: Vec<String> = metas.keys().cloned().collect();
        ids.extend(offsets.keys().cloned());
        ids.sort();
        ids.dedup();
        for id in ids {
            let meta = metas.remove(&id).flatten();
            let offs = offsets.remove(&id).unwrap_or_default();
            if meta.is_none() && offs.is_empty() {
                continue;
            }
            let mut g = Group::new(&id, now);
            g.offsets = offs;
            if let Some(v) = meta {
                g.generation = v.generation;
                g.protocol_type = Some(v.protocol_type).filter(|s| !s.is_empty());
                g.protocol = v.protocol;
                g.leader = v.leader;
                if v.current_state_timestamp > 0 {
                    g.state_timestamp = v.current_state_timestamp;
                }
                let protocol = g.protocol.clone().unwrap_or_default();
                for m in v.members {
                    if let Some(i) = &m.group_instance_id {
                        g.static_members.insert(i.clone(), m.member_id.clone());
                    }
                    g.members.insert(
                        m.member_id.clone(),
                        Member {
                            member_id: m.member_id,
                            group_instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            rebalance_timeout_ms: m.rebalance_timeout_ms,
                            session_timeout_ms: m.session_timeout_ms,
                            protocol_type: g.protocol_type.clone().unwrap_or_default(),
                            protocols: vec![(protocol.clone(), m.subscription)],
                            assignment: m.assignment,
                            join_waiter: None,
                            sync_waiter: None,
                            session_deadline: now + m.session_timeout_ms as i64,
                        },
                    );
                }
                g.state = if g.members.is_empty() {
                    GroupState::Empty
                } else {
                    GroupState::Stable
                };
            }
            groups.insert(id, g);
        }
        tracing::info!(
            groups = groups.len(),
            records = count,
            "group coordinator loaded __consumer_offsets"
        );
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }
}

/// Applies one `__consumer_offsets` record to the maps being rebuilt; a null value is a
/// tombstone. Records that do not decode are skipped with a warning.
fn replay_record(
    key: &[u8],
    value: Option<&[u8]>,
    metas: &mut HashMap<String, Option<GroupValue>>,
    offsets: &mut HashMap<String, BTreeMap<(String, i32), OffsetEntry>>,
) {
    match records::decode_key(key) {
        Ok(RecordKey::Offset {
            group,
            topic,
            partition,
        }) => {
            let entries = offsets.entry(group).or_default();
            match value.map(records::decode_offset_value) {
                None => {
                    entries.remove(&(topic, partition));
                }
                Some(Ok(v)) => {
                    entries.insert(
                        (topic, partition),
                        OffsetEntry {
                            offset: v.offset,
                            leader_epoch: v.leader_epoch,
                            metadata: v.metadata,
                            commit_timestamp: v.commit_timestamp,
                        },
                    );
                }
                Some(Err(e)) => tracing::warn!(error = %e, "skipping record"),
            }
        }
        Ok(RecordKey::Group { group }) => match value.map(records::decode_group_value) {
            None => {
                metas.insert(group, None);
            }
            Some(Ok(v)) => {
                metas.insert(group, Some(v));
            }
            Some(Err(e)) => tracing::warn!(error = %e, "skipping record"),
        },
        Err(e) => tracing::warn!(error = %e, "skipping record"),
    }
}
