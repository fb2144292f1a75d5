//! The DingTalk simulator: a faithful stand-in for both DingTalk API families on loopback, driven
//! by a virtual clock, with ground truth, call accounting and faults on demand (PRODUCT.md
//! section 7). Users rehearse their config against it; every test, the demo and the benchmark run
//! on it.
//!
//! It shares nothing with the job: this crate does not depend on `dingtalk-reconcile`, builds its
//! JSON from its own types, so a serde mistake on one side is caught by the other, and keeps its
//! own copy of DingTalk's metering rule (`metering`), which the product's tests check against the
//! client's.
//!
//! # Flow
//!
//! ```text
//! SimConfig ──generate()──▶ World (immutable: company, slot histories, 补卡 instances)
//!                                 │
//! SimState (clock, tokens, faults, QPS windows, stats) ◀── http::router ◀── HTTP on 127.0.0.1
//!                                 │
//!                       truth::truth(world, as_of)
//! ```
//!
//! # Modules
//!
//! - `config`: [`SimConfig`], [`Rates`], [`Switches`] — and the reading taken on every ⚠ item.
//! - `generate`: builds the world from the seed; `company`: user ids, Chinese names, the named
//!   department tree and the department moves of the period (a stream of their own).
//!   `world`: the world's types, time rules, settle rule, the directory at an instant.
//! - `state`: clock, tokens, QPS, quota and accounting. `faults`: scheduled faults.
//! - `metering`: which calls count against the monthly quota.
//! - `http`: endpoints and error shapes. `truth`: ground truth.
//! - `cli`: the `sim` command. `snippet`: the job's config pointing at a simulator.
//!
//! Not here: anything of the reconciliation job; writing back into DingTalk; push delivery
//! (only the push *counts* are simulated).

mod cli;
mod company;
mod config;
mod faults;
mod generate;
mod http;
#[cfg(test)]
mod invariants;
mod metering;
mod snippet;
mod state;
mod truth;
mod world;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use cli::{SimArgs, run_cli};
pub use config::{MissingInstanceCode, NextTokenEnd, Rates, SimConfig, Switches};
pub use faults::{FaultKind, FaultRule, ForeignMode};
use generate::generate;
pub use http::dingtalk_paths;
pub use metering::{Answered, is_metered_path};
pub use snippet::config_snippet;
pub use state::{SimState, SimStats};
pub use truth::TruthCorrection;
pub use world::{Cause, Instance, Move, Outcome, SETTLE_WITHIN_MS, World};

/// Serves a simulator on a listener the caller bound, until `shutdown` completes.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<SimState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    http::serve(listener, state, shutdown).await
}

/// A running simulator on 127.0.0.1. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    state: Arc<SimState>,
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    /// Generates the world, binds 127.0.0.1:0 and serves; returns once the listener is bound, so
    /// the first request can be sent right away.
    pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
        let world = tokio::task::spawn_blocking(move || generate(&config))
            .await
            .map_err(std::io::Error::other)?;
        let state = Arc::new(SimState::new(Arc::new(world)));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Arc::clone(&state), async {
            let _ = stopped.await;
        }));
        Ok(SimHandle {
            state,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, the base URL of both API families.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `[dingtalk]` table pointing the job at this simulator (see [`config_snippet`]).
    pub fn config_snippet(&self) -> String {
        config_snippet(&self.base_url(), self.world())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    /// Moves the virtual clock (forward or back); every later answer is as of `now`.
    pub fn set_clock(&self, now: DateTime<Utc>) {
        self.state.set_clock(now);
    }

    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// Every correction a perfect job would have applied by `as_of`, sorted.
    pub fn truth(&self, as_of: DateTime<Utc>) -> Vec<TruthCorrection> {
        truth::truth(self.state.world(), as_of)
    }

    /// Replaces the armed faults.
    pub fn arm_faults(&self, faults: Vec<FaultRule>) {
        self.state.arm_faults(faults);
    }

    pub fn app_key(&self) -> &str {
        &self.state.world().config.app_key
    }

    pub fn app_secret(&self) -> &str {
        &self.state.world().config.app_secret
    }

    /// The 补卡 templates' process codes.
    pub fn supply_process_codes(&self) -> Vec<String> {
        self.state.world().supply_process_codes()
    }

    /// An OA admin who may list the templates.
    pub fn admin_user_id(&self) -> String {
        let world = self.state.world();
        world.employees[world.admin].id.clone()
    }

    pub fn world(&self) -> &World {
        self.state.world()
    }

    pub fn state(&self) -> Arc<SimState> {
        Arc::clone(&self.state)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
