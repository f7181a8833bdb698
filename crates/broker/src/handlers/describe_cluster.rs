//! DescribeCluster: cluster id, controller and brokers. This node is the only broker and acts
//! as the controller. Asking a broker for controller endpoints (endpoint_type 2, v1+) is
//! refused with UNSUPPORTED_ENDPOINT_TYPE, as Kafka brokers do.

use super::str_bytes;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
};
use std::sync::Arc;

const ENDPOINT_BROKERS: i8 = 1;

/// Kafka's `AclOperation` codes a cluster supports (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE): with no authorizer, all are allowed.
const CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut response = DescribeClusterResponse::default();
    response.endpoint_type = req.endpoint_type;
    response.cluster_id = str_bytes(state.cluster_id.clone());
    response.controller_id = BrokerId(-1);
    response.cluster_authorized_operations = i32::MIN;
    if req.endpoint_type != ENDPOINT_BROKERS {
        let e = BrokerError::UnsupportedEndpointType(format!(
            "The request was sent to an endpoint of type BROKER, but endpoint type {} was requested",
            req.endpoint_type
        ));
        response.error_code = e.wire_code();
        response.error_message = Some(str_bytes(e.to_string()));
        return response;
    }
    let node = BrokerId(state.config.node_id);
    response.controller_id = node;
    let mut broker = DescribeClusterBroker::default();
    broker.broker_id = node;
    broker.host = str_bytes(state.config.advertised_host.clone());
    broker.port = state.config.advertised_port;
    broker.rack = None;
    response.brokers = vec![broker];
    if req.include_cluster_authorized_operations {
        response.cluster_authorized_operations = CLUSTER_OPERATIONS;
    }
    response
}
