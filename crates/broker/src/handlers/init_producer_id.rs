//! InitProducerId: a producer id and epoch for an idempotent producer. Without a transactional
//! id every request gets a fresh producer id at epoch 0, whatever id and epoch it names, as in
//! Kafka: a client naming another client's id must not be able to bump its epoch and so fence
//! it. (A producer that wants to reset its sequence numbers gets a new id, which does the same
//! for it.) Transactional ids are refused: transactions are not implemented.

use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut response = InitProducerIdResponse::default();
    response.producer_id = ProducerId(-1);
    response.producer_epoch = -1;
    if req.transactional_id.is_some() {
        response.error_code = BrokerError::TransactionsUnsupported.wire_code();
        return response;
    }
    let state = state.clone();
    match tokio::task::spawn_blocking(move || state.allocate_producer_id()).await {
        Ok(Ok(id)) => {
            response.producer_id = ProducerId(id);
            response.producer_epoch = 0;
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not allocate a producer id");
            response.error_code =
                kafka_protocol::error::ResponseError::CoordinatorNotAvailable.code();
        }
        Err(_) => {
            response.error_code = kafka_protocol::error::ResponseError::UnknownServerError.code()
        }
    }
    response
}
