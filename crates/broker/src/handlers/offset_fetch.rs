//! OffsetFetch: committed offsets of one group (v1-7) or a batch of groups (v8+); `null`
//! topics (v2+) means every partition with a committed offset. `require_stable` needs no
//! waiting: Runnel has no transactional offset commits, so nothing is ever pending.

use crate::coordinator::FetchedOffset;
use crate::error::BrokerError;
use crate::handlers::{str_bytes, topic_name};
use crate::state::BrokerState;
use kafka_protocol::messages::offset_fetch_response::*;
use kafka_protocol::messages::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Groups fetched offsets by topic, keeping first-seen topic order.
fn by_topic(offsets: Vec<FetchedOffset>) -> Vec<(String, Vec<FetchedOffset>)> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, Vec<FetchedOffset>> = BTreeMap::new();
    for o in offsets {
        if !map.contains_key(&o.0) {
            order.push(o.0.clone());
        }
        map.entry(o.0.clone()).or_default().push(o);
    }
    order
        .into_iter()
        .map(|t| {
            let v = map.remove(&t).unwrap_or_default();
            (t, v)
        })
        .collect()
}

fn fetch(
    state: &BrokerState,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Vec<(String, Vec<FetchedOffset>)>, BrokerError> {
    state.groups.fetch_offsets(group, topics).map(by_topic)
}

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = header.request_api_version;
    let mut resp = OffsetFetchResponse::default();
    if version < 8 {
        let topics = req.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        });
        match fetch(state, &req.group_id.0, topics) {
            Err(e) => {
                if version >= 2 {
                    resp.error_code = e.wire_code();
                }
            }
            Ok(topics) => {
                for (name, offsets) in topics {
                    let mut t = OffsetFetchResponseTopic::default();
                    t.name = topic_name(&name);
                    for (_, p, entry) in offsets {
                        let mut rp = OffsetFetchResponsePartition::default();
                        rp.partition_index = p;
                        match entry {
                            Some(e) => {
                                rp.committed_offset = e.offset;
                                if version >= 5 {
                                    rp.committed_leader_epoch = e.leader_epoch;
                                }
                                rp.metadata = Some(str_bytes(e.metadata));
                            }
                            None => {
                                rp.committed_offset = -1;
                                if version >= 5 {
                                    rp.committed_leader_epoch = -1;
                                }
                                rp.metadata = Some(str_bytes(""));
                            }
                        }
                        t.partitions.push(rp);
                    }
                    resp.topics.push(t);
                }
            }
        }
        return resp;
    }
    for g in req.groups {
        let mut rg = OffsetFetchResponseGroup::default();
        let topics = g.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        });
        match fetch(state, &g.group_id.0, topics) {
            Err(e) => rg.error_code = e.wire_code(),
            Ok(topics) => {
                for (name, offsets) in topics {
                    let mut t = OffsetFetchResponseTopics::default();
                    t.name = topic_name(&name);
                    for (_, p, entry) in offsets {
                        let mut rp = OffsetFetchResponsePartitions::default();
                        rp.partition_index = p;
                        match entry {
                            Some(e) => {
                                rp.committed_offset = e.offset;
                                rp.committed_leader_epoch = e.leader_epoch;
                                rp.metadata = Some(str_bytes(e.metadata));
                            }
                            None => {
                                rp.committed_offset = -1;
                                rp.committed_leader_epoch = -1;
                                rp.metadata = Some(str_bytes(""));
                            }
                        }
                        t.partitions.push(rp);
                    }
                    rg.topics.push(t);
                }
            }
        }
        rg.group_id = g.group_id;
        resp.groups.push(rg);
    }
    resp
}
