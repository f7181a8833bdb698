//! Produce: append each partition's record batches, as bytes, to its log.
//!
//! The batches stay slices of the request frame until the log copies them into its write
//! buffer; nothing is decoded per record. acks=0 appends and sends no response; acks=1 and
//! acks=all answer once the batches are in the log (written to the page cache; see
//! docs/durability.md for what survives which failure). With a single node the in-sync replica
//! set is this broker alone, so acks=all is refused with NOT_ENOUGH_REPLICAS when a topic's
//! `min.insync.replicas` is above 1, as Kafka does when its ISR shrinks below it.

use crate::clock::now_ms;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: ProduceRequest,
) -> ProduceResponse {
    let request_error = if req.transactional_id.is_some() {
        Some(BrokerError::TransactionsUnsupported)
    } else if !matches!(req.acks, -1..=1) {
        Some(BrokerError::InvalidRequiredAcks(req.acks))
    } else {
        None
    };
    let mut response = ProduceResponse::default();
    for topic_data in req.topic_data {
        let name = topic_data.name.as_str();
        let topic = state.topics.get(name);
        // Checked once per topic: with acks=all, a topic whose min.insync.replicas exceeds the
        // in-sync replica set (this node alone) refuses the write.
        let topic_error = match &topic {
            None => Some(BrokerError::UnknownTopicOrPartition),
            Some(t) if req.acks == -1 => {
                let required = t
                    .overrides
                    .get("min.insync.replicas")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(state.config.min_insync_replicas);
                (required > 1).then_some(BrokerError::NotEnoughReplicas {
                    in_sync: 1,
                    required,
                })
            }
            Some(_) => None,
        };
        let mut topic_response = TopicProduceResponse::default();
        topic_response.name = topic_data.name.clone();
        for p in topic_data.partition_data {
            let mut pr = PartitionProduceResponse::default();
            pr.index = p.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let refused = request_error.as_ref().or(topic_error.as_ref());
            let result = match refused {
                Some(e) => Err((e.wire_code(), e.to_string())),
                None => state
                    .topics
                    .partition(name, p.index)
                    .and_then(|partition| {
                        partition
                            .append(p.records.as_deref().unwrap_or_default(), now_ms())
                            .inspect(|_| partition.notify_appended())
                    })
                    .map_err(|e| (e.wire_code(), e.to_string())),
            };
            match result {
                Ok(a) => {
                    pr.base_offset = a.base_offset;
                    pr.log_append_time_ms = a.log_append_time_ms;
                    pr.log_start_offset = a.log_start_offset;
                }
                Err((code, message)) => {
                    tracing::debug!(topic = name, partition = p.index, error = %message, "produce refused");
                    pr.error_code = code;
                    pr.error_message = Some(super::str_bytes(message));
                }
            }
            topic_response.partition_responses.push(pr);
        }
        response.responses.push(topic_response);
    }
    response
}
