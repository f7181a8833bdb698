//! One client connection: read a frame, handle it, write the response, in order.
//!
//! Like Kafka, a connection has one request in processing at a time, which keeps responses in
//! request order (clients pipeline up to `max.in.flight.requests.per.connection` requests; they
//! wait in the socket buffer). Anything that does not decode closes this connection only.

use crate::handlers;
use crate::state::BrokerState;
use runnel_protocol::{read_frame_body, read_frame_size, Chunk};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::watch;

tokio::task_local! {
    /// The peer of the connection whose request is being handled (JoinGroup's client host).
    pub static PEER: SocketAddr;
}

const READ_BUFFER_BYTES: usize = 64 * 1024;
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<BrokerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (rd, wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(READ_BUFFER_BYTES, rd);
    let mut wr = BufWriter::with_capacity(WRITE_BUFFER_BYTES, wr);
    let max_bytes = state.config.socket_request_max_bytes;
    loop {
        let size = tokio::select! {
            size = read_frame_size(&mut rd, max_bytes) => size,
            _ = shutdown.changed() => break,
        };
        let size = match size {
            Ok(Some(size)) => size,
            Ok(None) => break,
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing connection");
                break;
            }
        };
        // queued.max.requests: when every slot is taken, stop reading until one frees up.
        let Ok(_slot) = state.request_slots.clone().acquire_owned().await else {
            break;
        };
        let frame = match read_frame_body(&mut rd, size).await {
            Ok(frame) => frame.freeze(),
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing connection");
                break;
            }
        };
        match PEER.scope(peer, handlers::handle(&state, frame)).await {
            Ok(Some(response)) => {
                if let Err(e) = write_response(&mut wr, &response).await {
                    tracing::debug!(%peer, error = %e, "write failed; closing connection");
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(%peer, error = %e, "bad request; closing connection");
                break;
            }
        }
    }
    let _ = wr.shutdown().await;
}

/// Writes a response's chunks: encoded bytes gather in the buffer (large ones go to the socket
/// directly), file ranges (Fetch records) go with `sendfile` after what precedes them is
/// flushed. Public for tests that write a response built earlier.
pub async fn write_response(
    wr: &mut BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    chunks: &[Chunk],
) -> std::io::Result<()> {
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(b) => wr.write_all(b).await?,
            Chunk::File(f) => {
                wr.flush().await?;
                crate::send_file::send_file(wr.get_mut(), f).await?;
            }
        }
    }
    wr.flush().await
}
