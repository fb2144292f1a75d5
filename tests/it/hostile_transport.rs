//! Integration tests of the transport against a hostile DingTalk, or hostile things in front of it
//! (issue 10), with the simulator's hostile faults over real HTTP on 127.0.0.1: a redirect to
//! another host on either token endpoint and either API family, HTTP 429 with a JSON body, an
//! HTML page that is not the ban page, an IP ban in the middle of a run, tokens reset again and
//! again, and a call ledger that cannot write a call down before it is sent.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dingtalk_reconcile::dingtalk::{
    CallRecorder, CallTicket, Client, ClientConfig, Error, ErrorKind, MemoryRecorder,
    ProcessInstanceIdsQuery, RecordError, Scope, TokenSource,
};
use dingtalk_reconcile::domain::{CallOutcome, CallRecord, Clock, Policy, PolicyAction, UserId};
use dingtalk_reconcile::reconcile::{
    RunError, RunKind, RunOutcome, RunRequest, RunSettings, RunSummary, StoreRecorder, run_once,
};
use dingtalk_reconcile::store::Store;
use dingtalk_sim::{FaultKind, FaultRule, SimConfig, SimHandle};

use crate::support::bin::{Rig, assert_code, run_binary};
use crate::support::truth::{assert_journal_is_the_truth, journaled, truth};
use crate::support::{
    SHANGHAI, SimClock, client_config, current_token, date, fast_sim_config, night, open_store,
    start_sim,
};

const RESULTS: &str = "/attendance/list";
const PUNCHES: &str = "/attendance/listRecord";
const INSTANCE: &str = "/v1.0/workflow/processInstances";
const INSTANCE_IDS: &str = "/v1.0/workflow/processes/instanceIds/query";
const TOKEN_API: &str = "/v1.0/oauth2/accessToken";
const TOKEN_OAPI: &str = "/gettoken";

/// A simulator and a client on its clock, recording into `recorder`.
struct Harness<R> {
    sim: SimHandle,
    client: Client,
    recorder: Arc<R>,
}

impl Harness<MemoryRecorder> {
    async fn start(tweak: impl FnOnce(&mut ClientConfig)) -> Harness<MemoryRecorder> {
        Harness::with_recorder(Arc::new(MemoryRecorder::default()), tweak).await
    }
}

impl<R: CallRecorder + 'static> Harness<R> {
    async fn with_recorder(recorder: Arc<R>, tweak: impl FnOnce(&mut ClientConfig)) -> Harness<R> {
        let sim = start_sim(SimConfig::new(7, 120)).await;
        let mut config = client_config(&sim);
        config.throttle_retry_delay = Duration::from_millis(20);
        config.retry_base_delay = Duration::from_millis(10);
        config.request_timeout = Duration::from_secs(5);
        tweak(&mut config);
        let clock: Arc<dyn Clock> = Arc::new(SimClock(sim.state()));
        let as_recorder: Arc<dyn CallRecorder> = recorder.clone();
        let client = Client::new(config, clock, as_recorder).expect("client builds");
        Harness {
            sim,
            client,
            recorder,
        }
    }

    fn users(&self, count: usize) -> Vec<UserId> {
        crate::support::first_users(&self.sim, count)
    }

    fn calls_to(&self, path: &str) -> u64 {
        self.sim.stats().calls.get(path).copied().unwrap_or(0)
    }

    /// One user's results for one day: `Err` with the failed batch's error.
    async fn one_results_call(&self) -> Result<(), Error> {
        let from = self.sim.world().config.from;
        let pull = self
            .client
            .attendance_results(&self.users(1), from, from)
            .await;
        match pull.errors.into_iter().next() {
            Some(failed) => Err(failed.error),
            None => Ok(()),
        }
    }

    /// The supply approvals listed over the last 30 days.
    async fn one_listing(&self) -> Result<Vec<String>, Error> {
        let now = self.sim.now();
        let query = ProcessInstanceIdsQuery {
            process_code: self.sim.supply_process_codes()[0].clone(),
            created_from: now - chrono::Duration::days(30),
            created_to: now,
            statuses: Vec::new(),
            user_ids: Vec::new(),
        };
        self.client.process_instance_ids(&query).await
    }

    /// The call behind `path`: results for the oapi family and both token endpoints (a pull
    /// fetches a token first), the approval listing for the api family.
    async fn call_behind(&self, path: &str) -> Result<(), Error> {
        match path {
            INSTANCE_IDS => self.one_listing().await.map(|_| ()),
            _ => self.one_results_call().await,
        }
    }

    /// The client's metered count is the simulator's.
    #[track_caller]
    fn assert_metered_counts_agree(&self) {
        assert_eq!(
            self.client.metered_calls(),
            self.sim.stats().metered,
            "client vs simulator metered count"
        );
    }
}

impl Harness<MemoryRecorder> {
    fn outcomes(&self, path: &str) -> Vec<CallOutcome> {
        self.recorder
            .calls()
            .into_iter()
            .filter(|call| call.endpoint == path)
            .map(|call| call.outcome)
            .collect()
    }
}

/// Another host on 127.0.0.1, as a redirect's target: it keeps every request it receives
/// (method, URI, headers and body, as text) and answers `{}`.
struct OtherHost {
    base_url: String,
    received: Arc<Mutex<Vec<String>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl OtherHost {
    async fn start() -> OtherHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let kept = kept.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                kept.lock().unwrap().push(format!(
                    "{} {} {:?} {}",
                    parts.method,
                    parts.uri,
                    parts.headers,
                    String::from_utf8_lossy(&body)
                ));
                axum::Json(serde_json::json!({}))
            }
        });
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the other host serves");
        });
        OtherHost {
            base_url,
            received,
            _server: server,
        }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_redirect_to_another_host_is_never_followed_on_either_token_endpoint_or_api_family() {
    let other = OtherHost::start().await;
    // A Location with a path and a query: the error may name its origin, nothing more.
    let location = format!("{}/collect?from=redirect", other.base_url);
    let cases = [
        (TOKEN_API, 307, TokenSource::V1OAuth2),
        (TOKEN_OAPI, 302, TokenSource::LegacyGettoken),
        (RESULTS, 307, TokenSource::V1OAuth2),
        (INSTANCE_IDS, 302, TokenSource::LegacyGettoken),
        (INSTANCE_IDS, 307, TokenSource::V1OAuth2),
    ];
    for (path, status, source) in cases {
        // Arrange
        let harness = Harness::start(|config| config.token_source = source).await;
        harness.sim.arm_faults(vec![FaultRule::new(
            Some(path),
            FaultKind::Redirect {
                status,
                location: location.clone(),
            },
        )]);

        // Act
        let error = harness
            .call_behind(path)
            .await
            .expect_err("the redirected call fails");

        // Assert: the other host saw nothing, not even a request without secrets.
        assert_eq!(other.received(), Vec::<String>::new(), "{path} {status}");
        assert!(
            matches!(&error, Error::Redirected { status: got, location: origin, .. }
                if *got == status && *origin == other.base_url),
            "{path}: {error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Fatal, "{path}");
        assert_eq!(
            harness.calls_to(path),
            1,
            "{path}: a redirect is not retried"
        );
        let message = error.to_string();
        let token = current_token(&harness.sim).await;
        for leak in ["collect", "from=redirect", harness.sim.app_secret(), &token] {
            assert!(!message.contains(leak), "{path}: {message}");
        }
        assert!(
            message.contains(&format!("HTTP {status}"))
                && message.contains("DingTalk does not redirect API calls"),
            "{message}"
        );
        assert_eq!(
            harness.outcomes(path),
            vec![CallOutcome::Redirected(status)],
            "{path}"
        );
        harness.assert_metered_counts_agree();
    }
}

#[tokio::test]
async fn http_429_with_a_json_code_is_throttling_retried_and_never_metered() {
    for path in [RESULTS, INSTANCE_IDS] {
        // Arrange: a gateway throttles the first two attempts with its own JSON.
        let harness = Harness::start(|_| {}).await;
        let mut rule = FaultRule::new(Some(path), FaultKind::Throttle429Json);
        rule.times = 2;
        harness.sim.arm_faults(vec![rule]);

        // Act
        let result = harness.call_behind(path).await;

        // Assert
        assert!(result.is_ok(), "{path}: {result:?}");
        let outcomes = harness.outcomes(path);
        assert_eq!(
            outcomes[..3],
            [
                CallOutcome::Throttled,
                CallOutcome::Throttled,
                CallOutcome::Ok
            ],
            "{path}"
        );
        assert!(
            outcomes[3..]
                .iter()
                .all(|outcome| *outcome == CallOutcome::Ok),
            "{path}: later pages {outcomes:?}"
        );
        assert_eq!(harness.sim.stats().throttled, 2, "{path}");
        harness.assert_metered_counts_agree();
    }
}

#[tokio::test]
async fn an_html_page_that_is_not_the_ban_page_is_retried_then_fails_the_item_never_as_a_ban() {
    let harness = Harness::start(|_| {}).await;

    // A captive portal answering twice, then DingTalk again: retried, the item completes.
    let mut twice = FaultRule::new(Some(RESULTS), FaultKind::HtmlPage);
    twice.times = 2;
    harness.sim.arm_faults(vec![twice]);
    let result = harness.one_results_call().await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        harness.outcomes(RESULTS),
        vec![
            CallOutcome::HtmlPage,
            CallOutcome::HtmlPage,
            CallOutcome::Ok
        ]
    );

    // A portal that stays: the item fails after the bounded attempts, with the page's title.
    let mut stays = FaultRule::new(Some(RESULTS), FaultKind::HtmlPage);
    stays.times = 1_000;
    harness.sim.arm_faults(vec![stays]);
    let error = harness
        .one_results_call()
        .await
        .expect_err("the portal never lets the call through");
    assert_ne!(error.kind(), ErrorKind::IpBanned, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("expected JSON from DingTalk, got an HTML page")
            && message.contains("Guest Wi-Fi"),
        "{message}"
    );
    assert_eq!(
        harness.calls_to(RESULTS),
        3 + 4,
        "four attempts, then the item fails"
    );

    // Nothing was latched: once the portal is gone, calls go through.
    harness.sim.arm_faults(Vec::new());
    assert!(harness.one_results_call().await.is_ok());
    assert!(
        !harness
            .recorder
            .calls()
            .iter()
            .any(|call| call.outcome == CallOutcome::IpBanned)
    );
    harness.assert_metered_counts_agree();
}

/// The run settings of the engine's tests: every night up to date, a budget that never binds.
fn run_settings(sim: &SimHandle) -> RunSettings {
    let policy = Policy {
        admin_edit: PolicyAction::Apply,
        unexplained: PolicyAction::Report,
        vanished: PolicyAction::Report,
        pending_anomaly_days: 3,
    };
    let mut settings = RunSettings::new(SHANGHAI, Scope::Departments(vec![1]), policy);
    settings.admin_user_id = Some(UserId::new(sim.admin_user_id()).unwrap());
    settings.monthly_budget = 1_000_000;
    settings
}

/// A backfill of October as of 2026-11-12 into `store`, through a client on the simulator's
/// clock recording into the store, making at most `concurrency` calls at a time (its default
/// when `None`).
async fn backfill_october(
    sim: &SimHandle,
    store: &mut Store,
    concurrency: Option<usize>,
) -> Result<RunSummary, RunError> {
    let recorder = Arc::new(StoreRecorder::new(store.call_log().unwrap(), SHANGHAI));
    let mut config = client_config(sim);
    if let Some(concurrency) = concurrency {
        config.max_concurrency = concurrency;
    }
    config.qps_per_api = 5_000;
    let clock: Arc<dyn Clock> = Arc::new(SimClock(sim.state()));
    let as_recorder: Arc<dyn CallRecorder> = recorder.clone();
    let client = Client::new(config, clock, as_recorder).unwrap();
    let as_of = night(date("2026-11-12"));
    sim.set_clock(as_of);
    let request = RunRequest {
        kind: RunKind::Backfill {
            from: date("2026-10-01"),
            to: date("2026-10-31"),
            users: None,
        },
        as_of,
        max_calls: None,
        dry_run: false,
        trigger: "test".into(),
    };
    run_once(
        store,
        &client,
        Some(&recorder),
        &run_settings(sim),
        &request,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_ip_ban_the_run_makes_no_further_call_to_dingtalk() {
    // Arrange: one call at a time, so "after the ban" is well defined; the ban lands once the
    // token, the directory refresh (per department: its children, its people on one page of
    // 60, its name) and the scope's walk (children, user ids) are through and a few metered
    // calls are made, and then lasts (every later call would be banned too).
    let sim = start_sim(fast_sim_config(21, 60)).await;
    let departments = sim.world().departments.len() as u32;
    let skip = 1 + 3 * departments + 2 * departments + 3;
    let mut ban = FaultRule::new(None, FaultKind::IpBanJson);
    ban.skip = skip;
    ban.times = 100_000;
    sim.arm_faults(vec![ban]);
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_store(&dir.path().join("reconcile.db"));

    // Act
    let summary = backfill_october(&sim, &mut store, Some(1))
        .await
        .expect("the run is carried out, banned items and all");

    // Assert: the banned call was the last one the simulator saw.
    let served: u64 = sim.stats().calls.values().sum();
    assert_eq!(
        served,
        u64::from(skip) + 1,
        "calls after the ban reached DingTalk"
    );
    assert!(summary.metered_calls >= 1, "the ban landed in the fetch");
    assert_ne!(summary.outcome, RunOutcome::Done);
    assert!(
        summary.errors.iter().any(|error| error.contains("banned")),
        "{:?}",
        summary.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_writing_the_call_ledger_never_under_counts_the_month() {
    // Arrange: the store's call ledger takes 5 metered calls, then refuses every new row (as a
    // full disk would), through a trigger added beside the job's own connections.
    let sim = start_sim(fast_sim_config(22, 60)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reconcile.db");
    let mut store = open_store(&path);
    let full = rusqlite::Connection::open(&path).unwrap();
    full.execute_batch(
        "CREATE TRIGGER disk_full BEFORE INSERT ON calls
         WHEN (SELECT count(*) FROM calls WHERE metered_endpoint = 1) >= 5
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();

    // Act
    let run = backfill_october(&sim, &mut store, None).await;

    // Assert: every call DingTalk metered is in the month's count.
    drop(full);
    let metered_by_dingtalk = sim.stats().metered;
    assert!(metered_by_dingtalk >= 1, "the run made metered calls");
    assert_eq!(
        store.month_usage("2026-11").unwrap().metered,
        metered_by_dingtalk,
        "the store's month vs DingTalk's"
    );
    let summary = run.expect("the run is carried out, unsent items and all");
    assert_eq!(summary.outcome, RunOutcome::Partial);
    let errors = summary.errors.join("\n");
    assert!(
        errors.contains("not sent") && errors.contains(&path.display().to_string()),
        "{errors}"
    );
}

#[tokio::test]
async fn a_call_whose_token_is_reset_twice_in_a_row_still_succeeds() {
    // Arrange: the first two attempts each meet a token reset (with never-used tokens).
    let harness = Harness::start(|config| config.max_concurrency = 1).await;
    let mut reset = FaultRule::new(Some(RESULTS), FaultKind::InvalidateTokens);
    reset.times = 2;
    harness.sim.arm_faults(vec![reset]);

    // Act
    let result = harness.one_results_call().await;

    // Assert
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(harness.calls_to(RESULTS), 3);
    assert_eq!(harness.calls_to(TOKEN_API), 3, "a fresh token per attempt");
    harness.assert_metered_counts_agree();
}

#[tokio::test]
async fn three_fresh_tokens_rejected_in_a_row_give_up_naming_the_clock_and_the_secret() {
    let harness = Harness::start(|config| config.max_concurrency = 1).await;
    let mut reset = FaultRule::new(Some(RESULTS), FaultKind::InvalidateTokens);
    reset.times = 3;
    harness.sim.arm_faults(vec![reset]);

    let error = harness
        .one_results_call()
        .await
        .expect_err("no token ever worked");

    assert_eq!(error.kind(), ErrorKind::Token, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("clock") && message.contains("secret"),
        "{message}"
    );
    assert_eq!(harness.calls_to(RESULTS), 3, "three attempts, three tokens");
    harness.assert_metered_counts_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_through_token_churn_completes_with_every_true_correction() {
    // Arrange: the token is reset on every fourth call to each metered path, the whole
    // backfill long, and on the results path on two calls in a row out of every four: results
    // pages of one batch go one after the other, so some page meets a reset on its first
    // attempt and again on its retry with a fresh token.
    let rig = Rig::new(41).await;
    let reset_every_fourth = |path: &str, skip: u32| {
        let mut reset = FaultRule::new(Some(path), FaultKind::InvalidateTokens);
        reset.skip = skip;
        reset.every = 4;
        reset.times = 100_000;
        reset
    };
    let churn = vec![
        reset_every_fourth(RESULTS, 1),
        reset_every_fourth(RESULTS, 2),
        reset_every_fourth(PUNCHES, 1),
        reset_every_fourth(INSTANCE_IDS, 1),
        reset_every_fourth(INSTANCE, 1),
    ];
    rig.sim.arm_faults(churn);

    // Act
    let output = run_binary(
        rig.args(&[
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-09",
            "--yes",
        ]),
        rig.env.clone(),
    )
    .await;

    // Assert: done, every true correction journaled, the metered count the simulator's.
    assert_code(&output, 0);
    let stats = rig.sim.stats();
    assert!(
        stats.calls.get(TOKEN_API).copied().unwrap_or(0) >= 5,
        "the tokens were reset and fetched again: {:?}",
        stats.calls
    );
    let store = rig.store();
    let truth = truth(&rig.sim, rig.as_of).await;
    assert!(!truth.is_empty());
    assert_journal_is_the_truth(&journaled(&store), &truth);
    let month = rig
        .as_of
        .with_timezone(&SHANGHAI)
        .format("%Y-%m")
        .to_string();
    assert_eq!(store.month_usage(&month).unwrap().metered, stats.metered);
}

/// A call ledger with room for `room` more metered calls, then full (as a full disk leaves the
/// store): it refuses every reservation after that.
struct FullAfter {
    room: AtomicI64,
    kept: MemoryRecorder,
}

impl CallRecorder for FullAfter {
    fn record(&self, call: &CallRecord) {
        self.kept.record(call);
    }

    fn reserve(&self, call: &CallRecord) -> Result<CallTicket, RecordError> {
        if self.room.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err("store /data/reconcile.db: database or disk is full".into());
        }
        self.kept.reserve(call)
    }

    fn settle(&self, ticket: CallTicket, call: &CallRecord) {
        self.kept.settle(ticket, call);
    }
}

#[tokio::test]
async fn a_metered_call_that_cannot_be_written_down_first_is_never_sent() {
    // Arrange: room for 5 metered calls in the ledger; a pull needing many more.
    let recorder = Arc::new(FullAfter {
        room: AtomicI64::new(5),
        kept: MemoryRecorder::default(),
    });
    let harness = Harness::with_recorder(recorder, |_| {}).await;
    let users = harness.users(120);
    let from = harness.sim.world().config.from;

    // Act
    let pull = harness
        .client
        .attendance_results(&users, from, from + chrono::Duration::days(20))
        .await;

    // Assert: DingTalk metered exactly the calls the ledger holds; the rest were not sent.
    assert_eq!(harness.sim.stats().metered, 5);
    assert_eq!(harness.recorder.kept.metered(), 5);
    assert_eq!(harness.client.metered_calls(), 5);
    assert!(!pull.errors.is_empty());
    for failed in &pull.errors {
        assert_eq!(failed.error.kind(), ErrorKind::Fatal, "{}", failed.error);
        let message = failed.error.to_string();
        assert!(
            message.contains("not sent") && message.contains("/data/reconcile.db"),
            "{message}"
        );
    }
    assert!(
        harness
            .recorder
            .kept
            .calls()
            .iter()
            .all(|call| call.outcome != CallOutcome::Reserved),
        "every call sent was settled"
    );
}

/// A server that hands out a token and hangs up on every other request once it has read it:
/// the request reached the other side, the answer never came back.
async fn hang_up_after_the_request() -> url::Url {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                if head.contains("/oauth2/accessToken") || head.contains("/gettoken") {
                    let body = r#"{"accessToken":"hang-up-token","expireIn":7200,"errcode":0,"access_token":"hang-up-token","expires_in":7200}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                }
                // Anything else: dropped here, after it was read, without an answer.
            });
        }
    });
    format!("http://{address}").parse().unwrap()
}

#[tokio::test]
async fn a_connection_that_breaks_after_the_request_was_sent_is_counted_as_metered() {
    // Arrange: DingTalk's place taken by a server that reads each request and hangs up.
    let base = hang_up_after_the_request().await;
    let mut config = ClientConfig::new(
        base.clone(),
        base,
        "key",
        secrecy::SecretString::from("secret".to_owned()),
    );
    config.retry_base_delay = Duration::from_millis(10);
    let recorder = Arc::new(MemoryRecorder::default());
    let as_recorder: Arc<dyn CallRecorder> = recorder.clone();
    let clock: Arc<dyn Clock> = Arc::new(dingtalk_reconcile::domain::FixedClock(
        "2026-10-02T02:10:00+08:00".parse().unwrap(),
    ));
    let client = Client::new(config, clock, as_recorder).expect("client builds");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();

    // Act
    let pull = client
        .attendance_results(&[UserId::new("0126").unwrap()], day, day)
        .await;

    // Assert: every attempt may have been served, so every one counts (the safe side).
    assert!(!pull.errors.is_empty(), "the batch failed");
    let attempts: Vec<CallRecord> = recorder
        .calls()
        .into_iter()
        .filter(|call| call.endpoint == "/attendance/list")
        .collect();
    assert!(!attempts.is_empty());
    assert!(
        attempts
            .iter()
            .all(|call| call.outcome == CallOutcome::Interrupted),
        "{attempts:?}"
    );
    assert_eq!(recorder.metered(), attempts.len() as u64);
    assert_eq!(client.metered_calls(), attempts.len() as u64);
}
