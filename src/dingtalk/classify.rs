//! Turning one HTTP answer into a call outcome (for metering) and a result (for the caller).
//!
//! The IP-ban page is recognised before any envelope is decoded; then each family's envelope is
//! read: `oapi` answers HTTP 200 with `errcode`, `api` answers 4xx/5xx with `{code, message}`.
//! Codes map to [`Error`] variants per dingtalk-api.md section 9. This module is pure: no IO, no
//! retry decision, no state (the caller sets the quota flag and the ban latch).
//!
//! # The IP-ban page, and other HTML
//!
//! DingTalk documents its IP ban as "an HTML page or `{"status":1111,"wait":5,"source":"x5",
//! "punish":"deny",…}`" (dingtalk-api.md section 8). The JSON form is unambiguous. An HTML page
//! (a body starting with `<` after blanks and a BOM, below HTTP 500) is taken for the ban only
//! when it carries one of the ban page's markers: those of Alibaba's anti-abuse gateway that the
//! JSON form names (`punish`, `x5sec`, `_____tmd_____`) or the ban's own wording (`过于频繁`,
//! "too frequent"). The wording "access denied" (`访问被拒绝`) is not a marker: any firewall
//! may say it.
//! Any other HTML — a captive portal, a proxy's or firewall's error page — is
//! [`Error::HtmlPage`]: not DingTalk's answer, not metered, retried a few times like any
//! transient error, then the item fails. When unsure, a page is *not* a ban: a ban stops every
//! further call of the run and blames DingTalk, while a missed ban costs each item a few
//! unmetered attempts. HTML on HTTP 5xx stays a server error (a gateway failing).
//!
//! # HTTP 429
//!
//! DingTalk documents its QPS throttling as HTTP 403 (api) or `90018` (oapi), but a gateway in
//! front of it may answer 429 with a JSON body of its own (`{"code":"Throttling",…}`). Any 429 is
//! throttling (not metered, retried after the throttle delay) unless its code says the monthly
//! quota is spent or DingTalk is busy (`system.busy`, which keeps its documented handling).

use std::time::Duration;

use serde_json::Value;

use super::error::{Error, permission_point, redact};
use crate::domain::CallOutcome;

/// Which envelope an endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `oapi.dingtalk.com`: token in the query, HTTP 200 + `errcode`.
    Oapi,
    /// `api.dingtalk.com`: token in a header, HTTP status + `{code, message}`.
    Api,
}

/// How long DingTalk bans an IP when the ban page does not say (dingtalk-api.md section 8).
const DEFAULT_BAN: Duration = Duration::from_secs(5 * 60);

/// Classifies one answer. `token_endpoint` tells `40001` (bad secret) from a bad token.
pub(crate) fn classify(
    family: Family,
    endpoint: &str,
    status: u16,
    body: &[u8],
    token_endpoint: bool,
) -> (CallOutcome, Result<Value, Error>) {
    let banned = |wait| {
        (
            CallOutcome::IpBanned,
            Err(Error::IpBanned {
                endpoint: endpoint.to_owned(),
                wait,
            }),
        )
    };
    if let Some(wait) = ip_ban_json(body) {
        return banned(wait);
    }
    if status < 500
        && let Some(page) = html_page(body)
    {
        if page.is_ban_page() {
            return banned(DEFAULT_BAN);
        }
        return (
            CallOutcome::HtmlPage,
            Err(Error::HtmlPage {
                endpoint: endpoint.to_owned(),
                status,
                title: page.title(),
            }),
        );
    }
    if status >= 500 {
        return (
            CallOutcome::ServerError(status),
            Err(Error::Server {
                endpoint: endpoint.to_owned(),
                status,
            }),
        );
    }
    if status == 429 {
        return too_many_requests(endpoint, body, token_endpoint);
    }
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(err) => {
            let detail = format!("HTTP {status}, {} bytes, not JSON ({err})", body.len());
            return (
                CallOutcome::Malformed,
                Err(Error::Malformed {
                    endpoint: endpoint.to_owned(),
                    detail,
                }),
            );
        }
    };
    let failure = match family {
        Family::Oapi => oapi_failure(&parsed, status),
        Family::Api => api_failure(&parsed, status),
    };
    match failure {
        None if (200..300).contains(&status) => (CallOutcome::Ok, Ok(parsed)),
        None => {
            let code = format!("HTTP {status}");
            (
                CallOutcome::Error(code.clone()),
                Err(code_error(endpoint, &code, "", token_endpoint)),
            )
        }
        Some((code, message)) => {
            failed(code_error(endpoint, &code, &message, token_endpoint), code)
        }
    }
}

/// The outcome of a classified failure.
fn failed(error: Error, code: String) -> (CallOutcome, Result<Value, Error>) {
    let outcome = match &error {
        Error::Throttled { .. } => CallOutcome::Throttled,
        Error::QuotaExhausted { .. } => CallOutcome::QuotaExhausted,
        _ => CallOutcome::Error(code),
    };
    (outcome, Err(error))
}

/// HTTP 429, whatever its body: throttling, unless a JSON code says the quota is spent or
/// DingTalk is busy.
fn too_many_requests(
    endpoint: &str,
    body: &[u8],
    token_endpoint: bool,
) -> (CallOutcome, Result<Value, Error>) {
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|json| {
            ["code", "errcode"]
                .iter()
                .find_map(|key| match json.get(key)? {
                    Value::String(text) => Some(text.clone()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                })
        })
        .filter(|code| !code.is_empty() && code != "0");
    let throttled = || {
        (
            CallOutcome::Throttled,
            Err(Error::Throttled {
                endpoint: endpoint.to_owned(),
                code: match &code {
                    Some(code) => format!("HTTP 429 {}", redact(code)),
                    None => "HTTP 429".to_owned(),
                },
            }),
        )
    };
    let Some(code) = code.clone() else {
        return throttled();
    };
    match code_error(endpoint, &code, "", token_endpoint) {
        error @ (Error::QuotaExhausted { .. } | Error::Busy { .. }) => failed(error, code),
        _ => throttled(),
    }
}

/// The ban JSON: `status: 1111` (`wait` in minutes).
fn ip_ban_json(body: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(body).ok()?.trim_start();
    if !text.starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let status = value.get("status")?;
    let is_ban = status.as_i64() == Some(1111) || status.as_str() == Some("1111");
    if !is_ban {
        return None;
    }
    let minutes = value
        .get("wait")
        .and_then(|wait| super::decode::lenient_i64(wait).ok().flatten());
    Some(minutes.map_or(DEFAULT_BAN, |minutes| {
        Duration::from_secs(minutes.clamp(0, 24 * 60) as u64 * 60)
    }))
}

/// Markers of DingTalk's IP-ban page (see the module doc), matched case-insensitively.
const BAN_PAGE_MARKERS: [&str; 4] = ["punish", "x5sec", "_____tmd_____", "过于频繁"];
/// Longest page title kept in an error.
const MAX_TITLE_CHARS: usize = 80;

/// A body that is markup rather than JSON.
struct HtmlPage<'a> {
    text: std::borrow::Cow<'a, str>,
}

fn html_page(body: &[u8]) -> Option<HtmlPage<'_>> {
    let text = String::from_utf8_lossy(body);
    text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .starts_with('<')
        .then_some(HtmlPage { text })
}

impl HtmlPage<'_> {
    fn is_ban_page(&self) -> bool {
        let lower = self.text.to_lowercase();
        BAN_PAGE_MARKERS.iter().any(|marker| lower.contains(marker))
    }

    /// The `<title>`, whitespace collapsed, control characters dropped, credentials redacted,
    /// at most [`MAX_TITLE_CHARS`]; empty when there is none.
    fn title(&self) -> String {
        let lower = self.text.to_ascii_lowercase();
        let Some(open) = lower.find("<title") else {
            return String::new();
        };
        let Some(start) = lower[open..].find('>').map(|at| open + at + 1) else {
            return String::new();
        };
        let end = lower[start..]
            .find("</title")
            .map_or(lower.len(), |at| start + at);
        let words: Vec<&str> = self.text[start..end].split_whitespace().collect();
        let cleaned: String = words
            .join(" ")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_TITLE_CHARS)
            .collect();
        redact(&cleaned)
    }
}

/// `errcode` other than 0, with `errmsg`.
fn oapi_failure(body: &Value, status: u16) -> Option<(String, String)> {
    let code = body.get("errcode").map(|code| match code {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    });
    let message = body
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match code {
        Some(code) if code != "0" => Some((code, message)),
        _ if !(200..300).contains(&status) => Some((format!("HTTP {status}"), message)),
        _ => None,
    }
}

/// A non-2xx status with `{code, message}`; also a 2xx body saying `success: false`.
fn api_failure(body: &Value, status: u16) -> Option<(String, String)> {
    let code = body
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if (200..300).contains(&status) {
        let refused = matches!(body.get("success"), Some(Value::Bool(false)))
            || body.get("success").and_then(Value::as_str) == Some("false");
        return refused.then(|| {
            (
                if code.is_empty() {
                    "success=false".to_owned()
                } else {
                    code
                },
                message,
            )
        });
    }
    let code = match (code.is_empty(), status) {
        (false, _) => code,
        (true, 401) => "HTTP 401".to_owned(),
        (true, 429) => "HTTP 429".to_owned(),
        (true, _) => format!("HTTP {status}"),
    };
    Some((code, message))
}

/// The error for a DingTalk code (dingtalk-api.md section 9.2).
fn code_error(endpoint: &str, code: &str, message: &str, token_endpoint: bool) -> Error {
    let endpoint = endpoint.to_owned();
    let message = redact(message);
    let code_owned = code.to_owned();
    match code {
        "90018" | "90002" | "90001" | "90005" | "90006" | "HTTP 429" => Error::Throttled {
            endpoint,
            code: code_owned,
        },
        _ if code.contains("QpsLimit") || code.contains("QpmLimit") => Error::Throttled {
            endpoint,
            code: code_owned,
        },
        "90020" => Error::QuotaExhausted {
            endpoint,
            code: code_owned,
        },
        _ if code.contains("ApiCountLimitForOrg") => Error::QuotaExhausted {
            endpoint,
            code: code_owned,
        },
        "-1" | "system.busy" | "systemBusy" | "systemError" => Error::Busy {
            endpoint,
            code: code_owned,
            message,
        },
        "40001" if token_endpoint => Error::Credentials {
            endpoint,
            code: code_owned,
        },
        "40014" | "41001" | "42001" | "40001" | "InvalidAuthentication" | "HTTP 401" => {
            Error::Token {
                endpoint,
                code: code_owned,
            }
        }
        "60011" => Error::Permission {
            permission: permission_point(&endpoint),
            endpoint,
            code: code_owned,
        },
        _ if code.contains("AccessTokenPermissionDenied") => Error::Permission {
            permission: permission_point(&endpoint),
            endpoint,
            code: code_owned,
        },
        "60020" => Error::IpNotWhitelisted {
            endpoint,
            code: code_owned,
        },
        _ if code.contains("IpNotInWhiteList") => Error::IpNotWhitelisted {
            endpoint,
            code: code_owned,
        },
        "40089" | "40013" | "invalidClientIdOrSecret" => Error::Credentials {
            endpoint,
            code: code_owned,
        },
        "90003" | "90004" => Error::Banned {
            endpoint,
            code: code_owned,
            message,
        },
        "processInstanceIdError" | "aflowProcessInstNotExist" => Error::NotFound {
            endpoint,
            code: code_owned,
            what: "approval instance".to_owned(),
        },
        "40035"
        | "400002"
        | "invalidParameter"
        | "processInstanceInvalidParameter"
        | "parameter.error" => Error::BadRequest {
            endpoint,
            code: code_owned,
            message,
        },
        _ if code.starts_with("invalid") => Error::BadRequest {
            endpoint,
            code: code_owned,
            message,
        },
        _ => Error::Api {
            endpoint,
            code: code_owned,
            message,
        },
    }
}

#[cfg(test)]
mod tests;
