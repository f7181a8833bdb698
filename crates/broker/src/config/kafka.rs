//! Kafka's own definitions of every config key (generated into [`super::kafka_defs`]) and the
//! checks Runnel applies with them: a key Kafka defines is accepted with Kafka's type and
//! validator even where Runnel does not act on it yet, so that nothing Kafka accepts is refused
//! and nothing Kafka refuses is accepted.
//!
//! Runnel's own tables ([`super::defs`], [`super::topic`]) list the keys it implements; they
//! take precedence for defaults. Two validators are relaxed on purpose, see
//! [`RUNNEL_MINIMUMS`].

use super::defs::ConfigType;
use super::kafka_defs::{KAFKA_BROKER_CONFIGS, KAFKA_TOPIC_CONFIGS};
use super::validate::{check_value, Validator};

/// Whether and where a broker key can change at run time (Kafka's "Update Mode").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    ReadOnly,
    /// Only for one broker (`kafka-configs --entity-type brokers --entity-name 1`).
    PerBroker,
    /// Per broker or as the cluster-wide default (`--entity-default`).
    ClusterWide,
}

/// How a broker synonym's value becomes the topic key's (e.g. `log.retention.hours` to ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynonymConversion {
    Same,
    Hours,
    Minutes,
}

impl SynonymConversion {
    /// The value in the topic key's unit; Kafka maps negative durations to -1 ("forever").
    pub fn convert(self, value: &str) -> Option<String> {
        let factor: i64 = match self {
            SynonymConversion::Same => return Some(value.to_string()),
            SynonymConversion::Hours => 3_600_000,
            SynonymConversion::Minutes => 60_000,
        };
        let n: i64 = value.trim().parse().ok()?;
        Some(if n < 0 { -1 } else { n.saturating_mul(factor) }.to_string())
    }
}

/// A broker key as Kafka defines it.
#[derive(Debug, Clone, Copy)]
pub struct KafkaBrokerDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's default, as DescribeConfigs shows it; `None` is Kafka's `null`.
    pub default: Option<&'static str>,
    pub mode: UpdateMode,
    /// PASSWORD keys: DescribeConfigs hides their values.
    pub sensitive: bool,
    /// Accepted but, as in Kafka, never described.
    pub internal: bool,
    pub validator: Validator,
    pub doc: &'static str,
}

/// A topic key as Kafka defines it.
#[derive(Debug, Clone, Copy)]
pub struct KafkaTopicDef {
    pub name: &'static str,
    pub kind: ConfigType,
    pub default: Option<&'static str>,
    /// Broker keys supplying the default, first match wins (Kafka's
    /// `ServerTopicConfigSynonyms`); the first is the one DescribeConfigs names.
    pub synonyms: &'static [(&'static str, SynonymConversion)],
    pub internal: bool,
    pub validator: Validator,
    pub doc: &'static str,
}

pub fn broker(name: &str) -> Option<&'static KafkaBrokerDef> {
    KAFKA_BROKER_CONFIGS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &KAFKA_BROKER_CONFIGS[i])
}

pub fn topic(name: &str) -> Option<&'static KafkaTopicDef> {
    KAFKA_TOPIC_CONFIGS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &KAFKA_TOPIC_CONFIGS[i])
}

/// Where Runnel accepts less than Kafka (docs/kafka-differences.md): segments smaller than
/// Kafka's 1 MiB floor keep tests of rolling, retention and compaction fast. Kafka itself uses
/// an internal key (`internal.segment.bytes`) for that.
pub const RUNNEL_MINIMUMS: &[(&str, &str)] =
    &[("segment.bytes", "14"), ("log.segment.bytes", "14")];

fn relaxed(name: &str, validator: Validator) -> Validator {
    match RUNNEL_MINIMUMS.iter().find(|(k, _)| *k == name) {
        Some((_, min)) => Validator::Range(Some(min), None),
        None => validator,
    }
}

/// Kafka's check of a broker value (type, then validator), with Kafka's message. Keys Kafka
/// does not define pass: the caller decides about those.
pub fn check_broker_value(name: &str, value: &str) -> Result<(), String> {
    match broker(name) {
        Some(d) => check_value(name, d.kind, relaxed(name, d.validator), value),
        None => Ok(()),
    }
}

/// Kafka's check of a topic value, as [`check_broker_value`].
pub fn check_topic_value(name: &str, value: &str) -> Result<(), String> {
    match topic(name) {
        Some(d) => check_value(name, d.kind, relaxed(name, d.validator), value),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_tables_are_sorted_so_lookups_find_every_key() {
        for w in KAFKA_BROKER_CONFIGS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for w in KAFKA_TOPIC_CONFIGS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        assert!(broker("log.segment.delete.delay.ms").is_some());
        assert!(topic("file.delete.delay.ms").is_some());
        assert!(broker("no.such.key").is_none());
    }

    #[test]
    fn runnel_implements_keys_with_kafkas_types() {
        for d in super::super::defs::BROKER_CONFIGS {
            if let Some(k) = broker(d.name) {
                assert_eq!(d.kind, k.kind, "broker key {}", d.name);
            }
        }
        for d in super::super::topic::TOPIC_CONFIGS {
            let k = topic(d.name).unwrap_or_else(|| panic!("{} is not a Kafka topic key", d.name));
            assert_eq!(d.kind, k.kind, "topic key {}", d.name);
        }
    }

    #[test]
    fn segment_bytes_keeps_runnels_smaller_minimum() {
        assert!(check_topic_value("segment.bytes", "1024").is_ok());
        assert_eq!(
            check_topic_value("segment.bytes", "10").unwrap_err(),
            "Invalid value 10 for configuration segment.bytes: Value must be at least 14"
        );
    }

    #[test]
    fn hours_and_minutes_synonyms_become_milliseconds() {
        assert_eq!(
            SynonymConversion::Hours.convert("2").as_deref(),
            Some("7200000")
        );
        assert_eq!(
            SynonymConversion::Minutes.convert("-5").as_deref(),
            Some("-1")
        );
    }
}
