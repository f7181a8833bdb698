//! The topic registry: which topics exist, their ids, partitions and config overrides.
//!
//! Each topic is described by a small JSON file under `<first log dir>/__runnel_meta/topics/`,
//! written with write-temp-then-rename so a crash leaves the old or the new version. Partition
//! data lives in `<log dir>/<topic>-<partition>/` as in Kafka, spread over the log dirs by
//! partition count. A topic is immutable once built; changes build a new [`Topic`] sharing the
//! same partitions and swap it into the map (copy-on-write), so readers never see half a change.
//! How creation and deletion stay crash-safe is in [`super::partition_dirs`]. The broker holds
//! at most `runnel.max.partitions` partitions over all topics.

use super::partition::Partition;
use super::partition_dirs;
use crate::config::topic::{validate_overrides, TopicDefaults};
use crate::error::{BrokerError, BrokerResult};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_BYTES: usize = 249;
/// Upper bound on partitions per topic, so one request cannot ask for millions of directories.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<Arc<Partition>>,
    /// Topic-level overrides (DYNAMIC_TOPIC_CONFIG); everything else comes from the broker.
    pub overrides: BTreeMap<String, String>,
    pub internal: bool,
}

#[derive(Serialize, Deserialize)]
struct TopicFile {
    name: String,
    id: Uuid,
    partitions: i32,
    overrides: BTreeMap<String, String>,
    #[serde(default)]
    internal: bool,
}

/// Bounds on what clients can make the registry hold.
#[derive(Debug, Clone, Copy)]
pub struct RegistryLimits {
    /// `runnel.max.partitions`.
    pub max_partitions: usize,
    /// `runnel.max.producer.states.per.partition`.
    pub max_producer_states: usize,
}

pub struct TopicRegistry {
    log_dirs: Vec<PathBuf>,
    meta_dir: PathBuf,
    /// The broker-level defaults; replaced when a dynamic broker config changes.
    defaults: RwLock<Arc<TopicDefaults>>,
    limits: RegistryLimits,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises create/delete/alter so two admin requests cannot interleave on one topic.
    admin: Mutex<()>,
}

/// Kafka's topic-name rule: 1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> BrokerResult<()> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(BrokerError::InvalidTopic(format!(
            "topic name '{name}' is illegal"
        )));
    }
    if name.len() > MAX_TOPIC_NAME_BYTES {
        return Err(BrokerError::InvalidTopic(format!(
            "topic name is {} bytes, the limit is {MAX_TOPIC_NAME_BYTES}",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(BrokerError::InvalidTopic(format!(
            "topic name '{name}' contains '{c}'; only ASCII alphanumerics, '.', '_' and '-' are legal"
        )));
    }
    Ok(())
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

impl TopicRegistry {
    /// Loads every topic described under the meta dir, opening (and recovering) its partitions,
    /// then deletes what interrupted creates and deletes left behind.
    pub fn open(
        log_dirs: Vec<PathBuf>,
        defaults: TopicDefaults,
        limits: RegistryLimits,
    ) -> anyhow::Result<TopicRegistry> {
        let meta_dir = log_dirs[0].join("__runnel_meta");
        std::fs::create_dir_all(meta_dir.join("topics"))?;
        for d in &log_dirs {
            std::fs::create_dir_all(d)?;
            partition_dirs::remove_deleted_dirs(d);
        }
        let registry = TopicRegistry {
            log_dirs,
            meta_dir,
            defaults: RwLock::new(Arc::new(defaults)),
            limits,
            topics: RwLock::new(HashMap::new()),
            admin: Mutex::new(()),
        };
        let mut owned = HashSet::new();
        for entry in std::fs::read_dir(registry.meta_dir.join("topics"))? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let file: TopicFile = serde_json::from_slice(&std::fs::read(&path)?)
                .map_err(|e| anyhow::anyhow!("corrupt topic file {}: {e}", path.display()))?;
            let config = registry.defaults().log_config(&file.overrides)?;
            let mut partitions =
                Vec::with_capacity(file.partitions.clamp(0, MAX_PARTITIONS_PER_TOPIC) as usize);
            for p in 0..file.partitions {
                let (partition, dir) =
                    registry.open_partition(&file.name, file.id, p, &config, false)?;
                owned.insert(dir);
                partitions.push(partition);
            }
            let topic = Topic {
                name: file.name.clone(),
                id: file.id,
                partitions,
                overrides: file.overrides,
                internal: file.internal,
            };
            registry.topics.write().insert(file.name, Arc::new(topic));
        }
        for d in &registry.log_dirs {
            partition_dirs::remove_strays(d, &owned);
        }
        Ok(registry)
    }

    /// The broker-level defaults topics inherit now.
    pub fn defaults(&self) -> Arc<TopicDefaults> {
        self.defaults.read().clone()
    }

    /// Replaces the broker-level defaults (a dynamic broker config changed) and applies the
    /// result to every topic's logs. Nothing changes unless every topic's settings convert and
    /// `commit` (which persists the change) succeeds; admin changes wait meanwhile.
    pub fn change_defaults(
        &self,
        defaults: TopicDefaults,
        commit: impl FnOnce() -> BrokerResult<()>,
    ) -> BrokerResult<()> {
        let _guard = self.admin.lock();
        let mut configs = Vec::new();
        for topic in self.list() {
            let config = defaults
                .log_config(&topic.overrides)
                .map_err(|e| BrokerError::InvalidRequest(format!("topic {}: {e}", topic.name)))?;
            configs.push((topic, config));
        }
        commit()?;
        *self.defaults.write() = Arc::new(defaults);
        for (topic, config) in configs {
            for p in &topic.partitions {
                p.with_log(|log| log.set_config(config.clone()));
            }
        }
        Ok(())
    }

    /// Claims the partition's directory for topic `id` (see [`partition_dirs::claim`]) and
    /// opens its log.
    fn open_partition(
        &self,
        topic: &str,
        id: Uuid,
        index: i32,
        config: &runnel_log::LogConfig,
        creating: bool,
    ) -> BrokerResult<(Arc<Partition>, PathBuf)> {
        let dir = self.partition_dir(topic, index);
        partition_dirs::claim(&dir, id, creating).map_err(runnel_log::LogError::Io)?;
        let partition = Partition::open(
            topic,
            index,
            &dir,
            config.clone(),
            now_ms(),
            self.limits.max_producer_states,
        )?;
        Ok((Arc::new(partition), dir))
    }

    /// Refuses to grow the broker past `runnel.max.partitions` (internal topics not counted).
    fn check_partition_limit(&self, adding: i32) -> BrokerResult<()> {
        let held: usize = self
            .topics
            .read()
            .values()
            .filter(|t| !t.internal)
            .map(|t| t.partitions.len())
            .sum();
        let max = self.limits.max_partitions;
        if held + adding.max(0) as usize > max {
            return Err(BrokerError::PolicyViolation(format!(
                "the broker holds {held} partitions; {adding} more would exceed runnel.max.partitions={max}"
            )));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    pub fn partition(&self, topic: &str, index: i32) -> BrokerResult<Arc<Partition>> {
        let t = self
            .get(topic)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        usize::try_from(index)
            .ok()
            .and_then(|i| t.partitions.get(i).cloned())
            .ok_or(BrokerError::UnknownTopicOrPartition)
    }

    /// All topics, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.topics.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Every partition of every topic.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.topics
            .read()
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    /// Directory of a partition: an existing one in any log dir, else a new one in the log dir
    /// holding the fewest partitions.
    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        let name = format!("{topic}-{index}");
        if let Some(d) = self
            .log_dirs
            .iter()
            .map(|d| d.join(&name))
            .find(|p| p.exists())
        {
            return d;
        }
        let least = self
            .log_dirs
            .iter()
            .min_by_key(|d| {
                std::fs::read_dir(d)
                    .map(|r| r.count())
                    .unwrap_or(usize::MAX)
            })
            .unwrap_or(&self.log_dirs[0]);
        least.join(name)
    }

    /// Validates a create request without changing anything.
    pub fn check_create(
        &self,
        name: &str,
        partitions: i32,
        overrides: &BTreeMap<String, String>,
    ) -> BrokerResult<()> {
        validate_topic_name(name)?;
        let topics = self.topics.read();
        if topics.contains_key(name) {
            return Err(BrokerError::TopicAlreadyExists(name.to_string()));
        }
        // Kafka refuses names that differ only by '.' vs '_' (they collide in metric names).
        let canon = name.replace('.', "_");
        if let Some(other) = topics.keys().find(|t| t.replace('.', "_") == canon) {
            return Err(BrokerError::InvalidTopic(format!(
                "topic '{name}' collides with existing topic '{other}' ('.' and '_' are equivalent)"
            )));
        }
        if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
            return Err(BrokerError::InvalidPartitions(format!(
                "number of partitions {partitions} must be between 1 and {MAX_PARTITIONS_PER_TOPIC}"
            )));
        }
        validate_overrides(&self.defaults(), overrides)
            .map_err(|e| BrokerError::InvalidConfig(e.to_string()))
    }

    /// Creates a topic: partition directories first, then the topic file that makes it exist
    /// (a crash in between leaves directories no topic owns, deleted at the next start).
    /// Internal topics are not counted against `runnel.max.partitions`.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
        internal: bool,
    ) -> BrokerResult<Arc<Topic>> {
        let _guard = self.admin.lock();
        self.check_create(name, partitions, &overrides)?;
        if !internal {
            self.check_partition_limit(partitions)?;
        }
        let config = self
            .defaults()
            .log_config(&overrides)
            .map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
        let id = Uuid::new_v4();
        let mut parts = Vec::with_capacity(partitions as usize);
        for p in 0..partitions {
            parts.push(self.open_partition(name, id, p, &config, true)?.0);
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id,
            partitions: parts,
            overrides,
            internal,
        });
        self.persist(&topic)?;
        self.topics.write().insert(name.to_string(), topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic. Removing its file is the commit point (fsynced); then each partition
    /// directory is moved aside (renamed `*-delete`, parent fsynced) under the partition's lock,
    /// so nothing more is written where a new topic of the same name would live, and deleted in
    /// the background. See [`partition_dirs`] for what a crash at each step leaves.
    pub fn delete(&self, name: &str) -> BrokerResult<Arc<Topic>> {
        let _guard = self.admin.lock();
        let topic = self.get(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        let file = self.topic_file(name);
        std::fs::remove_file(&file).map_err(runnel_log::LogError::Io)?;
        partition_dirs::sync_dir(&self.meta_dir.join("topics"))
            .map_err(runnel_log::LogError::Io)?;
        self.topics.write().remove(name);
        for p in &topic.partitions {
            let moved = p.with_log(|log| {
                let aside = partition_dirs::move_aside(log.dir())?;
                log.dir_renamed(aside.clone());
                Ok::<_, std::io::Error>(aside)
            });
            match moved {
                Ok(aside) => partition_dirs::delete_later(aside),
                Err(e) => tracing::warn!(topic = name, partition = p.index, error = %e,
                    "could not move a deleted partition's directory aside; the next start-up deletes it"),
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `total` partitions (never shrinks: Kafka cannot remove partitions).
    pub fn add_partitions(&self, name: &str, total: i32, validate_only: bool) -> BrokerResult<()> {
        let _guard = self.admin.lock();
        let topic = self.get(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        let current = topic.partitions.len() as i32;
        if total < current {
            return Err(BrokerError::InvalidPartitions(format!(
                "topic currently has {current} partitions, which is higher than the requested {total}; partitions cannot be removed"
            )));
        }
        if total == current {
            return Err(BrokerError::InvalidPartitions(format!(
                "topic already has {current} partitions"
            )));
        }
        if total > MAX_PARTITIONS_PER_TOPIC {
            return Err(BrokerError::InvalidPartitions(format!(
                "number of partitions {total} exceeds the limit of {MAX_PARTITIONS_PER_TOPIC}"
            )));
        }
        if !topic.internal {
            self.check_partition_limit(total - current)?;
        }
        if validate_only {
            return Ok(());
        }
        let config = self
            .defaults()
            .log_config(&topic.overrides)
            .map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
        let mut partitions = topic.partitions.clone();
        for p in current..total {
            partitions.push(self.open_partition(name, topic.id, p, &config, true)?.0);
        }
        let new = Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            partitions,
            overrides: topic.overrides.clone(),
            internal: topic.internal,
        });
        self.persist(&new)?;
        self.topics.write().insert(name.to_string(), new);
        Ok(())
    }

    /// Replaces a topic's overrides (AlterConfigs semantics) and applies them to its logs.
    pub fn set_overrides(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> BrokerResult<()> {
        let _guard = self.admin.lock();
        let topic = self.get(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        validate_overrides(&self.defaults(), &overrides)
            .map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
        if validate_only {
            return Ok(());
        }
        let config = self
            .defaults()
            .log_config(&overrides)
            .map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
        for p in &topic.partitions {
            p.with_log(|log| log.set_config(config.clone()));
        }
        let new = Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.clone(),
            overrides,
            internal: topic.internal,
        });
        self.persist(&new)?;
        self.topics.write().insert(name.to_string(), new);
        Ok(())
    }

    fn topic_file(&self, name: &str) -> PathBuf {
        self.meta_dir.join("topics").join(format!("{name}.json"))
    }

    fn persist(&self, topic: &Topic) -> BrokerResult<()> {
        let file = TopicFile {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            overrides: topic.overrides.clone(),
            internal: topic.internal,
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| BrokerError::InvalidRequest(e.to_string()))?;
        write_atomically(&self.topic_file(&topic.name), &bytes)
            .map_err(runnel_log::LogError::Io)?;
        Ok(())
    }
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "with space", "slash/y", &"a".repeat(250)] {
            assert!(
                matches!(validate_topic_name(bad), Err(BrokerError::InvalidTopic(_))),
                "{bad}"
            );
        }
    }
}
