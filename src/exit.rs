//! Exit codes, documented in one place (README "Exit codes") and chosen only here and in
//! `main.rs`.
//!
//! Commands return `anyhow::Result<Outcome>`; an error is mapped to its code by walking the
//! error chain for the typed causes that decide it ([`ExitKind`] markers, config errors).

use std::fmt;
use std::process::ExitCode;

use crate::config::ConfigError;

/// Done, including when corrections were applied.
pub(crate) const DONE: u8 = 0;
/// The run failed.
pub(crate) const FAILED: u8 = 1;
/// Partial: budget, quota or some items failed; the report says what.
pub(crate) const PARTIAL: u8 = 2;
/// DingTalk unreachable or credentials rejected.
pub(crate) const UNREACHABLE: u8 = 3;
/// Another run holds the lock (EX_TEMPFAIL).
pub(crate) const LOCKED: u8 = 75;
/// Configuration error (EX_CONFIG).
pub const CONFIG: u8 = 78;

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Partial,
}

impl Outcome {
    pub(crate) fn code(self) -> u8 {
        match self {
            Outcome::Done => DONE,
            Outcome::Partial => PARTIAL,
        }
    }
}

/// A marker attached to an error (as its outermost context or a cause) that decides its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitKind {
    Failed,
    /// Nothing failed, but the work could not all be done (DingTalk's quota met before the run
    /// could start): exit 2, like a partial run.
    Partial,
    Unreachable,
    Locked,
    Config,
}

impl ExitKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            ExitKind::Failed => FAILED,
            ExitKind::Partial => PARTIAL,
            ExitKind::Unreachable => UNREACHABLE,
            ExitKind::Locked => LOCKED,
            ExitKind::Config => CONFIG,
        }
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExitKind::Failed => "run failed",
            ExitKind::Partial => "partial: resumes when DingTalk allows it",
            ExitKind::Unreachable => "dingtalk unreachable or credentials rejected",
            ExitKind::Locked => "locked: another run holds the store",
            ExitKind::Config => "configuration error",
        })
    }
}

impl std::error::Error for ExitKind {}

/// The code for an error: an [`ExitKind`] or [`ConfigError`] attached anywhere (as context at any
/// layer, or as a cause in the chain), else 1.
pub(crate) fn code_for(error: &anyhow::Error) -> u8 {
    // anyhow's downcast sees context values at every layer, which a walk over `chain()` does not
    // (a context layer appears there only as its wrapper).
    if let Some(kind) = error.downcast_ref::<ExitKind>() {
        return kind.code();
    }
    if error.downcast_ref::<ConfigError>().is_some() {
        return CONFIG;
    }
    for cause in error.chain() {
        if let Some(kind) = cause.downcast_ref::<ExitKind>() {
            return kind.code();
        }
        if cause.downcast_ref::<ConfigError>().is_some() {
            return CONFIG;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return DONE;
        }
    }
    FAILED
}

/// The one line an error is printed as. The chain may quote DingTalk's own text (an error
/// message, a page title): it goes through the output-escaping rule like every people-facing
/// value, so it cannot forge lines or reach the terminal raw.
/// The exit-code markers ([`ExitKind`]) attached to the chain say nothing the code does not;
/// they are left out of the line unless nothing else is in it.
fn error_line(error: &anyhow::Error) -> String {
    let markers = [
        ExitKind::Failed,
        ExitKind::Partial,
        ExitKind::Unreachable,
        ExitKind::Locked,
        ExitKind::Config,
    ]
    .map(|kind| kind.to_string());
    let parts: Vec<String> = error.chain().map(ToString::to_string).collect();
    let said: Vec<&str> = parts
        .iter()
        .filter(|part| !markers.contains(part))
        .map(String::as_str)
        .collect();
    let text = if said.is_empty() {
        parts.join(": ")
    } else {
        said.join(": ")
    };
    format!("error: {}", crate::report::escape::plain(&text))
}

/// Converts a command's result into the process exit code, printing the error chain once.
pub fn finish(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(error) => {
            let code = code_for(&error);
            if code != DONE {
                eprintln!("{}", error_line(&error));
            }
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_error_line_leaves_the_exit_code_markers_out_unless_they_are_all_it_has() {
        let refused = anyhow::Error::new(ExitKind::Failed).context("the backfill would cost 900");
        assert_eq!(error_line(&refused), "error: the backfill would cost 900");
        let config = anyhow::anyhow!("bad key")
            .context(ExitKind::Config)
            .context("config.toml");
        assert_eq!(error_line(&config), "error: config.toml: bad key");
        let bare = anyhow::Error::new(ExitKind::Locked);
        assert_eq!(
            error_line(&bare),
            "error: locked: another run holds the store"
        );
    }

    #[test]
    fn the_error_line_shows_outside_text_escaped_on_one_line() {
        let error = anyhow::anyhow!("DingTalk said \u{1b}[2J\rerror: forged\nline")
            .context("cannot list approvals");
        assert_eq!(
            error_line(&error),
            "error: cannot list approvals: DingTalk said \\u{1b}[2J\\u{d}error: forged\\u{a}line"
        );
    }

    #[test]
    fn markers_anywhere_in_the_chain_decide_the_code() {
        let error = anyhow::Error::new(ExitKind::Locked).context("cannot start the nightly run");
        assert_eq!(code_for(&error), LOCKED);
        let error: anyhow::Error = Err::<(), _>(ExitKind::Unreachable)
            .context("fetching a token")
            .unwrap_err();
        assert_eq!(code_for(&error), UNREACHABLE);
    }

    #[test]
    fn a_marker_added_as_context_over_another_error_decides_the_code() {
        let error = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
            .context("the run could not be carried out")
            .context(ExitKind::Unreachable)
            .context("nightly run");
        assert_eq!(code_for(&error), UNREACHABLE);
        let text = format!("{error:#}");
        assert!(
            text.contains("nightly run") && text.contains("connection refused"),
            "{text}"
        );
    }

    #[test]
    fn config_errors_exit_78_and_others_exit_1() {
        let error = anyhow::Error::new(ConfigError::Missing {
            key: "k".into(),
            hint: "h".into(),
        });
        assert_eq!(code_for(&error), CONFIG);
        assert_eq!(code_for(&anyhow::anyhow!("boom")), FAILED);
    }

    #[test]
    fn a_broken_pipe_is_not_a_failure() {
        let error = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(code_for(&error), DONE);
    }
}
