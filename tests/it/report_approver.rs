//! Who decided each 补卡 and why (issue "reports for HR"): after a backfill and a week of nightly
//! runs of the real binary, `report --format json` gives every correction made by an approval
//! whose detail the job fetched the form's reason and the approver the simulator's detail
//! names, with the name the directory lists; refused approvals carry the reason and the approver's remark; approvals the last run
//! saw still awaiting a decision are `in_progress`. Expectations come from the simulator's
//! world, never from the product.

use chrono::{DateTime, Utc};
use dingtalk_sim::{Instance, Outcome, World};
use serde_json::Value;

use crate::support::bin::{Rig, assert_code, run_binary, stdout};
use crate::support::{date, night};

const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-09";

/// `yyyy-MM-ddTHH:mmZ` as the detail gives it, then as the JSON report writes an instant.
fn minute(ms: i64) -> String {
    let at = DateTime::from_timestamp_millis(ms).expect("an instant");
    let text = at.format("%Y-%m-%dT%H:%M:00Z").to_string();
    text.parse::<DateTime<Utc>>()
        .expect("RFC 3339")
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn instance<'w>(world: &'w World, line: &Value) -> &'w Instance {
    let id = line["process_instance_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a process instance id: {line}"));
    world
        .instance(id)
        .unwrap_or_else(|| panic!("{id} is a simulated instance"))
}

/// The approver the world gave `inst`, as the report should show them.
fn expected_approver(world: &World, inst: &Instance) -> (String, String) {
    let approver = &world.employees[inst.approver];
    (approver.id.clone(), approver.name.clone())
}

fn shown_approver(line: &Value) -> (String, String) {
    let approver = &line["approver"];
    (
        approver["user_id"].as_str().unwrap_or_default().to_owned(),
        approver["name"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_name_who_decided_each_approval_and_list_those_still_in_progress() {
    // Arrange: a company that forgets to punch often and refuses or withdraws many 补卡, filed
    // within days; a backfill of the first two days on the night of 10-03, then every night.
    let rig = Rig::with(67, |config| {
        config.rates.missed_punch = 0.15;
        config.rates.refused = 0.3;
        config.rates.withdrawn = 0.1;
        config.rates.refiled_after_refusal = 0.0;
        config.rates.max_filing_lag_days = 2;
    })
    .await;
    // Listed 12 hours after their creation window closes (not the default 72, by when the
    // simulator has decided every 补卡), so the nightly runs meet some still running.
    rig.write_config("[reconcile]\nlisting_lag_hours = 12\n");
    let at = |when: DateTime<Utc>, args: &[&str]| {
        let mut args = rig.args(args);
        args[3] = when.to_rfc3339();
        rig.sim.set_clock(when);
        run_binary(args, Vec::new())
    };
    let backfill = at(
        night(date("2026-10-03")),
        &["backfill", "--from", FROM, "--to", "2026-10-02", "--yes"],
    );
    assert_code(&backfill.await, 0);
    let mut last_night = night(date("2026-10-03"));
    for day in date("2026-10-04").iter_days().take(7) {
        last_night = night(day);
        assert_code(&at(last_night, &["run"]).await, 0);
    }
    rig.sim.set_clock(rig.as_of);

    // Act.
    let output = rig
        .bin(&["report", "--from", FROM, "--to", TO, "--format", "json"])
        .await;

    // Assert.
    assert_code(&output, 0);
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let world = rig.sim.world();

    let from_approvals: Vec<&Value> = report["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line["process_instance_id"].is_string())
        .collect();
    assert!(
        !from_approvals.is_empty(),
        "the world has 补卡 corrections: {}",
        report["counts"]
    );
    let mut named = 0;
    for line in &from_approvals {
        // A correction whose approval detail was not fetched yet (enrichment waits for the
        // month's surplus) knows neither; one enriched from the detail knows both.
        if line.get("approver").is_none() {
            assert!(line["approved_at"].is_null(), "detail known: {line}");
            assert!(line.get("reason").is_none(), "{line}");
            continue;
        }
        let inst = instance(world, line);
        assert_eq!(line["reason"], inst.reason, "{line}");
        let (id, name) = expected_approver(world, inst);
        assert!(!name.is_empty());
        assert_eq!(shown_approver(line), (id, name), "{line}");
        named += 1;
    }
    assert!(
        named > 0,
        "some corrections' approvals were fetched: {from_approvals:?}"
    );

    let listed = report["listed"].as_array().unwrap();
    let refused: Vec<&Value> = listed
        .iter()
        .filter(|line| line["class"] == "supply_refused")
        .collect();
    assert!(
        !refused.is_empty(),
        "refusals to show: {}",
        report["counts"]
    );
    for line in &refused {
        let inst = instance(world, line);
        assert_eq!(inst.outcome, Outcome::Refuse);
        assert_eq!(line["reason"], inst.reason, "the form's reason: {line}");
        assert_eq!(
            shown_approver(line),
            expected_approver(world, inst),
            "{line}"
        );
        let remark = line["approver"]["remark"].as_str().unwrap_or_default();
        assert!(
            !remark.is_empty() && !remark.is_ascii() && remark != inst.reason,
            "the approver's own remark, in Chinese: {line}"
        );
        assert_eq!(
            line["since"].as_str(),
            Some(minute(inst.decided_ms).as_str())
        );
    }
    for line in listed
        .iter()
        .filter(|line| line["class"] == "supply_withdrawn")
    {
        let inst = instance(world, line);
        assert_eq!(inst.outcome, Outcome::Withdrawn);
        assert!(line.get("approver").is_none(), "no one decided: {line}");
        assert_eq!(
            line["since"].as_str(),
            Some(minute(inst.decided_ms).as_str())
        );
    }

    let in_progress = report["in_progress"].as_array().unwrap();
    assert!(
        !in_progress.is_empty(),
        "filed 补卡 still awaiting a decision at the last run"
    );
    let last_ms = last_night.timestamp_millis();
    for line in in_progress {
        let inst = instance(world, line);
        assert!(
            inst.created_ms <= last_ms && last_ms < inst.decided_ms,
            "running at the last run: {line}"
        );
        assert_eq!(line["state"], "running");
        assert_eq!(
            line["since"].as_str(),
            Some(minute(inst.created_ms).as_str())
        );
        assert_eq!(
            line["user_id"],
            world.employees[inst.user].id.as_str(),
            "{line}"
        );
        assert_eq!(line["reason"], inst.reason);
        assert!(line.get("approver").is_none(), "undecided: {line}");
        let work_date = world
            .user_day(inst.user, inst.day)
            .expect("a user-day")
            .work_date
            .to_string();
        assert_eq!(line["work_date"], work_date.as_str());
        assert!((FROM..=TO).contains(&work_date.as_str()), "{line}");
    }
    // The last run's own report lists what that run fetched still running.
    let output = rig.bin(&["report", "--format", "json"]).await;
    assert_code(&output, 0);
    let run: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let seen = run["in_progress"].as_array().unwrap();
    assert!(!seen.is_empty(), "the last run saw some running: {run}");
    for line in seen {
        let inst = instance(world, line);
        assert!(
            inst.created_ms <= last_ms && last_ms < inst.decided_ms,
            "{line}"
        );
    }
    // In progress is not pending.
    let pending: Vec<&str> = report["pending"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| line["process_instance_id"].as_str())
        .collect();
    assert!(
        in_progress
            .iter()
            .all(|line| !pending.contains(&line["process_instance_id"].as_str().unwrap()))
    );
}
