//! Integration tests of the client under DingTalk's bad days: credentials, token expiry, each
//! fault class, quota exhaustion, the metered cap, the metered count matching the simulator's,
//! secrets staying out of TRACE logs, and the throughput measurement.

use std::io::Write;
use std::sync::Mutex;

use secrecy::SecretString;

use super::*;

/// The client's timeout in the tests with a slow answer: far above what a normal answer takes
/// on a loaded machine (a call that timed out before the simulator saw it would be counted by the
/// client alone; 4 s timed out while a 4,000-employee benchmark shared the 2 cores), and 3 s
/// short of the slow fault's delay, so the slow answer always times out.
const TIMEOUT: Duration = Duration::from_millis(8_000);
/// How long a slow answer takes.
const SLOW_MS: u64 = 11_000;

/// Waits until the simulator has metered as many calls as the client counted, or until a slow
/// answer's delay has surely passed: a slow answer the client gave up on is still served, and
/// metered if its token is still valid, by the simulator once its delay is over.
async fn metered_by_the_simulator_too(harness: &Harness) {
    let deadline =
        std::time::Instant::now() + Duration::from_millis(SLOW_MS) + Duration::from_secs(3);
    while harness.sim.stats().metered < harness.client.metered_calls()
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    let sim = start_sim(small_world(150)).await;
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
        (FaultKind::Slow { delay_ms: SLOW_MS }, CallOutcome::Timeout),
    ];
    for (fault, outcome) in cases {
        let harness =
            Harness::start_with(small_world(5), |config| config.request_timeout = TIMEOUT).await;
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
        metered_by_the_simulator_too(&harness).await;
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
    assert_eq!(
        harness.calls_to(RESULTS),
        4,
        "four attempts per call (MAX_ATTEMPTS)"
    );
    harness.assert_metered_counts_agree();
}

#[tokio::test]
async fn an_ip_ban_gives_up_by_default_and_when_the_ban_outlasts_the_policy() {
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
    // A JSON ban says five minutes; a policy allowing less gives up at once (waiting within the
    // policy is covered by the transport's unit tests).
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
        .process_instance_ids(&harness.supply_query(now - Days::days(30), now))
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
        .process_instance_ids(&harness.supply_query(now - Days::days(5), now))
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
    let harness =
        Harness::start_with(small_world(150), |config| config.request_timeout = TIMEOUT).await;
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
        rule(Some(RESULTS), FaultKind::Slow { delay_ms: SLOW_MS }, 14, 1),
        rule(Some(RESULTS), FaultKind::InvalidateTokens, 20, 1),
        // Not an IP ban: a ban now stops every later call of the client (hostile_transport.rs).
        rule(Some(PUNCHES), FaultKind::HtmlPage, 1, 1),
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
        .process_instance_ids(&harness.supply_query(now - Days::days(60), now))
        .await
        .unwrap();
    let details = harness
        .client
        .approval_details(&ids[..ids.len().min(30)])
        .await;
    metered_by_the_simulator_too(&harness).await;

    // Assert.
    assert!(results.errors.is_empty(), "{:?}", results.errors);
    assert!(punches.errors.is_empty(), "{:?}", punches.errors);
    assert!(details.iter().all(|(_, detail)| detail.is_ok()));
    let timeouts = harness
        .recorder
        .calls()
        .iter()
        .filter(|call| call.outcome == CallOutcome::Timeout)
        .count() as u64;
    assert!(timeouts >= 1, "the slow answer timed out");
    // Every answered call is metered alike on both sides. A timed-out call is ambiguous: the
    // client counts it (DingTalk may have served it), while the simulator serves it after its
    // delay and meters it only if its token is still valid then; the token invalidation armed
    // above may land during that delay. So the client may count more than the simulator, by at
    // most the timed-out calls, and never fewer.
    let (client, sim) = (harness.client.metered_calls(), harness.sim.stats().metered);
    assert!(
        sim <= client && client <= sim + timeouts,
        "client {client}, simulator {sim}, {timeouts} timed-out calls"
    );
    assert_eq!(harness.recorder.metered(), client, "recorder vs client");
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

/// Set in the process that runs the TRACE test alone.
const ALONE: &str = "DINGTALK_TEST_TRACE_ALONE";

#[tokio::test]
async fn trace_logs_of_a_long_pull_carry_neither_the_secret_nor_any_token() {
    // tracing caches per call site whether anyone is interested, process-wide: other tests'
    // threads in this binary can leave this test's TRACE events switched off. So the test runs
    // itself again, alone in a process of its own, and passes when that run passes.
    if std::env::var_os(ALONE).is_none() {
        let name =
            "client::faults::trace_logs_of_a_long_pull_carry_neither_the_secret_nor_any_token";
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the test failed when run alone:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    // Arrange: TRACE for everything, captured for this (current-thread) test only.
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests running on other threads may have cached "no interest" for shared callsites
    // before this subscriber existed.
    tracing::callsite::rebuild_interest_cache();
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
        .process_instance_ids(&harness.supply_query(now - Days::days(30), now))
        .await
        .unwrap();
    harness
        .client
        .approval_details(&ids[..ids.len().min(5)])
        .await;
    let debug = format!("{:?}", harness.client);

    // Assert: the current token, as DingTalk would hand it out again, appears nowhere.
    let stats = harness.sim.stats();
    let token = current_token(&harness.sim).await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(pull.errors.is_empty());
    // Per-row TRACE events are not required here: tracing's global callsite interest can be
    // lowered by other tests' subscribers in this binary. Spans and HTTP-level TRACE lines are.
    assert!(
        logs.contains("dingtalk_call") && logs.contains(" TRACE "),
        "TRACE output captured: {} bytes",
        logs.len()
    );
    // The events that carry each request's details were emitted, so "no secret" below is not
    // vacuous: one "call answered" per attempt the simulator served, for every endpoint used,
    // and the token's rejection and refresh in the middle of the pull.
    let answered = |path: &str| {
        logs.lines()
            .filter(|line| line.contains(&format!("call answered endpoint=\"{path}\"")))
            .count() as u64
    };
    for path in [
        RESULTS,
        PUNCHES,
        INSTANCE_IDS,
        INSTANCE,
        "/v1.0/oauth2/accessToken",
    ] {
        let served = stats.calls.get(path).copied().unwrap_or(0);
        assert!(served > 0, "{path} was called");
        assert_eq!(answered(path), served, "{path}: one event per call served");
    }
    assert!(
        logs.contains("access token rejected")
            && logs.contains("access token refreshed generation=2"),
        "the token's rejection and refresh were logged"
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

/// A pull of results and approval ids side by side keeps the results API near the client's own
/// rate without ever being throttled, and comes back complete. Always on 100 users × 14 days
/// (a few seconds); `DINGTALK_THROUGHPUT=1` measures 600 users × 28 days (tens of seconds of
/// real time) and prints the figures; `DINGTALK_QPS=N` sets the client's rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_pull_keeps_the_api_near_its_qps_cap() {
    let measure = std::env::var("DINGTALK_THROUGHPUT").is_ok();
    let (employees, days) = if measure { (600, 28) } else { (100, 14) };
    let qps_per_api: u32 = std::env::var("DINGTALK_QPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18);
    let harness = Harness::start_with(small_world(employees), |config| {
        config.qps_per_api = qps_per_api
    })
    .await;
    let users = harness.users(employees);
    let (from, to) = (harness.from(), harness.from() + Days::days(days - 1));
    let now = harness.sim.now();
    let started = std::time::Instant::now();
    let query = harness.supply_query(now - Days::days(60), now);
    let (pull, ids) = tokio::join!(
        harness.client.attendance_results(&users, from, to),
        harness.client.process_instance_ids(&query),
    );
    let elapsed = started.elapsed().as_secs_f64();
    let stats = harness.sim.stats();
    let results_calls = stats.calls.get(RESULTS).copied().unwrap_or(0) as f64;
    let cap = f64::from(harness.sim.world().config.qps);
    let ids = ids.expect("approval ids");
    if measure {
        println!(
            "results: {results_calls} calls in {elapsed:.2} s = {:.2} calls/s = {:.3} of the {cap} QPS cap (client qps_per_api {qps_per_api}); throttled {}; approval ids {}",
            results_calls / elapsed,
            results_calls / elapsed / cap,
            stats.throttled,
            ids.len(),
        );
    }
    assert!(pull.errors.is_empty(), "{:?}", pull.errors);
    // Complete: every row the world shows for these users and days, from the world itself.
    let now_ms = now.timestamp_millis();
    let world = harness.sim.world();
    let expected_rows: usize = world
        .employees
        .iter()
        .filter(|e| users.iter().any(|u| u.as_str() == e.id))
        .flat_map(|e| e.days.iter().flatten())
        .filter(|d| d.work_date >= from && d.work_date <= to && d.visible(now_ms))
        .map(|d| {
            d.slots
                .iter()
                .filter(|s| s.state_at(now_ms).is_some())
                .count()
        })
        .sum();
    assert!(expected_rows > 0);
    assert_eq!(pull.slots.len(), expected_rows, "every row, once");
    assert!(
        !ids.is_empty(),
        "the approval ids came back beside the results"
    );
    assert!(
        results_calls >= 20.0,
        "enough calls to measure a rate: {results_calls}"
    );
    assert_eq!(stats.throttled, 0, "the client stays under the cap");
    // Loose on purpose (a loaded machine slows timers): the benchmark measures the real figure.
    assert!(
        results_calls / elapsed >= 0.85 * f64::from(qps_per_api),
        "the pull ran well below the client's own rate: {results_calls} calls in {elapsed:.2} s"
    );
}
