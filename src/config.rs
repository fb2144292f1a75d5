//! The configuration file (PRODUCT.md section 6), in two stages.
//!
//! [`RawConfig`] is what the user wrote, read with serde from TOML. [`Config`] is validated and
//! parsed: time zone, URLs, cron expression, policies, user ids, secrets. Every bad value fails
//! with the key's dotted name and what was expected; unknown keys produce warnings (returned in
//! [`Config::warnings`], the caller logs them) rather than errors, so a config written for a newer
//! version still runs. Secrets may come from the environment (`DINGTALK_APP_KEY`,
//! `DINGTALK_APP_SECRET`) and are held as [`SecretString`], never printed.
//!
//! This module does no logging and reads no clock; environment access goes through a lookup
//! function so tests can inject it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::domain::{Policy, PolicyAction, UserId};

/// The example configuration shipped with the binary and the README.
pub const EXAMPLE_CONFIG: &str = include_str!("../dingtalk-reconcile.example.toml");

/// Default store file, relative to the working directory.
pub const DEFAULT_STORE_PATH: &str = "dingtalk-reconcile.db";

/// Default schedule: 02:10 every night, off the top of the hour as DingTalk asks.
pub const DEFAULT_CRON: &str = "0 10 2 * * *";

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
    #[error("config key `{key}` is missing: {hint}")]
    Missing { key: String, hint: String },
}

impl ConfigError {
    fn invalid(key: &str, expected: &str, found: impl std::fmt::Display) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            expected: expected.to_owned(),
            found: found.to_string(),
        }
    }
}

/// The file as written. Every field is optional here; defaults and checks live in [`Config`].
#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    pub timezone: Option<String>,
    #[serde(default)]
    pub dingtalk: RawDingTalk,
    #[serde(default)]
    pub scope: RawScope,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub quota: RawQuota,
    #[serde(default)]
    pub schedule: RawSchedule,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub reconcile: RawReconcile,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub sink: Vec<RawSink>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawDingTalk {
    pub app_key: Option<String>,
    /// Read as any value so that a wrongly typed secret is refused without being echoed.
    pub app_secret: Option<toml::Value>,
    pub oapi_base_url: Option<String>,
    pub api_base_url: Option<String>,
    pub supply_process_codes: Option<Vec<String>>,
    pub admin_user_id: Option<String>,
    pub token_source: Option<String>,
    pub qps_per_api: Option<i64>,
    pub max_concurrency: Option<i64>,
    pub request_timeout_secs: Option<i64>,
    pub ip_ban_wait_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawScope {
    pub departments: Option<Vec<i64>>,
    pub user_ids: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawStore {
    pub path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawQuota {
    pub monthly_budget: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawSchedule {
    pub cron: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawPolicy {
    pub admin_edit: Option<String>,
    pub unexplained: Option<String>,
    pub vanished: Option<String>,
    pub pending_anomaly_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawReconcile {
    pub window_days: Option<i64>,
    pub approval_lookback_days: Option<i64>,
    pub settle_hours: Option<i64>,
    pub sync_after_hours: Option<i64>,
    pub scan_every_nights: Option<i64>,
    pub open_slot_horizon_days: Option<i64>,
    pub listing_lag_hours: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawMetrics {
    pub textfile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawSink {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub url: Option<String>,
    pub secret_env: Option<String>,
    pub path: Option<String>,
    pub timeout_secs: Option<i64>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub timezone: Tz,
    pub dingtalk: DingTalkSettings,
    pub scope: ScopeSetting,
    pub store_path: PathBuf,
    pub monthly_budget: u64,
    pub cron: String,
    pub policy: Policy,
    pub reconcile: ReconcileSettings,
    pub metrics_textfile: Option<PathBuf>,
    pub sinks: Vec<SinkSetting>,
    /// Unknown keys and other non-fatal remarks, for the caller to log.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DingTalkSettings {
    pub app_key: String,
    pub app_secret: SecretString,
    pub oapi_base_url: Url,
    pub api_base_url: Url,
    pub supply_process_codes: Option<Vec<String>>,
    pub admin_user_id: Option<UserId>,
    /// `true` to fetch tokens from the legacy `/gettoken`.
    pub legacy_gettoken: bool,
    pub qps_per_api: u32,
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    /// `None`: give up when DingTalk bans our IP; `Some(d)`: wait up to `d`.
    pub ip_ban_wait: Option<Duration>,
}

/// Who is in scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeSetting {
    Departments(Vec<i64>),
    Users(Vec<UserId>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// Trailing work days re-polled by a nightly run.
    pub window_days: u32,
    /// Trailing creation window for listing 补卡 approvals.
    pub approval_lookback_days: u32,
    /// Hours after a check point during which DingTalk may still settle its result.
    pub settle_hours: u32,
    /// A work date is read once, this many hours after it ends (when DingTalk has settled it).
    pub sync_after_hours: u32,
    /// Open (not signed) slots are scanned through raw punches every this many nights.
    pub scan_every_nights: u32,
    /// A not-signed slot older than this many days is no longer watched for a 补卡.
    pub open_slot_horizon_days: u32,
    /// A creation window of approvals is listed once, this many hours after it closes.
    pub listing_lag_hours: u32,
}

#[derive(Debug, Clone)]
pub struct SinkSetting {
    pub name: String,
    pub kind: SinkKindSetting,
}

#[derive(Debug, Clone)]
pub enum SinkKindSetting {
    Webhook {
        url: Url,
        /// Name of the environment variable holding the signing secret.
        secret_env: Option<String>,
        timeout: Duration,
    },
    File {
        path: PathBuf,
    },
}

/// The keys this version knows, for unknown-key warnings. `sink` entries are checked per item.
const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "timezone",
            "dingtalk",
            "scope",
            "store",
            "quota",
            "schedule",
            "policy",
            "reconcile",
            "metrics",
            "sink",
        ],
    ),
    (
        "dingtalk",
        &[
            "app_key",
            "app_secret",
            "oapi_base_url",
            "api_base_url",
            "supply_process_codes",
            "admin_user_id",
            "token_source",
            "qps_per_api",
            "max_concurrency",
            "request_timeout_secs",
            "ip_ban_wait_secs",
        ],
    ),
    ("scope", &["departments", "user_ids"]),
    ("store", &["path"]),
    ("quota", &["monthly_budget"]),
    ("schedule", &["cron"]),
    (
        "policy",
        &[
            "admin_edit",
            "unexplained",
            "vanished",
            "pending_anomaly_days",
        ],
    ),
    (
        "reconcile",
        &[
            "window_days",
            "approval_lookback_days",
            "settle_hours",
            "sync_after_hours",
            "scan_every_nights",
            "open_slot_horizon_days",
            "listing_lag_hours",
        ],
    ),
    ("metrics", &["textfile"]),
    (
        "sink",
        &["name", "kind", "url", "secret_env", "path", "timeout_secs"],
    ),
];

impl Config {
    /// Reads and validates a config file. `env` looks up environment variables (pass
    /// `|k| std::env::var(k).ok()` in production).
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
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
        let syntax = |message: String| ConfigError::Syntax {
            path: origin.to_owned(),
            message,
        };
        // The message is rebuilt from the position and the parser's own words: toml's display
        // quotes the offending line, which may hold the app secret.
        let value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| syntax(describe_syntax_error(text, &e)))?;
        let warnings = unknown_keys(&value);
        let raw: RawConfig = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| syntax(e.to_string()))?;
        let mut config = Config::validate(raw, env)?;
        config.warnings.extend(warnings);
        Ok(config)
    }

    /// The second stage: every value checked, defaults filled in.
    pub fn validate(
        raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let timezone = match raw.timezone.as_deref() {
            None => chrono_tz::Asia::Shanghai,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                ConfigError::invalid(
                    "timezone",
                    "an IANA time zone such as \"Asia/Shanghai\"",
                    quoted(name),
                )
            })?,
        };
        let dingtalk = validate_dingtalk(raw.dingtalk, env)?;
        let scope = validate_scope(raw.scope)?;
        let store_path = PathBuf::from(
            non_empty("store.path", raw.store.path)?.unwrap_or_else(|| DEFAULT_STORE_PATH.into()),
        );
        let monthly_budget = bounded(
            "quota.monthly_budget",
            raw.quota.monthly_budget,
            4000,
            1,
            10_000_000,
        )?;
        let cron = raw.schedule.cron.unwrap_or_else(|| DEFAULT_CRON.to_owned());
        parse_cron(&cron).map_err(|reason| {
            ConfigError::invalid(
                "schedule.cron",
                &format!("a cron expression with seconds, like \"{DEFAULT_CRON}\" ({reason})"),
                quoted(&cron),
            )
        })?;
        let policy = Policy {
            admin_edit: policy_action(
                "policy.admin_edit",
                raw.policy.admin_edit,
                PolicyAction::Apply,
            )?,
            unexplained: policy_action(
                "policy.unexplained",
                raw.policy.unexplained,
                PolicyAction::Report,
            )?,
            vanished: policy_action("policy.vanished", raw.policy.vanished, PolicyAction::Report)?,
            pending_anomaly_days: bounded(
                "policy.pending_anomaly_days",
                raw.policy.pending_anomaly_days,
                3,
                0,
                365,
            )? as u32,
        };
        let reconcile = ReconcileSettings {
            window_days: bounded("reconcile.window_days", raw.reconcile.window_days, 7, 1, 60)?
                as u32,
            approval_lookback_days: bounded(
                "reconcile.approval_lookback_days",
                raw.reconcile.approval_lookback_days,
                45,
                1,
                365,
            )? as u32,
            settle_hours: bounded(
                "reconcile.settle_hours",
                raw.reconcile.settle_hours,
                24,
                0,
                24 * 7,
            )? as u32,
            sync_after_hours: bounded(
                "reconcile.sync_after_hours",
                raw.reconcile.sync_after_hours,
                24,
                0,
                24 * 7,
            )? as u32,
            scan_every_nights: bounded(
                "reconcile.scan_every_nights",
                raw.reconcile.scan_every_nights,
                3,
                1,
                14,
            )? as u32,
            open_slot_horizon_days: bounded(
                "reconcile.open_slot_horizon_days",
                raw.reconcile.open_slot_horizon_days,
                45,
                7,
                180,
            )? as u32,
            listing_lag_hours: bounded(
                "reconcile.listing_lag_hours",
                raw.reconcile.listing_lag_hours,
                72,
                0,
                24 * 14,
            )? as u32,
        };
        let metrics_textfile =
            non_empty("metrics.textfile", raw.metrics.textfile)?.map(PathBuf::from);
        let sinks = raw
            .sink
            .into_iter()
            .enumerate()
            .map(|(index, sink)| validate_sink(index, sink))
            .collect::<Result<Vec<_>, _>>()?;
        let mut names = BTreeSet::new();
        for sink in &sinks {
            if !names.insert(sink.name.clone()) {
                return Err(ConfigError::invalid(
                    "sink.name",
                    "a name unique among [[sink]] entries",
                    quoted(&sink.name),
                ));
            }
        }
        Ok(Config {
            timezone,
            dingtalk,
            scope,
            store_path,
            monthly_budget,
            cron,
            policy,
            reconcile,
            metrics_textfile,
            sinks,
            warnings: Vec::new(),
        })
    }
}

/// Parses a six-field cron expression (seconds first), as the daemon's scheduler does.
pub fn parse_cron(expression: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
        .map_err(|e| e.to_string())
}

fn validate_dingtalk(
    raw: RawDingTalk,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<DingTalkSettings, ConfigError> {
    let app_key = env("DINGTALK_APP_KEY")
        .filter(|v| !v.is_empty())
        .or(raw.app_key.filter(|v| !v.is_empty()))
        .ok_or_else(|| ConfigError::Missing {
            key: "dingtalk.app_key".into(),
            hint: "set it in the file or in the environment variable DINGTALK_APP_KEY".into(),
        })?;
    let file_secret = match raw.app_secret {
        None => None,
        Some(toml::Value::String(secret)) => Some(secret),
        Some(other) => {
            return Err(ConfigError::invalid(
                "dingtalk.app_secret",
                "a string",
                format!("a {} (value not shown)", other.type_str()),
            ));
        }
    };
    let app_secret = env("DINGTALK_APP_SECRET")
        .filter(|v| !v.is_empty())
        .or(file_secret.filter(|v| !v.is_empty()))
        .map(SecretString::from)
        .ok_or_else(|| ConfigError::Missing {
            key: "dingtalk.app_secret".into(),
            hint: "set it in the file or in the environment variable DINGTALK_APP_SECRET".into(),
        })?;
    let oapi_base_url = base_url(
        "dingtalk.oapi_base_url",
        raw.oapi_base_url,
        "https://oapi.dingtalk.com",
    )?;
    let api_base_url = base_url(
        "dingtalk.api_base_url",
        raw.api_base_url,
        "https://api.dingtalk.com",
    )?;
    let supply_process_codes = match raw.supply_process_codes {
        None => None,
        Some(codes) if codes.is_empty() => None,
        Some(codes) => {
            for code in &codes {
                if code.trim().is_empty() || code.chars().any(char::is_whitespace) {
                    return Err(ConfigError::invalid(
                        "dingtalk.supply_process_codes",
                        "process codes such as \"PROC-…\" without spaces",
                        quoted(code),
                    ));
                }
            }
            Some(codes)
        }
    };
    let admin_user_id = match raw.admin_user_id {
        None => None,
        Some(raw_id) => Some(UserId::new(raw_id.clone()).map_err(|_| {
            ConfigError::invalid(
                "dingtalk.admin_user_id",
                "a DingTalk user id (a string)",
                quoted(&raw_id),
            )
        })?),
    };
    if supply_process_codes.is_none() && admin_user_id.is_none() {
        return Err(ConfigError::Missing {
            key: "dingtalk.supply_process_codes".into(),
            hint: "list the 补卡 process codes, or set dingtalk.admin_user_id to an OA admin so they can be discovered".into(),
        });
    }
    let legacy_gettoken = match raw.token_source.as_deref() {
        None | Some("oauth2") => false,
        Some("gettoken") => true,
        Some(other) => {
            return Err(ConfigError::invalid(
                "dingtalk.token_source",
                "\"oauth2\" or \"gettoken\"",
                quoted(other),
            ));
        }
    };
    Ok(DingTalkSettings {
        app_key,
        app_secret,
        oapi_base_url,
        api_base_url,
        supply_process_codes,
        admin_user_id,
        legacy_gettoken,
        qps_per_api: bounded("dingtalk.qps_per_api", raw.qps_per_api, 19, 1, 1000)? as u32,
        max_concurrency: bounded("dingtalk.max_concurrency", raw.max_concurrency, 8, 1, 64)?
            as usize,
        request_timeout: Duration::from_secs(bounded(
            "dingtalk.request_timeout_secs",
            raw.request_timeout_secs,
            15,
            1,
            600,
        )?),
        ip_ban_wait: match raw.ip_ban_wait_secs {
            None | Some(0) => None,
            Some(_) => Some(Duration::from_secs(bounded(
                "dingtalk.ip_ban_wait_secs",
                raw.ip_ban_wait_secs,
                0,
                0,
                3600,
            )?)),
        },
    })
}

fn validate_scope(raw: RawScope) -> Result<ScopeSetting, ConfigError> {
    match (raw.departments, raw.user_ids) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            "scope",
            "either `departments` or `user_ids`, not both",
            "both",
        )),
        (None, Some(ids)) => {
            if ids.is_empty() {
                return Err(ConfigError::invalid(
                    "scope.user_ids",
                    "at least one user id",
                    "[]",
                ));
            }
            let users = ids
                .into_iter()
                .map(|id| {
                    UserId::new(id.clone()).map_err(|_| {
                        ConfigError::invalid(
                            "scope.user_ids",
                            "DingTalk user ids (strings)",
                            quoted(&id),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ScopeSetting::Users(users))
        }
        (departments, None) => {
            let departments = departments.unwrap_or_else(|| vec![1]);
            if departments.is_empty() || departments.iter().any(|&d| d < 1) {
                return Err(ConfigError::invalid(
                    "scope.departments",
                    "a non-empty list of positive department ids (root = 1)",
                    format!("{departments:?}"),
                ));
            }
            Ok(ScopeSetting::Departments(departments))
        }
    }
}

fn validate_sink(index: usize, raw: RawSink) -> Result<SinkSetting, ConfigError> {
    let name = raw.name.unwrap_or_else(|| format!("sink{}", index + 1));
    let kind = match raw.kind.as_deref() {
        Some("webhook") => {
            let url_text = raw.url.ok_or_else(|| ConfigError::Missing {
                key: format!("sink[{index}].url"),
                hint: "a webhook sink needs the URL corrections are POSTed to".into(),
            })?;
            let url = parse_url(&format!("sink[{index}].url"), &url_text)?;
            SinkKindSetting::Webhook {
                url,
                secret_env: raw.secret_env.filter(|v| !v.is_empty()),
                timeout: Duration::from_secs(bounded(
                    &format!("sink[{index}].timeout_secs"),
                    raw.timeout_secs,
                    10,
                    1,
                    600,
                )?),
            }
        }
        Some("file") => {
            let path = non_empty(&format!("sink[{index}].path"), raw.path)?.ok_or_else(|| {
                ConfigError::Missing {
                    key: format!("sink[{index}].path"),
                    hint: "a file sink needs the path it appends JSON lines to".into(),
                }
            })?;
            SinkKindSetting::File { path: path.into() }
        }
        other => {
            return Err(ConfigError::invalid(
                &format!("sink[{index}].kind"),
                "\"webhook\" or \"file\"",
                other.map(quoted).unwrap_or_else(|| "nothing".into()),
            ));
        }
    };
    Ok(SinkSetting { name, kind })
}

fn base_url(key: &str, raw: Option<String>, default: &str) -> Result<Url, ConfigError> {
    let text = raw.unwrap_or_else(|| default.to_owned());
    parse_url(key, &text)
}

/// URLs must be `https`, except on loopback (the simulator, a local receiver).
fn parse_url(key: &str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| {
        ConfigError::invalid(
            key,
            "an absolute URL such as \"https://…\"",
            format!("{} ({e})", quoted(text)),
        )
    })?;
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(ConfigError::invalid(
            key,
            "an https URL (plain http only on loopback)",
            quoted(text),
        )),
    }
}

fn policy_action(
    key: &str,
    raw: Option<String>,
    default: PolicyAction,
) -> Result<PolicyAction, ConfigError> {
    match raw.as_deref() {
        None => Ok(default),
        Some("apply") => Ok(PolicyAction::Apply),
        Some("report") => Ok(PolicyAction::Report),
        Some(other) => Err(ConfigError::invalid(
            key,
            "\"apply\" or \"report\"",
            quoted(other),
        )),
    }
}

fn bounded(
    key: &str,
    raw: Option<i64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match raw {
        None => Ok(default),
        Some(value) if value >= 0 && (value as u64) >= min && (value as u64) <= max => {
            Ok(value as u64)
        }
        Some(value) => Err(ConfigError::invalid(
            key,
            &format!("an integer from {min} to {max}"),
            value,
        )),
    }
}

fn non_empty(key: &str, raw: Option<String>) -> Result<Option<String>, ConfigError> {
    match raw {
        Some(value) if value.trim().is_empty() => {
            Err(ConfigError::invalid(key, "a non-empty path", "\"\""))
        }
        other => Ok(other),
    }
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

fn unknown_keys(table: &toml::Table) -> Vec<String> {
    let known = |section: &str| {
        KNOWN_KEYS
            .iter()
            .find(|(name, _)| *name == section)
            .map(|(_, keys)| *keys)
            .unwrap_or(&[])
    };
    let mut warnings = Vec::new();
    let mut check = |section: &str, table: &toml::Table| {
        for key in table.keys() {
            if !known(section).contains(&key.as_str()) {
                let dotted = if section.is_empty() {
                    key.clone()
                } else {
                    format!("{section}.{key}")
                };
                warnings.push(format!("unknown config key `{dotted}` ignored"));
            }
        }
    };
    check("", table);
    for (section, value) in table {
        match value {
            toml::Value::Table(inner) if section != "sink" => check(section, inner),
            toml::Value::Array(items) if section == "sink" => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        check("sink", inner);
                    }
                }
            }
            _ => {}
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

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
        let config = parse(EXAMPLE_CONFIG).unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        assert_eq!(config.timezone, chrono_tz::Asia::Shanghai);
    }

    #[test]
    fn a_minimal_config_gets_the_documented_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.monthly_budget, 4000);
        assert_eq!(config.cron, DEFAULT_CRON);
        assert_eq!(config.scope, ScopeSetting::Departments(vec![1]));
        assert_eq!(config.policy.admin_edit, PolicyAction::Apply);
        assert_eq!(config.policy.unexplained, PolicyAction::Report);
        assert_eq!(
            config.dingtalk.oapi_base_url.as_str(),
            "https://oapi.dingtalk.com/"
        );
        assert_eq!(config.store_path, PathBuf::from(DEFAULT_STORE_PATH));
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
    fn unknown_keys_warn_instead_of_failing() {
        let config = parse(&format!(
            "{MINIMAL}\ncolour = \"red\"\n[quota]\nmonthly_budgte = 3"
        ))
        .unwrap();
        for expected in [
            "unknown config key `quota.monthly_budgte` ignored",
            "unknown config key `dingtalk.colour` ignored",
        ] {
            assert!(
                config.warnings.iter().any(|w| w == expected),
                "{:?}",
                config.warnings
            );
        }
        assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
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
}
