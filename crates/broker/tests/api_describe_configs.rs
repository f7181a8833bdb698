mod common;

use common::*;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::DescribeConfigsRequest;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

async fn describe(
    client: &mut RawClient,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
    synonyms: bool,
    docs: bool,
    version: i16,
) -> DescribeConfigsResult {
    let mut r = DescribeConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = sb(name);
    r.configuration_keys = keys.map(|k| k.iter().map(|s| sb(s)).collect());
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    req.include_synonyms = synonyms;
    req.include_documentation = docs;
    let mut resp = client.send(&req, version).await;
    assert_eq!(resp.results.len(), 1);
    resp.results.remove(0)
}

fn entry<'a>(r: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    r.configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not in the response"))
}

#[tokio::test]
async fn topic_override_is_reported_as_dynamic_topic_config() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "12345")]).await;
    let r = describe(&mut c, TOPIC, "t", Some(&["retention.ms"]), true, false, 4).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.configs.len(), 1);
    let e = entry(&r, "retention.ms");
    assert_eq!(e.value.as_deref(), Some("12345"));
    assert_eq!(e.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
    assert!(!e.read_only);
    assert!(!e.is_sensitive);
    assert_eq!(e.synonyms[0].source, 1);
    assert_eq!(e.synonyms[0].value.as_deref(), Some("12345"));
    b.shutdown().await;
}

#[tokio::test]
async fn topic_config_without_override_reports_the_default_with_its_type() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = describe(&mut c, TOPIC, "t", Some(&["segment.bytes"]), false, true, 4).await;
    let e = entry(&r, "segment.bytes");
    assert_eq!(e.config_source, 5, "DEFAULT_CONFIG");
    assert_eq!(e.value.as_deref(), Some("1073741824"));
    assert_eq!(e.config_type, 3, "INT");
    assert!(e.documentation.as_deref().is_some_and(|d| !d.is_empty()));
    assert!(e.synonyms.is_empty(), "synonyms only when asked for");
    b.shutdown().await;
}

#[tokio::test]
async fn broker_setting_inherited_by_a_topic_is_reported_as_static_broker_config() {
    let b = TestBroker::start(&[("log.segment.bytes", "2000000")]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = describe(&mut c, TOPIC, "t", Some(&["segment.bytes"]), true, false, 4).await;
    let e = entry(&r, "segment.bytes");
    assert_eq!(e.value.as_deref(), Some("2000000"));
    assert_eq!(e.config_source, 4, "STATIC_BROKER_CONFIG");
    assert_eq!(e.synonyms[0].name.as_str(), "log.segment.bytes");
    assert_eq!(e.synonyms[0].source, 4);
    b.shutdown().await;
}

#[tokio::test]
async fn null_configuration_keys_return_every_topic_config() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = describe(&mut c, TOPIC, "t", None, false, false, 1).await;
    assert_eq!(r.error_code, 0);
    for k in [
        "cleanup.policy",
        "retention.ms",
        "max.message.bytes",
        "segment.bytes",
    ] {
        entry(&r, k);
    }
    assert!(r.configs.len() >= 14, "{}", r.configs.len());
    b.shutdown().await;
}

#[tokio::test]
async fn broker_config_given_at_start_is_read_only_static_broker_config() {
    let b = TestBroker::start(&[("num.partitions", "3")]).await;
    let mut c = b.client().await;
    let r = describe(
        &mut c,
        BROKER,
        "1",
        Some(&["num.partitions", "message.max.bytes"]),
        true,
        false,
        4,
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.configs.len(), 2);
    let e = entry(&r, "num.partitions");
    assert_eq!(e.value.as_deref(), Some("3"));
    assert_eq!(e.config_source, 4);
    assert!(e.read_only);
    let e = entry(&r, "message.max.bytes");
    assert_eq!(e.config_source, 5);
    assert_eq!(e.value.as_deref(), Some("1048588"));
    b.shutdown().await;
}

#[tokio::test]
async fn empty_broker_name_describes_the_cluster_defaults_which_are_empty() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = describe(&mut c, BROKER, "", None, false, false, 4).await;
    assert_eq!(r.error_code, 0);
    assert!(r.configs.is_empty());
    b.shutdown().await;
}

#[tokio::test]
async fn another_broker_id_is_an_invalid_request() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = describe(&mut c, BROKER, "7", None, false, false, 4).await;
    assert_eq!(r.error_code, 42);
    assert!(r.error_message.is_some());
    let r = describe(&mut c, BROKER, "x", None, false, false, 4).await;
    assert_eq!(r.error_code, 42);
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_topic_answers_unknown_topic_or_partition() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = describe(&mut c, TOPIC, "nope", None, false, false, 4).await;
    assert_eq!(r.error_code, 3);
    assert!(r.configs.is_empty());
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_resource_type_is_an_invalid_request() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = describe(&mut c, 99, "x", None, false, false, 2).await;
    assert_eq!(r.error_code, 42);
    assert_eq!(r.resource_type, 99);
    b.shutdown().await;
}

#[tokio::test]
async fn empty_configuration_keys_list_also_returns_every_config() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = describe(&mut c, TOPIC, "t", Some(&[]), false, false, 4).await;
    assert_eq!(r.error_code, 0);
    assert!(r.configs.len() >= 14, "{}", r.configs.len());
    let r = describe(&mut c, TOPIC, "t", Some(&["no.such.key"]), false, false, 4).await;
    assert_eq!(r.error_code, 0);
    assert!(r.configs.is_empty(), "unknown keys are left out");
    b.shutdown().await;
}

#[tokio::test]
async fn broker_id_is_the_node_id_as_a_static_broker_config_as_in_kafka_kraft() {
    let b = TestBroker::start(&[("node.id", "7")]).await;
    let mut c = b.client().await;
    let r = describe(&mut c, BROKER, "7", Some(&["broker.id"]), true, false, 4).await;
    assert_eq!(r.error_code, 0);
    let e = entry(&r, "broker.id");
    assert_eq!(e.value.as_deref(), Some("7"));
    assert_eq!(e.config_source, 4, "STATIC_BROKER_CONFIG");
    let synonyms: Vec<(&str, Option<&str>, i8)> = e
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
        .collect();
    assert_eq!(
        synonyms,
        vec![("broker.id", Some("7"), 4), ("broker.id", Some("-1"), 5)],
        "Kafka: {{STATIC_BROKER_CONFIG:broker.id=7, DEFAULT_CONFIG:broker.id=-1}}"
    );
    b.shutdown().await;
}
