//! The log filter behind the level knob (`RUST_LOG`, else the `log` setting), with one rule no
//! knob can lift: `s3s` logs at most at `info`. At `debug` it logs the signature it expected when
//! a check fails (a signing oracle for whoever reads the log) and whole requests, presigned URLs
//! with their signatures included (credentials anyone could replay until they expire).

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Whether an event or span may be logged at all: `s3s` only up to `info`. A layer filter of its
/// own rather than a directive, because a more specific directive of the knob
/// (`s3s::ops::signature=debug`, a span filter) would win over a directive.
fn allowed(meta: &Metadata<'_>) -> bool {
    !(meta.target().starts_with("s3s") && *meta.level() > Level::INFO)
}

/// The log subscriber: `rust_log` when set, else `configured`, written to `writer`.
pub fn subscriber<W>(rust_log: Option<&str>, configured: &str, writer: W) -> anyhow::Result<impl Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let levels = match rust_log.filter(|s| !s.trim().is_empty()) {
        Some(spec) => EnvFilter::try_new(spec)?,
        None => EnvFilter::try_new(configured)?,
    };
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_filter(levels).with_filter(filter_fn(allowed));
    Ok(tracing_subscriber::registry().with(layer))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(rust_log: Option<&str>, configured: &str) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = subscriber(rust_log, configured, move || writer.clone()).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "s3s::ops::signature", expected = "c0ffee", "signature mismatch");
            tracing::info!(target: "s3s::service", "s3s info");
            tracing::debug!(target: "ipfs_s3_host::pin", "own debug");
        });
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn no_level_makes_s3s_log_what_it_expected() {
        for (rust_log, configured) in [
            (None, "debug"),
            (None, "trace"),
            (Some("trace"), "info"),
            (Some("s3s=trace,debug"), "info"),
            (Some("s3s::ops::signature=debug,info"), "info"),
            (Some("[call]=trace,info"), "info"),
        ] {
            let out = logged(rust_log, configured);
            assert!(!out.contains("c0ffee"), "{rust_log:?}/{configured}: {out}");
            assert!(out.contains("s3s info"), "{rust_log:?}/{configured}: {out}");
        }
        assert!(logged(None, "debug").contains("own debug"));
    }
}
