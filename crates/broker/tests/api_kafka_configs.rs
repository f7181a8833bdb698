//! Every Kafka 4.4 config key: accepted or refused exactly as Kafka answers (expectations
//! measured on Kafka 4.4 with tests/interop/kafka_raw.py), and described with Kafka's default,
//! type, source, synonyms, documentation and sensitivity.

mod common;

use common::*;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, DescribeConfigsRequest};
use runnel_broker::config::kafka_defs::{KAFKA_BROKER_CONFIGS, KAFKA_TOPIC_CONFIGS};
use runnel_broker::BrokerConfig;
use std::collections::BTreeSet;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const INVALID_CONFIG: i16 = 40;

/// CreateTopics v7 with `validate_only` of one topic with one config: (error code, message).
async fn try_create(c: &mut RawClient, name: &str, key: &str, value: &str) -> (i16, String) {
    let mut cfg = CreatableTopicConfig::default();
    cfg.name = sb(key);
    cfg.value = Some(sb(value));
    let mut t = CreatableTopic::default();
    t.name = topic_name(name);
    t.num_partitions = 1;
    t.replication_factor = 1;
    t.configs = vec![cfg];
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    req.validate_only = true;
    let resp = c.send(&req, 7).await;
    let r = &resp.topics[0];
    (
        r.error_code,
        r.error_message.as_deref().unwrap_or("").to_string(),
    )
}

async fn describe(c: &mut RawClient, resource_type: i8, name: &str) -> DescribeConfigsResult {
    let mut r = DescribeConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = sb(name);
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    req.include_synonyms = true;
    req.include_documentation = true;
    let mut resp = c.send(&req, 4).await;
    resp.results.remove(0)
}

fn entry<'a>(r: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    r.configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not in the response"))
}

fn synonyms(e: &DescribeConfigsResourceResult) -> Vec<(String, Option<String>, i8)> {
    e.synonyms
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.value.as_ref().map(|v| v.to_string()),
                s.source,
            )
        })
        .collect()
}

#[tokio::test]
async fn create_topics_accepts_the_topic_configs_kafka_accepts() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    for (key, value) in [
        ("file.delete.delay.ms", "0"),
        ("min.compaction.lag.ms", "0"),
        ("compression.type", "lz4"),
        ("max.compaction.lag.ms", "3600000"),
        ("compression.zstd.level", "-5"),
        ("preallocate", "TRUE"),
        ("segment.jitter.ms", "1000"),
        ("segment.index.bytes", "4096"),
        ("local.retention.ms", "5"),
        ("errors.deadletterqueue.group.enable", "true"),
        ("leader.replication.throttled.replicas", "*"),
        ("cleanup.policy", ""),
        ("cleanup.policy", "compact, delete"),
        ("min.compaction.lag.ms", " 5 "),
        ("internal.segment.bytes", "100"),
    ] {
        let got = try_create(&mut c, "t", key, value).await;
        assert_eq!(got, (0, String::new()), "{key}={value:?}");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn create_topics_refuses_what_kafka_refuses_with_kafkas_message() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let cases = [
        ("no.such.config", "1", "Unknown topic config name: no.such.config"),
        ("message.downconversion.enable", "true", "Unknown topic config name: message.downconversion.enable"),
        ("retention.ms", "soon", "Invalid value soon for configuration retention.ms: Not a number of type LONG"),
        ("compression.type", "LZ4", "Invalid value LZ4 for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
        ("cleanup.policy", "shred", "Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete"),
        ("compression.gzip.level", "10", "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"),
        ("compression.zstd.level", "23", "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"),
        ("max.compaction.lag.ms", "0", "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"),
        ("segment.index.bytes", "3", "Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"),
        ("preallocate", "maybe", "Invalid value maybe for configuration preallocate: Expected value to be either true or false"),
        ("min.cleanable.dirty.ratio", "2", "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
        ("segment.bytes", "3000000000", "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT"),
        ("local.retention.bytes", "-3", "Invalid value -3 for configuration local.retention.bytes: Value must be at least -2"),
        ("remote.storage.enable", "true", "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."),
        ("follower.replication.throttled.replicas", "bad", "Invalid value [bad] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."),
    ];
    for (key, value, message) in cases {
        let got = try_create(&mut c, "t", key, value).await;
        assert_eq!(got, (INVALID_CONFIG, message.to_string()), "{key}={value}");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn min_compaction_lag_above_max_compaction_lag_is_a_conflict_as_in_kafka() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("max.compaction.lag.ms", "50")])
        .await;
    let got = try_create(&mut c, "u", "min.compaction.lag.ms", "100").await;
    assert_eq!(
        got.0, 0,
        "max.compaction.lag.ms defaults to Long.MAX: {got:?}"
    );
    let r = describe(&mut c, TOPIC, "t").await;
    assert_eq!(
        entry(&r, "max.compaction.lag.ms").value.as_deref(),
        Some("50")
    );
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let mut a = AlterableConfig::default();
    a.name = sb("min.compaction.lag.ms");
    a.value = Some(sb("100"));
    let mut res = AlterConfigsResource::default();
    res.resource_type = TOPIC;
    res.resource_name = sb("t");
    res.configs = vec![a];
    let mut req = kafka_protocol::messages::IncrementalAlterConfigsRequest::default();
    req.resources = vec![res];
    let resp = c.send(&req, 1).await;
    assert_eq!(resp.responses[0].error_code, INVALID_CONFIG);
    assert_eq!(
        resp.responses[0].error_message.as_deref(),
        Some("conflict topic config setting min.compaction.lag.ms (100) > max.compaction.lag.ms (50)")
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_fresh_topic_describes_every_kafka_topic_key_with_its_type_default_and_documentation() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = describe(&mut c, TOPIC, "t").await;
    assert_eq!(r.error_code, 0);
    let got: BTreeSet<&str> = r.configs.iter().map(|e| e.name.as_str()).collect();
    let kafka: BTreeSet<&str> = KAFKA_TOPIC_CONFIGS
        .iter()
        .filter(|d| !d.internal)
        .map(|d| d.name)
        .collect();
    assert_eq!(
        got, kafka,
        "the topic keys are Kafka's, internal ones left out"
    );
    assert_eq!(got.len(), 37, "Kafka 4.4 describes 37 topic keys");
    for d in KAFKA_TOPIC_CONFIGS.iter().filter(|d| !d.internal) {
        let e = entry(&r, d.name);
        assert_eq!(e.config_type, d.kind.wire_code(), "{}", d.name);
        assert_eq!(e.documentation.as_deref(), Some(d.doc), "{}", d.name);
        assert!(!e.read_only && !e.is_sensitive, "{}", d.name);
    }
    // Keys with no effect yet, as Kafka 4.4 reports them on a fresh topic.
    let e = entry(&r, "max.compaction.lag.ms");
    assert_eq!(
        (e.value.as_deref(), e.config_source, e.config_type),
        (Some("9223372036854775807"), 5, 5)
    );
    assert_eq!(
        synonyms(e),
        vec![(
            "log.cleaner.max.compaction.lag.ms".to_string(),
            Some("9223372036854775807".to_string()),
            5
        )]
    );
    let e = entry(&r, "remote.storage.enable");
    assert_eq!((e.value.as_deref(), e.config_type), (Some("false"), 1));
    assert!(synonyms(e).is_empty(), "Kafka gives it no broker synonym");
    let e = entry(&r, "file.delete.delay.ms");
    assert_eq!(
        synonyms(e),
        vec![(
            "log.segment.delete.delay.ms".to_string(),
            Some("60000".to_string()),
            5
        )]
    );
    // Kafka drops every synonym before the first named like the topic key's broker key, so
    // retention.ms (broker key log.retention.ms, null by default) has none.
    assert!(synonyms(entry(&r, "retention.ms")).is_empty());
    assert!(synonyms(entry(&r, "segment.jitter.ms")).is_empty());
    assert_eq!(entry(&r, "segment.jitter.ms").value.as_deref(), Some("0"));
    b.shutdown().await;
}

#[tokio::test]
async fn the_broker_describes_every_kafka_broker_key_with_mode_and_sensitivity() {
    let b = TestBroker::start(&[("ssl.key.password", "secret")]).await;
    let mut c = b.client().await;
    let r = describe(&mut c, BROKER, "1").await;
    assert_eq!(r.error_code, 0);
    let got: BTreeSet<&str> = r.configs.iter().map(|e| e.name.as_str()).collect();
    for d in KAFKA_BROKER_CONFIGS.iter().filter(|d| !d.internal) {
        assert!(got.contains(d.name), "{} missing", d.name);
        let e = entry(&r, d.name);
        assert_eq!(e.config_type, d.kind.wire_code(), "{}", d.name);
        assert_eq!(e.documentation.as_deref(), Some(d.doc), "{}", d.name);
        assert_eq!(e.is_sensitive, d.sensitive, "{}", d.name);
    }
    assert!(!got.contains("unstable.api.versions.enable"), "internal");
    let e = entry(&r, "log.segment.delete.delay.ms");
    assert!(!e.read_only, "cluster-wide in Kafka");
    assert_eq!((e.value.as_deref(), e.config_source), (Some("60000"), 5));
    assert!(entry(&r, "num.partitions").read_only);
    assert!(entry(&r, "broker.rack").read_only);
    let e = entry(&r, "group.consumer.heartbeat.interval.ms");
    assert_eq!((e.value.as_deref(), e.config_type), (Some("5000"), 3));
    let e = entry(&r, "ssl.key.password");
    assert!(
        e.is_sensitive && e.value.is_none(),
        "a password is never shown"
    );
    assert_eq!((e.config_source, e.config_type), (4, 9));
    assert_eq!(synonyms(e), vec![("ssl.key.password".to_string(), None, 4)]);
    let e = entry(&r, "log.retention.hours");
    assert_eq!(
        synonyms(e),
        vec![(
            "log.retention.hours".to_string(),
            Some("168".to_string()),
            5
        )]
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_generated_broker_key_set_at_start_up_is_inherited_as_static_broker_config() {
    let b = TestBroker::start(&[("log.cleaner.max.compaction.lag.ms", "7200000")]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = describe(&mut c, TOPIC, "t").await;
    let e = entry(&r, "max.compaction.lag.ms");
    assert_eq!((e.value.as_deref(), e.config_source), (Some("7200000"), 4));
    assert_eq!(
        synonyms(e),
        vec![
            (
                "log.cleaner.max.compaction.lag.ms".to_string(),
                Some("7200000".to_string()),
                4
            ),
            (
                "log.cleaner.max.compaction.lag.ms".to_string(),
                Some("9223372036854775807".to_string()),
                5
            ),
        ]
    );
    b.shutdown().await;
}

#[test]
fn start_up_refuses_a_value_kafka_refuses_with_kafkas_message() {
    let e = BrokerConfig::with(&[("log.segment.delete.delay.ms", "-1")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "Invalid value -1 for configuration log.segment.delete.delay.ms: Value must be at least 0"
    );
    let e = BrokerConfig::with(&[("group.share.max.size", "2000")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("Value must be no more than 1000"), "{e}");
    assert!(BrokerConfig::with(&[
        ("broker.rack", "r1"),
        ("auto.leader.rebalance.enable", "false")
    ])
    .is_ok());
}
