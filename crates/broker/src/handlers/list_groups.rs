//! ListGroups: every group, optionally filtered by state (v4+, case-insensitive) and type
//! (v5+: all of Runnel's groups are "classic").

use crate::handlers::str_bytes;
use crate::state::BrokerState;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let version = header.request_api_version;
    let mut resp = ListGroupsResponse::default();
    let groups = match state.groups.list() {
        Ok(g) => g,
        Err(e) => {
            resp.error_code = e.wire_code();
            return resp;
        }
    };
    let type_ok = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case("classic"));
    if !type_ok {
        return resp;
    }
    for (id, protocol_type, group_state) in groups {
        if !req.states_filter.is_empty()
            && !req
                .states_filter
                .iter()
                .any(|s| s.eq_ignore_ascii_case(group_state.name()))
        {
            continue;
        }
        let mut g = ListedGroup::default();
        g.group_id = GroupId(str_bytes(id));
        g.protocol_type = str_bytes(protocol_type);
        if version >= 4 {
            g.group_state = str_bytes(group_state.name());
        }
        if version >= 5 {
            g.group_type = str_bytes("classic");
        }
        resp.groups.push(g);
    }
    resp
}
