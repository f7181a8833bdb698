//! ApiVersions: what this broker speaks. A request at a version newer than supported gets
//! UNSUPPORTED_VERSION with the supported list, encoded as v0 so any client can read it
//! (KIP-511); the client then retries at a version from the list.

use super::HandleError;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use runnel_protocol::{decode_body, encode_response, versions};

const MAX_VERSION: i16 = 4;

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
    encode_response(header.correlation_id, version, &response).map_err(HandleError::Encode)
}
