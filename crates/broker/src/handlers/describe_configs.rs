//! DescribeConfigs: the effective configuration of a topic or of this broker, with each value's
//! source, synonyms (on request) and documentation (v3+, on request).
//!
//! A BROKER resource is named by this broker's node id. As in Kafka, the empty name means the
//! cluster-wide dynamic defaults: only the keys set there are listed.

use super::str_bytes;
use crate::config::describe::{
    broker_entries, cluster_default_entries, topic_entries, ConfigEntry,
};
use crate::error::BrokerError;
use crate::state::topics::validate_topic_name;
use crate::state::BrokerState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};
use std::sync::Arc;

/// Kafka's `ConfigResource.Type` codes.
pub(super) const RESOURCE_TOPIC: i8 = 2;
pub(super) const RESOURCE_BROKER: i8 = 4;

/// What a BROKER resource name refers to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BrokerTarget {
    /// `""`: the cluster-wide dynamic defaults.
    ClusterDefault,
    /// This broker's node id.
    ThisBroker,
}

/// Checks a BROKER resource name as Kafka does: empty, or this broker's id; anything else is
/// INVALID_REQUEST.
pub(super) fn broker_target(state: &BrokerState, name: &str) -> Result<BrokerTarget, BrokerError> {
    if name.is_empty() {
        return Ok(BrokerTarget::ClusterDefault);
    }
    let node = state.config.node_id;
    match name.parse::<i32>() {
        Ok(id) if id == node => Ok(BrokerTarget::ThisBroker),
        Ok(_) => Err(BrokerError::InvalidRequest(format!(
            "Unexpected broker id, expected {node} or empty string, but received {name}"
        ))),
        Err(_) => Err(BrokerError::InvalidRequest(format!(
            "Broker id must be an integer, but it is: {name}"
        ))),
    }
}

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let mut response = DescribeConfigsResponse::default();
    response.results = req
        .resources
        .iter()
        .map(|r| {
            let mut result = DescribeConfigsResult::default();
            result.resource_type = r.resource_type;
            result.resource_name = r.resource_name.clone();
            match describe_one(state, r) {
                Ok(entries) => {
                    result.configs = entries
                        .into_iter()
                        .filter(|e| match &r.configuration_keys {
                            // As in Kafka's ConfigHelper, an empty list means every key too.
                            Some(keys) if !keys.is_empty() => {
                                keys.iter().any(|k| k.as_str() == e.name)
                            }
                            _ => true,
                        })
                        .map(|e| to_wire(e, req.include_synonyms, req.include_documentation))
                        .collect();
                }
                Err(e) => {
                    result.error_code = e.wire_code();
                    result.error_message = Some(str_bytes(e.to_string()));
                }
            }
            result
        })
        .collect();
    response
}

fn describe_one(
    state: &BrokerState,
    r: &DescribeConfigsResource,
) -> Result<Vec<ConfigEntry>, BrokerError> {
    let name = r.resource_name.as_str();
    match r.resource_type {
        RESOURCE_TOPIC => {
            validate_topic_name(name)?;
            let topic = state
                .topics
                .get(name)
                .ok_or(BrokerError::UnknownTopicOrPartition)?;
            Ok(topic_entries(state, &topic))
        }
        RESOURCE_BROKER => match broker_target(state, name)? {
            BrokerTarget::ClusterDefault => Ok(cluster_default_entries(state)),
            BrokerTarget::ThisBroker => Ok(broker_entries(state)),
        },
        other => Err(BrokerError::InvalidRequest(format!(
            "Unsupported resource type: {other}"
        ))),
    }
}

fn to_wire(
    e: ConfigEntry,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.config_type = e.type_code();
    c.name = str_bytes(e.name);
    c.value = e.value.map(str_bytes);
    c.read_only = e.read_only;
    c.config_source = e.source as i8;
    c.is_sensitive = e.sensitive;
    c.documentation = if include_documentation {
        e.doc.map(str_bytes)
    } else {
        None
    };
    if include_synonyms {
        c.synonyms = e
            .synonyms
            .into_iter()
            .map(|s| {
                let mut w = DescribeConfigsSynonym::default();
                w.name = str_bytes(s.name);
                w.value = s.value.map(str_bytes);
                w.source = s.source as i8;
                w
            })
            .collect();
    }
    c
}
