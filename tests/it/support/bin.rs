//! The real `dingtalk-reconcile` binary: a command with a clean environment, and the rig that
//! runs it against an in-process simulator with its own config, store and metrics file in a
//! temporary directory, at the simulator's clock (`--as-of`), so runs are deterministic.

use std::path::PathBuf;
use std::process::Output;

use chrono::{DateTime, Utc};
use dingtalk_reconcile::store::Store;
use dingtalk_sim::{SimConfig, SimHandle};

use super::{fast_sim_config, job_config, open_store, start_sim};

/// The binary, with none of the variables the program reads set from the test's environment
/// (`DINGTALK_APP_KEY`, `DINGTALK_APP_SECRET`, `RECON_LOG`, `RUST_LOG`).
pub(crate) fn binary() -> std::process::Command {
    let mut command =
        std::process::Command::new(assert_cmd::cargo::cargo_bin("dingtalk-reconcile"));
    for variable in [
        "DINGTALK_APP_KEY",
        "DINGTALK_APP_SECRET",
        "RECON_LOG",
        "RUST_LOG",
    ] {
        command.env_remove(variable);
    }
    command
}

/// A small company, a short world: every run finishes in well under a second.
const EMPLOYEES: usize = 15;
/// 2026-10-01 .. 2026-10-09: the runs happen early on Saturday 10-10, after a workday.
pub(crate) const WORLD_DAYS: u32 = 9;

/// A simulator of a small company and a directory holding the config pointing at it, the store and
/// the metrics textfile.
pub(crate) struct Rig {
    pub(crate) sim: SimHandle,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) as_of: DateTime<Utc>,
    /// Extra environment for the binary (e.g. a webhook secret).
    pub(crate) env: Vec<(String, String)>,
}

impl Rig {
    pub(crate) async fn new(seed: u64) -> Rig {
        Rig::with(seed, |_| {}).await
    }

    pub(crate) async fn with(seed: u64, tweak: impl FnOnce(&mut SimConfig)) -> Rig {
        let mut config = fast_sim_config(seed, EMPLOYEES);
        config.days = WORLD_DAYS;
        tweak(&mut config);
        let sim = start_sim(config).await;
        let as_of = sim.now();
        let rig = Rig {
            sim,
            dir: tempfile::tempdir().expect("temp dir"),
            as_of,
            env: Vec::new(),
        };
        rig.write_config("");
        rig
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.path().join("reconcile.toml")
    }

    pub(crate) fn store_path(&self) -> PathBuf {
        self.dir.path().join("reconcile.db")
    }

    pub(crate) fn metrics_path(&self) -> PathBuf {
        self.dir.path().join("dingtalk_reconcile.prom")
    }

    /// The config pointing at DingTalk at `dingtalk_base` (the simulator's, or another), with the
    /// metrics textfile in the rig's directory and `extra` TOML appended (more tables).
    pub(crate) fn config_text(&self, dingtalk_base: &str, extra: &str) -> String {
        let metrics = format!(
            "[metrics]\ntextfile = {:?}\n{extra}",
            self.metrics_path().display().to_string()
        );
        job_config(
            dingtalk_base,
            self.sim.world(),
            &self.store_path(),
            &metrics,
        )
    }

    /// Writes the standard config plus `extra`.
    pub(crate) fn write_config(&self, extra: &str) {
        let text = self.config_text(&self.sim.base_url(), extra);
        std::fs::write(self.config_path(), text).expect("config written");
    }

    /// Runs the binary with `--config` and `--as-of` at the rig's instant, then `args`.
    pub(crate) async fn bin(&self, args: &[&str]) -> Output {
        run_binary(self.args(args), self.env.clone()).await
    }

    /// `--config` and `--as-of` at the rig's instant, then `args`.
    pub(crate) fn args(&self, args: &[&str]) -> Vec<String> {
        let mut full = vec![
            "--config".to_owned(),
            self.config_path().display().to_string(),
            "--as-of".to_owned(),
            self.as_of.to_rfc3339(),
        ];
        full.extend(args.iter().map(|arg| (*arg).to_owned()));
        full
    }

    /// Writes the standard config plus `extra`, with a client making one DingTalk call at a time
    /// (so a process held inside one call has no other in flight).
    pub(crate) fn write_config_one_call_at_a_time(&self, extra: &str) {
        let text = one_call_at_a_time(&self.config_text(&self.sim.base_url(), extra));
        std::fs::write(self.config_path(), text).expect("config written");
    }

    pub(crate) fn store(&self) -> Store {
        open_store(&self.store_path())
    }

    pub(crate) fn metrics(&self) -> String {
        std::fs::read_to_string(self.metrics_path()).expect("the metrics textfile exists")
    }
}

/// Runs the binary with exactly `args` on a blocking thread, with a clean environment for the
/// variables the program reads.
pub(crate) async fn run_binary(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = assert_cmd::Command::from_std(binary());
        command
            .args(&args)
            .timeout(std::time::Duration::from_secs(60));
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("the binary runs")
    })
    .await
    .expect("the blocking runner finishes")
}

pub(crate) fn code(output: &Output) -> i32 {
    output.status.code().expect("the binary exited normally")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, showing the binary's stderr when it differs.
#[track_caller]
pub(crate) fn assert_code(output: &Output, expected: i32) {
    assert_eq!(
        code(output),
        expected,
        "unexpected exit code; stderr:\n{}\nstdout:\n{}",
        stderr(output),
        stdout(output)
    );
}

/// `config` (a [`super::job_config`] text) with the client making one DingTalk call at a time.
pub(crate) fn one_call_at_a_time(config: &str) -> String {
    let anchor = "qps_per_api = 1000\n";
    assert!(
        config.contains(anchor),
        "the [dingtalk] table of the test config"
    );
    config.replacen(anchor, "qps_per_api = 1000\nmax_concurrency = 1\n", 1)
}
