//! What each command does. `main.rs` calls [`run`]; everything here returns
//! `anyhow::Result<Outcome>` and leaves the exit code to [`crate::exit`].
//!
//! The commands share one way of doing a reconciliation ([`job::Job::execute`]): take the run
//! lock, call [`crate::reconcile::run_once`], deliver the outbox to the sinks, write the metrics
//! file, release the lock. `run`, `backfill`, daemon ticks and `demo` differ only in the
//! [`crate::reconcile::RunRequest`] they pass.
//!
//! Output discipline: reports go to stdout (or `--output`), everything else to stderr through
//! `tracing` or, for interactive prompts and progress, directly.

mod backfill;
mod clock;
pub mod daemon;
mod demo;
mod inspect;
mod job;

use anyhow::Context;

use crate::cli::{Cli, Command};
use crate::exit::{ExitKind, Outcome};

pub use clock::SharedClock;
pub use job::{Job, JobOptions};

/// Runs the parsed command line to completion on a fresh tokio runtime.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli)).map_err(surface_exit_kind)
}

/// Makes an [`ExitKind`] marker attached with `.context(kind)` decide the exit code.
///
/// [`crate::exit::code_for`] walks the error's chain of causes, where a marker added as context
/// over another error does not appear as itself (only as a context wrapper), so such errors
/// exited 1. anyhow's own downcast sees context at every layer: when it finds a marker that the
/// chain walk misses, the error is rebuilt with the marker as its root cause, keeping the text.
fn surface_exit_kind(error: anyhow::Error) -> anyhow::Error {
    let Some(kind) = error.downcast_ref::<ExitKind>().copied() else {
        return error;
    };
    if crate::exit::code_for(&error) == kind.code() {
        return error;
    }
    let marker = kind.to_string();
    let message = error
        .chain()
        .map(ToString::to_string)
        .filter(|part| *part != marker)
        .collect::<Vec<_>>()
        .join(": ");
    anyhow::Error::new(kind).context(message)
}

async fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    let global = cli.global;
    match cli.command {
        Command::Run(args) => job::nightly(&global, args).await,
        Command::Backfill(args) => backfill::backfill(&global, args).await,
        Command::Plan(args) => backfill::plan(&global, args).await,
        Command::Daemon => daemon::daemon(&global).await,
        Command::Report(args) => inspect::report(&global, args),
        Command::Status(args) => inspect::status(&global, args),
        Command::Explain(args) => inspect::explain(&global, args),
        Command::Sim(args) => {
            crate::sim::run_cli(args, crate::schedule::shutdown_signal()).await?;
            Ok(Outcome::Done)
        }
        Command::Demo(args) => demo::demo(args).await,
    }
}

/// Writes `text` to stdout, ending with a newline; a closed pipe is not an error.
pub(crate) fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                stdout.write_all(b"\n")
            }
        })
        .and_then(|()| stdout.flush());
    match result {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_added_as_context_over_another_error_decides_the_exit_code() {
        let error = anyhow::anyhow!("connection refused")
            .context("the run could not be carried out")
            .context(ExitKind::Unreachable)
            .context("nightly run");
        let error = surface_exit_kind(error);
        assert_eq!(crate::exit::code_for(&error), crate::exit::UNREACHABLE);
        let text = format!("{error:#}");
        assert!(text.contains("nightly run"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
    }

    #[test]
    fn errors_whose_code_is_already_right_are_left_alone() {
        let error = anyhow::Error::new(ExitKind::Locked).context("another run holds the store");
        let text = format!("{error:#}");
        let error = surface_exit_kind(error);
        assert_eq!(crate::exit::code_for(&error), crate::exit::LOCKED);
        assert_eq!(format!("{error:#}"), text);
        let plain = surface_exit_kind(anyhow::anyhow!("boom"));
        assert_eq!(crate::exit::code_for(&plain), crate::exit::FAILED);
    }
}
