//! Deserializers for values serde cannot take as they are written: a time zone name, a cron
//! expression, a URL that must be https unless on loopback, user ids, the scope's either/or, the
//! app secret.
//!
//! Each refuses a bad value with `expected …, found …`; the TOML deserializer appends the key's
//! dotted path, which [`super::ConfigError::from_toml`] turns into the key the message names.
//! None of them echoes the app secret.

use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{Deserializer, Error};
use url::Url;

use crate::dingtalk::{Scope, TokenSource};
use crate::domain::UserId;

fn refuse<E: Error>(expected: &str, found: impl std::fmt::Display) -> E {
    E::custom(format!("expected {expected}, found {found}"))
}

fn quoted(text: &str) -> String {
    format!("{text:?}")
}

pub(crate) fn timezone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse::<Tz>()
        .map_err(|_| refuse("an IANA time zone such as \"Asia/Shanghai\"", quoted(&name)))
}

pub(crate) fn cron<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let expression = String::deserialize(deserializer)?;
    match super::parse_cron(&expression) {
        Ok(_) => Ok(expression),
        Err(reason) => Err(refuse(
            &format!(
                "a cron expression with seconds, like \"{}\" ({reason})",
                super::DEFAULT_CRON
            ),
            quoted(&expression),
        )),
    }
}

/// A URL that is `https`, or plain `http` on loopback (the simulator, a local receiver).
pub(crate) fn https_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Url, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_url(&text).map_err(|(expected, found)| refuse(expected, found))
}

fn parse_url(text: &str) -> Result<Url, (&'static str, String)> {
    let url = Url::parse(text).map_err(|e| {
        (
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
        _ => Err(("an https URL (plain http only on loopback)", quoted(text))),
    }
}

/// A path that is not blank.
pub(crate) fn path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Err(refuse("a non-empty path", "\"\""));
    }
    Ok(PathBuf::from(text))
}

pub(crate) fn optional_path<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PathBuf>, D::Error> {
    path(deserializer).map(Some)
}

/// Whole seconds, as `timeout_secs` and its kin are written.
pub(crate) fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

pub(crate) fn token_source<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<TokenSource, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "oauth2" => Ok(TokenSource::V1OAuth2),
        "gettoken" => Ok(TokenSource::LegacyGettoken),
        other => Err(refuse("\"oauth2\" or \"gettoken\"", quoted(other))),
    }
}

/// The app secret: any TOML value is read, so that a wrongly typed one is refused without
/// being echoed (serde's own message would quote it).
pub(crate) fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    match toml::Value::deserialize(deserializer)? {
        toml::Value::String(secret) => Ok(SecretString::from(secret)),
        other => Err(refuse(
            "a string",
            format!("a {} (value not shown)", other.type_str()),
        )),
    }
}

fn user_id<E: Error>(raw: String, expected: &str) -> Result<UserId, E> {
    UserId::new(raw.clone()).map_err(|_| refuse(expected, quoted(&raw)))
}

pub(crate) fn optional_user_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<UserId>, D::Error> {
    let raw = String::deserialize(deserializer)?;
    user_id(raw, "a DingTalk user id (a string)").map(Some)
}

fn user_ids<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<UserId>>, D::Error> {
    let ids = Vec::<String>::deserialize(deserializer)?;
    if ids.is_empty() {
        return Err(refuse("at least one user id", "[]"));
    }
    ids.into_iter()
        .map(|id| user_id(id, "DingTalk user ids (strings)"))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn departments<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<i64>>, D::Error> {
    let departments = Vec::<i64>::deserialize(deserializer)?;
    if departments.is_empty() || departments.iter().any(|&d| d < 1) {
        return Err(refuse(
            "a non-empty list of positive department ids (root = 1)",
            format!("{departments:?}"),
        ));
    }
    Ok(Some(departments))
}

/// The `[scope]` table: `departments` or `user_ids`, not both; neither means the whole company.
pub(crate) fn scope<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Scope, D::Error> {
    #[derive(Deserialize)]
    struct ScopeTable {
        #[serde(default, deserialize_with = "departments")]
        departments: Option<Vec<i64>>,
        #[serde(default, deserialize_with = "user_ids")]
        user_ids: Option<Vec<UserId>>,
    }
    let table = ScopeTable::deserialize(deserializer)?;
    match (table.departments, table.user_ids) {
        (Some(_), Some(_)) => Err(refuse(
            "either `departments` or `user_ids`, not both",
            "both",
        )),
        (Some(departments), None) => Ok(Scope::Departments(departments)),
        (None, Some(users)) => Ok(Scope::Users(users)),
        (None, None) => Ok(super::default_scope()),
    }
}
