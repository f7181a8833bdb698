//! Configuration with Kafka's key names and defaults (Kafka 4.x Java client), parsed from
//! `key=value` pairs. Every refusal names the key and the value.

use crate::error::{ClientError, Result};
use std::collections::HashMap;
use std::time::Duration;

/// Settings every client shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// `bootstrap.servers`: `host:port` list, comma separated.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig {
            bootstrap_servers: vec!["127.0.0.1:9092".to_string()],
            client_id: "runnel-client".to_string(),
            request_timeout: Duration::from_millis(30_000),
            metadata_max_age: Duration::from_millis(300_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
        }
    }
}

/// `acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    None = 0,
    Leader = 1,
    All = -1,
}

/// `compression.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    pub fn parse(s: &str) -> Option<CompressionType> {
        Some(match s {
            "none" => CompressionType::None,
            "gzip" => CompressionType::Gzip,
            "snappy" => CompressionType::Snappy,
            "lz4" => CompressionType::Lz4,
            "zstd" => CompressionType::Zstd,
            _ => return None,
        })
    }

    /// The attribute bits of a record batch.
    pub fn attribute(self) -> i16 {
        match self {
            CompressionType::None => 0,
            CompressionType::Gzip => 1,
            CompressionType::Snappy => 2,
            CompressionType::Lz4 => 3,
            CompressionType::Zstd => 4,
        }
    }
}

/// `partitioner.class` (by short name): how records without an explicit partition are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionerKind {
    /// Keyed: murmur2(key) % partitions; keyless: uniform sticky (Kafka's default).
    Default,
    /// Every record to the next partition in turn (`RoundRobinPartitioner`).
    RoundRobin,
}

/// `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    None,
}

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadUncommitted = 0,
    ReadCommitted = 1,
}

/// Producer configuration.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub common: CommonConfig,
    /// `acks` (default all).
    pub acks: Acks,
    /// `batch.size` in bytes (default 16384).
    pub batch_size: usize,
    /// `linger.ms` (default 5).
    pub linger: Duration,
    /// `buffer.memory` in bytes (default 32 MiB).
    pub buffer_memory: usize,
    /// `max.block.ms` (default 60000).
    pub max_block: Duration,
    /// `max.in.flight.requests.per.connection` (default 5).
    pub max_in_flight: usize,
    /// `retries` (default i32::MAX).
    pub retries: u32,
    /// `delivery.timeout.ms` (default 120000).
    pub delivery_timeout: Duration,
    /// `compression.type` (default none).
    pub compression: CompressionType,
    /// `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level`.
    pub compression_levels: crate::records::CompressionLevels,
    /// `enable.idempotence` (default true).
    pub enable_idempotence: bool,
    /// `max.request.size` (default 1 MiB).
    pub max_request_size: usize,
    /// `partitioner.class`: `default` or `round_robin` (or Kafka's class names).
    pub partitioner: PartitionerKind,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            common: CommonConfig::default(),
            acks: Acks::All,
            batch_size: 16_384,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_millis(60_000),
            max_in_flight: 5,
            retries: i32::MAX as u32,
            delivery_timeout: Duration::from_millis(120_000),
            compression: CompressionType::None,
            compression_levels: Default::default(),
            enable_idempotence: true,
            max_request_size: 1024 * 1024,
            partitioner: PartitionerKind::Default,
        }
    }
}

/// Consumer configuration.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub common: CommonConfig,
    /// `group.id`.
    pub group_id: Option<String>,
    /// `fetch.min.bytes` (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms` (default 500).
    pub fetch_max_wait: Duration,
    /// `fetch.max.bytes` (default 50 MiB).
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes` (default 1 MiB).
    pub max_partition_fetch_bytes: i32,
    /// `max.poll.records` (default 500).
    pub max_poll_records: usize,
    /// `auto.offset.reset` (default latest).
    pub auto_offset_reset: OffsetReset,
    /// `isolation.level` (default read_uncommitted).
    pub isolation_level: IsolationLevel,
    /// `enable.auto.commit` (default true).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (default 5000).
    pub auto_commit_interval: Duration,
    /// `session.timeout.ms` (default 45000).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3000).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (default 300000); also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// `group.instance.id`: static membership.
    pub group_instance_id: Option<String>,
    /// `partition.assignment.strategy` (default range,cooperative-sticky as in Java).
    pub assignment_strategies: Vec<String>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            common: CommonConfig::default(),
            group_id: None,
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            max_poll_records: 500,
            auto_offset_reset: OffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_millis(5000),
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3000),
            max_poll_interval: Duration::from_millis(300_000),
            group_instance_id: None,
            assignment_strategies: vec!["range".into(), "cooperative-sticky".into()],
        }
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ClientError {
    ClientError::Config {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// The pairs not yet consumed, by key.
struct Pairs(HashMap<String, String>);

impl Pairs {
    fn new(pairs: &[(&str, &str)]) -> Pairs {
        Pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        )
    }

    fn num<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        key: &str,
        min: T,
        max: T,
        target: &mut T,
    ) -> Result<bool> {
        let Some(v) = self.0.remove(key) else {
            return Ok(false);
        };
        let n: T = v
            .parse()
            .map_err(|_| invalid(key, &v, "not a number in range"))?;
        if n < min || n > max {
            return Err(invalid(key, &v, format!("must be between {min} and {max}")));
        }
        *target = n;
        Ok(true)
    }

    fn ms(&mut self, key: &str, min: u64, target: &mut Duration) -> Result<bool> {
        let mut n = target.as_millis() as u64;
        let set = self.num(key, min, i64::MAX as u64, &mut n)?;
        *target = Duration::from_millis(n);
        Ok(set)
    }

    fn boolean(&mut self, key: &str, target: &mut bool) -> Result<bool> {
        let Some(v) = self.0.remove(key) else {
            return Ok(false);
        };
        *target = match v.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(invalid(key, &v, "must be true or false")),
        };
        Ok(true)
    }

    fn choice<T>(
        &mut self,
        key: &str,
        target: &mut T,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<bool> {
        let Some(v) = self.0.remove(key) else {
            return Ok(false);
        };
        *target =
            parse(&v).ok_or_else(|| invalid(key, &v, format!("must be one of {expected}")))?;
        Ok(true)
    }

    fn common(&mut self, c: &mut CommonConfig) -> Result<()> {
        if let Some(v) = self.0.remove("bootstrap.servers") {
            let servers: Vec<String> = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if servers.is_empty() || servers.iter().any(|s| !s.contains(':')) {
                return Err(invalid(
                    "bootstrap.servers",
                    &v,
                    "expected host:port[,host:port]",
                ));
            }
            c.bootstrap_servers = servers;
        }
        if let Some(v) = self.0.remove("client.id") {
            c.client_id = v;
        }
        self.ms("request.timeout.ms", 1, &mut c.request_timeout)?;
        self.ms("metadata.max.age.ms", 0, &mut c.metadata_max_age)?;
        self.ms("retry.backoff.ms", 0, &mut c.retry_backoff)?;
        self.ms("retry.backoff.max.ms", 0, &mut c.retry_backoff_max)?;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self.0.into_iter().next() {
            None => Ok(()),
            Some((k, v)) => Err(invalid(&k, &v, "unknown configuration key")),
        }
    }
}

impl CommonConfig {
    /// Parses `bootstrap.servers`, `client.id`, `request.timeout.ms` and the retry backoffs.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<CommonConfig> {
        let mut p = Pairs::new(pairs);
        let mut c = CommonConfig::default();
        p.common(&mut c)?;
        p.finish()?;
        Ok(c)
    }
}

impl ProducerConfig {
    /// Parses Kafka producer keys; unknown keys and bad values are refused.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<ProducerConfig> {
        let mut p = Pairs::new(pairs);
        let mut c = ProducerConfig::default();
        p.common(&mut c.common)?;
        p.choice(
            "acks",
            &mut c.acks,
            |s| match s {
                "0" => Some(Acks::None),
                "1" => Some(Acks::Leader),
                "all" | "-1" => Some(Acks::All),
                _ => None,
            },
            "0, 1, all, -1",
        )?;
        p.num("batch.size", 0, i32::MAX as usize, &mut c.batch_size)?;
        p.ms("linger.ms", 0, &mut c.linger)?;
        p.num("buffer.memory", 1, usize::MAX, &mut c.buffer_memory)?;
        p.ms("max.block.ms", 0, &mut c.max_block)?;
        let in_flight_set = p.num(
            "max.in.flight.requests.per.connection",
            1,
            usize::MAX,
            &mut c.max_in_flight,
        )?;
        let retries_set = p.num("retries", 0, i32::MAX as u32, &mut c.retries)?;
        let delivery_set = p.ms("delivery.timeout.ms", 0, &mut c.delivery_timeout)?;
        p.choice(
            "compression.type",
            &mut c.compression,
            CompressionType::parse,
            "none, gzip, snappy, lz4, zstd",
        )?;
        p.num(
            "compression.gzip.level",
            -1,
            9,
            &mut c.compression_levels.gzip,
        )?;
        if c.compression_levels.gzip == 0 {
            return Err(invalid(
                "compression.gzip.level",
                "0",
                "must be -1 or between 1 and 9",
            ));
        }
        p.num(
            "compression.lz4.level",
            1,
            17,
            &mut c.compression_levels.lz4,
        )?;
        p.num(
            "compression.zstd.level",
            -131072,
            22,
            &mut c.compression_levels.zstd,
        )?;
        let idem_set = p.boolean("enable.idempotence", &mut c.enable_idempotence)?;
        p.num(
            "max.request.size",
            1,
            i32::MAX as usize,
            &mut c.max_request_size,
        )?;
        p.choice(
            "partitioner.class",
            &mut c.partitioner,
            |s| match s {
                "default" | "murmur2" => Some(PartitionerKind::Default),
                "round_robin" | "org.apache.kafka.clients.producer.RoundRobinPartitioner" => {
                    Some(PartitionerKind::RoundRobin)
                }
                _ => None,
            },
            "default, round_robin",
        )?;
        let remaining = p;
        remaining.finish()?;

        let min_delivery = c.common.request_timeout + c.linger;
        if c.delivery_timeout < min_delivery {
            let v = c.delivery_timeout.as_millis().to_string();
            if delivery_set {
                return Err(invalid(
                    "delivery.timeout.ms",
                    &v,
                    format!(
                        "must be >= request.timeout.ms + linger.ms = {}",
                        min_delivery.as_millis()
                    ),
                ));
            }
            // As the Java client: an unset delivery.timeout.ms follows the other two.
            c.delivery_timeout = min_delivery;
        }
        // Idempotence needs acks=all, retries and at most 5 in flight. Set explicitly, a
        // conflict is an error; left at its default, idempotence is quietly turned off.
        let conflicts: Vec<(&str, String, &str)> = [
            (c.acks != Acks::All).then(|| ("acks", format!("{}", c.acks as i16), "must be all")),
            (c.max_in_flight > 5).then(|| {
                (
                    "max.in.flight.requests.per.connection",
                    c.max_in_flight.to_string(),
                    "must be at most 5",
                )
            }),
            (c.retries == 0).then(|| ("retries", "0".to_string(), "must be above 0")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let _ = (in_flight_set, retries_set);
        if c.enable_idempotence {
            if let Some((k, v, why)) = conflicts.into_iter().next() {
                if idem_set {
                    return Err(invalid(
                        k,
                        &v,
                        format!("{why} when enable.idempotence=true"),
                    ));
                }
                c.enable_idempotence = false;
            }
        }
        Ok(c)
    }
}

impl ConsumerConfig {
    /// Parses Kafka consumer keys; unknown keys and bad values are refused.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<ConsumerConfig> {
        let mut p = Pairs::new(pairs);
        let mut c = ConsumerConfig::default();
        p.common(&mut c.common)?;
        if let Some(v) = p.0.remove("group.instance.id") {
            c.group_instance_id = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = p.0.remove("partition.assignment.strategy") {
            let list: Vec<String> = v
                .split(',')
                .map(|s| {
                    let s = s.trim();
                    // Kafka's class names map to the protocol names.
                    match s.rsplit('.').next().unwrap_or(s) {
                        "RangeAssignor" => "range",
                        "RoundRobinAssignor" => "roundrobin",
                        "StickyAssignor" => "sticky",
                        "CooperativeStickyAssignor" => "cooperative-sticky",
                        _ => s,
                    }
                    .to_string()
                })
                .filter(|s| !s.is_empty())
                .collect();
            if list.is_empty()
                || list
                    .iter()
                    .any(|s| !crate::assignor::STRATEGIES.contains(&s.as_str()))
            {
                return Err(invalid(
                    "partition.assignment.strategy",
                    &v,
                    "must list range, roundrobin, sticky or cooperative-sticky",
                ));
            }
            c.assignment_strategies = list;
        }
        if let Some(v) = p.0.remove("group.id") {
            c.group_id = Some(v).filter(|v| !v.is_empty());
        }
        p.num("fetch.min.bytes", 0, i32::MAX, &mut c.fetch_min_bytes)?;
        p.ms("fetch.max.wait.ms", 0, &mut c.fetch_max_wait)?;
        p.num("fetch.max.bytes", 0, i32::MAX, &mut c.fetch_max_bytes)?;
        p.num(
            "max.partition.fetch.bytes",
            0,
            i32::MAX,
            &mut c.max_partition_fetch_bytes,
        )?;
        p.num(
            "max.poll.records",
            1,
            i32::MAX as usize,
            &mut c.max_poll_records,
        )?;
        p.choice(
            "auto.offset.reset",
            &mut c.auto_offset_reset,
            |s| match s {
                "earliest" => Some(OffsetReset::Earliest),
                "latest" => Some(OffsetReset::Latest),
                "none" => Some(OffsetReset::None),
                _ => None,
            },
            "earliest, latest, none",
        )?;
        p.choice(
            "isolation.level",
            &mut c.isolation_level,
            |s| match s {
                "read_uncommitted" => Some(IsolationLevel::ReadUncommitted),
                "read_committed" => Some(IsolationLevel::ReadCommitted),
                _ => None,
            },
            "read_uncommitted, read_committed",
        )?;
        p.boolean("enable.auto.commit", &mut c.enable_auto_commit)?;
        p.ms("auto.commit.interval.ms", 0, &mut c.auto_commit_interval)?;
        p.ms("session.timeout.ms", 1, &mut c.session_timeout)?;
        p.ms("heartbeat.interval.ms", 1, &mut c.heartbeat_interval)?;
        p.ms("max.poll.interval.ms", 1, &mut c.max_poll_interval)?;
        p.finish()?;
        if c.heartbeat_interval >= c.session_timeout {
            return Err(invalid(
                "heartbeat.interval.ms",
                &c.heartbeat_interval.as_millis().to_string(),
                format!(
                    "must be below session.timeout.ms={}",
                    c.session_timeout.as_millis()
                ),
            ));
        }
        Ok(c)
    }
}
