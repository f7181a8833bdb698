//! Internal errors, and the one place they become Kafka error codes.
//!
//! Handlers return [`BrokerError`] from their inner steps and call [`BrokerError::code`] at the
//! edge, so the mapping onto the wire lives here and nowhere else.

use kafka_protocol::error::ResponseError;
use runnel_log::batch::BatchError;
use runnel_log::validate::ValidationError;
use runnel_log::LogError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("unknown topic id")]
    UnknownTopicId,
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    #[error("Topic '{0}' already exists.")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    UnsupportedEndpointType(String),
    #[error("{0}")]
    MismatchedEndpointType(String),
    #[error("{0}")]
    PolicyViolation(String),
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    TopicDeletionDisabled,
    #[error("invalid required acks {0}: expected -1, 0 or 1")]
    InvalidRequiredAcks(i16),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("out-of-order sequence number: {0}")]
    OutOfOrderSequence(String),
    #[error("producer epoch {got} is older than the current epoch {current}")]
    InvalidProducerEpoch { got: i16, current: i16 },
    #[error("transactions are not supported")]
    TransactionsUnsupported,
    #[error("not enough replicas: {in_sync} in sync, min.insync.replicas={required}")]
    NotEnoughReplicas { in_sync: i32, required: i32 },
    #[error("offset {0} out of range")]
    OffsetOutOfRange(i64),
    #[error("leader epoch {got} is newer than this broker's {current}")]
    UnknownLeaderEpoch { got: i32, current: i32 },
    #[error("leader epoch {got} is older than this broker's {current}")]
    FencedLeaderEpoch { got: i32, current: i32 },
    #[error("the group coordinator is still loading __consumer_offsets")]
    CoordinatorLoadInProgress,
    #[error("the group coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("this broker does not coordinate the group (its __consumer_offsets partition failed to load)")]
    NotCoordinator,
    #[error("invalid group id")]
    InvalidGroupId,
    #[error("unknown member id")]
    UnknownMemberId,
    #[error("illegal generation {got}: the group is at generation {current}")]
    IllegalGeneration { got: i32, current: i32 },
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    #[error("no protocol in common with the group")]
    InconsistentGroupProtocol,
    #[error("a member id is required: rejoin with {0}")]
    MemberIdRequired(String),
    #[error("session timeout {0} ms is outside the broker's bounds")]
    InvalidSessionTimeout(i32),
    #[error("the group has reached group.max.size")]
    GroupMaxSizeReached,
    #[error("group.instance.id is in use by another member")]
    FencedInstanceId,
    #[error("the group has members")]
    NonEmptyGroup,
    #[error("group not found")]
    GroupIdNotFound,
    #[error("the group is subscribed to this topic")]
    GroupSubscribedToTopic,
    #[error("offset metadata of {0} bytes is over offset.metadata.max.bytes")]
    OffsetMetadataTooLarge(usize),
    #[error("unsupported coordinator key type {0}")]
    UnsupportedCoordinatorKeyType(i8),
    #[error("{0}")]
    InvalidTopicAppend(String),
    /// A field value the request's version does not allow (e.g. a ListOffsets timestamp code
    /// newer than the version).
    #[error("{0}")]
    UnsupportedVersion(String),
    /// A request field Kafka fails on with an unexpected exception (an unknown isolation level).
    #[error("{0}")]
    UnknownServerError(String),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl BrokerError {
    /// The Kafka error code a client expects for this error.
    pub fn code(&self) -> ResponseError {
        use BrokerError::*;
        match self {
            UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            UnknownTopicId => ResponseError::UnknownTopicId,
            InvalidTopic(_) => ResponseError::InvalidTopicException,
            TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
            InvalidPartitions(_) => ResponseError::InvalidPartitions,
            InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            InvalidConfig(_) => ResponseError::InvalidConfig,
            InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
            UnsupportedEndpointType(_) => ResponseError::UnsupportedEndpointType,
            MismatchedEndpointType(_) => ResponseError::MismatchedEndpointType,
            PolicyViolation(_) => ResponseError::PolicyViolation,
            TopicDeletionDisabled => ResponseError::TopicDeletionDisabled,
            InvalidRequiredAcks(_) => ResponseError::InvalidRequiredAcks,
            InvalidRequest(_) => ResponseError::InvalidRequest,
            OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
            InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            TransactionsUnsupported => ResponseError::TransactionalIdAuthorizationFailed,
            NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
            OffsetOutOfRange(_) => ResponseError::OffsetOutOfRange,
            UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
            FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
            CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
            CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            NotCoordinator => ResponseError::NotCoordinator,
            InvalidGroupId => ResponseError::InvalidGroupId,
            UnknownMemberId => ResponseError::UnknownMemberId,
            IllegalGeneration { .. } => ResponseError::IllegalGeneration,
            RebalanceInProgress => ResponseError::RebalanceInProgress,
            InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
            MemberIdRequired(_) => ResponseError::MemberIdRequired,
            InvalidSessionTimeout(_) => ResponseError::InvalidSessionTimeout,
            GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
            FencedInstanceId => ResponseError::FencedInstanceId,
            NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupIdNotFound => ResponseError::GroupIdNotFound,
            GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
            OffsetMetadataTooLarge(_) => ResponseError::OffsetMetadataTooLarge,
            UnsupportedCoordinatorKeyType(_) => ResponseError::InvalidRequest,
            InvalidTopicAppend(_) => ResponseError::InvalidTopicException,
            UnsupportedVersion(_) => ResponseError::UnsupportedVersion,
            UnknownServerError(_) => ResponseError::UnknownServerError,
            Validation(v) => match v {
                ValidationError::TooLarge(_) => ResponseError::MessageTooLarge,
                ValidationError::Corrupt(_) => ResponseError::CorruptMessage,
                ValidationError::InvalidRecord { .. } => ResponseError::InvalidRecord,
                ValidationError::InvalidTimestamp { .. } => ResponseError::InvalidTimestamp,
            },
            Log(LogError::Batch(b)) => match b {
                BatchError::CrcMismatch { .. } | BatchError::Truncated { .. } => {
                    ResponseError::CorruptMessage
                }
                BatchError::UnsupportedMagic { .. } => ResponseError::UnsupportedForMessageFormat,
                BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
                BatchError::Invalid { .. } => ResponseError::InvalidRecord,
            },
            Log(LogError::OffsetOutOfRange { .. }) => ResponseError::OffsetOutOfRange,
            Log(LogError::Io(_)) => ResponseError::KafkaStorageError,
        }
    }

    /// The error code as the `i16` response fields carry it.
    pub fn wire_code(&self) -> i16 {
        self.code().code()
    }
}

/// `Result` with a [`BrokerError`].
pub type BrokerResult<T> = Result<T, BrokerError>;
