//! Broker state shared by every connection: configuration, cluster identity, the topic
//! registry, producer-id allocation and the connection limits.

mod broker_configs;
pub mod partition;
pub mod partition_dirs;
pub mod producers;
pub mod topics;

use crate::config::dynamic::Layers;
use crate::config::topic::TopicDefaults;
use crate::config::BrokerConfig;
use crate::coordinator::{GroupConfig, GroupCoordinator, OFFSETS_TOPIC};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;
use topics::TopicRegistry;

/// Producer ids are handed out in blocks; the end of the current block is persisted before any
/// id from it is used, so ids are never reused after a crash.
const PRODUCER_ID_BLOCK: i64 = 1000;

pub struct BrokerState {
    pub config: BrokerConfig,
    pub cluster_id: String,
    pub topics: TopicRegistry,
    /// The consumer-group coordinator (every group is coordinated by this node).
    pub groups: Arc<GroupCoordinator>,
    /// Limits and gauges shared by all connections (`queued.max.requests` and friends).
    pub network: Arc<crate::network::Network>,
    /// `background.threads`: partitions worked on at once by background tasks.
    pub background_slots: Arc<Semaphore>,
    /// `log.cleaner.threads`: partitions compacted at once.
    pub cleaner_slots: Arc<Semaphore>,
    /// The permits `background_slots` is sized to (it changes with dynamic configs).
    background_threads: AtomicUsize,
    /// Dynamic broker configs (see [`crate::config::dynamic`]); `config` has those of start-up.
    dynamic: parking_lot::RwLock<Layers>,
    /// Serialises dynamic broker config changes.
    broker_config_changes: parking_lot::Mutex<()>,
    next_producer_id: AtomicI64,
    producer_id_limit: parking_lot::Mutex<i64>,
}

impl BrokerState {
    pub fn open(config: BrokerConfig) -> Result<BrokerState> {
        let defaults = TopicDefaults::from_broker(&config)?;
        for d in &config.log_dirs {
            std::fs::create_dir_all(d)
                .with_context(|| format!("creating log dir {}", d.display()))?;
        }
        let cluster_id = load_or_create_meta(&config.log_dirs[0], config.node_id)?;
        let limits = topics::RegistryLimits {
            max_partitions: config.max_partitions,
            max_producer_states: config.max_producer_states_per_partition,
        };
        let topics = TopicRegistry::open(config.log_dirs.clone(), defaults, limits)?;
        let offsets_topic = match topics.get(OFFSETS_TOPIC) {
            Some(t) => t,
            None => {
                let overrides = [("cleanup.policy".to_string(), "compact".to_string())]
                    .into_iter()
                    .collect();
                topics
                    .create(
                        OFFSETS_TOPIC,
                        config.offsets_topic_num_partitions,
                        overrides,
                        true,
                    )
                    .with_context(|| format!("creating {OFFSETS_TOPIC}"))?
            }
        };
        let groups = Arc::new(GroupCoordinator::new(
            GroupConfig::from_broker(&config),
            offsets_topic.partitions.clone(),
        ));
        let start =
            read_i64(&config.log_dirs[0].join("__runnel_meta/producer-id-limit")).unwrap_or(0);
        Ok(BrokerState {
            network: Arc::new(crate::network::Network::new(&config)),
            background_slots: Arc::new(Semaphore::new(config.background_threads)),
            cleaner_slots: Arc::new(Semaphore::new(config.log_cleaner_threads)),
            background_threads: AtomicUsize::new(config.background_threads),
            dynamic: parking_lot::RwLock::new(config.dynamic.clone()),
            broker_config_changes: parking_lot::Mutex::new(()),
            cluster_id,
            topics,
            groups,
            next_producer_id: AtomicI64::new(start),
            producer_id_limit: parking_lot::Mutex::new(start),
            config,
        })
    }

    /// A fresh producer id, never handed out before by this broker.
    pub fn allocate_producer_id(&self) -> Result<i64> {
        let id = self.next_producer_id.fetch_add(1, Ordering::SeqCst);
        let mut limit = self.producer_id_limit.lock();
        if id >= *limit {
            let new_limit = id + PRODUCER_ID_BLOCK;
            topics::write_atomically(
                &self.config.log_dirs[0].join("__runnel_meta/producer-id-limit"),
                new_limit.to_string().as_bytes(),
            )?;
            *limit = new_limit;
        }
        Ok(id)
    }
}

fn read_i64(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads `meta.properties` (cluster id, node id) or writes a new one with a fresh cluster id.
fn load_or_create_meta(dir: &Path, node_id: i32) -> Result<String> {
    let path = dir.join("meta.properties");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut cluster_id = None;
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "cluster.id" => cluster_id = Some(v.trim().to_string()),
                    "node.id" if v.trim() != node_id.to_string() => anyhow::bail!(
                        "{} belongs to node.id {} but this broker is node.id {node_id}",
                        path.display(),
                        v.trim()
                    ),
                    _ => {}
                }
            }
        }
        return cluster_id.with_context(|| format!("{} has no cluster.id", path.display()));
    }
    let cluster_id = new_cluster_id();
    let text = format!("# Written by Runnel on first start.\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\n");
    topics::write_atomically(&path, text.as_bytes())?;
    Ok(cluster_id)
}

/// A Kafka-style cluster id: a random UUID in URL-safe base64 without padding (22 chars).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut bits: u128 = u128::from_be_bytes(bytes);
    let mut out = String::with_capacity(22);
    for _ in 0..22 {
        out.push(ALPHABET[(bits >> 122) as usize & 63] as char);
        bits <<= 6;
    }
    out
}
