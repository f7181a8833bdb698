//! Dynamic broker configs: IncrementalAlterConfigs and AlterConfigs on broker `1` and on the
//! cluster default `""`, with Kafka 4.4's answers (measured with tests/interop/kafka_raw.py),
//! what DescribeConfigs shows afterwards, the effect on topics, and persistence across a
//! restart.

mod common;

use common::*;
use kafka_protocol::messages::alter_configs_request as legacy;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use std::time::{Duration, Instant};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const DYNAMIC_BROKER: i8 = 2;
const DYNAMIC_DEFAULT: i8 = 3;
const DEFAULT: i8 = 5;

/// One IncrementalAlterConfigs resource: (error code, message).
async fn alter(
    c: &mut RawClient,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let mut r = AlterConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = sb(name);
    r.configs = ops
        .iter()
        .map(|(k, op, v)| {
            let mut a = AlterableConfig::default();
            a.name = sb(k);
            a.config_operation = *op;
            a.value = v.map(sb);
            a
        })
        .collect();
    let mut req = IncrementalAlterConfigsRequest::default();
    req.resources = vec![r];
    req.validate_only = validate_only;
    let resp = c.send(&req, 1).await;
    let r = &resp.responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

async fn describe(c: &mut RawClient, resource_type: i8, name: &str) -> DescribeConfigsResult {
    let mut r = DescribeConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = sb(name);
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    req.include_synonyms = true;
    let mut resp = c.send(&req, 4).await;
    resp.results.remove(0)
}

type Synonyms = Vec<(String, Option<String>, i8)>;

/// (value, source, synonyms) of one key, or None when it is not listed.
async fn shown(
    c: &mut RawClient,
    resource_type: i8,
    name: &str,
    key: &str,
) -> Option<(Option<String>, i8, Synonyms)> {
    let r = describe(c, resource_type, name).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let e = r.configs.iter().find(|e| e.name.as_str() == key)?;
    let syn = e
        .synonyms
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.value.as_ref().map(|v| v.to_string()),
                s.source,
            )
        })
        .collect();
    Some((
        e.value.as_ref().map(|v| v.to_string()),
        e.config_source,
        syn,
    ))
}

/// Waits until the background pool has `want` free permits (background passes hold some while
/// they run).
async fn wait_for_idle_slots(b: &TestBroker, want: usize) {
    let slots = &b.handle.state().background_slots;
    let deadline = Instant::now() + IO_TIMEOUT;
    while slots.available_permits() != want {
        assert!(
            Instant::now() < deadline,
            "background slots {} != {want}",
            slots.available_permits()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn syn(name: &str, value: &str, source: i8) -> (String, Option<String>, i8) {
    (name.to_string(), Some(value.to_string()), source)
}

#[tokio::test]
async fn a_per_broker_value_shows_as_dynamic_broker_config_above_the_cluster_default() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let ok = (0, None);
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("background.threads", SET, Some("20"))],
            false
        )
        .await,
        ok
    );
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("background.threads", SET, Some("12"))],
            false
        )
        .await,
        ok
    );
    let (value, source, synonyms) = shown(&mut c, BROKER, "1", "background.threads")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some("20"), DYNAMIC_BROKER));
    assert_eq!(
        synonyms,
        vec![
            syn("background.threads", "20", DYNAMIC_BROKER),
            syn("background.threads", "12", DYNAMIC_DEFAULT),
            syn("background.threads", "10", DEFAULT),
        ]
    );
    let (value, source, synonyms) = shown(&mut c, BROKER, "", "background.threads")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some("12"), DYNAMIC_DEFAULT));
    assert_eq!(
        synonyms,
        vec![syn("background.threads", "12", DYNAMIC_DEFAULT)]
    );
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("background.threads", DELETE, None)],
            false
        )
        .await,
        ok
    );
    let (value, source, _) = shown(&mut c, BROKER, "1", "background.threads")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some("12"), DYNAMIC_DEFAULT));
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("background.threads", DELETE, None)],
            false
        )
        .await,
        ok
    );
    let (value, source, _) = shown(&mut c, BROKER, "1", "background.threads")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some("10"), DEFAULT));
    assert!(describe(&mut c, BROKER, "").await.configs.is_empty());
    b.shutdown().await;
}

#[tokio::test]
async fn a_thread_count_may_only_halve_or_double_in_one_change_as_in_kafka() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("background.threads", SET, Some("20"))],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("background.threads", SET, Some("5"))],
            false
        )
        .await
        .0,
        0
    );
    // Deleting the per-broker 20 would fall back to the cluster default 5: less than half.
    let got = alter(
        &mut c,
        BROKER,
        "1",
        &[("background.threads", DELETE, None)],
        false,
    )
    .await;
    assert_eq!(
        got,
        (
            INVALID_REQUEST,
            Some("Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count update validation failed for background.threads=5, value should be at least half the current value 20 for configuration Invalid dynamic configuration".to_string())
        )
    );
    let got = alter(
        &mut c,
        BROKER,
        "1",
        &[("num.io.threads", SET, Some("100"))],
        false,
    )
    .await;
    assert_eq!(got.0, INVALID_REQUEST);
    assert!(got
        .1
        .unwrap()
        .contains("value should not be greater than double the current value 8"));
    b.shutdown().await;
}

#[tokio::test]
async fn background_threads_resizes_the_background_pool_at_once() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    wait_for_idle_slots(&b, 10).await;
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("background.threads", SET, Some("20"))],
            false
        )
        .await
        .0,
        0
    );
    wait_for_idle_slots(&b, 20).await;
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("background.threads", SET, Some("10"))],
            false
        )
        .await
        .0,
        0
    );
    wait_for_idle_slots(&b, 10).await;
    b.shutdown().await;
}

#[tokio::test]
async fn kafkas_refusals_of_broker_changes_are_given_with_kafkas_messages() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let cases = [
        ("1", "num.partitions", Some("4"), SET, INVALID_REQUEST, "Cannot update these configs dynamically: [num.partitions]"),
        ("", "num.partitions", Some("4"), SET, INVALID_REQUEST, "Cannot update these configs dynamically: [num.partitions]"),
        ("", "listeners", Some("PLAINTEXT://:1"), SET, INVALID_REQUEST, "Cannot update these configs at default cluster level, broker id must be specified: [listeners]"),
        ("1", "ssl.key.password", Some("secret"), SET, INVALID_REQUEST, "These security configs can be dynamically updated only per-listener using the listener prefix: [ssl.key.password]"),
        ("1", "background.threads", Some("0"), SET, INVALID_REQUEST, "Invalid value 0 for configuration background.threads: Value must be at least 1"),
        ("1", "log.segment.delete.delay.ms", Some("x"), SET, INVALID_REQUEST, "Invalid value x for configuration log.segment.delete.delay.ms: Not a number of type LONG"),
        ("1", "log.cleanup.policy", Some("compact,bogus"), SET, INVALID_REQUEST, "Invalid value bogus for configuration log.cleanup.policy: String must be one of: compact, delete"),
        ("1", "background.threads", Some("3"), APPEND, INVALID_CONFIG, "Config value append is not allowed for config key: background.threads"),
    ];
    for (name, key, value, op, code, message) in cases {
        let got = alter(&mut c, BROKER, name, &[(key, op, value)], false).await;
        assert_eq!(got, (code, Some(message.to_string())), "{name:?} {key}");
    }
    let got = alter(
        &mut c,
        BROKER,
        "2",
        &[("background.threads", SET, Some("5"))],
        false,
    )
    .await;
    assert_eq!(
        got,
        (
            INVALID_REQUEST,
            Some("Unexpected broker id, expected 1, but received 2".into())
        )
    );
    let got = alter(
        &mut c,
        BROKER,
        "1",
        &[
            ("log.cleaner.threads", SET, Some("2")),
            ("log.cleaner.threads", SET, Some("3")),
        ],
        false,
    )
    .await;
    assert_eq!(
        got,
        (
            INVALID_REQUEST,
            Some("Error due to duplicate config keys".into())
        )
    );
    // Deleting what is not set, even a read-only key, succeeds, as in Kafka.
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("num.partitions", DELETE, None)],
            false
        )
        .await
        .0,
        0
    );
    b.shutdown().await;
}

#[tokio::test]
async fn an_unknown_broker_key_is_stored_and_listed_without_a_value_as_kafka_does() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("no.such.key", SET, Some("v1"))],
            false
        )
        .await,
        (0, None)
    );
    let r = describe(&mut c, BROKER, "1").await;
    let e = r
        .configs
        .iter()
        .find(|e| e.name.as_str() == "no.such.key")
        .unwrap();
    assert_eq!(
        (e.value.as_deref(), e.config_source, e.config_type),
        (None, DYNAMIC_BROKER, 0)
    );
    assert!(e.is_sensitive && e.read_only);
    b.shutdown().await;
}

#[tokio::test]
async fn append_and_subtract_change_a_list_starting_from_kafkas_default() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let ok = (0, None);
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("log.cleanup.policy", APPEND, Some("compact"))],
            false
        )
        .await,
        ok
    );
    let (value, source, synonyms) = shown(&mut c, BROKER, "", "log.cleanup.policy")
        .await
        .unwrap();
    assert_eq!(
        (value.as_deref(), source),
        (Some("delete,compact"), DYNAMIC_DEFAULT)
    );
    assert_eq!(
        synonyms,
        vec![syn("log.cleanup.policy", "delete,compact", DYNAMIC_DEFAULT)]
    );
    // The topic inherits it at once, with Kafka's source and synonyms.
    let (value, source, synonyms) = shown(&mut c, TOPIC, "t", "cleanup.policy").await.unwrap();
    assert_eq!(
        (value.as_deref(), source),
        (Some("delete,compact"), DYNAMIC_DEFAULT)
    );
    assert_eq!(
        synonyms,
        vec![
            syn("log.cleanup.policy", "delete,compact", DYNAMIC_DEFAULT),
            syn("log.cleanup.policy", "delete", DEFAULT),
        ]
    );
    // Per broker, APPEND starts from Kafka's default ("delete"), not from the inherited value.
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("log.cleanup.policy", APPEND, Some("delete"))],
            false
        )
        .await,
        ok
    );
    let (value, source, _) = shown(&mut c, BROKER, "1", "log.cleanup.policy")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some("delete"), DYNAMIC_BROKER));
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("log.cleanup.policy", SUBTRACT, Some("delete"))],
            false
        )
        .await,
        ok
    );
    let (value, source, _) = shown(&mut c, BROKER, "1", "log.cleanup.policy")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some(""), DYNAMIC_BROKER));
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("log.cleanup.policy", SUBTRACT, Some("delete"))],
            false
        )
        .await,
        ok
    );
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("log.cleanup.policy", DELETE, None)],
            false
        )
        .await,
        ok
    );
    let (value, source, _) = shown(&mut c, TOPIC, "t", "cleanup.policy").await.unwrap();
    assert_eq!(
        (value.as_deref(), source),
        (Some("compact"), DYNAMIC_DEFAULT)
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_dynamic_message_max_bytes_applies_to_topics_without_an_override_at_once() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    c.create_topic("own", 1, &[("max.message.bytes", "1000000")])
        .await;
    let big = batch(&[Rec::kv("k", &"x".repeat(2000))], None);
    assert_eq!(c.produce("t", 0, -1, big.clone()).await.error_code, 0);
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("message.max.bytes", SET, Some("1000"))],
            false
        )
        .await,
        (0, None)
    );
    assert_eq!(
        c.produce("t", 0, -1, big.clone()).await.error_code,
        10,
        "MESSAGE_TOO_LARGE"
    );
    assert_eq!(
        c.produce("own", 0, -1, big.clone()).await.error_code,
        0,
        "the override wins"
    );
    let (value, source, _) = shown(&mut c, TOPIC, "t", "max.message.bytes")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some("1000"), DYNAMIC_DEFAULT));
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("message.max.bytes", DELETE, None)],
            false
        )
        .await,
        (0, None)
    );
    assert_eq!(c.produce("t", 0, -1, big).await.error_code, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn a_cluster_default_log_retention_ms_shows_on_topics_with_kafkas_synonyms() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("log.retention.ms", SET, Some("86400000"))],
            false
        )
        .await,
        (0, None)
    );
    let (value, source, synonyms) = shown(&mut c, TOPIC, "t", "retention.ms").await.unwrap();
    assert_eq!(
        (value.as_deref(), source),
        (Some("86400000"), DYNAMIC_DEFAULT)
    );
    assert_eq!(
        synonyms,
        vec![
            syn("log.retention.ms", "86400000", DYNAMIC_DEFAULT),
            syn("log.retention.hours", "168", DEFAULT),
        ]
    );
    // log.retention.hours is read-only in Kafka; log.roll.ms is per broker or cluster-wide.
    let got = alter(
        &mut c,
        BROKER,
        "1",
        &[("log.retention.hours", SET, Some("3"))],
        false,
    )
    .await;
    assert_eq!(got.0, INVALID_REQUEST);
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("log.roll.ms", SET, Some("7000"))],
            false
        )
        .await
        .0,
        0
    );
    let (value, source, synonyms) = shown(&mut c, TOPIC, "t", "segment.ms").await.unwrap();
    assert_eq!((value.as_deref(), source), (Some("7000"), DYNAMIC_BROKER));
    assert_eq!(
        synonyms,
        vec![
            syn("log.roll.ms", "7000", DYNAMIC_BROKER),
            syn("log.roll.hours", "168", DEFAULT)
        ]
    );
    b.shutdown().await;
}

#[tokio::test]
async fn validate_only_checks_without_changing_anything() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("background.threads", SET, Some("12"))],
            true
        )
        .await,
        (0, None)
    );
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("background.threads", SET, Some("0"))],
            true
        )
        .await
        .0,
        INVALID_REQUEST
    );
    let (_, source, _) = shown(&mut c, BROKER, "1", "background.threads")
        .await
        .unwrap();
    assert_eq!(source, DEFAULT);
    b.shutdown().await;
}

#[tokio::test]
async fn legacy_alter_configs_replaces_the_whole_dynamic_set_of_the_broker() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let legacy_alter = |pairs: Vec<(&'static str, &'static str)>| {
        let mut r = legacy::AlterConfigsResource::default();
        r.resource_type = BROKER;
        r.resource_name = sb("1");
        r.configs = pairs
            .into_iter()
            .map(|(k, v)| {
                let mut a = legacy::AlterableConfig::default();
                a.name = sb(k);
                a.value = Some(sb(v));
                a
            })
            .collect();
        let mut req = AlterConfigsRequest::default();
        req.resources = vec![r];
        req
    };
    let resp = c
        .send(
            &legacy_alter(vec![
                ("background.threads", "12"),
                ("log.cleaner.backoff.ms", "500"),
            ]),
            2,
        )
        .await;
    assert_eq!(resp.responses[0].error_code, 0);
    assert_eq!(
        shown(&mut c, BROKER, "1", "log.cleaner.backoff.ms")
            .await
            .unwrap()
            .1,
        DYNAMIC_BROKER
    );
    let resp = c
        .send(&legacy_alter(vec![("background.threads", "12")]), 2)
        .await;
    assert_eq!(resp.responses[0].error_code, 0);
    let (value, source, _) = shown(&mut c, BROKER, "1", "log.cleaner.backoff.ms")
        .await
        .unwrap();
    assert_eq!(
        (value.as_deref(), source),
        (Some("15000"), DEFAULT),
        "the key not named went"
    );
    let resp = c
        .send(&legacy_alter(vec![("num.partitions", "3")]), 2)
        .await;
    assert_eq!(resp.responses[0].error_code, INVALID_REQUEST);
    b.shutdown().await;
}

#[tokio::test]
async fn dynamic_broker_configs_survive_a_restart_and_size_the_broker_at_start() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("background.threads", SET, Some("14"))],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("log.segment.delete.delay.ms", SET, Some("1234"))],
            false
        )
        .await
        .0,
        0
    );
    drop(c);
    let file = b
        .dir
        .path()
        .join("__runnel_meta/dynamic-broker-configs.json");
    assert!(file.exists(), "{} written", file.display());
    let b = b.restart(&[]).await;
    let mut c = b.client().await;
    let (value, source, _) = shown(&mut c, BROKER, "1", "background.threads")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some("14"), DYNAMIC_BROKER));
    let (value, source, _) = shown(&mut c, TOPIC, "t", "file.delete.delay.ms")
        .await
        .unwrap();
    assert_eq!((value.as_deref(), source), (Some("1234"), DYNAMIC_DEFAULT));
    assert_eq!(
        b.handle.state().config.background_threads,
        14,
        "sized from the stored value"
    );
    wait_for_idle_slots(&b, 14).await;
    b.shutdown().await;
}
