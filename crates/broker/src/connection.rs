//! One client connection: read a frame, handle it, write the response, in order.
//!
//! As in Kafka's network layer:
//! - A connection has one request in processing at a time, which keeps responses in request
//!   order (clients pipeline up to `max.in.flight.requests.per.connection` requests; they wait
//!   in the socket buffer).
//! - After the 4-byte size, the frame's declared size is reserved from
//!   `queued.max.request.bytes` (when set) before any of the body is read; the body buffer grows
//!   only as bytes arrive (`runnel_protocol::read_frame_body`).
//! - A `queued.max.requests` slot is taken only once the whole request has been read, so slow
//!   senders hold none. It is given back when the handler returns, before the response is
//!   written (a client that reads slowly holds none either), or earlier when the handler
//!   [`park`]s to wait for something.
//! - `connections.max.idle.ms`: a connection with no request in progress that has read
//!   nothing for that long is closed.
//!
//! Anything that does not decode closes this connection only.

use crate::handlers;
use crate::network::{Counted, FrameBytes, Network};
use crate::state::BrokerState;
use bytes::Bytes;
use runnel_protocol::{read_frame_body, read_frame_size, Chunk, FrameError};
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader, BufWriter, ReadBuf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;

/// Per-connection buffers. Small on purpose: every open connection holds both, idle or not
/// (once the allocator recycles memory they are resident), and larger reads and writes bypass
/// them anyway (a frame body beyond what is buffered is read straight into its own buffer, a
/// write larger than the buffer goes straight to the socket). At 64 KiB each, 1,600 connections
/// opened and closed a few times left the broker with about 190 MB resident.
const READ_BUFFER_BYTES: usize = 16 * 1024;
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

tokio::task_local! {
    /// The request being handled on this task: its peer and what it holds.
    static REQUEST: RequestScope;
}

struct RequestScope {
    peer: SocketAddr,
    /// The `queued.max.requests` slot, until the handler returns or parks.
    slot: RefCell<Option<OwnedSemaphorePermit>>,
    /// Counts this request as parked once it has given its slot back.
    parked: RefCell<Option<Counted>>,
    network: Arc<Network>,
    /// Held to the end, parked or not: the decoded request still points into the frame.
    _frame: FrameBytes,
}

/// The peer of the connection whose request is being handled (JoinGroup's client host).
pub fn peer() -> Option<SocketAddr> {
    REQUEST.try_with(|r| r.peer).ok()
}

/// Gives the current request's `queued.max.requests` slot back because it is about to wait for
/// something other requests must make happen: a long-poll Fetch waiting for appends, a
/// JoinGroup or SyncGroup waiting for the rebalance (and, later, an acks=all Produce waiting
/// for followers). Kafka parks such requests in purgatories that hold no slot; without this,
/// `queued.max.requests` waiting requests would stop the broker reading the requests that
/// complete them. Idempotent; does nothing outside a request.
pub fn park() {
    let _ = REQUEST.try_with(|r| {
        if r.slot.borrow_mut().take().is_some() {
            *r.parked.borrow_mut() = Some(r.network.parked());
        }
    });
}

/// Awaits `wait`, parking (see [`park`]) if it does not complete when first polled. For the
/// group coordinator's join and sync, which do their work under the group lock on the first
/// poll and then only await the member's oneshot until the phase completes.
pub async fn park_while_pending<F: Future>(wait: F) -> F::Output {
    let mut wait = std::pin::pin!(wait);
    std::future::poll_fn(|cx| {
        let polled = wait.as_mut().poll(cx);
        if polled.is_pending() {
            park();
        }
        polled
    })
    .await
}

pub async fn serve(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<BrokerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (rd, wr) = stream.into_split();
    let activity = Activity::new();
    let rd = ActivityReader {
        inner: rd,
        activity: activity.clone(),
        network: state.network.clone(),
    };
    let mut conn = Reader {
        rd: BufReader::with_capacity(READ_BUFFER_BYTES, rd),
        activity,
        idle: state
            .config
            .network
            .connections_max_idle_ms
            .map(Duration::from_millis),
        max_bytes: state.config.socket_request_max_bytes,
        network: state.network.clone(),
    };
    let mut wr = BufWriter::with_capacity(WRITE_BUFFER_BYTES, wr);
    loop {
        let (frame, slot, frame_bytes) = match conn.next_request(&mut shutdown).await {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(Closed::Idle(idle)) => {
                tracing::debug!(%peer, ?idle, "connections.max.idle.ms passed; closing connection");
                break;
            }
            Err(Closed::Frame(e)) => {
                tracing::info!(%peer, error = %e, "closing connection");
                break;
            }
        };
        let scope = RequestScope {
            peer,
            slot: RefCell::new(Some(slot)),
            parked: RefCell::new(None),
            network: state.network.clone(),
            _frame: frame_bytes,
        };
        // The scope, and with it the slot, ends with this statement: before the response is
        // written.
        let handled = REQUEST.scope(scope, handlers::handle(&state, frame)).await;
        match handled {
            Ok(Some(response)) => {
                if let Err(e) = write_response(&mut wr, &response).await {
                    tracing::debug!(%peer, error = %e, "write failed; closing connection");
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing connection");
                break;
            }
        }
        conn.activity.touch();
    }
    let _ = wr.shutdown().await;
}

enum Closed {
    Idle(Duration),
    Frame(FrameError),
}

/// The read side of a connection.
struct Reader {
    rd: BufReader<ActivityReader>,
    activity: Activity,
    idle: Option<Duration>,
    max_bytes: usize,
    network: Arc<Network>,
}

impl Reader {
    /// Reads the next whole request and takes its slot. `Ok(None)`: the peer closed between
    /// requests, or the broker is shutting down.
    async fn next_request(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<(Bytes, OwnedSemaphorePermit, FrameBytes)>, Closed> {
        let size = tokio::select! {
            _ = shutdown.changed() => return Ok(None),
            _ = idle_expired(&self.activity, self.idle) => return Err(Closed::Idle(self.idle.unwrap_or_default())),
            size = read_frame_size(&mut self.rd, self.max_bytes) => match size.map_err(Closed::Frame)? {
                Some(size) => size,
                None => return Ok(None),
            },
        };
        let reading = self.network.reading_frame();
        // Waiting for memory is the broker's doing, not the client's: no idle clock here.
        let frame_bytes = tokio::select! {
            _ = shutdown.changed() => return Ok(None),
            reserved = self.network.reserve_frame(size) => reserved,
        };
        let mut body = BodyReader::new(&mut self.rd, &self.network);
        let frame = tokio::select! {
            _ = shutdown.changed() => return Ok(None),
            _ = idle_expired(&self.activity, self.idle) => return Err(Closed::Idle(self.idle.unwrap_or_default())),
            frame = read_frame_body(&mut body, size) => frame.map_err(Closed::Frame)?.freeze(),
        };
        drop(body);
        drop(reading);
        let slot = tokio::select! {
            _ = shutdown.changed() => return Ok(None),
            slot = self.network.request_slot() => slot,
        };
        Ok(Some((frame, slot, frame_bytes)))
    }
}

/// When the connection last read bytes or finished a request.
#[derive(Clone)]
struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Resolves once nothing has been read for `idle` (never when `None`).
async fn idle_expired(activity: &Activity, idle: Option<Duration>) {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    loop {
        let deadline = activity.last() + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// The socket's read half, noting every read that returns bytes.
struct ActivityReader {
    inner: OwnedReadHalf,
    activity: Activity,
    network: Arc<Network>,
}

impl AsyncRead for ActivityReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if matches!(polled, Poll::Ready(Ok(()))) && read > 0 {
            self.activity.touch();
            self.network.record_read(read);
        }
        polled
    }
}

/// Reads a frame body, counting what it holds so far in the `partial_frame_bytes` gauge.
struct BodyReader<'a> {
    inner: &'a mut BufReader<ActivityReader>,
    network: &'a Network,
    read_bytes: usize,
}

impl<'a> BodyReader<'a> {
    fn new(inner: &'a mut BufReader<ActivityReader>, network: &'a Network) -> BodyReader<'a> {
        BodyReader {
            inner,
            network,
            read_bytes: 0,
        }
    }
}

impl AsyncRead for BodyReader<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.read_bytes += read;
        self.network.partial_frame_grew(read);
        polled
    }
}

impl Drop for BodyReader<'_> {
    fn drop(&mut self) {
        self.network.partial_frame_done(self.read_bytes);
    }
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
