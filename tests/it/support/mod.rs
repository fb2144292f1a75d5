//! What the integration tests share: starting a simulator, the config text that points a job at
//! it, a client config for it, opening a store, the simulator's clock, the token it hands out,
//! and the dates the tests speak in; `bin` runs the real binary, `chromium` prints and screenshots HTML, `stop` signals it and proves it stopped, `webhook` receives what a
//! webhook sink sends. Each test file keeps only what is particular to it.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use dingtalk_reconcile::dingtalk::ClientConfig;
use dingtalk_reconcile::domain::Clock;
use dingtalk_reconcile::store::Store;
use dingtalk_sim::{SimConfig, SimHandle, SimState, World, config_snippet};
use secrecy::SecretString;

pub(crate) mod bin;
pub(crate) mod chromium;
pub(crate) mod outcome;
pub(crate) mod pipeline;
pub(crate) mod robot;
pub(crate) mod servers;
/// The SMTP receiver the e-mail sink's unit tests use, shared as one file.
#[path = "../../../src/sink/email/test_smtp.rs"]
pub(crate) mod smtp;
pub(crate) mod stop;
pub(crate) mod truth;
pub(crate) mod webhook;

/// The business time zone of every test.
pub(crate) const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A simulated company of `employees` whose QPS limit never gets in the way.
pub(crate) fn fast_sim_config(seed: u64, employees: usize) -> SimConfig {
    let mut config = SimConfig::new(seed, employees);
    config.qps = 10_000;
    config
}

/// Starts a simulator on 127.0.0.1:0; it serves as soon as this returns.
pub(crate) async fn start_sim(config: SimConfig) -> SimHandle {
    SimHandle::spawn(config).await.expect("simulator starts")
}

/// A job config against a simulator serving `world` at `dingtalk_base`: the simulator's
/// `[dingtalk]` table with a client fast enough for tests (1,000 QPS per API, a 5 s timeout),
/// the whole company in scope, the store at `store`, then the tables in `more`.
pub(crate) fn job_config(dingtalk_base: &str, world: &World, store: &Path, more: &str) -> String {
    format!(
        "timezone = \"Asia/Shanghai\"\n\
         {dingtalk}\
         qps_per_api = 1000\n\
         request_timeout_secs = 5\n\
         [scope]\n\
         departments = [1]\n\
         [store]\n\
         path = {store:?}\n\
         {more}\n",
        dingtalk = config_snippet(dingtalk_base, world),
        store = store.display().to_string(),
    )
}

/// A client config pointing both API families at `sim`, with the credentials it accepts.
pub(crate) fn client_config(sim: &SimHandle) -> ClientConfig {
    let base = url::Url::parse(&sim.base_url()).expect("the simulator's base URL");
    ClientConfig::new(
        base.clone(),
        base,
        sim.app_key(),
        SecretString::from(sim.app_secret().to_owned()),
    )
}

/// Opens (creating if need be) the store at `path`.
pub(crate) fn open_store(path: &Path) -> Store {
    Store::open(path).expect("store opens")
}

/// The simulator's virtual clock, so token expiry and windows agree with it; moving the
/// simulator's clock moves the job's.
#[derive(Debug)]
pub(crate) struct SimClock(pub(crate) Arc<SimState>);

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// The token the simulator currently hands out (asking again while it is valid returns the same
/// one), asked for with plain HTTP.
pub(crate) async fn current_token(sim: &SimHandle) -> String {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1.0/oauth2/accessToken", sim.base_url()))
        .json(&serde_json::json!({
            "appKey": sim.app_key(),
            "appSecret": sim.app_secret(),
        }))
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("the token answer is JSON");
    answer["accessToken"]
        .as_str()
        .expect("a token is handed out")
        .to_owned()
}

/// 02:10 local on `date`: when the nightly run happens.
pub(crate) fn night(date: NaiveDate) -> DateTime<Utc> {
    SHANGHAI
        .from_local_datetime(&date.and_hms_opt(2, 10, 0).expect("02:10 is a time"))
        .single()
        .expect("02:10 exists in Asia/Shanghai")
        .with_timezone(&Utc)
}

/// A date written `YYYY-MM-DD`.
pub(crate) fn date(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").expect("a YYYY-MM-DD date")
}

/// A loopback port that refuses connections for as long as the returned socket lives: bound but
/// never listening, so nothing else can take the port while the test uses it.
pub(crate) fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind("127.0.0.1:0".parse().expect("a loopback address"))
        .expect("bind a loopback port");
    let port = socket.local_addr().expect("the bound address").port();
    (socket, port)
}

/// A process id no process can have: above Linux's largest possible pid (`PID_MAX_LIMIT`,
/// 4,194,304 on 64-bit), unlike the id of a process that just exited, which may be reused.
pub(crate) const IMPOSSIBLE_PID: u32 = 4_194_305;

/// The first `count` user ids of the simulated company, in order.
pub(crate) fn first_users(
    sim: &SimHandle,
    count: usize,
) -> Vec<dingtalk_reconcile::domain::UserId> {
    let mut ids: Vec<_> = sim
        .world()
        .employees
        .iter()
        .map(|e| dingtalk_reconcile::domain::UserId::new(e.id.clone()).unwrap())
        .collect();
    ids.sort();
    ids.truncate(count);
    ids
}
