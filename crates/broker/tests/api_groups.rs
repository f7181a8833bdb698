//! Group coordinator APIs through a small raw Kafka client that sends typed `kafka-protocol`
//! requests: every error code a client can provoke, and the state that must survive a restart.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use runnel_broker::{BrokerConfig, BrokerHandle};
use std::collections::BTreeMap;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    async fn connect(broker: &BrokerHandle) -> Client {
        Client {
            stream: TcpStream::connect(broker.local_addr).await.unwrap(),
            correlation_id: 0,
        }
    }

    async fn send<R: Request>(&mut self, version: i16, req: &R) -> R::Response {
        self.correlation_id += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = self.correlation_id;
        header.client_id = Some(StrBytes::from_static_str("api-groups"));
        let mut frame = BytesMut::new();
        header
            .encode(&mut frame, R::header_version(version))
            .unwrap();
        req.encode(&mut frame, version).unwrap();
        let mut out = BytesMut::new();
        out.put_i32(frame.len() as i32);
        out.put_slice(&frame);
        self.stream.write_all(&out).await.unwrap();
        let size = self.stream.read_i32().await.expect("response");
        let mut buf = vec![0u8; size as usize];
        self.stream.read_exact(&mut buf).await.unwrap();
        let mut buf = Bytes::from(buf);
        let h = ResponseHeader::decode(&mut buf, R::Response::header_version(version)).unwrap();
        assert_eq!(h.correlation_id, self.correlation_id);
        let resp = R::Response::decode(&mut buf, version).unwrap();
        assert_eq!(buf.remaining(), 0);
        resp
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

async fn start(dir: &Path, extra: &[(&str, &str)]) -> BrokerHandle {
    let mut pairs = vec![
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("log.dirs", dir.to_str().unwrap()),
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "5"),
    ];
    pairs.extend_from_slice(extra);
    let broker = runnel_broker::start(BrokerConfig::with(&pairs).unwrap())
        .await
        .unwrap();
    // Wait for the coordinator to finish loading __consumer_offsets.
    for _ in 0..200 {
        if broker.state().groups.is_loaded() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(broker.state().groups.is_loaded());
    broker
}

fn create_topic(broker: &BrokerHandle, name: &str, partitions: i32) {
    broker
        .state()
        .topics
        .create(name, partitions, BTreeMap::new(), false)
        .unwrap();
}

/// Consumer-protocol subscription metadata (v0) for `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

fn join_request(
    group: &str,
    member_id: &str,
    protocols: &[&str],
    topics: &[&str],
) -> JoinGroupRequest {
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(s(group));
    r.member_id = s(member_id);
    r.session_timeout_ms = 10_000;
    r.rebalance_timeout_ms = 10_000;
    r.protocol_type = s("consumer");
    r.protocols = protocols
        .iter()
        .map(|p| {
            let mut jp = join_group_request::JoinGroupRequestProtocol::default();
            jp.name = s(p);
            jp.metadata = subscription(topics);
            jp
        })
        .collect();
    r
}

/// Joins a fresh group as its only member and syncs; returns (member id, generation).
async fn join_and_sync(c: &mut Client, group: &str, topics: &[&str]) -> (String, i32) {
    let first = c
        .send(9, &join_request(group, "", &["range"], topics))
        .await;
    assert_eq!(first.error_code, code(ResponseError::MemberIdRequired));
    let member_id = first.member_id.to_string();
    let joined = c
        .send(9, &join_request(group, &member_id, &["range"], topics))
        .await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader.as_str(), member_id);
    let mut sync = SyncGroupRequest::default();
    sync.group_id = GroupId(s(group));
    sync.generation_id = joined.generation_id;
    sync.member_id = s(&member_id);
    sync.protocol_type = Some(s("consumer"));
    sync.protocol_name = Some(s("range"));
    let mut a = sync_group_request::SyncGroupRequestAssignment::default();
    a.member_id = s(&member_id);
    a.assignment = Bytes::from_static(b"assignment");
    sync.assignments = vec![a];
    let synced = c.send(5, &sync).await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"assignment");
    (member_id, joined.generation_id)
}

fn commit_request(
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    metadata: &str,
) -> OffsetCommitRequest {
    let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
    p.partition_index = partition;
    p.committed_offset = offset;
    p.committed_metadata = Some(s(metadata));
    let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = vec![p];
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(s(group));
    r.generation_id_or_member_epoch = generation;
    r.member_id = s(member);
    r.topics = vec![t];
    r
}

fn commit_code(resp: &OffsetCommitResponse) -> i16 {
    resp.topics[0].partitions[0].error_code
}

async fn fetch_offset(c: &mut Client, group: &str, topic: &str, partition: i32) -> (i64, String) {
    let mut t = offset_fetch_request::OffsetFetchRequestTopics::default();
    t.name = TopicName(s(topic));
    t.partition_indexes = vec![partition];
    let mut g = offset_fetch_request::OffsetFetchRequestGroup::default();
    g.group_id = GroupId(s(group));
    g.topics = Some(vec![t]);
    let mut r = OffsetFetchRequest::default();
    r.groups = vec![g];
    let resp = c.send(8, &r).await;
    let p = &resp.groups[0].topics[0].partitions[0];
    (
        p.committed_offset,
        p.metadata
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_commit_for_an_unknown_topic_or_partition_gets_unknown_topic_or_partition() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    let r = c
        .send(8, &commit_request("g", -1, "", "nope", 0, 1, ""))
        .await;
    assert_eq!(
        commit_code(&r),
        code(ResponseError::UnknownTopicOrPartition)
    );
    let r = c.send(8, &commit_request("g", -1, "", "t", 5, 1, "")).await;
    assert_eq!(commit_code(&r), 3);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_commit_with_a_wrong_generation_gets_illegal_generation() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    let (member, generation) = join_and_sync(&mut c, "g", &["t"]).await;
    let r = c
        .send(
            8,
            &commit_request("g", generation + 7, &member, "t", 0, 1, ""),
        )
        .await;
    assert_eq!(commit_code(&r), code(ResponseError::IllegalGeneration));
    assert_eq!(commit_code(&r), 22);
    let ok = c
        .send(8, &commit_request("g", generation, &member, "t", 0, 1, ""))
        .await;
    assert_eq!(commit_code(&ok), 0);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_commit_before_sync_gets_rebalance_in_progress_after_the_generation_check() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    let first = c.send(9, &join_request("g", "", &["range"], &["t"])).await;
    let member = first.member_id.to_string();
    let joined = c
        .send(9, &join_request("g", &member, &["range"], &["t"]))
        .await;
    assert_eq!(joined.error_code, 0);
    // Joined, not yet synced: the group is completing its rebalance.
    let generation = joined.generation_id;
    let r = c
        .send(8, &commit_request("g", generation, &member, "t", 0, 1, ""))
        .await;
    assert_eq!(commit_code(&r), code(ResponseError::RebalanceInProgress));
    // As in Kafka, a wrong generation is reported before the rebalance.
    let r = c
        .send(
            8,
            &commit_request("g", generation + 1, &member, "t", 0, 1, ""),
        )
        .await;
    assert_eq!(commit_code(&r), code(ResponseError::IllegalGeneration));
    broker.shutdown().await;
}

#[tokio::test]
async fn a_commit_from_an_unknown_member_gets_unknown_member_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    let (_member, generation) = join_and_sync(&mut c, "g", &["t"]).await;
    let r = c
        .send(
            8,
            &commit_request("g", generation, "stranger", "t", 0, 1, ""),
        )
        .await;
    assert_eq!(commit_code(&r), 25);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_commit_with_metadata_over_offset_metadata_max_bytes_gets_offset_metadata_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    let big = "m".repeat(4097);
    let r = c
        .send(8, &commit_request("g", -1, "", "t", 0, 1, &big))
        .await;
    assert_eq!(commit_code(&r), 12);
    let fits = "m".repeat(4096);
    let r = c
        .send(8, &commit_request("g", -1, "", "t", 0, 1, &fits))
        .await;
    assert_eq!(commit_code(&r), 0);
    assert_eq!(fetch_offset(&mut c, "g", "t", 0).await, (1, fits));
    broker.shutdown().await;
}

#[tokio::test]
async fn a_join_with_no_protocol_in_common_gets_inconsistent_group_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    join_and_sync(&mut c, "g", &["t"]).await;
    let mut other = Client::connect(&broker).await;
    let r = other
        .send(5, &join_request("g", "", &["roundrobin"], &["t"]))
        .await;
    assert_eq!(r.error_code, 23);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_first_join_without_member_id_at_v4_or_later_gets_member_id_required_with_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    for v in 4..=9 {
        let r = c
            .send(v, &join_request(&format!("g{v}"), "", &["range"], &["t"]))
            .await;
        assert_eq!(r.error_code, 79, "v{v}");
        assert!(!r.member_id.is_empty());
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_join_with_a_session_timeout_outside_the_bounds_gets_invalid_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    for timeout in [5_999, 1_800_001] {
        let mut r = join_request("g", "", &["range"], &["t"]);
        r.session_timeout_ms = timeout;
        let resp = c.send(9, &r).await;
        assert_eq!(resp.error_code, 26, "session timeout {timeout}");
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_join_beyond_group_max_size_gets_group_max_size_reached() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[("group.max.size", "1")]).await;
    let mut c = Client::connect(&broker).await;
    join_and_sync(&mut c, "g", &["t"]).await;
    let mut other = Client::connect(&broker).await;
    let r = other
        .send(9, &join_request("g", "", &["range"], &["t"]))
        .await;
    assert_eq!(r.error_code, code(ResponseError::GroupMaxSizeReached));
    broker.shutdown().await;
}

#[tokio::test]
async fn delete_groups_on_a_group_with_members_gets_non_empty_group_and_deletes_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    join_and_sync(&mut c, "busy", &["t"]).await;
    let r = c
        .send(8, &commit_request("idle", -1, "", "t", 0, 3, ""))
        .await;
    assert_eq!(commit_code(&r), 0);
    let mut req = DeleteGroupsRequest::default();
    req.groups_names = vec![GroupId(s("busy")), GroupId(s("idle")), GroupId(s("none"))];
    let resp = c.send(2, &req).await;
    let codes: Vec<i16> = resp.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![68, 0, code(ResponseError::GroupIdNotFound)]);
    assert_eq!(fetch_offset(&mut c, "idle", "t", 0).await.0, -1);
    broker.shutdown().await;
}

#[tokio::test]
async fn offset_delete_refuses_a_subscribed_topic_of_a_group_with_members_and_deletes_others() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    create_topic(&broker, "u", 1);
    let mut c = Client::connect(&broker).await;
    let (member, generation) = join_and_sync(&mut c, "g", &["t"]).await;
    for topic in ["t", "u"] {
        let r = c
            .send(
                8,
                &commit_request("g", generation, &member, topic, 0, 4, ""),
            )
            .await;
        assert_eq!(commit_code(&r), 0);
    }
    let mut req = OffsetDeleteRequest::default();
    req.group_id = GroupId(s("g"));
    for topic in ["t", "u"] {
        let mut t = offset_delete_request::OffsetDeleteRequestTopic::default();
        t.name = TopicName(s(topic));
        t.partitions = vec![offset_delete_request::OffsetDeleteRequestPartition::default()];
        req.topics.push(t);
    }
    let resp = c.send(0, &req).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.topics[0].partitions[0].error_code, 86);
    assert_eq!(resp.topics[1].partitions[0].error_code, 0);
    assert_eq!(fetch_offset(&mut c, "g", "t", 0).await.0, 4);
    assert_eq!(fetch_offset(&mut c, "g", "u", 0).await.0, -1);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_heartbeat_during_a_rebalance_gets_rebalance_in_progress_and_a_stale_sync_gets_illegal_generation(
) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    let (member, generation) = join_and_sync(&mut c, "g", &["t"]).await;
    let mut hb = HeartbeatRequest::default();
    hb.group_id = GroupId(s("g"));
    hb.generation_id = generation;
    hb.member_id = s(&member);
    assert_eq!(c.send(4, &hb).await.error_code, 0);
    // A second member joins: the group rebalances while waiting for the first to rejoin.
    let addr = broker.local_addr;
    let second = tokio::spawn(async move {
        let mut c2 = Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            correlation_id: 0,
        };
        c2.send(3, &join_request("g", "", &["range"], &["t"])).await
    });
    let mut saw_rebalance = false;
    for _ in 0..100 {
        if c.send(4, &hb).await.error_code == code(ResponseError::RebalanceInProgress) {
            saw_rebalance = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(saw_rebalance);
    let rejoined = c
        .send(9, &join_request("g", &member, &["range"], &["t"]))
        .await;
    assert_eq!(rejoined.error_code, 0);
    assert_eq!(rejoined.generation_id, generation + 1);
    assert_eq!(rejoined.members.len(), 2, "the leader sees both members");
    let second = second.await.unwrap();
    assert_eq!(second.error_code, 0);
    let mut sync = SyncGroupRequest::default();
    sync.group_id = GroupId(s("g"));
    sync.generation_id = generation;
    sync.member_id = s(&member);
    assert_eq!(c.send(3, &sync).await.error_code, 22);
    hb.member_id = s("stranger");
    hb.generation_id = rejoined.generation_id;
    assert_eq!(c.send(4, &hb).await.error_code, 25);
    broker.shutdown().await;
}

#[tokio::test]
async fn find_coordinator_names_this_broker_for_single_and_batched_keys() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    let mut r = FindCoordinatorRequest::default();
    r.key = s("g");
    let one = c.send(3, &r).await;
    assert_eq!(one.error_code, 0);
    assert_eq!(one.port, broker.local_addr.port() as i32);
    let mut r = FindCoordinatorRequest::default();
    r.coordinator_keys = vec![s("a"), s("b")];
    let many = c.send(4, &r).await;
    assert_eq!(many.coordinators.len(), 2);
    assert!(many.coordinators.iter().all(|co| co.error_code == 0
        && co.node_id.0 == 1
        && co.port == broker.local_addr.port() as i32));
    broker.shutdown().await;
}

#[tokio::test]
async fn list_groups_filters_by_state_and_describe_groups_shows_members_and_assignment() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    let (member, _) = join_and_sync(&mut c, "live", &["t"]).await;
    assert_eq!(
        commit_code(
            &c.send(8, &commit_request("offsets-only", -1, "", "t", 0, 1, ""))
                .await
        ),
        0
    );
    let mut r = ListGroupsRequest::default();
    r.states_filter = vec![s("stable")];
    let listed = c.send(4, &r).await;
    let ids: Vec<String> = listed
        .groups
        .iter()
        .map(|g| g.group_id.0.to_string())
        .collect();
    assert_eq!(ids, vec!["live".to_string()]);
    let all = c.send(5, &ListGroupsRequest::default()).await;
    assert_eq!(all.groups.len(), 2);
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(s("live")), GroupId(s("unknown"))];
    let described = c.send(5, &d).await;
    let live = &described.groups[0];
    assert_eq!(live.group_state.as_str(), "Stable");
    assert_eq!(live.protocol_data.as_str(), "range");
    assert_eq!(live.members[0].member_id.as_str(), member);
    assert_eq!(live.members[0].client_host.as_str(), "/127.0.0.1");
    assert_eq!(&live.members[0].member_assignment[..], b"assignment");
    assert_eq!(described.groups[1].group_state.as_str(), "Dead");
    broker.shutdown().await;
}

#[tokio::test]
async fn offsets_and_group_generation_survive_a_broker_restart_and_expired_offsets_stay_gone() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 2);
    let mut c = Client::connect(&broker).await;
    let (member, generation) = join_and_sync(&mut c, "g", &["t"]).await;
    let r = c
        .send(
            8,
            &commit_request("g", generation, &member, "t", 1, 42, "meta"),
        )
        .await;
    assert_eq!(commit_code(&r), 0);
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(s("g"));
    let mut who = leave_group_request::MemberIdentity::default();
    who.member_id = s(&member);
    leave.members = vec![who];
    let left = c.send(5, &leave).await;
    assert_eq!(left.members[0].error_code, 0);
    assert_eq!(
        commit_code(
            &c.send(8, &commit_request("simple", -1, "", "t", 0, 7, ""))
                .await
        ),
        0
    );
    broker.shutdown().await;

    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    assert_eq!(
        fetch_offset(&mut c, "g", "t", 1).await,
        (42, "meta".to_string())
    );
    assert_eq!(fetch_offset(&mut c, "simple", "t", 0).await.0, 7);
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(s("g"))];
    let described = c.send(5, &d).await;
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
    assert_eq!(described.groups[0].protocol_type.as_str(), "consumer");
    // The stored generation came back: leaving bumped it once (to Empty), rejoining bumps again.
    let mut c2 = Client::connect(&broker).await;
    let (member2, generation2) = join_and_sync(&mut c2, "g", &["t"]).await;
    assert_eq!(generation2, generation + 2);
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(s("g"));
    leave.member_id = s(&member2);
    assert_eq!(c2.send(2, &leave).await.error_code, 0);
    // Offsets of an Empty group expire after offsets.retention.minutes (8 days on from now).
    let later = runnel_broker::clock::now_ms() + 8 * 24 * 3600 * 1000;
    broker.state().groups.expire_offsets(later);
    assert_eq!(fetch_offset(&mut c, "g", "t", 1).await.0, -1);
    broker.shutdown().await;

    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    assert_eq!(
        fetch_offset(&mut c, "g", "t", 1).await.0,
        -1,
        "tombstones replayed"
    );
    assert_eq!(fetch_offset(&mut c, "simple", "t", 0).await.0, -1);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_restarted_static_member_replaces_the_old_one_which_is_then_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    let mut join = join_request("g", "", &["range"], &["t"]);
    join.group_instance_id = Some(s("instance-1"));
    // A static member needs no MEMBER_ID_REQUIRED round trip.
    let first = c.send(9, &join).await;
    assert_eq!(first.error_code, 0);
    let old_id = first.member_id.to_string();
    let mut sync = SyncGroupRequest::default();
    sync.group_id = GroupId(s("g"));
    sync.generation_id = first.generation_id;
    sync.member_id = s(&old_id);
    sync.group_instance_id = Some(s("instance-1"));
    let mut a = sync_group_request::SyncGroupRequestAssignment::default();
    a.member_id = s(&old_id);
    a.assignment = Bytes::from_static(b"mine");
    sync.assignments = vec![a];
    assert_eq!(c.send(5, &sync).await.error_code, 0);
    // The same instance comes back with no member id: same generation, no rebalance.
    let mut again = Client::connect(&broker).await;
    let second = again.send(9, &join).await;
    assert_eq!(second.error_code, 0);
    assert_ne!(second.member_id.as_str(), old_id);
    assert_eq!(second.generation_id, first.generation_id);
    sync.member_id = second.member_id.clone();
    sync.assignments = vec![];
    let synced = again.send(5, &sync).await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"mine");
    let mut hb = HeartbeatRequest::default();
    hb.group_id = GroupId(s("g"));
    hb.generation_id = first.generation_id;
    hb.member_id = s(&old_id);
    hb.group_instance_id = Some(s("instance-1"));
    assert_eq!(
        c.send(4, &hb).await.error_code,
        code(ResponseError::FencedInstanceId)
    );
    broker.shutdown().await;
}

async fn describe_state(c: &mut Client, group: &str) -> (String, usize) {
    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(s(group))];
    let r = c.send(5, &d).await;
    (
        r.groups[0].group_state.to_string(),
        r.groups[0].members.len(),
    )
}

#[tokio::test]
async fn members_joining_within_the_initial_rebalance_delay_form_one_generation() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[("group.initial.rebalance.delay.ms", "1000")]).await;
    let addr = broker.local_addr;
    let join = || {
        tokio::spawn(async move {
            let mut c = Client {
                stream: TcpStream::connect(addr).await.unwrap(),
                correlation_id: 0,
            };
            c.send(3, &join_request("g", "", &["range"], &["t"])).await
        })
    };
    // B joins once A's join is pending in the group, well inside the 1000 ms delay.
    let a = join();
    let mut observer = Client::connect(&broker).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state = describe_state(&mut observer, "g").await;
        if state == ("PreparingRebalance".to_string(), 1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A's join never showed in the group: {state:?}"
        );
        tokio::task::yield_now().await;
    }
    let b = join();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!((a.error_code, b.error_code), (0, 0));
    assert_eq!((a.generation_id, b.generation_id), (1, 1));
    assert_eq!(
        a.members.len() + b.members.len(),
        2,
        "the leader sees both members"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_member_that_does_not_rejoin_within_the_rebalance_timeout_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[("group.min.session.timeout.ms", "100")]).await;
    let mut c = Client::connect(&broker).await;
    let (_silent, generation) = join_and_sync(&mut c, "g", &["t"]).await;
    let mut newcomer = Client::connect(&broker).await;
    let mut join = join_request("g", "", &["range"], &["t"]);
    join.rebalance_timeout_ms = 500;
    let r = newcomer.send(3, &join).await;
    // The first member's rebalance timeout (10 s) bounds the join phase; it never rejoins.
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(r.members.len(), 1, "only the newcomer is left");
    assert_eq!(r.leader, r.member_id);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[("group.min.session.timeout.ms", "100")]).await;
    let mut c = Client::connect(&broker).await;
    let mut join = join_request("g", "", &["range"], &["t"]);
    join.session_timeout_ms = 300;
    let r = c.send(3, &join).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(describe_state(&mut c, "g").await.1, 1);
    let mut state = describe_state(&mut c, "g").await;
    for _ in 0..100 {
        if state == ("Empty".to_string(), 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        state = describe_state(&mut c, "g").await;
    }
    assert_eq!(state, ("Empty".to_string(), 0));
    broker.shutdown().await;
}

#[tokio::test]
async fn offset_fetch_with_null_topics_returns_every_committed_partition_for_each_batched_group() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 3);
    let mut c = Client::connect(&broker).await;
    for (group, partition, offset) in [("a", 0, 10), ("a", 2, 12), ("b", 1, 21)] {
        let r = c
            .send(
                8,
                &commit_request(group, -1, "", "t", partition, offset, "m"),
            )
            .await;
        assert_eq!(commit_code(&r), 0);
    }
    let mut r = OffsetFetchRequest::default();
    r.require_stable = true;
    for g in ["a", "b", "none"] {
        let mut rg = offset_fetch_request::OffsetFetchRequestGroup::default();
        rg.group_id = GroupId(s(g));
        rg.topics = None;
        r.groups.push(rg);
    }
    let resp = c.send(8, &r).await;
    let got: Vec<(String, Vec<(i32, i64)>)> = resp
        .groups
        .iter()
        .map(|g| {
            assert_eq!(g.error_code, 0);
            (
                g.group_id.0.to_string(),
                g.topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| (p.partition_index, p.committed_offset))
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".to_string(), vec![(0, 10), (2, 12)]),
            ("b".to_string(), vec![(1, 21)]),
            ("none".to_string(), vec![]),
        ]
    );
    // The single-group form (v7) with null topics.
    let mut single = OffsetFetchRequest::default();
    single.group_id = GroupId(s("a"));
    single.topics = None;
    single.require_stable = true;
    let resp = c.send(7, &single).await;
    assert_eq!(resp.error_code, 0);
    let offsets: Vec<(i32, i64, String)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.metadata.as_ref().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        offsets,
        vec![(0, 10, "m".to_string()), (2, 12, "m".to_string())]
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_stable_consumer_group_keeps_offsets_of_subscribed_topics_and_expires_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    create_topic(&broker, "u", 1);
    let mut c = Client::connect(&broker).await;
    let (member, generation) = join_and_sync(&mut c, "g", &["t"]).await;
    for topic in ["t", "u"] {
        let r = c
            .send(
                8,
                &commit_request("g", generation, &member, topic, 0, 5, ""),
            )
            .await;
        assert_eq!(commit_code(&r), 0);
    }
    let later = runnel_broker::clock::now_ms() + 8 * 24 * 3600 * 1000;
    broker.state().groups.expire_offsets(later);
    assert_eq!(fetch_offset(&mut c, "g", "t", 0).await.0, 5);
    assert_eq!(fetch_offset(&mut c, "g", "u", 0).await.0, -1);
    broker.shutdown().await;
}

#[tokio::test]
async fn deleting_a_topic_removes_the_committed_offsets_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    create_topic(&broker, "t", 1);
    let mut c = Client::connect(&broker).await;
    let r = c.send(8, &commit_request("g", -1, "", "t", 0, 9, "")).await;
    assert_eq!(commit_code(&r), 0);
    let mut del = DeleteTopicsRequest::default();
    del.topic_names = vec![TopicName(s("t"))];
    let resp = c.send(5, &del).await;
    assert_eq!(resp.responses[0].error_code, 0);
    create_topic(&broker, "t", 1);
    assert_eq!(fetch_offset(&mut c, "g", "t", 0).await.0, -1);
    broker.shutdown().await;
}

#[tokio::test]
async fn an_empty_group_without_offsets_is_removed_by_the_retention_pass() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    // A first join that never comes back with its member id leaves an Empty group behind.
    let r = c
        .send(9, &join_request("abandoned", "", &["range"], &["t"]))
        .await;
    assert_eq!(r.error_code, 79);
    let (member, _) = join_and_sync(&mut c, "left", &["t"]).await;
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(s("left"));
    leave.member_id = s(&member);
    assert_eq!(c.send(2, &leave).await.error_code, 0);
    let later = runnel_broker::clock::now_ms() + 3_600_000;
    broker.state().groups.expire_offsets(later);
    broker.state().groups.tick(later);
    broker.state().groups.expire_offsets(later);
    let listed = c.send(4, &ListGroupsRequest::default()).await;
    assert!(listed.groups.is_empty(), "{:?}", listed.groups);
    broker.shutdown().await;
    let broker = start(dir.path(), &[]).await;
    let mut c = Client::connect(&broker).await;
    let listed = c.send(4, &ListGroupsRequest::default()).await;
    assert!(listed.groups.is_empty(), "gone after a restart too");
    broker.shutdown().await;
}
