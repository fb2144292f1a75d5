//! Builds and installs the tracing subscriber: logs go to stderr (stdout is the report), as text
//! or JSON lines. `RECON_LOG` overrides the filter (`RUST_LOG` syntax); `-v`/`-q` move the default
//! level. Secrets never reach a log line because no layer of the program formats them: they are
//! `SecretString`s and URLs carrying a token are redacted before they are logged.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The default filter for a verbosity: 0 = info, 1 = debug, 2+ = trace, negative = warn/error.
pub(crate) fn default_filter(verbosity: i8) -> &'static str {
    match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "info,dingtalk_reconcile=debug",
        _ => "info,dingtalk_reconcile=trace",
    }
}

/// Installs the global subscriber once. Later calls are ignored (tests may call it repeatedly).
pub fn init(format: LogFormat, verbosity: i8) {
    let filter = std::env::var("RECON_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter(verbosity)));
    let writer = std::io::stderr.with_max_level(tracing::Level::TRACE);
    let result = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_current_span(true)
            .try_init(),
    };
    let _ = result;
}
