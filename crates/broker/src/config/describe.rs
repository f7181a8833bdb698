//! Config entries as DescribeConfigs and CreateTopics (v5+) report them: value, source,
//! default-ness and synonyms, for the broker and for a topic.

use super::defs::{ConfigType, BROKER_CONFIGS};
use super::topic::TOPIC_CONFIGS;
use crate::state::topics::Topic;
use crate::state::BrokerState;

/// Kafka's `ConfigSource` wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    StaticBroker = 4,
    Default = 5,
}

/// A config's value as a source would supply it (Kafka's "synonym").
#[derive(Debug, Clone, PartialEq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub kind: ConfigType,
    pub doc: &'static str,
    /// Most specific first, as Kafka orders them.
    pub synonyms: Vec<Synonym>,
}

impl ConfigEntry {
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::Default
    }
}

/// Every broker config with its effective value. Runnel has no dynamic broker configs, so all
/// are read-only: set at start-up (STATIC_BROKER_CONFIG) or left at Kafka's default.
pub fn broker_entries(state: &BrokerState) -> Vec<ConfigEntry> {
    BROKER_CONFIGS
        .iter()
        .map(|d| {
            let explicit = state.config.explicit.get(d.name).cloned();
            let source = if explicit.is_some() {
                ConfigSource::StaticBroker
            } else {
                ConfigSource::Default
            };
            let value = explicit.clone().or_else(|| d.default.map(str::to_string));
            let mut synonyms = Vec::new();
            if let Some(v) = explicit {
                synonyms.push(Synonym {
                    name: d.name.to_string(),
                    value: Some(v),
                    source: ConfigSource::StaticBroker,
                });
            }
            if let Some(v) = d.default {
                synonyms.push(Synonym {
                    name: d.name.to_string(),
                    value: Some(v.to_string()),
                    source: ConfigSource::Default,
                });
            }
            ConfigEntry {
                name: d.name.to_string(),
                value,
                source,
                read_only: true,
                kind: d.kind,
                doc: d.doc,
                synonyms,
            }
        })
        .collect()
}

/// Every topic config with its effective value: the topic's override (DYNAMIC_TOPIC_CONFIG),
/// else the broker setting it inherits (STATIC_BROKER_CONFIG if set at start-up), else default.
pub fn topic_entries(state: &BrokerState, topic: &Topic) -> Vec<ConfigEntry> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let mut synonyms = Vec::new();
            let over = topic.overrides.get(d.name).cloned();
            if let Some(v) = &over {
                synonyms.push(Synonym {
                    name: d.name.to_string(),
                    value: Some(v.clone()),
                    source: ConfigSource::DynamicTopic,
                });
            }
            let broker_explicit = d
                .broker_synonym
                .and_then(|b| state.config.explicit.get(b).map(|v| (b, v.clone())));
            if let Some((b, v)) = &broker_explicit {
                synonyms.push(Synonym {
                    name: b.to_string(),
                    value: Some(v.clone()),
                    source: ConfigSource::StaticBroker,
                });
            }
            let default = state.topics.defaults.get(d.name).map(str::to_string);
            if let Some(b) = d.broker_synonym {
                if let Some(v) = super::defs::find(b).and_then(|bd| bd.default) {
                    synonyms.push(Synonym {
                        name: b.to_string(),
                        value: Some(v.to_string()),
                        source: ConfigSource::Default,
                    });
                }
            }
            let (value, source) = match (over, broker_explicit) {
                (Some(v), _) => (Some(v), ConfigSource::DynamicTopic),
                (None, Some(_)) => (default, ConfigSource::StaticBroker),
                (None, None) => (default, ConfigSource::Default),
            };
            ConfigEntry {
                name: d.name.to_string(),
                value,
                source,
                read_only: false,
                kind: d.kind,
                doc: d.doc,
                synonyms,
            }
        })
        .collect()
}
