//! The configuration file (PRODUCT.md section 6): typed sections read with serde, defaults
//! written once in each section's `Default`, then the checks serde cannot express.
//!
//! [`Config`] has one field per section of the file (`[[sink]]` entries become
//! [`Config::sinks`]). Values serde cannot take as written (time zone, cron expression, URLs,
//! user ids, the scope) are read by the functions in `de`; ranges, the process codes, unique
//! sink names and the environment overrides are checked afterwards in [`Config::parse`]. Every
//! bad value fails with the key's dotted name and what was expected; unknown keys (found by
//! `serde_ignored`) are an error naming each, with the nearest key the example shows (a typo must
//! not leave a default silently in force). Secrets may come from
//! the environment (`DINGTALK_APP_KEY`, `DINGTALK_APP_SECRET`) and are held as
//! [`SecretString`], never printed.
//!
//! This module does no logging and reads no clock; environment access goes through a lookup
//! function so tests can inject it. Paths are checked against the file system only when a job
//! opens (`paths`), not when the file is parsed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::dingtalk::{IpBanPolicy, Scope, TokenSource};
use crate::domain::{Policy, UserId};
use crate::sink::{Delivers, SecretEnv, SinkConfig, SinkKind};

pub(crate) mod de;
mod paths;

pub(crate) use paths::check_output_file;

/// Default store file, relative to the working directory.
pub(crate) const DEFAULT_STORE_PATH: &str = "dingtalk-reconcile.db";

/// Default schedule: 02:10 every night, off the top of the hour as DingTalk asks.
pub(crate) const DEFAULT_CRON: &str = "0 10 2 * * *";

/// Why a configuration could not be used. Maps to exit code 78.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}` is invalid: expected {expected}, found {found}")]
    Invalid {
        key: String,
        expected: String,
        found: String,
    },
    /// A value serde refused; `message` says what was expected (and, except for secrets, what
    /// was found).
    #[error("config key `{key}` is invalid: {message}")]
    Refused { key: String, message: String },
    /// Keys no setting has: a typo would otherwise leave the default silently in force.
    #[error(
        "unknown config key(s) {keys}: expected only the keys dingtalk-reconcile.example.toml \
         shows (`dingtalk-reconcile init` writes it)"
    )]
    Unknown { keys: String },
    #[error("config key `{key}` is missing: {hint}")]
    Missing { key: String, hint: String },
    /// A path the job cannot use where it is (checked when a job opens, before any call).
    #[error("config key `{key}` = {value:?} cannot be used: {problem}; expected {expected}")]
    Unusable {
        key: String,
        value: String,
        problem: String,
        expected: String,
    },
}

impl ConfigError {
    fn invalid(key: &str, expected: &str, found: impl std::fmt::Display) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            expected: expected.to_owned(),
            found: found.to_string(),
        }
    }

    /// A serde error from reading a TOML value (not text, so it quotes no source line), under
    /// `prefix` (`""` at the top, `sink[2]` for a sink entry). The TOML deserializer ends its
    /// message with the key's dotted path, `in `a.b``; the path becomes the error's key.
    fn from_toml(prefix: &str, origin: &Path, error: &toml::de::Error) -> Self {
        let text = error.to_string();
        let text = text.trim_end();
        let (message, key) = match text.rsplit_once('\n') {
            Some((message, last)) if last.starts_with("in `") && last.ends_with('`') => {
                (message.trim_end(), Some(&last[4..last.len() - 1]))
            }
            _ => (text, None),
        };
        let key = match (prefix, key) {
            ("", None) => {
                return ConfigError::Syntax {
                    path: origin.to_owned(),
                    message: message.to_owned(),
                };
            }
            ("", Some(key)) => key.to_owned(),
            (prefix, None) => prefix.to_owned(),
            (prefix, Some(key)) => format!("{prefix}.{key}"),
        };
        match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            Some(field) => ConfigError::Missing {
                key: format!("{key}.{field}"),
                hint: missing_hint(field).to_owned(),
            },
            None => ConfigError::Refused {
                key,
                message: message.to_owned(),
            },
        }
    }
}

/// What a required key is for (only sink entries have required keys).
fn missing_hint(field: &str) -> &'static str {
    match field {
        "kind" => {
            "expected \"webhook\", \"file\", \"postgres\", \"mysql\", \"dingtalk_robot\" or \
             \"email\""
        }
        "webhook_env" => {
            "a dingtalk_robot sink needs the environment variable holding the robot's webhook URL"
        }
        "url" => "a webhook sink needs the URL corrections are POSTed to",
        "path" => "a file sink needs the path it appends JSON lines to",
        "url_env" => {
            "a database sink needs the environment variable holding its connection URL \
             (never the URL itself in the file)"
        }
        "smtp_host" => "an email sink needs the SMTP server it sends through",
        "from" => {
            "an email sink needs the sender's mailbox, such as \"考勤 <reconcile@example.com>\""
        }
        "to" => {
            "an email sink needs the list of recipients' mailboxes, such as [\"hr@example.com\"]"
        }
        _ => "this key is required here",
    }
}

/// The validated configuration: one field per section of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Business time zone: work dates, month boundaries and report times are in it.
    #[serde(deserialize_with = "de::timezone")]
    pub(crate) timezone: Tz,
    pub(crate) dingtalk: DingTalkSettings,
    /// Who is in scope (`[scope]`: `departments` or `user_ids`).
    #[serde(deserialize_with = "de::scope")]
    pub(crate) scope: Scope,
    pub(crate) store: StoreSettings,
    pub(crate) quota: QuotaSettings,
    pub(crate) schedule: ScheduleSettings,
    pub(crate) policy: Policy,
    pub(crate) reconcile: ReconcileSettings,
    pub(crate) metrics: MetricsSettings,
    pub(crate) report: ReportSettings,
    /// The `[[sink]]` entries, in file order; their secrets are still environment variable
    /// names (resolved by [`SinkConfig::from_setting`] when a job opens).
    #[serde(skip)]
    pub(crate) sinks: Vec<SinkConfig<SecretEnv>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timezone: chrono_tz::Asia::Shanghai,
            dingtalk: DingTalkSettings::default(),
            scope: default_scope(),
            store: StoreSettings::default(),
            quota: QuotaSettings::default(),
            schedule: ScheduleSettings::default(),
            policy: Policy::default(),
            reconcile: ReconcileSettings::default(),
            metrics: MetricsSettings::default(),
            report: ReportSettings::default(),
            sinks: Vec::new(),
        }
    }
}

/// No `[scope]`: the whole company, from the root department down.
fn default_scope() -> Scope {
    Scope::Departments(vec![1])
}

/// `[dingtalk]`: the app's credentials, the endpoints and how hard to call them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct DingTalkSettings {
    /// Required, here or in `DINGTALK_APP_KEY` (which wins).
    pub(crate) app_key: String,
    /// Required, here or in `DINGTALK_APP_SECRET` (which wins).
    #[serde(deserialize_with = "de::secret")]
    pub(crate) app_secret: SecretString,
    #[serde(deserialize_with = "de::https_url")]
    pub(crate) oapi_base_url: Url,
    #[serde(deserialize_with = "de::https_url")]
    pub(crate) api_base_url: Url,
    /// The 补卡 templates; `None` (or an empty list): discovered through `admin_user_id`.
    pub(crate) supply_process_codes: Option<Vec<String>>,
    #[serde(deserialize_with = "de::optional_user_id")]
    pub(crate) admin_user_id: Option<UserId>,
    /// `"oauth2"` (current) or `"gettoken"` (legacy).
    #[serde(deserialize_with = "de::token_source")]
    pub(crate) token_source: TokenSource,
    pub(crate) qps_per_api: u32,
    pub(crate) max_concurrency: usize,
    pub(crate) request_timeout_secs: u64,
    /// `0`: give up when DingTalk bans our IP; otherwise wait up to this many seconds.
    pub(crate) ip_ban_wait_secs: u64,
}

impl Default for DingTalkSettings {
    fn default() -> Self {
        let url = |text: &str| Url::parse(text).unwrap_or_else(|_| unreachable!());
        DingTalkSettings {
            app_key: String::new(),
            app_secret: SecretString::from(String::new()),
            oapi_base_url: url("https://oapi.dingtalk.com"),
            api_base_url: url("https://api.dingtalk.com"),
            supply_process_codes: None,
            admin_user_id: None,
            token_source: TokenSource::V1OAuth2,
            qps_per_api: crate::dingtalk::DEFAULT_QPS_PER_API,
            max_concurrency: crate::dingtalk::DEFAULT_MAX_CONCURRENCY,
            request_timeout_secs: 15,
            ip_ban_wait_secs: 0,
        }
    }
}

impl DingTalkSettings {
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub(crate) fn ip_ban(&self) -> IpBanPolicy {
        match self.ip_ban_wait_secs {
            0 => IpBanPolicy::GiveUp,
            secs => IpBanPolicy::Wait {
                max: Duration::from_secs(secs),
            },
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct StoreSettings {
    #[serde(deserialize_with = "de::path")]
    pub(crate) path: PathBuf,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from(DEFAULT_STORE_PATH),
        }
    }
}

/// `[quota]`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub(crate) struct QuotaSettings {
    /// Metered calls this job may spend per natural month.
    pub(crate) monthly_budget: u64,
    /// The day of the month (1–28) by which the previous month's corrections must be final
    /// for payroll: until then, work deciding that month's corrections comes first.
    pub(crate) payroll_close_day: u32,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        QuotaSettings {
            monthly_budget: 4000,
            payroll_close_day: 5,
        }
    }
}

/// `[schedule]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ScheduleSettings {
    /// Six fields, seconds first (checked with [`parse_cron`]).
    #[serde(deserialize_with = "de::cron")]
    pub(crate) cron: String,
    /// A schedule firing more than [`MAX_RUNS_A_DAY`] times a day is refused unless this says
    /// it is meant: every run spends metered calls of the month's budget.
    pub(crate) allow_frequent: bool,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            cron: DEFAULT_CRON.to_owned(),
            allow_frequent: false,
        }
    }
}

/// Runs a day a schedule may fire without `[schedule] allow_frequent = true`.
pub(crate) const MAX_RUNS_A_DAY: u64 = 4;

/// Metered calls one tick of a schedule firing every 15 seconds was seen to spend against the
/// simulator: the unit of the projection a too frequent schedule is refused with.
const CALLS_A_RUN: u64 = 18;

impl ScheduleSettings {
    /// Refuses a schedule firing more than [`MAX_RUNS_A_DAY`] times on some day of a week in
    /// `timezone`, unless `allow_frequent`; the error says the projected metered calls a day.
    fn check_frequency(&self, timezone: Tz, monthly_budget: u64) -> Result<(), ConfigError> {
        if self.allow_frequent {
            return Ok(());
        }
        let Ok(cron) = parse_cron(&self.cron) else {
            return Ok(()); // already refused while reading
        };
        let most = most_runs_a_day(&cron, timezone);
        if most <= MAX_RUNS_A_DAY {
            return Ok(());
        }
        Err(ConfigError::Refused {
            key: "schedule.cron".to_owned(),
            message: format!(
                "{:?} fires {most} times a day; expected at most {MAX_RUNS_A_DAY} (every run \
                 spends metered calls: at least one per 补卡 template, about {CALLS_A_RUN} seen on \
                 the simulator, so about {} a day against a monthly budget of {monthly_budget}); \
                 set [schedule] allow_frequent = true if this is meant",
                self.cron,
                most.saturating_mul(CALLS_A_RUN)
            ),
        })
    }
}

/// The most times `cron` fires on one local day of the week starting Monday 2026-01-05 (every
/// weekday once), counted up to one a second.
fn most_runs_a_day(cron: &croner::Cron, timezone: Tz) -> u64 {
    let mut most = 0;
    for day in 0..7 {
        let Some(start) = chrono::NaiveDate::from_ymd_opt(2026, 1, 5 + day)
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .and_then(|midnight| midnight.and_local_timezone(timezone).earliest())
        else {
            continue;
        };
        let end = start + chrono::Duration::days(1);
        let mut at = start - chrono::Duration::seconds(1);
        let mut fires = 0u64;
        while fires <= 86_400 {
            match cron.find_next_occurrence(&at, false) {
                Ok(next) if next < end => {
                    fires += 1;
                    at = next;
                }
                _ => break,
            }
        }
        most = most.max(fires);
        if most > MAX_RUNS_A_DAY {
            break;
        }
    }
    most
}

/// `[reconcile]`: how a run spreads its reads over time. Embedded in the engine's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ReconcileSettings {
    /// Work days a nightly run covers: yesterday and the days before it.
    pub(crate) window_days: u32,
    /// Approvals created this many days back are listed (≥ longest filing lag + decision lag).
    pub(crate) approval_lookback_days: u32,
    /// An OffDuty result observed within this many hours of its scheduled time may still settle.
    pub(crate) settle_hours: u32,
    /// A work date is read by the nightly sync once local midnight after it plus this many
    /// hours has passed (so it is read once, settled).
    pub sync_after_hours: u32,
    /// Open (not signed) slots are scanned through raw punches every this many nights.
    pub scan_every_nights: u32,
    /// Not-signed slots older than this many days are no longer scanned for a 补卡 (longest
    /// filing lag plus decision lag).
    pub(crate) open_slot_horizon_days: u32,
    /// Approvals are listed by creation window once the window is this many hours old, so most
    /// are final when listed (running ones are followed up on scan nights).
    pub listing_lag_hours: u32,
    /// Slots corrected by a 补卡 are watched this many days (from when the correction was
    /// journaled) for the 补卡 being revoked; approved 补卡 DingTalk has not shown are asked
    /// daily within this many days of their approval whether a revocation was attached.
    pub revert_watch_days: u32,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            window_days: 7,
            approval_lookback_days: 45,
            settle_hours: 24,
            sync_after_hours: 24,
            scan_every_nights: 3,
            open_slot_horizon_days: 45,
            listing_lag_hours: 72,
            revert_watch_days: 7,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MetricsSettings {
    /// Prometheus textfile written after each run; `None`: none.
    #[serde(deserialize_with = "de::optional_path")]
    pub(crate) textfile: Option<PathBuf>,
}

/// `[report]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ReportSettings {
    /// Language of the people-facing reports (text, Markdown, HTML, xlsx): `zh` (default) or
    /// `en`; `--lang` overrides it.
    pub(crate) lang: crate::report::Lang,
    /// The day of the month (1 to 28) on or after which the previous month's report goes to the
    /// sinks with `send = ["monthly_report"]`, once every work date of it is reconciled.
    pub(crate) monthly_day: u32,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            lang: crate::report::Lang::default(),
            monthly_day: 3,
        }
    }
}

/// Default webhook timeout, used by `[[sink]]` entries without `timeout_secs`.
pub(crate) fn default_sink_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Config {
    /// Reads and validates a config file. `env` looks up environment variables (pass
    /// `|k| std::env::var(k).ok()` in production).
    pub(crate) fn load(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path, env)
    }

    /// Validates config text; `origin` names it in errors.
    pub fn parse(
        text: &str,
        origin: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        // The message is rebuilt from the position and the parser's own words: toml's display
        // quotes the offending line, which may hold the app secret.
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: origin.to_owned(),
                    message: describe_syntax_error(text, &e),
                })?;
        let sink_entries = table.remove("sink");
        let mut unknown = Vec::new();
        let mut config: Config = serde_ignored::deserialize(toml::Value::Table(table), |path| {
            unknown.push(path.to_string());
        })
        .map_err(|e| ConfigError::from_toml("", origin, &e))?;
        config.sinks = sinks(sink_entries, origin, &mut unknown)?;
        if !unknown.is_empty() {
            return Err(unknown_keys(&unknown));
        }
        config.check(env)?;
        Ok(config)
    }

    /// What serde cannot say: ranges, the process codes or an admin to discover them, unique
    /// sink names; and the credentials, the environment first.
    fn check(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        self.dingtalk.take_credentials(env)?;
        self.dingtalk.check_process_codes()?;
        self.schedule
            .check_frequency(self.timezone, self.quota.monthly_budget)?;
        for (key, value, min, max) in self.ranges() {
            in_range(key, value, min, max)?;
        }
        check_sinks(&self.sinks)
    }

    /// Every bounded integer setting: its key, its value, and the smallest and largest value
    /// accepted.
    fn ranges(&self) -> [(&'static str, u64, u64, u64); 16] {
        let (dingtalk, reconcile) = (&self.dingtalk, &self.reconcile);
        [
            ("dingtalk.qps_per_api", dingtalk.qps_per_api.into(), 1, 1000),
            (
                "dingtalk.max_concurrency",
                dingtalk.max_concurrency as u64,
                1,
                64,
            ),
            (
                "dingtalk.request_timeout_secs",
                dingtalk.request_timeout_secs,
                1,
                600,
            ),
            (
                "dingtalk.ip_ban_wait_secs",
                dingtalk.ip_ban_wait_secs,
                0,
                3600,
            ),
            (
                "quota.monthly_budget",
                self.quota.monthly_budget,
                1,
                10_000_000,
            ),
            (
                "quota.payroll_close_day",
                self.quota.payroll_close_day.into(),
                1,
                28,
            ),
            (
                "policy.pending_anomaly_days",
                self.policy.pending_anomaly_days.into(),
                0,
                365,
            ),
            ("reconcile.window_days", reconcile.window_days.into(), 1, 60),
            ("report.monthly_day", self.report.monthly_day.into(), 1, 28),
            (
                "reconcile.approval_lookback_days",
                reconcile.approval_lookback_days.into(),
                1,
                365,
            ),
            (
                "reconcile.settle_hours",
                reconcile.settle_hours.into(),
                0,
                24 * 7,
            ),
            (
                "reconcile.sync_after_hours",
                reconcile.sync_after_hours.into(),
                0,
                24 * 7,
            ),
            (
                "reconcile.scan_every_nights",
                reconcile.scan_every_nights.into(),
                1,
                14,
            ),
            (
                "reconcile.open_slot_horizon_days",
                reconcile.open_slot_horizon_days.into(),
                7,
                180,
            ),
            (
                "reconcile.listing_lag_hours",
                reconcile.listing_lag_hours.into(),
                0,
                24 * 14,
            ),
            (
                "reconcile.revert_watch_days",
                reconcile.revert_watch_days.into(),
                1,
                60,
            ),
        ]
    }
}

impl DingTalkSettings {
    /// The app key and secret, each from the environment when set there (it wins), else from
    /// the file; both are required.
    fn take_credentials(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(key) = env("DINGTALK_APP_KEY").filter(|v| !v.is_empty()) {
            self.app_key = key;
        }
        if self.app_key.is_empty() {
            return Err(ConfigError::Missing {
                key: "dingtalk.app_key".into(),
                hint: "set it in the file or in the environment variable DINGTALK_APP_KEY".into(),
            });
        }
        if let Some(secret) = env("DINGTALK_APP_SECRET").filter(|v| !v.is_empty()) {
            self.app_secret = SecretString::from(secret);
        }
        if self.app_secret.expose_secret().is_empty() {
            return Err(ConfigError::Missing {
                key: "dingtalk.app_secret".into(),
                hint: "set it in the file or in the environment variable DINGTALK_APP_SECRET"
                    .into(),
            });
        }
        Ok(())
    }

    /// The 补卡 process codes: an empty list means none; each code is one word; without codes,
    /// an admin must be there to discover them.
    fn check_process_codes(&mut self) -> Result<(), ConfigError> {
        if self
            .supply_process_codes
            .as_ref()
            .is_some_and(Vec::is_empty)
        {
            self.supply_process_codes = None;
        }
        for code in self.supply_process_codes.iter().flatten() {
            if code.trim().is_empty() || code.chars().any(char::is_whitespace) {
                return Err(ConfigError::invalid(
                    "dingtalk.supply_process_codes",
                    "process codes such as \"PROC-…\" without spaces",
                    quoted(code),
                ));
            }
        }
        if self.supply_process_codes.is_none() && self.admin_user_id.is_none() {
            return Err(ConfigError::Missing {
                key: "dingtalk.supply_process_codes".into(),
                hint: "list the 补卡 process codes, or set dingtalk.admin_user_id to an OA admin so they can be discovered".into(),
            });
        }
        Ok(())
    }
}

/// Each webhook's timeout is in range, and sink names are unique.
fn check_sinks(sinks: &[SinkConfig<SecretEnv>]) -> Result<(), ConfigError> {
    let mut names = BTreeSet::new();
    for (index, sink) in sinks.iter().enumerate() {
        if let SinkKind::Webhook(webhook) = &sink.kind {
            let secs = webhook.timeout.as_secs();
            in_range(&format!("sink[{index}].timeout_secs"), secs, 1, 600)?;
        }
        if let SinkKind::Postgres(db) | SinkKind::Mysql(db) = &sink.kind {
            in_range(
                &format!("sink[{index}].timeout_secs"),
                db.timeout.as_secs(),
                1,
                600,
            )?;
            if db.url.0.is_empty() {
                return Err(ConfigError::invalid(
                    &format!("sink[{index}].url_env"),
                    "the name of the environment variable holding the connection URL",
                    "an empty string",
                ));
            }
            if let Some(column) = db.columns.as_ref().and_then(|c| c.duplicate()) {
                return Err(ConfigError::invalid(
                    &format!("sink[{index}].columns"),
                    "each value mapped to its own column",
                    format!("column {column:?} named twice"),
                ));
            }
        }
        if let SinkKind::Email(email) = &sink.kind {
            let secs = email.timeout.as_secs();
            in_range(&format!("sink[{index}].timeout_secs"), secs, 1, 600)?;
        }
        if !names.insert(sink.name.as_str()) {
            return Err(ConfigError::invalid(
                "sink.name",
                "a name unique among [[sink]] entries",
                quoted(&sink.name),
            ));
        }
    }
    Ok(())
}

/// The `[[sink]]` entries, each read on its own so an error can name its index. The `kind` key
/// picks the variant's struct, read directly rather than through the `#[serde(tag = "kind")]`
/// enum: serde reads a tagged enum through a buffer, which loses the key an error names and
/// hides unknown keys from `serde_ignored`. The tagged read words the error for a missing or
/// unknown `kind`.
fn sinks(
    entries: Option<toml::Value>,
    origin: &Path,
    unknown_keys: &mut Vec<String>,
) -> Result<Vec<SinkConfig<SecretEnv>>, ConfigError> {
    let entries = match entries {
        None => return Ok(Vec::new()),
        Some(toml::Value::Array(entries)) => entries,
        Some(other) => {
            return Err(ConfigError::invalid(
                "sink",
                "[[sink]] tables",
                format!("a {}", other.type_str()),
            ));
        }
    };
    let mut sinks = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let prefix = format!("sink[{index}]");
        let toml::Value::Table(mut table) = entry else {
            return Err(ConfigError::invalid(&prefix, "a table", entry.type_str()));
        };
        let name = match table.remove("name") {
            None => format!("sink{}", index + 1),
            Some(toml::Value::String(name)) => name,
            Some(other) => {
                return Err(ConfigError::invalid(
                    &format!("{prefix}.name"),
                    "a string",
                    format!("a {}", other.type_str()),
                ));
            }
        };
        let refused = |e: toml::de::Error| ConfigError::from_toml(&prefix, origin, &e);
        let mut unknown = |path: serde_ignored::Path| {
            unknown_keys.push(format!("{prefix}.{path}"));
        };
        let mut rest = table.clone();
        rest.remove("kind");
        let is_webhook = table.get("kind").and_then(toml::Value::as_str) == Some("webhook");
        // `unsigned` belongs to webhooks only: elsewhere it stays an unknown key (an error).
        let unsigned = if is_webhook {
            unsigned_opt_in(rest.remove("unsigned"), &prefix)?
        } else {
            false
        };
        let send = rest.remove("send");
        let rest = toml::Value::Table(rest);
        let mut kind = match table.get("kind").and_then(toml::Value::as_str) {
            Some("webhook") => {
                SinkKind::Webhook(serde_ignored::deserialize(rest, &mut unknown).map_err(refused)?)
            }
            Some("file") => {
                SinkKind::File(serde_ignored::deserialize(rest, &mut unknown).map_err(refused)?)
            }
            Some("postgres") => {
                SinkKind::Postgres(serde_ignored::deserialize(rest, &mut unknown).map_err(refused)?)
            }
            Some("mysql") => {
                SinkKind::Mysql(serde_ignored::deserialize(rest, &mut unknown).map_err(refused)?)
            }
            Some("dingtalk_robot") => SinkKind::DingtalkRobot(
                serde_ignored::deserialize(rest, &mut unknown).map_err(refused)?,
            ),
            Some("email") => {
                SinkKind::Email(serde_ignored::deserialize(rest, &mut unknown).map_err(refused)?)
            }
            // A missing or unknown kind: the tagged read says what was expected.
            _ => toml::Value::Table(table)
                .try_into::<SinkKind<SecretEnv>>()
                .map_err(refused)?,
        };
        if let SinkKind::Webhook(webhook) = &mut kind {
            webhook.secret = webhook.secret.take().filter(|var| !var.0.is_empty());
            check_signing(&name, &prefix, webhook.secret.is_some(), unsigned)?;
        }
        if let SinkKind::Email(email) = &mut kind {
            email.password = email.password.take().filter(|var| !var.0.is_empty());
            check_email(&name, &prefix, email)?;
        }
        let send = sink_send(send, &name, &prefix, &kind)?;
        sinks.push(SinkConfig { name, kind, send });
    }
    Ok(sinks)
}

/// A sink's `send` key: absent is its kind's default; each entry must be something the kind
/// can carry, and none twice.
fn sink_send(
    value: Option<toml::Value>,
    name: &str,
    prefix: &str,
    kind: &SinkKind<SecretEnv>,
) -> Result<Vec<Delivers>, ConfigError> {
    let key = format!("{prefix}.send");
    let accepted = kind
        .accepts()
        .iter()
        .map(|what| format!("\"{}\"", what.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(value) = value else {
        return Ok(kind.default_send());
    };
    let found = value.to_string();
    let send: Vec<Delivers> = value.try_into().map_err(|_| {
        ConfigError::invalid(
            &key,
            &format!(
                "a list of \"corrections\", \"nightly_summary\", \"monthly_report\" ({} sink {name:?} accepts {accepted})",
                kind.name()
            ),
            &found,
        )
    })?;
    let mut seen = BTreeSet::new();
    for what in &send {
        if !kind.accepts().contains(what) || !seen.insert(*what) {
            return Err(ConfigError::invalid(
                &key,
                &format!(
                    "what a {} sink can carry, each once: {} sink {name:?} accepts {accepted}",
                    kind.name(),
                    kind.name()
                ),
                &found,
            ));
        }
    }
    Ok(send)
}

/// A webhook's `unsigned` key: absent is false.
fn unsigned_opt_in(value: Option<toml::Value>, prefix: &str) -> Result<bool, ConfigError> {
    match value {
        None => Ok(false),
        Some(toml::Value::Boolean(unsigned)) => Ok(unsigned),
        Some(other) => Err(ConfigError::invalid(
            &format!("{prefix}.unsigned"),
            "true or false",
            format!("a {}", other.type_str()),
        )),
    }
}

/// A webhook signs its requests (`secret_env`) or says it does not on purpose
/// (`unsigned = true`); never both, never neither: a receiver that cannot tell our requests from
/// forged ones must be a decision, not an omission.
fn check_signing(
    name: &str,
    prefix: &str,
    signed: bool,
    unsigned: bool,
) -> Result<(), ConfigError> {
    match (signed, unsigned) {
        (true, false) | (false, true) => Ok(()),
        (false, false) => Err(ConfigError::Missing {
            key: format!("{prefix}.secret_env"),
            hint: format!(
                "webhook sink {name:?} has no signing secret: set secret_env to the environment \
                 variable holding it, or unsigned = true to send unsigned requests on purpose"
            ),
        }),
        (true, true) => Err(ConfigError::invalid(
            &format!("{prefix}.unsigned"),
            &format!(
                "either secret_env (signed) or unsigned = true for webhook sink {name:?}, not both"
            ),
            "both",
        )),
    }
}

/// An email sink's keys that depend on each other: `tls = "none"` only on loopback, a password
/// exactly when there is a user name, at least one recipient.
fn check_email(
    name: &str,
    prefix: &str,
    email: &crate::sink::EmailSink<SecretEnv>,
) -> Result<(), ConfigError> {
    use crate::sink::EmailTls;
    if email.smtp_host.trim().is_empty() {
        return Err(ConfigError::invalid(
            &format!("{prefix}.smtp_host"),
            "a host name or IP address",
            "\"\"",
        ));
    }
    if email.tls == EmailTls::None && !crate::sink::email::is_loopback(&email.smtp_host) {
        return Err(ConfigError::invalid(
            &format!("{prefix}.tls"),
            &format!(
                "\"starttls\" or \"tls\" for email sink {name:?}: \"none\" would send the mail \
                 (and any password) in clear text, so it is allowed only when smtp_host is \
                 loopback (a local relay)"
            ),
            format!("\"none\" with smtp_host = {}", quoted(&email.smtp_host)),
        ));
    }
    if email.username.is_some() && email.password.is_none() {
        return Err(ConfigError::Missing {
            key: format!("{prefix}.password_env"),
            hint: format!(
                "email sink {name:?} has a username: set password_env to the environment \
                 variable holding its SMTP password (never the password itself)"
            ),
        });
    }
    if email.username.is_none() && email.password.is_some() {
        return Err(ConfigError::Missing {
            key: format!("{prefix}.username"),
            hint: format!("email sink {name:?} has password_env but no username to log in with"),
        });
    }
    if email.to.is_empty() {
        return Err(ConfigError::invalid(
            &format!("{prefix}.to"),
            "at least one recipient's mailbox",
            "[]",
        ));
    }
    Ok(())
}

/// Parses a six-field cron expression (seconds first), as the daemon's scheduler does.
pub(crate) fn parse_cron(expression: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
        .map_err(|e| e.to_string())
}

fn in_range(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            &format!("an integer from {min} to {max}"),
            value,
        ))
    }
}

/// The error for misspelt or unknown keys (dotted, `sink[N].key` for sinks): each named, with
/// the nearest key the shipped example shows under the same table when one is close.
fn unknown_keys(keys: &[String]) -> ConfigError {
    let known = known_keys();
    let named: Vec<String> = keys
        .iter()
        .map(|key| match did_you_mean(key, &known) {
            Some(near) => format!("`{key}` (did you mean `{near}`?)"),
            None => format!("`{key}`"),
        })
        .collect();
    ConfigError::Unknown {
        keys: named.join(", "),
    }
}

/// Every key the shipped example configuration shows, commented ones included, dotted by its
/// table (`quota.monthly_budget`, `sink.secret_env`): the vocabulary of "did you mean".
fn known_keys() -> Vec<String> {
    const EXAMPLE: &str = include_str!("../../dingtalk-reconcile.example.toml");
    let mut table = String::new();
    let mut keys = Vec::new();
    for line in EXAMPLE.lines() {
        let line = line.trim_start_matches(['#', ' ']);
        if let Some(header) = line.strip_prefix('[') {
            table = header.trim_matches(['[', ']']).trim().to_owned();
            continue;
        }
        // `key = value`, also inside a trailing comment (`… # or user_ids = [...]`).
        for part in line.split(['#', ';']) {
            let part = part.trim().trim_start_matches("or ");
            if let Some((key, _)) = part.split_once('=') {
                let key = key.trim();
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    keys.push(if table.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{table}.{key}")
                    });
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The known key of the same table nearest to `key` (`sink[2].retires` is looked up as
/// `sink.retires`), if it is within a typo or two.
fn did_you_mean<'k>(key: &str, known: &'k [String]) -> Option<&'k str> {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let table = table.split('[').next().unwrap_or(table);
    let allowed = (leaf.chars().count() / 4).clamp(1, 3);
    known
        .iter()
        .filter_map(|candidate| {
            let (candidate_table, candidate_leaf) =
                candidate.rsplit_once('.').unwrap_or(("", candidate));
            (candidate_table == table).then(|| {
                (
                    strsim::damerau_levenshtein(leaf, candidate_leaf),
                    candidate.as_str(),
                )
            })
        })
        .filter(|(distance, _)| *distance <= allowed)
        .min()
        .map(|(_, candidate)| candidate)
}

fn quoted(text: &str) -> String {
    format!("{text:?}")
}

/// `line L, column C: <what the parser says>`, without the source line.
fn describe_syntax_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PolicyAction;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"), &no_env)
    }

    const MINIMAL: &str = r#"
        [dingtalk]
        app_key = "key"
        app_secret = "s3cret-value"
        supply_process_codes = ["PROC-1"]
    "#;

    #[track_caller]
    fn check_invalid(extra: &str, key: &str) {
        let text = format!("{extra}\n{MINIMAL}");
        let err = parse(&text).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(key), "{message} should name {key}");
        assert!(message.contains("expected"), "{message}");
        assert!(!message.contains("s3cret-value"), "{message}");
    }

    #[test]
    fn the_example_config_is_valid_and_has_no_unknown_keys() {
        let example = include_str!("../../dingtalk-reconcile.example.toml");
        // An unknown key would be an error.
        let config = parse(example).unwrap();
        assert_eq!(config.timezone, chrono_tz::Asia::Shanghai);
    }

    #[test]
    fn a_minimal_config_gets_the_documented_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.quota.monthly_budget, 4000);
        assert_eq!(config.schedule.cron, DEFAULT_CRON);
        assert_eq!(config.scope, Scope::Departments(vec![1]));
        assert_eq!(config.policy.admin_edit, PolicyAction::Apply);
        assert_eq!(config.policy.unexplained, PolicyAction::Report);
        assert_eq!(
            config.dingtalk.oapi_base_url.as_str(),
            "https://oapi.dingtalk.com/"
        );
        assert_eq!(config.store.path, PathBuf::from(DEFAULT_STORE_PATH));
    }

    #[test]
    fn bad_values_name_their_key_and_what_was_expected() {
        check_invalid("timezone = \"Mars/Olympus\"", "timezone");
        check_invalid("[quota]\nmonthly_budget = -5", "quota.monthly_budget");
        check_invalid("[schedule]\ncron = \"every night\"", "schedule.cron");
        check_invalid("[policy]\nadmin_edit = \"maybe\"", "policy.admin_edit");
        check_invalid("[scope]\nuser_ids = []", "scope.user_ids");
        check_invalid("[scope]\ndepartments = [0]", "scope.departments");
        check_invalid("[[sink]]\nkind = \"pigeon\"", "sink[0].kind");
        check_invalid(
            "[[sink]]\nkind = \"webhook\"\nurl = \"http://hr.example.com/x\"",
            "sink[0].url",
        );
    }

    #[test]
    fn base_urls_must_be_https_unless_loopback() {
        let with_base = |url: &str| format!("{MINIMAL}\noapi_base_url = \"{url}\"");
        assert!(parse(&with_base("http://127.0.0.1:8080")).is_ok());
        assert!(parse(&with_base("http://localhost:8080")).is_ok());
        let err = parse(&with_base("http://oapi.dingtalk.com")).unwrap_err();
        assert!(err.to_string().contains("dingtalk.oapi_base_url"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it_with_the_nearest_known_key() {
        let err = parse(&format!(
            "{MINIMAL}\ncolour = \"red\"\n[quota]\nmonthly_budjet = 3"
        ))
        .unwrap_err();
        assert!(matches!(err, ConfigError::Unknown { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("`quota.monthly_budjet` (did you mean `quota.monthly_budget`?)"),
            "{text}"
        );
        assert!(
            text.contains("`dingtalk.colour`,") || text.contains("`dingtalk.colour`:"),
            "{text}"
        );
        assert!(!text.contains("dingtalk.colour` (did you mean"), "{text}");
        assert_eq!(
            crate::exit::code_for(&anyhow::Error::new(err)),
            crate::exit::CONFIG
        );
    }

    #[test]
    fn unknown_keys_in_sink_and_scope_tables_are_errors_too() {
        let err = parse(&format!(
            "{MINIMAL}\n[scope]\nuser_ids = [\"u1\"]\nteams = [2]\n\
             [[sink]]\nkind = \"file\"\npath = \"out.jsonl\"\nurl = \"https://x.example\"\n\
             [[sink]]\nkind = \"webhook\"\nurl = \"https://hr.example.com/c\"\nsecret_envv = \"X\"\n\
             unsigned = true"
        ))
        .unwrap_err()
        .to_string();
        for named in [
            "`scope.teams`",
            "`sink[0].url`",
            "`sink[1].secret_envv` (did you mean `sink.secret_env`?)",
        ] {
            assert!(err.contains(named), "{named} in {err}");
        }
    }

    #[test]
    fn a_schedule_firing_more_than_four_times_a_day_is_refused_unless_allowed() {
        let every_15_seconds = "[schedule]\ncron = \"*/15 * * * * *\"";
        let err = parse(&format!("{MINIMAL}\n{every_15_seconds}")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("schedule.cron"), "{text}");
        assert!(text.contains("fires 5760 times a day"), "{text}");
        assert!(text.contains("about 103680 a day"), "{text}");
        assert!(text.contains("allow_frequent = true"), "{text}");
        let allowed = parse(&format!(
            "{MINIMAL}\n{every_15_seconds}\nallow_frequent = true"
        ))
        .unwrap();
        assert!(allowed.schedule.allow_frequent);
        // Four a day is fine; five on one weekday only is not.
        assert!(
            parse(&format!(
                "{MINIMAL}\n[schedule]\ncron = \"0 10 2,8,14,20 * * *\""
            ))
            .is_ok()
        );
        let err = parse(&format!(
            "{MINIMAL}\n[schedule]\ncron = \"0 10 1,2,3,4,5 * * 3\""
        ))
        .unwrap_err();
        assert!(err.to_string().contains("fires 5 times a day"), "{err}");
    }

    #[test]
    fn the_example_shows_the_keys_suggestions_come_from() {
        let known = known_keys();
        for key in [
            "timezone",
            "dingtalk.app_secret",
            "scope.user_ids",
            "quota.monthly_budget",
            "sink.unsigned",
            "sink.path",
        ] {
            assert!(known.iter().any(|k| k == key), "{key} in {known:?}");
        }
        assert_eq!(
            did_you_mean("policy.admin_edti", &known),
            Some("policy.admin_edit")
        );
        assert_eq!(did_you_mean("policy.colour", &known), None);
    }

    #[test]
    fn send_defaults_by_kind_and_refuses_what_the_kind_cannot_carry() {
        let robot = "[[sink]]\nname = \"group\"\nkind = \"dingtalk_robot\"\n\
                     webhook_env = \"ROBOT_URL\"\nsecret_env = \"ROBOT_SECRET\"\n";
        let file = "[[sink]]\nname = \"log\"\nkind = \"file\"\npath = \"a\"\n";
        let config = parse(&format!("{MINIMAL}\n{robot}{file}")).unwrap();
        assert_eq!(config.sinks[0].send, vec![Delivers::NightlySummary]);
        assert_eq!(config.sinks[1].send, vec![Delivers::Corrections]);
        assert_eq!(config.report.monthly_day, 3);
        let both = parse(&format!(
            "{MINIMAL}\n{robot}send = [\"monthly_report\", \"nightly_summary\"]\n"
        ))
        .unwrap();
        assert_eq!(
            both.sinks[0].send,
            vec![Delivers::MonthlyReport, Delivers::NightlySummary]
        );
        let err = parse(&format!("{MINIMAL}\n{robot}send = [\"corrections\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sink[0].send"), "{err}");
        assert!(err.contains("\"group\""), "{err}");
        assert!(
            err.contains("accepts \"nightly_summary\", \"monthly_report\""),
            "{err}"
        );
        let err = parse(&format!("{MINIMAL}\n{file}send = [\"nightly_summary\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("accepts \"corrections\""), "{err}");
        let err = parse(&format!("{MINIMAL}\n{file}send = [\"pigeons\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sink[0].send"), "{err}");
        check_invalid("[report]\nmonthly_day = 29", "report.monthly_day");
        check_invalid("[report]\nmonthly_day = 0", "report.monthly_day");
        let err = parse(&format!(
            "{MINIMAL}\n[[sink]]\nkind = \"dingtalk_robot\"\nsecret_env = \"S\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("sink[0].webhook_env"), "{err}");
    }

    #[test]
    fn sink_errors_name_the_entry_and_the_key() {
        let err = parse(&format!(
            "{MINIMAL}\n[[sink]]\nkind = \"file\"\npath = \"a\"\n[[sink]]\nkind = \"webhook\""
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("`sink[1].url` is missing"), "{err}");
        let err = parse(&format!(
            "{MINIMAL}\n[[sink]]\nurl = \"https://hr.example.com/c\""
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("sink[0].kind"), "{err}");
        let twice = "[[sink]]\nname = \"hr\"\nkind = \"file\"\npath = \"a\"\n";
        let err = parse(&format!("{MINIMAL}\n{twice}{twice}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unique"), "{err}");
        check_invalid(
            "[[sink]]\nkind = \"webhook\"\nurl = \"https://x.example\"\nunsigned = true\n\
             timeout_secs = 0",
            "sink[0].timeout_secs",
        );
    }

    #[test]
    fn a_webhook_must_either_sign_or_say_it_sends_unsigned() {
        let webhook = |keys: &str| {
            format!(
                "{MINIMAL}\n[[sink]]\nname = \"hr\"\nkind = \"webhook\"\n\
                 url = \"https://hr.example.com/c\"\n{keys}"
            )
        };
        let err = parse(&webhook("")).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { .. }), "{err:?}");
        let text = err.to_string();
        for named in [
            "sink[0].secret_env",
            "\"hr\"",
            "secret_env",
            "unsigned = true",
        ] {
            assert!(text.contains(named), "{named} in {text}");
        }
        // An empty variable name is no secret either.
        assert!(parse(&webhook("secret_env = \"\"")).is_err());
        let err = parse(&webhook("secret_env = \"HR_SECRET\"\nunsigned = true")).unwrap_err();
        assert!(err.to_string().contains("sink[0].unsigned"), "{err}");
        let err = parse(&webhook("unsigned = \"yes\"")).unwrap_err();
        assert!(err.to_string().contains("sink[0].unsigned"), "{err}");

        assert!(parse(&webhook("secret_env = \"HR_SECRET\"")).is_ok());
        let unsigned = parse(&webhook("unsigned = true")).unwrap();
        let SinkKind::Webhook(sink) = &unsigned.sinks[0].kind else {
            panic!("a webhook sink");
        };
        assert!(sink.secret.is_none());
        // On a file sink the key means nothing: an unknown key.
        let err = parse(&format!(
            "{MINIMAL}\n[[sink]]\nkind = \"file\"\npath = \"a\"\nunsigned = true"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("`sink[0].unsigned`"), "{err}");
    }

    #[test]
    fn the_engine_defaults_are_the_config_defaults() {
        let config = parse(MINIMAL).unwrap();
        let engine = crate::reconcile::RunSettings::new(
            config.timezone,
            config.scope.clone(),
            config.policy.clone(),
        );
        assert_eq!(engine.reconcile, config.reconcile);
        assert_eq!(engine.monthly_budget, config.quota.monthly_budget);
    }

    #[test]
    fn secrets_come_from_the_environment_first_and_never_print() {
        let env = |key: &str| (key == "DINGTALK_APP_SECRET").then(|| "from-env-secret".to_string());
        let config = Config::parse(MINIMAL, Path::new("t.toml"), &env).unwrap();
        assert_eq!(
            config.dingtalk.app_secret.expose_secret(),
            "from-env-secret"
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains("from-env-secret"), "{debug}");
    }

    #[test]
    fn missing_credentials_say_where_to_put_them() {
        let err = parse("[dingtalk]\nsupply_process_codes = [\"P\"]").unwrap_err();
        assert!(err.to_string().contains("DINGTALK_APP_KEY"), "{err}");
    }

    #[test]
    fn a_malformed_or_mistyped_secret_is_never_echoed() {
        let unquoted = "[dingtalk]\napp_key = \"k\"\napp_secret = s3cret-value\n";
        let err = parse(unquoted).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("s3cret-value"), "{err}");
        let numeric =
            "[dingtalk]\napp_key = \"k\"\napp_secret = 918273645\nsupply_process_codes = [\"P\"]\n";
        let err = parse(numeric).unwrap_err().to_string();
        assert!(err.contains("dingtalk.app_secret"), "{err}");
        assert!(!err.contains("918273645"), "{err}");
    }

    #[test]
    fn broken_toml_names_the_file() {
        let err = parse("[dingtalk\napp_key = 1").unwrap_err();
        assert!(err.to_string().contains("test.toml"), "{err}");
    }

    #[test]
    fn wrong_types_fail_rather_than_coerce() {
        let err = parse(&format!("{MINIMAL}\n[quota]\nmonthly_budget = \"lots\"")).unwrap_err();
        assert!(err.to_string().contains("monthly_budget"), "{err}");
    }

    #[test]
    fn database_sinks_read_their_table_columns_and_url_variable() {
        let db = |more: &str| {
            parse(&format!(
                "{MINIMAL}\n[[sink]]\nname = \"hrdb\"\nkind = \"postgres\"\n{more}"
            ))
        };
        let config = db("url_env = \"HR_DB_URL\"").unwrap();
        let SinkKind::Postgres(sink) = &config.sinks[0].kind else {
            panic!("a postgres sink");
        };
        assert_eq!(sink.table.to_string(), "attendance_corrections");
        assert!(sink.columns.is_none());
        let err = db("").unwrap_err().to_string();
        assert!(err.contains("`sink[0].url_env` is missing"), "{err}");
        let err = db("url_env = \"X\"\ntable = \"a; drop table b\"").unwrap_err();
        assert!(err.to_string().contains("sink[0].table"), "{err}");
        let columns = "url_env = \"X\"\ntable = \"hr.kq_buka\"\n[sink.columns]\nkey = \"ext_key\"\n\
                       user_id = \"emp_no\"\nwork_date = \"kq_date\"\ncheck_type = \"kq_type\"\n\
                       corrected_time = \"fix_time\"\nresult = \"result\"\napproval_id = \"flow_no\"\n\
                       class = \"src\"\n";
        assert!(db(columns).is_ok());
        let err = db(&format!("{columns}colour = \"x\"\n")).unwrap_err();
        assert!(
            err.to_string().contains("`sink[0].columns.colour`"),
            "{err}"
        );
        let err = db(&columns.replace("\"src\"", "\"1src\"")).unwrap_err();
        assert!(err.to_string().contains("sink[0].columns.class"), "{err}");
        let err = db(&columns.replace("\"src\"", "\"emp_no\"")).unwrap_err();
        assert!(err.to_string().contains("named twice"), "{err}");
        let err = db(&columns.replace("class = \"src\"\n", "")).unwrap_err();
        assert!(err.to_string().contains("sink[0].columns.class"), "{err}");
        assert!(db("url_env = \"X\"\nsend = [\"corrections\"]").is_ok());
        let err = db("url_env = \"X\"\nsend = [\"monthly_report\"]").unwrap_err();
        assert!(err.to_string().contains("sink[0].send"), "{err}");
        let err = db("url_env = \"X\"\nunsigned = true").unwrap_err();
        assert!(err.to_string().contains("`sink[0].unsigned`"), "{err}");
    }

    #[test]
    fn a_database_sink_without_its_url_variable_is_a_config_error_naming_both() {
        let config = parse(&format!(
            "{MINIMAL}\n[[sink]]\nname = \"hrdb\"\nkind = \"mysql\"\nurl_env = \"HR_DB_URL\""
        ))
        .unwrap();
        let err = SinkConfig::from_setting(&config.sinks[0], |_| None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("hrdb") && text.contains("HR_DB_URL"),
            "{text}"
        );
        let err = SinkConfig::from_setting(&config.sinks[0], |_| {
            Some("postgres://u:pw-xyz@h/db".into())
        })
        .unwrap_err();
        assert!(!err.to_string().contains("pw-xyz"), "{err}");
        let sink =
            SinkConfig::from_setting(&config.sinks[0], |_| Some("mysql://u:pw-xyz@h/db".into()))
                .unwrap();
        assert!(!format!("{sink:?}").contains("pw-xyz"));
    }

    #[test]
    fn an_email_sink_is_read_with_its_defaults_and_its_rules() {
        let email = |keys: &str| {
            format!(
                "{MINIMAL}\n[[sink]]\nname = \"hr-mail\"\nkind = \"email\"\n\
                 from = \"考勤核对 <reconcile@example.com>\"\n{keys}"
            )
        };
        let config = parse(&email(
            "smtp_host = \"smtp.example.com\"\nto = [\"人事部 <hr@example.com>\"]\n\
             username = \"reconcile\"\npassword_env = \"SMTP_PASSWORD\"",
        ))
        .unwrap();
        let SinkKind::Email(sink) = &config.sinks[0].kind else {
            panic!("an email sink");
        };
        assert_eq!(sink.tls, crate::sink::EmailTls::Starttls);
        assert_eq!(sink.port(), 587);
        assert_eq!(sink.timeout, default_sink_timeout());
        assert_eq!(sink.to[0].email.to_string(), "hr@example.com");
        let resolved = SinkConfig::from_setting(&config.sinks[0], |var| {
            (var == "SMTP_PASSWORD").then(|| "smtp-s3cret".to_owned())
        })
        .unwrap();
        assert!(!format!("{resolved:?}").contains("smtp-s3cret"));
        let err = SinkConfig::from_setting(&config.sinks[0], |_| None).unwrap_err();
        assert!(err.to_string().contains("SMTP_PASSWORD"), "{err}");

        let tls = parse(&email(
            "smtp_host = \"smtp.example.com\"\nto = [\"a@example.com\"]\ntls = \"tls\"",
        ))
        .unwrap();
        let SinkKind::Email(sink) = &tls.sinks[0].kind else {
            panic!("an email sink");
        };
        assert_eq!(sink.port(), 465);
        assert!(
            parse(&email("smtp_host = \"127.0.0.1\"\nsmtp_port = 2525\nto = [\"a@example.com\"]\ntls = \"none\""))
                .is_ok()
        );

        let refused = |keys: &str, key: &str, words: &str| {
            let err = parse(&email(keys)).unwrap_err().to_string();
            assert!(err.contains(key), "{err} should name {key}");
            assert!(err.contains(words), "{err} should say {words}");
        };
        refused(
            "smtp_host = \"smtp.example.com\"\nto = [\"a@example.com\"]\ntls = \"none\"",
            "sink[0].tls",
            "loopback",
        );
        refused(
            "smtp_host = \"smtp.example.com\"\nto = [\"a@example.com\"]\nusername = \"u\"",
            "sink[0].password_env",
            "environment variable",
        );
        refused(
            "smtp_host = \"smtp.example.com\"\nto = []",
            "sink[0].to",
            "at least one",
        );
        refused(
            "smtp_host = \"smtp.example.com\"\nto = [\"not a mailbox\"]",
            "sink[0].to",
            "mailbox",
        );
        refused(
            "to = [\"a@example.com\"]",
            "sink[0].smtp_host",
            "SMTP server",
        );
        refused(
            "smtp_host = \"smtp.example.com\"\nto = [\"a@example.com\"]\ntls = \"ssl\"",
            "sink[0].tls",
            "starttls",
        );
        refused(
            "smtp_host = \"smtp.example.com\"\nto = [\"a@example.com\"]\npasword_env = \"X\"",
            "sink[0].pasword_env",
            "did you mean `sink.password_env`",
        );
    }
}
