//! Puts each broker's Produce requests on the wire in the order the sender made them.
//!
//! The sender numbers an idempotent partition's batches as it drains them; the broker accepts
//! a batch only if it carries the next sequence, so requests must be written in that order.
//! A task per request would race for the connection and write them in any order (each loser
//! refused with OUT_OF_ORDER_SEQUENCE_NUMBER and retried after a backoff). Here one writer task
//! per broker writes them one after the other, and one collector task per broker awaits their
//! responses in the same order, which is the order the broker answers in: completions reach
//! the sender in send order too.

use super::accumulator::ProducerBatch;
use crate::cluster::Cluster;
use crate::conn::InFlight;
use crate::error::Result;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the sender gets back for each request: the node, its batches and the outcome.
pub(super) type Done = (i32, Vec<ProducerBatch>, Result<ProduceResponse>);

/// The writer of one broker's Produce requests.
pub(super) struct Dispatcher {
    tx: mpsc::UnboundedSender<(ProduceRequest, Vec<ProducerBatch>)>,
}

impl Dispatcher {
    /// Starts the writer and collector tasks of `node`. `expect_response` is false for acks=0,
    /// where the broker does not answer and a written request is done.
    pub(super) fn start(
        node: i32,
        cluster: Arc<Cluster>,
        expect_response: bool,
        done: mpsc::UnboundedSender<Done>,
    ) -> Dispatcher {
        let (tx, rx) = mpsc::unbounded_channel();
        let (in_flight_tx, in_flight_rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(
            node,
            cluster,
            expect_response,
            rx,
            in_flight_tx,
            done.clone(),
        ));
        tokio::spawn(collect_loop(node, in_flight_rx, done));
        Dispatcher { tx }
    }

    /// Queues a request behind those sent before it. Its outcome comes back on `done`.
    pub(super) fn send(&self, req: ProduceRequest, batches: Vec<ProducerBatch>) {
        // The tasks end only when this handle is dropped, so the channel is open.
        let _ = self.tx.send((req, batches));
    }
}

type Waiting = (Vec<ProducerBatch>, Result<InFlight>);

async fn write_loop(
    node: i32,
    cluster: Arc<Cluster>,
    expect_response: bool,
    mut requests: mpsc::UnboundedReceiver<(ProduceRequest, Vec<ProducerBatch>)>,
    in_flight: mpsc::UnboundedSender<Waiting>,
    done: mpsc::UnboundedSender<Done>,
) {
    while let Some((req, batches)) = requests.recv().await {
        let conn = match cluster.node(node).await {
            Ok(conn) => conn,
            Err(e) => {
                // Behind earlier requests still waiting for responses, so that completions stay
                // in send order.
                let _ = in_flight.send((batches, Err(e)));
                continue;
            }
        };
        if expect_response {
            let written = conn.submit_produce(&req).await;
            let _ = in_flight.send((batches, written));
        } else {
            let result = conn
                .send_produce_no_response(&req)
                .await
                .map(|()| ProduceResponse::default());
            let _ = done.send((node, batches, result));
        }
    }
}

async fn collect_loop(
    node: i32,
    mut in_flight: mpsc::UnboundedReceiver<Waiting>,
    done: mpsc::UnboundedSender<Done>,
) {
    while let Some((batches, written)) = in_flight.recv().await {
        let result = match written {
            Ok(request) => request.response().await,
            Err(e) => Err(e),
        };
        let _ = done.send((node, batches, result));
    }
}
