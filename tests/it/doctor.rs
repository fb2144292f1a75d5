//! `doctor [--probe]` through the real binary against the simulator: every check passing, each
//! permission point missing (the simulator refusing as DingTalk does), a wrong secret, a wrong
//! process code, and the probe reading each ⚠ switch under the default, the pessimistic and each
//! single flipped setting. Costs are counted on the simulator's side.

use dingtalk_sim::{FaultKind, FaultRule, SimConfig, Switches};
use serde_json::Value;

use crate::support::bin::{Rig, assert_code, stderr, stdout};

/// A company where approved 补卡 are frequent and stay applied, so the probe finds one.
fn busy(config: &mut SimConfig) {
    config.employees = 40;
    config.rates.missed_punch = 0.08;
    config.rates.refused = 0.0;
    config.rates.withdrawn = 0.0;
    config.rates.revert = 0.0;
    config.rates.max_filing_lag_days = 2;
}

async fn rig_with(tweak: impl FnOnce(&mut SimConfig)) -> Rig {
    Rig::with(71, |config| {
        busy(config);
        tweak(config);
    })
    .await
}

/// The line of the check named `name` (its mark first).
fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|line| line.get(4..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no {name} line in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_on_a_default_simulator_for_the_metered_calls_it_announces() {
    let rig = rig_with(|_| {}).await;
    let output = rig.bin(&["doctor"]).await;
    assert_code(&output, 0);
    let text = stdout(&output);
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|line| line.starts_with("checks: up to 3 metered call(s)")),
        "{text}"
    );
    for name in [
        "config",
        "store",
        "time zone",
        "dingtalk",
        "credentials",
        "permission contacts",
        "scope",
        "permission workflow forms",
        "templates",
        "permission workflow instances",
        "permission attendance",
        "budget",
    ] {
        assert!(line(&text, name).starts_with('✓'), "{name}:\n{text}");
    }
    assert!(
        line(&text, "scope").contains("resolves to 40 employee(s)"),
        "{text}"
    );
    assert!(line(&text, "time zone").contains("Asia/Shanghai"), "{text}");
    // Doctor never creates the store; it says where the first run will.
    assert!(
        line(&text, "store").contains("no store yet: created by the first run at"),
        "{text}"
    );
    assert!(!rig.store_path().exists());
    // The templates are listed with their names.
    for template in &rig.sim.world().templates {
        if template.attendance_type == 1 {
            assert!(
                text.contains(&format!(
                    "{} {}",
                    template.flow_title, template.process_code
                )),
                "{text}"
            );
        }
    }
    // What it costs, counted by DingTalk's side: the templates, one listing page, one punch read.
    let stats = rig.sim.stats();
    assert_eq!(stats.metered, 3, "{stats:?}");
    assert!(
        text.contains("3 metered call(s) made, not in any call ledger (no store yet)"),
        "{text}"
    );
}

/// Runs doctor against a simulated app lacking `denied` and returns its output (exit 1).
async fn without_permission(denied: &str) -> String {
    let rig = rig_with(|config| {
        config.denied_permissions.insert(denied.to_owned());
    })
    .await;
    let output = rig.bin(&["doctor"]).await;
    assert_code(&output, 1);
    stdout(&output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_attendance_permission_is_named_with_where_to_enable_it() {
    let text = without_permission("qyapi_get_attendance_data").await;
    let failed = line(&text, "permission attendance");
    assert!(failed.starts_with('✗'), "{text}");
    assert!(failed.contains("qyapi_get_attendance_data"), "{text}");
    assert!(failed.contains("60011"), "{text}");
    assert!(
        text.contains("remedy: enable the permission qyapi_get_attendance_data"),
        "{text}"
    );
    assert!(line(&text, "permission workflow instances").starts_with('✓'));
    assert!(text.contains("not ready"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_workflow_permissions_are_named_from_the_api_familys_refusal() {
    let text = without_permission("Workflow.Instance.Read").await;
    let failed = line(&text, "permission workflow instances");
    assert!(failed.starts_with('✗'), "{text}");
    assert!(failed.contains("Workflow.Instance.Read"), "{text}");
    assert!(failed.contains("AccessTokenPermissionDenied"), "{text}");
    assert!(line(&text, "permission attendance").starts_with('✓'));

    let text = without_permission("Workflow.Form.Read").await;
    let failed = line(&text, "permission workflow forms");
    assert!(failed.starts_with('✗'), "{text}");
    assert!(failed.contains("Workflow.Form.Read"), "{text}");
    assert!(
        text.contains("remedy: enable the permission Workflow.Form.Read"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_contacts_permission_is_named() {
    let text = without_permission("qyapi_get_member").await;
    assert!(line(&text, "credentials").starts_with('✓'), "{text}");
    let failed = line(&text, "permission contacts");
    assert!(failed.starts_with('✗'), "{text}");
    assert!(failed.contains("qyapi_get_member"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_directory_permission_is_named_for_the_names_in_reports() {
    let text = without_permission("qyapi_get_department_member").await;
    assert!(
        line(&text, "permission contacts").starts_with('✓'),
        "{text}"
    );
    let failed = line(&text, "permission directory");
    assert!(failed.starts_with('✗'), "{text}");
    assert!(failed.contains("qyapi_get_department_member"), "{text}");
    assert!(text.contains("权限管理"), "where to enable it: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_exits_3_without_showing_any_secret() {
    let rig = rig_with(|_| {}).await;
    let wrong = "wrong-secret-9f8e7d";
    let text = rig
        .config_text(&rig.sim.base_url(), "")
        .replace(rig.sim.app_secret(), wrong);
    std::fs::write(rig.config_path(), text).unwrap();
    let output = rig.bin(&["doctor", "--probe"]).await;
    assert_code(&output, 3);
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(line(&out, "dingtalk").starts_with('✓'), "{out}");
    let failed = line(&out, "credentials");
    assert!(failed.starts_with('✗'), "{out}");
    assert!(out.contains("dingtalk.app_secret"), "{out}");
    for secret in [wrong, rig.sim.app_secret()] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{out}\n{err}"
        );
    }
    assert!(out.contains("probe: up to 6"), "{out}");
    assert!(
        out.contains("not run: fix the failed checks first"),
        "{out}"
    );
    assert_eq!(rig.sim.stats().metered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_process_code_fails_listing_the_templates_found_by_name() {
    let rig = rig_with(|_| {}).await;
    let codes = rig.sim.supply_process_codes();
    let mut text = rig.config_text(&rig.sim.base_url(), "");
    for code in &codes {
        text = text.replace(code.as_str(), "PROC-NOT-A-TEMPLATE");
    }
    std::fs::write(rig.config_path(), text).unwrap();
    let output = rig.bin(&["doctor"]).await;
    assert_code(&output, 1);
    let out = stdout(&output);
    let failed = line(&out, "templates");
    assert!(failed.starts_with('✗'), "{out}");
    assert!(failed.contains("PROC-NOT-A-TEMPLATE"), "{out}");
    for template in &rig.sim.world().templates {
        if template.attendance_type == 1 {
            assert!(
                failed.contains(&format!(
                    "{} ({})",
                    template.flow_title, template.process_code
                )),
                "{out}"
            );
        } else {
            assert!(!failed.contains(&template.process_code), "{out}");
        }
    }
    assert!(
        out.contains("remedy: set dingtalk.supply_process_codes"),
        "{out}"
    );
}

/// The reading the simulator's `switches` should produce, per fact, in planner-state words.
fn expected(switches: &Switches) -> Vec<(&'static str, &'static str)> {
    let fact = |holds: bool| if holds { "holds" } else { "fails" };
    vec![
        (
            "slot_names_supply",
            fact(switches.proc_inst_id_on_corrected_slot),
        ),
        (
            "punch_shows_supply",
            fact(switches.supply_punch_in_list_record),
        ),
        ("plan_id_in_ext_value", fact(switches.plan_id_in_ext_value)),
        ("approval_times_utc", fact(switches.approval_times_utc)),
        (
            "repair_check_time_entry",
            fact(switches.repair_check_time_entry),
        ),
    ]
}

/// `doctor --probe --format json` against a simulator with `switches`: each reading is the
/// switch's, the probe spends at most 6 metered calls (counted by the simulator), every call is in
/// the call ledger, and the planner state holds the facts.
async fn probe_reads(switches: Switches) {
    let rig = rig_with(|config| config.switches = switches.clone()).await;
    let output = rig.bin(&["doctor", "--probe", "--format", "json"]).await;
    assert_code(&output, 0);
    let doctor: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let probe = &doctor["probe"];
    assert!(probe["instance"].is_string(), "{probe:#}");
    let readings: Vec<(String, String)> = probe["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reading| {
            (
                reading["fact"].as_str().unwrap().to_owned(),
                reading["reading"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = expected(&switches)
        .into_iter()
        .map(|(fact, reading)| (fact.to_owned(), reading.to_owned()))
        .collect();
    assert_eq!(readings, want, "{switches:?}\n{probe:#}");
    // Costs, on DingTalk's side: 3 for the checks, at most 6 for the probe.
    let stats = rig.sim.stats();
    let probe_spent = probe["metered"].as_u64().unwrap();
    assert!(probe_spent <= 6, "{probe:#}");
    assert_eq!(stats.metered, 3 + probe_spent, "{stats:?}");
    assert_eq!(doctor["metered"].as_u64(), Some(stats.metered));
    // The probe created the store for its calls and facts: `status` counts every call.
    let store = rig.store();
    let month = "2026-10";
    assert_eq!(store.month_usage(month).unwrap().metered, stats.metered);
    let db = rusqlite::Connection::open(rig.store_path()).unwrap();
    let state: String = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'planner_state'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    for (fact, reading) in expected(&switches) {
        assert_eq!(state[fact], reading, "{fact} in {state:#}");
    }
    assert!(state["probed_at"].is_string(), "{state:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reads_every_switch_at_its_default() {
    probe_reads(Switches::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reads_every_switch_at_its_pessimistic_setting() {
    probe_reads(Switches::pessimistic()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reads_each_switch_flipped_alone() {
    let flips: [fn(&mut Switches); 5] = [
        |s| s.proc_inst_id_on_corrected_slot = false,
        |s| s.supply_punch_in_list_record = false,
        |s| s.plan_id_in_ext_value = false,
        |s| s.approval_times_utc = false,
        |s| s.repair_check_time_entry = false,
    ];
    for flip in flips {
        let mut switches = Switches::default();
        flip(&mut switches);
        probe_reads(switches).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_approved_supply_the_probe_says_so_and_leaves_the_facts_unknown() {
    let rig = rig_with(|config| config.rates.filed = 0.0).await;
    let output = rig.bin(&["doctor", "--probe"]).await;
    assert_code(&output, 0);
    let text = stdout(&output);
    assert!(text.contains("no approved 补卡"), "{text}");
    assert!(text.contains("? procInstId on the slot"), "{text}");
    // One listing page, nothing else.
    assert_eq!(rig.sim.stats().metered, 3 + 1);
    let db = rusqlite::Connection::open(rig.store_path()).unwrap();
    let state: String = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'planner_state'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["slot_names_supply"], "unknown", "{state:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_never_spends_more_than_6_metered_calls_even_when_every_detail_is_garbled() {
    let rig = rig_with(|_| {}).await;
    // Garbled answers are metered and retried: only the cap stops the spending.
    let mut rule = FaultRule::new(
        Some("/v1.0/workflow/processInstances"),
        FaultKind::Malformed,
    );
    rule.times = u32::MAX;
    rig.sim.arm_faults(vec![rule]);
    let output = rig.bin(&["doctor", "--probe"]).await;
    assert_code(&output, 1);
    let text = stdout(&output);
    assert!(text.contains("probe: up to 6 metered calls"), "{text}");
    assert!(text.contains("detail of"), "{text}");
    let stats = rig.sim.stats();
    assert_eq!(stats.metered, 3 + 6, "{stats:?}");
    assert_eq!(
        rig.store().month_usage("2026-10").unwrap().metered,
        stats.metered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_a_failed_first_line_and_exit_78() {
    let rig = rig_with(|_| {}).await;
    std::fs::write(rig.config_path(), "timezone = \"Mars/Olympus\"\n").unwrap();
    let output = rig.bin(&["doctor"]).await;
    assert_code(&output, 78);
    let text = stdout(&output);
    assert!(line(&text, "config").starts_with('✗'), "{text}");
    assert!(text.contains("timezone"), "{text}");
    assert_eq!(rig.sim.stats().calls.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_waits_for_a_run_holding_the_store_exit_75() {
    use dingtalk_reconcile::store::LockHolder;
    let rig = rig_with(|_| {}).await;
    // This very process, beating a minute ago: a live run holds the store.
    let holder = LockHolder::on_this_host(
        std::process::id(),
        None,
        chrono::Utc::now() - chrono::Duration::minutes(1),
    );
    rig.store().acquire_lock(&holder).unwrap();
    let output = rig.bin(&["doctor", "--probe"]).await;
    assert_code(&output, 75);
    let text = stdout(&output);
    assert!(text.contains("not run: store is locked by a run"), "{text}");
    // The checks ran; the probe spent nothing.
    assert_eq!(rig.sim.stats().metered, 3);
    assert!(rig.store().lock_holder().unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_oa_admin_a_wrong_process_code_is_caught_by_the_listing() {
    let rig = rig_with(|_| {}).await;
    let mut text = rig.config_text(&rig.sim.base_url(), "");
    text = text
        .lines()
        .filter(|line| !line.starts_with("admin_user_id"))
        .collect::<Vec<_>>()
        .join("\n");
    for code in rig.sim.supply_process_codes() {
        text = text.replace(code.as_str(), "PROC-NOT-A-TEMPLATE");
    }
    std::fs::write(rig.config_path(), text).unwrap();
    let output = rig.bin(&["doctor"]).await;
    assert_code(&output, 1);
    let out = stdout(&output);
    assert!(line(&out, "templates").starts_with('–'), "{out}");
    let failed = line(&out, "process code");
    assert!(failed.starts_with('✗'), "{out}");
    assert!(failed.contains("invalidProcessCode"), "{out}");
    assert!(
        line(&out, "permission workflow instances").starts_with('–'),
        "{out}"
    );
    // No templates call without an admin: the listing page and the punch read only.
    assert_eq!(rig.sim.stats().metered, 2);
}
