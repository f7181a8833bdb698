//! Topic-level configs: Kafka's names, their broker-level synonyms (the defaults a topic
//! inherits), validation, and conversion into the log's [`LogConfig`].

use super::defs::ConfigType;
use super::kafka;
use super::kafka_defs::KAFKA_TOPIC_CONFIGS;
use super::validate::split_list;
use super::{bad, BrokerConfig};
use anyhow::Result;
use runnel_log::recompress::{Codec, Recompression};
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

use ConfigType::{Boolean, Double, Int, List, Long};

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
        "producer (keep the producer's codec) or the codec batches are recompressed to.",
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
    def(
        "compression.gzip.level",
        Int,
        Some("compression.gzip.level"),
        "gzip level when recompressing to gzip.",
    ),
    def(
        "compression.lz4.level",
        Int,
        Some("compression.lz4.level"),
        "lz4 level when recompressing to lz4.",
    ),
    def(
        "compression.zstd.level",
        Int,
        Some("compression.zstd.level"),
        "zstd level when recompressing to zstd.",
    ),
    def(
        "segment.jitter.ms",
        Long,
        Some("log.roll.jitter.ms"),
        "Most random time subtracted from segment.ms per segment.",
    ),
    def(
        "segment.index.bytes",
        Int,
        Some("log.index.size.max.bytes"),
        "Largest offset/time index; a full index rolls the segment.",
    ),
    def(
        "preallocate",
        Boolean,
        Some("log.preallocate"),
        "Reserve segment.bytes of disk for each new segment.",
    ),
    def(
        "file.delete.delay.ms",
        Long,
        Some("log.segment.delete.delay.ms"),
        "How long a deleted segment stays before its files are removed.",
    ),
];

pub fn find(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The broker-level defaults every topic starts from, resolved (e.g. `log.retention.hours`
/// turned into milliseconds), for every topic key Kafka or Runnel defines.
#[derive(Debug, Clone)]
pub struct TopicDefaults {
    values: BTreeMap<&'static str, String>,
}

/// Kafka refuses topic configs for tiered storage when the broker has it disabled; Runnel has
/// none.
const TIERED_STORAGE_DISABLED: &str =
    "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.";

impl TopicDefaults {
    pub fn from_broker(broker: &BrokerConfig) -> Result<TopicDefaults> {
        TopicDefaults::resolve(&|k| broker.value_of(k))
    }

    /// Resolves every topic key's default from the broker's values: the first of its broker
    /// synonyms that has a value, converted to the topic key's unit, else Kafka's default.
    /// Fails (start-up, or a dynamic broker config change) when a value does not convert.
    pub fn resolve(broker: &dyn Fn(&str) -> Option<String>) -> Result<TopicDefaults> {
        let mut values = BTreeMap::new();
        for d in KAFKA_TOPIC_CONFIGS {
            let inherited = d
                .synonyms
                .iter()
                .find_map(|(b, conv)| broker(b).map(|v| (b, conv.convert(&v), v)));
            let v = match inherited {
                Some((_, Some(v), _)) => Some(v),
                Some((b, None, v)) => return Err(bad(b, &v, "expected an integer")),
                None => d.default.map(str::to_string),
            };
            if let Some(v) = v {
                values.insert(d.name, v);
            }
        }
        for d in TOPIC_CONFIGS {
            if !values.contains_key(d.name) {
                if let Some(v) = d.broker_synonym.and_then(broker) {
                    values.insert(d.name, v);
                }
            }
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
                .map(String::as_str)
                .or_else(|| self.values.get(k).map(String::as_str))
                .unwrap_or_default()
                .trim()
                .to_string()
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
        // Kafka accepts an empty list: neither deleted nor compacted.
        for p in split_list(&policy) {
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
            compression: recompression(&get)?,
            segment_jitter_ms: at_least("segment.jitter.ms", 0)?,
            segment_index_bytes: at_least("segment.index.bytes", 4)? as usize,
            preallocate: get("preallocate").eq_ignore_ascii_case("true"),
            file_delete_delay_ms: at_least("file.delete.delay.ms", 0)?,
        })
    }
}

/// `compression.type` and the level of its codec (`compression.<codec>.level`).
fn recompression(get: &dyn Fn(&str) -> String) -> Result<Option<Recompression>> {
    let kind = get("compression.type");
    let level = |k: &str| -> Result<i32> {
        let v = get(k);
        v.parse().map_err(|_| bad(k, &v, "expected an integer"))
    };
    let codec = match kind.as_str() {
        "producer" => return Ok(None),
        "uncompressed" => Codec::None,
        "gzip" => Codec::Gzip,
        "snappy" => Codec::Snappy,
        "lz4" => Codec::Lz4,
        "zstd" => Codec::Zstd,
        _ => {
            return Err(bad(
                "compression.type",
                &kind,
                "expected producer, uncompressed, gzip, snappy, lz4 or zstd",
            ))
        }
    };
    let level = match codec {
        Codec::Gzip => level("compression.gzip.level")?,
        Codec::Lz4 => level("compression.lz4.level")?,
        Codec::Zstd => level("compression.zstd.level")?,
        Codec::None | Codec::Snappy => 0,
    };
    Ok(Some(Recompression { codec, level }))
}

/// Checks a set of topic overrides as Kafka does (`LogConfig.validate`): every key one Kafka
/// defines, every value of its type and within its validator, then Kafka's cross-key rules;
/// then that Runnel can turn them into log settings.
pub fn validate_overrides(
    defaults: &TopicDefaults,
    overrides: &BTreeMap<String, String>,
) -> Result<()> {
    for (k, v) in overrides {
        if find(k).is_none() && kafka::topic(k).is_none() {
            anyhow::bail!("Unknown topic config name: {k}");
        }
        kafka::check_topic_value(k, v).map_err(|e| anyhow::anyhow!(e))?;
    }
    let effective = |k: &str| -> Option<i64> {
        overrides
            .get(k)
            .map(String::as_str)
            .or_else(|| defaults.get(k))?
            .trim()
            .parse()
            .ok()
    };
    if let (Some(min), Some(max)) = (
        effective("min.compaction.lag.ms"),
        effective("max.compaction.lag.ms"),
    ) {
        if min > max {
            anyhow::bail!(
                "conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})"
            );
        }
    }
    if overrides
        .get("remote.storage.enable")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        anyhow::bail!(TIERED_STORAGE_DISABLED);
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
