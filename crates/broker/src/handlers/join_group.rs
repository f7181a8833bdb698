//! JoinGroup: a member (re)joins; the response waits for the join phase to complete (see
//! [`crate::coordinator`]). v4+: a dynamic member's first join gets MEMBER_ID_REQUIRED with
//! the id to rejoin with.

use crate::coordinator::JoinParams;
use crate::handlers::{client_host, str_bytes};
use crate::state::BrokerState;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = header.request_api_version;
    let params = JoinParams {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        client_host: client_host(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    // The join waits for the rest of the group without holding a request slot: the members it
    // waits for need slots to send their JoinGroups.
    let r = crate::connection::park_while_pending(state.groups.join(params)).await;
    let mut resp = JoinGroupResponse::default();
    resp.error_code = r.error.as_ref().map_or(0, |e| e.wire_code());
    resp.generation_id = r.generation;
    if version >= 7 {
        resp.protocol_type = r.protocol_type.map(str_bytes);
    }
    resp.protocol_name = match (r.protocol_name, version >= 7) {
        (Some(p), _) => Some(str_bytes(p)),
        (None, true) => None,
        (None, false) => Some(str_bytes("")),
    };
    resp.leader = str_bytes(r.leader);
    resp.member_id = str_bytes(r.member_id);
    resp.skip_assignment = version >= 9 && r.skip_assignment;
    resp.members = r
        .members
        .into_iter()
        .map(|m| {
            let mut out = JoinGroupResponseMember::default();
            out.member_id = str_bytes(m.member_id);
            if version >= 5 {
                out.group_instance_id = m.group_instance_id.map(str_bytes);
            }
            out.metadata = m.metadata;
            out
        })
        .collect();
    resp
}
