//! DescribeCluster: cluster id, controller and brokers. This node is the only broker and acts
//! as the controller.
//!
//! Endpoint types follow Kafka's broker (`AuthHelper.computeDescribeClusterResponse`): asking a
//! broker for controller endpoints (type 2) is MISMATCHED_ENDPOINT_TYPE, an unknown type is
//! UNSUPPORTED_ENDPOINT_TYPE; at v0 (which cannot carry a type) both would be INVALID_REQUEST.
//! An error response carries nothing else, as in Kafka.

use super::str_bytes;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
};
use std::sync::Arc;

const ENDPOINT_BROKERS: i8 = 1;
const ENDPOINT_CONTROLLERS: i8 = 2;

/// Kafka's `AclOperation` codes a cluster supports (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE): with no authorizer, all are allowed.
const CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut response = DescribeClusterResponse::default();
    if let Err(e) = check_endpoint_type(header.request_api_version, req.endpoint_type) {
        response.error_code = e.wire_code();
        response.error_message = Some(str_bytes(e.to_string()));
        return response;
    }
    let node = BrokerId(state.config.node_id);
    response.endpoint_type = ENDPOINT_BROKERS;
    response.cluster_id = str_bytes(state.cluster_id.clone());
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

fn check_endpoint_type(version: i16, endpoint_type: i8) -> Result<(), BrokerError> {
    let err = match endpoint_type {
        ENDPOINT_BROKERS => return Ok(()),
        ENDPOINT_CONTROLLERS => BrokerError::MismatchedEndpointType(
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER".into(),
        ),
        other => BrokerError::UnsupportedEndpointType(format!("Unsupported endpoint type {other}")),
    };
    if version == 0 {
        return Err(BrokerError::InvalidRequest(err.to_string()));
    }
    Err(err)
}
