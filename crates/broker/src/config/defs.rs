//! The table of broker configuration keys: Kafka's names, types, defaults and documentation.
//! DescribeConfigs reports from this table, and start-up validates against it.

/// The type of a config value, as DescribeConfigs (v3+) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Password,
    /// A Java class name; Runnel cannot load classes, so these are accepted and have no effect.
    Class,
}

impl ConfigType {
    /// Kafka's `ConfigType` wire code in DescribeConfigs responses.
    pub fn wire_code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }
}

/// One known key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's default, as the string DescribeConfigs shows; `None` is Kafka's `null`.
    pub default: Option<&'static str>,
    /// Whether the key can only be read (Runnel has no dynamic broker configs yet).
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: Option<&'static str>,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        doc,
    }
}

use ConfigType::{Boolean, Double, Int, List, Long, Short};

/// Every broker key Runnel understands. The docs (docs/configuration.md) say what each sizes.
pub const BROKER_CONFIGS: &[ConfigDef] = &[
    def("node.id", Int, Some("1"), "The node id of this broker."),
    def("broker.id", Int, Some("-1"), "Older name for node.id; used when node.id is not set."),
    def("listeners", List, Some("PLAINTEXT://127.0.0.1:9092"), "Listener to bind: PLAINTEXT://host:port."),
    def("advertised.listeners", List, None, "Listener clients are told to use; defaults to listeners."),
    def("log.dirs", List, Some("./runnel-data"), "Directories holding partition logs, comma separated."),
    def("log.dir", List, Some("./runnel-data"), "Single log directory, used when log.dirs is not set."),
    def("message.max.bytes", Int, Some("1048588"), "Largest record batch the broker accepts."),
    def("num.network.threads", Int, Some("3"), "Threads of the async runtime that serve connections."),
    def("num.io.threads", Int, Some("8"), "Threads for blocking disk work (fsync, segment deletion, compaction)."),
    def("background.threads", Int, Some("10"), "Partitions processed concurrently by background tasks."),
    def("queued.max.requests", Int, Some("500"), "Whole requests being processed, across connections; parked requests (long polls, group waits) hold none."),
    def("queued.max.request.bytes", Long, Some("-1"), "Bytes of requests being read or processed, across connections; a body is read only when it fits. -1 = no limit."),
    def("connections.max.idle.ms", Long, Some("600000"), "Close a connection with no request in progress and nothing read for this long; -1 = never."),
    def("max.connections.per.ip", Int, Some("2147483647"), "Connections accepted from one IP address at once; more are closed on accept."),
    def("max.connections.per.ip.overrides", ConfigType::String, Some(""), "Per-host limits overriding max.connections.per.ip: host:count,host2:count."),
    def("socket.send.buffer.bytes", Int, Some("102400"), "SO_SNDBUF of accepted sockets; -1 for the OS default."),
    def("socket.receive.buffer.bytes", Int, Some("102400"), "SO_RCVBUF of accepted sockets; -1 for the OS default."),
    def("socket.request.max.bytes", Int, Some("104857600"), "Largest request frame; a larger one closes the connection."),
    def("max.connections", Int, Some("2147483647"), "Connections accepted at once; more are closed on accept."),
    def("num.partitions", Int, Some("1"), "Partitions of auto-created topics and CreateTopics without a count."),
    def("default.replication.factor", Int, Some("1"), "Replication factor of auto-created topics."),
    def("min.insync.replicas", Int, Some("1"), "Least in-sync replicas an acks=all write needs."),
    def("num.replica.fetchers", Int, Some("1"), "Follower fetcher threads (single node: no followers yet)."),
    def("auto.create.topics.enable", Boolean, Some("true"), "Create unknown topics on Metadata requests."),
    def("delete.topic.enable", Boolean, Some("true"), "Allow DeleteTopics."),
    def("log.flush.interval.messages", Long, Some("9223372036854775807"), "Records per partition between fsyncs."),
    def("log.flush.interval.ms", Long, None, "Longest a record waits in the page cache before fsync; null = use log.flush.scheduler.interval.ms."),
    def("log.flush.scheduler.interval.ms", Long, Some("9223372036854775807"), "How often the flusher checks partitions."),
    def("log.segment.bytes", Int, Some("1073741824"), "Segment size before a roll."),
    def("log.roll.ms", Long, None, "Segment age before a roll; null = log.roll.hours."),
    def("log.roll.hours", Int, Some("168"), "Segment age before a roll, in hours."),
    def("log.retention.ms", Long, None, "How long to keep data; -1 = forever; null = log.retention.minutes."),
    def("log.retention.minutes", Int, None, "How long to keep data, in minutes; null = log.retention.hours."),
    def("log.retention.hours", Int, Some("168"), "How long to keep data, in hours."),
    def("log.retention.bytes", Long, Some("-1"), "Largest partition size before old segments go; -1 = no limit."),
    def("log.retention.check.interval.ms", Long, Some("300000"), "How often retention runs."),
    def("log.cleanup.policy", List, Some("delete"), "delete, compact, or both."),
    def("log.index.interval.bytes", Int, Some("4096"), "Bytes between offset index entries."),
    def("log.cleaner.min.cleanable.ratio", Double, Some("0.5"), "Dirty ratio at which compaction runs."),
    def("log.cleaner.delete.retention.ms", Long, Some("86400000"), "How long compaction keeps tombstones."),
    def("log.cleaner.backoff.ms", Long, Some("15000"), "How often the cleaner looks for work."),
    def("log.cleaner.dedupe.buffer.size", Long, Some("134217728"), "Memory for the compaction key maps, across all cleaner threads."),
    def("log.cleaner.io.buffer.load.factor", Double, Some("0.9"), "How full a compaction key map may become."),
    def("log.cleaner.threads", Int, Some("1"), "Partitions compacted at once."),
    def("log.message.timestamp.type", ConfigType::String, Some("CreateTime"), "CreateTime or LogAppendTime."),
    def("log.message.timestamp.before.max.ms", Long, Some("9223372036854775807"), "Most a CreateTime timestamp may lie in the past; older records are refused with INVALID_TIMESTAMP."),
    def("log.message.timestamp.after.max.ms", Long, Some("3600000"), "Most a CreateTime timestamp may lie in the future; later records are refused with INVALID_TIMESTAMP."),
    def("compression.type", ConfigType::String, Some("producer"), "Only 'producer' (keep the producer's codec) is supported."),
    def("offsets.topic.num.partitions", Int, Some("50"), "Partitions of __consumer_offsets."),
    def("offsets.topic.replication.factor", Short, Some("1"), "Replication factor of __consumer_offsets (single node: 1)."),
    def("offsets.retention.minutes", Int, Some("10080"), "How long committed offsets of an empty group are kept."),
    def("offsets.retention.check.interval.ms", Long, Some("600000"), "How often expired offsets are removed."),
    def("offset.metadata.max.bytes", Int, Some("4096"), "Largest metadata string of an offset commit."),
    def("group.initial.rebalance.delay.ms", Int, Some("3000"), "How long the first rebalance of an empty group waits for more members."),
    def("group.min.session.timeout.ms", Int, Some("6000"), "Smallest session timeout a member may ask for."),
    def("group.max.session.timeout.ms", Int, Some("1800000"), "Largest session timeout a member may ask for."),
    def("group.max.size", Int, Some("2147483647"), "Most members in one consumer group."),
    def("transactional.id.expiration.ms", Int, Some("604800000"), "Unused: transactions are not supported."),
    def("producer.id.expiration.ms", Int, Some("86400000"), "How long idempotent producer state is kept without writes."),
    def("runnel.max.groups", Int, Some("100000"), "Most consumer groups the coordinator holds (Runnel's limit)."),
    def("runnel.max.group.members", Int, Some("100000"), "Most group members and pending member ids over all groups (Runnel's limit)."),
    def("runnel.max.producer.states.per.partition", Int, Some("10000"), "Most idempotent producers remembered per partition; the least recently written is forgotten first (Runnel's limit)."),
    def("runnel.max.partitions", Int, Some("100000"), "Most partitions the broker holds over all topics (Runnel's limit)."),
    def("compression.gzip.level", Int, Some("-1"), "gzip level when the broker recompresses to gzip; -1 = the codec's default."),
    def("compression.lz4.level", Int, Some("9"), "lz4 level when the broker recompresses to lz4."),
    def("compression.zstd.level", Int, Some("3"), "zstd level when the broker recompresses to zstd."),
    def("log.roll.jitter.ms", Long, None, "Most random time subtracted from segment.ms per segment; null = log.roll.jitter.hours."),
    def("log.roll.jitter.hours", Int, Some("0"), "Most random time subtracted from segment.ms per segment, in hours."),
    def("log.index.size.max.bytes", Int, Some("10485760"), "Largest offset/time index of a segment; a full index rolls the segment."),
    def("log.preallocate", Boolean, Some("false"), "Reserve segment.bytes of disk for each new segment."),
    def("log.segment.delete.delay.ms", Long, Some("60000"), "How long a deleted segment's files stay (renamed .deleted) before removal."),
];

pub fn find(name: &str) -> Option<&'static ConfigDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}
