//! Shared parts of the fuzz targets (`fuzz_targets/`): a client that signs requests the way the
//! SDKs do ([`client`], [`wire`]), what a verifier must answer to such a request ([`expect`]),
//! the host's S3 service in front of a recorder ([`host`]), and the checks of a filter decision
//! that more than one target makes ([`checks`]).

pub mod checks;
pub mod client;
pub mod expect;
pub mod host;
pub mod wire;
