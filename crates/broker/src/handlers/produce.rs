//! Produce: validate each partition's record batch and append it, as bytes, to its log.
//!
//! The batch stays a slice of the request frame until the log writes it; records are walked
//! (not copied) to validate them as Kafka's LogValidator does. Validation and the write are disk
//! and CPU work, so the whole request runs in `block_in_place`: the runtime hands this worker's
//! other connections to another thread meanwhile (the blocking pool on a current-thread
//! runtime).
//! acks=0 appends and sends no response; acks=1 and acks=all answer once the batches are in the
//! log (written to the page cache; see docs/durability.md for what survives which failure).
//! With a single node the in-sync replica set is this broker alone, so acks=all is refused with
//! NOT_ENOUGH_REPLICAS when a topic's `min.insync.replicas` is above 1, as Kafka does when its
//! ISR shrinks below it. Internal topics (`__consumer_offsets`) take no appends from clients:
//! INVALID_TOPIC_EXCEPTION, as in Kafka; the group coordinator appends to them directly.

use crate::clock::now_ms;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use runnel_log::validate::ValidationError;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: ProduceRequest,
) -> ProduceResponse {
    // On the multi-threaded runtime (the broker's) the append runs right here, with this
    // worker's other tasks handed to another thread: a hop to the blocking pool and back costs
    // two thread wake-ups per request, which with one request in flight (librdkafka's
    // idempotent producer) was most of the round trip. Elsewhere (single-threaded test
    // runtimes) it goes to the blocking pool as before.
    if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread
    {
        return tokio::task::block_in_place(|| append_all(state, req));
    }
    let blocking_state = state.clone();
    match tokio::task::spawn_blocking(move || append_all(&blocking_state, req)).await {
        Ok(response) => response,
        // A panic in the append is a bug; let it end this connection as it would have.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Checks the request, then appends partition by partition. Runs on the blocking pool.
fn append_all(state: &BrokerState, req: ProduceRequest) -> ProduceResponse {
    let request_error = if req.transactional_id.is_some() {
        Some(BrokerError::TransactionsUnsupported)
    } else if !matches!(req.acks, -1..=1) {
        Some(BrokerError::InvalidRequiredAcks(req.acks))
    } else {
        None
    };
    let mut response = ProduceResponse::default();
    let now = now_ms();
    for topic_data in req.topic_data {
        let name = topic_data.name.as_str();
        let topic_error = request_error.as_ref().map(Refusal::from).or_else(|| {
            topic_refusal(state, name, req.acks)
                .as_ref()
                .map(Refusal::from)
        });
        let mut topic_response = TopicProduceResponse::default();
        topic_response.name = topic_data.name.clone();
        for p in last_entry_per_partition(topic_data.partition_data) {
            let mut pr = PartitionProduceResponse::default();
            pr.index = p.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let result = match &topic_error {
                Some(refusal) => Err(refusal.clone()),
                None => state
                    .topics
                    .partition(name, p.index)
                    .and_then(|partition| {
                        partition
                            .append(p.records.as_deref().unwrap_or_default(), now)
                            .inspect(|_| partition.notify_appended())
                    })
                    .map_err(|e| Refusal::from(&e)),
            };
            match result {
                Ok(a) => {
                    pr.base_offset = a.base_offset;
                    pr.log_append_time_ms = a.log_append_time_ms;
                    pr.log_start_offset = a.log_start_offset;
                }
                Err(refusal) => {
                    tracing::debug!(topic = name, partition = p.index, error = %refusal.message, "produce refused");
                    pr.error_code = refusal.code;
                    pr.error_message = refusal.client_message.map(super::str_bytes);
                    pr.record_errors = refusal.record_errors;
                }
            }
            topic_response.partition_responses.push(pr);
        }
        response.responses.push(topic_response);
    }
    response
}

/// A partition named twice in one topic's data is produced once, with its last entry: Kafka
/// reads the request into a map keyed by partition, so earlier entries are dropped unanswered.
fn last_entry_per_partition(mut data: Vec<PartitionProduceData>) -> Vec<PartitionProduceData> {
    let mut seen = std::collections::HashSet::new();
    data.reverse();
    data.retain(|p| seen.insert(p.index));
    data.reverse();
    data
}

/// Why every partition of `name` refuses this produce, if it does: an unknown or internal
/// topic, or acks=all with `min.insync.replicas` above the in-sync replicas (this node alone).
fn topic_refusal(state: &BrokerState, name: &str, acks: i16) -> Option<BrokerError> {
    let Some(topic) = state.topics.get(name) else {
        return Some(BrokerError::UnknownTopicOrPartition);
    };
    if topic.internal {
        return Some(BrokerError::InvalidTopicAppend(format!(
            "Cannot append to internal topic {name}"
        )));
    }
    if acks == -1 {
        let required = topic
            .overrides
            .get("min.insync.replicas")
            .and_then(|v| v.parse().ok())
            .unwrap_or(state.config.min_insync_replicas);
        if required > 1 {
            return Some(BrokerError::NotEnoughReplicas {
                in_sync: 1,
                required,
            });
        }
    }
    None
}

/// How one partition's produce was refused, as the response carries it.
#[derive(Clone)]
struct Refusal {
    code: i16,
    /// For the broker's log.
    message: String,
    /// Kafka puts a message in the response only for record-level validation failures.
    client_message: Option<String>,
    /// KIP-467: the records at fault, for clients to fail only those (Produce v8+).
    record_errors: Vec<BatchIndexAndErrorMessage>,
}

impl From<&BrokerError> for Refusal {
    fn from(e: &BrokerError) -> Refusal {
        let (client_message, record_errors) = match e {
            BrokerError::Validation(v) if v.has_client_message() => {
                (Some(v.to_string()), record_errors(v))
            }
            _ => (None, Vec::new()),
        };
        Refusal {
            code: e.wire_code(),
            message: e.to_string(),
            client_message,
            record_errors,
        }
    }
}

fn record_errors(v: &ValidationError) -> Vec<BatchIndexAndErrorMessage> {
    v.record_errors()
        .iter()
        .map(|f| {
            let mut r = BatchIndexAndErrorMessage::default();
            r.batch_index = f.batch_index;
            r.batch_index_error_message = Some(super::str_bytes(f.message.clone()));
            r
        })
        .collect()
}
