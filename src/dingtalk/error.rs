//! The client's error type and its classification.
//!
//! Every failure the client can return is one variant of [`Error`], carrying what the caller needs
//! to act: the endpoint path (never a URL with a token), DingTalk's code, and for fatal errors the
//! remedy. [`Error::kind`] sorts them into the classes the retry loop and the run act on.
//!
//! This module does not decide *when* to retry or how long to wait; `transport` does. It never
//! holds a secret: messages from DingTalk pass through [`redact`] before they are stored.

use std::time::Duration;

/// What a caller does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Throttling, server errors, timeouts, connection failures, a garbled body: retry later.
    Transient,
    /// The token was rejected: drop it, fetch a new one, retry (while fresh tokens work).
    Token,
    /// DingTalk says the organisation's monthly quota is spent: stop all metered calls.
    QuotaExhausted,
    /// This client's own metered-call cap (the run's budget) is reached.
    BudgetExhausted,
    /// DingTalk banned the caller's IP for a while.
    IpBanned,
    /// Configuration or permissions: nothing will work until a person fixes it.
    Fatal,
    /// The requested object does not exist (a deleted approval instance).
    NotFound,
    /// DingTalk rejected the request's arguments: a bug on our side.
    BadRequest,
    /// DingTalk answered with a business error not classified above.
    Api,
    /// DingTalk answered something we could not read.
    Decode,
}

/// A failed call to DingTalk, or a request the client refused to make.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("call {endpoint}: throttled by DingTalk ({code})")]
    Throttled { endpoint: String, code: String },
    #[error("call {endpoint}: DingTalk is busy ({code}: {message})")]
    Busy {
        endpoint: String,
        code: String,
        message: String,
    },
    #[error("call {endpoint}: DingTalk answered HTTP {status}")]
    Server { endpoint: String, status: u16 },
    #[error("call {endpoint}: no answer within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("call {endpoint}: connection failed")]
    Transport {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("call {endpoint}: body is not a DingTalk envelope: {detail}")]
    Malformed { endpoint: String, detail: String },
    #[error(
        "call {endpoint}: access token rejected ({code}), freshly issued ones too; check the server's clock and that nothing else resets the app's secret"
    )]
    Token { endpoint: String, code: String },
    #[error(
        "call {endpoint}: answered HTTP {status} redirecting to {location}, not followed: DingTalk does not redirect API calls; check dingtalk.oapi_base_url, dingtalk.api_base_url and any proxy in between"
    )]
    Redirected {
        endpoint: String,
        status: u16,
        /// The `Location`'s origin only (scheme, host, port): never its path or query.
        location: String,
    },
    #[error(
        "call {endpoint}: expected JSON from DingTalk, got an HTML page (HTTP {status}, title {title:?}); a captive portal, proxy or firewall may be answering in DingTalk's place"
    )]
    HtmlPage {
        endpoint: String,
        status: u16,
        /// The page's `<title>`, cleaned and shortened; empty when it has none.
        title: String,
    },
    #[error(
        "call {endpoint}: not sent, because it could not be written down in the call ledger first: {detail}"
    )]
    Unrecorded { endpoint: String, detail: String },
    #[error(
        "call {endpoint}: the organisation's monthly API quota is exhausted ({code}); no further metered calls until next month"
    )]
    QuotaExhausted { endpoint: String, code: String },
    #[error("call {endpoint}: this run's budget of {cap} metered calls is spent")]
    BudgetExhausted { endpoint: String, cap: u64 },
    #[error(
        "call {endpoint}: DingTalk banned this IP for {wait:?} (10,000 calls per 20 s per IP exceeded)"
    )]
    IpBanned { endpoint: String, wait: Duration },
    #[error(
        "call {endpoint}: permission denied ({code}); grant permission point {permission} in the developer console"
    )]
    Permission {
        endpoint: String,
        code: String,
        permission: &'static str,
    },
    #[error(
        "call {endpoint}: this IP is not in the app's whitelist ({code}); add the server's outbound IP in the developer console"
    )]
    IpNotWhitelisted { endpoint: String, code: String },
    #[error(
        "call {endpoint}: app key or app secret rejected ({code}); check dingtalk.app_key and dingtalk.app_secret"
    )]
    Credentials { endpoint: String, code: String },
    #[error("call {endpoint}: DingTalk refused the organisation or credential ({code}: {message})")]
    Banned {
        endpoint: String,
        code: String,
        message: String,
    },
    #[error("call {endpoint}: {what} not found ({code})")]
    NotFound {
        endpoint: String,
        code: String,
        what: String,
    },
    #[error("call {endpoint}: bad request ({code}: {message})")]
    BadRequest {
        endpoint: String,
        code: String,
        message: String,
    },
    #[error("call {endpoint}: DingTalk error {code}: {message}")]
    Api {
        endpoint: String,
        code: String,
        message: String,
    },
    #[error("decode {endpoint}: {detail}")]
    Decode { endpoint: String, detail: String },
    #[error("read the 补卡 form of instance {process_instance_id}: field {field}: {detail}")]
    Form {
        process_instance_id: String,
        field: String,
        detail: String,
    },
    #[error("request {endpoint}: {detail}")]
    InvalidArgument { endpoint: String, detail: String },
    #[error("build the DingTalk client: {detail}")]
    Config { detail: String },
    /// Paging stopped: DingTalk's answers would not let a bounded traversal end.
    #[error(
        "page through {endpoint} for {batch}: {reason}; no further page asked (bound {bound} pages: {bound_source})"
    )]
    Paging {
        endpoint: String,
        batch: String,
        bound: u64,
        bound_source: &'static str,
        reason: String,
    },
    /// Rows of an answer that lie outside the request (user, dates, times, ids) were rejected.
    #[error(
        "trust {endpoint} for {batch}: {count} row(s) outside the request rejected; first: {first}"
    )]
    Rejected {
        endpoint: String,
        batch: String,
        count: usize,
        first: String,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Throttled { .. }
            | Error::Busy { .. }
            | Error::Server { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. }
            | Error::Malformed { .. }
            | Error::HtmlPage { .. } => ErrorKind::Transient,
            Error::Token { .. } => ErrorKind::Token,
            Error::QuotaExhausted { .. } => ErrorKind::QuotaExhausted,
            Error::BudgetExhausted { .. } => ErrorKind::BudgetExhausted,
            Error::IpBanned { .. } => ErrorKind::IpBanned,
            Error::Permission { .. }
            | Error::IpNotWhitelisted { .. }
            | Error::Credentials { .. }
            | Error::Banned { .. }
            | Error::Redirected { .. }
            | Error::Unrecorded { .. }
            | Error::Config { .. } => ErrorKind::Fatal,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::BadRequest { .. } | Error::InvalidArgument { .. } => ErrorKind::BadRequest,
            Error::Api { .. } => ErrorKind::Api,
            Error::Decode { .. }
            | Error::Form { .. }
            | Error::Paging { .. }
            | Error::Rejected { .. } => ErrorKind::Decode,
        }
    }

    /// Worth retrying after a pause.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// Nothing will succeed until a person changes the configuration or the app's permissions:
    /// the run should stop and say so (credentials, permission points, IP whitelist, bans).
    pub fn is_fatal(&self) -> bool {
        self.kind() == ErrorKind::Fatal
    }
}

/// The permission point an endpoint needs, for the remedy in [`Error::Permission`].
pub(crate) fn permission_point(endpoint: &str) -> &'static str {
    match endpoint {
        "/attendance/list" => "qyapi_attendance_isv_query_result (or qyapi_get_attendance_data)",
        "/attendance/listRecord" => "qyapi_get_attendance_data",
        "/topapi/v2/department/listsubid" | "/topapi/v2/department/get" => {
            "qyapi_get_department_list"
        }
        "/topapi/v2/user/list" => "qyapi_get_department_member",
        "/topapi/user/listid" => "qyapi_get_member",
        "/v1.0/workflow/processes/managements/templates" => "Workflow.Form.Read",
        "/v1.0/oauth2/accessToken" | "/gettoken" => "qyapi_base",
        path if path.starts_with("/v1.0/workflow/") => "Workflow.Instance.Read",
        _ => "(the one this API's documentation names)",
    }
}

/// Removes anything that looks like a credential from text DingTalk sent back, so that an echoed
/// URL or parameter never carries a token or secret into a log or an error.
pub(crate) fn redact(text: &str) -> String {
    const KEYS: [&str; 4] = ["access_token=", "appsecret=", "accessToken", "appSecret"];
    let mut out = text.to_owned();
    for key in KEYS {
        let mut search_from = 0;
        while let Some(found) = out[search_from..].find(key) {
            let value_start = search_from + found + key.len();
            let rest = &out[value_start..];
            // Skip JSON punctuation between a key and its value (`":"`).
            let skip = rest
                .char_indices()
                .take_while(|(_, c)| matches!(c, '"' | ':' | ' ' | '='))
                .map(|(i, c)| i + c.len_utf8())
                .last()
                .unwrap_or(0);
            let value_from = value_start + skip;
            let value_len = out[value_from..]
                .find(['&', '"', ' ', ',', '}', '\'', '\n'])
                .unwrap_or(out.len() - value_from);
            out.replace_range(value_from..value_from + value_len, "REDACTED");
            search_from = value_from + "REDACTED".len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_redact(input: &str, expected: &str) {
        assert_eq!(redact(input), expected);
    }

    #[test]
    fn redaction_hides_tokens_and_secrets_in_urls_and_json() {
        check_redact(
            "GET /attendance/list?access_token=abc123&x=1",
            "GET /attendance/list?access_token=REDACTED&x=1",
        );
        check_redact(
            "/gettoken?appkey=k&appsecret=s3cr3t",
            "/gettoken?appkey=k&appsecret=REDACTED",
        );
        check_redact(
            r#"{"accessToken":"tok","expireIn":7200}"#,
            r#"{"accessToken":"REDACTED","expireIn":7200}"#,
        );
        check_redact("nothing secret here", "nothing secret here");
        check_redact("access_token=", "access_token=REDACTED");
    }

    #[test]
    fn fatal_errors_name_the_remedy() {
        let err = Error::Permission {
            endpoint: "/attendance/list".into(),
            code: "60011".into(),
            permission: permission_point("/attendance/list"),
        };
        assert!(err.is_fatal());
        let message = err.to_string();
        assert!(
            message.contains("grant permission point qyapi_attendance_isv_query_result"),
            "{message}"
        );
        assert!(message.contains("60011"), "{message}");
    }

    #[test]
    fn classification_separates_retryable_from_final_errors() {
        let throttled = Error::Throttled {
            endpoint: "/attendance/list".into(),
            code: "90018".into(),
        };
        assert!(throttled.is_transient());
        let quota = Error::QuotaExhausted {
            endpoint: "/attendance/list".into(),
            code: "90020".into(),
        };
        assert!(!quota.is_transient());
        assert_eq!(quota.kind(), ErrorKind::QuotaExhausted);
        let gone = Error::NotFound {
            endpoint: "/v1.0/workflow/processInstances".into(),
            code: "processInstanceIdError".into(),
            what: "instance p1".into(),
        };
        assert_eq!(gone.kind(), ErrorKind::NotFound);
    }
}
