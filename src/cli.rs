//! The command line (PRODUCT.md section 6): clap types only. What each command does lives in
//! [`crate::commands`]; `main.rs` parses, calls [`Cli::run`] and maps the result to an exit code.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};

use crate::report::{Lang, ReportFormat};
use crate::telemetry::LogFormat;

/// Where the configuration is read from (and `init` writes it) unless `--config` says otherwise.
pub(crate) const DEFAULT_CONFIG: &str = "dingtalk-reconcile.toml";

/// Keeps an attendance ledger in step with DingTalk 补卡 approvals, inside the monthly API quota.
#[derive(Debug, Parser)]
#[command(name = "dingtalk-reconcile", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags given before the command. `--config` and `--as-of` are also accepted after the commands
/// that use them (and offered only in those commands' help); the log flags go anywhere.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration file (also accepted after the command).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub(crate) config: PathBuf,
    /// Evaluate as if now were this instant (RFC 3339), for replays and tests (also accepted after
    /// the commands that use it; not with `daemon`).
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    pub(crate) as_of: Option<DateTime<Utc>>,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Less log output (repeat for less).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub(crate) quiet: u8,
}

/// `--config` after a command that reads the configuration.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ConfigArg {
    /// Configuration file [default: dingtalk-reconcile.toml].
    #[arg(long = "config", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// `--config` and `--as-of` after a command that reads the configuration and the clock.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ConfigAsOfArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Evaluate as if now were this instant (RFC 3339), for replays and tests.
    #[arg(long = "as-of", value_name = "RFC3339", value_parser = parse_instant)]
    pub(crate) as_of: Option<DateTime<Utc>>,
}

impl GlobalArgs {
    /// The global flags with what was given after the command taking precedence.
    pub(crate) fn with(mut self, config: &ConfigArg, as_of: Option<DateTime<Utc>>) -> GlobalArgs {
        if let Some(path) = &config.config {
            self.config = path.clone();
        }
        if as_of.is_some() {
            self.as_of = as_of;
        }
        self
    }
}

impl GlobalArgs {
    pub fn verbosity(&self) -> i8 {
        (self.verbose.min(3) as i8) - (self.quiet.min(3) as i8)
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// One nightly reconciliation, then exit (for cron and systemd timers).
    Run(RunArgs),
    /// Reconcile a date range, chunked and resumable.
    Backfill(BackfillArgs),
    /// Dry run: what a run or backfill would fetch and what it would cost. Calls nothing metered.
    Plan(PlanArgs),
    /// Built-in scheduler: runs on the configured cron schedule until SIGINT/SIGTERM.
    Daemon(DaemonArgs),
    /// The reconciliation report of a run or a date range.
    Report(ReportArgs),
    /// Last runs, lock holder, quota month to date and projection, sink backlog.
    Status(StatusArgs),
    /// Everything known about one employee-day: slots, history, approvals, corrections.
    Explain(ExplainArgs),
    /// Write a commented starting configuration (never overwrites).
    Init(InitArgs),
    /// Checklist against the configured organisation: config, store, reachability,
    /// credentials, permissions, 补卡 templates, scope, time zone, budget (at most 3 metered
    /// calls); `--probe` settles the ⚠ facts on live data for at most 6 more.
    Doctor(DoctorArgs),
    /// Work on one sink's deliveries.
    #[command(subcommand)]
    Sink(SinkCommand),
    /// The organisation's monthly quota of DingTalk calls.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Serve the DingTalk simulator.
    #[cfg(feature = "sim")]
    Sim(dingtalk_sim::SimArgs),
    /// Start the simulator in-process, backfill a month of a synthetic company, run one night,
    /// print the report.
    #[cfg(feature = "sim")]
    Demo(DemoArgs),
    /// `sim` in a build without the simulator: explains that, whatever the arguments.
    #[cfg(not(feature = "sim"))]
    #[command(hide = true)]
    Sim(WithoutSimulator),
    /// `demo` in a build without the simulator: explains that, whatever the arguments.
    #[cfg(not(feature = "sim"))]
    #[command(hide = true)]
    Demo(WithoutSimulator),
}

#[derive(Debug, Args)]
pub(crate) struct DaemonArgs {
    #[command(flatten)]
    pub(crate) common: ConfigArg,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) common: ConfigAsOfArgs,
    /// Print the report on stdout when done (by default a successful run prints nothing).
    #[arg(long)]
    pub(crate) report: bool,
    /// Report format when --report is given.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, Args)]
pub(crate) struct BackfillArgs {
    #[command(flatten)]
    pub(crate) common: ConfigAsOfArgs,
    /// First work date (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub(crate) from: NaiveDate,
    /// Last work date (YYYY-MM-DD), inclusive.
    #[arg(long, value_parser = parse_date)]
    pub(crate) to: NaiveDate,
    /// Only these user ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) users: Option<Vec<String>>,
    /// Spend at most this many metered calls.
    #[arg(long, value_name = "N")]
    pub(crate) max_calls: Option<u64>,
    /// Start even if the estimate exceeds what the month's nightly runs leave spare.
    #[arg(long)]
    pub(crate) yes: bool,
    /// Continue the unfinished backfill of the same range.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Do not run it now: queue it, and the nightly runs (`run`, `daemon`) work through it out
    /// of each night's spare budget, oldest work dates first; `status` shows its progress.
    #[arg(long, conflicts_with_all = ["max_calls", "yes", "resume", "report", "unqueue"])]
    pub(crate) queue: bool,
    /// Take the queued backfill of this range (and --users) off the queue; the chunks it
    /// finished stay, so --resume or --queue later goes on from them.
    #[arg(long, conflicts_with_all = ["max_calls", "yes", "resume", "report"])]
    pub(crate) unqueue: bool,
    /// Print the report on stdout when done.
    #[arg(long)]
    pub(crate) report: bool,
    /// Report format when --report is given.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub(crate) common: ConfigAsOfArgs,
    /// First work date of a backfill to plan (with --to); without, plans the nightly run.
    #[arg(long, value_parser = parse_date, requires = "to")]
    pub(crate) from: Option<NaiveDate>,
    #[arg(long, value_parser = parse_date, requires = "from")]
    pub(crate) to: Option<NaiveDate>,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    pub(crate) common: ConfigAsOfArgs,
    /// A run id, or `latest`.
    #[arg(long, value_name = "ID|latest", conflicts_with_all = ["from", "to"])]
    pub(crate) run: Option<String>,
    /// A month's work dates (business time zone), up to yesterday: the month's date-range report.
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month,
          conflicts_with_all = ["run", "from", "to"])]
    pub(crate) month: Option<crate::quota::YearMonth>,
    #[arg(long, value_parser = parse_date, requires = "to")]
    pub(crate) from: Option<NaiveDate>,
    #[arg(long, value_parser = parse_date, requires = "from")]
    pub(crate) to: Option<NaiveDate>,
    /// Output format. Default: text; with --output, the format the file's extension names
    /// (.txt, .json, .csv, .md, .html, .htm or .xlsx). xlsx needs --output.
    #[arg(long, value_enum)]
    pub(crate) format: Option<ReportFormat>,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Language of text, Markdown, HTML and xlsx (JSON and CSV keys stay English). Default:
    /// `[report] lang` in the config, else zh.
    #[arg(long, value_enum)]
    pub(crate) lang: Option<Lang>,
    /// Markdown: every line, not the summary that fits a chat message (4,000 characters).
    #[arg(long)]
    pub(crate) full: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) common: ConfigAsOfArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub(crate) format: StatusFormat,
}

/// Formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatusFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SinkCommand {
    /// Queue the corrections already applied to work dates FROM..=TO for one sink and deliver
    /// them (a sink added later receives what it missed; nothing is queued twice).
    Replay(SinkReplayArgs),
    /// Create the default table of a `postgres` or `mysql` sink if it does not exist
    /// (`CREATE TABLE IF NOT EXISTS`; refused for a sink mapped to an existing table).
    InitDb(SinkInitDbArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum QuotaCommand {
    /// Forget the quota exhaustion (DingTalk's 90020) recorded for a month, so that the next
    /// run makes metered calls again (after the organisation bought more quota, or for an
    /// answer that was not the quota spent).
    Resume(QuotaResumeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct QuotaResumeArgs {
    #[command(flatten)]
    pub(crate) common: ConfigAsOfArgs,
    /// The quota month (YYYY-MM) [default: the current month in the configured time zone].
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    pub(crate) month: Option<crate::quota::YearMonth>,
}

#[derive(Debug, Args)]
pub(crate) struct SinkInitDbArgs {
    #[command(flatten)]
    pub(crate) common: ConfigArg,
    /// The database sink's `name` in the configuration.
    #[arg(long, value_name = "NAME")]
    pub(crate) sink: String,
}

#[derive(Debug, Args)]
pub(crate) struct SinkReplayArgs {
    #[command(flatten)]
    pub(crate) common: ConfigArg,
    /// The sink's `name` in the configuration.
    #[arg(long, value_name = "NAME")]
    pub(crate) sink: String,
    /// First work date (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub(crate) from: NaiveDate,
    /// Last work date (YYYY-MM-DD), inclusive.
    #[arg(long, value_parser = parse_date)]
    pub(crate) to: NaiveDate,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) common: ConfigAsOfArgs,
    /// Also settle the ⚠ facts on one recently approved 补卡 (at most 6 metered calls) and store
    /// them for the planner.
    #[arg(long)]
    pub(crate) probe: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub(crate) format: StatusFormat,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to write it.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub(crate) output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    #[command(flatten)]
    pub(crate) common: ConfigAsOfArgs,
    /// The user id (one starting with `-` is taken as written).
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) user: String,
    #[arg(long, value_parser = parse_date)]
    pub(crate) date: NaiveDate,
}

/// The arguments of `sim` or `demo` in a build without the simulator (`--no-default-features`):
/// taken as they come, since the command only says it is not built in.
#[cfg(not(feature = "sim"))]
#[derive(Debug, Args)]
pub(crate) struct WithoutSimulator {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        hide = true,
        num_args = 0..
    )]
    pub(crate) args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Employees in the synthetic company.
    #[arg(long, default_value_t = 200)]
    pub(crate) employees: usize,
    /// Seed of the synthetic company.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// Store file the demo writes (replaced if it exists).
    #[arg(long, default_value = "dingtalk-reconcile-demo.db")]
    pub(crate) store: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,
    /// Language of the report (text, Markdown, HTML).
    #[arg(long, value_enum, default_value_t = Lang::Zh)]
    pub(crate) lang: Lang,
}

fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 instant like 2026-11-25T02:10:00+08:00 ({e})"))
}

/// `YYYY-MM`, exactly: four digits, a dash, two digits, a month 01 to 12.
fn parse_month(raw: &str) -> Result<crate::quota::YearMonth, String> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 7
        && bytes[4] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(at, byte)| at == 4 || byte.is_ascii_digit());
    let month = shaped
        .then(|| NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").ok())
        .flatten();
    month
        .map(crate::quota::YearMonth::of_date)
        .ok_or_else(|| format!("expected a month as YYYY-MM, found {raw:?}"))
}

fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| format!("expected a date as YYYY-MM-DD, found {raw:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_month_is_exactly_yyyy_mm() {
        let month = parse_month("2026-10").unwrap();
        assert_eq!((month.year, month.month), (2026, 10));
        for bad in [
            "2026-13",
            "2026-1",
            "26-10",
            "2026/10",
            "2026-10-01",
            "",
            "２０２６-10",
        ] {
            assert_eq!(
                parse_month(bad).unwrap_err(),
                format!("expected a month as YYYY-MM, found {bad:?}")
            );
        }
    }

    #[test]
    fn month_conflicts_with_run_and_a_date_range() {
        for other in [
            &["--run", "latest"][..],
            &["--from", "2026-10-01", "--to", "2026-10-02"][..],
        ] {
            let mut args = vec!["dingtalk-reconcile", "report", "--month", "2026-10"];
            args.extend_from_slice(other);
            let err = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        }
        let err =
            Cli::try_parse_from(["dingtalk-reconcile", "report", "--month", "2026-1"]).unwrap_err();
        assert!(err.to_string().contains("--month <YYYY-MM>"), "{err}");
        assert!(
            err.to_string().contains("expected a month as YYYY-MM"),
            "{err}"
        );
    }

    #[test]
    fn dates_and_instants_are_validated_with_the_expected_shape() {
        assert!(parse_date("2026-11-31").unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_instant("yesterday").unwrap_err().contains("RFC 3339"));
        assert_eq!(
            parse_instant("2026-11-25T02:10:00+08:00")
                .unwrap()
                .to_rfc3339(),
            "2026-11-24T18:10:00+00:00"
        );
    }

    #[test]
    fn a_user_id_starting_with_a_hyphen_is_taken_as_written() {
        let cli = Cli::try_parse_from([
            "dingtalk-reconcile",
            "explain",
            "--user",
            "-16000111",
            "--date",
            "2026-10-01",
        ])
        .expect("parses");
        let Command::Explain(args) = cli.command else {
            panic!("explain")
        };
        assert_eq!(args.user, "-16000111");
    }
}
