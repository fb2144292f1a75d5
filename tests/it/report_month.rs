//! `report --month` of the real binary against the simulator: the header names the work dates
//! reconciled and the gaps, each correction carries the run that applied it, `status`, the report
//! and its counts agree on pending, an approval approved long ago and still not shown corrected
//! is an anomaly, and refused approvals are listed with the person and the date.
//!
//! The rig's world is 2026-10-01 .. 2026-10-09 and its clock early on 10-10, so `--month 2026-10`
//! is 10-01 .. 10-09.

use serde_json::Value;

use crate::support::bin::{Rig, assert_code, stdout};

const SEED: u64 = 31;

/// Backfills `from..=to` of the rig's world.
async fn backfill(rig: &Rig, from: &str, to: &str) {
    let output = rig
        .bin(&["backfill", "--from", from, "--to", to, "--yes"])
        .await;
    assert_code(&output, 0);
}

async fn json(rig: &Rig, args: &[&str]) -> Value {
    let output = rig.bin(args).await;
    assert_code(&output, 0);
    serde_json::from_str(&stdout(&output)).expect("JSON on stdout")
}

fn dates(windows: &Value) -> Vec<(String, String)> {
    windows
        .as_array()
        .expect("a list of windows")
        .iter()
        .map(|window| {
            (
                window["from"].as_str().unwrap().to_owned(),
                window["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn range(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_month_report_names_the_gap_and_each_correction_carries_its_own_run() {
    let rig = Rig::with(SEED, |config| {
        config.rates.missed_punch = 0.12;
        config.rates.admin_edit = 0.03;
    })
    .await;
    backfill(&rig, "2026-10-01", "2026-10-04").await;
    backfill(&rig, "2026-10-05", "2026-10-07").await;

    let report = json(&rig, &["report", "--month", "2026-10", "--format", "json"]).await;
    assert_eq!(report["schema"], 1);
    assert_eq!(report["run"]["window"]["from"], "2026-10-01");
    assert_eq!(
        report["run"]["window"]["to"], "2026-10-09",
        "capped at yesterday"
    );
    let coverage = &report["coverage"];
    assert_eq!(
        dates(&coverage["reconciled"]),
        [range("2026-10-01", "2026-10-07")]
    );
    assert_eq!(
        dates(&coverage["not_reconciled"]),
        [range("2026-10-08", "2026-10-09")]
    );

    let text = stdout(&rig.bin(&["report", "--month", "2026-10"]).await);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "考勤核对报告 · 2026-10-01 … 2026-10-09", "{text}");
    assert_eq!(
        lines[3], "已核对 2026-10-01 … 2026-10-07；未核对：2026-10-08 … 2026-10-09",
        "{text}"
    );
    assert!(lines[4].starts_with("最近一次运行 #"), "{text}");
    let english = stdout(
        &rig.bin(&["report", "--month", "2026-10", "--lang", "en"])
            .await,
    );
    assert!(
        english.contains(
            "reconciled 2026-10-01 … 2026-10-07; not reconciled: 2026-10-08 … 2026-10-09"
        ),
        "{english}"
    );

    // Each correction carries the run that journaled it: the run reports of the two backfills'
    // runs (a run may also correct a user-day outside its window, read for an approval).
    let status = json(&rig, &["status", "--format", "json"]).await;
    let mut journaled = std::collections::BTreeMap::new();
    for run in status["runs"].as_array().unwrap() {
        let id = run["id"].as_i64().unwrap();
        let report = json(
            &rig,
            &["report", "--run", &id.to_string(), "--format", "json"],
        )
        .await;
        for line in report["corrections"].as_array().unwrap() {
            assert_eq!(line["run_id"].as_i64(), Some(id), "{line}");
            journaled.insert(line["idempotency_key"].as_str().unwrap().to_owned(), id);
        }
    }
    let corrections = report["corrections"].as_array().unwrap();
    let mut run_ids = std::collections::BTreeSet::new();
    for line in corrections {
        let run_id = line["run_id"]
            .as_i64()
            .expect("a run id on every correction");
        let key = line["idempotency_key"].as_str().unwrap();
        assert_eq!(journaled.get(key), Some(&run_id), "{line}");
        run_ids.insert(run_id);
    }
    assert_eq!(
        run_ids.len(),
        2,
        "corrections of both backfills: {run_ids:?}"
    );
    let csv = stdout(
        &rig.bin(&["report", "--month", "2026-10", "--format", "csv"])
            .await,
    );
    let csv_ids: std::collections::BTreeSet<i64> = csv
        .lines()
        .skip(1)
        .map(|row| row.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(csv_ids, run_ids);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_report_and_counts_agree_on_pending_overdue_is_an_anomaly_refused_are_listed() {
    // No agreed 补卡 ever shows on its slot: a backfill sees each approved and its slot not
    // corrected, for days. (A revoked one no longer does: its revocation explains it.)
    let rig = Rig::with(SEED, |config| {
        config.rates.missed_punch = 0.12;
        config.rates.filed = 1.0;
        config.rates.refused = 0.3;
        config.rates.never_shown = 1.0;
    })
    .await;
    rig.write_config("[policy]\npending_anomaly_days = 1\n");
    backfill(&rig, "2026-10-01", "2026-10-09").await;

    let status = json(&rig, &["status", "--format", "json"]).await;
    let report = json(&rig, &["report", "--month", "2026-10", "--format", "json"]).await;
    let pending = status["pending_approvals"].as_u64().unwrap();
    assert!(pending > 0, "the world gives pending approvals");
    assert_eq!(report["pending"].as_array().unwrap().len() as u64, pending);
    assert_eq!(report["counts"]["supply_pending"].as_u64(), Some(pending));
    let status_text = stdout(&rig.bin(&["status"]).await);
    assert!(
        status_text.contains(&format!("pending    {pending} approved")),
        "{status_text}"
    );

    let overdue: Vec<&Value> = report["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line["class"] == "supply_pending")
        .collect();
    assert!(!overdue.is_empty(), "{:#}", report["anomalies"]);
    for line in &overdue {
        let detail = line["detail"].as_str().unwrap();
        assert!(detail.starts_with("approved on 2026-10-"), "{detail}");
        assert!(
            detail.contains("still not shown corrected after"),
            "{detail}"
        );
        assert!(line["user_id"].is_string() && line["work_date"].is_string());
    }
    // The headline counts what asks someone to act: the anomalies (overdue pending among
    // them) and the refused, withdrawn and reported-only lines; the overdue are listed first.
    let text = stdout(&rig.bin(&["report", "--month", "2026-10"]).await);
    let to_act_on =
        report["anomalies"].as_array().unwrap().len() + report["listed"].as_array().unwrap().len();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .ends_with(&format!("需要处理 {to_act_on} 项")),
        "{text}"
    );
    let attention = text
        .split("需要处理 (")
        .nth(1)
        .expect("the attention section");
    assert!(
        attention
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("  已通过但钉钉迟迟未显示更正 ("),
        "{text}"
    );

    for args in [
        &["report", "--month", "2026-10", "--format", "json"][..],
        &["report", "--run", "latest", "--format", "json"][..],
    ] {
        let report = json(&rig, args).await;
        let refused: Vec<&Value> = report["listed"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|line| line["class"] == "supply_refused")
            .collect();
        if args.contains(&"--month") {
            assert!(!refused.is_empty(), "{:#}", report["listed"]);
            assert_eq!(
                report["counts"]["supply_refused"].as_u64(),
                Some(refused.len() as u64)
            );
        }
        for line in refused {
            assert!(line["user_id"].is_string(), "{line}");
            assert!(line["work_date"].is_string(), "{line}");
            assert!(
                line["detail"].as_str().unwrap().contains("; reason: "),
                "{line}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_month_is_a_configuration_error_naming_the_flag() {
    let rig = Rig::new(SEED).await;
    for bad in ["2026-13", "2026-1", "oct"] {
        let output = rig.bin(&["report", "--month", bad]).await;
        assert_code(&output, 78);
        let stderr = crate::support::bin::stderr(&output);
        assert!(stderr.contains("--month"), "{stderr}");
        assert!(stderr.contains("YYYY-MM"), "{stderr}");
    }
    let output = rig
        .bin(&["report", "--month", "2026-10", "--run", "latest"])
        .await;
    assert_code(&output, 78);
}
