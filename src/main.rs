//! The `dingtalk-reconcile` binary: parse, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;
use dingtalk_reconcile::{cli::Cli, commands, exit, telemetry};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                // A bad command line is a configuration error, not a "partial" run (clap's 2).
                ExitCode::from(exit::CONFIG)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    telemetry::init(cli.global.log_format, cli.global.verbosity());
    exit::finish(commands::run(cli))
}
