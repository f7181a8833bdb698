//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT applied to a TOPIC's current
//! overrides or to a BROKER's dynamic configs (this broker's for its id, the cluster default
//! for `""`), the result validated as a whole before anything changes.
//!
//! APPEND and SUBTRACT work on list configs (e.g. `cleanup.policy`), starting from the current
//! value at that level or, without one, Kafka's default of the key, as Kafka does (not the
//! inherited broker value). Broker changes follow [`crate::config::dynamic`].

use super::alter_configs::{alter_target, duplicate_keys};
use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::config::defs::ConfigType;
use crate::config::dynamic::{apply_ops, Op};
use crate::config::validate::split_list;
use crate::config::{kafka, topic};
use crate::error::BrokerError;
use crate::state::topics::validate_topic_name;
use crate::state::BrokerState;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
};
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
                // Kafka answers null, not "", when there is no error.
                out.error_message = None;
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
    duplicate_keys(r.configs.iter().map(|c| c.name.as_str()))?;
    let mut ops = Vec::with_capacity(r.configs.len());
    for c in &r.configs {
        let key = c.name.as_str();
        let value = c.value.as_ref().map(|v| v.as_str());
        let op = match (c.config_operation, value) {
            (OP_DELETE, _) => Op::Delete,
            (OP_SET..=OP_SUBTRACT, None) => {
                return Err(BrokerError::InvalidRequest(format!(
                    "Null value not supported for : {key}"
                )))
            }
            (OP_SET, Some(v)) => Op::Set(v),
            (OP_APPEND, Some(v)) => Op::Append(v),
            (OP_SUBTRACT, Some(v)) => Op::Subtract(v),
            (other, _) => {
                return Err(BrokerError::InvalidRequest(format!(
                    "Unknown config operation {other} for config {key}"
                )))
            }
        };
        ops.push((key, op));
    }
    match r.resource_type {
        RESOURCE_TOPIC => {
            validate_topic_name(name)?;
            let topic = state
                .topics
                .get(name)
                .ok_or(BrokerError::UnknownTopicOrPartition)?;
            let overrides = apply_topic_ops(topic.overrides.clone(), &ops)?;
            state.topics.set_overrides(name, overrides, validate_only)
        }
        RESOURCE_BROKER => {
            let target = alter_target(state, name)?;
            state.alter_broker_configs(target, validate_only, |current| apply_ops(current, &ops))
        }
        other => Err(BrokerError::InvalidRequest(format!(
            "Unsupported resource type: {other}"
        ))),
    }
}

/// Kafka's topic rules: an unknown key is INVALID_CONFIG (deleting one is a no-op), APPEND and
/// SUBTRACT only on LIST keys, starting from the override or Kafka's default of the key.
fn apply_topic_ops(
    mut overrides: std::collections::BTreeMap<String, String>,
    ops: &[(&str, Op<'_>)],
) -> Result<std::collections::BTreeMap<String, String>, BrokerError> {
    for &(key, op) in ops {
        let kafka_def = kafka::topic(key);
        let kind = kafka_def
            .map(|d| d.kind)
            .or_else(|| topic::find(key).map(|d| d.kind));
        let Some(kind) = kind else {
            if op == Op::Delete {
                continue;
            }
            return Err(BrokerError::InvalidConfig(format!(
                "Unknown topic config name: {key}"
            )));
        };
        match op {
            Op::Set(v) => {
                overrides.insert(key.to_string(), v.to_string());
            }
            Op::Delete => {
                overrides.remove(key);
            }
            Op::Append(v) | Op::Subtract(v) => {
                let verb = if matches!(op, Op::Append(_)) {
                    "APPEND"
                } else {
                    "SUBTRACT"
                };
                if kind != ConfigType::List {
                    return Err(BrokerError::InvalidConfig(format!(
                        "Can't {verb} to key {key} because its type is not LIST."
                    )));
                }
                let current = overrides
                    .get(key)
                    .cloned()
                    .or_else(|| kafka_def.and_then(|d| d.default).map(str::to_string))
                    .unwrap_or_default();
                let mut list: Vec<String> = split_list(&current)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let given = split_list(v);
                if matches!(op, Op::Append(_)) {
                    for g in given {
                        if !list.iter().any(|i| i == g) {
                            list.push(g.to_string());
                        }
                    }
                } else {
                    list.retain(|i| !given.contains(&i.as_str()));
                }
                overrides.insert(key.to_string(), list.join(","));
            }
        }
    }
    Ok(overrides)
}
