//! InitProducerId: a producer id and epoch for an idempotent producer. A producer that already
//! has an id may ask for its epoch to be bumped (KIP-360) to reset its sequence numbers after a
//! timeout. Transactional ids are refused: transactions are not implemented.

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
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    if pid >= 0 && (0..i16::MAX - 1).contains(&epoch) {
        response.producer_id = ProducerId(pid);
        response.producer_epoch = epoch + 1;
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
