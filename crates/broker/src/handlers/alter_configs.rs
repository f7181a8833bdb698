//! AlterConfigs (legacy, non-incremental): each TOPIC resource's override set is replaced by
//! exactly the configs given (keys not named go back to their defaults), as in Kafka.
//!
//! BROKER resources are refused with INVALID_REQUEST ("cannot update these configs
//! dynamically"), the code Kafka gives for read-only broker configs: Runnel has no dynamic
//! broker configs, every broker key is fixed at start-up.

use super::describe_configs::{broker_target, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::error::BrokerError;
use crate::state::topics::validate_topic_name;
use crate::state::BrokerState;
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, RequestHeader};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let duplicates = super::duplicates(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.to_string())),
    );
    let state = state.clone();
    let validate_only = req.validate_only;
    let responses = tokio::task::spawn_blocking(move || {
        req.resources
            .iter()
            .map(|r| {
                let mut out = AlterConfigsResourceResponse::default();
                out.resource_type = r.resource_type;
                out.resource_name = r.resource_name.clone();
                let outcome =
                    if duplicates.contains(&(r.resource_type, r.resource_name.to_string())) {
                        Err(BrokerError::InvalidRequest(format!(
                            "resource '{}' appears more than once in the request",
                            r.resource_name.as_str()
                        )))
                    } else {
                        alter_one(&state, r, validate_only)
                    };
                if let Err(e) = outcome {
                    out.error_code = e.wire_code();
                    out.error_message = Some(str_bytes(e.to_string()));
                }
                out
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut response = AlterConfigsResponse::default();
    response.responses = responses;
    response
}

/// The error for any attempt to change broker configs.
pub(super) fn broker_alter(
    state: &BrokerState,
    name: &str,
    keys: Vec<String>,
) -> Result<(), BrokerError> {
    broker_target(state, name)?;
    if keys.is_empty() {
        return Ok(());
    }
    Err(BrokerError::InvalidRequest(format!(
        "Cannot update these configs dynamically: {keys:?} (Runnel has no dynamic broker configs; set them at start-up)"
    )))
}

fn alter_one(
    state: &BrokerState,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), BrokerError> {
    let name = r.resource_name.as_str();
    match r.resource_type {
        RESOURCE_TOPIC => {
            validate_topic_name(name)?;
            if state.topics.get(name).is_none() {
                return Err(BrokerError::UnknownTopicOrPartition);
            }
            let mut overrides = BTreeMap::new();
            let mut seen = HashSet::new();
            for c in &r.configs {
                if !seen.insert(c.name.as_str()) {
                    return Err(BrokerError::InvalidRequest(format!(
                        "Error due to duplicate config keys: {}",
                        c.name.as_str()
                    )));
                }
                // A null value leaves the key out, i.e. back to its default.
                if let Some(v) = &c.value {
                    overrides.insert(c.name.to_string(), v.to_string());
                }
            }
            state.topics.set_overrides(name, overrides, validate_only)
        }
        RESOURCE_BROKER => broker_alter(
            state,
            name,
            r.configs.iter().map(|c| c.name.to_string()).collect(),
        ),
        other => Err(BrokerError::InvalidRequest(format!(
            "Unsupported resource type: {other}"
        ))),
    }
}
