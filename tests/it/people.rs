//! Names and departments of people (the "reports for HR" groundwork): the directory refreshed from
//! the simulator's free contacts calls night after night while people move between teams, then a
//! backfill, then `report` read back by the real binary. Each correction names its person and
//! the department they were in on the correction's work date.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use dingtalk_reconcile::dingtalk::Scope;
use dingtalk_reconcile::domain::UserId;
use dingtalk_reconcile::reconcile::RunKind;
use dingtalk_reconcile::reconcile::people::{Refresh, refresh};
use dingtalk_sim::{FaultKind, FaultRule, World};
use serde_json::Value;

use crate::support::bin::{assert_code, run_binary, stdout};
use crate::support::pipeline::Harness;
use crate::support::{SHANGHAI, fast_sim_config, job_config, night};

/// 120 people in three teams over two weeks, half of whom move team at some point, with 补卡 filed and decided
/// within days so a backfill after the fortnight finds many corrections.
fn company() -> dingtalk_sim::SimConfig {
    let mut config = fast_sim_config(23, 120);
    config.days = 14;
    config.rates.department_move = 0.5;
    config.rates.missed_punch = 0.15;
    config.rates.max_filing_lag_days = 2;
    config
}

/// The department name the report should show for `user` on `work_date`: a move made on day M
/// (during the working day) is seen by the refresh of the night after, so M itself still shows
/// the team left.
fn expected_department(world: &World, user: &str, work_date: NaiveDate) -> String {
    let index = world.employee(user).expect("a simulated employee");
    let mut dept = world.employees[index].departments[0];
    if let Some(made) = world.moves.iter().find(|m| m.user == index) {
        let moved_on = chrono::DateTime::from_timestamp_millis(made.at_ms)
            .expect("an instant")
            .with_timezone(&SHANGHAI)
            .date_naive();
        if work_date > moved_on {
            dept = made.to;
        }
    }
    world.department(dept).expect("a department").name.clone()
}

#[tokio::test]
async fn a_report_names_each_person_with_the_department_of_the_corrections_work_date() {
    // Arrange: nightly refreshes through the fortnight, the moves happening between them.
    let mut harness = Harness::new(company()).await;
    let world = harness.sim.world().clone();
    let from = world.config.from;
    let last = from + Days::new(u64::from(world.config.days));
    for day in from.iter_days().take_while(|day| *day <= last) {
        harness.sim.set_clock(night(day));
        let done = refresh(
            &mut harness.store,
            &harness.client,
            &harness.settings,
            night(day),
        )
        .await;
        assert!(
            matches!(done, Refresh::Refreshed { people: 120, .. }),
            "{day}: {done:?}"
        );
        let again = refresh(
            &mut harness.store,
            &harness.client,
            &harness.settings,
            night(day),
        )
        .await;
        assert_eq!(again, Refresh::AlreadyToday, "at most once a business day");
    }
    assert_eq!(harness.client.metered_calls(), 0, "contacts calls are free");

    // Act: a backfill of the fortnight once every 补卡 is decided, then the reports.
    let as_of = night(last + Days::new(7));
    let kind = RunKind::Backfill {
        from,
        to: last - Days::new(1),
        users: None,
    };
    harness.run(kind, as_of, None).await;
    let config = harness.store_path().with_extension("toml");
    let text = job_config(&harness.sim.base_url(), &world, &harness.store_path(), "");
    std::fs::write(&config, text).expect("config written");
    let report = |format: &str| {
        let args = [
            "--config",
            &config.display().to_string(),
            "report",
            "--from",
            &from.to_string(),
            "--to",
            &last.to_string(),
            "--format",
            format,
        ]
        .map(str::to_owned)
        .to_vec();
        run_binary(args, Vec::new())
    };
    let json = report("json").await;
    assert_code(&json, 0);
    let json: Value = serde_json::from_str(&stdout(&json)).expect("the JSON report");
    let text = report("text").await;
    assert_code(&text, 0);
    let text = stdout(&text);

    // Assert: every correction named, with the department of its work date (the text groups
    // the corrections by department, then person, then date).
    let grouped = grouped_corrections(&text);
    let corrections = json["corrections"].as_array().expect("corrections");
    let mut movers_before_and_after: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for line in corrections {
        let user = line["user_id"].as_str().expect("a user id");
        let work_date: NaiveDate = line["work_date"].as_str().unwrap().parse().unwrap();
        let index = world.employee(user).expect("a simulated employee");
        assert_eq!(line["name"], world.employees[index].name.as_str(), "{line}");
        let department = expected_department(&world, user, work_date);
        assert_eq!(line["department"], department.as_str(), "{line}");
        let shown = (
            department.clone(),
            format!("{} ({user})", world.employees[index].name),
            work_date.to_string(),
        );
        assert!(grouped.contains(&shown), "{shown:?} in\n{text}");
        if let Some(made) = world.moves.iter().find(|m| m.user == index) {
            let seen = movers_before_and_after.entry(user.to_owned()).or_default();
            let from_name = &world.department(made.from).unwrap().name;
            if department == *from_name {
                seen.0 = true;
            } else {
                seen.1 = true;
            }
        }
    }
    assert!(corrections.len() > 20, "{} corrections", corrections.len());
    assert!(
        movers_before_and_after
            .values()
            .any(|&(before, after)| before && after),
        "someone who moved has corrections on both sides of the move: {movers_before_and_after:?}"
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_cache_and_is_tried_again_the_same_day() {
    let mut harness = Harness::new(company()).await;
    let from = harness.sim.world().config.from;
    let (first, second) = (night(from), night(from + Days::new(1)));
    harness.sim.set_clock(first);
    let done = refresh(
        &mut harness.store,
        &harness.client,
        &harness.settings,
        first,
    )
    .await;
    assert!(matches!(done, Refresh::Refreshed { .. }), "{done:?}");

    let mut down = FaultRule::new(
        Some("/topapi/v2/user/list"),
        FaultKind::ServerError { status: 503 },
    );
    down.times = u32::MAX;
    harness.sim.arm_faults(vec![down]);
    harness.sim.set_clock(second);
    let failed = refresh(
        &mut harness.store,
        &harness.client,
        &harness.settings,
        second,
    )
    .await;
    assert_eq!(failed, Refresh::Failed);

    harness.sim.arm_faults(Vec::new());
    let again = refresh(
        &mut harness.store,
        &harness.client,
        &harness.settings,
        second,
    )
    .await;
    assert!(
        matches!(again, Refresh::Refreshed { left: 0, .. }),
        "nobody taken for gone by the failed refresh: {again:?}"
    );
}

#[tokio::test]
async fn a_user_scope_keeps_only_its_people_and_hostile_names_are_escaped_in_every_report() {
    let mut config = company();
    config.hostile_text = true;
    let mut harness = Harness::new(config).await;
    let world = harness.sim.world().clone();
    let from = world.config.from;
    let mut users: Vec<UserId> = world
        .employees
        .iter()
        .take(5)
        .map(|e| UserId::new(e.id.clone()).expect("a valid id"))
        .collect();
    users.sort();
    harness.settings.scope = Scope::Users(users.clone());
    harness.sim.set_clock(night(from));
    let done = refresh(
        &mut harness.store,
        &harness.client,
        &harness.settings,
        night(from),
    )
    .await;
    assert!(
        matches!(done, Refresh::Refreshed { people: 5, .. }),
        "{done:?}"
    );

    let last = from + Days::new(u64::from(world.config.days) - 1);
    let kind = RunKind::Backfill {
        from,
        to: last,
        users: Some(users),
    };
    harness.run(kind, night(last + Days::new(8)), None).await;
    let config = harness.store_path().with_extension("toml");
    let text = job_config(&harness.sim.base_url(), &world, &harness.store_path(), "");
    std::fs::write(&config, text).expect("config written");
    for format in ["text", "markdown", "html", "csv"] {
        let args = [
            "--config",
            &config.display().to_string(),
            "report",
            "--from",
            &from.to_string(),
            "--to",
            &last.to_string(),
            "--format",
            format,
        ]
        .map(str::to_owned)
        .to_vec();
        let output = run_binary(args, Vec::new()).await;
        assert_code(&output, 0);
        let shown = stdout(&output);
        // Markdown also escapes the backslash and the bracket; the others show the name as is.
        let named = world.employees.iter().take(5).any(|e| {
            let escaped = e
                .name
                .replace('\u{1b}', "\\u{1b}")
                .replace('\u{7}', "\\u{7}");
            let escaped = if format == "markdown" {
                escaped.replace('\\', "\\\\").replace(']', "\\]")
            } else {
                escaped
            };
            shown.contains(&escaped)
        });
        assert!(named, "{format}: a hostile name shown escaped\n{shown}");
        assert!(
            !shown.contains(['\u{1b}', '\u{7}']),
            "{format}: no raw control character\n{shown}"
        );
    }
}

/// The (department, person, work date) of each correction line of a text report's corrections
/// section: `  部门（N 人，M 项更正）`, then `    姓名 (id) — totals`, then `      date  …`.
fn grouped_corrections(text: &str) -> std::collections::BTreeSet<(String, String, String)> {
    let mut out = std::collections::BTreeSet::new();
    let (mut department, mut person) = (String::new(), String::new());
    let section = text
        .split("更正明细（按部门、人员、日期）\n")
        .nth(1)
        .unwrap_or_default();
    for line in section.lines() {
        if line.is_empty() {
            break;
        } else if let Some(date_line) = line.strip_prefix("      ") {
            let date = date_line.split("  ").next().unwrap_or_default();
            out.insert((department.clone(), person.clone(), date.to_owned()));
        } else if let Some(person_line) = line.strip_prefix("    ") {
            person = person_line
                .split(" — ")
                .next()
                .unwrap_or_default()
                .to_owned();
        } else if let Some(heading) = line.strip_prefix("  ") {
            department = heading
                .rsplit_once('（')
                .map_or(heading, |(name, _)| name)
                .to_owned();
        }
    }
    out
}
