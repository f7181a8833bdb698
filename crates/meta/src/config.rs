//! Settings of the metadata quorum, under Kafka's names.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A node id in the quorum (Kafka's `node.id`, a non-negative int).
pub type NodeId = u64;

pub const NODE_ID: &str = "node.id";
pub const CONTROLLER_QUORUM_VOTERS: &str = "controller.quorum.voters";
pub const METADATA_LOG_DIR: &str = "metadata.log.dir";
pub const CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS: &str = "controller.quorum.election.timeout.ms";
pub const CONTROLLER_QUORUM_FETCH_TIMEOUT_MS: &str = "controller.quorum.fetch.timeout.ms";
pub const METADATA_LOG_SEGMENT_BYTES: &str = "metadata.log.segment.bytes";

/// A setting that does not parse, named with its key and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for configuration {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaConfig {
    pub node_id: NodeId,
    /// `controller.quorum.voters`: id -> `host:port` of its controller listener. The address
    /// used to reach a peer is always taken from here (not from the replicated membership), so
    /// each node may reach a peer its own way.
    pub voters: BTreeMap<NodeId, String>,
    pub log_dir: PathBuf,
    /// Kafka's default 1000: the lower bound of openraft's randomized election timeout.
    pub election_timeout_ms: u64,
    /// Kafka's default 2000: how long a follower waits without hearing from the leader at
    /// most; openraft's election timeout is drawn from [election, fetch).
    pub fetch_timeout_ms: u64,
    /// Kafka's default 1 GiB; a new segment starts past this size.
    pub segment_size_bytes: u64,
    /// Not a Kafka key: a snapshot of the image every this many applied entries (Kafka counts
    /// bytes with `metadata.log.max.record.bytes.between.snapshots`).
    pub snapshot_interval_entries: u64,
    /// Not a Kafka key (Kafka's forwarding uses `request.timeout.ms`, 30000): how long a
    /// proposal waits for a leader and a commit before answering with a timeout.
    pub propose_timeout_ms: u64,
    /// Where an observer (a node not in the voters) listens; voters listen on their entry.
    pub listener: Option<String>,
}

impl MetaConfig {
    /// Kafka's defaults for everything but the three required settings.
    pub fn new(node_id: NodeId, voters: BTreeMap<NodeId, String>, log_dir: PathBuf) -> Self {
        MetaConfig {
            node_id,
            voters,
            log_dir,
            election_timeout_ms: 1000,
            fetch_timeout_ms: 2000,
            segment_size_bytes: 1 << 30,
            snapshot_interval_entries: 1000,
            propose_timeout_ms: 30_000,
            listener: None,
        }
    }

    /// Parses Kafka-style properties; unknown keys are ignored (the broker owns them).
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let required = |key: &str| props.get(key).ok_or_else(|| invalid(key, "", "required"));
        let node_id_value = required(NODE_ID)?;
        let node_id = parse_node_id(NODE_ID, node_id_value)?;
        let voters = parse_voters(required(CONTROLLER_QUORUM_VOTERS)?)?;
        let log_dir = required(METADATA_LOG_DIR)?;
        if log_dir.is_empty() {
            return Err(invalid(METADATA_LOG_DIR, log_dir, "must not be empty"));
        }
        let mut config = MetaConfig::new(node_id, voters, PathBuf::from(log_dir));
        let number = |key: &str, default: u64, min: u64| -> Result<u64, ConfigError> {
            match props.get(key) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n >= min => Ok(n),
                    Ok(_) => Err(invalid(key, v, format!("must be at least {min}"))),
                    Err(e) => Err(invalid(key, v, e.to_string())),
                },
            }
        };
        config.election_timeout_ms = number(CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS, 1000, 1)?;
        config.fetch_timeout_ms = number(CONTROLLER_QUORUM_FETCH_TIMEOUT_MS, 2000, 1)?;
        config.segment_size_bytes = number(METADATA_LOG_SEGMENT_BYTES, 1 << 30, 1)?;
        if config.fetch_timeout_ms <= config.election_timeout_ms {
            let value = config.fetch_timeout_ms.to_string();
            return Err(invalid(
                CONTROLLER_QUORUM_FETCH_TIMEOUT_MS,
                &value,
                format!(
                    "must be above {CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS} ({})",
                    config.election_timeout_ms
                ),
            ));
        }
        Ok(config)
    }

    /// The address this node's controller listener binds.
    pub fn listen_address(&self) -> Option<&str> {
        self.voters
            .get(&self.node_id)
            .map(String::as_str)
            .or(self.listener.as_deref())
    }
}

fn parse_node_id(key: &str, value: &str) -> Result<NodeId, ConfigError> {
    match value.trim().parse::<i32>() {
        Ok(id) if id >= 0 => Ok(id as NodeId),
        Ok(_) => Err(invalid(key, value, "must not be negative")),
        Err(e) => Err(invalid(key, value, e.to_string())),
    }
}

/// Parses `id@host:port,...` (Kafka's `controller.quorum.voters`).
pub fn parse_voters(value: &str) -> Result<BTreeMap<NodeId, String>, ConfigError> {
    let key = CONTROLLER_QUORUM_VOTERS;
    let mut voters = BTreeMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, address) = item
            .split_once('@')
            .ok_or_else(|| invalid(key, value, format!("{item:?} is not id@host:port")))?;
        let id = parse_node_id(key, id)
            .map_err(|e| invalid(key, value, format!("{item:?}: {}", e.reason)))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid(key, value, format!("{item:?} has no port")))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(invalid(key, value, format!("{item:?} is not id@host:port")));
        }
        if voters.insert(id, address.to_string()).is_some() {
            return Err(invalid(key, value, format!("voter {id} is listed twice")));
        }
    }
    if voters.is_empty() {
        return Err(invalid(key, value, "no voters"));
    }
    Ok(voters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_parse_and_errors_name_key_and_value() {
        let voters = parse_voters("1@127.0.0.1:9093, 2@localhost:9094").unwrap();
        assert_eq!(voters.get(&1).map(String::as_str), Some("127.0.0.1:9093"));
        assert_eq!(voters.get(&2).map(String::as_str), Some("localhost:9094"));
        let err = parse_voters("1@host").unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.value.as_str()),
            (CONTROLLER_QUORUM_VOTERS, "1@host")
        );
        assert!(
            err.to_string().contains("controller.quorum.voters")
                && err.to_string().contains("1@host"),
            "{err}"
        );
        assert!(parse_voters("x@h:1").is_err());
        assert!(parse_voters("1@h:1,1@h:2").is_err());
    }

    #[test]
    fn properties_take_kafka_defaults_and_refuse_bad_timeouts() {
        let mut props: BTreeMap<String, String> = [
            (NODE_ID, "1"),
            (CONTROLLER_QUORUM_VOTERS, "1@127.0.0.1:9093"),
            (METADATA_LOG_DIR, "/tmp/m"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = MetaConfig::from_properties(&props).unwrap();
        assert_eq!(
            (config.election_timeout_ms, config.fetch_timeout_ms),
            (1000, 2000)
        );
        props.insert(CONTROLLER_QUORUM_FETCH_TIMEOUT_MS.into(), "500".into());
        let err = MetaConfig::from_properties(&props).unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.value.as_str()),
            (CONTROLLER_QUORUM_FETCH_TIMEOUT_MS, "500")
        );
        props.insert(NODE_ID.into(), "-1".into());
        assert_eq!(
            MetaConfig::from_properties(&props).unwrap_err().key,
            NODE_ID
        );
    }
}
