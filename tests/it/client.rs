//! Integration tests: the DingTalk client against the simulator over real HTTP on 127.0.0.1.
//!
//! Every endpoint, split and page shape, the end-of-list shapes of `nextToken`, token expiry in
//! the middle of a pull, each fault class, quota exhaustion, the metered count matching the
//! simulator's, and secrets staying out of TRACE logs. The client's clock follows the simulator's
//! virtual clock unless a test says otherwise.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use dingtalk_reconcile::dingtalk::{
    ApprovalIdsQuery, Client, ClientConfig, Error, ErrorKind, IpBanPolicy, MemoryRecorder, Scope,
    TokenSource,
};
use dingtalk_reconcile::domain::{CallOutcome, Clock, FixedClock, SourceType, UserId};
use dingtalk_reconcile::sim::{
    FaultKind, FaultRule, MissingInstanceCode, NextTokenEnd, SimConfig, SimHandle, SimState,
    Switches,
};
use secrecy::SecretString;

const RESULTS: &str = "/attendance/list";
const PUNCHES: &str = "/attendance/listRecord";
const INSTANCE_IDS: &str = "/v1.0/workflow/processes/instanceIds/query";
const INSTANCE: &str = "/v1.0/workflow/processInstances";

/// The simulator's virtual clock, so token expiry and windows agree with it.
#[derive(Debug)]
struct SimClock(Arc<SimState>);

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

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
        let sim = SimHandle::spawn(config).await.expect("simulator starts");
        let clock: Arc<dyn Clock> = Arc::new(SimClock(sim.state()));
        Harness::with_clock(sim, clock, tweak)
    }

    fn with_clock(
        sim: SimHandle,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut ClientConfig),
    ) -> Harness {
        let base = url::Url::parse(&sim.base_url()).unwrap();
        let mut config = ClientConfig::new(
            base.clone(),
            base,
            sim.app_key(),
            SecretString::from(sim.app_secret().to_owned()),
        );
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
        let mut ids: Vec<UserId> = self
            .sim
            .world()
            .employees
            .iter()
            .map(|e| UserId::new(e.id.clone()).unwrap())
            .collect();
        ids.sort();
        ids.truncate(count);
        ids
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

    fn supply_query(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> ApprovalIdsQuery {
        ApprovalIdsQuery {
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
    let batches = dingtalk_reconcile::dingtalk::limits::split_batches(&users, from, to);
    assert_eq!(batches.len(), 15);
    let expected_calls: u64 = batches
        .iter()
        .map(|batch| {
            let rows = pull
                .slots
                .iter()
                .filter(|slot| {
                    batch.users.contains(&slot.user_id)
                        && (batch.from..=batch.to).contains(&slot.work_date)
                })
                .count() as u64;
            ceil_div(rows, 50)
        })
        .sum();
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
    assert!(corrected.iter().all(|s| s.proc_inst_id.is_some()));
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
            .approval_ids(&harness.supply_query(from, to))
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
    let ids = harness.client.approval_ids(&query).await.unwrap();
    assert_eq!(ids, harness.expected_ids(from, to));
    let windows_calls = harness.calls_to(INSTANCE_IDS);
    assert!(
        windows_calls >= 3,
        "300 days is three windows: {windows_calls}"
    );

    let originators = harness.users(25);
    query.user_ids = originators.clone();
    query.created_from = now - Days::days(60);
    let filtered = harness.client.approval_ids(&query).await.unwrap();
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
    let err = harness.client.approval_ids(&query).await.unwrap_err();
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
            .approval_ids(&harness.supply_query(now - Days::days(60), now))
            .await
            .unwrap();
        let details = harness.client.approval_details(&ids).await;
        let world = harness.sim.world();
        for (id, detail) in details {
            let approval = detail.unwrap_or_else(|err| panic!("{id}: {err}"));
            let instance = world.instance(&id).unwrap();
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

#[tokio::test]
async fn a_wrong_app_secret_is_fatal_names_the_remedy_and_is_not_retried() {
    for source in [TokenSource::V1OAuth2, TokenSource::LegacyGettoken] {
        let harness = Harness::start_with(small_world(5), |config| {
            config.app_secret = SecretString::from("not-the-secret".to_owned());
            config.token_source = source;
        })
        .await;
        let err = harness
            .client
            .users_in_scope(&Scope::Departments(vec![1]))
            .await
            .unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(err.to_string().contains("app_secret"), "{err}");
        assert!(!err.to_string().contains("not-the-secret"), "{err}");
        assert_eq!(
            harness.sim.stats().calls.values().sum::<u64>(),
            1,
            "{source:?}"
        );
    }
}

#[tokio::test]
async fn a_token_expiring_in_the_middle_of_a_long_pull_is_refreshed_once_and_nothing_is_lost() {
    // Arrange: the client's clock stands still while the simulator's jumps three hours ahead
    // after a few calls, so the server rejects a token the client believes fresh.
    let sim = SimHandle::spawn(small_world(150)).await.unwrap();
    let frozen: Arc<dyn Clock> = Arc::new(FixedClock(sim.now()));
    let harness = Harness::with_clock(sim, frozen, |config| config.max_concurrency = 1);
    let users = harness.users(150);
    let (from, to) = (harness.from(), harness.from() + Days::days(20));
    let state = harness.sim.state();
    let later = harness.sim.now() + Days::hours(3);

    // Act: move the simulator's clock once the pull has made some calls.
    let mover = tokio::spawn(async move {
        loop {
            if state.stats().calls.get(RESULTS).copied().unwrap_or(0) >= 5 {
                state.set_clock(later);
                return;
            }
            tokio::task::yield_now().await;
        }
    });
    let pull = harness.client.attendance_results(&users, from, to).await;
    mover.await.unwrap();

    // Assert.
    assert!(pull.errors.is_empty(), "{:?}", pull.errors);
    assert_eq!(pull.complete_user_days.len(), 150 * 21);
    assert_eq!(
        harness.calls_to("/v1.0/oauth2/accessToken"),
        2,
        "one initial fetch, one refresh"
    );
    let rejected = harness
        .recorder
        .calls()
        .iter()
        .filter(|call| call.outcome == CallOutcome::Error("42001".into()))
        .count();
    assert!(rejected >= 1, "the server rejected the stale token");
    harness.assert_metered_counts_agree();
}

#[tokio::test]
async fn the_client_refreshes_ahead_of_expiry_when_its_clock_moves() {
    let harness = Harness::start(small_world(5)).await;
    let users = harness.users(5);
    harness
        .client
        .attendance_results(&users, harness.from(), harness.from())
        .await;
    harness
        .sim
        .set_clock(harness.sim.now() + Days::seconds(7200 - 200));
    harness
        .client
        .attendance_results(&users, harness.from(), harness.from())
        .await;
    assert_eq!(harness.calls_to("/v1.0/oauth2/accessToken"), 2);
    assert!(
        harness
            .recorder
            .calls()
            .iter()
            .all(|call| call.outcome == CallOutcome::Ok)
    );
}

#[tokio::test]
async fn transient_faults_are_retried_and_each_attempt_is_recorded() {
    let cases = [
        (FaultKind::Throttle, CallOutcome::Throttled),
        (
            FaultKind::ServerError { status: 503 },
            CallOutcome::ServerError(503),
        ),
        (FaultKind::Malformed, CallOutcome::Malformed),
        (FaultKind::Slow { delay_ms: 2_500 }, CallOutcome::Timeout),
    ];
    for (fault, outcome) in cases {
        let harness = Harness::start_with(small_world(5), |config| {
            config.request_timeout = Duration::from_millis(1_500)
        })
        .await;
        let mut rule = FaultRule::new(Some(RESULTS), fault.clone());
        rule.times = 2;
        harness.sim.arm_faults(vec![rule]);
        let users = harness.users(5);
        let pull = harness
            .client
            .attendance_results(&users, harness.from(), harness.from())
            .await;
        assert!(pull.errors.is_empty(), "{fault:?}: {:?}", pull.errors);
        assert!(!pull.slots.is_empty());
        let outcomes: Vec<CallOutcome> = harness
            .recorder
            .calls()
            .into_iter()
            .filter(|call| call.endpoint == RESULTS)
            .map(|call| call.outcome)
            .collect();
        assert_eq!(
            outcomes,
            vec![outcome.clone(), outcome, CallOutcome::Ok],
            "{fault:?}"
        );
        if fault == (FaultKind::Slow { delay_ms: 2_500 }) {
            // The simulator accounts a slow answer when it finishes serving it, after the client
            // has given up on it.
            tokio::time::sleep(Duration::from_millis(2_600)).await;
        }
        harness.assert_metered_counts_agree();
    }
}

#[tokio::test]
async fn a_persistent_fault_gives_up_after_max_attempts_with_the_last_error() {
    let harness = Harness::start(small_world(5)).await;
    let mut rule = FaultRule::new(Some(RESULTS), FaultKind::ServerError { status: 502 });
    rule.times = 10;
    harness.sim.arm_faults(vec![rule]);
    let users = harness.users(5);
    let pull = harness
        .client
        .attendance_results(&users, harness.from(), harness.from())
        .await;
    assert_eq!(pull.errors.len(), 1);
    assert!(
        matches!(pull.errors[0].error, Error::Server { status: 502, .. }),
        "{:?}",
        pull.errors[0].error
    );
    assert!(pull.complete_user_days.is_empty());
    assert_eq!(harness.calls_to(RESULTS), 4, "max_attempts is 4");
    harness.assert_metered_counts_agree();
}

#[tokio::test]
async fn an_ip_ban_gives_up_by_default_and_is_waited_out_when_configured() {
    for kind in [FaultKind::IpBanHtml, FaultKind::IpBanJson] {
        let harness = Harness::start(small_world(5)).await;
        harness
            .sim
            .arm_faults(vec![FaultRule::new(Some(RESULTS), kind.clone())]);
        let users = harness.users(5);
        let pull = harness
            .client
            .attendance_results(&users, harness.from(), harness.from())
            .await;
        assert_eq!(pull.errors.len(), 1, "{kind:?}");
        assert_eq!(pull.errors[0].error.kind(), ErrorKind::IpBanned);
        assert_eq!(harness.calls_to(RESULTS), 1, "no retry into a ban");
        harness.assert_metered_counts_agree();
    }
    // A JSON ban says five minutes; a policy allowing that much would wait, one allowing less
    // gives up at once.
    let harness = Harness::start_with(small_world(5), |config| {
        config.ip_ban = IpBanPolicy::Wait {
            max: Duration::from_secs(60),
        };
    })
    .await;
    harness
        .sim
        .arm_faults(vec![FaultRule::new(Some(RESULTS), FaultKind::IpBanJson)]);
    let users = harness.users(5);
    let pull = harness
        .client
        .attendance_results(&users, harness.from(), harness.from())
        .await;
    assert_eq!(pull.errors[0].error.kind(), ErrorKind::IpBanned);
}

#[tokio::test]
async fn invalidated_tokens_are_refreshed_and_the_call_retried_once() {
    let harness = Harness::start(small_world(5)).await;
    let users = harness.users(5);
    harness
        .client
        .attendance_results(&users, harness.from(), harness.from())
        .await;
    harness.sim.arm_faults(vec![FaultRule::new(
        Some(INSTANCE_IDS),
        FaultKind::InvalidateTokens,
    )]);
    let now = harness.sim.now();
    let ids = harness
        .client
        .approval_ids(&harness.supply_query(now - Days::days(30), now))
        .await
        .unwrap();
    assert_eq!(ids, harness.expected_ids(now - Days::days(30), now));
    assert_eq!(harness.calls_to("/v1.0/oauth2/accessToken"), 2);
    let invalid = CallOutcome::Error("InvalidAuthentication".into());
    assert_eq!(
        harness
            .recorder
            .calls()
            .iter()
            .filter(|call| call.outcome == invalid)
            .count(),
        1
    );
    harness.assert_metered_counts_agree();
}

#[tokio::test]
async fn quota_exhaustion_stops_every_further_metered_call() {
    let mut config = small_world(120);
    config.monthly_quota = Some(6);
    let harness = Harness::start_with(config, |config| config.max_concurrency = 1).await;
    let users = harness.users(120);
    let pull = harness
        .client
        .attendance_results(&users, harness.from(), harness.from() + Days::days(20))
        .await;
    assert!(harness.client.quota_exhausted());
    assert!(
        pull.errors
            .iter()
            .any(|e| e.error.kind() == ErrorKind::QuotaExhausted)
    );
    assert_eq!(harness.sim.stats().metered, 6);
    let calls_before = harness.sim.stats().calls.values().sum::<u64>();

    let now = harness.sim.now();
    let err = harness
        .client
        .approval_ids(&harness.supply_query(now - Days::days(5), now))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExhausted);
    let err = harness.client.approval_detail("any").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExhausted);
    assert_eq!(
        harness.sim.stats().calls.values().sum::<u64>(),
        calls_before,
        "no call was made"
    );
    let scope = harness
        .client
        .users_in_scope(&Scope::Departments(vec![1]))
        .await;
    assert!(scope.is_ok(), "free contacts calls still work");
    harness.assert_metered_counts_agree();
}

#[tokio::test]
async fn the_metered_cap_is_never_exceeded_even_with_concurrent_batches() {
    let harness = Harness::start(small_world(200)).await;
    harness.client.set_metered_cap(Some(7));
    let users = harness.users(200);
    let pull = harness
        .client
        .attendance_results(&users, harness.from(), harness.from() + Days::days(30))
        .await;
    assert_eq!(harness.client.metered_calls(), 7);
    assert_eq!(harness.sim.stats().metered, 7);
    assert!(
        pull.errors
            .iter()
            .any(|e| e.error.kind() == ErrorKind::BudgetExhausted)
    );
    assert!(!harness.client.quota_exhausted());
}

#[tokio::test]
async fn the_metered_count_equals_the_simulators_after_a_mixed_run_with_faults() {
    // Arrange: faults of every class spread over every endpoint.
    let harness = Harness::start_with(small_world(150), |config| {
        config.request_timeout = Duration::from_millis(1_500)
    })
    .await;
    let rule = |path: Option<&str>, kind: FaultKind, skip: u32, times: u32| {
        let mut rule = FaultRule::new(path, kind);
        rule.skip = skip;
        rule.times = times;
        rule
    };
    harness.sim.arm_faults(vec![
        rule(Some(RESULTS), FaultKind::Throttle, 2, 3),
        rule(Some(RESULTS), FaultKind::ServerError { status: 502 }, 5, 2),
        rule(Some(RESULTS), FaultKind::Malformed, 9, 2),
        rule(Some(RESULTS), FaultKind::Slow { delay_ms: 2_500 }, 14, 1),
        rule(Some(RESULTS), FaultKind::InvalidateTokens, 20, 1),
        rule(Some(PUNCHES), FaultKind::IpBanJson, 1, 1),
        rule(Some(INSTANCE_IDS), FaultKind::Throttle, 1, 2),
        rule(Some(INSTANCE), FaultKind::Malformed, 3, 2),
        rule(Some(INSTANCE), FaultKind::ServerError { status: 503 }, 6, 1),
        rule(Some("/topapi/user/listid"), FaultKind::Throttle, 0, 2),
    ]);

    // Act: a run's worth of calls.
    let users = harness
        .client
        .users_in_scope(&Scope::Departments(vec![1]))
        .await
        .unwrap();
    let (from, to) = (harness.from(), harness.from() + Days::days(30));
    let (results, punches) = tokio::join!(
        harness.client.attendance_results(&users, from, to),
        harness
            .client
            .raw_punches(&users, from, from + Days::days(6)),
    );
    let now = harness.sim.now();
    let ids = harness
        .client
        .approval_ids(&harness.supply_query(now - Days::days(60), now))
        .await
        .unwrap();
    let details = harness
        .client
        .approval_details(&ids[..ids.len().min(30)])
        .await;
    // Let the slow answer that the client gave up on finish being accounted by the simulator.
    tokio::time::sleep(Duration::from_millis(2_600)).await;

    // Assert.
    assert!(results.errors.is_empty(), "{:?}", results.errors);
    assert_eq!(punches.errors.len(), 1, "the banned batch");
    assert!(details.iter().all(|(_, detail)| detail.is_ok()));
    harness.assert_metered_counts_agree();
    assert!(
        harness.sim.state().armed_faults().is_empty(),
        "every armed fault fired"
    );
}

/// A `MakeWriter` capturing formatted log lines in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn trace_logs_of_a_long_pull_carry_neither_the_secret_nor_any_token() {
    // Arrange: TRACE for everything, captured for this (current-thread) test only.
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let harness = Harness::start(small_world(80)).await;
    harness.sim.arm_faults(vec![FaultRule::new(
        Some(RESULTS),
        FaultKind::InvalidateTokens,
    )]);

    // Act: results, punches, approvals, with a token refresh in the middle.
    let users = harness.users(80);
    let (from, to) = (harness.from(), harness.from() + Days::days(13));
    let pull = harness.client.attendance_results(&users, from, to).await;
    harness.client.raw_punches(&users, from, to).await;
    let now = harness.sim.now();
    let ids = harness
        .client
        .approval_ids(&harness.supply_query(now - Days::days(30), now))
        .await
        .unwrap();
    harness
        .client
        .approval_details(&ids[..ids.len().min(5)])
        .await;
    let debug = format!("{:?}", harness.client);

    // Assert: the current token, as DingTalk would hand it out again, appears nowhere.
    let token = current_token(&harness).await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(pull.errors.is_empty());
    assert!(
        logs.contains("dingtalk_call") && logs.contains("result row"),
        "TRACE output captured"
    );
    for secret in [harness.sim.app_secret(), token.as_str()] {
        assert!(!logs.contains(secret), "a secret reached the logs");
        assert!(!debug.contains(secret), "a secret reached Debug output");
    }
    assert!(
        !logs.contains("access_token="),
        "a URL with a token reached the logs"
    );
}

/// The token DingTalk currently hands out (asking again while valid returns the same one).
async fn current_token(harness: &Harness) -> String {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1.0/oauth2/accessToken", harness.sim.base_url()))
        .json(&serde_json::json!({"appKey": harness.sim.app_key(), "appSecret": harness.sim.app_secret()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["accessToken"].as_str().unwrap().to_owned()
}

/// Measures calls per second on a large pull against the simulator's QPS cap. Runs only with
/// `DINGTALK_THROUGHPUT=1` (it takes tens of seconds of real time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_pull_keeps_the_api_near_its_qps_cap() {
    if std::env::var("DINGTALK_THROUGHPUT").is_err() {
        return;
    }
    let qps_per_api: u32 = std::env::var("DINGTALK_QPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18);
    let harness =
        Harness::start_with(small_world(600), |config| config.qps_per_api = qps_per_api).await;
    let users = harness.users(600);
    let (from, to) = (harness.from(), harness.from() + Days::days(27));
    let now = harness.sim.now();
    let started = std::time::Instant::now();
    let query = harness.supply_query(now - Days::days(60), now);
    let (pull, ids) = tokio::join!(
        harness.client.attendance_results(&users, from, to),
        harness.client.approval_ids(&query),
    );
    let elapsed = started.elapsed().as_secs_f64();
    let stats = harness.sim.stats();
    let results_calls = stats.calls.get(RESULTS).copied().unwrap_or(0) as f64;
    let cap = f64::from(harness.sim.world().config.qps);
    println!(
        "results: {results_calls} calls in {elapsed:.2} s = {:.2} calls/s = {:.3} of the {cap} QPS cap (client qps_per_api {qps_per_api}); throttled {}; approval ids {}",
        results_calls / elapsed,
        results_calls / elapsed / cap,
        stats.throttled,
        ids.map(|ids| ids.len()).unwrap_or(0),
    );
    assert!(pull.errors.is_empty(), "{:?}", pull.errors);
    assert_eq!(stats.throttled, 0, "the client stays under the cap");
}
