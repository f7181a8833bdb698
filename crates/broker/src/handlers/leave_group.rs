//! LeaveGroup: v0-2 one member id; v3+ a batch of members (by member id or group.instance.id),
//! each with its own error code.

use crate::handlers::str_bytes;
use crate::state::BrokerState;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = header.request_api_version;
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let mut resp = LeaveGroupResponse::default();
    match state.groups.leave(&req.group_id.0, members.clone()) {
        Err(e) => resp.error_code = e.wire_code(),
        Ok(results) if version < 3 => {
            resp.error_code = results
                .first()
                .and_then(|r| r.as_ref().err())
                .map_or(0, |e| e.wire_code());
        }
        Ok(results) => {
            for ((member_id, instance), r) in members.into_iter().zip(results) {
                let mut m = MemberResponse::default();
                m.member_id = str_bytes(member_id);
                m.group_instance_id = instance.map(str_bytes);
                m.error_code = r.err().map_or(0, |e| e.wire_code());
                resp.members.push(m);
            }
        }
    }
    resp
}
