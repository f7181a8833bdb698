//! ApiVersions: what this broker speaks. A request at a version newer than supported gets
//! UNSUPPORTED_VERSION with the supported list, encoded as v0 so any client can read it
//! (KIP-511); the client then retries at a version from the list.
//!
//! From v3 the answer also carries the cluster's features (what `kafka-features describe` and
//! `Admin.describeFeatures` show). Runnel names the feature flags of Kafka 4.x that clients and
//! tools read, each at the level it implements: 0 for all of them (classic groups only, no
//! transactions, share or streams groups, no ELR, a static quorum of one). A level-0 feature is
//! not finalized, as in Kafka. `metadata.version` is not advertised: Runnel has no KRaft
//! metadata log whose format it would version.

use super::HandleError;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{ApiVersion, SupportedFeatureKey};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use runnel_protocol::{decode_body, encode_response, versions};

const MAX_VERSION: i16 = 4;

/// (feature, min level, max level) this broker supports.
const FEATURES: &[(&str, i16, i16)] = &[
    ("eligible.leader.replicas.version", 0, 0),
    ("group.version", 0, 0),
    ("kraft.version", 0, 0),
    ("share.version", 0, 0),
    ("streams.version", 0, 0),
    ("transaction.version", 0, 0),
];

/// The features at `version`: v3 clients predate ranges starting at level 0 (KIP-1022), so, as
/// Kafka 4.4 answers them, such features are left out below v4.
fn supported_features(version: i16) -> Vec<SupportedFeatureKey> {
    FEATURES
        .iter()
        .filter(|&&(_, min, _)| version >= 4 || min > 0)
        .map(|&(name, min, max)| {
            let mut f = SupportedFeatureKey::default();
            f.name = super::str_bytes(name);
            f.min_version = min;
            f.max_version = max;
            f
        })
        .collect()
}

pub fn handle(header: &RequestHeader, mut body: Bytes) -> Result<Bytes, HandleError> {
    let version = header.request_api_version;
    let mut response = ApiVersionsResponse::default();
    response.api_keys = versions::SUPPORTED_APIS
        .iter()
        .map(|&(api, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = api as i16;
            v.min_version = min;
            v.max_version = max;
            v
        })
        .collect();
    if !(0..=MAX_VERSION).contains(&version) {
        response.error_code = ResponseError::UnsupportedVersion.code();
        return encode_response(header.correlation_id, 0, &response).map_err(HandleError::Encode);
    }
    // The body (client software name/version at v3+) is informational; it must still decode.
    let _request: ApiVersionsRequest = decode_body(&mut body, version)?;
    response.supported_features = supported_features(version);
    // Nothing is finalized above level 0 and nothing ever changes: epoch 0.
    response.finalized_features_epoch = 0;
    encode_response(header.correlation_id, version, &response).map_err(HandleError::Encode)
}
