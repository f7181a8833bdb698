//! Broker configuration: Kafka's key names, from a `server.properties` file, `--set key=value`
//! and `RUNNEL_` environment variables (later sources override earlier ones, in that order).
//!
//! Dynamic broker configs stored by an earlier run (see [`dynamic`]) override all three.
//!
//! Every key Kafka defines is accepted (see [`kafka`]); a key neither Kafka nor Runnel knows is a
//! warning; a bad value stops start-up with an error naming key and value (Kafka's message for
//! Kafka's keys).

pub mod defs;
pub mod describe;
pub mod dynamic;
pub mod kafka;
pub mod kafka_defs;
pub mod network;
pub mod topic;
pub mod validate;

use anyhow::{anyhow, bail, Context, Result};
use defs::{ConfigType, BROKER_CONFIGS};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Environment variables with the `RUNNEL_` prefix that are not config keys.
const NON_CONFIG_ENV: &[&str] = &["RUNNEL_BIN", "RUNNEL_BOOTSTRAP"];

/// The validated broker configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Values set explicitly (file, `--set`, env), by key. Everything else is a default.
    pub explicit: BTreeMap<String, String>,
    /// Dynamic broker configs as stored when this broker started; they override `explicit`.
    pub dynamic: dynamic::Layers,
    pub node_id: i32,
    pub listener: SocketAddr,
    /// Host and port clients are told to connect to.
    pub advertised_host: String,
    pub advertised_port: i32,
    pub log_dirs: Vec<PathBuf>,
    pub message_max_bytes: usize,
    pub num_network_threads: usize,
    pub num_io_threads: usize,
    pub background_threads: usize,
    pub queued_max_requests: usize,
    pub socket_send_buffer_bytes: i32,
    pub socket_receive_buffer_bytes: i32,
    pub socket_request_max_bytes: usize,
    pub max_connections: usize,
    /// `queued.max.request.bytes`, `connections.max.idle.ms`, `max.connections.per.ip[.overrides]`.
    pub network: network::NetworkLimits,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub min_insync_replicas: i32,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub log_flush_scheduler_interval_ms: i64,
    pub log_retention_check_interval_ms: i64,
    pub log_cleaner_backoff_ms: i64,
    pub log_cleaner_dedupe_buffer_size: usize,
    pub log_cleaner_io_buffer_load_factor: f64,
    pub log_cleaner_threads: usize,
    pub producer_id_expiration_ms: i64,
    pub offsets_topic_num_partitions: i32,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: i64,
    pub offset_metadata_max_bytes: usize,
    pub group_initial_rebalance_delay_ms: i64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: usize,
    /// `runnel.max.groups`: groups held by the coordinator.
    pub max_groups: usize,
    /// `runnel.max.group.members`: members plus pending member ids, over all groups.
    pub max_group_members: usize,
    /// `runnel.max.producer.states.per.partition`.
    pub max_producer_states_per_partition: usize,
    /// `runnel.max.partitions`: partitions over all topics.
    pub max_partitions: usize,
}

impl BrokerConfig {
    /// Defaults only, except the given `key=value` pairs; handy for tests.
    pub fn with(pairs: &[(&str, &str)]) -> Result<BrokerConfig> {
        let mut sources = ConfigSources::default();
        for (k, v) in pairs {
            sources.set(k, v);
        }
        BrokerConfig::from_sources(sources)
    }

    pub fn from_sources(sources: ConfigSources) -> Result<BrokerConfig> {
        let explicit = sources.values;
        for (key, value) in &explicit {
            if defs::find(key).is_none() && kafka::broker(key).is_none() && !is_topic_key(key) {
                tracing::warn!(key = %key, "unknown configuration key ignored");
            }
            kafka::check_broker_value(key, value).map_err(|e| anyhow!(e))?;
        }
        let dynamic = match static_log_dirs(&explicit).first() {
            Some(dir) => dynamic::Layers::load(dir)?,
            None => dynamic::Layers::default(),
        };
        let lookup = Lookup {
            explicit: &explicit,
            dynamic: &dynamic,
        };
        let node_id = match lookup.raw("node.id") {
            Some(_) => lookup.int("node.id")?,
            None if lookup.int("broker.id")? >= 0 => lookup.int("broker.id")?,
            None => 1,
        };
        let listener_str = lookup.string("listeners")?;
        let listener = parse_listener("listeners", &listener_str)?;
        let (advertised_host, advertised_port) = match lookup.raw("advertised.listeners") {
            Some(v) => {
                let (h, p) = split_listener("advertised.listeners", v)?;
                (h.to_string(), p)
            }
            None => (listener.ip().to_string(), listener.port() as i32),
        };
        let log_dirs_str = log_dirs_setting(&explicit);
        let log_dirs = static_log_dirs(&explicit);
        if log_dirs.is_empty() {
            bail!("invalid value '{log_dirs_str}' for configuration key 'log.dirs': no directory");
        }
        let positive = |key: &str| -> Result<usize> {
            let v = lookup.int(key)?;
            if v < 1 {
                bail!("invalid value '{v}' for configuration key '{key}': must be at least 1");
            }
            Ok(v as usize)
        };
        let socket_request_max_bytes = positive("socket.request.max.bytes")?;
        let network = network::NetworkLimits::new(
            lookup.long("queued.max.request.bytes")?,
            socket_request_max_bytes,
            lookup.long("connections.max.idle.ms")?,
            lookup.int("max.connections.per.ip")?,
            &lookup.string("max.connections.per.ip.overrides")?,
        )?;
        let positive_long = |key: &str| -> Result<usize> {
            let v = lookup.long(key)?;
            if v < 1 {
                bail!("invalid value '{v}' for configuration key '{key}': must be at least 1");
            }
            usize::try_from(v).map_err(|_| bad(key, &v.to_string(), "too large"))
        };
        let config = BrokerConfig {
            node_id: node_id as i32,
            listener,
            advertised_host,
            advertised_port,
            log_dirs,
            message_max_bytes: positive("message.max.bytes")?,
            num_network_threads: positive("num.network.threads")?,
            num_io_threads: positive("num.io.threads")?,
            background_threads: positive("background.threads")?,
            queued_max_requests: positive("queued.max.requests")?,
            socket_send_buffer_bytes: lookup.int("socket.send.buffer.bytes")? as i32,
            socket_receive_buffer_bytes: lookup.int("socket.receive.buffer.bytes")? as i32,
            socket_request_max_bytes,
            max_connections: positive("max.connections")?,
            network,
            num_partitions: positive("num.partitions")? as i32,
            default_replication_factor: positive("default.replication.factor")? as i16,
            min_insync_replicas: positive("min.insync.replicas")? as i32,
            auto_create_topics_enable: lookup.bool("auto.create.topics.enable")?,
            delete_topic_enable: lookup.bool("delete.topic.enable")?,
            log_flush_scheduler_interval_ms: lookup.long("log.flush.scheduler.interval.ms")?,
            log_retention_check_interval_ms: positive("log.retention.check.interval.ms")? as i64,
            log_cleaner_backoff_ms: positive("log.cleaner.backoff.ms")? as i64,
            log_cleaner_dedupe_buffer_size: positive_long("log.cleaner.dedupe.buffer.size")?,
            log_cleaner_io_buffer_load_factor: lookup
                .fraction("log.cleaner.io.buffer.load.factor")?,
            log_cleaner_threads: positive("log.cleaner.threads")?,
            producer_id_expiration_ms: positive("producer.id.expiration.ms")? as i64,
            offsets_topic_num_partitions: positive("offsets.topic.num.partitions")? as i32,
            offsets_retention_ms: positive("offsets.retention.minutes")? as i64 * 60_000,
            offsets_retention_check_interval_ms: positive("offsets.retention.check.interval.ms")?
                as i64,
            offset_metadata_max_bytes: lookup.int("offset.metadata.max.bytes")?.max(0) as usize,
            group_initial_rebalance_delay_ms: lookup
                .int("group.initial.rebalance.delay.ms")?
                .max(0),
            group_min_session_timeout_ms: lookup.int("group.min.session.timeout.ms")? as i32,
            group_max_session_timeout_ms: lookup.int("group.max.session.timeout.ms")? as i32,
            group_max_size: positive("group.max.size")?,
            max_groups: positive("runnel.max.groups")?,
            max_group_members: positive("runnel.max.group.members")?,
            max_producer_states_per_partition: positive(
                "runnel.max.producer.states.per.partition",
            )?,
            max_partitions: positive("runnel.max.partitions")?,
            explicit: explicit.clone(),
            dynamic: dynamic.clone(),
        };
        // Validate every remaining typed key, including the log.* defaults topics inherit.
        for def in BROKER_CONFIGS {
            if let Some(v) = explicit.get(def.name) {
                validate_value(def.name, def.kind, v)?;
            }
        }
        topic::TopicDefaults::from_broker(&config)?;
        let offsets_rf = lookup.int("offsets.topic.replication.factor")?;
        if offsets_rf != 1 {
            bail!(
                "invalid value '{offsets_rf}' for configuration key 'offsets.topic.replication.factor': a single-node broker only supports 1"
            );
        }
        if config.group_min_session_timeout_ms > config.group_max_session_timeout_ms {
            bail!(
                "invalid value '{}' for configuration key 'group.min.session.timeout.ms': above group.max.session.timeout.ms ({})",
                config.group_min_session_timeout_ms,
                config.group_max_session_timeout_ms
            );
        }
        let per_thread_slots = config.log_cleaner_dedupe_buffer_size
            / config.log_cleaner_threads
            / runnel_log::cleaner::offset_map::SLOT_BYTES;
        if per_thread_slots as f64 * config.log_cleaner_io_buffer_load_factor <= 1.0 {
            bail!(
                "invalid value '{}' for configuration key 'log.cleaner.dedupe.buffer.size': too small to hold even one key per cleaner thread (log.cleaner.threads={}), so compaction would never make progress",
                config.log_cleaner_dedupe_buffer_size,
                config.log_cleaner_threads
            );
        }
        if config.default_replication_factor != 1 {
            bail!(
                "invalid value '{}' for configuration key 'default.replication.factor': a single-node broker only supports 1",
                config.default_replication_factor
            );
        }
        Ok(config)
    }

    /// What one compaction's key map may use: `log.cleaner.dedupe.buffer.size` is shared by the
    /// `log.cleaner.threads` compactions that may run at once, as in Kafka.
    pub fn cleaner_budget(&self) -> runnel_log::CleanerBudget {
        runnel_log::CleanerBudget {
            dedupe_buffer_bytes: self.log_cleaner_dedupe_buffer_size / self.log_cleaner_threads,
            load_factor: self.log_cleaner_io_buffer_load_factor,
        }
    }

    /// The value of a broker key when this broker started: dynamic, explicit, or default.
    pub fn value_of(&self, key: &str) -> Option<String> {
        self.dynamic
            .get(key)
            .cloned()
            .or_else(|| self.static_value(key))
    }

    /// The value of a broker key without dynamic configs: explicit or default.
    pub fn static_value(&self, key: &str) -> Option<String> {
        self.explicit
            .get(key)
            .cloned()
            .or_else(|| default_of(key).map(str::to_string))
    }
}

/// The default of a broker key: Runnel's where it implements the key, else Kafka's.
pub fn default_of(key: &str) -> Option<&'static str> {
    match defs::find(key) {
        Some(d) => d.default,
        None => kafka::broker(key).and_then(|d| d.default),
    }
}

/// Topic keys are allowed in the broker's sources, as in Kafka (which ignores them there).
fn is_topic_key(key: &str) -> bool {
    topic::find(key).is_some() || kafka::topic(key).is_some()
}

/// `log.dirs`, or `log.dir` when only that is set, or the default. Read-only keys, so dynamic
/// configs never change them (and the dynamic config file is found through them).
fn log_dirs_setting(explicit: &BTreeMap<String, String>) -> String {
    match (explicit.get("log.dirs"), explicit.get("log.dir")) {
        (Some(d), _) | (None, Some(d)) => d.clone(),
        (None, None) => default_of("log.dirs").unwrap_or_default().to_string(),
    }
}

fn static_log_dirs(explicit: &BTreeMap<String, String>) -> Vec<PathBuf> {
    log_dirs_setting(explicit)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Raw key/value pairs gathered from the sources, later ones overriding.
#[derive(Debug, Default, Clone)]
pub struct ConfigSources {
    values: BTreeMap<String, String>,
}

impl ConfigSources {
    pub fn set(&mut self, key: &str, value: &str) {
        self.values
            .insert(key.trim().to_string(), value.trim().to_string());
    }

    /// Reads a `server.properties`-style file: `key=value` lines, `#`/`!` comments.
    pub fn load_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = line.split_once(['=', ':']).ok_or_else(|| {
                anyhow!(
                    "{}:{}: expected key=value, got '{line}'",
                    path.display(),
                    n + 1
                )
            })?;
            self.set(k, v);
        }
        Ok(())
    }

    /// Parses a `--set key=value` argument.
    pub fn set_arg(&mut self, arg: &str) -> Result<()> {
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| anyhow!("--set expects key=value, got '{arg}'"))?;
        self.set(k, v);
        Ok(())
    }

    /// `RUNNEL_LOG_RETENTION_MS=…` sets `log.retention.ms`.
    pub fn load_env(&mut self, vars: impl Iterator<Item = (String, String)>) {
        for (name, value) in vars {
            if let Some(rest) = name.strip_prefix("RUNNEL_") {
                if NON_CONFIG_ENV.contains(&name.as_str()) {
                    continue;
                }
                self.set(&rest.to_ascii_lowercase().replace('_', "."), &value);
            }
        }
    }
}

struct Lookup<'a> {
    explicit: &'a BTreeMap<String, String>,
    dynamic: &'a dynamic::Layers,
}

impl Lookup<'_> {
    fn raw(&self, key: &str) -> Option<&str> {
        self.dynamic
            .get(key)
            .or_else(|| self.explicit.get(key))
            .map(|v| v.trim())
    }
    fn string(&self, key: &str) -> Result<String> {
        self.raw(key)
            .or_else(|| default_of(key))
            .map(str::to_string)
            .ok_or_else(|| anyhow!("configuration key '{key}' has no value"))
    }
    fn long(&self, key: &str) -> Result<i64> {
        let s = self.string(key)?;
        s.parse::<i64>()
            .map_err(|_| bad(key, &s, "expected an integer"))
    }
    fn int(&self, key: &str) -> Result<i64> {
        let v = self.long(key)?;
        if v < i32::MIN as i64 || v > i32::MAX as i64 {
            return Err(bad(
                key,
                &v.to_string(),
                "out of range for a 32-bit integer",
            ));
        }
        Ok(v)
    }
    /// A number in (0, 1].
    fn fraction(&self, key: &str) -> Result<f64> {
        let s = self.string(key)?;
        match s.parse::<f64>() {
            Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
            _ => Err(bad(key, &s, "expected a number above 0 and at most 1")),
        }
    }
    fn bool(&self, key: &str) -> Result<bool> {
        let s = self.string(key)?;
        parse_bool(&s).ok_or_else(|| bad(key, &s, "expected true or false"))
    }
}

pub(crate) fn bad(key: &str, value: &str, why: &str) -> anyhow::Error {
    anyhow!("invalid value '{value}' for configuration key '{key}': {why}")
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Checks that `value` parses as `kind`.
pub(crate) fn validate_value(key: &str, kind: ConfigType, value: &str) -> Result<()> {
    let ok = match kind {
        ConfigType::Boolean => parse_bool(value).is_some(),
        ConfigType::Int => value.parse::<i32>().is_ok(),
        ConfigType::Short => value.parse::<i16>().is_ok(),
        ConfigType::Long => value.parse::<i64>().is_ok(),
        ConfigType::Double => value.parse::<f64>().is_ok_and(f64::is_finite),
        ConfigType::String | ConfigType::List | ConfigType::Password | ConfigType::Class => true,
    };
    if ok {
        Ok(())
    } else {
        Err(bad(
            key,
            value,
            &format!("expected {kind:?}").to_lowercase(),
        ))
    }
}

fn split_listener<'a>(key: &str, value: &'a str) -> Result<(&'a str, i32)> {
    let first = value.split(',').next().unwrap_or("").trim();
    let rest = match first.split_once("://") {
        Some((proto, rest)) if proto.eq_ignore_ascii_case("PLAINTEXT") => rest,
        Some(_) => return Err(bad(key, value, "only PLAINTEXT listeners are supported")),
        None => first,
    };
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad(key, value, "expected host:port"))?;
    let port: u16 = port.parse().map_err(|_| bad(key, value, "bad port"))?;
    Ok((
        host.trim_start_matches('[').trim_end_matches(']'),
        port as i32,
    ))
}

fn parse_listener(key: &str, value: &str) -> Result<SocketAddr> {
    let (host, port) = split_listener(key, value)?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{port}")
        .parse::<SocketAddr>()
        .or_else(|_| format!("[{host}]:{port}").parse::<SocketAddr>())
        .map_err(|_| bad(key, value, "host must be an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = BrokerConfig::with(&[]).unwrap();
        assert_eq!(c.message_max_bytes, 1048588);
        assert_eq!(c.queued_max_requests, 500);
        assert_eq!(c.socket_request_max_bytes, 104857600);
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.listener.to_string(), "127.0.0.1:9092");
        assert!(c.auto_create_topics_enable);
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_value() {
        let err = BrokerConfig::with(&[("num.partitions", "many")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("num.partitions") && err.contains("many"),
            "{err}"
        );
        let err = BrokerConfig::with(&[("log.retention.ms", "soon")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("log.retention.ms") && err.contains("soon"),
            "{err}"
        );
        let err = BrokerConfig::with(&[("auto.create.topics.enable", "yes")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auto.create.topics.enable") && err.contains("yes"),
            "{err}"
        );
    }

    #[test]
    fn a_dedupe_buffer_too_small_for_one_key_per_cleaner_thread_stops_start_up() {
        let err = BrokerConfig::with(&[
            ("log.cleaner.dedupe.buffer.size", "48"),
            ("log.cleaner.threads", "2"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("log.cleaner.dedupe.buffer.size") && err.contains("48"),
            "{err}"
        );
        let err = BrokerConfig::with(&[("log.cleaner.io.buffer.load.factor", "1.5")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.cleaner.io.buffer.load.factor"), "{err}");
        let ok = BrokerConfig::with(&[("log.cleaner.threads", "2")]).unwrap();
        assert_eq!(ok.cleaner_budget().dedupe_buffer_bytes, 64 * 1024 * 1024);
    }

    #[test]
    fn an_unknown_key_is_accepted_with_a_warning() {
        assert!(BrokerConfig::with(&[("no.such.key", "1")]).is_ok());
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.properties");
        std::fs::write(
            &file,
            "# comment\nnum.partitions=3\nmessage.max.bytes=2000\n",
        )
        .unwrap();
        let mut s = ConfigSources::default();
        s.load_file(&file).unwrap();
        s.set_arg("num.partitions=4").unwrap();
        s.load_env([("RUNNEL_MESSAGE_MAX_BYTES".to_string(), "3000".to_string())].into_iter());
        let c = BrokerConfig::from_sources(s).unwrap();
        assert_eq!(c.num_partitions, 4);
        assert_eq!(c.message_max_bytes, 3000);
    }

    #[test]
    fn listeners_and_advertised_listeners_parse() {
        let c = BrokerConfig::with(&[
            ("listeners", "PLAINTEXT://127.0.0.5:1234"),
            ("advertised.listeners", "PLAINTEXT://broker.example:9000"),
        ])
        .unwrap();
        assert_eq!(c.listener.to_string(), "127.0.0.5:1234");
        assert_eq!(
            (c.advertised_host.as_str(), c.advertised_port),
            ("broker.example", 9000)
        );
    }
}

#[cfg(test)]
mod docs_tests {
    /// docs/configuration.md must list every key Runnel accepts.
    #[test]
    fn every_config_key_is_documented() {
        let doc = include_str!("../../../../docs/configuration.md");
        for d in super::defs::BROKER_CONFIGS {
            assert!(
                doc.contains(&format!("`{}`", d.name)),
                "docs/configuration.md lacks `{}`",
                d.name
            );
        }
        for d in super::topic::TOPIC_CONFIGS {
            assert!(
                doc.contains(&format!("`{}`", d.name)),
                "docs/configuration.md lacks `{}`",
                d.name
            );
        }
    }

    /// The generated section lists exactly the Kafka keys Runnel accepts without acting on
    /// them; after adding a key to defs.rs or topic.rs, run
    /// `scripts/gen-kafka-configs.py --render-only`.
    #[test]
    fn every_kafka_key_without_effect_is_listed_as_such() {
        let doc = include_str!("../../../../docs/configuration.md");
        let section = doc
            .split("<!-- BEGIN GENERATED")
            .nth(1)
            .and_then(|s| s.split("<!-- END GENERATED -->").next())
            .expect("docs/configuration.md has the generated section");
        let (broker, topic) = section
            .split_once("### Topic keys with no effect yet")
            .expect("the generated section has its topic part");
        let row = |name: &str| format!("| `{name}`");
        for d in super::kafka_defs::KAFKA_BROKER_CONFIGS {
            let implemented = super::defs::find(d.name).is_some();
            assert_eq!(
                broker.contains(&row(d.name)),
                !implemented,
                "broker key {} (implemented: {implemented}): rerun scripts/gen-kafka-configs.py --render-only",
                d.name
            );
        }
        for d in super::kafka_defs::KAFKA_TOPIC_CONFIGS {
            let implemented = super::topic::find(d.name).is_some();
            assert_eq!(
                topic.contains(&row(d.name)),
                !implemented,
                "topic key {} (implemented: {implemented}): rerun scripts/gen-kafka-configs.py --render-only",
                d.name
            );
        }
    }
}
