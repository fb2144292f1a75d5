use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::reconcile::fetch::Failure;
use crate::reconcile::plan::{DetailsItem, ListingItem, ResultsItem, ResultsPurpose};
use crate::reconcile::test_helpers::{date, local};

fn user(id: &str) -> UserId {
    UserId::new(id).unwrap()
}

fn results(purpose: ResultsPurpose, users: &[&str], from: &str, to: &str) -> ResultsItem {
    ResultsItem {
        purpose,
        users: users.iter().map(|id| user(id)).collect(),
        from: date(from),
        to: date(to),
        estimated_calls: 1,
    }
}

fn listing(code: &str, to: DateTime<Utc>) -> PlanItem {
    PlanItem::ApprovalList(ListingItem {
        process_code: code.to_owned(),
        created_from: local("2026-10-01 00:00"),
        created_to: to,
        estimated_calls: 1,
        user_ids: Vec::new(),
    })
}

fn window(code: &str, to: DateTime<Utc>, originators: &[&str]) -> ListedWindow {
    ListedWindow {
        process_code: code.to_owned(),
        created_to: to,
        originators: originators.iter().map(|id| user(id)).collect(),
    }
}

fn plan(approvals_essential: bool, deferred: Vec<PlanItem>) -> Plan {
    Plan {
        items: Vec::new(),
        deferred,
        allowance: 100,
        surplus: 10,
        approvals_essential,
        estimated_calls: 0,
        primary: None,
        window: (date("2026-11-09"), date("2026-11-09")),
        coverage: None,
        cost: None,
        payroll: None,
    }
}

fn ending<'a>(plan: &'a Plan, fetched: &'a Fetched) -> Ending<'a> {
    Ending {
        run_id: 7,
        plan,
        fetched,
        notices: &[],
        counts: BTreeMap::from([(ChangeClass::Baseline, 3)]),
        corrections_applied: 2,
        allowance: 100,
        month_used: 500,
        monthly_budget: 4_000,
        blocked: None,
    }
}

#[track_caller]
fn check_outcome(plan: &Plan, fetched: &Fetched, expected: RunOutcome) -> RunSummary {
    let summary = summarize(&ending(plan, fetched));
    assert_eq!(summary.outcome, expected, "{:?}", summary.errors);
    summary
}

#[test]
fn a_run_with_nothing_left_over_is_done_and_counts_every_class() {
    let plan = plan(false, Vec::new());
    let summary = check_outcome(&plan, &Fetched::default(), RunOutcome::Done);
    assert_eq!(summary.run_id, 7);
    assert_eq!(summary.counts.len(), ChangeClass::ALL.len());
    assert_eq!(summary.counts[&ChangeClass::Baseline], 3);
    assert_eq!(summary.corrections_applied, 2);
    assert!(summary.errors.is_empty());
}

#[test]
fn deferring_optional_work_keeps_a_run_done_but_deferring_essential_work_makes_it_partial() {
    let rescan = PlanItem::Results(results(
        ResultsPurpose::Rescan,
        &["a"],
        "2026-11-03",
        "2026-11-03",
    ));
    let enrichment = PlanItem::Enrichment(DetailsItem::new(vec!["PI-1".into()]));
    let optional = plan(
        false,
        vec![
            rescan,
            enrichment,
            listing("PROC-1", local("2026-11-07 00:00")),
        ],
    );
    let summary = check_outcome(&optional, &Fetched::default(), RunOutcome::Done);
    assert_eq!(summary.deferred.len(), 3);

    // Approvals are essential when they are evidence.
    let essential = plan(true, vec![listing("PROC-1", local("2026-11-07 00:00"))]);
    check_outcome(&essential, &Fetched::default(), RunOutcome::Partial);

    // The sync deferred by the fetch (not the plan) counts the same.
    let fetched = Fetched {
        deferred: vec![PlanItem::Results(results(
            ResultsPurpose::Primary,
            &["a"],
            "2026-11-09",
            "2026-11-09",
        ))],
        ..Fetched::default()
    };
    let summary = check_outcome(&plan(false, Vec::new()), &fetched, RunOutcome::Partial);
    assert_eq!(summary.deferred[0].item, "results");
}

#[test]
fn a_stop_names_its_cause_and_makes_the_run_partial() {
    let plan = plan(false, Vec::new());
    for (stop, words) in [
        (Stop::Budget, "budget of 100 metered calls is spent"),
        (Stop::Quota, "monthly quota exhausted"),
        (Stop::Requested, "stopped on request"),
    ] {
        let fetched = Fetched {
            stop: Some(stop),
            ..Fetched::default()
        };
        let summary = check_outcome(&plan, &fetched, RunOutcome::Partial);
        assert!(summary.errors[0].contains(words), "{:?}", summary.errors);
    }
}

#[test]
fn failed_items_deleted_approvals_and_a_spent_month_make_the_run_partial() {
    let plan = plan(false, Vec::new());
    let failed = Fetched {
        errors: vec!["call /attendance/list: server error".into()],
        ..Fetched::default()
    };
    check_outcome(&plan, &failed, RunOutcome::Partial);
    let gone = Fetched {
        gone: vec!["PI-9".into()],
        ..Fetched::default()
    };
    let summary = check_outcome(&plan, &gone, RunOutcome::Partial);
    assert!(summary.errors[0].contains("PI-9 no longer exists"));

    let fetched = Fetched::default();
    let mut spent = ending(&plan, &fetched);
    spent.month_used = 4_000;
    let summary = summarize(&spent);
    assert_eq!(summary.outcome, RunOutcome::Partial);
    assert!(summary.errors[0].contains("monthly budget of 4000"));
}

#[test]
fn failures_left_after_their_retry_and_rejected_rows_make_the_run_partial_and_are_listed() {
    let plan = plan(false, Vec::new());
    let failed = Fetched {
        failures: vec![Failure {
            item: PlanItem::Results(results(
                ResultsPurpose::Primary,
                &["a"],
                "2026-11-03",
                "2026-11-03",
            )),
            error: "page through /attendance/list: hasMore is still true".into(),
            retried: true,
        }],
        ..Fetched::default()
    };
    let summary = check_outcome(&plan, &failed, RunOutcome::Partial);
    assert!(summary.errors[0].contains("hasMore is still true"));
    let rejected = Fetched {
        rejected: (0..25)
            .map(|row| format!("rejected a row of /attendance/list: row {row}; raw {{}}"))
            .collect(),
        ..Fetched::default()
    };
    let summary = check_outcome(&plan, &rejected, RunOutcome::Partial);
    assert_eq!(summary.errors.len(), 21, "20 rows listed, then a count");
    assert!(summary.errors[0].contains("row 0; raw {}"));
    assert_eq!(summary.errors[20], "5 more rows rejected (25 in all)");
}

#[test]
fn an_unfinished_listing_makes_the_run_partial_only_when_approvals_are_evidence() {
    let fetched = Fetched {
        incomplete_listings: 1,
        ..Fetched::default()
    };
    check_outcome(&plan(false, Vec::new()), &fetched, RunOutcome::Done);
    check_outcome(&plan(true, Vec::new()), &fetched, RunOutcome::Partial);
}

#[test]
fn fallbacks_are_reported_beside_the_deferred_items_in_a_stable_order() {
    let plan = plan(
        false,
        vec![PlanItem::Results(results(
            ResultsPurpose::Rescan,
            &["a"],
            "2026-11-03",
            "2026-11-03",
        ))],
    );
    let fetched = Fetched::default();
    let notices = vec!["punches do not show the 补卡".to_owned()];
    let mut end = ending(&plan, &fetched);
    end.notices = &notices;
    let summary = summarize(&end);
    let items: Vec<&str> = summary
        .deferred
        .iter()
        .map(|line| line.item.as_str())
        .collect();
    assert_eq!(items, ["fallback", "rescan"]);
    assert_eq!(summary.outcome, RunOutcome::Done);
}

fn night<'a>(
    users: &'a [UserId],
    primary: &'a [ResultsItem],
    complete: &'a BTreeSet<(UserId, NaiveDate)>,
    listed: &'a [ListedWindow],
) -> Night<'a> {
    Night {
        users,
        primary,
        primary_range: primary.first().map(|item| (item.from, item.to)),
        complete,
        first_default: date("2026-11-03"),
        listed_windows: listed,
        listings_complete: true,
        deferred: Vec::new(),
        scanned_on: None,
        owed: &NO_OWED,
    }
}

static NO_OWED: BTreeSet<(UserId, NaiveDate)> = BTreeSet::new();

#[test]
fn targeted_re_reads_not_done_are_owed_to_the_next_night_and_only_those() {
    let users = [user("a"), user("b")];
    let complete = BTreeSet::new();
    let before = PlannerState {
        owed_rereads: [("a".to_owned(), [date("2026-11-01")].into())].into(),
        ..PlannerState::default()
    };
    let owed: BTreeSet<(UserId, NaiveDate)> = [(user("b"), date("2026-11-02"))].into();
    let mut tonight = night(&users, &[], &complete, &[]);
    tonight.owed = &owed;
    let after = record_night(&before, &tonight);
    let expected: BTreeMap<String, BTreeSet<NaiveDate>> =
        [("b".to_owned(), [date("2026-11-02")].into())].into();
    assert_eq!(after.owed_rereads, expected, "a's day was read tonight");
    let text = after.to_text();
    assert_eq!(
        PlannerState::from_stored(Some(&text)).owed_rereads,
        expected
    );
}

#[test]
fn the_sync_reaches_a_date_for_everyone_only_when_every_user_has_read_it() {
    let users = [user("a"), user("b")];
    let primary = [
        results(ResultsPurpose::Primary, &["a"], "2026-11-03", "2026-11-09"),
        results(ResultsPurpose::Primary, &["b"], "2026-11-03", "2026-11-09"),
    ];
    let mut complete: BTreeSet<_> = primary[0].user_days().collect();
    let before = PlannerState::default();

    let after = record_night(&before, &night(&users, &primary, &complete, &[]));
    assert_eq!(after.user_synced.get("a"), Some(&date("2026-11-09")));
    assert_eq!(after.user_synced.get("b"), None);
    assert_eq!(after.synced_from, Some(date("2026-11-03")));
    assert_eq!(after.synced_through, None, "b has not read anything yet");

    complete.extend(primary[1].user_days());
    let after = record_night(&before, &night(&users, &primary, &complete, &[]));
    assert_eq!(after.synced_through, Some(date("2026-11-09")));
}

#[test]
fn listings_move_on_only_when_every_listing_finished_and_none_of_their_template_was_deferred() {
    let listed = [
        window("PROC-1", local("2026-11-07 00:00"), &[]),
        window("PROC-2", local("2026-11-07 00:00"), &[]),
    ];
    let complete = BTreeSet::new();
    let deferred = listing("PROC-2", local("2026-11-08 00:00"));
    let mut tonight = night(&[], &[], &complete, &listed);
    tonight.deferred = vec![&deferred];
    let after = record_night(&PlannerState::default(), &tonight);
    assert_eq!(
        after.listed_through.keys().collect::<Vec<_>>(),
        [&"PROC-1".to_owned()]
    );

    tonight.listings_complete = false;
    let after = record_night(&PlannerState::default(), &tonight);
    assert!(after.listed_through.is_empty());
}

#[test]
fn a_listing_by_originator_remembers_whom_it_named_and_an_org_wide_one_forgets_it() {
    let complete = BTreeSet::new();
    let by_originator = [window(
        "PROC-1",
        local("2026-11-07 00:00"),
        &["0002", "0001"],
    )];
    let after = record_night(
        &PlannerState::default(),
        &night(&[], &[], &complete, &by_originator),
    );
    assert_eq!(
        after.listed_for.get("PROC-1"),
        Some(&BTreeSet::from(["0001".to_owned(), "0002".to_owned()]))
    );
    assert_eq!(
        after.listed_through.get("PROC-1"),
        Some(&local("2026-11-07 00:00"))
    );
    // A failed listing changes neither.
    let narrower = [window("PROC-1", local("2026-11-08 00:00"), &["0001"])];
    let mut failed = night(&[], &[], &complete, &narrower);
    failed.listings_complete = false;
    assert_eq!(record_night(&after, &failed), after);
    // Back to everyone.
    let org_wide = [window("PROC-1", local("2026-11-09 00:00"), &[])];
    let everyone = record_night(&after, &night(&[], &[], &complete, &org_wide));
    assert!(everyone.listed_for.is_empty());
    assert_eq!(
        everyone.listed_through.get("PROC-1"),
        Some(&local("2026-11-09 00:00"))
    );
}

#[test]
fn a_scan_night_is_remembered_and_a_night_without_one_keeps_the_last() {
    let complete = BTreeSet::new();
    let before = PlannerState {
        last_scan: Some(date("2026-11-06")),
        ..PlannerState::default()
    };
    let quiet = night(&[], &[], &complete, &[]);
    assert_eq!(record_night(&before, &quiet), before);
    let mut scanned = night(&[], &[], &complete, &[]);
    scanned.scanned_on = Some(date("2026-11-10"));
    assert_eq!(
        record_night(&before, &scanned).last_scan,
        Some(date("2026-11-10"))
    );
}

#[test]
fn a_blocked_quota_month_is_partial_with_its_sentence_among_the_errors() {
    let plan = plan(true, Vec::new());
    let fetched = Fetched::default();
    let sentence = "the organisation's monthly quota of DingTalk calls was exhausted".to_owned();
    let summary = summarize(&Ending {
        blocked: Some(sentence.clone()),
        ..ending(&plan, &fetched)
    });
    assert_eq!(summary.outcome, RunOutcome::Partial);
    assert_eq!(summary.errors, vec![sentence.clone()]);
    assert_eq!(summary.stopped, None);
    // An item that still tried to spend was refused by the allowance of 0: the sentence, not
    // the budget, says why.
    let refused = Fetched {
        stop: Some(Stop::Budget),
        ..Fetched::default()
    };
    let summary = summarize(&Ending {
        blocked: Some(sentence.clone()),
        ..ending(&plan, &refused)
    });
    assert_eq!(summary.outcome, RunOutcome::Partial);
    assert_eq!(summary.errors, vec![sentence]);
}
