//! Durability of group state: encoding offset and group records, appending them to a
//! `__consumer_offsets` partition (called by the shard's writer on the blocking pool, see
//! [`super::shard`]), and replaying a partition at start-up.

use super::*;
use runnel_protocol::records::{for_each_record, ReadLimits};

/// Appends `kvs` to `partition` as one batch (blocking: disk I/O).
pub(super) fn append_records(partition: &Partition, kvs: &[KeyValue]) -> BrokerResult<()> {
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
            // The encoder starts a new batch whenever `offset - sequence` changes; this keeps
            // the records in one batch (base sequence -1), which produce validation demands.
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
    partition.append(&buf, now).map(|_| ())
}

impl GroupCoordinator {
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

    /// Queues the group's metadata record (its outbox is drained into the shard's queue by
    /// the operation that changed it, see [`Group::outbox`]). A failed write is logged; the
    /// state in memory stands, as the next change writes the whole group again.
    pub(super) fn persist_group(&self, g: &mut Group) {
        let record = Self::group_record(g);
        g.outbox.push(record);
    }

    /// Moves the records `g`'s state changes queued in its outbox onto the shard's queue.
    pub(super) fn flush_outbox(&self, shard: &Shard, st: &mut ShardState, group: &str) {
        let kvs = match st.groups.get_mut(group) {
            Some(g) if !g.outbox.is_empty() => std::mem::take(&mut g.outbox),
            _ => return,
        };
        shard.enqueue(self, st, kvs, None);
    }
}

// ---------------------------------------------------------------- loading

/// What replaying one partition found, per group.
#[derive(Default)]
struct Replayed {
    metas: HashMap<String, Option<GroupValue>>,
    offsets: HashMap<String, BTreeMap<(String, i32), OffsetEntry>>,
    records: usize,
}

/// Replays one `__consumer_offsets` partition into its groups. A log that cannot be read (a
/// batch header that does not parse, an I/O error) is an error: the partition's groups would
/// otherwise come back incomplete. Within a readable batch, records that do not decode end that
/// batch with a warning (those before the fault were applied, as Kafka's loader does), and
/// records of a kind this broker does not know are skipped, as Kafka skips unknown record types.
pub(super) fn replay(partition: &Partition) -> BrokerResult<Vec<Group>> {
    let mut found = Replayed::default();
    let mut offset = partition.log_start_offset();
    let end = partition.high_watermark();
    while offset < end {
        let fetched = partition.read(offset, 4 * 1024 * 1024)?;
        if fetched.records.is_empty() {
            break;
        }
        let batches = runnel_log::batch::split_batches(&fetched.records)
            .map_err(runnel_log::LogError::from)?;
        for (h, bytes) in batches {
            offset = h.last_offset() + 1;
            if h.is_control() {
                continue;
            }
            let limits = ReadLimits::for_batch_limit(bytes.len());
            let walked = for_each_record(bytes, &h, limits, |r| {
                if let Some(key) = r.key {
                    found.apply(key, r.value);
                }
            });
            if let Err(e) = walked {
                tracing::warn!(partition = partition.index, offset = h.base_offset, error = %e,
                    "skipping the rest of an unreadable batch in __consumer_offsets");
            }
        }
    }
    tracing::info!(
        partition = partition.index,
        groups = found.metas.len().max(found.offsets.len()),
        records = found.records,
        "group coordinator loaded __consumer_offsets partition"
    );
    Ok(found.into_groups(now_ms()))
}

impl Replayed {
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.records += 1;
        match records::decode_key(key) {
            Ok(RecordKey::Offset {
                group,
                topic,
                partition,
            }) => {
                let entries = self.offsets.entry(group).or_default();
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
                    self.metas.insert(group, None);
                }
                Some(Ok(v)) => {
                    self.metas.insert(group, Some(v));
                }
                Some(Err(e)) => tracing::warn!(error = %e, "skipping record"),
            },
            Err(e) => tracing::warn!(error = %e, "skipping record"),
        }
    }

    fn into_groups(mut self, now: i64) -> Vec<Group> {
        let mut ids: Vec<String> = self.metas.keys().cloned().collect();
        ids.extend(self.offsets.keys().cloned());
        ids.sort();
        ids.dedup();
        let mut out = Vec::new();
        for id in ids {
            let meta = self.metas.remove(&id).flatten();
            let offs = self.offsets.remove(&id).unwrap_or_default();
            if meta.is_none() && offs.is_empty() {
                continue;
            }
            let mut g = Group::new(&id, now);
            g.offsets = offs;
            if let Some(v) = meta {
                restore_metadata(&mut g, v, now);
            }
            out.push(g);
        }
        out
    }
}

/// Restores a group as stored: Stable with its members and generation, or Empty. Members that
/// do not heartbeat expire as usual.
fn restore_metadata(g: &mut Group, v: GroupValue, now: i64) {
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
