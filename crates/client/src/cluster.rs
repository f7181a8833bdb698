//! What every client shares: connections by broker, bootstrap, and the metadata cache.

use crate::config::CommonConfig;
use crate::conn::{Connection, Metrics};
use crate::error::{ClientError, Result};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::{Request, StrBytes};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// A broker as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// One partition in the metadata cache.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error_code: i16,
}

/// One topic in the metadata cache.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

/// The cached cluster view.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub cluster_id: Option<String>,
    pub controller: i32,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: TopicMap,
}

/// Topics by name, with a fast (non-DoS-resistant) hash: the producer looks a topic up for
/// every record, and the keys come from the application and the broker, not from strangers.
pub type TopicMap = HashMap<String, TopicInfo, foldhash::fast::RandomState>;

pub(crate) fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Connections and metadata shared by a client's parts.
pub struct Cluster {
    pub config: CommonConfig,
    pub metrics: Arc<Metrics>,
    conns: tokio::sync::Mutex<HashMap<String, Arc<Connection>>>,
    metadata: RwLock<(Metadata, Option<Instant>)>,
}

impl Cluster {
    /// Connects to the first reachable bootstrap server and loads the broker list.
    pub async fn connect(config: CommonConfig) -> Result<Arc<Cluster>> {
        let cluster = Arc::new(Cluster {
            config,
            metrics: Arc::default(),
            conns: Default::default(),
            metadata: RwLock::new((Metadata::default(), None)),
        });
        cluster.refresh(&[]).await?;
        Ok(cluster)
    }

    /// A snapshot of the metadata cache.
    pub fn metadata(&self) -> Metadata {
        self.metadata.read().0.clone()
    }

    /// A connection to `host:port`, reused while open.
    pub async fn conn_to(&self, addr: &str) -> Result<Arc<Connection>> {
        let mut conns = self.conns.lock().await;
        if let Some(c) = conns.get(addr) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(
            Connection::connect(
                addr,
                &self.config.client_id,
                self.config.request_timeout,
                self.metrics.clone(),
            )
            .await?,
        );
        conns.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// A connection to the broker with this node id.
    pub async fn node(&self, node_id: i32) -> Result<Arc<Connection>> {
        let broker = self.metadata.read().0.brokers.get(&node_id).cloned();
        match broker {
            Some(b) => self.conn_to(&format!("{}:{}", b.host, b.port)).await,
            None => {
                self.refresh(&[]).await?;
                let b = self
                    .metadata
                    .read()
                    .0
                    .brokers
                    .get(&node_id)
                    .cloned()
                    .ok_or_else(|| {
                        ClientError::State(format!(
                            "broker {node_id} is not in the cluster metadata"
                        ))
                    })?;
                self.conn_to(&format!("{}:{}", b.host, b.port)).await
            }
        }
    }

    /// A connection to any broker: known brokers first, then the bootstrap list.
    pub async fn any(&self) -> Result<Arc<Connection>> {
        let mut addrs: Vec<String> = self
            .metadata
            .read()
            .0
            .brokers
            .values()
            .map(|b| format!("{}:{}", b.host, b.port))
            .collect();
        addrs.extend(self.config.bootstrap_servers.iter().cloned());
        let mut last = None;
        for a in addrs {
            match self.conn_to(&a).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Connect {
            addr: "(no bootstrap.servers)".into(),
            reason: "empty".into(),
        }))
    }

    /// Sends a request to any broker.
    pub async fn send_any<R: Request>(&self, req: &R) -> Result<R::Response> {
        let c = self.any().await?;
        c.send(req).await
    }

    /// Sends a request to the controller (the broker metadata names), for admin changes.
    pub async fn send_controller<R: Request>(&self, req: &R) -> Result<R::Response> {
        let controller = self.metadata.read().0.controller;
        let c = match self.node(controller).await {
            Ok(c) => c,
            Err(_) => self.any().await?,
        };
        c.send(req).await
    }

    /// Fetches metadata for `topics` (all topics when empty is not wanted: the broker list
    /// only) and merges it into the cache.
    pub async fn refresh(&self, topics: &[&str]) -> Result<Metadata> {
        let mut req = MetadataRequest::default();
        req.topics = Some(
            topics
                .iter()
                .map(|t| {
                    let mut r = MetadataRequestTopic::default();
                    r.name = Some(name(t));
                    r
                })
                .collect(),
        );
        req.allow_auto_topic_creation = false;
        self.refresh_with(req, false).await
    }

    /// Fetches metadata for every topic, replacing the cached topic list.
    pub async fn refresh_all(&self) -> Result<Metadata> {
        let mut req = MetadataRequest::default();
        req.topics = None;
        self.refresh_with(req, true).await
    }

    async fn refresh_with(&self, req: MetadataRequest, replace: bool) -> Result<Metadata> {
        let c = self.any().await?;
        let resp = match c.send(&req).await {
            Ok(r) => r,
            Err(e) => {
                c.close();
                return Err(e);
            }
        };
        let mut guard = self.metadata.write();
        let md = &mut guard.0;
        md.cluster_id = resp.cluster_id.map(|s| s.to_string());
        md.controller = resp.controller_id.0;
        md.brokers = resp
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id.0,
                    BrokerInfo {
                        node_id: b.node_id.0,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                    },
                )
            })
            .collect();
        if replace {
            md.topics.clear();
        }
        let mut result = Metadata {
            cluster_id: md.cluster_id.clone(),
            controller: md.controller,
            brokers: md.brokers.clone(),
            topics: TopicMap::default(),
        };
        for t in resp.topics {
            let Some(n) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if t.error_code != 0 {
                md.topics.remove(&n);
                result.topics.insert(
                    n.clone(),
                    TopicInfo {
                        name: n,
                        internal: t.is_internal,
                        partitions: vec![PartitionInfo {
                            partition: -1,
                            leader: -1,
                            leader_epoch: -1,
                            replicas: vec![],
                            isr: vec![],
                            error_code: t.error_code,
                        }],
                    },
                );
                continue;
            }
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            let info = TopicInfo {
                name: n.clone(),
                internal: t.is_internal,
                partitions,
            };
            md.topics.insert(n.clone(), info.clone());
            result.topics.insert(n, info);
        }
        guard.1 = Some(Instant::now());
        Ok(result)
    }

    /// The cached topic, fetching metadata when it is missing or older than
    /// `metadata.max.age.ms`. An unknown topic is `UNKNOWN_TOPIC_OR_PARTITION`.
    pub async fn topic(&self, topic: &str) -> Result<TopicInfo> {
        {
            let g = self.metadata.read();
            let fresh =
                g.1.is_some_and(|t| t.elapsed() < self.config.metadata_max_age);
            if fresh {
                if let Some(t) = g.0.topics.get(topic) {
                    return Ok(t.clone());
                }
            }
        }
        let md = self.refresh(&[topic]).await?;
        let t = md
            .topics
            .get(topic)
            .cloned()
            .ok_or_else(|| ClientError::kafka(3, Some(format!("topic {topic}"))))?;
        if let Some(p) = t.partitions.first().filter(|p| p.partition < 0) {
            return Err(ClientError::kafka(
                p.error_code,
                Some(format!("topic {topic}")),
            ));
        }
        Ok(t)
    }

    /// The number of partitions of a topic if it is cached at all, however old: the
    /// producer's per-record path. The sender refreshes metadata older than
    /// `metadata.max.age.ms` for every topic with queued records, so a partition count that
    /// grew is picked up within that age, as in the Java client.
    pub fn cached_partition_count(&self, topic: &str) -> Option<i32> {
        let g = self.metadata.read();
        g.0.topics.get(topic).map(|t| t.partitions.len() as i32)
    }

    /// The number of partitions of a topic, from the cache when fresh (no copying of the
    /// topic's metadata: this is on the producer's per-record path).
    pub async fn partition_count(&self, topic: &str) -> Result<i32> {
        {
            let g = self.metadata.read();
            if g.1
                .is_some_and(|t| t.elapsed() < self.config.metadata_max_age)
            {
                if let Some(t) = g.0.topics.get(topic) {
                    return Ok(t.partitions.len() as i32);
                }
            }
        }
        Ok(self.topic(topic).await?.partitions.len() as i32)
    }

    /// Forgets a topic's cached metadata so the next lookup fetches it.
    pub fn invalidate(&self, topic: &str) {
        self.metadata.write().0.topics.remove(topic);
    }

    /// Closes every connection.
    pub async fn close(&self) {
        for (_, c) in self.conns.lock().await.drain() {
            c.close();
        }
    }
}
