//! The host's S3 operations, natively and in seconds: the real [`Gateway`] behind the real gate
//! and `s3s` service, served on a loopback port and reached over HTTP by requests signed as S3
//! clients sign them. The metadata store is the real embedded store (a file in a temporary
//! directory); the IPFS node and IPFS Cluster are in-process fakes behind the project's own
//! traits ([`fakes`]), so what needs the real Kubo, Cluster, Redis or Envoy stays in the
//! end-to-end suite.
//!
//! [`Gateway`]: ipfs_s3_host::s3::Gateway

mod client;
mod fakes;
mod harness;

mod accounts;
mod body_errors;
mod buckets;
mod encryption;
mod multipart;
mod objects;
mod pin_wait;
