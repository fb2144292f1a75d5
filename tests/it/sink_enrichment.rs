//! Enrichment reaches the sinks: a correction journaled while its approval's detail could not be
//! read (the detail endpoint failing all night) is delivered at version 1 without business id or
//! approved-at; once a later night reads the detail, the same key is delivered again at version 2
//! with both. Each (key, version) reaches the file exactly once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dingtalk_sim::{FaultKind, FaultRule};
use serde_json::Value;

use crate::support::bin::{Rig, assert_code, run_binary};
use crate::support::{date, night};

/// Every line of the file sink: key → (version → line).
fn lines_by_key(file: &std::path::Path) -> BTreeMap<String, BTreeMap<u64, Vec<Value>>> {
    let mut keys: BTreeMap<String, BTreeMap<u64, Vec<Value>>> = BTreeMap::new();
    for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
        let value: Value = serde_json::from_str(line).expect("a JSON line");
        let key = value["idempotency_key"].as_str().unwrap().to_owned();
        let version = value["version"].as_u64().expect("every line has a version");
        keys.entry(key)
            .or_default()
            .entry(version)
            .or_default()
            .push(value);
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_delivered_before_its_approval_detail_is_delivered_again_enriched() {
    // Arrange: a company that forgets to punch often; a file sink.
    let rig = Rig::with(71, |config| {
        config.rates.missed_punch = 0.2;
        config.rates.refused = 0.0;
        config.rates.withdrawn = 0.0;
        config.rates.max_filing_lag_days = 1;
    })
    .await;
    let file = rig.dir.path().join("corrections.jsonl");
    rig.write_config(&format!(
        "[[sink]]\nname = \"hr\"\nkind = \"file\"\npath = {:?}\n",
        file.display().to_string()
    ));
    let at = |when: DateTime<Utc>, args: &[&str]| {
        let mut args = rig.args(args);
        args[3] = when.to_rfc3339();
        rig.sim.set_clock(when);
        run_binary(args, Vec::new())
    };
    // Night 1: every approval detail read fails, so 补卡 corrections are journaled from what
    // the slots show (their procInstId) and delivered without the detail's fields.
    let mut refuse_details = FaultRule::new(
        Some("/v1.0/workflow/processInstances"),
        FaultKind::ServerError { status: 500 },
    );
    refuse_details.times = 100_000;
    rig.sim.arm_faults(vec![refuse_details]);
    let first = at(night(date("2026-10-08")), &["run"]).await;
    assert!(
        matches!(first.status.code(), Some(0 | 2)),
        "night 1 ends done or partial: {:?}",
        first.status
    );
    let after_first = lines_by_key(&file);
    let unenriched: Vec<&String> = after_first
        .iter()
        .filter(|(_, versions)| {
            versions.get(&1).is_some_and(|lines| {
                lines[0]["process_instance_id"].is_string() && lines[0]["business_id"].is_null()
            })
        })
        .map(|(key, _)| key)
        .collect();
    assert!(
        !unenriched.is_empty(),
        "night 1 delivered 补卡 corrections without their detail: {after_first:?}"
    );

    // Act: night 2 reads the details.
    rig.sim.arm_faults(Vec::new());
    assert_code(&at(night(date("2026-10-09")), &["run"]).await, 0);

    // Assert: each correction delivered unenriched came again, once, enriched at version 2,
    // as the store has it; no (key, version) twice.
    let after_second = lines_by_key(&file);
    let store = rig.store();
    for key in &unenriched {
        let versions = &after_second[*key];
        assert_eq!(versions[&1].len(), 1, "{key}: version 1 once");
        let enriched = versions
            .get(&2)
            .unwrap_or_else(|| panic!("{key} delivered again enriched: {versions:?}"));
        assert_eq!(enriched.len(), 1, "{key}: version 2 once");
        let stored = store.correction_by_key(key).unwrap().expect("journaled");
        assert_eq!(
            enriched[0]["business_id"].as_str(),
            stored.correction.business_id.as_deref(),
            "{key}"
        );
        assert!(
            enriched[0]["business_id"].is_string(),
            "{key}: {enriched:?}"
        );
        assert!(
            enriched[0]["approved_at"].is_string(),
            "{key}: {enriched:?}"
        );
    }
    for (key, versions) in &after_second {
        for (version, lines) in versions {
            assert_eq!(lines.len(), 1, "{key} v{version} reached the file once");
        }
    }
}
