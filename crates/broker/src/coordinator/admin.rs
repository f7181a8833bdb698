//! Group administration: DescribeGroups, ListGroups, DeleteGroups.

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- Describe / List / Delete

    pub fn describe(&self, group_id: &str) -> BrokerResult<Option<GroupSummary>> {
        self.check_loaded()?;
        let groups = self.groups.lock();
        let Some(g) = groups.get(group_id) else {
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
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }))
    }

    /// (group id, protocol type, state) of every group.
    pub fn list(&self) -> BrokerResult<Vec<(String, String, GroupState)>> {
        self.check_loaded()?;
        let groups = self.groups.lock();
        let mut out: Vec<_> = groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| {
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Deletes an Empty group with its offsets (tombstones first).
    pub fn delete_group(&self, group_id: &str) -> BrokerResult<()> {
        self.check_loaded()?;
        let mut groups = self.groups.lock();
        let g = groups.get(group_id).ok_or(BrokerError::GroupIdNotFound)?;
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
        self.persist(group_id, &kvs)?;
        groups.remove(group_id);
        tracing::info!(group = group_id, "group deleted");
        Ok(())
    }
}
