//! DeleteGroups: removes Empty groups and their offsets (tombstones in __consumer_offsets);
//! a group with members gets NON_EMPTY_GROUP.

use crate::state::BrokerState;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for id in req.groups_names {
        let mut r = DeletableGroupResult::default();
        if let Err(e) = state.groups.delete_group(&id.0).await {
            r.error_code = e.wire_code();
        }
        r.group_id = id;
        resp.results.push(r);
    }
    resp
}
