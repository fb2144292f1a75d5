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
mod tests {
    use super::*;
    use crate::dingtalk::ErrorKind;

    #[track_caller]
    fn check(
        family: Family,
        status: u16,
        body: &str,
        outcome: CallOutcome,
        kind: Option<ErrorKind>,
    ) {
        let (got_outcome, result) =
            classify(family, "/attendance/list", status, body.as_bytes(), false);
        assert_eq!(got_outcome, outcome, "{body}");
        assert_eq!(
            result.as_ref().err().map(Error::kind),
            kind,
            "{body}: {result:?}"
        );
    }

    #[test]
    fn oapi_envelopes_are_classified_by_errcode() {
        use ErrorKind::*;
        let oapi = Family::Oapi;
        check(
            oapi,
            200,
            r#"{"errcode":0,"errmsg":"ok"}"#,
            CallOutcome::Ok,
            None,
        );
        check(
            oapi,
            200,
            r#"{"errcode":90018,"errmsg":"qps"}"#,
            CallOutcome::Throttled,
            Some(Transient),
        );
        check(
            oapi,
            200,
            r#"{"errcode":90002,"errmsg":"qps"}"#,
            CallOutcome::Throttled,
            Some(Transient),
        );
        check(
            oapi,
            200,
            r#"{"errcode":-1,"errmsg":"busy"}"#,
            CallOutcome::Error("-1".into()),
            Some(Transient),
        );
        check(
            oapi,
            200,
            r#"{"errcode":90020,"errmsg":"quota"}"#,
            CallOutcome::QuotaExhausted,
            Some(QuotaExhausted),
        );
        check(
            oapi,
            200,
            r#"{"errcode":42001,"errmsg":"expired"}"#,
            CallOutcome::Error("42001".into()),
            Some(Token),
        );
        check(
            oapi,
            200,
            r#"{"errcode":"40014","errmsg":"bad"}"#,
            CallOutcome::Error("40014".into()),
            Some(Token),
        );
        check(
            oapi,
            200,
            r#"{"errcode":60011,"errmsg":"no"}"#,
            CallOutcome::Error("60011".into()),
            Some(Fatal),
        );
        check(
            oapi,
            200,
            r#"{"errcode":60020,"errmsg":"ip"}"#,
            CallOutcome::Error("60020".into()),
            Some(Fatal),
        );
        check(
            oapi,
            200,
            r#"{"errcode":40035,"errmsg":"p"}"#,
            CallOutcome::Error("40035".into()),
            Some(BadRequest),
        );
        check(
            oapi,
            200,
            r#"{"errcode":12345,"errmsg":"?"}"#,
            CallOutcome::Error("12345".into()),
            Some(Api),
        );
        check(
            oapi,
            502,
            "<html>bad gateway</html>",
            CallOutcome::ServerError(502),
            Some(Transient),
        );
        check(
            oapi,
            503,
            "",
            CallOutcome::ServerError(503),
            Some(Transient),
        );
        check(
            oapi,
            200,
            r#"{"errcode":0,"recordresult":[{"#,
            CallOutcome::Malformed,
            Some(Transient),
        );
    }

    #[test]
    fn api_envelopes_are_classified_by_status_and_code() {
        use ErrorKind::*;
        let api = Family::Api;
        check(
            api,
            200,
            r#"{"result":{},"success":true}"#,
            CallOutcome::Ok,
            None,
        );
        let qps = r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","message":"m"}"#;
        check(api, 403, qps, CallOutcome::Throttled, Some(Transient));
        let qpm = r#"{"code":"Forbidden.AccessDenied.QpmLimitForAppkeyAndApi","message":"m"}"#;
        check(api, 403, qpm, CallOutcome::Throttled, Some(Transient));
        let quota = r#"{"code":"Forbidden.AccessDenied.ApiCountLimitForOrg","message":"m"}"#;
        check(
            api,
            403,
            quota,
            CallOutcome::QuotaExhausted,
            Some(QuotaExhausted),
        );
        let auth =
            r#"{"code":"InvalidAuthentication","requestid":"r","message":"不合法的access_token"}"#;
        check(
            api,
            400,
            auth,
            CallOutcome::Error("InvalidAuthentication".into()),
            Some(Token),
        );
        check(
            api,
            401,
            "{}",
            CallOutcome::Error("HTTP 401".into()),
            Some(Token),
        );
        let gone = r#"{"code":"processInstanceIdError","message":"m"}"#;
        check(
            api,
            400,
            gone,
            CallOutcome::Error("processInstanceIdError".into()),
            Some(NotFound),
        );
        let bad = r#"{"code":"invalidNextToken","message":"m"}"#;
        check(
            api,
            400,
            bad,
            CallOutcome::Error("invalidNextToken".into()),
            Some(BadRequest),
        );
        let perm = r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied","message":"m"}"#;
        check(
            api,
            403,
            perm,
            CallOutcome::Error("Forbidden.AccessDenied.AccessTokenPermissionDenied".into()),
            Some(Fatal),
        );
        check(
            api,
            500,
            r#"{"code":"systemError"}"#,
            CallOutcome::ServerError(500),
            Some(Transient),
        );
        check(
            api,
            200,
            r#"{"success":"false"}"#,
            CallOutcome::Error("success=false".into()),
            Some(Api),
        );
    }

    #[test]
    fn the_ip_ban_page_is_recognised_before_any_envelope() {
        use ErrorKind::IpBanned;
        let ban = r#"{"status":1111,"wait":5,"source":"x5","punish":"deny","uuid":"u"}"#;
        check(
            Family::Oapi,
            200,
            ban,
            CallOutcome::IpBanned,
            Some(IpBanned),
        );
        check(Family::Api, 403, ban, CallOutcome::IpBanned, Some(IpBanned));
        for page in [
            "  <!DOCTYPE html><html><title>访问被拒绝</title><p>当前IP调用过于频繁，请5分钟后再试</p></html>",
            "<html><script src=\"https://g.alicdn.com/punish/x5sec.js\"></script></html>",
            "<HTML><body><div id=\"_____TMD_____\"></div></body></HTML>",
        ] {
            check(
                Family::Oapi,
                200,
                page,
                CallOutcome::IpBanned,
                Some(IpBanned),
            );
            check(
                Family::Api,
                403,
                page,
                CallOutcome::IpBanned,
                Some(IpBanned),
            );
        }
        let (_, result) = classify(Family::Oapi, "/x", 200, ban.as_bytes(), false);
        assert!(
            matches!(result, Err(Error::IpBanned { wait, .. }) if wait == Duration::from_secs(300))
        );
    }

    #[test]
    fn forty_thousand_one_means_bad_credentials_only_on_the_token_endpoint() {
        let body = br#"{"errcode":40001,"errmsg":"invalid credential"}"#;
        let (_, on_token) = classify(Family::Oapi, "/gettoken", 200, body, true);
        assert_eq!(on_token.unwrap_err().kind(), ErrorKind::Fatal);
        let (_, elsewhere) = classify(Family::Oapi, "/attendance/list", 200, body, false);
        assert_eq!(elsewhere.unwrap_err().kind(), ErrorKind::Token);
    }

    #[test]
    fn error_messages_never_carry_an_echoed_token() {
        let body = br#"{"errcode":12345,"errmsg":"bad url /x?access_token=SECRET-TOKEN"}"#;
        let (_, result) = classify(Family::Oapi, "/attendance/list", 200, body, false);
        let message = result.unwrap_err().to_string();
        assert!(!message.contains("SECRET-TOKEN"), "{message}");
        assert!(
            message.contains("/attendance/list") && message.contains("12345"),
            "{message}"
        );
    }

    #[test]
    fn an_html_page_without_the_ban_markers_is_not_a_ban_but_a_foreign_page() {
        let portal = "\n <!DOCTYPE html><html><head><TITLE>\n Guest   Wi-Fi\u{7} · 请先登录 </TITLE></head>\
                      <body>访问被拒绝?<form action=\"/login\"></form></body></html>";
        for family in [Family::Oapi, Family::Api] {
            for status in [200, 403, 407] {
                check(
                    family,
                    status,
                    portal,
                    CallOutcome::HtmlPage,
                    Some(ErrorKind::Transient),
                );
            }
        }
        let (_, result) = classify(
            Family::Oapi,
            "/attendance/list",
            200,
            portal.as_bytes(),
            false,
        );
        let error = result.unwrap_err();
        assert!(
            matches!(&error, Error::HtmlPage { title, status: 200, .. } if title == "Guest Wi-Fi · 请先登录"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("expected JSON from DingTalk, got an HTML page")
                && message.contains("Guest Wi-Fi"),
            "{message}"
        );
        let untitled = "\u{feff}<html><body>proxy error</body></html>";
        let (outcome, result) = classify(Family::Api, "/x", 200, untitled.as_bytes(), false);
        assert_eq!(outcome, CallOutcome::HtmlPage);
        assert!(matches!(result, Err(Error::HtmlPage { title, .. }) if title.is_empty()));
        let long = format!("<title>{}access_token=SECRET</title>", "长".repeat(200));
        let (_, result) = classify(Family::Oapi, "/x", 200, long.as_bytes(), false);
        let Err(Error::HtmlPage { title, .. }) = result else {
            panic!("an HTML page")
        };
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
        let echoed = "<title>login?access_token=SECRET-TOKEN&x=1</title>";
        let (_, result) = classify(Family::Oapi, "/x", 200, echoed.as_bytes(), false);
        assert!(!result.unwrap_err().to_string().contains("SECRET-TOKEN"));
        // A gateway's HTML on a 5xx stays a server error.
        check(
            Family::Oapi,
            502,
            portal,
            CallOutcome::ServerError(502),
            Some(ErrorKind::Transient),
        );
    }

    #[test]
    fn http_429_is_throttling_whatever_its_body_unless_it_says_quota_or_busy() {
        use ErrorKind::*;
        for family in [Family::Oapi, Family::Api] {
            for body in [
                r#"{"code":"Throttling","message":"Request was denied due to request throttling."}"#,
                r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}"#,
                r#"{"errcode":12345,"errmsg":"?"}"#,
                r#"{"anything":true}"#,
                "Too Many Requests",
                "",
            ] {
                check(family, 429, body, CallOutcome::Throttled, Some(Transient));
            }
            let quota = r#"{"code":"Forbidden.AccessDenied.ApiCountLimitForOrg"}"#;
            check(
                family,
                429,
                quota,
                CallOutcome::QuotaExhausted,
                Some(QuotaExhausted),
            );
            check(
                family,
                429,
                r#"{"code":"system.busy"}"#,
                CallOutcome::Error("system.busy".into()),
                Some(Transient),
            );
        }
        let (_, result) = classify(Family::Api, "/x", 429, br#"{"code":"Throttling"}"#, false);
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("HTTP 429 Throttling")
        );
    }
}
