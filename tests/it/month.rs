//! The product's central claim under a plain `cargo test`: a small company reconciled by nightly
//! runs at the default cadence, under a realistic monthly budget, across a month boundary in
//! Asia/Shanghai, finds every settled correction, invents none, and keeps each natural month's
//! metered calls within the budget.
//!
//! The expectations come from the simulator alone: its ground truth (`GET /_sim/truth`) and its
//! own call accounting (`GET /_sim/stats`, metered calls per natural month in Asia/Shanghai).
//! Nothing of the product computes what is expected.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use dingtalk_reconcile::dingtalk::{CallRecorder, Client, Scope};
use dingtalk_reconcile::domain::{Clock, Policy, PolicyAction, UserId};
use dingtalk_reconcile::reconcile::{RunKind, RunRequest, RunSettings, StoreRecorder, run_once};
use dingtalk_sim::{Rates, SimConfig, SimHandle, SimStats, Switches};

use crate::support::truth::{Key, journaled, truth};
use crate::support::{SHANGHAI, SimClock, client_config, date, night, open_store, start_sim};

/// The company: small enough for a debug build, large enough for several 50-user batches.
const EMPLOYEES: usize = 200;

/// Which reading of DingTalk's unconfirmed behaviours the simulator takes, and so which budget
/// the month gets.
#[derive(Debug, Clone, Copy)]
enum Reading {
    /// The simulator's default switches: the cheap path works.
    Default,
    /// Every switch at its hardest reading: a corrected row names no approval and the 补卡 punch is
    /// not among the raw punches, so the job falls back to listing and detailing approvals.
    Pessimistic,
}

impl Reading {
    fn switches(self) -> Switches {
        match self {
            Reading::Default => Switches::default(),
            Reading::Pessimistic => Switches::pessimistic(),
        }
    }

    /// The monthly budget, from documented figures and the simulator's own counts:
    ///
    /// - default: PRODUCT.md section 8's target for the cheap path, 1.25 metered calls per
    ///   employee-month (the README measures 1.18 at 4,000 employees), i.e. 250 for 200 people,
    ///   plus what a company this small cannot share over 50-user batches (section 5's cost facts:
    ///   a results page or a raw-punch call costs one call however few rows it holds, an id page
    ///   holds 20 approvals): one call per 50-user batch and one approval id page a night over a
    ///   31-night month, 31 × (4 + 1) = 155. 405 in all, about 2 per employee.
    /// - pessimistic: that, plus two calls for every 补卡 decided in the busiest month as the
    ///   simulator counts them (its push-approach-2 events): the detail call matching needs
    ///   (section 5) and the results re-read of the user-day it points at.
    fn budget(self, sim: &SimHandle) -> u64 {
        let per_employee = (EMPLOYEES as u64 * 1_250).div_ceil(1_000);
        let small_company = 31 * (EMPLOYEES as u64).div_ceil(50) + 31;
        let cheap_path = per_employee + small_company;
        match self {
            Reading::Default => cheap_path,
            Reading::Pessimistic => {
                let world = sim.world();
                let decided_by =
                    |first: &str| world.supply_events_by(month_start(first).timestamp_millis());
                let october = decided_by("2026-11-01") - decided_by("2026-10-01");
                let november = decided_by("2026-12-01") - decided_by("2026-11-01");
                cheap_path + 2 * october.max(november)
            }
        }
    }
}

/// Local midnight starting the month of `first` (a `YYYY-MM-01` date) in Asia/Shanghai.
fn month_start(first: &str) -> DateTime<Utc> {
    night(date(first)) - Duration::minutes(2 * 60 + 10)
}

/// The first and last nights (02:10 Asia/Shanghai), across the October → November boundary.
const FIRST_NIGHT: &str = "2026-10-20";
const LAST_NIGHT: &str = "2026-11-20";

/// A correction that happened this long before the last night has been through every step of the
/// default cadence (read a day after its date, raw punches scanned every 3 nights, approvals
/// listed 3 days late, then the targeted re-read): it must be in the ledger.
const SETTLED_DAYS: i64 = 7;

/// A world of `EMPLOYEES` on the benchmark rates, starting a week before the first night so the
/// job starts with history behind it; the QPS limit out of the way (a test, not a throughput run).
fn world(seed: u64, switches: Switches) -> SimConfig {
    let mut config = SimConfig::new(seed, EMPLOYEES);
    config.from = date(FIRST_NIGHT) - Duration::days(7);
    config.days = (date(LAST_NIGHT) - config.from).num_days() as u32;
    config.qps = 10_000;
    config.rates = Rates::benchmark();
    config.switches = switches;
    config.clock = Some(night(date(FIRST_NIGHT)));
    config
}

/// The simulator's own answers, over HTTP like any client of its admin paths.
struct SimAdmin {
    http: reqwest::Client,
    base: String,
}

impl SimAdmin {
    async fn stats(&self) -> SimStats {
        self.http
            .get(format!("{}/_sim/stats", self.base))
            .send()
            .await
            .expect("the simulator answers")
            .json()
            .await
            .expect("the stats are JSON")
    }
}

/// Nightly runs from `FIRST_NIGHT` to `LAST_NIGHT` on a fresh store, every setting at its default
/// but the scope, the admin who owns the 补卡 templates and the budget; then the ledger against
/// the truth and each month's metered calls against the budget.
async fn a_month_of_default_nights(seed: u64, reading: Reading) {
    // Arrange
    let sim: SimHandle = start_sim(world(seed, reading.switches())).await;
    let budget = reading.budget(&sim);
    let admin = SimAdmin {
        http: reqwest::Client::new(),
        base: sim.base_url(),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = open_store(&dir.path().join("month.db"));
    let recorder = Arc::new(StoreRecorder::new(
        store.call_log().expect("call log"),
        SHANGHAI,
    ));
    let clock: Arc<dyn Clock> = Arc::new(SimClock(sim.state()));
    let client_recorder: Arc<dyn CallRecorder> = recorder.clone();
    let client = Client::new(client_config(&sim), clock, client_recorder).expect("client");
    let policy = Policy {
        admin_edit: PolicyAction::Apply,
        unexplained: PolicyAction::Report,
        vanished: PolicyAction::Report,
        pending_anomaly_days: 3,
    };
    let mut settings = RunSettings::new(SHANGHAI, Scope::Departments(vec![1]), policy);
    settings.supply_process_codes = Some(sim.supply_process_codes());
    settings.admin_user_id = Some(UserId::new(sim.admin_user_id()).expect("a user id"));
    settings.monthly_budget = budget;

    // Act: every night at 02:10 local, the clock injected through the simulator's.
    let mut nights = 0;
    for day in date(FIRST_NIGHT).iter_days() {
        if day > date(LAST_NIGHT) {
            break;
        }
        let as_of = night(day);
        sim.set_clock(as_of);
        let request = RunRequest {
            kind: RunKind::Nightly,
            as_of,
            max_calls: None,
            dry_run: false,
            trigger: "test".into(),
        };
        run_once(&mut store, &client, Some(&recorder), &settings, &request)
            .await
            .unwrap_or_else(|error| panic!("night {day}: {error:#}"));
        nights += 1;
    }
    assert_eq!(nights, 32, "Oct 20 … Nov 20 is 32 nights");

    // Assert: the ledger, key by key and with multiplicity, against the simulator's truth.
    let last = night(date(LAST_NIGHT));
    let mut ledger: BTreeMap<Key, usize> = BTreeMap::new();
    for key in journaled(&store) {
        *ledger.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = ledger.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "corrections applied twice: {twice:?}");
    let applied: BTreeSet<Key> = ledger.into_keys().collect();
    let by_the_end: BTreeSet<Key> = truth(&sim, last).await.into_iter().collect();
    let settled: BTreeSet<Key> = truth(&sim, last - Duration::days(SETTLED_DAYS))
        .await
        .into_iter()
        .collect();
    assert!(
        settled.len() >= 20,
        "the month has corrections to find: {}",
        settled.len()
    );
    let stats = admin.stats().await;
    eprintln!(
        "month: {EMPLOYEES} employees, {:?} reading: metered by month {:?} (budget {budget}); {} settled corrections, {} applied",
        reading,
        stats.metered_by_month,
        settled.len(),
        applied.len()
    );
    let invented: Vec<&Key> = applied.difference(&by_the_end).take(5).collect();
    assert!(
        invented.is_empty(),
        "precision: {} of {} applied corrections are not in the truth, e.g. {invented:#?}",
        applied.difference(&by_the_end).count(),
        applied.len()
    );
    let mut missed: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for key in settled.difference(&applied) {
        *missed.entry(key.work_date).or_default() += 1;
    }
    assert!(
        missed.is_empty(),
        "recall: {} of {} settled corrections missing; by work date: {missed:?}; e.g. {:#?}",
        missed.values().sum::<usize>(),
        settled.len(),
        settled.difference(&applied).take(3).collect::<Vec<_>>()
    );

    // Each natural month in Asia/Shanghai, as the simulator metered it, within the budget.
    assert_eq!(
        stats.metered_by_month.keys().collect::<Vec<_>>(),
        ["2026-10", "2026-11"],
        "the nights span two months"
    );
    for (month, metered) in &stats.metered_by_month {
        assert!(
            *metered <= budget,
            "{month}: {metered} metered calls, budget {budget}"
        );
        // The job's own count of the month agrees with DingTalk's.
        let counted = store.month_usage(month).expect("usage").metered;
        assert_eq!(counted, *metered, "{month}: the job counted {counted}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_month_finds_every_settled_correction_within_the_documented_budget() {
    a_month_of_default_nights(5, Reading::Default).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pessimistic_month_finds_every_settled_correction_within_the_budget_it_needs() {
    a_month_of_default_nights(5, Reading::Pessimistic).await;
}
