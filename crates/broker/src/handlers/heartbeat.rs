//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use crate::state::BrokerState;
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let mut resp = HeartbeatResponse::default();
    if let Err(e) = state.groups.heartbeat(
        &req.group_id.0,
        req.generation_id,
        &req.member_id,
        req.group_instance_id.as_deref(),
    ) {
        resp.error_code = e.wire_code();
    }
    resp
}
