//! Shared test harness: a broker on an ephemeral port with its own temporary log dir, and a
//! raw Kafka-protocol client speaking typed requests at a chosen version.
#![allow(dead_code)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel_broker::{BrokerConfig, BrokerHandle};
use std::net::SocketAddr;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for any single response before failing.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

pub struct TestBroker {
    pub addr: SocketAddr,
    pub handle: BrokerHandle,
    /// Kept alive for the broker's lifetime: dropping it removes the log dir.
    pub dir: TempDir,
}

impl TestBroker {
    /// Starts a broker on `127.0.0.1:0` with a fresh log dir and these extra settings.
    pub async fn start(settings: &[(&str, &str)]) -> TestBroker {
        TestBroker::start_in(tempfile::tempdir().expect("tempdir"), settings).await
    }

    /// Stops the broker, then starts a new one on the same log dir (a clean restart).
    pub async fn restart(self, settings: &[(&str, &str)]) -> TestBroker {
        let dir = self.dir;
        self.handle.shutdown().await;
        TestBroker::start_in(dir, settings).await
    }

    /// Stops the broker, runs `f` on its log dir (to plant bytes an older broker could have
    /// written), then starts a new one there.
    pub async fn restart_after(
        self,
        settings: &[(&str, &str)],
        f: impl FnOnce(&std::path::Path),
    ) -> TestBroker {
        let dir = self.dir;
        self.handle.shutdown().await;
        f(dir.path());
        TestBroker::start_in(dir, settings).await
    }

    async fn start_in(dir: TempDir, settings: &[(&str, &str)]) -> TestBroker {
        let log_dirs = dir.path().to_str().unwrap().to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
            ("log.dirs", log_dirs.as_str()),
        ];
        pairs.extend_from_slice(settings);
        let config = BrokerConfig::with(&pairs).expect("broker config");
        let handle = runnel_broker::start(config).await.expect("broker start");
        TestBroker {
            addr: handle.local_addr,
            handle,
            dir,
        }
    }

    pub async fn client(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }

    pub fn network(&self) -> runnel_broker::network::NetworkStats {
        self.handle.state().network.stats()
    }

    /// Waits until the broker's network gauges satisfy `pred` (failing after [`IO_TIMEOUT`]),
    /// and returns them.
    pub async fn wait_for_network(
        &self,
        what: &str,
        pred: impl Fn(&runnel_broker::network::NetworkStats) -> bool,
    ) -> runnel_broker::network::NetworkStats {
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        loop {
            let stats = self.network();
            if pred(&stats) {
                return stats;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; network gauges: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

pub struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        RawClient::from_stream(stream)
    }

    /// Connects from a chosen local address (e.g. 127.0.0.2, to test per-address limits).
    pub async fn connect_from(addr: SocketAddr, local_ip: std::net::IpAddr) -> RawClient {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(local_ip, 0))
            .expect("bind local address");
        RawClient::from_stream(socket.connect(addr).await.expect("connect"))
    }

    pub fn from_stream(stream: TcpStream) -> RawClient {
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            correlation_id: 0,
        }
    }

    /// Encodes a request frame: size, header (at the API's header version), body.
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> (i32, Bytes) {
        self.correlation_id += 1;
        let api = ApiKey::try_from(R::KEY).expect("api key");
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = self.correlation_id;
        header.client_id = Some(StrBytes::from_static_str("runnel-test"));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api.request_header_version(version))
            .expect("encode header");
        req.encode(&mut body, version).expect("encode body");
        let mut framed = BytesMut::with_capacity(body.len() + 4);
        framed.put_i32(body.len() as i32);
        framed.extend_from_slice(&body);
        (self.correlation_id, framed.freeze())
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one response frame; `None` when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let fut = async {
            let mut size = [0u8; 4];
            self.stream.read_exact(&mut size).await.ok()?;
            let mut buf = vec![0u8; i32::from_be_bytes(size) as usize];
            self.stream.read_exact(&mut buf).await.ok()?;
            Some(Bytes::from(buf))
        };
        tokio::time::timeout(IO_TIMEOUT, fut)
            .await
            .expect("timed out waiting for a response")
    }

    /// Sends a typed request at `version` and decodes the typed response.
    pub async fn send<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.try_send(req, version)
            .await
            .expect("the broker closed the connection")
    }

    /// Like [`RawClient::send`], `None` when the connection was closed instead of answered.
    pub async fn try_send<R: Request>(&mut self, req: &R, version: i16) -> Option<R::Response> {
        let (correlation_id, frame) = self.frame(req, version);
        // A connection the broker closed at once may refuse the write already.
        self.stream.write_all(&frame).await.ok()?;
        let mut resp = self.read_frame().await?;
        Some(decode_response::<R::Response>(
            &mut resp,
            correlation_id,
            version,
        ))
    }
}

/// Decodes a response frame (without its size) at `version`, checking the correlation id.
pub fn decode_response<T: Decodable + HeaderVersion>(
    resp: &mut Bytes,
    correlation_id: i32,
    version: i16,
) -> T {
    let header =
        ResponseHeader::decode(resp, T::header_version(version)).expect("decode response header");
    assert_eq!(header.correlation_id, correlation_id, "correlation id");
    let body = T::decode(resp, version).expect("decode response body");
    assert_eq!(resp.remaining(), 0, "trailing bytes after the response");
    body
}

/// One record for [`batch`].
#[derive(Clone, Default)]
pub struct Rec {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
}

impl Rec {
    pub fn kv(key: &str, value: &str) -> Rec {
        Rec {
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.as_bytes().to_vec()),
            headers: Vec::new(),
            timestamp: now_ms(),
        }
    }
}

/// Wall-clock milliseconds. Record timestamps must be recent: older ones are deleted by time
/// retention (7 days by default) as soon as the background task runs.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Idempotent-producer fields of a batch.
#[derive(Clone, Copy)]
pub struct Producer {
    pub id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
}

/// Encodes records as one v2 record batch (uncompressed, CreateTime).
///
/// Asserts that the encoder produced exactly one batch.
pub fn batch(records: &[Rec], producer: Option<Producer>) -> Bytes {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: producer.map_or(-1, |p| p.id),
            producer_epoch: producer.map_or(-1, |p| p.epoch),
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch whenever `offset - sequence` changes, so without a
            // producer the sequence runs from -1 (the batch's base sequence stays -1).
            sequence: producer.map_or(i as i32 - 1, |p| p.base_sequence + i as i32),
            timestamp: r.timestamp,
            key: r.key.clone().map(Bytes::from),
            value: r.value.clone().map(Bytes::from),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone().map(Bytes::from)))
                .collect(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode record batch");
    let buf = buf.freeze();
    let batches = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf.clone())
        .expect("decode the encoded batch");
    assert_eq!(batches.len(), 1, "records were split over several batches");
    buf
}

/// A batch of `n` records `k{i}`/`v{i}`.
pub fn simple_batch(n: usize) -> Bytes {
    let recs: Vec<Rec> = (0..n)
        .map(|i| Rec::kv(&format!("k{i}"), &format!("v{i}")))
        .collect();
    batch(&recs, None)
}

/// A Fetch request for one partition from `offset`, up to 1 MiB.
pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> kafka_protocol::messages::FetchRequest {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest};
    let mut p = FetchPartition::default();
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    p.current_leader_epoch = -1;
    let mut t = FetchTopic::default();
    t.topic = topic_name(topic);
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = min_bytes;
    req.max_bytes = 1 << 20;
    req.topics = vec![t];
    req
}

pub fn topic_name(s: &str) -> kafka_protocol::messages::TopicName {
    kafka_protocol::messages::TopicName(StrBytes::from_string(s.to_string()))
}

pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl RawClient {
    /// Creates a topic (CreateTopics v7) and asserts success.
    pub async fn create_topic(&mut self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        use kafka_protocol::messages::create_topics_request::{
            CreatableTopic, CreatableTopicConfig,
        };
        use kafka_protocol::messages::CreateTopicsRequest;
        let mut t = CreatableTopic::default();
        t.name = topic_name(name);
        t.num_partitions = partitions;
        t.replication_factor = 1;
        t.configs = configs
            .iter()
            .map(|(k, v)| {
                let mut c = CreatableTopicConfig::default();
                c.name = sb(k);
                c.value = Some(sb(v));
                c
            })
            .collect();
        let mut req = CreateTopicsRequest::default();
        req.topics = vec![t];
        req.timeout_ms = 10_000;
        let resp = self.send(&req, 7).await;
        assert_eq!(
            resp.topics[0].error_code, 0,
            "create topic {name}: {:?}",
            resp.topics[0].error_message
        );
    }

    /// Produces `records` to one partition (Produce v9) and returns the partition response.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        acks: i16,
        records: Bytes,
    ) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_protocol::messages::ProduceRequest;
        let mut p = PartitionProduceData::default();
        p.index = partition;
        p.records = Some(records);
        let mut t = TopicProduceData::default();
        t.name = topic_name(topic);
        t.partition_data = vec![p];
        let mut req = ProduceRequest::default();
        req.acks = acks;
        req.timeout_ms = 10_000;
        req.topic_data = vec![t];
        let mut resp = self.send(&req, 9).await;
        resp.responses.remove(0).partition_responses.remove(0)
    }

    /// Fetches one partition (Fetch v12) from `offset`.
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        min_bytes: i32,
    ) -> kafka_protocol::messages::fetch_response::PartitionData {
        let req = fetch_request(topic, partition, offset, max_wait_ms, min_bytes);
        let mut resp = self.send(&req, 12).await;
        assert_eq!(resp.error_code, 0, "fetch error");
        resp.responses.remove(0).partitions.remove(0)
    }

    /// ListOffsets v7 for one partition at `timestamp` (-2 earliest, -1 latest).
    pub async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse {
        use kafka_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
        let mut p = ListOffsetsPartition::default();
        p.partition_index = partition;
        p.timestamp = timestamp;
        p.current_leader_epoch = -1;
        let mut t = ListOffsetsTopic::default();
        t.name = topic_name(topic);
        t.partitions = vec![p];
        let mut req = ListOffsetsRequest::default();
        req.replica_id = BrokerId(-1);
        req.topics = vec![t];
        let mut resp = self.send(&req, 7).await;
        resp.topics.remove(0).partitions.remove(0)
    }
}

/// Splitting a request into write and read, so a test can act while the broker holds it.
impl RawClient {
    /// Writes a request without waiting for its response; returns its correlation id.
    pub async fn send_only<R: Request>(&mut self, req: &R, version: i16) -> i32 {
        let (correlation_id, frame) = self.frame(req, version);
        self.write_raw(&frame).await;
        correlation_id
    }

    /// Reads and decodes the response to a request written with [`RawClient::send_only`].
    pub async fn receive<R: Request>(&mut self, correlation_id: i32, version: i16) -> R::Response {
        let mut resp = self
            .read_frame()
            .await
            .expect("the broker closed the connection");
        decode_response::<R::Response>(&mut resp, correlation_id, version)
    }

    /// Waits until the broker has read every byte written on this connection: nothing is left
    /// in this socket's send queue or in the broker's receive queue (`/proc/net/tcp`). After
    /// [`RawClient::send_only`] the request is then in the broker's hands, not in the kernel's.
    pub async fn wait_until_broker_has_read(&self) {
        let local = self.stream.local_addr().expect("local address").port();
        let broker = self.stream.peer_addr().expect("peer address").port();
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        loop {
            let ours = tcp_queues_bytes(local, broker);
            let theirs = tcp_queues_bytes(broker, local);
            if matches!((ours, theirs), (Some((0, _)), Some((_, 0)))) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the broker never read the request: (tx, rx) ours {ours:?}, broker's {theirs:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// `(tx_queue, rx_queue)` in bytes of the IPv4 TCP socket from `local_port` to `remote_port`,
/// from `/proc/net/tcp` (both ends of a loopback connection are listed there).
fn tcp_queues_bytes(local_port: u16, remote_port: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let port = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, queues) = (fields.get(1)?, fields.get(2)?, fields.get(4)?);
        if port(local)? != local_port || port(remote)? != remote_port {
            return None;
        }
        let (tx, rx) = queues.split_once(':')?;
        Some((
            u64::from_str_radix(tx, 16).ok()?,
            u64::from_str_radix(rx, 16).ok()?,
        ))
    })
}
