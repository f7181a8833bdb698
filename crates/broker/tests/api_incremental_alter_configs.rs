mod common;

use common::*;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

async fn alter(
    c: &mut RawClient,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> AlterConfigsResourceResponse {
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
    let mut resp = c.send(&req, 1).await;
    resp.responses.remove(0)
}

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
async fn set_and_delete_change_only_the_named_keys() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000"), ("segment.ms", "5000")])
        .await;
    let r = alter(
        &mut c,
        2,
        "t",
        &[
            ("retention.ms", SET, Some("2000")),
            ("segment.ms", DELETE, None),
        ],
        false,
    )
    .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (Some("2000".into()), 1)
    );
    assert_eq!(topic_config(&mut c, "t", "segment.ms").await.1, 5);
    b.shutdown().await;
}

#[tokio::test]
async fn untouched_overrides_survive_an_incremental_alter() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000")]).await;
    let r = alter(&mut c, 2, "t", &[("segment.ms", SET, Some("7000"))], false).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (Some("1000".into()), 1)
    );
    assert_eq!(
        topic_config(&mut c, "t", "segment.ms").await,
        (Some("7000".into()), 1)
    );
    b.shutdown().await;
}

#[tokio::test]
async fn append_adds_compact_to_the_inherited_cleanup_policy() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = alter(
        &mut c,
        2,
        "t",
        &[("cleanup.policy", APPEND, Some("compact"))],
        false,
    )
    .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(
        topic_config(&mut c, "t", "cleanup.policy").await,
        (Some("delete,compact".into()), 1)
    );
    // Appending a value already present changes nothing.
    let r = alter(
        &mut c,
        2,
        "t",
        &[("cleanup.policy", APPEND, Some("delete"))],
        false,
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        topic_config(&mut c, "t", "cleanup.policy")
            .await
            .0
            .as_deref(),
        Some("delete,compact")
    );
    b.shutdown().await;
}

#[tokio::test]
async fn subtract_removes_an_entry_from_a_list_config() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("cleanup.policy", "delete,compact")])
        .await;
    let r = alter(
        &mut c,
        2,
        "t",
        &[("cleanup.policy", SUBTRACT, Some("delete"))],
        false,
    )
    .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(
        topic_config(&mut c, "t", "cleanup.policy").await,
        (Some("compact".into()), 1)
    );
    b.shutdown().await;
}

#[tokio::test]
async fn append_to_a_non_list_config_is_refused_with_invalid_config() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = alter(
        &mut c,
        2,
        "t",
        &[("retention.ms", APPEND, Some("5"))],
        false,
    )
    .await;
    assert_eq!(r.error_code, 40);
    b.shutdown().await;
}

#[tokio::test]
async fn one_invalid_value_rejects_the_whole_resource() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000")]).await;
    let r = alter(
        &mut c,
        2,
        "t",
        &[
            ("retention.ms", SET, Some("2000")),
            ("segment.bytes", SET, Some("big")),
        ],
        false,
    )
    .await;
    assert_eq!(r.error_code, 40);
    assert!(r.error_message.unwrap().contains("segment.bytes"));
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (Some("1000".into()), 1)
    );
    b.shutdown().await;
}

#[tokio::test]
async fn validate_only_incremental_alter_changes_nothing() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000")]).await;
    let r = alter(&mut c, 2, "t", &[("retention.ms", SET, Some("3000"))], true).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (Some("1000".into()), 1)
    );
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_operation_and_null_set_value_are_invalid_requests() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = alter(&mut c, 2, "t", &[("retention.ms", 9, Some("1"))], false).await;
    assert_eq!(r.error_code, 42);
    let r = alter(&mut c, 2, "t", &[("retention.ms", SET, None)], false).await;
    assert_eq!(r.error_code, 42);
    b.shutdown().await;
}

#[tokio::test]
async fn broker_configs_cannot_be_altered_incrementally() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = alter(&mut c, 4, "1", &[("num.partitions", SET, Some("4"))], false).await;
    assert_eq!(r.error_code, 42);
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_topic_answers_unknown_topic_or_partition() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = alter(
        &mut c,
        2,
        "nope",
        &[("retention.ms", SET, Some("1"))],
        false,
    )
    .await;
    assert_eq!(r.error_code, 3);
    b.shutdown().await;
}
