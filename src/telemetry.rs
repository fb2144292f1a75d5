//! Builds and installs the tracing subscriber: logs go to stderr (stdout is the report), as text
//! or JSON lines. `RECON_LOG` overrides the filter (`RUST_LOG` syntax); `-v`/`-q` move the default
//! level. Secrets never reach a log line because no layer of the program formats them: they are
//! `SecretString`s and URLs carrying a token are redacted before they are logged.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Whether stderr carries JSON lines (set by [`init`]): what [`say`] writes follows it.
static JSON_LINES: AtomicBool = AtomicBool::new(false);

/// A line meant for the person (or the log collector) watching stderr — a backfill's chunk
/// lines, a run's closing line —, printed whatever the log level: plain text, or with
/// `--log-format json` one JSON object shaped like the log lines, so stderr stays all JSON.
pub(crate) fn say(line: &str) {
    if JSON_LINES.load(Ordering::Relaxed) {
        let object = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "INFO",
            "fields": { "message": line },
            "target": "dingtalk_reconcile::summary",
        });
        eprintln!("{object}");
    } else {
        eprintln!("{line}");
    }
}

/// Installs the global subscriber once. Later calls are ignored (tests may call it repeatedly).
pub fn init(format: LogFormat, verbosity: i8) {
    let filter = std::env::var("RECON_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter(verbosity)));
    JSON_LINES.store(format == LogFormat::Json, Ordering::Relaxed);
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
