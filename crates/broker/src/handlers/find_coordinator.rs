//! FindCoordinator: this node coordinates every group (key type 0). v0-3 carry one key; v4+
//! a batch of `coordinator_keys`. Transaction coordinators (key type 1) are not available:
//! Runnel has no transactions.

use crate::error::BrokerError;
use crate::handlers::str_bytes;
use crate::state::BrokerState;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::*;
use std::sync::Arc;

const GROUP_KEY_TYPE: i8 = 0;
const TRANSACTION_KEY_TYPE: i8 = 1;

fn check(state: &BrokerState, key: &str, key_type: i8) -> Result<(), BrokerError> {
    match key_type {
        GROUP_KEY_TYPE if key.is_empty() => Err(BrokerError::InvalidGroupId),
        GROUP_KEY_TYPE => state.groups.check_loading(key),
        TRANSACTION_KEY_TYPE => Err(BrokerError::CoordinatorNotAvailable),
        other => Err(BrokerError::UnsupportedCoordinatorKeyType(other)),
    }
}

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = header.request_api_version;
    let c = &state.config;
    let mut resp = FindCoordinatorResponse::default();
    if version < 4 {
        match check(state, &req.key, req.key_type) {
            Ok(()) => {
                resp.node_id = BrokerId(c.node_id);
                resp.host = str_bytes(c.advertised_host.clone());
                resp.port = c.advertised_port;
            }
            Err(e) => {
                resp.error_code = e.wire_code();
                resp.node_id = BrokerId(-1);
                resp.port = -1;
                if version >= 1 {
                    resp.error_message = Some(str_bytes(e.to_string()));
                }
            }
        }
        return resp;
    }
    for key in req.coordinator_keys {
        let mut co = Coordinator::default();
        match check(state, &key, req.key_type) {
            Ok(()) => {
                co.node_id = BrokerId(c.node_id);
                co.host = str_bytes(c.advertised_host.clone());
                co.port = c.advertised_port;
            }
            Err(e) => {
                co.error_code = e.wire_code();
                co.error_message = Some(str_bytes(e.to_string()));
                co.node_id = BrokerId(-1);
                co.port = -1;
            }
        }
        co.key = key;
        resp.coordinators.push(co);
    }
    resp
}
