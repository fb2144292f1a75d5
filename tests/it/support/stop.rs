//! Stopping the real binary and proving it stopped: a process whose stderr is read as it comes,
//! signals sent to it, and marks armed in the simulator (a slow call the process is caught
//! inside, then sentinels that count every metered call arriving after the stop).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dingtalk_sim::{FaultKind, FaultRule, SimState, dingtalk_paths, is_metered_path};
use tokio::io::AsyncBufReadExt;

/// No wait here should come near this; it turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(30);

/// The binary, running, its stderr collected line by line.
pub(crate) struct Running {
    child: tokio::process::Child,
    stderr: Arc<Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

/// What a finished [`Running`] left.
#[derive(Debug)]
pub(crate) struct Finished {
    /// `None` when a signal ended it.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Starts the binary with exactly `args` (and `env` on top of a clean environment).
pub(crate) fn spawn(args: Vec<String>, env: Vec<(String, String)>) -> Running {
    let mut command = tokio::process::Command::from(super::bin::binary());
    command
        .args(args)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the binary starts");
    let pipe = child.stderr.take().expect("stderr is piped");
    let stderr = Arc::new(Mutex::new(String::new()));
    let reader = tokio::spawn({
        let stderr = stderr.clone();
        async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = stderr.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        }
    });
    Running {
        child,
        stderr,
        reader,
    }
}

impl Running {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the process is still running")
    }

    /// Its stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends the signal `name` (`INT`, `TERM`, `KILL`) through `kill` (the crate has no libc
    /// binding).
    pub(crate) fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIG{name} delivered");
    }

    /// Polls `ready` every 5 ms until it holds; fails after 30 s or if the process exits first.
    pub(crate) async fn until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "exited with {status} before {what}; stderr:\n{}",
                    self.stderr()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not within {PATIENCE:?}: {what}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Polls `ready` every 5 ms until it holds (true) or the process exits (false); fails after
    /// 30 s.
    pub(crate) async fn until_or_exit(
        &mut self,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if ready() {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return ready();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not within {PATIENCE:?}: {what}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until a line containing `needle` has been written to stderr.
    pub(crate) async fn until_stderr(&mut self, needle: &str) {
        let stderr = self.stderr.clone();
        self.until(&format!("stderr says {needle:?}"), || {
            stderr.lock().unwrap().contains(needle)
        })
        .await;
    }

    /// Waits for the exit (at most 30 s).
    pub(crate) async fn finish(self) -> Finished {
        let output = tokio::time::timeout(PATIENCE, self.child.wait_with_output())
            .await
            .expect("the process exits in time")
            .expect("the process is waited for");
        let _ = tokio::time::timeout(PATIENCE, self.reader).await;
        let stderr = self.stderr.lock().unwrap().clone();
        Finished {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
        }
    }
}

/// Holds the process inside its DingTalk call number `skip + 1` (token and contacts calls
/// count) for `delay`: the call is answered (and metered) after it. [`caught`] says when the
/// process is in that call.
pub(crate) fn arm_slow_call(sim: &SimState, skip: u32, delay: Duration) {
    let mut rule = FaultRule::new(
        None,
        FaultKind::Slow {
            delay_ms: delay.as_millis() as u64,
        },
    );
    rule.skip = skip;
    sim.arm_faults(vec![rule]);
}

/// Holds the process inside its call number `skip + 1` to `path` for `delay`, whatever free
/// calls (token, contacts, directory) come before.
pub(crate) fn arm_slow_call_on(sim: &SimState, path: &str, skip: u32, delay: Duration) {
    let mut rule = FaultRule::new(
        Some(path),
        FaultKind::Slow {
            delay_ms: delay.as_millis() as u64,
        },
    );
    rule.skip = skip;
    sim.arm_faults(vec![rule]);
}

/// Whether the call [`arm_slow_call`] slows has arrived (it is being held now, or was).
pub(crate) fn caught(sim: &SimState) -> bool {
    sim.armed_faults().is_empty()
}

/// A sentinel rule per metered path, changing nothing about the answers, each counting the
/// calls that arrive after it is armed. Replaces whatever was armed.
const SENTINEL_TIMES: u32 = 1_000_000;

fn metered_paths() -> Vec<&'static str> {
    dingtalk_paths()
        .filter(|path| is_metered_path(path))
        .collect()
}

pub(crate) fn arm_sentinels(sim: &SimState) {
    let rules = metered_paths()
        .into_iter()
        .map(|path| {
            let mut rule = FaultRule::new(Some(path), FaultKind::Slow { delay_ms: 0 });
            rule.times = SENTINEL_TIMES;
            rule
        })
        .collect();
    sim.arm_faults(rules);
}

/// Metered calls that arrived at the simulator since [`arm_sentinels`], by path.
pub(crate) fn metered_calls_since_sentinels(sim: &SimState) -> Vec<(String, u32)> {
    let armed = sim.armed_faults();
    metered_paths()
        .into_iter()
        .filter_map(|path| {
            let left = armed
                .iter()
                .find(|rule| rule.path.as_deref() == Some(path))
                .map_or(0, |rule| rule.times);
            (left < SENTINEL_TIMES).then(|| (path.to_owned(), SENTINEL_TIMES - left))
        })
        .collect()
}
