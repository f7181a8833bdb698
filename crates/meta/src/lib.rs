//! `runnel-meta`: the metadata quorum of a Runnel cluster (KRaft's role), on openraft.
//!
//! Layout, bottom up:
//! - [`records`], [`partition`], [`image`]: the metadata records (cluster id, topics,
//!   partitions, broker registrations, configs, producer-id blocks), the commands proposed to
//!   change them, and the [`Image`] rebuilt by applying committed commands in log order. Every
//!   command is compare-and-set and is checked again when applied; a refused command leaves
//!   the image unchanged and answers with a typed [`CommandError`]. No I/O here.
//! - [`store`]: Runnel's own durable storage in `metadata.log.dir`, independent of openraft:
//!   append-only segment files with a CRC per entry (fdatasync before an append is
//!   acknowledged, torn-tail recovery, truncation, purge) and small files replaced atomically
//!   (write temp, fsync, rename, fsync directory) for the vote, the purge point and the image
//!   snapshot. Any failed write or sync fails the store closed.
//! - [`transport`]: length-prefixed frames with a maximum size for controller-to-controller
//!   traffic.
//! - [`raft`]: the only module that knows openraft (`=0.9.25`): its storage and network
//!   adapters and [`RaftQuorum`], one quorum node with its controller listener.
//! - [`quorum`]: the openraft-free facade [`MetadataQuorum`] (propose, image, watch, status
//!   for DescribeQuorum, add a learner) that the broker is meant to use.
//! - [`config`]: the settings under Kafka's names (`node.id`, `controller.quorum.voters`,
//!   `metadata.log.dir`, `controller.quorum.election.timeout.ms`,
//!   `controller.quorum.fetch.timeout.ms`, `metadata.log.segment.bytes`).
//!
//! Not yet used by the broker.

pub mod config;
pub mod image;
pub mod partition;
pub mod quorum;
pub mod raft;
pub mod records;
pub mod store;
pub mod transport;

pub use config::{ConfigError, MetaConfig, NodeId};
pub use image::Image;
pub use partition::{PartitionChange, PartitionRecord};
pub use quorum::{CommandOutcome, MetadataQuorum, ProposeError, QuorumStatus, ReplicaStatus};
pub use raft::{RaftQuorum, StartError};
pub use records::{
    Applied, BrokerId, BrokerRegistration, Command, CommandError, ConfigResource, Endpoint,
    ProducerIdBlock, TopicRecord, PRODUCER_ID_BLOCK_SIZE,
};
