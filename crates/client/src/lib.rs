//! # runnel-client: a native Kafka client
//!
//! Speaks the Kafka protocol (through the `kafka-protocol` crate) to Runnel or any Kafka
//! broker. Layout, from the wire up:
//!
//! - [`conn`]: one TCP connection: frames, correlation ids, pipelined requests (so a producer
//!   can keep `max.in.flight.requests.per.connection` requests outstanding), ApiVersions
//!   negotiation picking `min(client max, broker max)` per API.
//! - [`cluster`]: connections by broker and the metadata cache (topics, partitions, leaders),
//!   refreshed when stale or when an error says the leader moved.
//! - [`config`]: Kafka's configuration keys and defaults; refusals name the key and value.
//! - [`error`]: [`ClientError`], carrying the Kafka error code when a broker sent one.
//! - [`records`]: the v2 record-batch format, written here (not with
//!   `kafka_protocol::records`) because Kafka headers are a list whose keys may repeat.
//! - [`partitioner`]: murmur2 exactly as the Java client, uniform sticky, round robin, custom.
//! - [`admin`]: topics, partitions, configs, offsets (earliest, latest, by timestamp), cluster
//!   description, consumer groups (list, describe, delete, committed offsets, alter offsets).
//! - [`producer`]: a [`producer::RecordAccumulator`] of per-partition batches and a
//!   background `Sender` task that drains them to partition leaders, with retries,
//!   idempotence and compression. `send` returns a future of [`producer::RecordMetadata`].
//! - [`produce_frame`]: Produce requests written as chunks, so batches go to the socket from
//!   the producer's own buffers in one vectored write.
//! - [`consumer`]: manual assignment or group subscription, `poll` with prefetch (the next
//!   Fetch is sent before `poll` returns), seeks, pause/resume, commits.
//! - [`group`]: group membership for the consumer: FindCoordinator, JoinGroup/SyncGroup,
//!   background heartbeats, `max.poll.interval.ms`, commits, LeaveGroup, static membership,
//!   the [`RebalanceListener`].
//! - [`assignor`]: range, roundrobin, sticky and cooperative-sticky, run by the group leader
//!   client-side as the Java client does, plus the consumer-protocol encodings.
//!
//! Why this shape: it is the Java client's shape (accumulator + sender, metadata cache,
//! per-connection in-flight limit, client-side assignors), so Kafka's settings mean the same
//! thing here and a Runnel member can share a group with Java or librdkafka members.
//!
//! Not implemented: transactions, SASL/TLS.

pub mod admin;
pub mod assignor;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod consumer;
pub mod error;
pub mod group;
pub mod partitioner;
pub mod produce_frame;
pub mod producer;
pub mod records;

pub use admin::{Admin, ConfigEntry, ConfigResource, NewTopic, OffsetSpec};
pub use config::{CommonConfig, ConsumerConfig, ProducerConfig};
pub use consumer::Consumer;
pub use error::{ClientError, Result};
pub use group::RebalanceListener;
pub use producer::{Producer, RecordMetadata};
pub use records::{ConsumerRecord, Header, ProducerRecord};
