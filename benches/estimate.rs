//! How close a backfill's cost estimate comes to what the backfill then spends.
//!
//! For each size, on the simulator's default world (`SimConfig::new(seed, employees)`: October
//! 2026, default `Rates`, night shifts, reverts; only its QPS limit is lifted so the bench does
//! not wait on real time; `--pessimistic` starts every ⚠ switch at its pessimistic reading), the real `dingtalk-reconcile` binary runs against a fresh store, at the
//! simulator's clock (2026-11-01 02:00 +08:00), exactly as a person would:
//!
//! - **month, fresh store**: `plan --from 2026-10-01 --to 2026-10-31` (the free dry run), then
//!   `backfill --from 2026-10-01 --to 2026-10-31` (no `--yes`: the estimate decides; the config's
//!   budget is ample);
//! - **week on a store holding earlier weeks**: `backfill 2026-10-01 .. 2026-10-21` first, then
//!   `plan` and `backfill` of `2026-10-22 .. 2026-10-28`, measured alone;
//! - **week, fresh store**: `plan` and `backfill` of `2026-10-22 .. 2026-10-28` alone.
//!
//! The estimate is the one the backfill prints before it starts (its `estimated cost` line); the
//! actual spend is the metered calls of the measured backfill, from the store's call ledger and,
//! independently, from the simulator's own accounting. Per endpoint, the actual calls are shown
//! beside the estimate's item kinds (logged by the backfill as `backfill estimate by item kind`).
//!
//! Usage (release build):
//!
//! ```text
//! cargo bench --bench estimate -- [--sizes 300,1500,4000] [--seed N] [--pessimistic]
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use chrono::{DateTime, Utc};
use dingtalk_reconcile::store::Store;
use dingtalk_sim::{SimConfig, SimHandle, Switches, config_snippet, is_metered_path};

const MONTH: &str = "2026-11";

#[derive(Debug, Clone)]
struct Options {
    sizes: Vec<usize>,
    seed: u64,
    pessimistic: bool,
}

fn parse_options() -> Options {
    let mut options = Options {
        sizes: vec![300, 1_500, 4_000],
        seed: 1,
        pessimistic: false,
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
            "--seed" => options.seed = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            "--pessimistic" => options.pessimistic = true,
            // `cargo bench` passes `--bench`; ignore it and anything unknown.
            _ => {}
        }
    }
    options
}

/// A simulator and a directory holding the config pointing at it and the store.
struct Rig {
    sim: SimHandle,
    dir: tempfile::TempDir,
    as_of: DateTime<Utc>,
}

impl Rig {
    async fn new(options: &Options, employees: usize) -> Rig {
        let mut config = SimConfig::new(options.seed, employees);
        if options.pessimistic {
            config.switches = Switches::pessimistic();
        }
        // Real-time QPS only; the world's rates stay the defaults.
        config.qps = 1_000_000;
        let sim = SimHandle::spawn(config).await.expect("simulator starts");
        let as_of = sim.now();
        let dir = tempfile::tempdir().expect("temp dir");
        let text = format!(
            "timezone = \"Asia/Shanghai\"\n\
             {dingtalk}\
             qps_per_api = 1000\n\
             request_timeout_secs = 30\n\
             [scope]\n\
             departments = [1]\n\
             [store]\n\
             path = {store:?}\n\
             [quota]\n\
             monthly_budget = 1000000\n",
            dingtalk = config_snippet(&sim.base_url(), sim.world()),
            store = dir.path().join("reconcile.db").display().to_string(),
        );
        std::fs::write(dir.path().join("reconcile.toml"), text).expect("config written");
        Rig { sim, dir, as_of }
    }

    fn store(&self) -> Store {
        Store::open(&self.dir.path().join("reconcile.db")).expect("store opens")
    }

    /// Runs the binary with the rig's config and clock, JSON log lines on stderr.
    async fn bin(&self, args: &[&str]) -> (String, String) {
        let mut full = vec![
            "--config".to_owned(),
            self.dir.path().join("reconcile.toml").display().to_string(),
            "--as-of".to_owned(),
            self.as_of.to_rfc3339(),
            "--log-format".to_owned(),
            "json".to_owned(),
        ];
        full.extend(args.iter().map(|arg| (*arg).to_owned()));
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_dingtalk-reconcile"))
                .args(&full)
                .env_remove("RUST_LOG")
                .env("RECON_LOG", "warn,dingtalk_reconcile::commands=info")
                .output()
                .expect("the binary runs")
        })
        .await
        .expect("the runner finishes");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            eprintln!(
                "  {args:?} exited {:?}:\n{stderr}\n{stdout}",
                output.status.code()
            );
        }
        (stdout, stderr)
    }

    /// Metered calls so far, by endpoint path: the store's ledger and the simulator's count.
    fn spent(&self) -> Spent {
        let usage = self.store().month_usage(MONTH).expect("usage");
        let stats = self.sim.stats();
        Spent {
            store: usage.metered,
            store_by_endpoint: usage
                .by_endpoint
                .into_iter()
                .filter(|(path, _)| is_metered_path(path))
                .collect(),
            sim: stats.metered,
            sim_by_path: stats
                .calls
                .into_iter()
                .filter(|(path, _)| is_metered_path(path))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Spent {
    store: u64,
    store_by_endpoint: BTreeMap<String, u64>,
    sim: u64,
    sim_by_path: BTreeMap<String, u64>,
}

impl Spent {
    fn since(&self, before: &Spent) -> Spent {
        let minus = |now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>| {
            now.iter()
                .map(|(path, n)| (path.clone(), n - then.get(path).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect()
        };
        Spent {
            store: self.store - before.store,
            store_by_endpoint: minus(&self.store_by_endpoint, &before.store_by_endpoint),
            sim: self.sim - before.sim,
            sim_by_path: minus(&self.sim_by_path, &before.sim_by_path),
        }
    }
}

/// One measured backfill.
#[derive(Debug, Clone)]
struct Measure {
    scenario: &'static str,
    employees: usize,
    /// `plan --from --to` (free): its total planned plus deferred, and by item kind.
    plan: u64,
    plan_by_kind: BTreeMap<String, u64>,
    /// The backfill's printed estimate, its listing cost (when it says so), and by item kind.
    estimate: u64,
    listing: Option<u64>,
    estimate_by_kind: BTreeMap<String, u64>,
    actual: Spent,
    seconds: f64,
}

impl Measure {
    fn ratio(&self) -> f64 {
        if self.actual.store == 0 {
            return f64::NAN;
        }
        self.estimate as f64 / self.actual.store as f64
    }
}

/// The messages of JSON log lines.
fn messages(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|value| value.get("fields").cloned())
        .collect()
}

/// The number right before `unit` in `text` ("estimated cost 631 metered calls").
fn number_before(text: &str, unit: &str) -> Option<u64> {
    let head = &text[..text.find(unit)?];
    head.split_whitespace().last()?.parse().ok()
}

/// `kind=calls kind=calls …`.
fn parse_kinds(text: &str) -> BTreeMap<String, u64> {
    text.split_whitespace()
        .filter_map(|pair| {
            let (kind, calls) = pair.split_once('=')?;
            Some((kind.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// The `plan` command's text: items and deferred items by kind (`calls  kind  …` lines).
fn parse_plan(text: &str) -> (u64, BTreeMap<String, u64>) {
    let mut by_kind = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(calls), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(calls) = calls.parse::<u64>() else {
            continue;
        };
        if kind == "total" {
            continue;
        }
        *by_kind.entry(kind.to_owned()).or_default() += calls;
    }
    (by_kind.values().sum(), by_kind)
}

async fn measure_backfill(
    rig: &Rig,
    scenario: &'static str,
    employees: usize,
    from: &str,
    to: &str,
) -> Measure {
    let started = Instant::now();
    let (plan_text, _) = rig.bin(&["plan", "--from", from, "--to", to]).await;
    let (plan, plan_by_kind) = parse_plan(&plan_text);
    let before = rig.spent();
    // No `--yes`: the estimate decides whether the backfill starts (the budget is ample).
    let (_, stderr) = rig.bin(&["backfill", "--from", from, "--to", to]).await;
    let actual = rig.spent().since(&before);
    let mut estimate = 0;
    let mut listing = None;
    let mut estimate_by_kind = BTreeMap::new();
    for fields in messages(&stderr) {
        let message = fields.get("message").and_then(|m| m.as_str()).unwrap_or("");
        if message.contains("estimated cost") {
            estimate = number_before(message, "metered calls").unwrap_or(0);
            listing = number_before(message, "of them spent listing");
        }
        if message == "backfill estimate by item kind" {
            estimate_by_kind =
                parse_kinds(fields.get("by_kind").and_then(|v| v.as_str()).unwrap_or(""));
        }
    }
    Measure {
        scenario,
        employees,
        plan,
        plan_by_kind,
        estimate,
        listing,
        estimate_by_kind,
        actual,
        seconds: started.elapsed().as_secs_f64(),
    }
}

async fn month_fresh(options: &Options, employees: usize) -> Measure {
    let rig = Rig::new(options, employees).await;
    let m = measure_backfill(&rig, "month, fresh", employees, "2026-10-01", "2026-10-31").await;
    rig.sim.shutdown().await;
    m
}

async fn week_fresh(options: &Options, employees: usize) -> Measure {
    let rig = Rig::new(options, employees).await;
    let m = measure_backfill(&rig, "week, fresh", employees, "2026-10-22", "2026-10-28").await;
    rig.sim.shutdown().await;
    m
}

async fn week_on_existing(options: &Options, employees: usize) -> Measure {
    let rig = Rig::new(options, employees).await;
    rig.bin(&[
        "backfill",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-21",
        "--yes",
    ])
    .await;
    let m = measure_backfill(
        &rig,
        "week, on 3 weeks",
        employees,
        "2026-10-22",
        "2026-10-28",
    )
    .await;
    rig.sim.shutdown().await;
    m
}

/// Endpoint paths by the item kinds that spend on them.
const ENDPOINTS: &[(&str, &str, &[&str])] = &[
    (
        "results",
        "/attendance/list",
        &["results", "targeted", "rescan"],
    ),
    ("punches", "/attendance/listRecord", &["punch_scan"]),
    (
        "approval list",
        "/v1.0/workflow/processes/instanceIds/query",
        &["approval_list"],
    ),
    (
        "approval details",
        "/v1.0/workflow/processInstances",
        &["approval_detail", "enrichment"],
    ),
];

fn print_summary(measured: &[Measure]) {
    println!(
        "| scenario | employees | `plan` (free) | estimate | of which listing (spent) | actual (store) | actual (sim) | estimate ÷ actual | secs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in measured {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} |",
            m.scenario,
            m.employees,
            m.plan,
            m.estimate,
            m.listing.map_or("–".to_owned(), |n| n.to_string()),
            m.actual.store,
            m.actual.sim,
            m.ratio(),
            m.seconds
        );
    }
}

fn print_endpoints(measured: &[Measure]) {
    println!();
    println!(
        "| scenario | employees | endpoint | actual (store) | actual (sim) | estimate (item kinds) | `plan` (item kinds) |"
    );
    println!("|---|---:|---|---:|---:|---|---|");
    for m in measured {
        let mut accounted = 0;
        for (name, path, kinds) in ENDPOINTS {
            let store = m.actual.store_by_endpoint.get(*path).copied().unwrap_or(0);
            let sim = m.actual.sim_by_path.get(*path).copied().unwrap_or(0);
            accounted += store;
            let show = |by_kind: &BTreeMap<String, u64>| {
                let parts: Vec<String> = kinds
                    .iter()
                    .filter_map(|kind| by_kind.get(*kind).map(|n| format!("{kind} {n}")))
                    .collect();
                let total: u64 = kinds.iter().filter_map(|kind| by_kind.get(*kind)).sum();
                if parts.is_empty() {
                    "0".to_owned()
                } else {
                    format!("{total} ({})", parts.join(", "))
                }
            };
            println!(
                "| {} | {} | {name} | {store} | {sim} | {} | {} |",
                m.scenario,
                m.employees,
                show(&m.estimate_by_kind),
                show(&m.plan_by_kind)
            );
        }
        if accounted != m.actual.store {
            let other: Vec<String> = m
                .actual
                .store_by_endpoint
                .iter()
                .filter(|(path, _)| !ENDPOINTS.iter().any(|(_, p, _)| p == path))
                .map(|(path, n)| format!("{path} {n}"))
                .collect();
            println!(
                "| {} | {} | other | {} | | {} | |",
                m.scenario,
                m.employees,
                m.actual.store - accounted,
                other.join(", ")
            );
        }
    }
}

#[tokio::main]
async fn main() {
    let options = parse_options();
    let binary = Path::new(env!("CARGO_BIN_EXE_dingtalk-reconcile"));
    println!(
        "backfill estimate vs actual: seed {}, default simulator rates, {} switches, as of 2026-11-01 02:00 +08:00 ({})",
        options.seed,
        if options.pessimistic {
            "pessimistic"
        } else {
            "default"
        },
        binary.display()
    );
    println!(
        "command: cargo bench --bench estimate -- {}",
        std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    let mut measured = Vec::new();
    for &size in &options.sizes {
        for m in [
            month_fresh(&options, size).await,
            week_on_existing(&options, size).await,
            week_fresh(&options, size).await,
        ] {
            eprintln!(
                "  {} × {}: estimate {} actual {} ({:.2}) in {:.1}s",
                m.scenario,
                m.employees,
                m.estimate,
                m.actual.store,
                m.ratio(),
                m.seconds
            );
            measured.push(m);
        }
    }
    print_summary(&measured);
    print_endpoints(&measured);
}
