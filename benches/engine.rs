//! Benchmark of the local engine (PRODUCT.md section 8, "Local engine"): diff + classify + apply
//! of N synthetic slots through the real store, against a plain bulk insert of the same rows into
//! SQLite measured in the same process.
//!
//! The engine path streams batch by batch, the way a run applies: for each group of
//! [`USERS_PER_BATCH`] users it loads that group's snapshot from the store, calls
//! `reconcile::diff::diff`, overlays the changes, reads the ledger context, calls
//! `reconcile::classify::classify` and hands the result to `reconcile::apply::apply_all` (which
//! builds the store batches and calls `Store::apply_batch`). The overlay and the context load are
//! the run's own (`reconcile::context`); only the per-group snapshot read is the benchmark's, and
//! every decision and every write goes through the library. Three passes are measured: the first
//! observation of every slot, a second pass where nothing changed, and a pass with a fraction of
//! the slots changed.
//!
//! The baseline is one prepared INSERT per row, in transactions as large as the engine's batches,
//! into a table with the same columns as the store's `slots` table, on a connection with the same
//! pragmas (WAL, `synchronous = FULL`, foreign keys on), with no other table and no index but the
//! primary key.
//!
//! Generating the synthetic rows stands in for fetching them and is timed apart, outside both the
//! engine and the baseline figures. Nothing here asserts a target: it prints figures.
//!
//! Settings (environment): `ENGINE_SLOTS` (1,000,000), `ENGINE_DAYS` (25 work dates, 2 check
//! points each), `ENGINE_SEED` (7), `ENGINE_CHANGED_PERCENT` (1), `ENGINE_DIR` (a fresh temporary
//! directory).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, params};

use dingtalk_reconcile::domain::{ChangeClass, Policy, PolicyAction, Slot, SlotKey, UserId};
use dingtalk_reconcile::reconcile::apply::{USERS_PER_BATCH, apply_all};
use dingtalk_reconcile::reconcile::classify::{ClassifyInput, classify};
use dingtalk_reconcile::reconcile::context::{load_context, overlay};
use dingtalk_reconcile::reconcile::diff::{SlotChange, diff};
use dingtalk_reconcile::reconcile::matching::SlotIndex;
use dingtalk_reconcile::store::{NewRun, RunEnd, RunKind, RunOutcome, Store};

#[path = "engine/company.rs"]
mod company;

use company::{Company, Pass, SLOTS_PER_USER_DAY};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("engine benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmark's knobs, read from the environment.
#[derive(Debug, Clone)]
struct Settings {
    slots: usize,
    days: usize,
    seed: u64,
    changed_percent: f64,
    dir: Option<PathBuf>,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let settings = Settings {
            slots: env_or("ENGINE_SLOTS", 1_000_000)?,
            days: env_or("ENGINE_DAYS", 25)?,
            seed: env_or("ENGINE_SEED", 7)?,
            changed_percent: env_or("ENGINE_CHANGED_PERCENT", 1.0)?,
            dir: std::env::var_os("ENGINE_DIR").map(PathBuf::from),
        };
        if settings.days == 0 || settings.slots < settings.days * SLOTS_PER_USER_DAY {
            bail!(
                "ENGINE_SLOTS={} and ENGINE_DAYS={}: expected at least one employee, i.e. \
                 ENGINE_DAYS ≥ 1 and ENGINE_SLOTS ≥ 2 × ENGINE_DAYS",
                settings.slots,
                settings.days
            );
        }
        if !(0.0..=100.0).contains(&settings.changed_percent) {
            bail!(
                "ENGINE_CHANGED_PERCENT={}: expected a percentage between 0 and 100",
                settings.changed_percent
            );
        }
        Ok(settings)
    }

    fn command(&self) -> String {
        let dir = match &self.dir {
            Some(dir) => format!("ENGINE_DIR={} ", dir.display()),
            None => String::new(),
        };
        format!(
            "{dir}ENGINE_SLOTS={} ENGINE_DAYS={} ENGINE_SEED={} ENGINE_CHANGED_PERCENT={} \
             cargo bench --bench engine",
            self.slots, self.days, self.seed, self.changed_percent
        )
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(raw) => raw.trim().parse().map_err(|_| {
            anyhow::anyhow!("{name}={raw:?}: expected a {}", std::any::type_name::<T>())
        }),
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(error) => bail!("{name}: {error}"),
    }
}

fn run() -> Result<()> {
    let settings = Settings::from_env()?;
    let company = Company::new(
        settings.seed,
        settings.slots,
        settings.days,
        settings.changed_percent,
    );
    let temporary = match &settings.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().context("create a temporary directory")?),
    };
    let dir = match (&settings.dir, &temporary) {
        (Some(dir), _) => dir.clone(),
        (None, Some(temporary)) => temporary.path().to_path_buf(),
        (None, None) => unreachable!("a temporary directory exists when no directory is given"),
    };
    let rss_resettable = reset_peak_rss();
    println!(
        "engine benchmark: {} slots ({} employees × {} work dates × {} check points), seed {}, \
         {} employees per batch",
        group(company.slot_count() as u64),
        group(company.users as u64),
        company.days,
        SLOTS_PER_USER_DAY,
        settings.seed,
        USERS_PER_BATCH
    );
    println!("command: {}", settings.command());
    println!("databases in {}", dir.display());
    println!();

    let baseline_path = dir.join("baseline.db");
    let baseline = plain_bulk_insert(&baseline_path, &company, false)?;
    let floor = plain_bulk_insert(&dir.join("reference.db"), &company, true)?;
    let store_path = dir.join("store.db");
    let mut store = Store::open(&store_path).context("open the store")?;
    let first = engine_pass(&mut store, &company, Pass::First)?;
    let second = engine_pass(&mut store, &company, Pass::Unchanged)?;
    let third = engine_pass(&mut store, &company, Pass::Changed)?;
    drop(store);

    let passes = [&floor, &first, &second, &third];
    print_summary(&baseline, &passes);
    print_breakdown(&baseline, &passes);
    print_outcomes(&passes[1..]);
    println!();
    println!(
        "database files: baseline {}, store {}",
        mebibytes(database_bytes(&baseline_path)),
        mebibytes(database_bytes(&store_path))
    );
    if !rss_resettable {
        println!(
            "note: /proc/self/clear_refs could not be written; peak RSS is the process peak so far"
        );
    }
    let ratio = first.engine_time().as_secs_f64() / baseline.insert.as_secs_f64();
    println!(
        "target: first pass ÷ baseline ≤ 2.00 — measured {ratio:.2} ({})",
        if ratio <= 2.0 { "met" } else { "not met" }
    );
    Ok(())
}

/// Time spent per step, summed over the batches of one phase.
#[derive(Debug, Clone, Copy, Default)]
struct Breakdown {
    /// Building the synthetic rows (stands in for the fetch; not part of the figures).
    generate: Duration,
    load_snapshot: Duration,
    diff: Duration,
    /// Overlay and the ledger rows of changed slots (`Store::ledger_rows`).
    context: Duration,
    /// Slot index and `classify`.
    classify: Duration,
    /// `apply_all`: building the store batches and `Store::apply_batch`.
    apply: Duration,
    /// The baseline's inserts and commits.
    insert: Duration,
}

impl Breakdown {
    fn engine_time(&self) -> Duration {
        self.load_snapshot + self.diff + self.context + self.classify + self.apply
    }

    /// Everything measured: the engine's steps, or the inserts of a plain-insert phase.
    fn measured(&self) -> Duration {
        self.engine_time() + self.insert
    }
}

/// What one phase did and what it cost.
#[derive(Debug, Clone, Default)]
struct Phase {
    label: String,
    rows: u64,
    times: Breakdown,
    peak_rss_kib: Option<u64>,
    new: u64,
    unchanged: u64,
    changed: u64,
    vanished: u64,
    verdicts: BTreeMap<ChangeClass, u64>,
    corrections: u64,
    batches: u64,
}

impl std::ops::Deref for Phase {
    type Target = Breakdown;
    fn deref(&self) -> &Breakdown {
        &self.times
    }
}

/// One pass of the engine over the whole company, batch by batch, as one recorded run.
fn engine_pass(store: &mut Store, company: &Company, pass: Pass) -> Result<Phase> {
    let as_of = company.as_of();
    let (from, to) = (company.first_date, company.last_date());
    let run_id = store
        .begin_run(&NewRun {
            kind: RunKind::Backfill,
            trigger: "bench".to_owned(),
            as_of,
            window_from: from,
            window_to: to,
            plan_json: "{}".to_owned(),
            started_at: as_of,
        })
        .context("record the run")?;
    let policy = Policy {
        admin_edit: PolicyAction::Apply,
        unexplained: PolicyAction::Report,
        vanished: PolicyAction::Report,
        pending_anomaly_days: 7,
    };
    let approvals = BTreeMap::new();
    let unresolved_approvals = BTreeSet::new();
    let mut phase = Phase {
        label: pass.label(company.changed_fraction * 100.0),
        ..Phase::default()
    };
    reset_peak_rss();
    for batch_index in 0..company.batch_count() {
        let clock = Instant::now();
        let (users, fetched, complete) = company.batch_slots(batch_index, pass);
        phase.times.generate += clock.elapsed();
        phase.rows += fetched.len() as u64;

        let clock = Instant::now();
        let (snapshot, observed_at) = load_snapshot(store, &users, from, to)?;
        phase.times.load_snapshot += clock.elapsed();

        let clock = Instant::now();
        let changes = diff(&snapshot, &fetched, &complete);
        phase.times.diff += clock.elapsed();

        let clock = Instant::now();
        let mut current = snapshot;
        overlay(&mut current, &changes);
        let context = load_context(store, &changes, &observed_at, &current, &Default::default())?;
        phase.times.context += clock.elapsed();

        let clock = Instant::now();
        let index = SlotIndex::new(&current);
        let verdicts = classify(&ClassifyInput {
            changes: &changes,
            context: &context,
            slots: &index,
            approvals: &approvals,
            unresolved_approvals: &unresolved_approvals,
            now: as_of,
            tz: chrono_tz::Asia::Shanghai,
            policy: &policy,
            settle: chrono::Duration::hours(24),
            journaled: &Default::default(),
        });
        phase.times.classify += clock.elapsed();

        let clock = Instant::now();
        let applied = apply_all(
            store,
            run_id,
            as_of,
            &changes,
            &verdicts,
            &current,
            &[],
            USERS_PER_BATCH,
        )
        .context("apply a batch")?;
        phase.times.apply += clock.elapsed();

        for change in &changes {
            match change {
                SlotChange::New(_) => phase.new += 1,
                SlotChange::Unchanged(_) => phase.unchanged += 1,
                SlotChange::Changed { .. } => phase.changed += 1,
                SlotChange::Vanished(_) => phase.vanished += 1,
            }
        }
        for verdict in &verdicts {
            *phase.verdicts.entry(verdict.class).or_default() += 1;
        }
        phase.corrections += applied.corrections_applied;
        phase.batches += applied.batches;
    }
    phase.peak_rss_kib = peak_rss_kib();
    store
        .finish_run(
            run_id,
            &RunEnd {
                outcome: RunOutcome::Done,
                counts: phase.verdicts.clone(),
                errors: Vec::new(),
                deferred_json: "[]".to_owned(),
                finished_at: as_of,
            },
        )
        .context("record the end of the run")?;
    Ok(phase)
}

type Snapshot = (BTreeMap<SlotKey, Slot>, BTreeMap<SlotKey, DateTime<Utc>>);

/// The present stored slots of `users` on `from..=to`, as `run_once` loads them.
fn load_snapshot(
    store: &Store,
    users: &[UserId],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Snapshot> {
    let mut slots = BTreeMap::new();
    let mut observed = BTreeMap::new();
    for (key, stored) in store.snapshot_slots(Some(users), from, to)? {
        if stored.present {
            observed.insert(key.clone(), stored.observed_at);
            slots.insert(key, stored.slot);
        }
    }
    Ok((slots, observed))
}

/// The baseline: the same rows the first pass observes, one prepared INSERT each, one
/// transaction per engine batch, into a table with the columns of the store's `slots`.
fn plain_bulk_insert(path: &Path, company: &Company, with_ledger: bool) -> Result<Phase> {
    if path.exists() {
        bail!("{} already exists; expected a fresh path", path.display());
    }
    let mut connection =
        Connection::open(path).with_context(|| format!("open {}", path.display()))?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.execute_batch(
        "CREATE TABLE slots (
            slot_key TEXT PRIMARY KEY, user_id TEXT NOT NULL, work_date TEXT NOT NULL,
            check_type TEXT NOT NULL, plan_id INTEGER, base_check_ms INTEGER NOT NULL,
            user_check_ms INTEGER, time_result TEXT NOT NULL, location_result TEXT NOT NULL,
            source_type TEXT NOT NULL, proc_inst_id TEXT, approve_id INTEGER, record_id INTEGER,
            group_id INTEGER, row_id INTEGER, observed_at_ms INTEGER NOT NULL,
            first_seen_run INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL, first_class TEXT,
            last_seen_run INTEGER NOT NULL, present INTEGER NOT NULL DEFAULT 1
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE ledger (
            slot_key TEXT PRIMARY KEY, time_result TEXT NOT NULL, check_time_ms INTEGER,
            source_type TEXT NOT NULL, proc_inst_id TEXT, cause_class TEXT NOT NULL,
            cause_approval TEXT, last_correction_key TEXT, updated_run INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;",
    )?;
    let observed_ms = company.as_of().timestamp_millis();
    let mut phase = Phase {
        label: if with_ledger {
            "reference: the same rows plus a ledger row each, plain inserts".to_owned()
        } else {
            "baseline: plain bulk insert".to_owned()
        },
        ..Phase::default()
    };
    reset_peak_rss();
    for batch_index in 0..company.batch_count() {
        let clock = Instant::now();
        let (_, slots, _) = company.batch_slots(batch_index, Pass::First);
        phase.times.generate += clock.elapsed();
        let clock = Instant::now();
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO slots VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                     ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            )?;
            for slot in &slots {
                insert.execute(params![
                    slot.key().canonical(),
                    slot.user_id.as_str(),
                    slot.work_date.format("%Y-%m-%d").to_string(),
                    slot.check_type.as_str(),
                    slot.plan_id,
                    slot.base_check_time.timestamp_millis(),
                    slot.user_check_time.map(|time| time.timestamp_millis()),
                    slot.time_result.as_str(),
                    slot.location_result.as_str(),
                    slot.source_type.as_str(),
                    slot.process_instance_id,
                    slot.approve_id,
                    slot.record_id,
                    slot.group_id,
                    slot.row_id,
                    observed_ms,
                    1_i64,
                    observed_ms,
                    "baseline",
                    1_i64,
                    1_i64,
                ])?;
                if with_ledger {
                    let mut ledger = transaction.prepare_cached(
                        "INSERT INTO ledger (slot_key, time_result, check_time_ms, source_type,
                             proc_inst_id, cause_class, updated_run)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'baseline', 1)",
                    )?;
                    ledger.execute(params![
                        slot.key().canonical(),
                        slot.time_result.as_str(),
                        slot.user_check_time.map(|time| time.timestamp_millis()),
                        slot.source_type.as_str(),
                        slot.process_instance_id,
                    ])?;
                }
            }
        }
        transaction.commit()?;
        phase.times.insert += clock.elapsed();
        phase.rows += slots.len() as u64;
        phase.new += slots.len() as u64;
    }
    phase.peak_rss_kib = peak_rss_kib();
    Ok(phase)
}

fn print_summary(baseline: &Phase, passes: &[&Phase]) {
    let base = baseline.insert.as_secs_f64();
    println!("| phase | rows | wall s | rows/s | ÷ baseline | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    let line = |phase: &Phase, seconds: f64| {
        println!(
            "| {} | {} | {seconds:.2} | {} | {:.2}× | {} |",
            phase.label,
            group(phase.rows),
            group((phase.rows as f64 / seconds.max(1e-9)) as u64),
            seconds / base.max(1e-9),
            phase.peak_rss_kib.map_or("n/a".to_owned(), |kib| format!(
                "{:.0}",
                kib as f64 / 1024.0
            )),
        );
    };
    line(baseline, base);
    for phase in passes {
        line(phase, phase.measured().as_secs_f64());
    }
    println!();
}

fn print_breakdown(baseline: &Phase, passes: &[&Phase]) {
    println!(
        "| phase (seconds) | load snapshot | diff | context | classify | apply | insert | generate (excluded) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for phase in std::iter::once(baseline).chain(passes.iter().copied()) {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            phase.label,
            phase.load_snapshot.as_secs_f64(),
            phase.diff.as_secs_f64(),
            phase.context.as_secs_f64(),
            phase.classify.as_secs_f64(),
            phase.apply.as_secs_f64(),
            phase.insert.as_secs_f64(),
            phase.generate.as_secs_f64(),
        );
    }
    println!();
}

fn print_outcomes(passes: &[&Phase]) {
    println!(
        "| phase | new | unchanged | changed | vanished | verdicts by class | corrections journaled | store batches |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---:|");
    for phase in passes {
        let verdicts: Vec<String> = phase
            .verdicts
            .iter()
            .map(|(class, n)| format!("{class} {}", group(*n)))
            .collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            phase.label,
            group(phase.new),
            group(phase.unchanged),
            group(phase.changed),
            group(phase.vanished),
            if verdicts.is_empty() {
                "none".to_owned()
            } else {
                verdicts.join(", ")
            },
            group(phase.corrections),
            group(phase.batches),
        );
    }
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS; false where the kernel refuses.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak resident set since the last reset, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The size of a database with its WAL.
fn database_bytes(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|metadata| metadata.len())
        .sum()
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
