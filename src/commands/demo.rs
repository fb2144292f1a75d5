//! `demo`: the embedded default. Starts the simulator in-process, backfills October of a
//! synthetic company into a local store, lets a day pass, runs one nightly pass and prints its
//! report. It also writes a config file beside the store so that `report`, `status` and
//! `explain` can be tried on the result.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use dingtalk_sim::{SimConfig, SimHandle, SimStats};

use crate::cli::DemoArgs;
use crate::commands::backfill::{BackfillOptions, run_backfill};
use crate::commands::job::{Job, outcome_of};
use crate::commands::{SharedClock, print_stdout};
use crate::config::Config;
use crate::exit::Outcome;
use crate::reconcile::{RunKind, RunRequest};
use crate::report::{self, ReportFormat};

/// The demo's month.
const FIRST_DAY: (i32, u32, u32) = (2026, 10, 1);
const DAYS: u32 = 31;

/// Runs the demo; the report goes to stdout, progress to stderr.
pub(crate) async fn demo(args: DemoArgs) -> anyhow::Result<Outcome> {
    super::job::printable(args.format)?;
    let started = Instant::now();
    let month = DemoMonth::new()?;
    let sim = start_simulator(&args, &month).await?;
    let (mut job, clock, config_path) = open_demo_store(&args, &sim, month.backfill_at)?;
    backfill_month(&mut job, &month).await?;
    let backfill_calls = sim.stats().metered;

    // A day later: one nightly pass.
    sim.set_clock(month.nightly_at);
    clock.set(month.nightly_at);
    eprintln!("demo: nightly run as of {}", month.nightly_at);
    let executed = job
        .execute(RunRequest {
            kind: RunKind::Nightly,
            as_of: month.nightly_at,
            max_calls: None,
            dry_run: false,
            trigger: "demo".into(),
        })
        .await?;
    let stats = sim.stats();
    let options = report::RenderOptions {
        lang: args.lang,
        ..job.render_options()
    };
    print_stdout(&report::render(&executed.report, args.format, &options)?)?;
    let check = compare_with_truth(&job, &sim, month.backfill_at, month.nightly_at)?;
    eprintln!(
        "demo: done in {:.1} s — {}",
        started.elapsed().as_secs_f64(),
        check.describe()
    );
    eprintln!("demo: {}", describe_calls(backfill_calls, &stats));
    eprintln!(
        "demo: store {} — try: dingtalk-reconcile --config {} status",
        args.store.display(),
        config_path.display()
    );
    sim.shutdown().await;
    outcome_of(&executed.summary)
}

/// The demo's month and the two nights it is looked at: the backfill the night after it, the
/// nightly pass a day later.
struct DemoMonth {
    from: NaiveDate,
    to: NaiveDate,
    backfill_at: DateTime<Utc>,
    nightly_at: DateTime<Utc>,
}

impl DemoMonth {
    fn new() -> anyhow::Result<DemoMonth> {
        let (year, month, day) = FIRST_DAY;
        let from =
            NaiveDate::from_ymd_opt(year, month, day).context("the demo's first day is a date")?;
        let to = from + chrono::Duration::days(i64::from(DAYS) - 1);
        Ok(DemoMonth {
            from,
            to,
            backfill_at: night_of(to + chrono::Duration::days(1))?,
            nightly_at: night_of(to + chrono::Duration::days(2))?,
        })
    }
}

/// 02:10 in Shanghai on `date`, when the demo's runs happen.
fn night_of(date: NaiveDate) -> anyhow::Result<DateTime<Utc>> {
    let local = date.and_hms_opt(2, 10, 0).context("02:10 is a time")?;
    Ok(chrono_tz::Asia::Shanghai
        .from_local_datetime(&local)
        .single()
        .context("02:10 exists in Asia/Shanghai")?
        .with_timezone(&Utc))
}

/// The simulator, in-process, its clock at the backfill night.
async fn start_simulator(args: &DemoArgs, month: &DemoMonth) -> anyhow::Result<SimHandle> {
    // The world covers the month and the first day after it, so the nightly pass has a day to read.
    let mut sim_config = SimConfig::new(args.seed, args.employees);
    sim_config.from = month.from;
    sim_config.days = DAYS + 1;
    sim_config.clock = Some(month.backfill_at);
    let sim = SimHandle::spawn(sim_config)
        .await
        .context("cannot start the simulator")?;
    eprintln!(
        "demo: simulator for {} employees (seed {}) at {}",
        args.employees,
        args.seed,
        sim.base_url()
    );
    Ok(sim)
}

/// A fresh store with its config file beside it, opened as a job whose clock starts at `at`.
fn open_demo_store(
    args: &DemoArgs,
    sim: &SimHandle,
    at: DateTime<Utc>,
) -> anyhow::Result<(Job, SharedClock, PathBuf)> {
    remove_store(&args.store)?;
    let config_path = demo_config_path(&args.store);
    let config_text = demo_config(sim, &args.store);
    std::fs::write(&config_path, &config_text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let config = Config::parse(&config_text, &config_path, &|_| None)?;
    let clock = SharedClock::new(Some(at));
    let job = Job::open(config, clock.clone())?;
    Ok((job, clock, config_path))
}

/// Backfills the month, as of the night after it.
async fn backfill_month(job: &mut Job, month: &DemoMonth) -> anyhow::Result<()> {
    let (from, to, at) = (month.from, month.to, month.backfill_at);
    eprintln!("demo: backfilling {from} .. {to} as of {at}");
    let stop = crate::dingtalk::StopFlag::new();
    let lock = job.lock(&stop)?;
    let options = BackfillOptions {
        queue_command: None,
        max_calls: None,
        yes: true,
        resume: false,
        report: false,
        format: ReportFormat::Text,
    };
    let backfill = run_backfill(job, &lock, from, to, None, &options, at, &stop).await;
    drop(lock);
    backfill.map(drop)
}

/// The metered calls of the backfill and of the nightly pass, against what DingTalk's pushes
/// would have cost for the month.
fn describe_calls(backfill_calls: u64, stats: &SimStats) -> String {
    format!(
        "metered calls: backfill {}, nightly {}; pushes the month would have cost instead: \
         {} (every check event) or {} (finished 补卡 events, plus one detail call each)",
        backfill_calls,
        stats.metered - backfill_calls,
        stats.push_equivalent.check_events,
        stats.push_equivalent.supply_events,
    )
}

/// How the ledger compares with the simulator's ground truth.
struct TruthCheck {
    ledger: usize,
    /// True corrections a poller could have seen.
    observable: usize,
    found: usize,
    /// Ledger corrections the truth does not hold.
    wrong: usize,
    /// True corrections applied and revoked before the backfill's first look.
    unobservable: usize,
    /// Of those, the ones the ledger journals anyway (from their approvals, which still show
    /// the applied and the revoked 补卡).
    seen_anyway: usize,
}

impl TruthCheck {
    /// `N corrections in the ledger; against the simulator's ground truth: …`.
    fn describe(&self) -> String {
        format!(
            "{} corrections in the ledger; against the simulator's ground truth: \
             {} of {} found, {} wrong{}",
            self.ledger,
            self.found,
            self.observable,
            self.wrong,
            if self.unobservable > 0 {
                format!(
                    " ({} more were applied and revoked inside DingTalk before the backfill first looked, \
                     so its results never showed them; {} of them journaled from their approvals)",
                    self.unobservable, self.seen_anyway
                )
            } else {
                String::new()
            },
        )
    }
}

type TruthKey = (String, NaiveDate, String, String, Option<String>);

fn compare_with_truth(
    job: &Job,
    sim: &SimHandle,
    backfill_at: DateTime<Utc>,
    as_of: DateTime<Utc>,
) -> anyhow::Result<TruthCheck> {
    let world = sim.world();
    let gone_before_backfill = |process_instance_id: &Option<String>| {
        process_instance_id
            .as_deref()
            .and_then(|id| world.instance(id))
            .and_then(|instance| instance.reverted_ms)
            .is_some_and(|reverted| reverted <= backfill_at.timestamp_millis())
    };
    let mut truth = std::collections::BTreeSet::<TruthKey>::new();
    let mut early = std::collections::BTreeSet::<TruthKey>::new();
    for correction in sim.truth(as_of) {
        let gone = gone_before_backfill(&correction.process_instance_id);
        let key = (
            correction.user_id,
            correction.work_date,
            correction.check_type,
            correction.class,
            correction.process_instance_id,
        );
        if gone {
            early.insert(key);
        } else {
            truth.insert(key);
        }
    }
    let ledger: std::collections::BTreeSet<TruthKey> = job
        .store
        .all_corrections()?
        .into_iter()
        .map(|stored| {
            (
                stored.correction.slot_key.user_id.as_str().to_owned(),
                stored.correction.slot_key.work_date,
                stored
                    .check_type
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                stored.correction.class.as_str().to_owned(),
                stored.correction.process_instance_id,
            )
        })
        .collect();
    for missing in truth.difference(&ledger) {
        tracing::info!(?missing, "true correction not in the ledger");
    }
    // A correction applied and revoked before the backfill is true whether or not a poller
    // could have seen it: journaled, it is not wrong.
    let wrong: Vec<&TruthKey> = ledger
        .iter()
        .filter(|key| !truth.contains(*key) && !early.contains(*key))
        .collect();
    for wrong in &wrong {
        tracing::info!(?wrong, "ledger correction not in the truth");
    }
    Ok(TruthCheck {
        ledger: ledger.len(),
        observable: truth.len(),
        found: truth.intersection(&ledger).count(),
        wrong: wrong.len(),
        unobservable: early.len(),
        seen_anyway: early.intersection(&ledger).count(),
    })
}

fn demo_config_path(store: &Path) -> PathBuf {
    store.with_extension("toml")
}

/// The configuration the demo runs with, pointing at the in-process simulator.
fn demo_config(sim: &SimHandle, store: &Path) -> String {
    format!(
        "# Written by `dingtalk-reconcile demo`: the simulator it points at is gone when the demo ends,\n\
         # so use this file only for `report`, `status` and `explain` on the demo's store.\n\
         timezone = \"Asia/Shanghai\"\n\n\
         {dingtalk}\n\
         [scope]\n\
         departments = [1]\n\n\
         [store]\n\
         path = {store:?}\n",
        dingtalk = sim.config_snippet(),
        store = store.display().to_string(),
    )
}

/// The demo starts from an empty store: remove an earlier one and its WAL files.
fn remove_store(store: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = store.as_os_str().to_owned();
        path.push(suffix);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("cannot remove the earlier demo store {}", store.display())
                });
            }
        }
    }
    Ok(())
}
