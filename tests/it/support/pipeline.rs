//! A run of the library's pipeline (`run_once`) against an in-process simulator: a store in a
//! temporary directory, a client on the simulator's clock recording into it, and the settings
//! that keep every night up to date, so a night's truth can be compared exactly.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dingtalk_reconcile::dingtalk::{CallRecorder, Client, Scope};
use dingtalk_reconcile::domain::{Clock, Policy, PolicyAction, UserId};
use dingtalk_reconcile::reconcile::{
    RunError, RunKind, RunRequest, RunSettings, RunSummary, StoreRecorder, run_once,
};
use dingtalk_reconcile::store::Store;
use dingtalk_sim::{SimConfig, SimHandle};

use super::{SHANGHAI, SimClock, client_config, open_store, start_sim};

pub(crate) struct Harness {
    pub(crate) sim: SimHandle,
    pub(crate) store: Store,
    pub(crate) client: Client,
    pub(crate) recorder: Arc<StoreRecorder>,
    pub(crate) settings: RunSettings,
    _dir: tempfile::TempDir,
}

/// Admin edits applied, unexplained and vanished slots reported.
pub(crate) fn policy() -> Policy {
    Policy {
        admin_edit: PolicyAction::Apply,
        unexplained: PolicyAction::Report,
        vanished: PolicyAction::Report,
        pending_anomaly_days: 3,
    }
}

impl Harness {
    pub(crate) async fn new(config: SimConfig) -> Harness {
        let sim = start_sim(config).await;
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("reconcile.db"));
        let recorder = Arc::new(StoreRecorder::new(store.call_log().unwrap(), SHANGHAI));
        let client = new_client(&sim, &recorder);
        let mut settings = RunSettings::new(SHANGHAI, Scope::Departments(vec![1]), policy());
        settings.admin_user_id = Some(UserId::new(sim.admin_user_id()).unwrap());
        settings.monthly_budget = 1_000_000;
        // Every night up to date, so the truth of the last night can be compared exactly: read
        // yesterday at once (provisional results then settle as late results), scan open slots
        // and list approvals every night.
        settings.reconcile.sync_after_hours = 0;
        settings.reconcile.scan_every_nights = 1;
        settings.reconcile.listing_lag_hours = 0;
        Harness {
            sim,
            store,
            client,
            recorder,
            settings,
            _dir: dir,
        }
    }

    /// A fresh client (a new process after a crash, say) recording into the same store.
    pub(crate) fn restart_client(&mut self) {
        self.client = new_client(&self.sim, &self.recorder);
    }

    /// One run at `as_of`, the simulator's clock moved there first.
    pub(crate) async fn run(
        &mut self,
        kind: RunKind,
        as_of: DateTime<Utc>,
        max_calls: Option<u64>,
    ) -> RunSummary {
        self.try_run(kind, as_of, max_calls).await.unwrap()
    }

    /// [`Harness::run`], its result as is (for runs expected to fail).
    pub(crate) async fn try_run(
        &mut self,
        kind: RunKind,
        as_of: DateTime<Utc>,
        max_calls: Option<u64>,
    ) -> Result<RunSummary, RunError> {
        self.sim.set_clock(as_of);
        let request = RunRequest {
            kind,
            as_of,
            max_calls,
            dry_run: false,
            trigger: "test".into(),
        };
        run_once(
            &mut self.store,
            &self.client,
            Some(&self.recorder),
            &self.settings,
            &request,
        )
        .await
    }

    /// Where the store lives, for the binary's read-only commands.
    pub(crate) fn store_path(&self) -> std::path::PathBuf {
        self._dir.path().join("reconcile.db")
    }

    /// Calls the simulator served on `path`, whatever their outcome.
    pub(crate) fn calls(&self, path: &str) -> u64 {
        self.sim.stats().calls.get(path).copied().unwrap_or(0)
    }
}

/// A client on the simulator's clock, recording into the store.
fn new_client(sim: &SimHandle, recorder: &Arc<StoreRecorder>) -> Client {
    let mut config = client_config(sim);
    config.qps_per_api = 5_000;
    config.throttle_retry_delay = std::time::Duration::from_millis(5);
    config.retry_base_delay = std::time::Duration::from_millis(5);
    let clock: Arc<dyn Clock> = Arc::new(SimClock(sim.state()));
    let recorder: Arc<dyn CallRecorder> = recorder.clone();
    Client::new(config, clock, recorder).unwrap()
}
