//! The report of real runs, snapshotted in every format: a small seeded company on the
//! simulator, nightly runs of the real binary at 02:10 Shanghai on the simulator's virtual clock
//! with the default cadence, budget and policy, a backfill stopped by its call limit, then
//! `report` read back out of the store. Every instant in the output comes from the virtual clock
//! (`--as-of`) or the seeded world, and the client's timeout is far above any stall of a loaded
//! machine (a retried call would change the calls per endpoint), so the output is the same byte
//! for byte on every run: nothing is redacted.
//!
//! What the renderers show for data a run cannot produce cheaply (markup and commas in ids,
//! errors) is in the renderers' own snapshots of `report::fixture`.

use std::process::Output;

use chrono::{DateTime, NaiveDate, Utc};
use dingtalk_sim::{SimConfig, SimHandle};

use crate::support::bin::{assert_code, run_binary, stdout};
use crate::support::{date, fast_sim_config, job_config, night, start_sim};

const FORMATS: [&str; 5] = ["text", "json", "csv", "markdown", "html"];

/// Twelve employees over the first two weeks of October 2026, every kind of event frequent
/// enough to occur among them: 补卡 applied, refused, withdrawn and reverted, admin edits, an
/// unexplained change, vanished check points.
fn company() -> SimConfig {
    let mut config = fast_sim_config(15, 12);
    config.days = 14;
    config.rates.missed_punch = 0.08;
    config.rates.refused = 0.2;
    config.rates.withdrawn = 0.15;
    config.rates.admin_edit = 0.02;
    config.rates.revert = 0.2;
    config.rates.unexplained = 0.01;
    config.rates.vanish = 0.01;
    config.rates.max_filing_lag_days = 4;
    config
}

/// A simulator and a directory holding the config pointing at it and the store.
struct Company {
    sim: SimHandle,
    dir: tempfile::TempDir,
}

impl Company {
    async fn start() -> Company {
        let sim = start_sim(company()).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let text = job_config(
            &sim.base_url(),
            sim.world(),
            &dir.path().join("reconcile.db"),
            "",
        )
        .replace("request_timeout_secs = 5", "request_timeout_secs = 120");
        std::fs::write(dir.path().join("reconcile.toml"), text).expect("config written");
        Company { sim, dir }
    }

    /// The binary with this company's config, its clock pinned at `as_of`, then `args`.
    async fn bin(&self, as_of: DateTime<Utc>, args: &[&str]) -> Output {
        let mut full = vec![
            "--config".to_owned(),
            self.dir.path().join("reconcile.toml").display().to_string(),
            "--as-of".to_owned(),
            as_of.to_rfc3339(),
        ];
        full.extend(args.iter().map(|arg| (*arg).to_owned()));
        run_binary(full, Vec::new()).await
    }

    /// `run` on every night from `first` to `last`, inclusive, the simulator's clock moved to
    /// each night first.
    async fn nights(&self, first: NaiveDate, last: NaiveDate) {
        for day in first.iter_days().take_while(|day| *day <= last) {
            self.sim.set_clock(night(day));
            assert_code(&self.bin(night(day), &["run"]).await, 0);
        }
    }

    /// `report` with `args`, in `format`.
    async fn report(&self, as_of: DateTime<Utc>, args: &[&str], format: &str) -> String {
        let mut full = vec!["report", "--format", format];
        full.extend_from_slice(args);
        let output = self.bin(as_of, &full).await;
        assert_code(&output, 0);
        stdout(&output)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_of_real_runs_match_their_snapshots_in_every_format() {
    // Arrange: three weeks of nights (runs 1 to 21), then a backfill of the first two weeks
    // allowed 5 metered calls (run 22, partial).
    let company = Company::start().await;
    let last = date("2026-10-22");
    company.nights(date("2026-10-02"), last).await;
    let backfill = company
        .bin(
            night(last),
            &[
                "backfill",
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-14",
                "--max-calls",
                "5",
            ],
        )
        .await;
    assert_code(&backfill, 2);
    // Act + assert: the night of 2026-10-20 (run 19: an approval pending, one refused), the
    // backfill (partial, work deferred), the two weeks as a range (corrections of every kind,
    // anomalies).
    let reports: [(&str, Vec<&str>); 3] = [
        ("night_of_2026_10_20", vec!["--run", "19"]),
        ("backfill_stopped_by_its_call_limit", vec!["--run", "22"]),
        (
            "range_2026_10_01_to_2026_10_14",
            vec!["--from", "2026-10-01", "--to", "2026-10-14"],
        ),
    ];
    for (name, args) in &reports {
        for format in FORMATS {
            let rendered = company.report(night(last), args, format).await;
            // The CSV's byte-order mark, checked here, would be invisible in the snapshot.
            let rendered = match format {
                "csv" => rendered
                    .strip_prefix('\u{feff}')
                    .expect("the CSV starts with a BOM")
                    .to_owned(),
                _ => rendered,
            };
            insta::assert_snapshot!(format!("{name}_{format}"), rendered);
        }
        // The people-facing formats in English too (Chinese is the default above).
        for format in ["text", "markdown", "html"] {
            let mut english = args.clone();
            english.extend(["--lang", "en"]);
            let rendered = company.report(night(last), &english, format).await;
            insta::assert_snapshot!(format!("{name}_{format}_en"), rendered);
        }
    }
}
