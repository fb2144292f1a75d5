//! Delivery of journaled corrections to the configured sinks, through the store's outbox.
//!
//! Flow, per sink, in config order: ask the outbox (filled when corrections are journaled) for
//! corrections due for that sink (never delivered, next attempt not in the future), oldest
//! first, in batches of [`BATCH_SIZE`]; hand each batch to the sink; on success mark the batch delivered, on failure record the error and
//! push each item's next attempt out with exponential backoff ([`next_attempt_at`]) and stop
//! that sink for this run. Later runs pick up what is due. Delivery is at-least-once: a batch
//! acknowledged by the receiver is never sent again, but a batch whose acknowledgement was lost
//! may be; receivers dedupe by each correction's `idempotency_key` (webhooks also get a batch
//! key). The file sink is exactly-once (see `file`).
//!
//! The outbox is synchronous (SQLite): it is only touched between awaits, never across one, and
//! each touch is one short statement or transaction. The file sink's IO runs in
//! `spawn_blocking`.
//!
//! Nothing here fails the run: every problem becomes a line of the [`DeliveryReport`].
//! This module does not decide which corrections exist (the journal does), does not read the
//! environment except through [`SinkConfig::from_setting`], and never logs a secret.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::report::CorrectionLine;

mod db;
pub(crate) mod email;
mod file;
pub(crate) mod message;
mod outbox;
mod robot;
pub mod sign;
mod webhook;

pub use db::{ColumnMap, DbSink, HANG_AFTER_COMMIT_ENV, Identifier, TableName};
pub use email::{EmailSink, EmailTls};
pub use message::Delivers;
pub(crate) use message::{ReportKind, ReportMessage};
pub(crate) use outbox::Outbox;

/// Most corrections in one webhook POST (and one file append).
pub(crate) const BATCH_SIZE: usize = 100;
/// Most batches one sink takes per run, so one run's delivery is bounded.
pub(crate) const MAX_BATCHES_PER_RUN: usize = 1000;
/// Delay before the first retry of a failed delivery; doubles with each further failure.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(60);
/// Longest delay between two attempts.
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(24 * 60 * 60);

/// One sink: a `[[sink]]` entry of the config file. `S` is the webhook's signing secret: in the
/// config it is [`SecretEnv`], the name of the environment variable holding it; delivery takes
/// a `SinkConfig` (secret resolved, see [`SinkConfig::from_setting`]).
#[derive(Debug, Clone)]
pub struct SinkConfig<S = SecretString> {
    /// Unique among sinks; the outbox tracks delivery per name.
    pub name: String,
    pub kind: SinkKind<S>,
    /// What the sink receives (`send = [...]`; [`SinkKind::default_send`] when absent), each
    /// one [`SinkKind::accepts`].
    pub send: Vec<Delivers>,
}

/// What a sink does with corrections, chosen by the entry's `kind` key.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkKind<S = SecretString> {
    /// POST batches as JSON; see `webhook` for the request shape and `sign` for the signature.
    Webhook(WebhookSink<S>),
    /// Append JSON lines to a local file.
    File(FileSink),
    /// Upsert rows into a PostgreSQL table; see `db`.
    Postgres(DbSink<S>),
    /// Upsert rows into a MySQL or MariaDB table; see `db`.
    Mysql(DbSink<S>),
    /// Post report summaries to a DingTalk group through its custom robot; see `robot`.
    DingtalkRobot(RobotSink<S>),
    /// Mail reports over SMTP (see `email`); takes no corrections.
    Email(EmailSink<S>),
}

impl<S> SinkKind<S> {
    /// The `kind` key's value.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            SinkKind::Webhook(_) => "webhook",
            SinkKind::File(_) => "file",
            SinkKind::Postgres(_) => "postgres",
            SinkKind::Mysql(_) => "mysql",
            SinkKind::DingtalkRobot(_) => "dingtalk_robot",
            SinkKind::Email(_) => "email",
        }
    }

    /// What this kind can carry.
    pub(crate) fn accepts(&self) -> &'static [Delivers] {
        match self {
            SinkKind::Webhook(_)
            | SinkKind::File(_)
            | SinkKind::Postgres(_)
            | SinkKind::Mysql(_) => &[Delivers::Corrections],
            SinkKind::DingtalkRobot(_) | SinkKind::Email(_) => {
                &[Delivers::NightlySummary, Delivers::MonthlyReport]
            }
        }
    }

    /// What this kind receives when its entry has no `send` key.
    pub(crate) fn default_send(&self) -> Vec<Delivers> {
        match self {
            SinkKind::Webhook(_)
            | SinkKind::File(_)
            | SinkKind::Postgres(_)
            | SinkKind::Mysql(_) => vec![Delivers::Corrections],
            SinkKind::DingtalkRobot(_) => vec![Delivers::NightlySummary],
            SinkKind::Email(_) => vec![Delivers::MonthlyReport],
        }
    }
}

impl<S> SinkConfig<S> {
    /// Whether this sink receives `what`.
    pub(crate) fn sends(&self, what: Delivers) -> bool {
        self.send.contains(&what)
    }
}

/// `kind = "dingtalk_robot"`: a DingTalk group's custom robot. Both values are secrets, named
/// in the config by the environment variables holding them.
#[derive(Debug, Clone, Deserialize)]
pub struct RobotSink<S = SecretString> {
    /// The robot's webhook URL with its `access_token` (`webhook_env` in the config file):
    /// https, or plain http on loopback (tests).
    #[serde(rename = "webhook_env")]
    pub webhook: S,
    /// The robot's 加签 secret (`secret_env` in the config file).
    #[serde(rename = "secret_env")]
    pub secret: S,
}

/// `kind = "webhook"`.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSink<S = SecretString> {
    /// `https`, or plain `http` on loopback.
    #[serde(deserialize_with = "crate::config::de::https_url")]
    pub url: Url,
    /// Signing secret; `None` sends unsigned requests. Written `secret_env` in the config file;
    /// a webhook without it must say `unsigned = true` there (checked by the config reader).
    #[serde(rename = "secret_env", default = "Option::default")]
    pub secret: Option<S>,
    /// Written `timeout_secs` in the config file.
    #[serde(
        rename = "timeout_secs",
        default = "crate::config::default_sink_timeout",
        deserialize_with = "crate::config::de::seconds"
    )]
    pub timeout: Duration,
}

/// `kind = "file"`.
#[derive(Debug, Clone, Deserialize)]
pub struct FileSink {
    #[serde(deserialize_with = "crate::config::de::path")]
    pub path: PathBuf,
}

/// The name of the environment variable holding a webhook's signing secret (`secret_env`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct SecretEnv(pub(crate) String);

/// Why a sink setting could not become a [`SinkConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SinkConfigError {
    #[error(
        "sink {sink}: environment variable {var} named by secret_env is not set or empty: \
         expected the webhook signing secret"
    )]
    MissingSecret { sink: String, var: String },
    #[error(
        "sink {sink}: environment variable {var} named by url_env is not set or empty: \
         expected the database connection URL"
    )]
    MissingDbUrl { sink: String, var: String },
    #[error("sink {sink}: environment variable {var} named by url_env does not hold {expected}")]
    BadDbUrl {
        sink: String,
        var: String,
        expected: String,
    },
    #[error(
        "sink {sink}: environment variable {var} named by {key} is not set or empty: expected \
         {expected}"
    )]
    MissingRobotSetting {
        sink: String,
        var: String,
        key: &'static str,
        expected: &'static str,
    },
    /// The robot's webhook URL is unusable; the sentence never repeats the URL.
    #[error("{0}")]
    RobotWebhook(String),
    #[error(
        "email sink {sink}: environment variable {var} named by password_env is not set or \
         empty: expected the SMTP password of its username"
    )]
    MissingPassword { sink: String, var: String },
}

impl SinkConfig {
    /// Resolves a validated `[[sink]]` setting, reading the signing secret from the environment
    /// variable it names through `env` (pass `|name| std::env::var(name).ok()`).
    pub(crate) fn from_setting(
        setting: &SinkConfig<SecretEnv>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<SinkConfig, SinkConfigError> {
        let kind = match &setting.kind {
            SinkKind::Webhook(webhook) => {
                let secret = match &webhook.secret {
                    Some(SecretEnv(var)) => match env(var).filter(|value| !value.is_empty()) {
                        Some(value) => Some(SecretString::from(value)),
                        None => {
                            return Err(SinkConfigError::MissingSecret {
                                sink: setting.name.clone(),
                                var: var.clone(),
                            });
                        }
                    },
                    None => None,
                };
                SinkKind::Webhook(WebhookSink {
                    url: webhook.url.clone(),
                    secret,
                    timeout: webhook.timeout,
                })
            }
            SinkKind::File(file) => SinkKind::File(file.clone()),
            SinkKind::Postgres(db) => {
                SinkKind::Postgres(resolve_db(&setting.name, db::Dialect::Postgres, db, &env)?)
            }
            SinkKind::Mysql(db) => {
                SinkKind::Mysql(resolve_db(&setting.name, db::Dialect::Mysql, db, &env)?)
            }
            SinkKind::DingtalkRobot(robot_setting) => {
                let read = |SecretEnv(var): &SecretEnv, key, expected| {
                    env(var).filter(|value| !value.is_empty()).ok_or_else(|| {
                        SinkConfigError::MissingRobotSetting {
                            sink: setting.name.clone(),
                            var: var.clone(),
                            key,
                            expected,
                        }
                    })
                };
                let webhook = read(
                    &robot_setting.webhook,
                    "webhook_env",
                    "the group robot's webhook URL with its access_token",
                )?;
                robot::parse_webhook(&setting.name, &robot_setting.webhook.0, &webhook)
                    .map_err(SinkConfigError::RobotWebhook)?;
                let secret = read(
                    &robot_setting.secret,
                    "secret_env",
                    "the group robot's 加签 secret (SEC…)",
                )?;
                SinkKind::DingtalkRobot(RobotSink {
                    webhook: SecretString::from(webhook),
                    secret: SecretString::from(secret),
                })
            }
            SinkKind::Email(email) => {
                let password = match &email.password {
                    Some(SecretEnv(var)) => match env(var).filter(|value| !value.is_empty()) {
                        Some(value) => Some(SecretString::from(value)),
                        None => {
                            return Err(SinkConfigError::MissingPassword {
                                sink: setting.name.clone(),
                                var: var.clone(),
                            });
                        }
                    },
                    None => None,
                };
                SinkKind::Email(EmailSink {
                    smtp_host: email.smtp_host.clone(),
                    smtp_port: email.smtp_port,
                    tls: email.tls,
                    username: email.username.clone(),
                    password,
                    from: email.from.clone(),
                    to: email.to.clone(),
                    timeout: email.timeout,
                    ca_file: email.ca_file.clone(),
                })
            }
        };
        Ok(SinkConfig {
            name: setting.name.clone(),
            kind,
            send: setting.send.clone(),
        })
    }
}

/// A database sink's URL, read from the variable `url_env` names and checked for its scheme.
fn resolve_db(
    sink: &str,
    dialect: db::Dialect,
    setting: &DbSink<SecretEnv>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<DbSink, SinkConfigError> {
    let var = setting.url.0.clone();
    let Some(url) = env(&var).filter(|value| !value.is_empty()) else {
        return Err(SinkConfigError::MissingDbUrl {
            sink: sink.to_owned(),
            var,
        });
    };
    if let Err(expected) = db::check_url(dialect, &url) {
        return Err(SinkConfigError::BadDbUrl {
            sink: sink.to_owned(),
            var,
            expected,
        });
    }
    Ok(DbSink {
        url: SecretString::from(url),
        url_env: var,
        table: setting.table.clone(),
        timeout: setting.timeout,
        columns: setting.columns.clone(),
    })
}

impl SinkConfig {
    /// The database dialect and settings of a `postgres` or `mysql` sink.
    pub(crate) fn database(&self) -> Option<(db::Dialect, &DbSink)> {
        match &self.kind {
            SinkKind::Postgres(config) => Some((db::Dialect::Postgres, config)),
            SinkKind::Mysql(config) => Some((db::Dialect::Mysql, config)),
            _ => None,
        }
    }

    /// `sink init-db`: creates the default table of a database sink (not a mapped one).
    pub(crate) async fn create_default_db_table(&self) -> Option<Result<(), String>> {
        let (dialect, config) = self.database()?;
        let target = db::Target {
            sink: &self.name,
            dialect,
            config,
        };
        Some(db::create_default_table(target).await)
    }
}

/// What delivery did, per sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub(crate) sinks: Vec<SinkDelivery>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SinkDelivery {
    pub(crate) sink: String,
    /// Corrections acknowledged in this call.
    pub(crate) delivered: u64,
    /// Corrections whose attempt failed in this call (retried by a later run).
    pub(crate) failed: u64,
    /// One sentence per failure, naming the sink and what was expected.
    pub(crate) errors: Vec<String>,
}

impl SinkDelivery {
    /// Nothing delivered or failed yet.
    pub(crate) fn new(sink: &str) -> SinkDelivery {
        SinkDelivery {
            sink: sink.to_owned(),
            delivered: 0,
            failed: 0,
            errors: Vec::new(),
        }
    }
}

impl DeliveryReport {
    pub fn delivered(&self) -> u64 {
        self.sinks.iter().map(|sink| sink.delivered).sum()
    }

    pub fn failed(&self) -> u64 {
        self.sinks.iter().map(|sink| sink.failed).sum()
    }

    /// Every error of every sink, for the run's error list.
    pub fn errors(&self) -> impl Iterator<Item = &str> {
        self.sinks
            .iter()
            .flat_map(|sink| sink.errors.iter().map(String::as_str))
    }
}

/// When to try an item again after its `failures`-th failed attempt (1 for the first):
/// `now + BACKOFF_BASE · 2^(failures-1)`, capped at [`BACKOFF_CAP`]. Deterministic (no jitter):
/// runs are spaced by the schedule, not by this delay, so retries cannot stampede.
pub(crate) fn next_attempt_at(failures: u64, now: DateTime<Utc>) -> DateTime<Utc> {
    let exponent = failures.saturating_sub(1).min(20) as u32;
    let delay = BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_CAP);
    now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
}

/// Delivers everything due to every sink. Never fails: store and sink errors are reported per
/// sink and leave the outbox as it was (or with the failure recorded), for a later run.
pub async fn deliver_due<O: Outbox + Send>(
    outbox: &mut O,
    sinks: &[SinkConfig],
    now: DateTime<Utc>,
    http: &reqwest::Client,
) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    for sink in sinks
        .iter()
        .filter(|sink| sink.sends(Delivers::Corrections))
    {
        let delivery = deliver_to_sink(outbox, sink, now, http).await;
        if delivery.failed > 0 || !delivery.errors.is_empty() {
            tracing::warn!(
                sink = %delivery.sink,
                delivered = delivery.delivered,
                failed = delivery.failed,
                error.message = delivery.errors.first().map(String::as_str).unwrap_or(""),
                "sink delivery incomplete; retried by a later run"
            );
        } else {
            tracing::info!(sink = %delivery.sink, delivered = delivery.delivered, "sink delivery done");
        }
        report.sinks.push(delivery);
    }
    report
}

async fn deliver_to_sink<O: Outbox + Send>(
    outbox: &mut O,
    sink: &SinkConfig,
    now: DateTime<Utc>,
    http: &reqwest::Client,
) -> SinkDelivery {
    let mut delivery = SinkDelivery {
        sink: sink.name.clone(),
        delivered: 0,
        failed: 0,
        errors: Vec::new(),
    };
    for _ in 0..MAX_BATCHES_PER_RUN {
        let items = match outbox.due(&sink.name, now, BATCH_SIZE) {
            Ok(items) if items.is_empty() => break,
            Ok(items) => items,
            Err(err) => {
                delivery.errors.push(format!(
                    "sink {}: could not read the outbox: {}",
                    sink.name,
                    chain(&err)
                ));
                break;
            }
        };
        let batch: Vec<CorrectionLine> = items.iter().map(|item| item.correction.clone()).collect();
        let keys: Vec<String> = batch
            .iter()
            .map(|line| line.idempotency_key.clone())
            .collect();
        match send(sink, &batch, now, http).await {
            Ok(()) => match outbox.mark_delivered(&sink.name, &keys, now) {
                Ok(()) => delivery.delivered += keys.len() as u64,
                Err(err) => {
                    delivery.errors.push(format!(
                        "sink {}: delivered {} but could not record it (they will be sent again): {}",
                        sink.name,
                        keys.len(),
                        chain(&err)
                    ));
                    break;
                }
            },
            Err(message) => {
                delivery.failed += keys.len() as u64;
                delivery.errors.push(message.clone());
                // Items with the same attempt count share a retry time: one write per group.
                let mut by_attempts: std::collections::BTreeMap<u64, Vec<String>> =
                    Default::default();
                for item in &items {
                    let key = item.correction.idempotency_key.clone();
                    by_attempts.entry(item.attempts).or_default().push(key);
                }
                for (attempts, keys) in by_attempts {
                    let retry_at = next_attempt_at(attempts + 1, now);
                    if let Err(err) = outbox.mark_failed(&sink.name, &keys, &message, retry_at) {
                        delivery.errors.push(format!(
                            "sink {}: could not record a failed attempt: {}",
                            sink.name,
                            chain(&err)
                        ));
                        break;
                    }
                }
                // The receiver is down or refusing: leave the rest for a later run.
                break;
            }
        }
    }
    delivery
}

/// Sends one batch; the error is the sentence recorded in the outbox and the report.
async fn send(
    sink: &SinkConfig,
    batch: &[CorrectionLine],
    now: DateTime<Utc>,
    http: &reqwest::Client,
) -> Result<(), String> {
    match &sink.kind {
        SinkKind::Webhook(WebhookSink {
            url,
            secret,
            timeout,
        }) => {
            let target = webhook::Target {
                sink: &sink.name,
                url,
                secret: secret.as_ref(),
                timeout: *timeout,
            };
            webhook::post_batch(http, target, batch, now)
                .await
                .map_err(|err| chain(&err))
        }
        SinkKind::File(FileSink { path }) => {
            let path = path.clone();
            let batch = batch.to_vec();
            let appended = tokio::task::spawn_blocking(move || file::append(&path, &batch)).await;
            match appended {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(err)) => Err(format!(
                    "file sink {}: could not append to {}: {err}",
                    sink.name,
                    display_path(sink)
                )),
                Err(join) => Err(format!(
                    "file sink {}: the append task failed: {join}",
                    sink.name
                )),
            }
        }
        SinkKind::Postgres(config) => {
            let dialect = db::Dialect::Postgres;
            let target = db::Target {
                sink: &sink.name,
                dialect,
                config,
            };
            db::write_batch(target, batch).await
        }
        SinkKind::Mysql(config) => {
            let dialect = db::Dialect::Mysql;
            let target = db::Target {
                sink: &sink.name,
                dialect,
                config,
            };
            db::write_batch(target, batch).await
        }
        // Refused by the config reader; kept for a sink built some other way.
        SinkKind::DingtalkRobot(_) => Err(format!(
            "dingtalk_robot sink {}: cannot carry corrections: expected send = [\"nightly_summary\", \"monthly_report\"]",
            sink.name
        )),
        SinkKind::Email(_) => Err(format!(
            "email sink {} delivers reports, not corrections: remove it from the sinks that \
             receive corrections",
            sink.name
        )),
    }
}

/// Gives `sink` one report. The error is the sentence recorded in the report-delivery journal.
pub(crate) async fn send_report(
    sink: &SinkConfig,
    message: &ReportMessage,
    now: DateTime<Utc>,
    http: &reqwest::Client,
) -> Result<(), String> {
    match &sink.kind {
        SinkKind::DingtalkRobot(RobotSink { webhook, secret }) => {
            let target = robot::Target {
                sink: &sink.name,
                webhook,
                secret,
            };
            robot::send(http, target, message, now).await
        }
        SinkKind::Email(email) => email::send(&sink.name, email, message).await,
        SinkKind::Webhook(_) | SinkKind::File(_) | SinkKind::Postgres(_) | SinkKind::Mysql(_) => {
            Err(format!(
                "{} sink {}: cannot carry reports: expected send = [\"corrections\"]",
                sink.kind.name(),
                sink.name
            ))
        }
    }
}

fn display_path(sink: &SinkConfig) -> String {
    match &sink.kind {
        SinkKind::File(file) => file.path.display().to_string(),
        SinkKind::Webhook(webhook) => webhook.url.as_str().to_owned(),
        SinkKind::Postgres(db) | SinkKind::Mysql(db) => format!("table {}", db.table),
        SinkKind::DingtalkRobot(_) => "the robot webhook".to_owned(),
        SinkKind::Email(email) => format!("smtp://{}", email.server()),
    }
}

/// An error and its causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_backoff(failures: u64, expected: Duration) {
        let now: DateTime<Utc> = "2026-11-04T18:00:00Z".parse().unwrap();
        let delay = (next_attempt_at(failures, now) - now).to_std().unwrap();
        assert_eq!(delay, expected, "after {failures} failures");
    }

    #[test]
    fn backoff_doubles_from_one_minute_and_stops_at_one_day() {
        check_backoff(1, Duration::from_secs(60));
        check_backoff(2, Duration::from_secs(120));
        check_backoff(5, Duration::from_secs(16 * 60));
        check_backoff(11, Duration::from_secs(1024 * 60));
        check_backoff(12, Duration::from_secs(24 * 60 * 60));
        check_backoff(u64::MAX, Duration::from_secs(24 * 60 * 60));
        check_backoff(0, Duration::from_secs(60));
    }

    #[test]
    fn a_named_secret_variable_that_is_unset_is_a_configuration_error() {
        let setting = SinkConfig {
            name: "hr".into(),
            kind: SinkKind::Webhook(WebhookSink {
                url: "https://hr.example.com/c".parse().unwrap(),
                secret: Some(SecretEnv("RECONCILE_WEBHOOK_SECRET".into())),
                timeout: Duration::from_secs(10),
            }),
            send: vec![Delivers::Corrections],
        };
        let err = SinkConfig::from_setting(&setting, |_| None).unwrap_err();
        assert_eq!(
            err,
            SinkConfigError::MissingSecret {
                sink: "hr".into(),
                var: "RECONCILE_WEBHOOK_SECRET".into()
            }
        );
        let config = SinkConfig::from_setting(&setting, |_| Some("s3cr3t-value".into())).unwrap();
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
    }
}
