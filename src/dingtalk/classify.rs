//! Turning one HTTP answer into a call outcome (for metering) and a result (for the caller).
//!
//! The IP-ban page is recognised before any envelope is decoded; then each family's envelope is
//! read: `oapi` answers HTTP 200 with `errcode`, `api` answers 4xx/5xx with `{code, message}`.
//! Codes map to [`Error`] variants per dingtalk-api.md section 9. This module is pure: no IO, no
//! retry decision, no state (the caller sets the quota flag on `QuotaExhausted`).

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
    if let Some(wait) = ip_ban(body, status) {
        return (
            CallOutcome::IpBanned,
            Err(Error::IpBanned {
                endpoint: endpoint.to_owned(),
                wait,
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
            let error = code_error(endpoint, &code, &message, token_endpoint);
            let outcome = match &error {
                Error::Throttled { .. } => CallOutcome::Throttled,
                Error::QuotaExhausted { .. } => CallOutcome::QuotaExhausted,
                _ => CallOutcome::Error(code),
            };
            (outcome, Err(error))
        }
    }
}

/// The ban page: JSON with `status: 1111` (`wait` in minutes), or an HTML page on a non-5xx
/// status (an HTML 5xx is a gateway failing, which is transient).
fn ip_ban(body: &[u8], status: u16) -> Option<Duration> {
    let text = std::str::from_utf8(body).unwrap_or("").trim_start();
    if text.starts_with('<') && status < 500 {
        return Some(DEFAULT_BAN);
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
        check(
            Family::Oapi,
            200,
            "  <!DOCTYPE html><html>denied</html>",
            CallOutcome::IpBanned,
            Some(IpBanned),
        );
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
}
