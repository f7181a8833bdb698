//! Config entries as DescribeConfigs and CreateTopics (v5+) report them: value, source,
//! synonyms, type, documentation and sensitivity, for the broker, the cluster default and a
//! topic. The rules are Kafka's `ConfigHelper` (checked against Kafka 4.4):
//!
//! - A key's synonyms are the broker keys that can supply its value (`log.retention.ms`,
//!   `log.retention.minutes`, `log.retention.hours`), listed by level: this broker's dynamic
//!   value, the cluster-wide dynamic default, `server.properties`, the default. Kafka then drops
//!   every synonym before the first one named like the key itself, so a key whose own default
//!   is null (`log.retention.ms`) and that is set nowhere has no synonyms at all.
//! - The source is the first synonym's (or the topic override's), DEFAULT_CONFIG without one.
//! - Every key Kafka defines is listed (internal ones excepted), plus keys set in
//!   `server.properties` or dynamically that Kafka does not know (type UNKNOWN, sensitive).
//! - PASSWORD keys, and keys of unknown type, are sensitive: their values are never shown.
//! - Documentation is Kafka's for Kafka's keys.

use super::defs::{self, ConfigType, BROKER_CONFIGS};
use super::dynamic::Layers;
use super::kafka::{self, UpdateMode};
use super::kafka_defs::{KAFKA_BROKER_CONFIGS, KAFKA_TOPIC_CONFIGS};
use super::topic::TOPIC_CONFIGS;
use crate::state::topics::Topic;
use crate::state::BrokerState;
use std::collections::{BTreeMap, BTreeSet};

/// Kafka's `ConfigSource` wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
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
    /// `None`: a key neither Kafka nor Runnel defines (Kafka's UNKNOWN type).
    pub kind: Option<ConfigType>,
    pub sensitive: bool,
    pub doc: Option<&'static str>,
    /// Most specific first, as Kafka orders them.
    pub synonyms: Vec<Synonym>,
}

impl ConfigEntry {
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::Default
    }

    /// Kafka's `ConfigType` wire code (0 = UNKNOWN).
    pub fn type_code(&self) -> i8 {
        self.kind.map_or(0, ConfigType::wire_code)
    }
}

/// The levels a broker value can come from, for one snapshot of the dynamic configs.
pub struct BrokerLevels<'a> {
    pub dynamic: &'a Layers,
    pub explicit: &'a BTreeMap<String, String>,
}

/// Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`: the keys that supply one broker key.
fn broker_synonym_names(name: &str) -> Vec<&str> {
    match name {
        "log.roll.ms" | "log.roll.hours" => vec!["log.roll.ms", "log.roll.hours"],
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => {
            vec!["log.roll.jitter.ms", "log.roll.jitter.hours"]
        }
        "log.flush.interval.ms" => vec!["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => {
            vec![
                "log.retention.ms",
                "log.retention.minutes",
                "log.retention.hours",
            ]
        }
        other => vec![other],
    }
}

fn kind_of(name: &str) -> Option<ConfigType> {
    kafka::broker(name)
        .map(|d| d.kind)
        .or_else(|| defs::find(name).map(|d| d.kind))
}

/// Kafka's `maybeSensitive`: PASSWORD, or a type it cannot tell.
fn broker_sensitive(name: &str) -> bool {
    kind_of(name).is_none_or(|k| k == ConfigType::Password)
}

impl BrokerLevels<'_> {
    /// The value this broker uses for exactly `name` (no synonym resolution), as Kafka's
    /// `KafkaConfig.values` holds it.
    pub fn value(&self, name: &str) -> Option<String> {
        self.dynamic
            .get(name)
            .or_else(|| self.explicit.get(name))
            .cloned()
            .or_else(|| super::default_of(name).map(str::to_string))
    }

    /// Kafka's `configSynonyms(name, brokerConfigSynonyms(name))`.
    fn synonyms(&self, name: &str, sensitive: bool) -> Vec<Synonym> {
        let names = broker_synonym_names(name);
        let defaults: BTreeMap<String, String> = names
            .iter()
            .filter_map(|n| Some((n.to_string(), super::default_of(n)?.to_string())))
            .collect();
        let levels: [(&BTreeMap<String, String>, ConfigSource); 4] = [
            (&self.dynamic.broker, ConfigSource::DynamicBroker),
            (
                &self.dynamic.cluster_default,
                ConfigSource::DynamicDefaultBroker,
            ),
            (self.explicit, ConfigSource::StaticBroker),
            (&defaults, ConfigSource::Default),
        ];
        let mut out = Vec::new();
        for (map, source) in levels {
            for n in &names {
                if let Some(v) = map.get(*n) {
                    out.push(Synonym {
                        name: n.to_string(),
                        value: (!sensitive).then(|| v.clone()),
                        source,
                    });
                }
            }
        }
        let first_own = out.iter().position(|s| s.name == name).unwrap_or(out.len());
        out.split_off(first_own)
    }

    /// One broker key; `per_broker` false describes the cluster default (`""`), whose synonyms
    /// are only the cluster-wide dynamic values.
    fn entry(&self, name: &str, per_broker: bool) -> ConfigEntry {
        let sensitive = broker_sensitive(name);
        let synonyms: Vec<Synonym> = self
            .synonyms(name, sensitive)
            .into_iter()
            .filter(|s| per_broker || s.source == ConfigSource::DynamicDefaultBroker)
            .collect();
        let value = match per_broker {
            true => self.value(name),
            false => self.dynamic.cluster_default.get(name).cloned(),
        };
        let kafka_def = kafka::broker(name);
        ConfigEntry {
            name: name.to_string(),
            value: value.filter(|_| !sensitive),
            source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
            read_only: kafka_def.is_none_or(|d| d.mode == UpdateMode::ReadOnly),
            kind: kind_of(name),
            sensitive,
            doc: kafka_def
                .map(|d| d.doc)
                .or_else(|| defs::find(name).map(|d| d.doc)),
            synonyms,
        }
    }

    /// Every broker key: Kafka's (not internal), Runnel's, and any set statically or
    /// dynamically.
    pub fn broker_entries(&self) -> Vec<ConfigEntry> {
        let mut names: BTreeSet<&str> = KAFKA_BROKER_CONFIGS
            .iter()
            .filter(|d| !d.internal)
            .map(|d| d.name)
            .collect();
        names.extend(BROKER_CONFIGS.iter().map(|d| d.name));
        let set_somewhere = self
            .explicit
            .keys()
            .chain(self.dynamic.broker.keys())
            .chain(self.dynamic.cluster_default.keys())
            .filter(|k| kafka::broker(k).is_none_or(|d| !d.internal));
        names.extend(set_somewhere.map(String::as_str));
        names.into_iter().map(|n| self.entry(n, true)).collect()
    }

    /// The cluster-wide dynamic defaults (`""`): only the keys set there, as in Kafka.
    pub fn cluster_default_entries(&self) -> Vec<ConfigEntry> {
        self.dynamic
            .cluster_default
            .keys()
            .map(|n| self.entry(n, false))
            .collect()
    }

    /// One topic key: the topic's override, then the synonyms of the broker key that supplies
    /// its default.
    fn topic_entry(&self, name: &str, value: Option<String>, overridden: bool) -> ConfigEntry {
        let kafka_def = kafka::topic(name);
        let kind = kafka_def
            .map(|d| d.kind)
            .or_else(|| super::topic::find(name).map(|d| d.kind));
        let mut synonyms = Vec::new();
        if overridden {
            synonyms.push(Synonym {
                name: name.to_string(),
                value: value.clone(),
                source: ConfigSource::DynamicTopic,
            });
        }
        let primary = kafka_def
            .and_then(|d| d.synonyms.first().map(|s| s.0))
            .or_else(|| super::topic::find(name).and_then(|d| d.broker_synonym));
        if let Some(b) = primary {
            synonyms.extend(self.synonyms(b, false));
        }
        ConfigEntry {
            name: name.to_string(),
            value,
            source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
            read_only: false,
            kind,
            sensitive: kind == Some(ConfigType::Password),
            doc: kafka_def
                .map(|d| d.doc)
                .or_else(|| super::topic::find(name).map(|d| d.doc)),
            synonyms,
        }
    }
}

/// The dynamic layers and the static properties. As in Kafka KRaft, whose `KafkaConfig` copies
/// `node.id` into `broker.id` when that is unset, `broker.id` is a static property equal to
/// the node id (so `kafka-configs --describe --all` shows `broker.id=1`, STATIC_BROKER_CONFIG).
fn levels(state: &BrokerState) -> (Layers, BTreeMap<String, String>) {
    let mut explicit = state.config.explicit.clone();
    explicit
        .entry("broker.id".to_string())
        .or_insert_with(|| state.config.node_id.to_string());
    (state.dynamic_configs(), explicit)
}

/// Every config of this broker (`"1"`).
pub fn broker_entries(state: &BrokerState) -> Vec<ConfigEntry> {
    let (dynamic, explicit) = levels(state);
    BrokerLevels {
        dynamic: &dynamic,
        explicit: &explicit,
    }
    .broker_entries()
}

/// The cluster-wide dynamic defaults (`""`).
pub fn cluster_default_entries(state: &BrokerState) -> Vec<ConfigEntry> {
    let (dynamic, explicit) = levels(state);
    BrokerLevels {
        dynamic: &dynamic,
        explicit: &explicit,
    }
    .cluster_default_entries()
}

/// Every topic config with its effective value: the topic's override (DYNAMIC_TOPIC_CONFIG),
/// else the broker value it inherits.
pub fn topic_entries(state: &BrokerState, topic: &Topic) -> Vec<ConfigEntry> {
    let (dynamic, explicit) = levels(state);
    let levels = BrokerLevels {
        dynamic: &dynamic,
        explicit: &explicit,
    };
    let defaults = state.topics.defaults();
    let mut names: BTreeSet<&str> = KAFKA_TOPIC_CONFIGS
        .iter()
        .filter(|d| !d.internal)
        .map(|d| d.name)
        .collect();
    names.extend(TOPIC_CONFIGS.iter().map(|d| d.name));
    names
        .into_iter()
        .map(|n| {
            let over = topic.overrides.get(n).cloned();
            let overridden = over.is_some();
            let value = over.or_else(|| defaults.get(n).map(str::to_string));
            levels.topic_entry(n, value, overridden)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels<'a>(dynamic: &'a Layers, explicit: &'a BTreeMap<String, String>) -> BrokerLevels<'a> {
        BrokerLevels { dynamic, explicit }
    }

    /// Kafka 4.4: `log.retention.ms` unset everywhere has no synonyms (its own default is
    /// null); set as the cluster default it lists that value, then `log.retention.hours`'s
    /// default.
    #[test]
    fn synonyms_before_the_key_itself_are_dropped_as_kafka_drops_them() {
        let explicit = BTreeMap::new();
        let none = Layers::default();
        let e = levels(&none, &explicit).entry("log.retention.ms", true);
        assert!(e.synonyms.is_empty(), "{:?}", e.synonyms);
        assert_eq!(
            (e.value.as_deref(), e.source),
            (None, ConfigSource::Default)
        );
        let mut d = Layers::default();
        d.cluster_default
            .insert("log.retention.ms".into(), "1000".into());
        let e = levels(&d, &explicit).entry("log.retention.ms", true);
        let got: Vec<_> = e
            .synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "log.retention.ms",
                    Some("1000"),
                    ConfigSource::DynamicDefaultBroker
                ),
                ("log.retention.hours", Some("168"), ConfigSource::Default),
            ]
        );
        assert_eq!(e.source, ConfigSource::DynamicDefaultBroker);
    }

    #[test]
    fn a_password_key_is_sensitive_and_its_value_hidden() {
        let mut explicit = BTreeMap::new();
        explicit.insert("ssl.key.password".to_string(), "secret".to_string());
        let none = Layers::default();
        let e = levels(&none, &explicit).entry("ssl.key.password", true);
        assert!(e.sensitive && e.value.is_none(), "{e:?}");
        assert_eq!(e.source, ConfigSource::StaticBroker);
        assert_eq!(e.synonyms[0].value, None);
    }

    #[test]
    fn a_dynamic_key_kafka_does_not_know_is_listed_without_type_or_value() {
        let explicit = BTreeMap::new();
        let mut d = Layers::default();
        d.broker.insert("no.such.key".into(), "v".into());
        let all = levels(&d, &explicit).broker_entries();
        let e = all.iter().find(|e| e.name == "no.such.key").unwrap();
        assert_eq!(
            (e.kind, e.sensitive, e.read_only, e.value.as_deref()),
            (None, true, true, None)
        );
        assert_eq!(e.source, ConfigSource::DynamicBroker);
    }
}
