//! # runnel-broker: a Kafka-compatible broker
//!
//! How a request flows (see also docs/architecture.md):
//!
//! 1. [`server`] binds the listener, accepts connections (bounded by `max.connections`) and
//!    starts [`background`] work (retention, flush, compaction).
//! 2. [`connection`] reads one size-prefixed frame at a time (bounded by
//!    `socket.request.max.bytes`, and across connections by `queued.max.request.bytes`), takes a
//!    request slot (`queued.max.requests`, see [`network`]) once the whole request is read, and
//!    hands the frame to [`handlers`]. Handlers that wait (long polls, group joins) give their
//!    slot back while they wait ([`connection::park`]).
//! 3. [`handlers`] splits header from body (`runnel-protocol`), refuses unknown APIs and
//!    versions by closing the connection, decodes the body and calls the module for that API.
//! 4. Handlers work on [`state`]: the topic registry, partitions (log + producer state + high
//!    watermark), and cluster identity. Errors become Kafka codes in [`error`], only there.
//! 5. The response is encoded and written back in request order.
//!
//! [`coordinator`] is the consumer-group coordinator (groups, committed offsets, `__consumer_offsets`).
//!
//! [`config`] holds the broker and topic configuration with Kafka's key names.

pub mod background;
pub mod clock;
pub mod config;
pub mod connection;
pub mod coordinator;
pub mod error;
pub mod handlers;
pub mod network;
mod send_file;
pub mod server;
pub mod state;

pub use config::{BrokerConfig, ConfigSources};
pub use server::{start, BrokerHandle};
