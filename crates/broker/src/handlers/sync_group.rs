//! SyncGroup: the leader hands in the assignment; every member gets its own share once the
//! leader's has been stored.

use crate::handlers::str_bytes;
use crate::state::BrokerState;
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let version = header.request_api_version;
    let assignments = req
        .assignments
        .into_iter()
        .map(|a| (a.member_id.to_string(), a.assignment))
        .collect();
    let sync = state.groups.sync(
        &req.group_id.0,
        req.generation_id,
        &req.member_id,
        req.group_instance_id.as_deref(),
        req.protocol_type.as_deref(),
        req.protocol_name.as_deref(),
        assignments,
    );
    // A follower waits for the leader's SyncGroup without holding a request slot.
    let r = crate::connection::park_while_pending(sync).await;
    let mut resp = SyncGroupResponse::default();
    resp.error_code = r.error.as_ref().map_or(0, |e| e.wire_code());
    if version >= 5 {
        resp.protocol_type = r.protocol_type.map(str_bytes);
        resp.protocol_name = r.protocol_name.map(str_bytes);
    }
    resp.assignment = r.assignment;
    resp
}
