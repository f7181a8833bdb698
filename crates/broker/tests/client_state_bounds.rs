//! What one client can make the broker hold is bounded: members and pending member ids per
//! group (`group.max.size`), groups (`runnel.max.groups`), members over all groups
//! (`runnel.max.group.members`), idempotent producers per partition
//! (`runnel.max.producer.states.per.partition`) and partitions (`runnel.max.partitions`, which
//! bounds auto-created topics). InitProducerId never lets one client fence another.

mod common;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use std::time::{Duration, Instant};

const MEMBER_ID_REQUIRED: i16 = 79;
const GROUP_MAX_SIZE_REACHED: i16 = 81;
const POLICY_VIOLATION: i16 = 44;
const OUT_OF_ORDER_SEQUENCE: i16 = 45;

async fn start(extra: &[(&str, &str)]) -> TestBroker {
    let mut settings = vec![
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.min.session.timeout.ms", "100"),
        ("offsets.topic.num.partitions", "3"),
    ];
    settings.extend_from_slice(extra);
    let broker = TestBroker::start(&settings).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !broker.handle.state().groups.is_loaded() {
        assert!(Instant::now() < deadline, "coordinator never loaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker
}

fn join_request(group: &str, member_id: &str, session_timeout_ms: i32) -> JoinGroupRequest {
    let mut p = JoinGroupRequestProtocol::default();
    p.name = sb("range");
    p.metadata = Bytes::from_static(&[0, 0, 0, 0, 0, 0]);
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(sb(group));
    r.member_id = sb(member_id);
    r.session_timeout_ms = session_timeout_ms;
    r.rebalance_timeout_ms = 10_000;
    r.protocol_type = sb("consumer");
    r.protocols = vec![p];
    r
}

async fn commit(c: &mut RawClient, group: &str, topic: &str, offset: i64) -> i16 {
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = topic_name(topic);
    t.partitions = vec![p];
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(sb(group));
    r.generation_id_or_member_epoch = -1;
    r.topics = vec![t];
    c.send(&r, 8).await.topics[0].partitions[0].error_code
}

#[tokio::test]
async fn pending_member_ids_count_against_group_max_size_until_their_session_timeout_passes() {
    let broker = start(&[("group.max.size", "2")]).await;
    let mut c = broker.client().await;
    // v4+: a first join gets a pending member id, which holds a place in the group.
    for _ in 0..2 {
        let r = c.send(&join_request("g", "", 200), 5).await;
        assert_eq!(r.error_code, MEMBER_ID_REQUIRED);
    }
    let r = c.send(&join_request("g", "", 200), 5).await;
    assert_eq!(
        r.error_code, GROUP_MAX_SIZE_REACHED,
        "two pending ids fill a group of two"
    );
    // Pending ids expire after their session timeout (200 ms) and free their places.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = c.send(&join_request("g", "", 200), 5).await;
        if r.error_code == MEMBER_ID_REQUIRED {
            break;
        }
        assert_eq!(r.error_code, GROUP_MAX_SIZE_REACHED);
        assert!(
            Instant::now() < deadline,
            "pending member ids never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn groups_beyond_runnel_max_groups_are_refused_until_one_is_deleted() {
    let broker = start(&[("runnel.max.groups", "3")]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    for g in ["g1", "g2", "g3"] {
        assert_eq!(commit(&mut c, g, "t", 1).await, 0, "{g}");
    }
    assert_eq!(commit(&mut c, "g4", "t", 1).await, GROUP_MAX_SIZE_REACHED);
    let r = c.send(&join_request("g5", "", 10_000), 3).await;
    assert_eq!(r.error_code, GROUP_MAX_SIZE_REACHED);
    assert_eq!(
        commit(&mut c, "g1", "t", 2).await,
        0,
        "existing groups still commit"
    );
    assert_eq!(broker.handle.state().groups.group_count(), 3);
    let mut d = DeleteGroupsRequest::default();
    d.groups_names = vec![GroupId(sb("g2"))];
    assert_eq!(c.send(&d, 2).await.results[0].error_code, 0);
    assert_eq!(
        commit(&mut c, "g4", "t", 1).await,
        0,
        "room again after a delete"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn members_beyond_runnel_max_group_members_over_all_groups_are_refused() {
    let broker = start(&[("runnel.max.group.members", "3")]).await;
    let mut clients = Vec::new();
    for g in ["a", "b", "c"] {
        let mut c = broker.client().await;
        let r = c.send(&join_request(g, "", 10_000), 3).await;
        assert_eq!(r.error_code, 0, "member of {g}");
        clients.push(c);
    }
    let mut c = broker.client().await;
    let r = c.send(&join_request("d", "", 10_000), 3).await;
    assert_eq!(r.error_code, GROUP_MAX_SIZE_REACHED);
    let r = c.send(&join_request("d", "", 10_000), 5).await;
    assert_eq!(
        r.error_code, GROUP_MAX_SIZE_REACHED,
        "a pending member id counts too"
    );
    broker.shutdown().await;
}

async fn init_producer_id(c: &mut RawClient, id: i64, epoch: i16) -> (i64, i16) {
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = None;
    req.transaction_timeout_ms = 60_000;
    req.producer_id = ProducerId(id);
    req.producer_epoch = epoch;
    let resp = c.send(&req, 4).await;
    assert_eq!(resp.error_code, 0);
    (resp.producer_id.0, resp.producer_epoch)
}

fn idempotent(id: i64, epoch: i16, seq: i32, value: &str) -> Bytes {
    batch(
        &[Rec::kv("k", value)],
        Some(Producer {
            id,
            epoch,
            base_sequence: seq,
        }),
    )
}

#[tokio::test]
async fn init_producer_id_without_a_transactional_id_always_hands_out_a_fresh_id_and_never_fences_another_client(
) {
    let broker = start(&[]).await;
    let mut a = broker.client().await;
    let mut b = broker.client().await;
    a.create_topic("t", 1, &[]).await;
    let (pid, epoch) = init_producer_id(&mut a, -1, -1).await;
    assert_eq!(epoch, 0);
    assert_eq!(
        a.produce("t", 0, -1, idempotent(pid, 0, 0, "a0"))
            .await
            .error_code,
        0
    );
    // Another client names A's producer id and epoch, as a KIP-360 epoch bump would.
    let (other, other_epoch) = init_producer_id(&mut b, pid, 0).await;
    assert_ne!(other, pid, "a fresh id, not A's");
    assert_eq!(other_epoch, 0);
    let (third, _) = init_producer_id(&mut b, -1, -1).await;
    assert!(third != pid && third != other);
    assert_eq!(
        a.produce("t", 0, -1, idempotent(pid, 0, 1, "a1"))
            .await
            .error_code,
        0,
        "A is not fenced"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_partition_remembers_at_most_the_configured_number_of_producers() {
    let broker = start(&[("runnel.max.producer.states.per.partition", "8")]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    for pid in 1000..1100 {
        let r = c.produce("t", 0, -1, idempotent(pid, 0, 0, "v")).await;
        assert_eq!(r.error_code, 0, "producer {pid}");
    }
    let p = broker.handle.state().topics.partition("t", 0).unwrap();
    assert!(
        p.producer_count() <= 8,
        "{} producers remembered, limit 8",
        p.producer_count()
    );
    assert_eq!(
        c.produce("t", 0, -1, idempotent(1099, 0, 1, "v"))
            .await
            .error_code,
        0,
        "the latest producer is still known"
    );
    assert_eq!(
        c.produce("t", 0, -1, idempotent(1000, 0, 1, "v"))
            .await
            .error_code,
        OUT_OF_ORDER_SEQUENCE,
        "the oldest was forgotten: its next sequence is out of order"
    );
    broker.shutdown().await;
}

async fn auto_create(c: &mut RawClient, topic: &str) -> i16 {
    let mut t = MetadataRequestTopic::default();
    t.name = Some(topic_name(topic));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    req.allow_auto_topic_creation = true;
    c.send(&req, 12).await.topics[0].error_code
}

#[tokio::test]
async fn auto_created_topics_and_other_partitions_stop_at_runnel_max_partitions() {
    let broker = start(&[("runnel.max.partitions", "3")]).await;
    let mut c = broker.client().await;
    for t in ["a", "b", "c"] {
        assert_eq!(auto_create(&mut c, t).await, 0, "{t}");
    }
    assert_eq!(auto_create(&mut c, "d").await, POLICY_VIOLATION);
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = topic_name("e");
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    assert_eq!(c.send(&req, 7).await.topics[0].error_code, POLICY_VIOLATION);
    let mut p = CreatePartitionsTopic::default();
    p.name = topic_name("a");
    p.count = 2;
    p.assignments = None;
    let mut req = CreatePartitionsRequest::default();
    req.topics = vec![p];
    assert_eq!(
        c.send(&req, 3).await.results[0].error_code,
        POLICY_VIOLATION
    );
    let mut del = DeleteTopicsRequest::default();
    let mut dt = delete_topics_request::DeleteTopicState::default();
    dt.name = Some(topic_name("a"));
    del.topics = vec![dt];
    assert_eq!(c.send(&del, 6).await.responses[0].error_code, 0);
    assert_eq!(
        auto_create(&mut c, "d").await,
        0,
        "room again after a delete"
    );
    broker.shutdown().await;
}
