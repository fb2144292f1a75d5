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
        user_ids: Vec::new(),
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
        reask: &[],
        approvals_essential: true,
        scan: &[],
        watched: &NO_POINTS,
        scan_first: false,
        enrichment: &[],
        rows_per_user_day: 2,
        rows_profile: None,
        expected_details: 0,
        expected_targeted: 0,
        payroll: None,
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
fn approvals_asked_again_for_a_revocation_come_out_of_the_surplus_even_as_evidence() {
    let users = users(100);
    let listings = [listing("PROC-A")];
    let reask = ["P1".to_owned(), "P2".to_owned()];
    let without = plan(&input(&users, &listings, 1_000, 0));
    let mut short = input(&users, &listings, 1_000, 0);
    short.reask = &reask;
    let short = plan(&short);
    assert!(short.approvals_essential);
    assert_eq!(
        short.items, without.items,
        "no surplus: nothing asked again"
    );
    let asked_later = short
        .deferred
        .iter()
        .find(|item| matches!(item, PlanItem::ApprovalDetails(item) if item.optional))
        .expect("deferred");
    assert!(
        short.is_optional(asked_later),
        "deferring it leaves the run done"
    );
    let mut ample = input(&users, &listings, 1_000, 1_000);
    ample.reask = &reask;
    let ample = plan(&ample);
    assert_eq!(
        ample.phases().detail_ids,
        reask.to_vec(),
        "with a surplus, both are asked"
    );
}

#[test]
fn a_listing_by_originator_is_priced_a_traversal_per_ten_of_them_and_names_them() {
    let users = users(100);
    let named = Listing {
        user_ids: users[..25].to_vec(),
        ..listing("PROC-A")
    };
    let plan = plan(&input(&users, std::slice::from_ref(&named), 1_000, 0));
    let PlanItem::ApprovalList(item) = &plan.items[0] else {
        panic!("the listing comes first: {:?}", plan.items);
    };
    // 30 ids expected among 25 originators: 12, 12 and 6, one page each.
    assert_eq!(item.estimated_calls, 3);
    assert_eq!(item.user_ids, users[..25]);
    assert!(
        plan.items[0]
            .describe()
            .ends_with("by 25 covered originators"),
        "{}",
        plan.items[0].describe()
    );
    // Serialised with its originators; an org-wide item without the field, and one stored
    // before it existed reads as org-wide.
    let json = serde_json::to_value(item).unwrap();
    assert_eq!(json["user_ids"][0], "0000");
    let org_wide = ListingItem {
        user_ids: Vec::new(),
        ..item.clone()
    };
    let json = serde_json::to_value(&org_wide).unwrap();
    assert!(json.get("user_ids").is_none(), "{json}");
    let read: ListingItem = serde_json::from_value(json).unwrap();
    assert_eq!(read, org_wide);
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
    let items = scan_items(&points, &NO_POINTS);
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

static NO_POINTS: BTreeSet<(UserId, NaiveDate)> = BTreeSet::new();

#[test]
fn scan_calls_holding_a_watched_correction_go_first_so_the_watch_is_deferred_last() {
    let everyone = users(120);
    let mut points: Vec<(UserId, NaiveDate)> = everyone
        .iter()
        .map(|user| (user.clone(), date("2026-10-01")))
        .collect();
    // A correction watched for a revert, in the newest window and the last batch of users.
    let watched = (everyone[119].clone(), date("2026-11-05"));
    points.push(watched.clone());
    points.push((everyone[0].clone(), date("2026-11-05")));
    let items = scan_items(&points, &[watched.clone()].into());
    let shapes: Vec<(usize, NaiveDate)> = items
        .iter()
        .map(|item| (item.users.len(), item.from))
        .collect();
    assert_eq!(
        shapes,
        [
            (2, date("2026-11-05")),
            (50, date("2026-10-01")),
            (50, date("2026-10-01")),
            (20, date("2026-10-01")),
        ],
        "the watched correction's call first, the rest in window order"
    );
    assert!(items[0].users.contains(&watched.0));
    assert_eq!(
        scan_items(&points, &NO_POINTS)[0].from,
        date("2026-10-01"),
        "without a watch, window order"
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

// ---------------------------------------------------------------------------------------------
// Properties of any plan, checked against DingTalk's documented limits (PRODUCT.md section 3:
// ≤ 50 users and ≤ 7 days per results call, 50 rows a page, 20 ids a listing page, creation
// windows ≤ 120 days) written here as plain numbers.

mod properties {
    use proptest::prelude::*;

    use super::*;

    const MAX_USERS: usize = 50;
    const MAX_DAYS: i64 = 7;
    const ROWS_A_PAGE: u64 = 50;
    const IDS_A_PAGE: u64 = 20;
    const MAX_WINDOW_DAYS: i64 = 120;

    fn pages(things: u64, per_page: u64) -> u64 {
        let mut pages = things / per_page;
        if !things.is_multiple_of(per_page) {
            pages += 1;
        }
        pages.max(1)
    }

    fn days(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            out.push(day);
            day = day.succ_opt().unwrap();
        }
        out
    }

    /// Everything a plan is made from, owned.
    #[derive(Debug, Clone)]
    struct Facts {
        users: Vec<UserId>,
        primary: Option<(NaiveDate, NaiveDate)>,
        sync: Vec<(NaiveDate, NaiveDate, Vec<UserId>)>,
        expected_empty: BTreeSet<NaiveDate>,
        rescan: Option<(NaiveDate, NaiveDate)>,
        listings: Vec<Listing>,
        detail_backlog: Vec<String>,
        approvals_essential: bool,
        scan: Vec<(UserId, NaiveDate)>,
        scan_first: bool,
        enrichment: Vec<String>,
        rows: u64,
        allowance: u64,
        surplus: u64,
    }

    impl Facts {
        fn input(&self) -> PlanInput<'_> {
            PlanInput {
                users: &self.users,
                primary: self.primary,
                sync: &self.sync,
                expected_empty: &self.expected_empty,
                rescan: self.rescan,
                listings: &self.listings,
                detail_backlog: &self.detail_backlog,
                reask: &[],
                approvals_essential: self.approvals_essential,
                scan: &self.scan,
                watched: &NO_POINTS,
                scan_first: self.scan_first,
                enrichment: &self.enrichment,
                rows_per_user_day: self.rows,
                rows_profile: None,
                payroll: None,
                expected_details: 0,
                expected_targeted: 0,
                allowance: self.allowance,
                surplus: self.surplus,
                idle_window: (date("2026-11-01"), date("2026-11-01")),
            }
        }
    }

    fn arb_range() -> impl Strategy<Value = (NaiveDate, NaiveDate)> {
        (0..40i64, 0..20i64).prop_map(|(start, length)| {
            let from = date("2026-10-01") + Duration::days(start);
            (from, from + Duration::days(length))
        })
    }

    fn arb_facts() -> impl Strategy<Value = Facts> {
        let users = 0..130usize;
        let reads = (
            proptest::option::of(arb_range()),
            proptest::collection::vec((arb_range(), 0..70usize), 0..3),
            proptest::collection::btree_set(0..60i64, 0..10),
            proptest::option::of(arb_range()),
        );
        let approvals = (
            proptest::collection::vec((0..300i64, 0..200u64), 0..3),
            0..30usize,
            any::<bool>(),
            0..12usize,
        );
        let scan = (
            proptest::collection::vec((0..130usize, 0..40i64), 0..40),
            any::<bool>(),
        );
        let budget = (1..4u64, 0..120u64, 0..120u64);
        (users, reads, approvals, scan, budget, any::<bool>()).prop_map(
            |(
                user_count,
                (primary, sync, empty, rescan),
                (listings, details, essential, enrichment),
                (points, scan_first),
                (rows, allowance, surplus),
                nightly,
            )| {
                let users: Vec<UserId> = (0..user_count)
                    .map(|i| UserId::new(format!("{i:03}")).unwrap())
                    .collect();
                let start = local("2026-06-01 00:00");
                Facts {
                    // A nightly run reads the sync's ranges, a backfill its primary range.
                    primary: if nightly { None } else { primary },
                    sync: if nightly {
                        sync.into_iter()
                            .enumerate()
                            .map(|(at, ((from, to), count))| {
                                // Ranges of one sync never overlap: each starts after the last.
                                let shift = Duration::days(60 * at as i64);
                                let users = users.iter().take(count).cloned().collect();
                                (from + shift, to + shift, users)
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    expected_empty: empty
                        .into_iter()
                        .map(|day| date("2026-10-01") + Duration::days(day))
                        .collect(),
                    rescan,
                    listings: listings
                        .into_iter()
                        .enumerate()
                        .map(|(at, (span, ids))| Listing {
                            process_code: format!("PROC-{at}"),
                            created_from: start,
                            created_to: start + Duration::days(span) + Duration::minutes(7),
                            expected_ids: ids,
                            user_ids: Vec::new(),
                        })
                        .collect(),
                    detail_backlog: (0..details).map(|i| format!("D{i}")).collect(),
                    approvals_essential: essential,
                    scan: points
                        .into_iter()
                        .map(|(user, day)| {
                            (
                                UserId::new(format!("{user:03}")).unwrap(),
                                date("2026-10-01") + Duration::days(day),
                            )
                        })
                        .collect(),
                    scan_first,
                    enrichment: (0..enrichment).map(|i| format!("E{i}")).collect(),
                    users,
                    rows,
                    allowance,
                    surplus,
                }
            },
        )
    }

    /// How many times each user-day is read by results items of `purpose`.
    fn reads(items: &[&PlanItem], purpose: ResultsPurpose) -> BTreeMap<(UserId, NaiveDate), usize> {
        let mut out = BTreeMap::new();
        for item in items {
            if let PlanItem::Results(item) = item
                && item.purpose == purpose
            {
                for day in days(item.from, item.to) {
                    for user in &item.users {
                        *out.entry((user.clone(), day)).or_insert(0) += 1;
                    }
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]

        #[test]
        fn a_plan_keeps_the_limits_and_the_allowance_and_defers_what_it_does_not_plan(
            facts in arb_facts(),
        ) {
            let plan = plan(&facts.input());
            let everything: Vec<&PlanItem> = plan.items.iter().chain(&plan.deferred).collect();

            // The planned cost never exceeds the allowance; optional work stays in the surplus.
            let planned: u64 = plan.items.iter().map(PlanItem::estimated_calls).sum();
            prop_assert_eq!(plan.estimated_calls, planned);
            prop_assert!(planned <= facts.allowance, "{} > {}", planned, facts.allowance);
            let optional: u64 = plan
                .items
                .iter()
                .filter(|item| plan.is_optional(item))
                .map(PlanItem::estimated_calls)
                .sum();
            prop_assert!(optional <= facts.surplus, "optional {} > surplus {}", optional, facts.surplus);

            // Every user-day wanted is read exactly once, planned or deferred.
            let mut primary_wanted = BTreeMap::new();
            if let Some((from, to)) = facts.primary {
                for day in days(from, to) {
                    for user in &facts.users {
                        primary_wanted.insert((user.clone(), day), 1);
                    }
                }
            }
            for (from, to, users) in &facts.sync {
                for day in days(*from, *to) {
                    for user in users {
                        primary_wanted.insert((user.clone(), day), 1);
                    }
                }
            }
            prop_assert_eq!(reads(&everything, ResultsPurpose::Primary), primary_wanted);
            let mut rescan_wanted = BTreeMap::new();
            if let Some((from, to)) = facts.rescan {
                for day in days(from, to) {
                    for user in &facts.users {
                        rescan_wanted.insert((user.clone(), day), 1);
                    }
                }
            }
            prop_assert_eq!(reads(&everything, ResultsPurpose::Rescan), rescan_wanted);

            // Every check point to scan is read by exactly one punches item.
            let points: BTreeSet<_> = facts.scan.iter().cloned().collect();
            let mut scanned: BTreeMap<(UserId, NaiveDate), usize> = BTreeMap::new();
            for item in &everything {
                if let PlanItem::Punches(item) = item {
                    prop_assert!(item.users.len() <= MAX_USERS && !item.users.is_empty());
                    prop_assert!((item.to - item.from).num_days() < MAX_DAYS);
                    prop_assert_eq!(item.estimated_calls, 1);
                    for (user, day) in &points {
                        if item.users.contains(user) && item.from <= *day && *day <= item.to {
                            *scanned.entry((user.clone(), *day)).or_insert(0) += 1;
                        }
                    }
                }
            }
            prop_assert_eq!(scanned.len(), points.len());
            prop_assert!(scanned.values().all(|times| *times == 1), "{:?}", scanned);

            // Every approval id wanted is fetched or deferred once, in the order given.
            let ids = |enrichment: bool| -> Vec<String> {
                everything
                    .iter()
                    .flat_map(|item| match item {
                        PlanItem::ApprovalDetails(item) if !enrichment => item.ids.clone(),
                        PlanItem::Enrichment(item) if enrichment => item.ids.clone(),
                        _ => Vec::new(),
                    })
                    .collect()
            };
            prop_assert_eq!(ids(false), facts.detail_backlog.clone());
            prop_assert_eq!(ids(true), facts.enrichment.clone());

            for item in &everything {
                match item {
                    PlanItem::Results(item) => {
                        prop_assert!(!item.users.is_empty() && item.users.len() <= MAX_USERS);
                        prop_assert!(item.from <= item.to);
                        prop_assert!((item.to - item.from).num_days() < MAX_DAYS);
                        let scheduled = if item.purpose == ResultsPurpose::Primary && facts.primary.is_none() {
                            days(item.from, item.to)
                                .into_iter()
                                .filter(|day| !facts.expected_empty.contains(day))
                                .count() as u64
                        } else {
                            days(item.from, item.to).len() as u64
                        };
                        let rows = item.users.len() as u64 * scheduled * facts.rows;
                        prop_assert_eq!(item.estimated_calls, pages(rows, ROWS_A_PAGE));
                    }
                    PlanItem::ApprovalDetails(item) | PlanItem::Enrichment(item) => {
                        prop_assert_eq!(item.estimated_calls, item.ids.len() as u64);
                    }
                    PlanItem::ApprovalList(_) | PlanItem::Punches(_) => {}
                }
            }

            // Each listing's creation window is tiled by windows of at most 120 days, none
            // covering an instant twice, each estimated at its pages of 20 ids.
            for listing in &facts.listings {
                let windows: Vec<&ListingItem> = everything
                    .iter()
                    .filter_map(|item| match item {
                        PlanItem::ApprovalList(item) if item.process_code == listing.process_code => Some(item),
                        _ => None,
                    })
                    .collect();
                prop_assert!(!windows.is_empty());
                prop_assert_eq!(windows[0].created_from, listing.created_from);
                prop_assert_eq!(windows[windows.len() - 1].created_to, listing.created_to);
                for window in &windows {
                    prop_assert!(window.created_from <= window.created_to);
                    prop_assert!(window.created_to - window.created_from <= Duration::days(MAX_WINDOW_DAYS));
                    prop_assert_eq!(window.estimated_calls, pages(listing.expected_ids, IDS_A_PAGE));
                }
                for pair in windows.windows(2) {
                    prop_assert_eq!(pair[1].created_from, pair[0].created_to + Duration::milliseconds(1));
                }
            }

            // Nothing essential is deferred when all the essential work fits the allowance.
            let essential: u64 = everything
                .iter()
                .filter(|item| !plan.is_optional(item))
                .map(|item| item.estimated_calls())
                .sum();
            if essential <= facts.allowance {
                prop_assert!(plan.deferred.iter().all(|item| plan.is_optional(item)), "{:?}", plan.deferred);
            }
            // And nothing at all is deferred when everything fits.
            let all: u64 = everything.iter().map(|item| item.estimated_calls()).sum();
            if all <= facts.allowance && all - essential <= facts.surplus {
                prop_assert!(plan.deferred.is_empty(), "{:?}", plan.deferred);
            }
        }
    }
}

#[test]
fn the_rows_prior_is_two_rows_on_weekdays_and_none_at_the_weekend() {
    let prior = RowsProfile::prior();
    // 2026-10-01 is a Thursday: Thu, Fri, (Sat, Sun), Mon, Tue, Wed.
    assert_eq!(prior.rows(50, date("2026-10-01"), date("2026-10-07")), 500);
    assert_eq!(prior.rows(50, date("2026-10-03"), date("2026-10-04")), 0);
    assert!(!prior.learnt);
}

#[test]
fn rows_are_learnt_from_the_dates_read_for_everyone_and_partial_ends_are_left_out() {
    let users = 100;
    let mut counts = BTreeMap::new();
    // Two weeks read for everyone (2026-10-05 is a Monday): 2 rows a weekday, 1 on Saturday.
    for day in date("2026-10-05").iter_days().take(14) {
        let rows = match day.weekday().num_days_from_monday() {
            0..=4 => 200,
            5 => 100,
            _ => 0,
        };
        if rows > 0 {
            counts.insert(day, rows);
        }
    }
    // A few user-days a targeted re-read fetched later: not a date read for everyone.
    counts.insert(date("2026-10-22"), 6);
    let learnt = RowsProfile::learn(&counts, users);
    assert!(learnt.learnt);
    assert_eq!(learnt.centi_rows, [200, 200, 200, 200, 200, 100, 0]);
    // A scheduled user-day: (10 × 2 + 2 × 1) rows over 12 dates.
    assert_eq!(learnt.centi_scheduled, 184);
    // Less than a week of data: the prior.
    let short: BTreeMap<NaiveDate, u64> = counts
        .range(..date("2026-10-08"))
        .map(|(d, c)| (*d, *c))
        .collect();
    assert_eq!(RowsProfile::learn(&short, users), RowsProfile::prior());
}

#[test]
fn targeted_reads_are_expected_outside_the_first_chunk_and_before_each_later_one() {
    let chunks = [
        (date("2026-10-01"), date("2026-10-07")),
        (date("2026-10-08"), date("2026-10-14")),
    ];
    let none = BTreeSet::new();
    // One approval expected on each of two dates, one per chunk: the first chunk reads the
    // second chunk's date; the second re-reads the first chunk's date (corrected, watched).
    let expected: BTreeMap<NaiveDate, f64> =
        [(date("2026-10-02"), 10.0), (date("2026-10-09"), 10.0)]
            .into_iter()
            .collect();
    let outlook = TargetedOutlook {
        chunks: &chunks,
        pointed: &none,
        corrected: &none,
        expected: &expected,
        centi_scheduled: 200,
        watch_from: date("2026-09-01"),
    };
    assert_eq!(expected_targeted(&outlook), 2);
    // 60 users on one date: two batches (50 users, 100 rows: 2 pages; 10 users: 1 page).
    let many: BTreeMap<NaiveDate, f64> = [(date("2026-10-09"), 60.0)].into_iter().collect();
    let outlook = TargetedOutlook {
        expected: &many,
        ..outlook
    };
    assert_eq!(expected_targeted(&outlook), 3);
    // Known user-days count exactly: a corrected day before the second chunk only.
    let corrected: BTreeSet<(UserId, NaiveDate)> = [(users(1)[0].clone(), date("2026-10-02"))]
        .into_iter()
        .collect();
    let empty = BTreeMap::new();
    let outlook = TargetedOutlook {
        corrected: &corrected,
        expected: &empty,
        ..outlook
    };
    assert_eq!(expected_targeted(&outlook), 1);
}

#[test]
fn until_payroll_closes_last_months_scan_and_second_look_come_before_the_sync() {
    let users = users(50);
    let scan = vec![
        (users[0].clone(), date("2026-10-28")),
        (users[1].clone(), date("2026-11-02")),
    ];
    let sync = [(date("2026-11-02"), date("2026-11-02"), users.clone())];
    let mut input = input(&users, &[], 1_000, 0);
    input.primary = None;
    input.sync = &sync;
    input.scan = &scan;
    input.rescan = Some((date("2026-10-27"), date("2026-10-27")));
    // No payroll month: the sync first, the scan after it, the second look out of the surplus
    // (none here).
    let plan_without = plan(&input);
    let kinds: Vec<&str> = plan_without.items.iter().map(PlanItem::kind).collect();
    assert_eq!(kinds, ["results", "punch_scan"]);
    assert_eq!(plan_without.deferred.len(), 1);
    assert!(plan_without.is_optional(&plan_without.deferred[0]));
    // October's payroll open: its scan and its second look first, essential, then the sync,
    // then November's scan.
    input.payroll = Some((date("2026-10-01"), date("2026-10-31")));
    let plan_with = plan(&input);
    let kinds: Vec<&str> = plan_with.items.iter().map(PlanItem::kind).collect();
    assert_eq!(kinds, ["punch_scan", "rescan", "results", "punch_scan"]);
    let PlanItem::Punches(first) = &plan_with.items[0] else {
        panic!("a punch scan first");
    };
    assert_eq!(first.from, date("2026-10-28"));
    assert!(
        !plan_with.is_optional(&plan_with.items[1]),
        "essential until payroll closes"
    );
    assert!(plan_with.deferred.is_empty());
}

#[test]
fn a_sync_the_night_cannot_pay_for_goes_a_day_at_a_time() {
    let users = users(50);
    // A week of 50 users: 700 rows, 14 pages in one item; 2 pages a day.
    let sync = [(date("2026-11-02"), date("2026-11-08"), users.clone())];
    let mut input = input(&users, &[], 100, 0);
    input.primary = None;
    input.rescan = None;
    input.sync = &sync;
    let whole = plan(&input);
    assert_eq!(whole.items.len(), 1);
    assert_eq!(whole.estimated_calls, 14);
    input.allowance = 5;
    let daily = plan(&input);
    let dates: Vec<(NaiveDate, NaiveDate)> = daily
        .items
        .iter()
        .map(|item| match item {
            PlanItem::Results(item) => (item.from, item.to),
            other => panic!("only results, got {other:?}"),
        })
        .collect();
    // Two days fit tonight (2 calls each), the rest waits, oldest first.
    assert_eq!(
        dates,
        [
            (date("2026-11-02"), date("2026-11-02")),
            (date("2026-11-03"), date("2026-11-03"))
        ]
    );
    assert_eq!(daily.deferred.len(), 5);
}
