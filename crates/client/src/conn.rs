//! One TCP connection to one broker: size-prefixed frames, correlation ids, pipelined
//! requests (responses are matched by correlation id), and ApiVersions negotiation.

use crate::error::{ClientError, Result};
use crate::produce_frame;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, ProduceResponse,
    RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// What a response's size prefix may reserve before its bytes arrive (more than
/// `fetch.max.bytes`' default of 50 MiB, so a normal fetch is read without regrowing); a
/// larger prefix grows the buffer only as its bytes come in.
const RESPONSE_RESERVE_BYTES: u64 = 64 << 20;

/// Reads a response body of `size_bytes` (from the wire, so not trusted): at most
/// `RESPONSE_RESERVE_BYTES` are reserved up front, then the buffer doubles only as bytes
/// arrive. Nothing is zeroed and nothing is reallocated once the body is complete.
async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    read: &mut R,
    size_bytes: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size_bytes.min(RESPONSE_RESERVE_BYTES as usize));
    while buf.len() < size_bytes {
        if buf.len() == buf.capacity() {
            buf.reserve((size_bytes - buf.len()).min(buf.len().max(4096)));
        }
        let room = (buf.capacity() - buf.len()).min(size_bytes - buf.len());
        if read.read_buf(&mut (&mut buf).limit(room)).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf)
}

/// The newest version of each API this client speaks. The version used is
/// `min(ours, broker's max)`, refused when below the broker's min.
pub const CLIENT_MAX_VERSIONS: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 11),
    (ApiKey::Fetch, 12),
    (ApiKey::ListOffsets, 7),
    (ApiKey::Metadata, 12),
    (ApiKey::ApiVersions, 3),
    (ApiKey::CreateTopics, 7),
    (ApiKey::DeleteTopics, 5),
    (ApiKey::InitProducerId, 4),
    (ApiKey::DescribeConfigs, 4),
    (ApiKey::AlterConfigs, 2),
    (ApiKey::IncrementalAlterConfigs, 1),
    (ApiKey::CreatePartitions, 3),
    (ApiKey::DeleteRecords, 2),
    (ApiKey::DescribeCluster, 1),
    (ApiKey::FindCoordinator, 3),
    (ApiKey::JoinGroup, 7),
    (ApiKey::SyncGroup, 5),
    (ApiKey::Heartbeat, 4),
    (ApiKey::LeaveGroup, 4),
    (ApiKey::DescribeGroups, 5),
    (ApiKey::ListGroups, 4),
    (ApiKey::DeleteGroups, 2),
    (ApiKey::OffsetCommit, 8),
    (ApiKey::OffsetFetch, 7),
];

/// Requests sent, per API key, by every connection of one client (tests read these).
#[derive(Default, Debug)]
pub struct Metrics {
    sent: Mutex<HashMap<i16, u64>>,
}

impl Metrics {
    /// How many requests of `api` were written.
    pub fn requests(&self, api: ApiKey) -> u64 {
        self.sent.lock().get(&(api as i16)).copied().unwrap_or(0)
    }
    fn count(&self, api: i16) {
        *self.sent.lock().entry(api).or_default() += 1;
    }
}

/// A request frame in pieces, written with vectored writes (`write_all_buf` hands the
/// socket up to 64 chunks per call).
struct Chunks(VecDeque<Bytes>);

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    fn chunk(&self) -> &[u8] {
        self.0.front().map_or(&[], |c| &c[..])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, c) in dst.iter_mut().zip(self.0.iter().filter(|c| !c.is_empty())) {
            *slot = std::io::IoSlice::new(c);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let Some(front) = self.0.front_mut() else {
                panic!("advanced {cnt} bytes past the end of a frame");
            };
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.0.pop_front();
        }
        while self.0.front().is_some_and(Bytes::is_empty) {
            self.0.pop_front();
        }
    }
}

type Pending = Arc<Mutex<HashMap<i32, oneshot::Sender<Result<Bytes>>>>>;

pub struct Connection {
    pub addr: String,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicI32,
    closed: Arc<AtomicBool>,
    versions: HashMap<i16, (i16, i16)>,
    client_id: StrBytes,
    request_timeout: Duration,
    metrics: Arc<Metrics>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Connection {
    /// Connects and negotiates API versions.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        request_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Connection> {
        let connect_err = |reason: String| ClientError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let stream = tokio::time::timeout(request_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| connect_err("timed out".into()))?
            .map_err(|e| connect_err(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut read, write) = stream.into_split();
        let pending: Pending = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let reader = {
            let (pending, closed, addr) = (pending.clone(), closed.clone(), addr.to_string());
            tokio::spawn(async move {
                loop {
                    let mut size = [0u8; 4];
                    if read.read_exact(&mut size).await.is_err() {
                        break;
                    }
                    let n = i32::from_be_bytes(size);
                    if n < 4 {
                        break;
                    }
                    let Ok(buf) = read_response(&mut read, n as usize).await else {
                        break;
                    };
                    let id = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    if let Some(tx) = pending.lock().remove(&id) {
                        let _ = tx.send(Ok(Bytes::from(buf)));
                    }
                }
                closed.store(true, Ordering::SeqCst);
                for (_, tx) in pending.lock().drain() {
                    let _ = tx.send(Err(ClientError::Disconnected { addr: addr.clone() }));
                }
            })
        };
        let mut conn = Connection {
            addr: addr.to_string(),
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_id: AtomicI32::new(1),
            closed,
            versions: HashMap::new(),
            client_id: StrBytes::from_string(client_id.to_string()),
            request_timeout,
            metrics,
            reader,
        };
        let mut req = ApiVersionsRequest::default();
        req.client_software_name = StrBytes::from_static_str("runnel-client");
        req.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
        let resp: ApiVersionsResponse = conn.send_version(&req, 3).await?;
        ClientError::check(resp.error_code, None)?;
        conn.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(conn)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Closes the connection; outstanding requests fail with `Disconnected`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.reader.abort();
        for (_, tx) in self.pending.lock().drain() {
            let _ = tx.send(Err(ClientError::Disconnected {
                addr: self.addr.clone(),
            }));
        }
    }

    /// The version of `api` both sides support: min(ours, broker's max).
    pub fn version(&self, api: ApiKey) -> Result<i16> {
        let ours = CLIENT_MAX_VERSIONS
            .iter()
            .find(|(k, _)| *k == api)
            .map(|(_, v)| *v);
        let theirs = self.versions.get(&(api as i16)).copied();
        match (ours, theirs) {
            (Some(ours), Some((lo, hi))) if ours.min(hi) >= lo => Ok(ours.min(hi)),
            _ => Err(ClientError::UnsupportedApi {
                api: format!("{api:?}"),
            }),
        }
    }

    fn frame<R: Request>(&self, req: &R, version: i16) -> Result<(i32, Bytes)> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol("api key".into()))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = id;
        header.client_id = Some(self.client_id.clone());
        // Sized up front: a Produce request carries megabytes of batches, and growing the
        // buffer by doubling would copy them several times over.
        let body_size = req.compute_size(version).unwrap_or(0);
        let mut body = BytesMut::with_capacity(64 + body_size);
        body.put_i32(0);
        header
            .encode(&mut body, api.request_header_version(version))
            .map_err(|e| ClientError::Protocol(format!("encode header: {e}")))?;
        req.encode(&mut body, version)
            .map_err(|e| ClientError::Protocol(format!("encode {api:?} v{version}: {e}")))?;
        let len = (body.len() - 4) as i32;
        body[0..4].copy_from_slice(&len.to_be_bytes());
        Ok((id, body.freeze()))
    }

    async fn write(&self, frame: Vec<Bytes>, api: i16) -> Result<()> {
        if self.is_closed() {
            return Err(ClientError::Disconnected {
                addr: self.addr.clone(),
            });
        }
        let mut w = self.writer.lock().await;
        self.metrics.count(api);
        let mut chunks = Chunks(frame.into());
        if w.write_all_buf(&mut chunks).await.is_err() {
            drop(w);
            self.close();
            return Err(ClientError::Disconnected {
                addr: self.addr.clone(),
            });
        }
        Ok(())
    }

    /// Sends `req` at the negotiated version and waits for its response.
    pub async fn send<R: Request>(&self, req: &R) -> Result<R::Response> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol("api key".into()))?;
        let v = self.version(api)?;
        self.send_version(req, v).await
    }

    /// Sends `req` at `version` and waits up to `request.timeout.ms` for its response. On a
    /// timeout the connection is closed, as the Java client does.
    pub async fn send_version<R: Request>(&self, req: &R, version: i16) -> Result<R::Response> {
        self.send_version_timeout(req, version, self.request_timeout)
            .await
    }

    /// Like [`Connection::send`] with its own timeout (JoinGroup waits for the rebalance).
    pub async fn send_timeout<R: Request>(
        &self,
        req: &R,
        timeout: Duration,
    ) -> Result<R::Response> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol("api key".into()))?;
        let v = self.version(api)?;
        self.send_version_timeout(req, v, timeout).await
    }

    async fn send_version_timeout<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        let (id, frame) = self.frame(req, version)?;
        let mut body = self.exchange(id, vec![frame], R::KEY, timeout).await?;
        let hv = R::Response::header_version(version);
        ResponseHeader::decode(&mut body, hv)
            .map_err(|e| ClientError::Protocol(format!("response header: {e}")))?;
        let resp = R::Response::decode(&mut body, version)
            .map_err(|e| ClientError::Protocol(format!("response body: {e}")))?;
        if body.has_remaining() {
            tracing::debug!(
                remaining = body.remaining(),
                "trailing bytes after a response"
            );
        }
        Ok(resp)
    }

    /// Writes a framed request and waits up to `timeout` for the response body with the
    /// same correlation id. On a timeout the connection is closed, as the Java client does.
    async fn exchange(
        &self,
        id: i32,
        frame: Vec<Bytes>,
        api: i16,
        timeout: Duration,
    ) -> Result<Bytes> {
        let rx = self.submit(id, frame, api).await?;
        self.response(id, api, rx, tokio::time::Instant::now() + timeout, timeout)
            .await
    }

    /// Writes a framed request; its response comes on the returned channel.
    async fn submit(
        &self,
        id: i32,
        frame: Vec<Bytes>,
        api: i16,
    ) -> Result<oneshot::Receiver<Result<Bytes>>> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        if let Err(e) = self.write(frame, api).await {
            self.pending.lock().remove(&id);
            return Err(e);
        }
        Ok(rx)
    }

    /// Waits for the response to request `id` until `deadline` (`timeout` after it was
    /// written). On a timeout the connection is closed, as the Java client does.
    async fn response(
        &self,
        id: i32,
        api: i16,
        rx: oneshot::Receiver<Result<Bytes>>,
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> Result<Bytes> {
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ClientError::Disconnected {
                addr: self.addr.clone(),
            }),
            Err(_) => {
                self.pending.lock().remove(&id);
                self.close();
                Err(ClientError::RequestTimeout {
                    api: format!("{:?}", ApiKey::try_from(api).ok()),
                    addr: self.addr.clone(),
                    timeout_ms: timeout.as_millis() as u64,
                })
            }
        }
    }

    /// A Produce request framed with its batches as separate chunks (no copy), at the
    /// negotiated version (an error outside what [`produce_frame`] writes).
    fn produce_frame(&self, req: &ProduceRequest) -> Result<(i32, i16, Vec<Bytes>)> {
        let version = self.version(ApiKey::Produce)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = produce_frame::frame(req, version, id, self.client_id.as_str())?;
        Ok((id, version, frame))
    }

    /// Sends a Produce request, its batches written straight from the producer's buffers.
    pub async fn send_produce(self: &Arc<Self>, req: &ProduceRequest) -> Result<ProduceResponse> {
        self.submit_produce(req).await?.response().await
    }

    /// Writes a Produce request now and returns what waits for its response. Requests
    /// submitted one after the other are on the wire in that order (the idempotent producer's
    /// sequence numbers depend on it); their responses may be awaited later, concurrently.
    pub async fn submit_produce(self: &Arc<Self>, req: &ProduceRequest) -> Result<InFlight> {
        let (id, version, frame) = self.produce_frame(req)?;
        let api = ApiKey::Produce as i16;
        let rx = self.submit(id, frame, api).await?;
        Ok(InFlight {
            conn: self.clone(),
            id,
            version,
            rx,
            deadline: tokio::time::Instant::now() + self.request_timeout,
        })
    }

    /// Sends a Produce request with acks=0: the broker does not answer.
    pub async fn send_produce_no_response(&self, req: &ProduceRequest) -> Result<()> {
        let (_, _, frame) = self.produce_frame(req)?;
        self.write(frame, ApiKey::Produce as i16).await
    }

    /// Sends a request the broker does not answer (Produce with acks=0).
    pub async fn send_no_response<R: Request>(&self, req: &R) -> Result<()> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol("api key".into()))?;
        let v = self.version(api)?;
        let (_, frame) = self.frame(req, v)?;
        self.write(vec![frame], R::KEY).await
    }
}

/// A Produce request on the wire, waiting for its response (see
/// [`Connection::submit_produce`]); `request.timeout.ms` runs from when it was written.
pub struct InFlight {
    conn: Arc<Connection>,
    id: i32,
    version: i16,
    rx: oneshot::Receiver<Result<Bytes>>,
    deadline: tokio::time::Instant,
}

impl InFlight {
    pub async fn response(self) -> Result<ProduceResponse> {
        let api = ApiKey::Produce as i16;
        let timeout = self.conn.request_timeout;
        let mut body = self
            .conn
            .response(self.id, api, self.rx, self.deadline, timeout)
            .await?;
        ResponseHeader::decode(&mut body, ProduceResponse::header_version(self.version))
            .map_err(|e| ClientError::Protocol(format!("response header: {e}")))?;
        ProduceResponse::decode(&mut body, self.version)
            .map_err(|e| ClientError::Protocol(format!("response body: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_response_body_is_read_whole_past_the_up_front_reservation() {
        let body: Vec<u8> = (0..(RESPONSE_RESERVE_BYTES as usize + 5_000))
            .map(|i| i as u8)
            .collect();
        let mut src = &body[..];
        let got = read_response(&mut src, body.len()).await.unwrap();
        assert!(got == body, "{} bytes back of {}", got.len(), body.len());
    }

    #[tokio::test]
    async fn a_size_prefix_larger_than_what_arrives_is_an_error_not_a_gigabyte() {
        let mut src = &[1u8, 2, 3][..];
        let e = read_response(&mut src, 1 << 30).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
