//! Topic-level configs: Kafka's names, their broker-level synonyms (the defaults a topic
//! inherits), validation, and conversion into the log's [`LogConfig`].

use super::defs::ConfigType;
use super::{bad, validate_value, BrokerConfig};
use anyhow::Result;
use runnel_log::{CleanupPolicy, LogConfig, TimestampType};
use std::collections::BTreeMap;

/// One topic-level key and the broker key that supplies its default.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// The broker key whose value is this config's default (Kafka's "synonym").
    pub broker_synonym: Option<&'static str>,
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    broker_synonym: Option<&'static str>,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        kind,
        broker_synonym,
        doc,
    }
}

use ConfigType::{Double, Int, List, Long};

pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        List,
        Some("log.cleanup.policy"),
        "delete, compact, or delete,compact.",
    ),
    def(
        "compression.type",
        ConfigType::String,
        Some("compression.type"),
        "Only 'producer' is supported.",
    ),
    def(
        "delete.retention.ms",
        Long,
        Some("log.cleaner.delete.retention.ms"),
        "How long compaction keeps tombstones.",
    ),
    def(
        "flush.messages",
        Long,
        Some("log.flush.interval.messages"),
        "Records between fsyncs.",
    ),
    def(
        "flush.ms",
        Long,
        Some("log.flush.interval.ms"),
        "Longest time between fsyncs.",
    ),
    def(
        "index.interval.bytes",
        Int,
        Some("log.index.interval.bytes"),
        "Bytes between index entries.",
    ),
    def(
        "max.message.bytes",
        Int,
        Some("message.max.bytes"),
        "Largest record batch accepted.",
    ),
    def(
        "message.timestamp.after.max.ms",
        Long,
        Some("log.message.timestamp.after.max.ms"),
        "Most a CreateTime timestamp may lie in the future.",
    ),
    def(
        "message.timestamp.before.max.ms",
        Long,
        Some("log.message.timestamp.before.max.ms"),
        "Most a CreateTime timestamp may lie in the past.",
    ),
    def(
        "message.timestamp.type",
        ConfigType::String,
        Some("log.message.timestamp.type"),
        "CreateTime or LogAppendTime.",
    ),
    def(
        "min.cleanable.dirty.ratio",
        Double,
        Some("log.cleaner.min.cleanable.ratio"),
        "Dirty ratio that triggers compaction.",
    ),
    def(
        "min.insync.replicas",
        Int,
        Some("min.insync.replicas"),
        "Least in-sync replicas for acks=all.",
    ),
    def(
        "retention.bytes",
        Long,
        Some("log.retention.bytes"),
        "Largest partition size; -1 = no limit.",
    ),
    def(
        "retention.ms",
        Long,
        Some("log.retention.ms"),
        "How long data is kept; -1 = forever.",
    ),
    def(
        "segment.bytes",
        Int,
        Some("log.segment.bytes"),
        "Segment size before a roll.",
    ),
    def(
        "segment.ms",
        Long,
        Some("log.roll.ms"),
        "Segment age before a roll.",
    ),
];

pub fn find(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The broker-level defaults every topic starts from, resolved (e.g. `log.retention.hours`
/// turned into milliseconds).
#[derive(Debug, Clone)]
pub struct TopicDefaults {
    values: BTreeMap<&'static str, String>,
}

impl TopicDefaults {
    pub fn from_broker(broker: &BrokerConfig) -> Result<TopicDefaults> {
        let get = |k: &str| broker.value_of(k);
        let hours_to_ms = |h: String, key: &str| -> Result<String> {
            let h: i64 = h.parse().map_err(|_| bad(key, &h, "expected an integer"))?;
            Ok(if h < 0 {
                "-1".to_string()
            } else {
                (h * 3_600_000).to_string()
            })
        };
        let retention_ms = match (get("log.retention.ms"), get("log.retention.minutes")) {
            (Some(ms), _) => ms,
            (None, Some(min)) => {
                let m: i64 = min
                    .parse()
                    .map_err(|_| bad("log.retention.minutes", &min, "expected an integer"))?;
                if m < 0 {
                    "-1".to_string()
                } else {
                    (m * 60_000).to_string()
                }
            }
            (None, None) => hours_to_ms(
                get("log.retention.hours").unwrap_or_default(),
                "log.retention.hours",
            )?,
        };
        let segment_ms = match get("log.roll.ms") {
            Some(ms) => ms,
            None => hours_to_ms(get("log.roll.hours").unwrap_or_default(), "log.roll.hours")?,
        };
        let flush_ms = get("log.flush.interval.ms")
            .or_else(|| get("log.flush.scheduler.interval.ms"))
            .unwrap_or_else(|| i64::MAX.to_string());
        let mut values = BTreeMap::new();
        for d in TOPIC_CONFIGS {
            let v = match d.name {
                "retention.ms" => retention_ms.clone(),
                "segment.ms" => segment_ms.clone(),
                "flush.ms" => flush_ms.clone(),
                _ => d.broker_synonym.and_then(get).unwrap_or_default(),
            };
            values.insert(d.name, v);
        }
        let defaults = TopicDefaults { values };
        // Validate by converting: a bad broker-level value fails start-up here.
        defaults
            .log_config(&BTreeMap::new())
            .map_err(|e| anyhow::anyhow!("{e} (inherited from the broker's log.* settings)"))?;
        Ok(defaults)
    }

    /// The default of a topic key.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The effective log settings for a topic with these overrides. Fails with a message naming
    /// the key and value (CreateTopics / AlterConfigs answer INVALID_CONFIG with it).
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
        let get = |k: &str| -> String {
            overrides
                .get(k)
                .cloned()
                .unwrap_or_else(|| self.values.get(k).cloned().unwrap_or_default())
        };
        let long = |k: &str| -> Result<i64> {
            let v = get(k);
            v.parse::<i64>()
                .map_err(|_| bad(k, &v, "expected an integer"))
        };
        let at_least = |k: &str, min: i64| -> Result<i64> {
            let v = long(k)?;
            if v < min {
                return Err(bad(k, &v.to_string(), &format!("must be at least {min}")));
            }
            Ok(v)
        };
        let policy = get("cleanup.policy");
        let mut cleanup_policy = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for p in policy.split(',').map(str::trim) {
            match p {
                "delete" => cleanup_policy.delete = true,
                "compact" => cleanup_policy.compact = true,
                _ => {
                    return Err(bad(
                        "cleanup.policy",
                        &policy,
                        "expected delete and/or compact",
                    ))
                }
            }
        }
        let ts = get("message.timestamp.type");
        let timestamp_type = match ts.as_str() {
            "CreateTime" => TimestampType::CreateTime,
            "LogAppendTime" => TimestampType::LogAppendTime,
            _ => {
                return Err(bad(
                    "message.timestamp.type",
                    &ts,
                    "expected CreateTime or LogAppendTime",
                ))
            }
        };
        let compression = get("compression.type");
        if compression != "producer" {
            return Err(bad(
                "compression.type",
                &compression,
                "only 'producer' is supported",
            ));
        }
        let ratio_s = get("min.cleanable.dirty.ratio");
        let ratio: f64 = ratio_s
            .parse()
            .ok()
            .filter(|r: &f64| (0.0..=1.0).contains(r))
            .ok_or_else(|| {
                bad(
                    "min.cleanable.dirty.ratio",
                    &ratio_s,
                    "expected a number in [0, 1]",
                )
            })?;
        at_least("min.insync.replicas", 1)?;
        Ok(LogConfig {
            segment_bytes: at_least("segment.bytes", 14)? as u64,
            segment_ms: at_least("segment.ms", 1)?,
            retention_ms: at_least("retention.ms", -1)?,
            retention_bytes: long("retention.bytes")?,
            cleanup_policy,
            max_message_bytes: at_least("max.message.bytes", 0)? as usize,
            timestamp_type,
            timestamp_before_max_ms: at_least("message.timestamp.before.max.ms", 0)?,
            timestamp_after_max_ms: at_least("message.timestamp.after.max.ms", 0)?,
            flush_messages: at_least("flush.messages", 1)?,
            flush_ms: at_least("flush.ms", 0)?,
            index_interval_bytes: at_least("index.interval.bytes", 0)? as usize,
            min_cleanable_dirty_ratio: ratio,
            delete_retention_ms: at_least("delete.retention.ms", 0)?,
        })
    }
}

/// Checks a set of topic overrides: known keys with values of the right type and range.
pub fn validate_overrides(
    defaults: &TopicDefaults,
    overrides: &BTreeMap<String, String>,
) -> Result<()> {
    for (k, v) in overrides {
        let d = find(k).ok_or_else(|| anyhow::anyhow!("unknown topic config '{k}'"))?;
        validate_value(k, d.kind, v)?;
    }
    defaults.log_config(overrides).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_hours_become_topic_milliseconds() {
        let b = BrokerConfig::with(&[("log.retention.hours", "2")]).unwrap();
        let d = TopicDefaults::from_broker(&b).unwrap();
        assert_eq!(d.get("retention.ms"), Some("7200000"));
        assert_eq!(
            d.log_config(&BTreeMap::new()).unwrap().retention_ms,
            7_200_000
        );
    }

    #[test]
    fn default_retention_is_seven_days() {
        let d = TopicDefaults::from_broker(&BrokerConfig::with(&[]).unwrap()).unwrap();
        assert_eq!(d.get("retention.ms"), Some("604800000"));
        assert_eq!(d.get("max.message.bytes"), Some("1048588"));
    }

    #[test]
    fn bad_overrides_are_refused_with_key_and_value() {
        let d = TopicDefaults::from_broker(&BrokerConfig::with(&[]).unwrap()).unwrap();
        let mut o = BTreeMap::new();
        o.insert("cleanup.policy".to_string(), "shred".to_string());
        let e = validate_overrides(&d, &o).unwrap_err().to_string();
        assert!(e.contains("cleanup.policy") && e.contains("shred"), "{e}");
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "x".to_string());
        assert!(validate_overrides(&d, &o).is_err());
        let mut o = BTreeMap::new();
        o.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        let c = d.log_config(&o).unwrap();
        assert!(c.cleanup_policy.compact && c.cleanup_policy.delete);
    }

    #[test]
    fn a_bad_broker_log_setting_fails_start_up() {
        let e = BrokerConfig::with(&[("log.cleanup.policy", "never")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("never"), "{e}");
    }
}
