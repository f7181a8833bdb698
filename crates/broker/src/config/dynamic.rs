//! Dynamic broker configs: values set at run time with IncrementalAlterConfigs / AlterConfigs
//! for this broker (`"1"`, Kafka's DYNAMIC_BROKER_CONFIG) or as the cluster-wide default
//! (`""`, DYNAMIC_DEFAULT_BROKER_CONFIG). They override `server.properties`, per broker first.
//!
//! Kafka keeps them in its metadata log; Runnel keeps both maps in one JSON file,
//! `<first log dir>/__runnel_meta/dynamic-broker-configs.json`, replaced atomically (write, fsync,
//! rename) before a change is applied, so a change that was answered survives a restart, and
//! start-up ([`super::BrokerConfig::from_sources`]) reads it before anything else is sized.
//!
//! The checks are Kafka's (`DynamicBrokerConfig.validateConfigs`, `ConfigAdminManager`), with its
//! messages, all INVALID_REQUEST except APPEND/SUBTRACT on a non-list key (INVALID_CONFIG):
//! read-only keys cannot change; security keys only per listener; per-broker keys not as the
//! cluster default; values are typed and validated; thread counts may at most halve or double.
//! Keys Kafka does not know are stored, as Kafka stores them, and shown without a value.

use super::defs::ConfigType;
use super::kafka::{self, UpdateMode};
use super::validate::split_list;
use crate::error::{BrokerError, BrokerResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "dynamic-broker-configs.json";

/// Thread pools Kafka resizes at run time, refusing more than a halving or doubling at once.
const THREAD_COUNT_KEYS: &[&str] = &[
    "background.threads",
    "num.io.threads",
    "num.network.threads",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
];

/// The two levels of dynamic broker configs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layers {
    /// This broker's own (DYNAMIC_BROKER_CONFIG).
    #[serde(default)]
    pub broker: BTreeMap<String, String>,
    /// The cluster-wide default (DYNAMIC_DEFAULT_BROKER_CONFIG).
    #[serde(default)]
    pub cluster_default: BTreeMap<String, String>,
}

/// Which level a BROKER resource names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `""`.
    ClusterDefault,
    /// This broker's node id.
    ThisBroker,
}

impl Layers {
    pub fn path(log_dir: &Path) -> PathBuf {
        log_dir.join("__runnel_meta").join(FILE_NAME)
    }

    /// Reads the file; a missing file is no dynamic configs, a corrupt one fails start-up.
    pub fn load(log_dir: &Path) -> anyhow::Result<Layers> {
        let path = Layers::path(log_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!("corrupt dynamic config file {}: {e}", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Layers::default()),
            Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        }
    }

    pub fn store(&self, log_dir: &Path) -> std::io::Result<()> {
        let path = Layers::path(log_dir);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::state::topics::write_atomically(&path, &bytes)
    }

    /// The dynamic value of `key`, per broker first.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.broker
            .get(key)
            .or_else(|| self.cluster_default.get(key))
    }

    pub fn level(&self, target: Target) -> &BTreeMap<String, String> {
        match target {
            Target::ThisBroker => &self.broker,
            Target::ClusterDefault => &self.cluster_default,
        }
    }

    /// These layers with `target`'s map replaced.
    pub fn with_level(&self, target: Target, map: BTreeMap<String, String>) -> Layers {
        let mut out = self.clone();
        match target {
            Target::ThisBroker => out.broker = map,
            Target::ClusterDefault => out.cluster_default = map,
        }
        out
    }
}

/// One IncrementalAlterConfigs operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    Set(&'a str),
    Delete,
    Append(&'a str),
    Subtract(&'a str),
}

/// Applies `ops` to one level's map, as Kafka's `ConfigAdminManager.prepareIncrementalConfigs`:
/// APPEND and SUBTRACT start from that level's value or, without one, Kafka's default of the
/// key (not the effective value).
pub fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[(&str, Op<'_>)],
) -> BrokerResult<BTreeMap<String, String>> {
    let mut map = current.clone();
    for &(key, op) in ops {
        match op {
            Op::Set(v) => {
                map.insert(key.to_string(), v.to_string());
            }
            Op::Delete => {
                map.remove(key);
            }
            Op::Append(v) | Op::Subtract(v) => {
                let verb = if matches!(op, Op::Append(_)) {
                    "append"
                } else {
                    "subtract"
                };
                let def = kafka::broker(key)
                    .filter(|d| d.kind == ConfigType::List)
                    .ok_or_else(|| {
                        BrokerError::InvalidConfig(format!(
                            "Config value {verb} is not allowed for config key: {key}"
                        ))
                    })?;
                let old = map
                    .get(key)
                    .map(String::as_str)
                    .or(def.default)
                    .unwrap_or("");
                let mut list: Vec<&str> = split_list(old);
                let given = split_list(v);
                if matches!(op, Op::Append(_)) {
                    list.extend(given);
                } else {
                    list.retain(|i| !given.contains(i));
                }
                let mut seen = std::collections::HashSet::new();
                list.retain(|i| seen.insert(*i));
                map.insert(key.to_string(), list.join(","));
            }
        }
    }
    Ok(map)
}

fn names(keys: &[&str]) -> String {
    format!("[{}]", keys.join(", "))
}

/// Kafka's `DynamicBrokerConfig.validateConfigs` of one level's complete new map.
pub fn validate_level(target: Target, map: &BTreeMap<String, String>) -> BrokerResult<()> {
    let known = |mode: fn(UpdateMode) -> bool| -> Vec<&str> {
        map.keys()
            .map(String::as_str)
            .filter(|k| kafka::broker(k).is_some_and(|d| mode(d.mode)))
            .collect()
    };
    let read_only = known(|m| m == UpdateMode::ReadOnly);
    if !read_only.is_empty() {
        return Err(BrokerError::InvalidRequest(format!(
            "Cannot update these configs dynamically: {}",
            names(&read_only)
        )));
    }
    let security: Vec<&str> = known(|m| m == UpdateMode::PerBroker)
        .into_iter()
        .filter(|k| k.starts_with("ssl.") || k.starts_with("sasl."))
        .collect();
    if !security.is_empty() {
        return Err(BrokerError::InvalidRequest(format!(
            "These security configs can be dynamically updated only per-listener using the listener prefix: {}",
            names(&security)
        )));
    }
    for (k, v) in map {
        kafka::check_broker_value(k, v).map_err(BrokerError::InvalidRequest)?;
    }
    let per_broker = known(|m| m == UpdateMode::PerBroker);
    if target == Target::ClusterDefault && !per_broker.is_empty() {
        return Err(BrokerError::InvalidRequest(format!(
            "Cannot update these configs at default cluster level, broker id must be specified: {}",
            names(&per_broker)
        )));
    }
    Ok(())
}

/// Kafka's `DynamicThreadPool.validateReconfiguration`: a pool may shrink to half or grow to
/// double its current size in one change. `old` and `new` give the effective value of a key.
pub fn check_thread_counts(
    old: &dyn Fn(&str) -> Option<String>,
    new: &dyn Fn(&str) -> Option<String>,
) -> BrokerResult<()> {
    for key in THREAD_COUNT_KEYS {
        let parse = |v: Option<String>| v.and_then(|v| v.trim().parse::<i64>().ok());
        let (Some(was), Some(now)) = (parse(old(key)), parse(new(key))) else {
            continue;
        };
        if was == now {
            continue;
        }
        let why = if now <= 0 {
            "value should be at least 1".to_string()
        } else if now < was / 2 {
            format!("value should be at least half the current value {was}")
        } else if now > was * 2 {
            format!("value should not be greater than double the current value {was}")
        } else {
            continue;
        };
        return Err(BrokerError::InvalidRequest(format!(
            "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count update validation failed for {key}={now}, {why} for configuration Invalid dynamic configuration"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn append_starts_from_kafkas_default_and_subtract_can_empty_a_list() {
        let m = apply_ops(
            &BTreeMap::new(),
            &[("log.cleanup.policy", Op::Append("compact"))],
        )
        .unwrap();
        assert_eq!(m, map(&[("log.cleanup.policy", "delete,compact")]));
        let m = apply_ops(
            &m,
            &[("log.cleanup.policy", Op::Subtract("delete,compact"))],
        )
        .unwrap();
        assert_eq!(m, map(&[("log.cleanup.policy", "")]));
        let e = apply_ops(&m, &[("background.threads", Op::Append("3"))]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Config value append is not allowed for config key: background.threads"
        );
    }

    #[test]
    fn read_only_per_broker_and_security_keys_are_refused_as_kafka_refuses_them() {
        let e = validate_level(Target::ThisBroker, &map(&[("num.partitions", "4")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot update these configs dynamically: [num.partitions]"
        );
        let e = validate_level(
            Target::ClusterDefault,
            &map(&[("listeners", "PLAINTEXT://:1")]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot update these configs at default cluster level, broker id must be specified: [listeners]"
        );
        let e = validate_level(Target::ThisBroker, &map(&[("ssl.key.password", "x")])).unwrap_err();
        assert!(e.to_string().starts_with("These security configs"), "{e}");
        assert!(validate_level(Target::ClusterDefault, &map(&[("no.such.key", "1")])).is_ok());
        let e =
            validate_level(Target::ThisBroker, &map(&[("background.threads", "0")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid value 0 for configuration background.threads: Value must be at least 1"
        );
    }

    #[test]
    fn a_thread_pool_may_at_most_halve_or_double() {
        let old = |_: &str| Some("20".to_string());
        assert!(check_thread_counts(&old, &|_| Some("10".to_string())).is_ok());
        let e = check_thread_counts(&old, &|k| {
            (k == "background.threads").then(|| "5".to_string())
        })
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "background.threads=5, value should be at least half the current value 20"
            ),
            "{e}"
        );
        assert!(check_thread_counts(&old, &|_| Some("41".to_string())).is_err());
    }

    #[test]
    fn layers_survive_a_store_and_load() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Layers::load(dir.path()).unwrap(), Layers::default());
        let l = Layers {
            broker: map(&[("background.threads", "12")]),
            cluster_default: map(&[("log.retention.ms", "1000")]),
        };
        l.store(dir.path()).unwrap();
        assert_eq!(Layers::load(dir.path()).unwrap(), l);
    }
}
