//! The benchmark month (PRODUCT.md section 8, "free-tier capacity").
//!
//! A synthetic company on the simulator's standard rates (`Rates::benchmark()`: one day shift,
//! weekdays, 3 % missed punches, 90 % of them filed as 补卡 with lags up to 30 days, 5 % refused,
//! 3 % withdrawn, 0.5 % admin edits) lives from September to December. The job runs every night
//! at 02:10 in virtual time from a fresh store, exactly as `dingtalk-reconcile run` would, until
//! every decision about September–November is more than a week old. Then:
//!
//! - **metered calls per employee-month** are the calls DingTalk metered during November, the
//!   steady-state month (nothing of the cold start, nothing of the tail), divided by employees;
//! - **recall and precision** compare the ledger's corrections of work dates September–November
//!   with the simulator's ground truth on (user, work date, check type, plan, class, instance);
//! - the **push approaches** are counted on the same world for November: approach 1 (one push per
//!   check event), approach 2 (one push per finished 补卡 plus one detail call each, beside a daily
//!   results sync), and a naive nightly 7-day results re-poll;
//! - the **capacity** is the largest company whose November stays within 5,000 metered calls with
//!   100 % recall and precision, found by a search over sizes.
//!
//! Usage (release build; sizes and switches from the command line):
//!
//! ```text
//! cargo bench --bench month -- [--sizes 500,2000,4000] [--search] [--pessimistic] [--seed N] [--budget N]
//!     [--rates default] [--trace] [--by-endpoint] [--show-missed N]
//! ```
//!
//! `--rates default` lives the simulator's default rates instead (night shifts, 5 % of applied
//! 补卡 revoked one to five days later, unexplained changes, vanished days) and adds how soon each
//! revoked 补卡 reached the ledger: reverts in the truth, in the ledger, and within 7 days of the
//! instant DingTalk's result went back (PRODUCT.md section 8, "Reverts").

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use dingtalk_reconcile::dingtalk::{Client, ClientConfig, Scope};
use dingtalk_reconcile::domain::{Clock, Policy, PolicyAction, UserId};
use dingtalk_reconcile::reconcile::{RunKind, RunRequest, RunSettings, StoreRecorder, run_once};
use dingtalk_reconcile::store::Store;
use dingtalk_sim::{Rates, SimConfig, SimHandle, Switches};
use secrecy::SecretString;
use url::Url;

const TZ: Tz = chrono_tz::Asia::Shanghai;
const FREE_TIER: u64 = 5_000;

#[derive(Debug, Clone)]
struct Options {
    sizes: Vec<usize>,
    search: bool,
    pessimistic: bool,
    seed: u64,
    budget: u64,
    /// Print one line per night: metered calls, coverage, outcome.
    trace: bool,
    /// The budget sweep: the tight cases of each size under both readings, then the stated
    /// full-coverage budget of each checked by a run at it.
    sweep: bool,
    /// Where the sweep writes its recall curves (SVG).
    svg: Option<String>,
    /// Draw the recall curves from a saved sweep table instead of running (with `--svg`).
    chart_from: Option<String>,
    /// The simulator's default rates (night shifts, reverts, unexplained changes, vanished
    /// days) instead of the benchmark month's, with the reverts measured (`--rates default`).
    default_rates: bool,
    /// Print this many of the true corrections the ledger missed (`--show-missed N`).
    show_missed: usize,
    /// Print November's calls per endpoint (`--by-endpoint`).
    by_endpoint: bool,
}

fn parse_options() -> Options {
    let mut options = Options {
        sizes: vec![500, 2_000, 4_000],
        search: false,
        pessimistic: false,
        seed: 1,
        budget: FREE_TIER,
        trace: false,
        sweep: false,
        svg: None,
        chart_from: None,
        default_rates: false,
        show_missed: 0,
        by_endpoint: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sizes" => {
                options.sizes = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect();
            }
            "--search" => options.search = true,
            "--pessimistic" => options.pessimistic = true,
            "--trace" => options.trace = true,
            "--by-endpoint" => options.by_endpoint = true,
            "--sweep" => options.sweep = true,
            "--svg" => options.svg = args.next(),
            "--chart-from" => options.chart_from = args.next(),
            "--show-missed" => {
                options.show_missed = args.next().and_then(|n| n.parse().ok()).unwrap_or(10)
            }
            "--rates" => options.default_rates = args.next().as_deref() == Some("default"),
            "--seed" => options.seed = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            "--budget" => {
                options.budget = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(FREE_TIER)
            }
            // `cargo bench` passes `--bench`; ignore it and anything unknown.
            _ => {}
        }
    }
    options
}

#[derive(Debug)]
struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn night(day: NaiveDate) -> DateTime<Utc> {
    TZ.from_local_datetime(&day.and_hms_opt(2, 10, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// One measured size.
#[derive(Debug, Clone)]
struct Measure {
    employees: usize,
    november_calls: u64,
    /// Free calls in November: the access token and the directory (names and departments).
    november_free: u64,
    recall: f64,
    precision: f64,
    truth: usize,
    missed: usize,
    extra: usize,
    push_1: u64,
    push_2: u64,
    naive_7day: u64,
    approach_2_calls: u64,
    /// November's coverage as the job stated it: employees covered, of how many, and the
    /// monthly budget it said would cover everyone.
    covered: u64,
    total: u64,
    full_budget: u64,
    reverts: Reverts,
    seconds: f64,
}

/// How soon the ledger showed the reverted 补卡 of September–November work dates: each revert's
/// latency from the instant DingTalk's result went back to the journal entry's instant.
#[derive(Debug, Clone, Default)]
struct Reverts {
    total: usize,
    caught: usize,
    within_week: usize,
    /// Hours, of the caught ones.
    median_hours: f64,
    max_hours: f64,
    /// The ledger said applied and still did a week after DingTalk reverted: the defect
    /// (payroll pays a punch DingTalk no longer shows).
    standing: usize,
    /// Neither the 补卡 nor its revert reached the ledger: DingTalk applied and revoked it
    /// between two reads of the slot; the ledger never said applied.
    never_shown: usize,
}

impl Reverts {
    fn measure(
        world: &dingtalk_sim::World,
        truth: &BTreeSet<Key>,
        journaled: &std::collections::BTreeMap<Key, DateTime<Utc>>,
    ) -> Reverts {
        let reverted_at: std::collections::HashMap<&str, i64> = world
            .instances
            .iter()
            .filter_map(|i| Some((i.id.as_str(), i.reverted_ms?)))
            .collect();
        let mut hours = Vec::new();
        let (mut total, mut standing, mut never_shown) = (0, 0, 0);
        let week_ms = 7 * 86_400_000;
        for key in truth.iter().filter(|k| k.4 == "supply_reverted") {
            total += 1;
            let Some(&at) = key.5.as_deref().and_then(|id| reverted_at.get(id)) else {
                continue;
            };
            let applied_key = (
                key.0.clone(),
                key.1,
                key.2.clone(),
                key.3,
                "supply_applied".to_owned(),
                key.5.clone(),
            );
            let applied = journaled.get(&applied_key);
            let reverted = journaled.get(key);
            if let Some(seen) = reverted {
                hours.push((seen.timestamp_millis() - at) as f64 / 3_600_000.0);
            }
            let late = |seen: Option<&DateTime<Utc>>| {
                seen.is_none_or(|seen| seen.timestamp_millis() > at + week_ms)
            };
            match applied {
                Some(applied) if applied.timestamp_millis() <= at + week_ms && late(reverted) => {
                    standing += 1;
                    if standing <= 5 {
                        println!(
                            "  stands applied: {key:?}, reverted at {}, journaled applied {applied}, reverted {reverted:?}",
                            DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default()
                        );
                    }
                }
                None if reverted.is_none() => never_shown += 1,
                _ => {}
            }
        }
        hours.sort_by(f64::total_cmp);
        Reverts {
            total,
            caught: hours.len(),
            within_week: hours.iter().filter(|&&h| h <= 7.0 * 24.0).count(),
            median_hours: hours.get(hours.len() / 2).copied().unwrap_or(0.0),
            max_hours: hours.last().copied().unwrap_or(0.0),
            standing,
            never_shown,
        }
    }
}

impl Measure {
    fn per_employee(&self) -> f64 {
        self.november_calls as f64 / self.employees as f64
    }

    fn fits(&self) -> bool {
        self.november_calls <= FREE_TIER && self.missed == 0 && self.extra == 0
    }
}

type Key = (
    String,
    NaiveDate,
    String,
    Option<i64>,
    String,
    Option<String>,
);

async fn measure(employees: usize, options: &Options) -> Measure {
    let started = Instant::now();
    let first = date(2026, 9, 1);
    let last = date(2026, 12, 31);
    let mut config = SimConfig::new(options.seed, employees);
    config.from = first;
    config.days = (last - first).num_days() as u32 + 1;
    config.qps = 1_000_000;
    if !options.default_rates {
        config.rates = Rates::benchmark();
    }
    config.switches = if options.pessimistic {
        Switches::pessimistic()
    } else {
        Switches::default()
    };
    let first_night = night(first + Duration::days(1));
    config.clock = Some(first_night);
    let sim = SimHandle::spawn(config).await.expect("simulator starts");

    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("bench.db")).expect("store opens");
    let clock = Arc::new(TestClock(Mutex::new(first_night)));
    let recorder = Arc::new(StoreRecorder::new(store.call_log().expect("call log"), TZ));
    let base = Url::parse(&sim.base_url()).unwrap();
    let mut client_config = ClientConfig::new(
        base.clone(),
        base,
        sim.app_key(),
        SecretString::from(sim.app_secret().to_owned()),
    );
    client_config.qps_per_api = 1_000_000;
    let client_clock: Arc<dyn Clock> = clock.clone();
    let client_recorder: Arc<dyn dingtalk_reconcile::dingtalk::CallRecorder> = recorder.clone();
    let client = Client::new(client_config, client_clock, client_recorder).expect("client");
    let policy = Policy {
        admin_edit: PolicyAction::Apply,
        unexplained: PolicyAction::Report,
        vanished: PolicyAction::Report,
        pending_anomaly_days: 3,
    };
    let mut settings = RunSettings::new(TZ, Scope::Departments(vec![1]), policy);
    settings.supply_process_codes = Some(sim.supply_process_codes());
    settings.admin_user_id = Some(UserId::new(sim.admin_user_id()).unwrap());
    settings.monthly_budget = options.budget;

    // Every night from September 2 until every decision about November is a week old.
    let final_night = date(2027, 1, 12);
    let mut day = first + Duration::days(1);
    while day <= final_night {
        let as_of = night(day);
        sim.set_clock(as_of);
        *clock.0.lock().unwrap() = as_of;
        let request = RunRequest {
            kind: RunKind::Nightly,
            as_of,
            max_calls: None,
            dry_run: false,
            trigger: "bench".into(),
        };
        let before = client.metered_calls();
        match run_once(&mut store, &client, Some(&recorder), &settings, &request).await {
            Err(error) => eprintln!("  night {day}: run failed: {error:#}"),
            Ok(summary) if options.trace => {
                let month = format!("{}", as_of.with_timezone(&TZ).format("%Y-%m"));
                let coverage = dingtalk_reconcile::reconcile::stated_coverage(&store, &month)
                    .ok()
                    .flatten();
                println!(
                    "  night {day}: {} metered, {} corrections, outcome {:?}, covered {:?}, deferred {}",
                    client.metered_calls() - before,
                    summary.corrections_applied,
                    summary.outcome,
                    coverage.map(|c| (c.covered, c.total, c.full_budget)),
                    summary.deferred.len()
                );
            }
            Ok(_) => {}
        }
        day += Duration::days(1);
    }
    let as_of = night(final_night);

    let november = store.month_usage("2026-11").expect("usage");
    let november_calls = november.metered;
    if options.by_endpoint {
        println!(
            "November's calls by endpoint ({employees} employees): {:?}",
            november.by_endpoint
        );
    }
    let november_free = november.free;
    let stated = dingtalk_reconcile::reconcile::stated_coverage(&store, "2026-11")
        .expect("coverage")
        .unwrap_or(dingtalk_reconcile::reconcile::StatedCoverage {
            covered: employees as u64,
            total: employees as u64,
            full_budget: 0,
        });
    let in_scope = |work_date: NaiveDate| work_date >= first && work_date <= date(2026, 11, 30);
    let truth: BTreeSet<Key> = sim
        .truth(as_of)
        .into_iter()
        .filter(|c| in_scope(c.work_date))
        .map(|c| {
            (
                c.user_id,
                c.work_date,
                c.check_type,
                c.plan_id,
                c.class,
                c.process_instance_id,
            )
        })
        .collect();
    let journaled: std::collections::BTreeMap<Key, DateTime<Utc>> = store
        .all_corrections()
        .expect("corrections")
        .into_iter()
        .filter(|stored| in_scope(stored.correction.slot_key.work_date))
        .map(|stored| {
            let applied_at = stored.applied_at();
            let c = stored.correction;
            let key = (
                c.slot_key.user_id.as_str().to_owned(),
                c.slot_key.work_date,
                stored
                    .check_type
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                match c.slot_key.discriminator {
                    dingtalk_reconcile::domain::SlotDiscriminator::Plan(plan) => Some(plan),
                    _ => None,
                },
                c.class.as_str().to_owned(),
                c.process_instance_id,
            );
            (key, applied_at)
        })
        .collect();
    let ledger: BTreeSet<Key> = journaled.keys().cloned().collect();
    let missed = truth.difference(&ledger).count();
    let extra = ledger.difference(&truth).count();
    // The false ones are a correctness defect: show them, with the truth of the same slot.
    for key in ledger.difference(&truth).take(5) {
        let same_slot: Vec<_> = truth
            .iter()
            .filter(|t| t.0 == key.0 && t.1 == key.1 && t.2 == key.2)
            .collect();
        println!("  false correction {key:?}; truth for that slot: {same_slot:?}");
    }
    for key in truth.difference(&ledger).take(options.show_missed) {
        println!("  missed correction {key:?}");
    }
    let found = truth.len() - missed;

    // The alternatives, counted on the same world for November.
    let world = sim.world();
    let reverts = Reverts::measure(world, &truth, &journaled);
    let (nov_start, dec_start) = (
        night(date(2026, 11, 1)) - Duration::hours(2),
        night(date(2026, 12, 1)) - Duration::hours(2),
    );
    let push_1 = world.check_events_by(dec_start.timestamp_millis())
        - world.check_events_by(nov_start.timestamp_millis());
    let push_2 = world.supply_events_by(dec_start.timestamp_millis())
        - world.supply_events_by(nov_start.timestamp_millis());
    let rows = |user: usize, work_date: NaiveDate| -> u64 {
        world
            .day_index(work_date)
            .and_then(|index| world.user_day(user, index))
            .map_or(0, |user_day| user_day.slots.len() as u64)
    };
    let results_calls = |from: NaiveDate, to: NaiveDate| -> u64 {
        // One call per 50-user batch at least; one per 50 rows.
        (0..world.employees.len())
            .collect::<Vec<_>>()
            .chunks(50)
            .map(|batch| {
                let mut total = 0;
                let mut day = from;
                while day <= to {
                    total += batch.iter().map(|&user| rows(user, day)).sum::<u64>();
                    day += Duration::days(1);
                }
                total.div_ceil(50).max(1)
            })
            .sum()
    };
    let mut naive_7day = 0;
    let mut daily_sync = 0;
    let mut day = date(2026, 11, 1);
    while day.month() == 11 {
        let yesterday = day - Duration::days(1);
        naive_7day += results_calls(yesterday - Duration::days(6), yesterday);
        daily_sync += results_calls(yesterday, yesterday);
        day += Duration::days(1);
    }
    sim.shutdown().await;
    Measure {
        employees,
        november_calls,
        november_free,
        recall: if truth.is_empty() {
            1.0
        } else {
            found as f64 / truth.len() as f64
        },
        precision: if ledger.is_empty() {
            1.0
        } else {
            (ledger.len() - extra) as f64 / ledger.len() as f64
        },
        truth: truth.len(),
        missed,
        extra,
        push_1,
        push_2,
        naive_7day,
        approach_2_calls: daily_sync + push_2,
        covered: stated.covered,
        total: stated.total,
        full_budget: stated.full_budget,
        reverts,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn header() {
    println!(
        "{:>9} {:>9} {:>6} {:>8} {:>8} {:>9} {:>11} {:>7} {:>7} {:>9} {:>8} {:>10} {:>10} {:>7}",
        "employees",
        "metered",
        "free",
        "per-emp",
        "recall",
        "precision",
        "covered",
        "stated-C",
        "truth",
        "push-1",
        "push-2",
        "naive-7day",
        "approach-2",
        "secs"
    );
}

fn row(m: &Measure) {
    println!(
        "{:>9} {:>9} {:>6} {:>8.3} {:>7.2}% {:>8.2}% {:>11} {:>7} {:>7} {:>9} {:>8} {:>10} {:>10} {:>7.1}",
        m.employees,
        m.november_calls,
        m.november_free,
        m.per_employee(),
        m.recall * 100.0,
        m.precision * 100.0,
        format!("{}/{}", m.covered, m.total),
        m.full_budget,
        m.truth,
        m.push_1,
        m.push_2,
        m.naive_7day,
        m.approach_2_calls,
        m.seconds
    );
    if m.missed > 0 || m.extra > 0 {
        println!(
            "{:>9} missed {} true corrections, applied {} false ones",
            "", m.missed, m.extra
        );
    }
    let r = &m.reverts;
    if r.total > 0 {
        println!(
            "{:>9} reverted 补卡: {} in truth, {} in the ledger, {} within 7 days of the revert \
             (latency median {:.1} h, max {:.1} h); {} still applied in the ledger a week after \
             the revert; {} applied and revoked between two reads (never applied in the ledger)",
            "",
            r.total,
            r.caught,
            r.within_week,
            r.median_hours,
            r.max_hours,
            r.standing,
            r.never_shown
        );
    }
}

/// One point of a recall curve: a size and readings, a budget, the recall measured and the
/// full-coverage budget stated.
#[derive(Debug, Clone, Copy)]
struct CurvePoint {
    employees: usize,
    pessimistic: bool,
    budget: u64,
    recall: f64,
    stated: u64,
}

/// The points of a sweep's printed table (its rows as `--sweep` prints them), so the chart can
/// be drawn again from a saved table (`--chart-from FILE`).
fn points_from_table(table: &str) -> Vec<CurvePoint> {
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 {
                return None;
            }
            Some(CurvePoint {
                employees: fields[0].parse().ok()?,
                pessimistic: match fields[1] {
                    "pessimistic" => true,
                    "default" => false,
                    _ => return None,
                },
                budget: fields[2].parse().ok()?,
                recall: fields[4].trim_end_matches('%').parse::<f64>().ok()? / 100.0,
                stated: fields[7].parse().ok()?,
            })
        })
        .collect()
}

/// One row of the budget sweep.
#[derive(Debug, Clone)]
struct SweepRow {
    pessimistic: bool,
    budget: u64,
    m: Measure,
}

/// The tight cases (employees, budgets) of the sweep.
const SWEEP: [(usize, &[u64]); 3] = [
    (200, &[125, 250, 400]),
    (2_000, &[1_000, 2_500, 5_000]),
    (4_000, &[2_500, 5_000]),
];

/// Runs the sweep: every case under the default and the pessimistic readings (the pessimistic
/// only with `--pessimistic`), then for each
/// size and readings one run at the full-coverage budget the job stated (`C(N)`), and prints
/// the table with the graceful bound (recall ≥ B / C(N)) and monotony checked per row.
async fn sweep(options: &Options) -> Vec<(SweepRow, u64)> {
    let sizes: Vec<(usize, Vec<u64>)> = SWEEP
        .iter()
        .filter(|(size, _)| options.sizes.contains(size))
        .map(|(size, budgets)| (*size, budgets.to_vec()))
        .collect();
    let mut rows: Vec<(SweepRow, u64)> = Vec::new();
    println!(
        "{:>9} {:>11} {:>7} {:>8} {:>8} {:>9} {:>11} {:>7} {:>6} {:>7} {:>9} {:>7}",
        "employees",
        "readings",
        "budget",
        "metered",
        "recall",
        "precision",
        "covered",
        "C(N)",
        "B/C",
        "bound",
        "monotone",
        "secs"
    );
    // `--sweep --pessimistic`: the pessimistic readings only.
    let readings: &[bool] = if options.pessimistic {
        &[true]
    } else {
        &[false, true]
    };
    for &pessimistic in readings {
        for (size, budgets) in &sizes {
            let mut measured: Vec<SweepRow> = Vec::new();
            for &budget in budgets {
                let run = Options {
                    budget,
                    pessimistic,
                    trace: false,
                    ..options.clone()
                };
                measured.push(SweepRow {
                    pessimistic,
                    budget,
                    m: measure(*size, &run).await,
                });
            }
            // The job's own statement of what covers everyone, at the largest budget run.
            let stated = measured
                .iter()
                .map(|row| row.m.full_budget)
                .max()
                .unwrap_or(0);
            if stated > 0 && !budgets.contains(&stated) {
                let run = Options {
                    budget: stated,
                    pessimistic,
                    trace: false,
                    ..options.clone()
                };
                measured.push(SweepRow {
                    pessimistic,
                    budget: stated,
                    m: measure(*size, &run).await,
                });
            }
            measured.sort_by_key(|row| row.budget);
            let mut best = 0.0f64;
            for row in measured {
                let ratio = (row.budget as f64 / stated.max(1) as f64).min(1.0);
                let bound = row.m.recall + 1e-9 >= ratio;
                let monotone = row.m.recall + 1e-9 >= best;
                best = best.max(row.m.recall);
                println!(
                    "{:>9} {:>11} {:>7} {:>8} {:>7.2}% {:>8.2}% {:>11} {:>7} {:>6.2} {:>7} {:>9} {:>7.1}",
                    row.m.employees,
                    if row.pessimistic {
                        "pessimistic"
                    } else {
                        "default"
                    },
                    row.budget,
                    row.m.november_calls,
                    row.m.recall * 100.0,
                    row.m.precision * 100.0,
                    format!("{}/{}", row.m.covered, row.m.total),
                    stated,
                    ratio,
                    if bound { "holds" } else { "FAILS" },
                    if monotone { "yes" } else { "NO" },
                    row.m.seconds
                );
                rows.push((row, stated));
            }
        }
    }
    rows
}

/// The recall curves of the sweep as an SVG: recall against B / C(N), one line per size and
/// readings, with the graceful bound (recall = B / C(N)) drawn dashed.
fn recall_svg(rows: &[CurvePoint]) -> String {
    use std::fmt::Write;
    let (width, height, left, bottom, top, right) = (680.0, 400.0, 60.0, 50.0, 30.0, 220.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let x = |ratio: f64| left + ratio.clamp(0.0, 1.2) / 1.2 * plot_w;
    let y = |recall: f64| top + (1.0 - recall.clamp(0.0, 1.0)) * plot_h;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" \
         fill=\"white\"/>\n<text x=\"{left}\" y=\"18\" font-size=\"14\">Recall by budget \
         (benchmark world, corrections of Sep–Nov work dates)</text>\n"
    );
    for tick in 0..=6 {
        let ratio = f64::from(tick) * 0.2;
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{0:.1}\" y=\"{3:.1}\" text-anchor=\"middle\">{ratio:.1}</text>",
            x(ratio),
            top,
            top + plot_h,
            top + plot_h + 16.0
        );
    }
    for tick in 0..=5 {
        let recall = f64::from(tick) * 0.2;
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{4:.0}%</text>",
            y(recall),
            left + plot_w,
            left - 6.0,
            y(recall) + 4.0,
            recall * 100.0
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">budget B / stated full-coverage \
         budget C(N)</text>",
        left + plot_w / 2.0,
        height - 12.0
    );
    let _ = writeln!(
        out,
        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\" \
         stroke-dasharray=\"5,4\"/>",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0)
    );
    let colours = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    ];
    let mut series: Vec<(usize, bool)> = rows
        .iter()
        .map(|point| (point.employees, point.pessimistic))
        .collect();
    series.dedup();
    for (index, (employees, pessimistic)) in series.iter().enumerate() {
        let colour = colours[index % colours.len()];
        let points: Vec<String> = rows
            .iter()
            .filter(|point| point.employees == *employees && point.pessimistic == *pessimistic)
            .map(|point| {
                let ratio = point.budget as f64 / point.stated.max(1) as f64;
                format!("{:.1},{:.1}", x(ratio), y(point.recall))
            })
            .collect();
        let dash = if *pessimistic {
            " stroke-dasharray=\"2,3\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            points.join(" ")
        );
        for point in &points {
            let (px, py) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                out,
                "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"{colour}\"/>"
            );
        }
        let legend_y = top + 16.0 * index as f64;
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"{colour}\" \
             stroke-width=\"2\"{dash}/><text x=\"{3:.1}\" y=\"{4:.1}\">{employees} employees, {5}</text>",
            left + plot_w + 12.0,
            legend_y,
            left + plot_w + 32.0,
            left + plot_w + 38.0,
            legend_y + 4.0,
            if *pessimistic {
                "pessimistic"
            } else {
                "default"
            }
        );
    }
    let legend_y = top + 16.0 * series.len() as f64;
    let _ = writeln!(
        out,
        "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"#888\" \
         stroke-dasharray=\"5,4\"/><text x=\"{3:.1}\" y=\"{4:.1}\">bound B / C(N)</text>\n</svg>",
        left + plot_w + 12.0,
        legend_y,
        left + plot_w + 32.0,
        left + plot_w + 38.0,
        legend_y + 4.0
    );
    out
}

/// This run's arguments as typed (without the `--bench` cargo adds), to print beside its figures.
fn command_line() -> String {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() {
    let options = parse_options();
    if let (Some(table), Some(path)) = (&options.chart_from, &options.svg) {
        let text = std::fs::read_to_string(table).expect("the sweep's table reads");
        std::fs::write(path, recall_svg(&points_from_table(&text))).expect("the chart is written");
        println!("recall curves of {table} written to {path}");
        return;
    }
    if options.sweep {
        println!(
            "budget sweep: seed {}; November (steady state) of a Sep–Dec world; C(N) is the \
             full-coverage budget the job stated, checked by a run at it",
            options.seed
        );
        println!("command: cargo bench --bench month -- {}", command_line());
        let rows = sweep(&options).await;
        let points: Vec<CurvePoint> = rows
            .iter()
            .map(|(row, stated)| CurvePoint {
                employees: row.m.employees,
                pessimistic: row.pessimistic,
                budget: row.budget,
                recall: row.m.recall,
                stated: *stated,
            })
            .collect();
        if let Some(path) = &options.svg {
            std::fs::write(path, recall_svg(&points)).expect("the chart is written");
            println!("recall curves written to {path}");
        }
        return;
    }
    println!(
        "benchmark month: seed {}, rates {}, switches {}, budget {} metered calls/month; November (steady state) of a Sep–Dec world",
        options.seed,
        if options.default_rates {
            "default (reverts)"
        } else {
            "benchmark"
        },
        if options.pessimistic {
            "pessimistic"
        } else {
            "default"
        },
        options.budget
    );
    println!("command: cargo bench --bench month -- {}", command_line());
    header();
    let mut measured = Vec::new();
    for &size in &options.sizes {
        let m = measure(size, &options).await;
        row(&m);
        measured.push(m);
    }
    if options.search {
        // Start from the linear estimate of the largest fitting size, then bisect on real runs.
        let best = measured
            .iter()
            .max_by_key(|m| m.employees)
            .expect("at least one size");
        let estimate = (FREE_TIER as f64 / best.per_employee()).floor() as usize;
        let (mut lo, mut hi) = (0usize, estimate.max(1) * 2);
        for m in &measured {
            if m.fits() {
                lo = lo.max(m.employees);
            } else {
                hi = hi.min(m.employees);
            }
        }
        let mut probe = estimate.clamp(lo + 1, hi.saturating_sub(1).max(lo + 1));
        while hi > lo + hi / 50 + 1 {
            let m = measure(probe, &options).await;
            row(&m);
            if m.fits() {
                lo = probe;
            } else {
                hi = probe;
            }
            probe = lo + (hi - lo) / 2;
        }
        println!(
            "capacity: {lo} employees within {FREE_TIER} metered calls a month with 100% recall and precision (search resolution ±2%)"
        );
    }
}
