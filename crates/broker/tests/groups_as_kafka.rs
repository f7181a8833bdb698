//! Group answers that tests/interop/test_differential_groups.py found Runnel giving differently
//! from Kafka 4.4, each now as Kafka gives it.

mod common;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::*;

const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_GROUP_ID: i16 = 24;

async fn broker() -> (TestBroker, RawClient) {
    let b = TestBroker::start(&[
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "1"),
    ])
    .await;
    for _ in 0..500 {
        if b.handle.state().groups.is_loaded() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(b.handle.state().groups.is_loaded(), "coordinator loaded");
    let c = b.client().await;
    (b, c)
}

fn join(group: &str, member_id: &str, instance: Option<&str>) -> JoinGroupRequest {
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(sb(group));
    r.member_id = sb(member_id);
    r.group_instance_id = instance.map(sb);
    r.session_timeout_ms = 10_000;
    r.rebalance_timeout_ms = 10_000;
    r.protocol_type = sb("consumer");
    let mut p = join_group_request::JoinGroupRequestProtocol::default();
    p.name = sb("range");
    p.metadata = Bytes::from_static(b"m");
    r.protocols = vec![p];
    r
}

fn sync(group: &str, generation: i32, member_id: &str, instance: Option<&str>) -> SyncGroupRequest {
    let mut r = SyncGroupRequest::default();
    r.group_id = GroupId(sb(group));
    r.generation_id = generation;
    r.member_id = sb(member_id);
    r.group_instance_id = instance.map(sb);
    r
}

fn heartbeat(
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
) -> HeartbeatRequest {
    let mut r = HeartbeatRequest::default();
    r.group_id = GroupId(sb(group));
    r.generation_id = generation;
    r.member_id = sb(member_id);
    r.group_instance_id = instance.map(sb);
    r
}

/// A static member "i1" alone in a Stable group, its assignment `A1`; returns its member id.
async fn stable_static_leader(c: &mut RawClient, group: &str) -> String {
    let r = c.send(&join(group, "", Some("i1")), 5).await;
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    let id = r.member_id.to_string();
    let mut s = sync(group, 1, &id, Some("i1"));
    let mut a = sync_group_request::SyncGroupRequestAssignment::default();
    a.member_id = sb(&id);
    a.assignment = Bytes::from_static(b"A1");
    s.assignments = vec![a];
    assert_eq!(c.send(&s, 3).await.error_code, 0);
    id
}

#[tokio::test]
async fn a_restarted_static_leader_below_join_v9_is_named_a_follower_and_keeps_its_assignment() {
    let (b, mut c) = broker().await;
    let old = stable_static_leader(&mut c, "g").await;
    let r = c.send(&join("g", "", Some("i1")), 5).await;
    assert_eq!(r.error_code, 0);
    assert_ne!(r.member_id.as_str(), old);
    // Kafka names the old member id as leader and lists no members, so a pre-KIP-814 client
    // does not compute a new assignment.
    assert_eq!((r.generation_id, r.leader.as_str()), (1, old.as_str()));
    assert!(r.members.is_empty(), "{:?}", r.members);
    let synced = c.send(&sync("g", 1, &r.member_id, Some("i1")), 3).await;
    assert_eq!((synced.error_code, &synced.assignment[..]), (0, &b"A1"[..]));
    b.shutdown().await;
}

#[tokio::test]
async fn a_restarted_static_leader_at_join_v9_leads_with_skip_assignment() {
    let (b, mut c) = broker().await;
    stable_static_leader(&mut c, "g").await;
    let r = c.send(&join("g", "", Some("i1")), 9).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.leader, r.member_id);
    assert!(r.skip_assignment);
    assert_eq!(r.members.len(), 1);
    b.shutdown().await;
}

#[tokio::test]
async fn an_instance_id_the_group_does_not_know_is_unknown_member_id() {
    let (b, mut c) = broker().await;
    let id = stable_static_leader(&mut c, "g").await;
    assert_eq!(
        c.send(&heartbeat("g", 1, &id, Some("i1")), 3)
            .await
            .error_code,
        0
    );
    assert_eq!(
        c.send(&heartbeat("g", 1, &id, Some("i2")), 3)
            .await
            .error_code,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        c.send(&sync("g", 1, &id, Some("i2")), 3).await.error_code,
        UNKNOWN_MEMBER_ID
    );
    b.shutdown().await;
}

#[tokio::test]
async fn the_empty_group_id_is_invalid_for_heartbeat_sync_and_leave() {
    let (b, mut c) = broker().await;
    assert_eq!(
        c.send(&heartbeat("", 1, "x", None), 3).await.error_code,
        INVALID_GROUP_ID
    );
    assert_eq!(
        c.send(&sync("", 1, "x", None), 3).await.error_code,
        INVALID_GROUP_ID
    );
    let mut leave = LeaveGroupRequest::default();
    let mut m = leave_group_request::MemberIdentity::default();
    m.member_id = sb("x");
    leave.members = vec![m];
    let r = c.send(&leave, 3).await;
    assert_eq!((r.error_code, r.members.len()), (INVALID_GROUP_ID, 0));
    b.shutdown().await;
}

#[tokio::test]
async fn a_simple_commit_under_the_empty_group_id_is_kept_as_by_kafka() {
    let (b, mut c) = broker().await;
    c.create_topic("t", 1, &[]).await;
    let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = 7;
    let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = topic_name("t");
    t.partitions = vec![p];
    let mut commit = OffsetCommitRequest::default();
    commit.group_id = GroupId(sb(""));
    commit.generation_id_or_member_epoch = -1;
    commit.topics = vec![t];
    let r = c.send(&commit, 7).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let mut ft = offset_fetch_request::OffsetFetchRequestTopic::default();
    ft.name = topic_name("t");
    ft.partition_indexes = vec![0];
    let mut fetch = OffsetFetchRequest::default();
    fetch.group_id = GroupId(sb(""));
    fetch.topics = Some(vec![ft]);
    let r = c.send(&fetch, 5).await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, 7);
    b.shutdown().await;
}

#[tokio::test]
async fn describe_groups_shows_the_last_assignment_while_the_group_rebalances() {
    let (b, mut c) = broker().await;
    let id = stable_static_leader(&mut c, "g").await;
    // A second member joins: PreparingRebalance until the first one rejoins.
    let mut other = b.client().await;
    let first = other.send(&join("g", "", None), 5).await;
    let pending = first.member_id.to_string();
    let joining = tokio::spawn(async move { other.send(&join("g", &pending, None), 5).await });
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(sb("g"))];
    let mut described = c.send(&d, 4).await;
    for _ in 0..500 {
        if described.groups[0].group_state.as_str() == "PreparingRebalance" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        described = c.send(&d, 4).await;
    }
    let g = &described.groups[0];
    assert_eq!(g.group_state.as_str(), "PreparingRebalance");
    let mine = g
        .members
        .iter()
        .find(|m| m.member_id.as_str() == id)
        .expect("member");
    assert_eq!(
        &mine.member_assignment[..],
        b"A1",
        "the last assignment is still shown"
    );
    assert!(
        mine.member_metadata.is_empty(),
        "no metadata outside Stable"
    );
    // Let the rebalance finish so the spawned join returns.
    let r = c.send(&join("g", &id, Some("i1")), 5).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(joining.await.unwrap().error_code, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn describe_groups_v6_of_an_unknown_group_is_group_id_not_found_in_kafkas_words() {
    let (b, mut c) = broker().await;
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(sb("nobody-here"))];
    let r = c.send(&d, 6).await;
    let g = &r.groups[0];
    assert_eq!(g.error_code, 69, "GROUP_ID_NOT_FOUND");
    assert_eq!(
        g.error_message.as_deref(),
        Some("Group nobody-here not found.")
    );
    assert_eq!(g.group_state.as_str(), "Dead");
    b.shutdown().await;
}
