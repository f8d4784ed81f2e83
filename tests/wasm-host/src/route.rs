//! Where Envoy sends a request the filter let through: the routes of `envoy/gateway.yaml`.

use ipfs_s3_common::internal::{OBJECT_PATH, ROUTE_GATEWAY, ROUTE_HEADER, ROUTE_HOST_OBJECT};

use crate::state::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/ipfs/…` with `x-ipfs-s3-route: gateway`: the IPFS gateway (cluster `ipfs_gateway`).
    Gateway,
    /// `/_internal/v1/object/…` with `x-ipfs-s3-route: host-object`: the host's object cache.
    HostObject,
    /// Any other `/_internal…`: Envoy answers 403 itself.
    Forbidden,
    /// Everything else: the host's S3 API (cluster `host_s3`).
    HostS3,
}

pub fn route(headers: &HeaderMap) -> Route {
    let path = headers.get(":path").unwrap_or_default();
    let tag = headers.get(ROUTE_HEADER);
    if path.starts_with("/ipfs/") && tag.as_deref() == Some(ROUTE_GATEWAY) {
        Route::Gateway
    } else if path.starts_with(OBJECT_PATH) && tag.as_deref() == Some(ROUTE_HOST_OBJECT) {
        Route::HostObject
    } else if path.starts_with("/_internal") {
        Route::Forbidden
    } else {
        Route::HostS3
    }
}
