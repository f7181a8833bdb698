//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT applied to a TOPIC's current
//! overrides, the result validated as a whole before anything changes.
//!
//! APPEND and SUBTRACT work on list configs (e.g. `cleanup.policy`), starting from the current
//! override or, without one, the inherited default, as Kafka does. BROKER resources are refused
//! with INVALID_REQUEST, as in [`super::alter_configs`]: Runnel has no dynamic broker configs.

use super::alter_configs::broker_alter;
use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::config::defs::ConfigType;
use crate::config::topic;
use crate::error::BrokerError;
use crate::state::topics::validate_topic_name;
use crate::state::BrokerState;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
};
use std::collections::HashSet;
use std::sync::Arc;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
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
                let key = (r.resource_type, r.resource_name.to_string());
                let outcome = if duplicates.contains(&key) {
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
    let mut response = IncrementalAlterConfigsResponse::default();
    response.responses = responses;
    response
}

fn alter_one(
    state: &BrokerState,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), BrokerError> {
    let name = r.resource_name.as_str();
    let mut seen = HashSet::new();
    for c in &r.configs {
        if !seen.insert(c.name.as_str()) {
            return Err(BrokerError::InvalidRequest(format!(
                "Error due to duplicate config keys: {}",
                c.name.as_str()
            )));
        }
        if !(OP_SET..=OP_SUBTRACT).contains(&c.config_operation) {
            return Err(BrokerError::InvalidRequest(format!(
                "Unknown config operation {} for config {}",
                c.config_operation,
                c.name.as_str()
            )));
        }
        if c.config_operation != OP_DELETE && c.value.is_none() {
            return Err(BrokerError::InvalidRequest(format!(
                "Null value not supported for : {}",
                c.name.as_str()
            )));
        }
    }
    match r.resource_type {
        RESOURCE_TOPIC => {
            validate_topic_name(name)?;
            let topic = state
                .topics
                .get(name)
                .ok_or(BrokerError::UnknownTopicOrPartition)?;
            let mut overrides = topic.overrides.clone();
            for c in &r.configs {
                let key = c.name.as_str();
                let def = topic::find(key).ok_or_else(|| {
                    BrokerError::InvalidConfig(format!("Unknown topic config name: {key}"))
                })?;
                let value = c.value.as_ref().map(|v| v.as_str()).unwrap_or_default();
                match c.config_operation {
                    OP_SET => {
                        overrides.insert(key.to_string(), value.to_string());
                    }
                    OP_DELETE => {
                        overrides.remove(key);
                    }
                    op => {
                        if def.kind != ConfigType::List {
                            let verb = if op == OP_APPEND {
                                "append"
                            } else {
                                "subtract"
                            };
                            return Err(BrokerError::InvalidConfig(format!(
                                "Config value {verb} is not allowed for config key: {key}"
                            )));
                        }
                        let current = overrides
                            .get(key)
                            .cloned()
                            .or_else(|| state.topics.defaults.get(key).map(str::to_string))
                            .unwrap_or_default();
                        let mut list = split_list(&current);
                        let given = split_list(value);
                        if op == OP_APPEND {
                            for v in given {
                                if !list.contains(&v) {
                                    list.push(v);
                                }
                            }
                        } else {
                            list.retain(|v| !given.contains(v));
                        }
                        overrides.insert(key.to_string(), list.join(","));
                    }
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

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}
