//! AWS SigV4 verification (to be written).
