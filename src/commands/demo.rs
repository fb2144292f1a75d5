//! `demo`: the embedded default. Starts the simulator in-process, backfills October of a
//! synthetic company into a local store, lets a day pass, runs one nightly pass and prints its
//! report. It also writes a config file beside the store so that `report`, `status` and
//! `explain` can be tried on the result.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use dingtalk_sim::{SimConfig, SimHandle};

use crate::cli::DemoArgs;
use crate::commands::backfill::{BackfillOptions, run_backfill};
use crate::commands::job::{Job, JobOptions, outcome_of};
use crate::commands::{SharedClock, print_stdout};
use crate::config::Config;
use crate::exit::Outcome;
use crate::reconcile::{RunKind, RunRequest};
use crate::report::{self, ReportFormat};

/// The demo's month.
const FIRST_DAY: (i32, u32, u32) = (2026, 10, 1);
const DAYS: u32 = 31;

/// Runs the demo; the report goes to stdout, progress to stderr.
pub async fn demo(args: DemoArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let tz = chrono_tz::Asia::Shanghai;
    let (year, month, day) = FIRST_DAY;
    let from =
        NaiveDate::from_ymd_opt(year, month, day).context("the demo's first day is a date")?;
    let to = from + chrono::Duration::days(i64::from(DAYS) - 1);
    let night = |date: NaiveDate| -> anyhow::Result<DateTime<Utc>> {
        let local = date.and_hms_opt(2, 10, 0).context("02:10 is a time")?;
        Ok(tz
            .from_local_datetime(&local)
            .single()
            .context("02:10 exists in Asia/Shanghai")?
            .with_timezone(&Utc))
    };
    // The world covers the month and the first day after it, so the nightly pass has a day to read.
    let mut sim_config = SimConfig::new(args.seed, args.employees);
    sim_config.from = from;
    sim_config.days = DAYS + 1;
    let backfill_at = night(to + chrono::Duration::days(1))?;
    let nightly_at = night(to + chrono::Duration::days(2))?;
    sim_config.clock = Some(backfill_at);
    let sim = SimHandle::spawn(sim_config)
        .await
        .context("cannot start the simulator")?;
    eprintln!(
        "demo: simulator for {} employees (seed {}) at {}",
        args.employees,
        args.seed,
        sim.base_url()
    );

    remove_store(&args.store)?;
    let config_path = demo_config_path(&args.store);
    let config_text = demo_config(&sim, &args.store);
    std::fs::write(&config_path, &config_text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let config = Config::parse(&config_text, &config_path, &|_| None)?;
    let clock = SharedClock::new(Some(backfill_at));
    let mut job = Job::open(config, clock.clone(), &JobOptions::default())?;

    // Backfill the month, as of the night after it.
    eprintln!("demo: backfilling {from} .. {to} as of {backfill_at}");
    let lock = job.lock()?;
    let options = BackfillOptions {
        max_calls: None,
        yes: true,
        resume: false,
        report: false,
        format: ReportFormat::Text,
    };
    let backfill = run_backfill(&mut job, &lock, from, to, None, &options, backfill_at).await;
    drop(lock);
    backfill?;
    let backfill_calls = sim.stats().metered;

    // A day later: one nightly pass.
    sim.set_clock(nightly_at);
    clock.set(nightly_at);
    eprintln!("demo: nightly run as of {nightly_at}");
    let executed = job
        .execute(RunRequest {
            kind: RunKind::Nightly,
            as_of: nightly_at,
            max_calls: None,
            dry_run: false,
            trigger: "demo".into(),
        })
        .await?;
    let stats = sim.stats();
    print_stdout(&report::render(
        &executed.report,
        args.format,
        &job.render_options(),
    ))?;
    let check = compare_with_truth(&job, &sim, backfill_at, nightly_at)?;
    eprintln!(
        "demo: done in {:.1} s — {} corrections in the ledger; against the simulator's ground truth: \
         {} of {} found, {} wrong{}",
        started.elapsed().as_secs_f64(),
        check.ledger,
        check.found,
        check.observable,
        check.wrong,
        if check.unobservable > 0 {
            format!(
                " ({} more were applied and revoked inside DingTalk before the backfill first looked: \
                 invisible to any poller)",
                check.unobservable
            )
        } else {
            String::new()
        },
    );
    eprintln!(
        "demo: metered calls: backfill {}, nightly {}; pushes the month would have cost instead: \
         {} (every check event) or {} (finished 补卡 events, plus one detail call each)",
        backfill_calls,
        stats.metered - backfill_calls,
        stats.push_equivalent.check_events,
        stats.push_equivalent.supply_events,
    );
    eprintln!(
        "demo: store {} — try: dingtalk-reconcile --config {} status",
        args.store.display(),
        config_path.display()
    );
    sim.shutdown().await;
    outcome_of(&executed.summary)
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
    let mut unobservable = 0;
    for correction in sim.truth(as_of) {
        if gone_before_backfill(&correction.process_instance_id) {
            unobservable += 1;
            continue;
        }
        truth.insert((
            correction.user_id,
            correction.work_date,
            correction.check_type,
            correction.class,
            correction.process_instance_id,
        ));
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
    for wrong in ledger.difference(&truth) {
        tracing::info!(?wrong, "ledger correction not in the truth");
    }
    Ok(TruthCheck {
        ledger: ledger.len(),
        observable: truth.len(),
        found: truth.intersection(&ledger).count(),
        wrong: ledger.difference(&truth).count(),
        unobservable,
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
