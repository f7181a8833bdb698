//! Group administration: DescribeGroups, ListGroups, DeleteGroups.

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- Describe / List / Delete

    pub fn describe(&self, group_id: &str) -> BrokerResult<Option<GroupSummary>> {
        let shard = self.shard_of(group_id)?;
        let st = shard.state.lock();
        let Some(g) = st.groups.get(group_id) else {
            return Ok(None);
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        Ok(Some(GroupSummary {
            group_id: g.id.clone(),
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberSummary {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    // Kafka shows the last assignment in every state (describeNoMetadata).
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }))
    }

    /// (group id, protocol type, state) of every group. While any partition is still being
    /// replayed the answer is COORDINATOR_LOAD_IN_PROGRESS; a partition that failed to load is
    /// left out, as Kafka leaves out partitions it does not coordinate.
    pub fn list(&self) -> BrokerResult<Vec<(String, String, GroupState)>> {
        let mut out = Vec::new();
        for shard in &self.shards {
            match shard.check() {
                Ok(()) => {}
                Err(BrokerError::NotCoordinator) => continue,
                Err(e) => return Err(e),
            }
            let st = shard.state.lock();
            out.extend(
                st.groups
                    .values()
                    .filter(|g| g.state != GroupState::Dead)
                    .map(|g| {
                        (
                            g.id.clone(),
                            g.protocol_type.clone().unwrap_or_default(),
                            g.state,
                        )
                    }),
            );
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Deletes an Empty group with its offsets. As in Kafka the group goes from memory at
    /// once; the answer waits for the tombstones to be written.
    pub async fn delete_group(&self, group_id: &str) -> BrokerResult<()> {
        let shard = self.shard_of(group_id)?;
        let rx = {
            let mut st = shard.state.lock();
            let g = st
                .groups
                .get(group_id)
                .ok_or(BrokerError::GroupIdNotFound)?;
            match g.state {
                GroupState::Empty => {}
                GroupState::Dead => return Err(BrokerError::GroupIdNotFound),
                _ => return Err(BrokerError::NonEmptyGroup),
            }
            let mut kvs: Vec<KeyValue> = g
                .offsets
                .keys()
                .map(|(t, p)| (records::encode_offset_key(group_id, t, *p), None))
                .collect();
            kvs.push((records::encode_group_key(group_id), None));
            st.groups.remove(group_id);
            let (tx, rx) = oneshot::channel::<BrokerResult<()>>();
            let completion: shard::Completion = Box::new(move |_, _, result| {
                let _ = tx.send(match result {
                    Ok(()) => Ok(()),
                    Err(_) => Err(BrokerError::CoordinatorNotAvailable),
                });
            });
            shard.enqueue(self, &mut st, kvs, Some(completion));
            rx
        };
        rx.await
            .unwrap_or(Err(BrokerError::CoordinatorNotAvailable))?;
        tracing::info!(group = group_id, "group deleted");
        Ok(())
    }
}
