//! HTTP Range parsing and resolution (to be written).
