mod common;

use common::*;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{AlterConfigsRequest, DescribeConfigsRequest};

async fn alter(
    c: &mut RawClient,
    resource_type: i8,
    name: &str,
    configs: &[(&str, Option<&str>)],
    validate_only: bool,
) -> AlterConfigsResourceResponse {
    let mut r = AlterConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = sb(name);
    r.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut a = AlterableConfig::default();
            a.name = sb(k);
            a.value = v.map(sb);
            a
        })
        .collect();
    let mut req = AlterConfigsRequest::default();
    req.resources = vec![r];
    req.validate_only = validate_only;
    let mut resp = c.send(&req, 2).await;
    resp.responses.remove(0)
}

/// (value, source) of a topic config.
async fn topic_config(c: &mut RawClient, topic: &str, key: &str) -> (Option<String>, i8) {
    let mut r = DescribeConfigsResource::default();
    r.resource_type = 2;
    r.resource_name = sb(topic);
    r.configuration_keys = Some(vec![sb(key)]);
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    let resp = c.send(&req, 4).await;
    let e = &resp.results[0].configs[0];
    (e.value.as_ref().map(|v| v.to_string()), e.config_source)
}

#[tokio::test]
async fn alter_configs_replaces_the_whole_override_set() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000")]).await;
    let r = alter(
        &mut c,
        2,
        "t",
        &[("cleanup.policy", Some("compact"))],
        false,
    )
    .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.resource_name.as_str(), "t");
    assert_eq!(
        topic_config(&mut c, "t", "cleanup.policy").await,
        (Some("compact".into()), 1)
    );
    let (value, source) = topic_config(&mut c, "t", "retention.ms").await;
    assert_eq!(source, 5, "the override not named went back to the default");
    assert_eq!(value.as_deref(), Some("604800000"));
    b.shutdown().await;
}

#[tokio::test]
async fn validate_only_alter_configs_changes_nothing() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000")]).await;
    let r = alter(&mut c, 2, "t", &[("retention.ms", Some("2000"))], true).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (Some("1000".into()), 1)
    );
    b.shutdown().await;
}

#[tokio::test]
async fn invalid_value_is_refused_with_invalid_config_naming_the_key() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000")]).await;
    let r = alter(&mut c, 2, "t", &[("retention.ms", Some("soon"))], false).await;
    assert_eq!(r.error_code, 40);
    let msg = r.error_message.unwrap().to_string();
    assert!(
        msg.contains("retention.ms") && msg.contains("soon"),
        "{msg}"
    );
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (Some("1000".into()), 1)
    );
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_topic_config_key_is_refused_with_invalid_config() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = alter(&mut c, 2, "t", &[("no.such.config", Some("1"))], false).await;
    assert_eq!(r.error_code, 40);
    b.shutdown().await;
}

#[tokio::test]
async fn altering_an_unknown_topic_answers_unknown_topic_or_partition() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = alter(&mut c, 2, "nope", &[("retention.ms", Some("1"))], false).await;
    assert_eq!(r.error_code, 3);
    b.shutdown().await;
}

#[tokio::test]
async fn broker_configs_cannot_be_altered_and_answer_invalid_request() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = alter(&mut c, 4, "1", &[("num.partitions", Some("5"))], false).await;
    assert_eq!(r.error_code, 42);
    assert!(r.error_message.unwrap().contains("num.partitions"));
    let r = alter(&mut c, 4, "9", &[("num.partitions", Some("5"))], false).await;
    assert_eq!(r.error_code, 42);
    b.shutdown().await;
}

#[tokio::test]
async fn duplicate_keys_are_an_invalid_request() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = alter(
        &mut c,
        2,
        "t",
        &[("retention.ms", Some("1")), ("retention.ms", Some("2"))],
        false,
    )
    .await;
    assert_eq!(r.error_code, 42);
    b.shutdown().await;
}
