//! `dingtalk-reconcile` keeps a company's attendance ledger in step with DingTalk (钉钉) — above
//! all with approved 补卡 (missed-punch correction) approvals — by polling on a schedule inside
//! DingTalk's monthly API quota instead of consuming pushes.
//!
//! # Layout
//!
//! - [`domain`]: the vocabulary every layer speaks (slots, approvals, corrections, classes).
//! - [`dingtalk`]: the client, the job's only way to the outside world.
//! - [`store`]: the SQLite store: snapshot, approvals, ledger, journal, runs, call ledger, lock.
//! - [`reconcile`]: one run: plan, fetch, diff, match, classify, apply, record.
//! - [`report`]: the run report as plain data and its pure renderers.
//! - [`config`], [`exit`], [`telemetry`]: the validated config file, exit codes, logging.
//! - [`cli`]: the command line; `main.rs` only parses, calls and maps to an exit code.
//!
//! The DingTalk simulator is its own crate, `dingtalk-sim`, which shares nothing with this one;
//! the `sim` and `demo` commands use it behind the default `sim` feature.

pub mod cli;
pub mod commands;
pub mod config;
pub mod dingtalk;
pub mod domain;
pub mod exit;
pub(crate) mod fsio;
pub(crate) mod metrics;
pub(crate) mod quota;
pub mod reconcile;
pub mod report;
pub mod schedule;
pub mod sink;
pub mod store;
pub mod telemetry;
