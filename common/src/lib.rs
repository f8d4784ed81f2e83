//! Code that both sides of the gateway need and that compiles for the native host and for
//! `wasm32-wasip1` (the Envoy filter): no I/O, no async, no system clock.
//!
//! - [`account`]: accounts, canned ACLs, and who may do what.
//! - [`record`]: the object record stored per `bucket/key`, and the resolve answer the host gives
//!   the filter.
//! - [`s3error`]: S3 error codes (AWS's and the IPFS ones of the design), their HTTP status, and the
//!   XML error body.
//! - [`error_doc`]: the error answer on the wire (XML or JSON, the compatibility mode, S3's headers).
//! - [`names`]: bucket-name and key rules.
//! - [`range`]: HTTP `Range` parsing and resolution against an object size.
//! - [`sigv4`]: AWS Signature Version 4 verification (header and presigned query).
//! - [`addressing`]: virtual-hosted-style (`<bucket>.<domain>`) or path-style requests.
//! - [`conditional`]: `If-Match`/`If-None-Match`/`If-*-Since` of reads, evaluated as S3 does.
//! - [`internal`]: the contract of the host's internal API that only Envoy calls.
//! - [`modes`]: where each bucket lives (IPFS, the legacy S3 store, or moving between them).

pub mod account;
pub mod addressing;
pub mod conditional;
pub mod error_doc;
pub mod internal;
pub mod modes;
pub mod names;
pub mod range;
pub mod record;
pub mod s3error;
pub mod sigv4;
