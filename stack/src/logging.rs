//! What the tool says goes to stdout as `[stack:<profile>] message` (warnings and errors with
//! their level), filtered by `--log-level` / `IPFS_S3_STACK_LOG`.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct Line {
    prefix: String,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        write!(w, "{} ", self.prefix)?;
        let level = *event.metadata().level();
        if level != Level::INFO {
            write!(w, "{level}: ")?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

pub fn init(profile: &str, level: &str) {
    // Only this tool's own events: its dependencies' (HTTP clients of the probes) stay quiet.
    let filter = EnvFilter::try_new(format!("ipfs_s3_stack={level}")).unwrap_or_else(|_| EnvFilter::new("ipfs_s3_stack=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .event_format(Line { prefix: format!("[stack:{profile}]") })
        .init();
}
