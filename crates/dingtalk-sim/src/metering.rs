//! DingTalk's metering rule, as the simulator applies it (dingtalk-api.md sections 8 and 14):
//! which paths count against the organisation's monthly API quota, and which answers to them do.
//!
//! The job's client applies the same rule to its own call ledger with its own types; the two are
//! written separately on purpose and checked against each other by the product's integration
//! tests, so the job's count equals the simulator's without either side reading the other's code.
//! This module does not shape answers (see `http`) nor keep the counts (see `state`).

/// How the simulator answered one DingTalk call, as far as metering cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// A successful answer.
    Ok,
    /// A business error (oapi `errcode`, api `code`), token errors included.
    BusinessError(String),
    /// Rejected by a QPS limit (`90018`, `…QpsLimitForAppkeyAndApi`).
    Throttled,
    /// The monthly quota is used up (`90020`, `…ApiCountLimitForOrg`).
    QuotaExhausted,
    /// The IP-ban page or `{"status": 1111, …}`.
    IpBanned,
    /// An HTTP 5xx.
    ServerError(u16),
    /// A served answer cut short, so it cannot be decoded.
    Malformed,
    /// A 3xx redirect (the `redirect` fault): something in front of DingTalk answered.
    Redirected(u16),
    /// An HTML page that is not DingTalk's (the `html_page` fault: a captive portal).
    ForeignPage,
}

impl Answered {
    /// Whether an answer of this kind to a metered path counts against the monthly quota. Only
    /// calls refused by a QPS limit or that never reached DingTalk are documented as free; the
    /// quota answer, an IP ban and a 5xx did not reach the API either, nor did a redirect or a
    /// foreign page (something in front of DingTalk answered). Business and token errors are
    /// counted (the conservative reading), and so is the call that hit the cap.
    pub fn counts_against_quota(&self) -> bool {
        match self {
            Answered::Ok | Answered::BusinessError(_) | Answered::Malformed => true,
            Answered::Throttled
            | Answered::QuotaExhausted
            | Answered::IpBanned
            | Answered::ServerError(_)
            | Answered::Redirected(_)
            | Answered::ForeignPage => false,
        }
    }
}

/// Whether DingTalk meters calls to `path` (no query string): the attendance and workflow (OA
/// approval) families are metered, and so is `users/search`, which the exempt list does not name;
/// token and contacts paths are free.
pub fn is_metered_path(path: &str) -> bool {
    const METERED_PREFIXES: &[&str] = &[
        "/attendance/",
        "/topapi/attendance/",
        "/topapi/processinstance/",
        "/v1.0/workflow/",
        "/v1.0/attendance/",
    ];
    METERED_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path == "/v1.0/contact/users/search"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attendance_and_workflow_paths_are_metered_token_and_contacts_paths_are_free() {
        for path in [
            "/attendance/list",
            "/attendance/listRecord",
            "/v1.0/workflow/processInstances",
            "/v1.0/workflow/processes/instanceIds/query",
            "/v1.0/workflow/processes/managements/templates",
            "/v1.0/contact/users/search",
        ] {
            assert!(is_metered_path(path), "{path}");
        }
        for path in [
            "/gettoken",
            "/v1.0/oauth2/accessToken",
            "/topapi/v2/department/listsubid",
            "/topapi/user/listid",
            "/topapi/v2/user/list",
            "/topapi/v2/department/get",
        ] {
            assert!(!is_metered_path(path), "{path}");
        }
    }

    #[test]
    fn only_answers_that_reached_the_api_count() {
        assert!(Answered::Ok.counts_against_quota());
        assert!(Answered::BusinessError("42001".into()).counts_against_quota());
        assert!(Answered::Malformed.counts_against_quota());
        assert!(!Answered::Throttled.counts_against_quota());
        assert!(!Answered::QuotaExhausted.counts_against_quota());
        assert!(!Answered::IpBanned.counts_against_quota());
        assert!(!Answered::ServerError(503).counts_against_quota());
        assert!(!Answered::Redirected(307).counts_against_quota());
        assert!(!Answered::ForeignPage.counts_against_quota());
    }
}
