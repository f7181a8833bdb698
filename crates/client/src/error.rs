//! The client's one error type.

use kafka_protocol::ResponseError;

/// Everything that can go wrong in the client. Errors a broker returned carry the Kafka error
/// code ([`ClientError::code`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// A configuration key has a value the client refuses; names the key and the value.
    #[error("invalid configuration {key}={value:?}: {reason}")]
    Config {
        key: String,
        value: String,
        reason: String,
    },
    /// No broker could be reached.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The connection closed while a request was outstanding.
    #[error("connection to {addr} closed")]
    Disconnected { addr: String },
    /// No response within `request.timeout.ms`.
    #[error("request {api} to {addr} timed out after {timeout_ms} ms (request.timeout.ms)")]
    RequestTimeout {
        api: String,
        addr: String,
        timeout_ms: u64,
    },
    /// The broker answered with a Kafka error code.
    #[error("{name} (Kafka error code {code}){}", .message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        code: i16,
        name: String,
        message: Option<String>,
    },
    /// No API version both sides support.
    #[error("the broker supports no version of {api} this client can speak")]
    UnsupportedApi { api: String },
    /// Bytes that do not decode, or a response that does not match its request.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// `send` waited `max.block.ms` for room in `buffer.memory`.
    #[error("buffer.memory={buffer_memory} is full: no room for a {size}-byte record after waiting max.block.ms={max_block_ms}")]
    BufferExhausted {
        buffer_memory: usize,
        size: usize,
        max_block_ms: u64,
    },
    /// `max.block.ms` elapsed waiting for metadata of a topic.
    #[error("topic {topic} not present in metadata after max.block.ms={max_block_ms}")]
    MetadataTimeout { topic: String, max_block_ms: u64 },
    /// A record was not acknowledged within `delivery.timeout.ms`.
    #[error("record for {topic}-{partition} expired: not acknowledged within delivery.timeout.ms={delivery_timeout_ms}{}", .last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    DeliveryTimeout {
        topic: String,
        partition: i32,
        delivery_timeout_ms: u64,
        last_error: Option<String>,
    },
    /// A record larger than `max.request.size` or `buffer.memory`.
    #[error("record of {size} bytes is larger than {key}={limit}")]
    RecordTooLarge {
        size: usize,
        key: &'static str,
        limit: usize,
    },
    /// The producer or consumer was closed.
    #[error("the client is closed")]
    Closed,
    /// A partition that is neither assigned nor known.
    #[error("{0}")]
    State(String),
}

impl ClientError {
    /// An error for a non-zero Kafka error code.
    pub fn kafka(code: i16, message: Option<String>) -> ClientError {
        let name = match ResponseError::try_from_code(code) {
            Some(e) => format!("{e:?}"),
            None => "UNKNOWN".to_string(),
        };
        ClientError::Kafka {
            code,
            name,
            message: message.filter(|m| !m.is_empty()),
        }
    }

    /// `Ok(())` for code 0, the error otherwise.
    pub fn check(code: i16, message: Option<&str>) -> Result<()> {
        if code == 0 {
            Ok(())
        } else {
            Err(ClientError::kafka(code, message.map(str::to_string)))
        }
    }

    /// The Kafka error code, when a broker returned one.
    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => {
                ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable())
            }
            ClientError::Connect { .. }
            | ClientError::Disconnected { .. }
            | ClientError::RequestTimeout { .. } => true,
            _ => false,
        }
    }

    /// Whether the error means the client's metadata is stale (leader moved, topic changed).
    pub fn needs_metadata_refresh(&self) -> bool {
        matches!(self.code(), Some(3 | 5 | 6 | 74 | 76 | 100))
            || matches!(
                self,
                ClientError::Connect { .. } | ClientError::Disconnected { .. }
            )
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
