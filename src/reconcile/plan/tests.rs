//! Tests of the plan: priorities, allowance and surplus, batch shapes, the sync's ranges
//! and progress, the open-slot scan's windows.

use super::*;
use crate::reconcile::test_helpers::{SHANGHAI, date, local};

fn users(n: usize) -> Vec<UserId> {
    (0..n)
        .map(|i| UserId::new(format!("{i:04}")).unwrap())
        .collect()
}

static EMPTY: BTreeSet<NaiveDate> = BTreeSet::new();

fn listing(code: &str) -> Listing {
    let as_of = local("2026-11-10 02:10");
    Listing {
        process_code: code.to_owned(),
        created_from: as_of - Duration::days(4),
        created_to: as_of - Duration::days(3),
        expected_ids: 30,
    }
}

fn input<'a>(
    users: &'a [UserId],
    listings: &'a [Listing],
    allowance: u64,
    surplus: u64,
) -> PlanInput<'a> {
    let as_of = local("2026-11-10 02:10");
    let dates = nightly_dates(as_of, SHANGHAI, 7, RescanMode::Window);
    PlanInput {
        users,
        primary: Some(dates.primary),
        sync: &[],
        expected_empty: &EMPTY,
        rescan: dates.rescan,
        listings,
        detail_backlog: &[],
        approvals_essential: true,
        scan: &[],
        scan_first: false,
        enrichment: &[],
        rows_per_user_day: 2,
        allowance,
        surplus,
        idle_window: dates.primary,
    }
}

#[track_caller]
fn check(plan: &Plan, expected_kinds: &[&str], expected_calls: u64, expected_deferred: usize) {
    let kinds: Vec<&str> = plan.items.iter().map(PlanItem::kind).collect();
    assert_eq!(kinds, expected_kinds);
    assert_eq!(plan.estimated_calls, expected_calls);
    assert_eq!(plan.deferred.len(), expected_deferred);
}

#[test]
fn a_nightly_plan_reads_the_sync_then_looks_again_at_older_days_out_of_the_surplus() {
    let users = users(100);
    let listings = [listing("PROC-A")];
    let plan = plan(&input(&users, &listings, 1_000, 1_000));
    // 2 list pages; yesterday: 2 batches × 100 rows = 2 × 2 pages; rescan of 6 days:
    // 2 batches × 600 rows = 2 × 12 pages.
    check(
        &plan,
        &["approval_list", "results", "results", "rescan", "rescan"],
        2 + 4 + 24,
        0,
    );
    assert_eq!(plan.window, (date("2026-11-03"), date("2026-11-09")));
}

#[test]
fn what_does_not_fit_the_allowance_is_deferred_in_priority_order() {
    let users = users(100);
    let listings = [listing("PROC-A")];
    let plan = plan(&input(&users, &listings, 10, 1_000));
    check(&plan, &["approval_list", "results", "results"], 6, 2);
    assert!(plan.deferred.iter().all(|item| plan.is_optional(item)));
}

#[test]
fn optional_work_spends_only_the_surplus() {
    let users = users(100);
    let plan = plan(&input(&users, &[], 1_000, 13));
    check(&plan, &["results", "results", "rescan"], 4 + 12, 1);
}

#[test]
fn approvals_that_are_only_enrichment_come_after_the_essential_work() {
    let users = users(50);
    let listings = [listing("PROC-A")];
    let mut input = input(&users, &listings, 1_000, 0);
    input.approvals_essential = false;
    input.rescan = None;
    let plan = plan(&input);
    check(&plan, &["results"], 2, 1);
    assert_eq!(plan.deferred[0].kind(), "approval_list");
    assert!(plan.is_optional(&plan.deferred[0]));
}

#[test]
fn open_slots_are_scanned_in_seven_day_windows_of_at_most_fifty_users() {
    let mut points: Vec<(UserId, NaiveDate)> = users(60)
        .into_iter()
        .map(|user| (user, date("2026-10-01")))
        .collect();
    points.push((users(1)[0].clone(), date("2026-10-07")));
    points.push((users(1)[0].clone(), date("2026-10-08")));
    let items = scan_items(&points);
    let shapes: Vec<(usize, NaiveDate, NaiveDate)> = items
        .iter()
        .map(|item| (item.users.len(), item.from, item.to))
        .collect();
    assert_eq!(
        shapes,
        [
            (50, date("2026-10-01"), date("2026-10-07")),
            (10, date("2026-10-01"), date("2026-10-07")),
            (1, date("2026-10-08"), date("2026-10-14")),
        ]
    );
}

#[test]
fn a_work_date_settles_a_day_after_it_ends() {
    assert_eq!(
        latest_settled(local("2026-11-10 02:10"), SHANGHAI, 24),
        date("2026-11-08")
    );
    assert_eq!(
        latest_settled(local("2026-11-10 02:10"), SHANGHAI, 0),
        date("2026-11-09")
    );
}

#[test]
fn the_sync_reads_each_date_once_and_folds_days_without_schedule_into_the_next() {
    let none = BTreeSet::new();
    let weekend: BTreeSet<NaiveDate> = [date("2026-11-07"), date("2026-11-08")].into();
    let default = date("2026-11-01");
    // Read once: the next night starts after what was read.
    assert_eq!(
        sync_range(Some(date("2026-11-06")), date("2026-11-07"), default, &none),
        Some((date("2026-11-07"), date("2026-11-07")))
    );
    assert_eq!(
        sync_range(Some(date("2026-11-07")), date("2026-11-07"), default, &none),
        None
    );
    // Saturday and Sunday wait for Monday.
    assert_eq!(
        sync_range(
            Some(date("2026-11-06")),
            date("2026-11-08"),
            default,
            &weekend
        ),
        None
    );
    assert_eq!(
        sync_range(
            Some(date("2026-11-06")),
            date("2026-11-09"),
            default,
            &weekend
        ),
        Some((date("2026-11-07"), date("2026-11-09")))
    );
    // A fresh store starts at the default; a night that fell behind is caught up.
    assert_eq!(
        sync_range(None, date("2026-11-07"), default, &none),
        Some((default, date("2026-11-07")))
    );
    assert_eq!(
        sync_range(Some(date("2026-09-01")), date("2026-11-07"), default, &none),
        Some((date("2026-09-02"), date("2026-11-07")))
    );
}

#[test]
fn the_sync_estimates_days_without_schedule_at_no_rows() {
    let weekend: BTreeSet<NaiveDate> = [date("2026-11-07"), date("2026-11-08")].into();
    let users = users(60);
    let sync = [(date("2026-11-07"), date("2026-11-09"), users.clone())];
    let mut input = input(&users, &[], 100, 0);
    input.primary = None;
    input.rescan = None;
    input.sync = &sync;
    input.expected_empty = &weekend;
    let plan = plan(&input);
    // 50 users × 1 scheduled day = 100 rows = 2 calls; 10 users = 1 call.
    check(&plan, &["results", "results"], 3, 0);
    assert_eq!(plan.primary, Some((date("2026-11-07"), date("2026-11-09"))));
}

#[test]
fn the_sync_advances_each_batch_only_over_ranges_read_completely_and_in_order() {
    let (a, b) = (users(2)[0].clone(), users(2)[1].clone());
    let item = |users: Vec<UserId>, from: &str, to: &str| ResultsItem {
        purpose: ResultsPurpose::Primary,
        users,
        from: date(from),
        to: date(to),
        estimated_calls: 1,
    };
    let items = [
        item(vec![a.clone()], "2026-11-02", "2026-11-03"),
        item(vec![b.clone()], "2026-11-02", "2026-11-03"),
        item(vec![a.clone()], "2026-11-05", "2026-11-06"),
    ];
    let mut complete: BTreeSet<_> = ["2026-11-02", "2026-11-03", "2026-11-05", "2026-11-06"]
        .into_iter()
        .map(|d| (a.clone(), date(d)))
        .collect();
    complete.insert((b.clone(), date("2026-11-02")));
    let mut progress = BTreeMap::new();
    advance_sync(&mut progress, &items, &complete, |_| date("2026-11-02"));
    // a: read through 11-03; 11-05.. leaves a gap (11-04), so it does not count.
    // b: 11-03 incomplete, no progress.
    assert_eq!(
        progress.into_iter().collect::<Vec<_>>(),
        [(a.as_str().to_owned(), date("2026-11-03"))]
    );
}

#[test]
fn scans_happen_on_the_first_night_and_every_few_nights_after() {
    assert!(is_scan_night(None, date("2026-11-10"), 3));
    assert!(!is_scan_night(
        Some(date("2026-11-08")),
        date("2026-11-10"),
        3
    ));
    assert!(is_scan_night(
        Some(date("2026-11-07")),
        date("2026-11-10"),
        3
    ));
    assert!(is_scan_night(
        Some(date("2026-11-09")),
        date("2026-11-10"),
        1
    ));
}

#[test]
fn a_list_of_details_is_cut_where_the_allowance_ends() {
    let ids: Vec<String> = (0..5).map(|i| format!("PI-{i}")).collect();
    let item = PlanItem::ApprovalDetails(DetailsItem::new(ids));
    let (now, later) = fit(vec![item], 3);
    assert_eq!(
        (now[0].estimated_calls(), later[0].estimated_calls()),
        (3, 2)
    );
}

#[test]
fn long_ranges_split_into_batches_of_fifty_users_and_seven_days() {
    let items = results_items(
        ResultsPurpose::Primary,
        &users(51),
        date("2026-11-01"),
        date("2026-11-10"),
        2,
    );
    assert_eq!(items.len(), 4);
    let item = &items[1];
    assert_eq!(
        (item.from, item.to, item.users.len(), item.estimated_calls),
        (date("2026-11-01"), date("2026-11-07"), 1, 1)
    );
}

#[test]
fn targeted_user_days_cost_about_one_call_per_date() {
    let days: BTreeSet<_> = users(3)
        .into_iter()
        .map(|u| (u, date("2026-10-20")))
        .collect();
    let items = targeted_items(&days, 2);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].estimated_calls, 1);
}
