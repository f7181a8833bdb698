//! DescribeTopicPartitions (API 75) as Kafka 4.4 answers it: sorted topics, partition limit and
//! cursor paging, error topics, whole-request refusals. Kafka's own answers to the same
//! requests are in tests/interop/test_differential_topic_partitions.py.

mod common;

use common::*;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};

const UNKNOWN_TOPIC: i16 = 3;
const INVALID_TOPIC: i16 = 17;
const INVALID_REQUEST: i16 = 42;
const UNKNOWN_SERVER_ERROR: i16 = -1;
const TOPIC_OPERATIONS: i32 = 3576;

fn request(
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsRequest {
    let mut r = DescribeTopicPartitionsRequest::default();
    r.topics = topics
        .iter()
        .map(|t| {
            let mut tr = TopicRequest::default();
            tr.name = topic_name(t);
            tr
        })
        .collect();
    r.response_partition_limit = limit;
    r.cursor = cursor.map(|(t, p)| {
        let mut c = Cursor::default();
        c.topic_name = topic_name(t);
        c.partition_index = p;
        c
    });
    r
}

/// (topic, error, [partition indexes]).
type TopicSummary = (String, i16, Vec<i32>);

/// Each topic's summary, and the next cursor (topic, partition).
fn summary(r: &DescribeTopicPartitionsResponse) -> (Vec<TopicSummary>, Option<(String, i32)>) {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            (
                name,
                t.error_code,
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let cursor = r
        .next_cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index));
    (topics, cursor)
}

fn t(name: &str, error: i16, partitions: &[i32]) -> TopicSummary {
    (name.to_string(), error, partitions.to_vec())
}

fn at(name: &str, partition: i32) -> Option<(String, i32)> {
    Some((name.to_string(), partition))
}

async fn broker_with_a3_b2() -> (TestBroker, RawClient) {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("a", 3, &[]).await;
    c.create_topic("b", 2, &[]).await;
    (b, c)
}

#[tokio::test]
async fn describe_topic_partitions_v0_is_advertised() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let versions = c.send(&ApiVersionsRequest::default(), 3).await;
    let k = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::DescribeTopicPartitions as i16)
        .expect("DescribeTopicPartitions advertised");
    assert_eq!((k.min_version, k.max_version), (0, 0));
    b.shutdown().await;
}

#[tokio::test]
async fn every_partition_has_this_node_as_leader_replica_and_isr_and_empty_elrs() {
    let (b, mut c) = broker_with_a3_b2().await;
    let r = c.send(&request(&["b", "a"], 2000, None), 0).await;
    assert_eq!(
        summary(&r),
        (vec![t("a", 0, &[0, 1, 2]), t("b", 0, &[0, 1])], None)
    );
    for topic in &r.topics {
        assert!(!topic.is_internal);
        assert!(!topic.topic_id.is_nil(), "{:?} has a topic id", topic.name);
        assert_eq!(topic.topic_authorized_operations, TOPIC_OPERATIONS);
        for p in &topic.partitions {
            assert_eq!(p.error_code, 0);
            assert_eq!((p.leader_id.0, p.leader_epoch), (1, 0));
            assert_eq!(
                p.replica_nodes.iter().map(|n| n.0).collect::<Vec<_>>(),
                vec![1]
            );
            assert_eq!(p.isr_nodes.iter().map(|n| n.0).collect::<Vec<_>>(), vec![1]);
            assert_eq!(p.eligible_leader_replicas.as_deref(), Some(&[][..]));
            assert_eq!(p.last_known_elr.as_deref(), Some(&[][..]));
            assert!(p.offline_replicas.is_empty());
        }
    }
    b.shutdown().await;
}

#[tokio::test]
async fn the_partition_limit_pages_through_topics_with_a_cursor() {
    let (b, mut c) = broker_with_a3_b2().await;
    let page = |topics: &'static [&'static str], limit, cursor| request(topics, limit, cursor);
    let r = c.send(&page(&["a", "b"], 2, None), 0).await;
    assert_eq!(summary(&r), (vec![t("a", 0, &[0, 1])], at("a", 2)));
    let r = c.send(&page(&["a", "b"], 2, Some(("a", 2))), 0).await;
    assert_eq!(
        summary(&r),
        (vec![t("a", 0, &[2]), t("b", 0, &[0])], at("b", 1))
    );
    let r = c.send(&page(&["a", "b"], 2, Some(("b", 1))), 0).await;
    assert_eq!(summary(&r), (vec![t("b", 0, &[1])], None));
    // The limit reached at the end of a topic: the cursor points at the next one.
    let r = c.send(&page(&["a", "b"], 3, None), 0).await;
    assert_eq!(summary(&r), (vec![t("a", 0, &[0, 1, 2])], at("b", 0)));
    // Limits below 1 are 1; a cursor past a topic's end gives it no partitions.
    let r = c.send(&page(&["a"], 0, None), 0).await;
    assert_eq!(summary(&r), (vec![t("a", 0, &[0])], at("a", 1)));
    let r = c.send(&page(&["a"], -1, None), 0).await;
    assert_eq!(summary(&r), (vec![t("a", 0, &[0])], at("a", 1)));
    let r = c.send(&page(&["a", "b"], 2, Some(("a", 7))), 0).await;
    assert_eq!(
        summary(&r),
        (vec![t("a", 0, &[]), t("b", 0, &[0, 1])], None)
    );
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_and_invalid_topics_are_answered_in_name_order_once_each() {
    let (b, mut c) = broker_with_a3_b2().await;
    let r = c
        .send(&request(&["nope", "a", "a", "bad name!"], 10, None), 0)
        .await;
    assert_eq!(
        summary(&r),
        (
            vec![
                t("a", 0, &[0, 1, 2]),
                t("bad name!", INVALID_TOPIC, &[]),
                t("nope", UNKNOWN_TOPIC, &[])
            ],
            None
        )
    );
    assert!(r
        .topics
        .iter()
        .all(|t| t.topic_authorized_operations == TOPIC_OPERATIONS));
    // An unknown topic not reached within the limit gets the cursor.
    let r = c.send(&request(&["a", "aa"], 3, None), 0).await;
    assert_eq!(summary(&r), (vec![t("a", 0, &[0, 1, 2])], at("aa", 0)));
    b.shutdown().await;
}

#[tokio::test]
async fn no_topics_means_every_topic_in_name_order() {
    let (b, mut c) = broker_with_a3_b2().await;
    let r = c.send(&request(&[], 2000, None), 0).await;
    let names: Vec<String> = summary(&r).0.into_iter().map(|(n, _, _)| n).collect();
    let ours: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with("__"))
        .collect();
    assert_eq!(ours, vec!["a", "b"], "every topic: {names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let r = c.send(&request(&[], 3, Some(("b", 1))), 0).await;
    assert_eq!(summary(&r), (vec![t("b", 0, &[1])], None));
    b.shutdown().await;
}

#[tokio::test]
async fn a_bad_cursor_or_an_empty_name_refuses_the_whole_request() {
    let (b, mut c) = broker_with_a3_b2().await;
    for cursor in [("zzz", 0), ("a", -1)] {
        let r = c.send(&request(&["a", "b"], 2, Some(cursor)), 0).await;
        assert_eq!(
            summary(&r),
            (
                vec![t("a", INVALID_REQUEST, &[]), t("b", INVALID_REQUEST, &[])],
                None
            ),
            "cursor {cursor:?}"
        );
        assert!(r
            .topics
            .iter()
            .all(|t| t.topic_authorized_operations == i32::MIN));
    }
    let r = c.send(&request(&["bad name!", ""], 2, None), 0).await;
    assert_eq!(
        summary(&r),
        (
            vec![
                t("bad name!", UNKNOWN_SERVER_ERROR, &[]),
                t("", UNKNOWN_SERVER_ERROR, &[])
            ],
            None
        )
    );
    b.shutdown().await;
}
