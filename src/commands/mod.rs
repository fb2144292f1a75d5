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
#[cfg(feature = "sim")]
mod demo;
mod doctor;
mod init;
mod inspect;
mod job;
mod queue;
mod quota;
mod sink;

use anyhow::Context;

use crate::cli::{Cli, Command, QuotaCommand, SinkCommand};
use crate::exit::Outcome;

pub use clock::SharedClock;
pub use job::Job;

/// Runs the parsed command line to completion on a fresh tokio runtime.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    let global = cli.global;
    // `--config`/`--as-of` given after the command take precedence over those given before it.
    let with =
        |common: &crate::cli::ConfigAsOfArgs| global.clone().with(&common.config, common.as_of);
    match cli.command {
        Command::Run(args) => job::nightly(&with(&args.common), args).await,
        Command::Backfill(args) => backfill::backfill(&with(&args.common), args).await,
        Command::Plan(args) => backfill::plan(&with(&args.common), args).await,
        Command::Daemon(args) => daemon::daemon(&global.clone().with(&args.common, None)).await,
        Command::Report(args) => inspect::report(&with(&args.common), args),
        Command::Status(args) => inspect::status(&with(&args.common), args),
        Command::Explain(args) => inspect::explain(&with(&args.common), args),
        Command::Init(args) => init::init(&args),
        Command::Doctor(args) => doctor::doctor(&with(&args.common), args).await,
        Command::Sink(SinkCommand::Replay(args)) => {
            sink::replay(&global.clone().with(&args.common, None), &args).await
        }
        Command::Sink(SinkCommand::InitDb(args)) => {
            sink::init_db(&global.clone().with(&args.common, None), &args).await
        }
        Command::Quota(QuotaCommand::Resume(args)) => {
            quota::resume(&with(&args.common), &args).await
        }
        #[cfg(feature = "sim")]
        Command::Sim(args) => {
            dingtalk_sim::run_cli(args, crate::schedule::shutdown_signal()).await?;
            Ok(Outcome::Done)
        }
        #[cfg(feature = "sim")]
        Command::Demo(args) => demo::demo(args).await,
        #[cfg(not(feature = "sim"))]
        Command::Sim(_) => Err(without_simulator("sim")),
        #[cfg(not(feature = "sim"))]
        Command::Demo(_) => Err(without_simulator("demo")),
    }
}

/// The error of `sim` and `demo` in a build without the simulator: a configuration error (exit 78)
/// naming the remedy.
#[cfg(not(feature = "sim"))]
fn without_simulator(command: &str) -> anyhow::Error {
    anyhow::Error::new(crate::exit::ExitKind::Config).context(format!(
        "`{command}` needs the DingTalk simulator, which this build leaves out: \
         build with the default features (`cargo build --features sim`)"
    ))
}

/// Opens the store at `path`, the value of `store.path`. A path that cannot hold a store (a
/// missing directory, a directory, a file this user cannot write) is a configuration error
/// naming the key (exit code 78); a store that is not ours, newer or damaged stays a store error.
pub(crate) fn open_store(path: &std::path::Path) -> anyhow::Result<crate::store::Store> {
    match crate::store::Store::open(path) {
        Ok(store) => Ok(store),
        Err(crate::store::Error::Unusable {
            path,
            problem,
            expected,
        }) => Err(crate::config::ConfigError::Unusable {
            key: "store.path".into(),
            value: path.display().to_string(),
            problem,
            expected: expected.into(),
        }
        .into()),
        Err(error) => {
            Err(error).with_context(|| format!("cannot open the store {}", path.display()))
        }
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
