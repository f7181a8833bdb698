//! DescribeGroups: state, protocol and members of each group. An unknown group is reported as
//! `Dead` (v0-5) or with GROUP_ID_NOT_FOUND (v6+), as Kafka does.

use crate::error::BrokerError;
use crate::handlers::str_bytes;
use crate::state::BrokerState;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = header.request_api_version;
    let mut resp = DescribeGroupsResponse::default();
    for id in req.groups {
        let mut d = DescribedGroup::default();
        d.authorized_operations = i32::MIN;
        match state.groups.describe(&id.0) {
            Err(e) => {
                d.error_code = e.wire_code();
                if version >= 6 {
                    d.error_message = Some(str_bytes(e.to_string()));
                }
            }
            Ok(None) => {
                d.group_state = str_bytes("Dead");
                if version >= 6 {
                    d.error_code = BrokerError::GroupIdNotFound.wire_code();
                    // Kafka's words, which admin clients pass on to their users.
                    d.error_message =
                        Some(str_bytes(format!("Group {} not found.", id.0.as_str())));
                }
            }
            Ok(Some(g)) => {
                d.group_state = str_bytes(g.state.name());
                d.protocol_type = str_bytes(g.protocol_type);
                d.protocol_data = str_bytes(g.protocol);
                for m in g.members {
                    let mut dm = DescribedGroupMember::default();
                    dm.member_id = str_bytes(m.member_id);
                    if version >= 4 {
                        dm.group_instance_id = m.group_instance_id.map(str_bytes);
                    }
                    dm.client_id = str_bytes(m.client_id);
                    dm.client_host = str_bytes(m.client_host);
                    dm.member_metadata = m.metadata;
                    dm.member_assignment = m.assignment;
                    d.members.push(dm);
                }
            }
        }
        d.group_id = id;
        resp.groups.push(d);
    }
    resp
}
