//! A Kafka-aware proxy that presents two brokers, node ids 1 and 2 on two ports, in front of
//! one real Runnel broker. It rewrites Metadata responses so that every partition is led by
//! the node the test chose ([`LeaderProxy::move_leader`]); the node that is not the leader
//! answers Produce and Fetch itself with NOT_LEADER_OR_FOLLOWER. It can also answer the next
//! requests of an API with an injected error ([`LeaderProxy::fail_next`]), stop a node
//! ([`LeaderProxy::stop_node`]), and it logs every request it saw ([`LeaderProxy::events`]).
//!
//! Responses the proxy makes up may overtake forwarded ones on a connection; the Runnel client
//! matches responses by correlation id, so that is fine for it.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, FindCoordinatorResponse, MetadataResponse,
    ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// NOT_LEADER_OR_FOLLOWER.
pub const NOT_LEADER: i16 = 6;

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Instant,
    /// The node (1 or 2) whose port it came in on.
    pub node: i32,
    pub api: i16,
    /// The error code the proxy answered with itself; `None` when it was forwarded.
    pub answered: Option<i16>,
}

struct Shared {
    target: SocketAddr,
    addrs: [SocketAddr; 2],
    leader: AtomicI32,
    leader_epoch: AtomicI32,
    /// Per API key: the error to answer with and for how many more requests.
    inject: Mutex<HashMap<i16, (i16, usize)>>,
    events: Mutex<Vec<Event>>,
    kill: [watch::Sender<bool>; 2],
}

pub struct LeaderProxy {
    shared: Arc<Shared>,
    acceptors: Mutex<Vec<JoinHandle<()>>>,
}

impl LeaderProxy {
    /// Starts both nodes in front of the broker at `target`; node 1 leads everything.
    pub async fn start(target: SocketAddr) -> LeaderProxy {
        let l1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shared = Arc::new(Shared {
            target,
            addrs: [l1.local_addr().unwrap(), l2.local_addr().unwrap()],
            leader: AtomicI32::new(1),
            leader_epoch: AtomicI32::new(0),
            inject: Mutex::default(),
            events: Mutex::default(),
            kill: [watch::channel(false).0, watch::channel(false).0],
        });
        let acceptors = [(1, l1), (2, l2)]
            .into_iter()
            .map(|(node, listener)| {
                let shared = shared.clone();
                tokio::spawn(async move {
                    while let Ok((client, _)) = listener.accept().await {
                        tokio::spawn(serve(shared.clone(), node, client));
                    }
                })
            })
            .collect();
        LeaderProxy {
            shared,
            acceptors: Mutex::new(acceptors),
        }
    }

    /// The address of node 1, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr(1).to_string()
    }

    pub fn addr(&self, node: i32) -> SocketAddr {
        self.shared.addrs[(node - 1) as usize]
    }

    /// Makes `node` the leader of every partition, with a new leader epoch.
    pub fn move_leader(&self, node: i32) {
        self.shared.leader_epoch.fetch_add(1, Ordering::SeqCst);
        self.shared.leader.store(node, Ordering::SeqCst);
    }

    /// Cuts every connection to `node`, closes its port and drops it from Metadata answers.
    pub fn stop_node(&self, node: i32) {
        self.acceptors.lock()[(node - 1) as usize].abort();
        self.shared.kill[(node - 1) as usize].send_replace(true);
    }

    /// Answers the next `times` requests of `api` (on either node) with error `code`.
    pub fn fail_next(&self, api: ApiKey, code: i16, times: usize) {
        self.shared.inject.lock().insert(api as i16, (code, times));
    }

    /// Every request received so far, in arrival order.
    pub fn events(&self) -> Vec<Event> {
        self.shared.events.lock().clone()
    }

    /// Requests of `api` that came in on `node` (any node when `None`).
    pub fn count(&self, node: Option<i32>, api: ApiKey) -> usize {
        self.shared
            .events
            .lock()
            .iter()
            .filter(|e| e.api == api as i16 && node.is_none_or(|n| n == e.node))
            .count()
    }
}

impl Drop for LeaderProxy {
    fn drop(&mut self) {
        for a in self.acceptors.lock().iter() {
            a.abort();
        }
        for k in &self.shared.kill {
            k.send_replace(true);
        }
    }
}

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<Bytes> {
    let mut size = [0u8; 4];
    r.read_exact(&mut size).await.ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    r.read_exact(&mut body).await.ok()?;
    Some(Bytes::from(body))
}

fn framed(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 4);
    out.put_i32(body.len() as i32);
    out.put_slice(body);
    out.freeze()
}

fn response<R: Encodable>(api: ApiKey, version: i16, correlation_id: i32, resp: &R) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    let mut h = ResponseHeader::default();
    h.correlation_id = correlation_id;
    h.encode(&mut buf, api.response_header_version(version))
        .unwrap();
    resp.encode(&mut buf, version).unwrap();
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// What to do with one request: forward it, or answer it with this frame.
enum Action {
    Forward {
        correlation_id: i32,
        api: ApiKey,
        version: i16,
    },
    Answer(Bytes),
    Passthrough,
}

impl Shared {
    fn on_request(&self, node: i32, frame: &Bytes) -> Action {
        if frame.len() < 8 {
            return Action::Passthrough;
        }
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let Ok(api) = ApiKey::try_from(key) else {
            return Action::Passthrough;
        };
        let mut body = frame.clone();
        let Ok(header) = RequestHeader::decode(&mut body, api.request_header_version(version))
        else {
            return Action::Passthrough;
        };
        let correlation_id = header.correlation_id;
        let injected = {
            let mut inject = self.inject.lock();
            match inject.get_mut(&key) {
                Some((code, left)) if *left > 0 => {
                    *left -= 1;
                    Some(*code)
                }
                _ => None,
            }
        };
        let not_leader = matches!(api, ApiKey::Produce | ApiKey::Fetch)
            && node != self.leader.load(Ordering::SeqCst);
        let error = injected.or(not_leader.then_some(NOT_LEADER));
        let answer = error.and_then(|code| match api {
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut body, version).ok()?;
                Some(response(
                    api,
                    version,
                    correlation_id,
                    &produce_error(&req, code),
                ))
            }
            ApiKey::Fetch => {
                let req = FetchRequest::decode(&mut body, version).ok()?;
                Some(response(
                    api,
                    version,
                    correlation_id,
                    &fetch_error(&req, code),
                ))
            }
            ApiKey::FindCoordinator => {
                let mut r = FindCoordinatorResponse::default();
                if version < 4 {
                    r.error_code = code;
                    r.node_id = BrokerId(-1);
                    r.port = -1;
                } else {
                    r.coordinators = coordinator_keys(&mut body, version)
                        .into_iter()
                        .map(|k| {
                            let mut c = Coordinator::default();
                            c.key = k;
                            c.node_id = BrokerId(-1);
                            c.port = -1;
                            c.error_code = code;
                            c
                        })
                        .collect();
                }
                Some(response(api, version, correlation_id, &r))
            }
            _ => None,
        });
        self.events.lock().push(Event {
            at: Instant::now(),
            node,
            api: key,
            answered: answer.as_ref().and(error),
        });
        match answer {
            Some(a) => Action::Answer(a),
            None => Action::Forward {
                correlation_id,
                api,
                version,
            },
        }
    }

    /// Rewrites the broker's Metadata and FindCoordinator answers to name the proxy's nodes.
    fn on_response(&self, api: ApiKey, version: i16, frame: Bytes) -> Bytes {
        let hv = api.response_header_version(version);
        let mut body = frame.clone();
        let Ok(header) = ResponseHeader::decode(&mut body, hv) else {
            return framed(&frame);
        };
        let leader = self.leader.load(Ordering::SeqCst);
        let node_addr = |n: i32| self.addrs[(n - 1) as usize];
        match api {
            ApiKey::Metadata => {
                let Ok(mut resp) = MetadataResponse::decode(&mut body, version) else {
                    return framed(&frame);
                };
                resp.brokers = [1, 2]
                    .into_iter()
                    .filter(|n| !*self.kill[(n - 1) as usize].borrow())
                    .map(|n| {
                        let mut b = MetadataResponseBroker::default();
                        b.node_id = BrokerId(n);
                        b.host = StrBytes::from_static_str("127.0.0.1");
                        b.port = node_addr(n).port() as i32;
                        b
                    })
                    .collect();
                resp.controller_id = BrokerId(leader);
                let epoch = self.leader_epoch.load(Ordering::SeqCst);
                for t in &mut resp.topics {
                    for p in &mut t.partitions {
                        if p.error_code == 0 {
                            p.leader_id = BrokerId(leader);
                            if version >= 7 {
                                p.leader_epoch = epoch;
                            }
                            p.replica_nodes = vec![BrokerId(1), BrokerId(2)];
                            p.isr_nodes = vec![BrokerId(1), BrokerId(2)];
                        }
                    }
                }
                response(api, version, header.correlation_id, &resp)
            }
            ApiKey::FindCoordinator => {
                let Ok(mut resp) = FindCoordinatorResponse::decode(&mut body, version) else {
                    return framed(&frame);
                };
                let port = node_addr(leader).port() as i32;
                if version < 4 && resp.error_code == 0 {
                    resp.node_id = BrokerId(leader);
                    resp.port = port;
                    resp.host = StrBytes::from_static_str("127.0.0.1");
                }
                for c in &mut resp.coordinators {
                    if c.error_code == 0 {
                        c.node_id = BrokerId(leader);
                        c.port = port;
                        c.host = StrBytes::from_static_str("127.0.0.1");
                    }
                }
                response(api, version, header.correlation_id, &resp)
            }
            _ => framed(&frame),
        }
    }
}

fn coordinator_keys(body: &mut Bytes, version: i16) -> Vec<StrBytes> {
    kafka_protocol::messages::FindCoordinatorRequest::decode(body, version)
        .map(|r| r.coordinator_keys)
        .unwrap_or_default()
}

fn produce_error(req: &ProduceRequest, code: i16) -> ProduceResponse {
    let mut resp = ProduceResponse::default();
    resp.responses = req
        .topic_data
        .iter()
        .map(|t| {
            let mut tr = TopicProduceResponse::default();
            tr.name = t.name.clone();
            tr.partition_responses = t
                .partition_data
                .iter()
                .map(|p| {
                    let mut pr = PartitionProduceResponse::default();
                    pr.index = p.index;
                    pr.error_code = code;
                    pr.base_offset = -1;
                    pr
                })
                .collect();
            tr
        })
        .collect();
    resp
}

fn fetch_error(req: &FetchRequest, code: i16) -> FetchResponse {
    let mut resp = FetchResponse::default();
    resp.responses = req
        .topics
        .iter()
        .map(|t| {
            let mut tr = FetchableTopicResponse::default();
            tr.topic = t.topic.clone();
            tr.topic_id = t.topic_id;
            tr.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pd = PartitionData::default();
                    pd.partition_index = p.partition;
                    pd.error_code = code;
                    pd.high_watermark = -1;
                    pd
                })
                .collect();
            tr
        })
        .collect();
    resp
}

async fn serve(shared: Arc<Shared>, node: i32, client: TcpStream) {
    let mut kill = shared.kill[(node - 1) as usize].subscribe();
    if *kill.borrow() {
        return;
    }
    let Ok(server) = TcpStream::connect(shared.target).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let pending: Mutex<HashMap<i32, (ApiKey, i16)>> = Mutex::default();
    let writer = async {
        while let Some(f) = rx.recv().await {
            if cw.write_all(&f).await.is_err() {
                break;
            }
        }
    };
    let up = async {
        while let Some(frame) = read_frame(&mut cr).await {
            match shared.on_request(node, &frame) {
                Action::Answer(a) => {
                    if tx.send(a).is_err() {
                        break;
                    }
                    continue;
                }
                Action::Forward {
                    correlation_id,
                    api,
                    version,
                } => {
                    pending.lock().insert(correlation_id, (api, version));
                }
                Action::Passthrough => {}
            }
            if sw.write_all(&framed(&frame)).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        while let Some(frame) = read_frame(&mut sr).await {
            if frame.len() < 4 {
                break;
            }
            let id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let out = match pending.lock().remove(&id) {
                Some((api, version)) => shared.on_response(api, version, frame),
                None => framed(&frame),
            };
            if tx.send(out).is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = writer => {}
        _ = kill.wait_for(|k| *k) => {}
    }
}
