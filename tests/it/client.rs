//! Integration tests: the DingTalk client against the simulator over real HTTP on 127.0.0.1.
//!
//! Every endpoint, split and page shape, the end-of-list shapes of `nextToken`, token expiry in
//! the middle of a pull, each fault class, quota exhaustion, the metered count matching the
//! simulator's, and secrets staying out of TRACE logs. The client's clock follows the simulator's
//! virtual clock unless a test says otherwise.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use dingtalk_reconcile::dingtalk::{
    Client, ClientConfig, Error, ErrorKind, IpBanPolicy, MemoryRecorder, ProcessInstanceIdsQuery,
    Scope, TokenSource,
};
use dingtalk_reconcile::domain::{CallOutcome, Clock, FixedClock, SourceType, UserId};
use dingtalk_sim::{
    FaultKind, FaultRule, MissingInstanceCode, NextTokenEnd, SimConfig, SimHandle, Switches,
};

use crate::support::{SimClock, client_config, current_token, start_sim};

const RESULTS: &str = "/attendance/list";
const PUNCHES: &str = "/attendance/listRecord";
const INSTANCE_IDS: &str = "/v1.0/workflow/processes/instanceIds/query";
const INSTANCE: &str = "/v1.0/workflow/processInstances";

struct Harness {
    sim: SimHandle,
    client: Client,
    recorder: Arc<MemoryRecorder>,
}

impl Harness {
    async fn start(config: SimConfig) -> Harness {
        Harness::start_with(config, |_| {}).await
    }

    async fn start_with(config: SimConfig, tweak: impl FnOnce(&mut ClientConfig)) -> Harness {
        let sim = start_sim(config).await;
        let clock: Arc<dyn Clock> = Arc::new(SimClock(sim.state()));
        Harness::with_clock(sim, clock, tweak)
    }

    fn with_clock(
        sim: SimHandle,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut ClientConfig),
    ) -> Harness {
        let mut config = client_config(&sim);
        config.throttle_retry_delay = Duration::from_millis(20);
        config.retry_base_delay = Duration::from_millis(10);
        config.request_timeout = Duration::from_secs(5);
        tweak(&mut config);
        let recorder = Arc::new(MemoryRecorder::default());
        let client = Client::new(config, clock, recorder.clone()).expect("client builds");
        Harness {
            sim,
            client,
            recorder,
        }
    }

    fn users(&self, count: usize) -> Vec<UserId> {
        crate::support::first_users(&self.sim, count)
    }

    fn from(&self) -> NaiveDate {
        self.sim.world().config.from
    }

    fn calls_to(&self, path: &str) -> u64 {
        self.sim.stats().calls.get(path).copied().unwrap_or(0)
    }

    /// The client's, the recorder's and the simulator's metered counts agree.
    #[track_caller]
    fn assert_metered_counts_agree(&self) {
        let sim_metered = self.sim.stats().metered;
        assert_eq!(
            self.client.metered_calls(),
            sim_metered,
            "client vs simulator metered count"
        );
        assert_eq!(
            self.recorder.metered(),
            sim_metered,
            "recorder vs simulator metered count"
        );
    }

    fn supply_query(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> ProcessInstanceIdsQuery {
        ProcessInstanceIdsQuery {
            process_code: self.sim.supply_process_codes()[0].clone(),
            created_from: from,
            created_to: to,
            statuses: Vec::new(),
            user_ids: Vec::new(),
        }
    }

    /// Ids the simulator holds for the first supply template created in `[from, to]`.
    fn expected_ids(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
        let world = self.sim.world();
        let code = &self.sim.supply_process_codes()[0];
        let template = world
            .templates
            .iter()
            .position(|t| &t.process_code == code)
            .unwrap();
        let now = self.sim.now().timestamp_millis();
        world
            .instances_created(
                template,
                from.timestamp_millis(),
                to.timestamp_millis(),
                now,
            )
            .into_iter()
            .map(|index| world.instances[index as usize].id.clone())
            .collect()
    }
}

fn small_world(employees: usize) -> SimConfig {
    SimConfig::new(7, employees)
}

fn ceil_div(rows: u64, per_page: u64) -> u64 {
    rows.div_ceil(per_page).max(1)
}

#[tokio::test]
async fn users_in_scope_walks_every_department_once_and_dedupes_members() {
    let harness = Harness::start(small_world(120)).await;
    let users = harness
        .client
        .users_in_scope(&Scope::Departments(vec![1]))
        .await
        .unwrap();
    let expected: BTreeSet<String> = harness
        .sim
        .world()
        .employees
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let got: Vec<String> = users.iter().map(|u| u.as_str().to_owned()).collect();
    assert_eq!(got, expected.into_iter().collect::<Vec<_>>());
    let departments = harness.sim.world().departments.len() as u64;
    assert_eq!(
        harness.calls_to("/topapi/v2/department/listsubid"),
        departments
    );
    assert_eq!(harness.calls_to("/topapi/user/listid"), departments);
    assert_eq!(harness.sim.stats().metered, 0, "contacts calls are free");

    let given = vec![
        UserId::new("b").unwrap(),
        UserId::new("a").unwrap(),
        UserId::new("b").unwrap(),
    ];
    let users = harness
        .client
        .users_in_scope(&Scope::Users(given))
        .await
        .unwrap();
    assert_eq!(
        users,
        vec![UserId::new("a").unwrap(), UserId::new("b").unwrap()]
    );
}

#[tokio::test]
async fn a_month_of_results_comes_back_complete_in_full_pages() {
    // Arrange: 120 users × 31 days = 3 user runs × 5 date runs = 15 batches.
    let harness = Harness::start(small_world(120)).await;
    let users = harness.users(120);
    let (from, to) = (harness.from(), harness.from() + Days::days(30));

    // Act.
    let pull = harness.client.attendance_results(&users, from, to).await;

    // Assert: no error, every user-day complete, and exactly ⌈rows ÷ 50⌉ calls per batch.
    assert!(pull.errors.is_empty(), "{:?}", pull.errors);
    assert_eq!(pull.complete_user_days.len(), 120 * 31);
    assert!(
        pull.slots
            .windows(2)
            .all(|pair| pair[0].key() < pair[1].key()),
        "sorted, no duplicate"
    );
    // The batches by hand: the users in id order by 50 (50, 50, 20), the dates by 7 days
    // (1–7, 8–14, 15–21, 22–28, 29–31); the rows of each from the world at the simulator's clock.
    let world = harness.sim.world();
    let now = harness.sim.now().timestamp_millis();
    let rows_of = |user: &UserId, first: NaiveDate, last: NaiveDate| -> u64 {
        let employee = world
            .employees
            .iter()
            .find(|e| e.id == user.as_str())
            .expect("a user of the world");
        employee
            .days
            .iter()
            .flatten()
            .filter(|d| d.work_date >= first && d.work_date <= last && d.visible(now))
            .map(|d| d.slots.iter().filter(|s| s.state_at(now).is_some()).count() as u64)
            .sum()
    };
    let date_runs: Vec<(NaiveDate, NaiveDate)> = [(0, 6), (7, 13), (14, 20), (21, 27), (28, 30)]
        .into_iter()
        .map(|(first, last)| (from + Days::days(first), from + Days::days(last)))
        .collect();
    let mut expected_calls = 0;
    let mut expected_rows = 0;
    for user_run in users.chunks(50) {
        for &(first, last) in &date_runs {
            let rows: u64 = user_run.iter().map(|u| rows_of(u, first, last)).sum();
            expected_rows += rows;
            expected_calls += ceil_div(rows, 50);
        }
    }
    assert_eq!(pull.slots.len() as u64, expected_rows, "every visible row");
    assert_eq!(harness.calls_to(RESULTS), expected_calls);
    assert!(
        pull.slots.len() as u64 > (expected_calls - 15) * 50,
        "at most one partly filled page per batch"
    );
    harness.assert_metered_counts_agree();
}

#[tokio::test]
async fn results_rows_carry_the_shift_day_and_the_linked_approval() {
    let harness = Harness::start(small_world(60)).await;
    let users = harness.users(60);
    let pull = harness
        .client
        .attendance_results(&users, harness.from(), harness.from() + Days::days(30))
        .await;
    let world = harness.sim.world();
    let from = harness.from();
    for slot in pull.slots.iter().take(500) {
        let user = world.employee(slot.user_id.as_str()).unwrap();
        let day = world
            .user_day(user, (slot.work_date - from).num_days() as usize)
            .unwrap();
        let planned = day
            .slots
            .iter()
            .find(|s| Some(s.plan_id) == slot.plan_id)
            .unwrap();
        assert_eq!(planned.base_ms, slot.base_check_time.timestamp_millis());
    }
    let corrected: Vec<_> = pull
        .slots
        .iter()
        .filter(|s| s.source_type == SourceType::Approve)
        .collect();
    assert!(
        !corrected.is_empty(),
        "a month of a default world holds applied 补卡"
    );
    assert!(corrected.iter().all(|s| s.process_instance_id.is_some()));
    assert!(pull.unknown_values.is_empty());
}

#[tokio::test]
async fn one_user_one_day_costs_exactly_one_call() {
    let harness = Harness::start(small_world(5)).await;
    let users = harness.users(1);
    let pull = harness
        .client
        .attendance_results(&users, harness.from(), harness.from())
        .await;
    assert!(pull.errors.is_empty());
    assert_eq!(harness.calls_to(RESULTS), 1);
    assert_eq!(harness.client.metered_calls(), 1);
}

#[tokio::test]
async fn raw_punches_come_unpaged_per_batch_with_approval_punches_kept() {
    let harness = Harness::start(small_world(60)).await;
    let users = harness.users(60);
    let pull = harness
        .client
        .raw_punches(&users, harness.from(), harness.from() + Days::days(13))
        .await;
    assert!(pull.errors.is_empty(), "{:?}", pull.errors);
    assert_eq!(
        harness.calls_to(PUNCHES),
        2 * 2,
        "2 user runs × 2 date runs, one call each"
    );
    assert_eq!(pull.complete_user_days.len(), 60 * 14);
    assert!(!pull.punches.is_empty());
    assert!(pull.punches.iter().all(|p| p.work_date.is_some()));
    harness.assert_metered_counts_agree();
}

#[tokio::test]
async fn approval_ids_end_on_every_end_of_list_shape() {
    for end in [
        NextTokenEnd::Absent,
        NextTokenEnd::Empty,
        NextTokenEnd::Zero,
    ] {
        let mut config = small_world(200);
        config.switches.next_token_end = end;
        let harness = Harness::start(config).await;
        let now = harness.sim.now();
        let (from, to) = (now - Days::days(60), now);
        let ids = harness
            .client
            .process_instance_ids(&harness.supply_query(from, to))
            .await
            .unwrap();
        let expected = harness.expected_ids(from, to);
        assert!(expected.len() > 20, "several pages: {}", expected.len());
        assert_eq!(ids, expected, "{end:?}");
        assert_eq!(
            harness.calls_to(INSTANCE_IDS),
            ceil_div(expected.len() as u64, 20),
            "{end:?}"
        );
        harness.assert_metered_counts_agree();
    }
}

#[tokio::test]
async fn long_windows_and_many_originators_are_split_to_dingtalk_limits() {
    let harness = Harness::start(small_world(200)).await;
    let now = harness.sim.now();
    let (from, to) = (now - Days::days(300), now);
    let mut query = harness.supply_query(from, to);
    let ids = harness.client.process_instance_ids(&query).await.unwrap();
    assert_eq!(ids, harness.expected_ids(from, to));
    let windows_calls = harness.calls_to(INSTANCE_IDS);
    assert!(
        windows_calls >= 3,
        "300 days is three windows: {windows_calls}"
    );

    let originators = harness.users(25);
    query.user_ids = originators.clone();
    query.created_from = now - Days::days(60);
    let filtered = harness.client.process_instance_ids(&query).await.unwrap();
    let world = harness.sim.world();
    let expected: Vec<String> = harness
        .expected_ids(now - Days::days(60), now)
        .into_iter()
        .filter(|id| {
            let user = &world.employees[world.instance(id).unwrap().user].id;
            originators.iter().any(|o| o.as_str() == user)
        })
        .collect();
    assert_eq!(
        filtered.iter().collect::<BTreeSet<_>>(),
        expected.iter().collect::<BTreeSet<_>>()
    );
    assert!(
        harness.calls_to(INSTANCE_IDS) >= windows_calls + 3,
        "25 originators is three calls"
    );
}

#[tokio::test]
async fn a_window_older_than_a_year_is_refused_without_a_call() {
    let harness = Harness::start(small_world(5)).await;
    let now = harness.sim.now();
    let query = harness.supply_query(now - Days::days(366), now - Days::days(300));
    let err = harness
        .client
        .process_instance_ids(&query)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert!(err.to_string().contains("365 days"), "{err}");
    assert_eq!(harness.sim.stats().calls.values().sum::<u64>(), 0);
}

#[tokio::test]
async fn approval_details_decode_the_supply_form_under_both_switch_sets() {
    for switches in [Switches::default(), Switches::pessimistic()] {
        let mut config = small_world(150);
        config.switches = switches.clone();
        let harness = Harness::start(config).await;
        let now = harness.sim.now();
        let ids = harness
            .client
            .process_instance_ids(&harness.supply_query(now - Days::days(60), now))
            .await
            .unwrap();
        assert_eq!(ids, harness.expected_ids(now - Days::days(60), now));
        assert!(ids.len() >= 10, "{} approvals to decode", ids.len());
        let details = harness.client.approval_details(&ids).await;
        assert_eq!(details.len(), ids.len(), "one detail per id");
        let world = harness.sim.world();
        // `createTime`/`finishTime` travel to the minute; the client reads them as UTC, as the
        // SDK says. Under the pessimistic switch DingTalk sends local time labelled `Z`, so the
        // client's reading is exactly Shanghai's offset late: that is what the run must detect.
        let to_minute =
            |ms: i64| chrono::DateTime::from_timestamp_millis(ms - ms.rem_euclid(60_000)).unwrap();
        let shift = if switches.approval_times_utc {
            Days::zero()
        } else {
            Days::hours(8)
        };
        let mut finished = 0;
        for (id, detail) in details {
            let approval = detail.unwrap_or_else(|err| panic!("{id}: {err}"));
            let instance = world.instance(&id).unwrap();
            assert_eq!(
                approval.create_time,
                Some(to_minute(instance.created_ms) + shift),
                "{id}: createTime"
            );
            if instance.decided_ms <= now.timestamp_millis() {
                finished += 1;
                assert_eq!(
                    approval.finish_time,
                    Some(to_minute(instance.decided_ms) + shift),
                    "{id}: finishTime"
                );
            } else {
                assert_eq!(approval.finish_time, None, "{id}: running");
            }
            assert_eq!(
                approval.originator.as_str(),
                world.employees[instance.user].id
            );
            assert_eq!(
                approval.corrected_time.unwrap().timestamp_millis(),
                instance.corrected_ms
            );
            assert_eq!(
                approval.business_id.as_deref(),
                Some(instance.business_id.as_str())
            );
            let ext = approval.ext.expect("extValue present");
            assert_eq!(ext.plan_id.is_some(), switches.plan_id_in_ext_value);
            assert!(approval.reason.is_some());
            assert!(approval.raw_json.contains(&id));
        }
        assert!(finished > 0, "some approvals are finished");
        harness.assert_metered_counts_agree();
    }
}

#[tokio::test]
async fn a_missing_instance_is_not_found_whichever_code_dingtalk_uses() {
    for code in [
        MissingInstanceCode::ProcessInstanceIdError,
        MissingInstanceCode::AflowProcessInstNotExist,
    ] {
        let mut config = small_world(5);
        config.switches.missing_instance_code = code;
        let harness = Harness::start(config).await;
        let err = harness
            .client
            .approval_detail("no-such-instance")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("no-such-instance"), "{err}");
        assert_eq!(harness.calls_to(INSTANCE), 1, "not found is not retried");
    }
}

#[tokio::test]
async fn supply_templates_are_found_through_the_admin_and_refused_to_others() {
    let harness = Harness::start(small_world(20)).await;
    let admin = UserId::new(harness.sim.admin_user_id()).unwrap();
    let codes = harness.client.supply_process_codes(&admin).await.unwrap();
    assert_eq!(codes, harness.sim.supply_process_codes());
    let other = harness.users(20).into_iter().find(|u| *u != admin).unwrap();
    let err = harness
        .client
        .supply_process_codes(&other)
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn the_legacy_token_endpoint_works_too() {
    let harness = Harness::start_with(small_world(5), |config| {
        config.token_source = TokenSource::LegacyGettoken
    })
    .await;
    let users = harness.users(5);
    let pull = harness
        .client
        .attendance_results(&users, harness.from(), harness.from())
        .await;
    assert!(pull.errors.is_empty(), "{:?}", pull.errors);
    assert_eq!(harness.calls_to("/gettoken"), 1);
    assert_eq!(harness.calls_to("/v1.0/oauth2/accessToken"), 0);
}

mod faults;
