//! AlterConfigs (legacy, non-incremental): each resource's set is replaced by exactly the
//! configs given (keys not named go back to their defaults), as in Kafka: a TOPIC's overrides,
//! or a BROKER's dynamic configs (this broker's for its id, the cluster default for `""`).
//! Broker keys Kafka cannot change at run time are refused with INVALID_REQUEST, as Kafka does
//! (see [`crate::config::dynamic`]).

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::config::dynamic::Target;
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
                // Kafka answers null, not "", when there is no error.
                out.error_message = None;
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

/// The level a BROKER resource of an alter request names, with Kafka's messages for others.
pub(super) fn alter_target(state: &BrokerState, name: &str) -> Result<Target, BrokerError> {
    if name.is_empty() {
        return Ok(Target::ClusterDefault);
    }
    let node = state.config.node_id;
    match name.parse::<i32>() {
        Ok(id) if id == node => Ok(Target::ThisBroker),
        Ok(_) => Err(BrokerError::InvalidRequest(format!(
            "Unexpected broker id, expected {node}, but received {name}"
        ))),
        Err(_) => Err(BrokerError::InvalidRequest(format!(
            "Node id must be an integer, but it is: {name}"
        ))),
    }
}

/// Kafka's answer to a key named twice in one resource.
pub(super) fn duplicate_keys<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), BrokerError> {
    let mut seen = HashSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(BrokerError::InvalidRequest(
                "Error due to duplicate config keys".to_string(),
            ));
        }
    }
    Ok(())
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
            duplicate_keys(r.configs.iter().map(|c| c.name.as_str()))?;
            let mut overrides = BTreeMap::new();
            for c in &r.configs {
                // A null value leaves the key out, i.e. back to its default.
                if let Some(v) = &c.value {
                    overrides.insert(c.name.to_string(), v.to_string());
                }
            }
            state.topics.set_overrides(name, overrides, validate_only)
        }
        RESOURCE_BROKER => {
            let target = alter_target(state, name)?;
            duplicate_keys(r.configs.iter().map(|c| c.name.as_str()))?;
            let level: BTreeMap<String, String> = r
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            state.alter_broker_configs(target, validate_only, |_| Ok(level))
        }
        other => Err(BrokerError::InvalidRequest(format!(
            "Unsupported resource type: {other}"
        ))),
    }
}
