//! Group records that span several partitions go to `__consumer_offsets` as one batch: an
//! OffsetCommit of many partitions (what the Java consumer sends for its whole assignment) and
//! a DeleteGroups that tombstones many offsets both succeed and take effect.

mod common;

use common::TestBroker;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn commit(group: &str, topic: &str, offsets: &[(i32, i64)]) -> OffsetCommitRequest {
    let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = TopicName(s(topic));
    for &(partition, offset) in offsets {
        let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
        p.partition_index = partition;
        p.committed_offset = offset;
        t.partitions.push(p);
    }
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(s(group));
    r.generation_id_or_member_epoch = -1;
    r.topics = vec![t];
    r
}

fn fetch_all(group: &str) -> OffsetFetchRequest {
    let mut g = offset_fetch_request::OffsetFetchRequestGroup::default();
    g.group_id = GroupId(s(group));
    g.topics = None;
    let mut r = OffsetFetchRequest::default();
    r.groups = vec![g];
    r
}

async fn committed(c: &mut common::RawClient, group: &str) -> Vec<(i32, i64)> {
    let resp = c.send(&fetch_all(group), 8).await;
    let mut out: Vec<(i32, i64)> = resp.groups[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_commit_of_three_partitions_is_stored_and_a_group_delete_removes_all_three() {
    let b = TestBroker::start(&[("offsets.topic.num.partitions", "3")]).await;
    let deadline = std::time::Instant::now() + common::IO_TIMEOUT;
    while !b.handle.state().groups.is_loaded() {
        assert!(
            std::time::Instant::now() < deadline,
            "the group coordinator never loaded __consumer_offsets"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    b.handle
        .state()
        .topics
        .create("t", 3, BTreeMap::new(), false)
        .unwrap();
    let mut c = b.client().await;
    let offsets = [(0, 0), (1, 5), (2, 9)];
    let resp = c.send(&commit("g", "t", &offsets), 8).await;
    let codes: Vec<i16> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![0, 0, 0], "per-partition commit errors");
    assert_eq!(committed(&mut c, "g").await, offsets.to_vec());

    let mut del = DeleteGroupsRequest::default();
    del.groups_names = vec![GroupId(s("g"))];
    let resp = c.send(&del, 2).await;
    assert_eq!(resp.results[0].error_code, 0, "delete group error");
    assert_eq!(committed(&mut c, "g").await, Vec::<(i32, i64)>::new());
    b.shutdown().await;
}
