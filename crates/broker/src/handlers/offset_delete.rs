//! OffsetDelete: removes a group's committed offsets for some partitions (tombstones). A group
//! with members keeps the offsets of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).

use crate::state::BrokerState;
use kafka_protocol::messages::offset_delete_response::*;
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let mut resp = OffsetDeleteResponse::default();
    match state
        .groups
        .delete_offsets(&req.group_id.0, partitions)
        .await
    {
        Err(e) => resp.error_code = e.wire_code(),
        Ok(results) => {
            let mut results = results.into_iter();
            for t in req.topics {
                let mut rt = OffsetDeleteResponseTopic::default();
                for p in t.partitions {
                    let mut rp = OffsetDeleteResponsePartition::default();
                    rp.partition_index = p.partition_index;
                    rp.error_code = super::next_error_code(&mut results);
                    rt.partitions.push(rp);
                }
                rt.name = t.name;
                resp.topics.push(rt);
            }
        }
    }
    resp
}
