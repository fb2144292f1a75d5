//! Faults on demand, deterministic by schedule: a rule names a path (or every DingTalk path), a
//! kind, how many matching calls to let pass first (`skip`), how many to affect (`times`), after
//! which it disarms itself, and optionally how far apart its firings are (`every`: the Nth
//! matching call, then every Nth after it; default 1, back to back).
//!
//! This module only decides *which* fault a call meets; the HTTP layer shapes the answer.
//!
//! JSON shape (`PUT /_sim/faults` takes a list; it replaces what is armed):
//! `{"path": "/attendance/list", "kind": "server_error", "status": 503, "skip": 0, "times": 2}`;
//! token churn: `{"kind": "invalidate_tokens", "skip": 4, "every": 5, "times": 1000}`.
//!
//! The hostile kinds (`redirect`, `throttle_429_json`, `html_page`) are answers DingTalk itself
//! does not give but that a client meets when something stands between it and DingTalk: a
//! proxy or hijacked name redirecting, a gateway throttling with its own JSON, a captive portal.

use serde::{Deserialize, Serialize};

/// What happens to an affected call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// The per-app QPS answer (oapi `90018` in HTTP 200; api HTTP 403
    /// `Forbidden.AccessDenied.QpsLimitForAppkeyAndApi`). Not metered; counted as throttled.
    Throttle,
    /// An HTTP 5xx (e.g. 502, 503). Not metered.
    ServerError { status: u16 },
    /// Served normally after `delay_ms` of real time (past a client's timeout). Metered.
    Slow { delay_ms: u64 },
    /// Served, then the JSON body is cut in half (HTTP 200). Metered.
    Malformed,
    /// The IP-ban HTML page (HTTP 200, `text/html`). Not metered.
    IpBanHtml,
    /// The IP-ban JSON `{"status":1111,"wait":5,…}` (HTTP 200). Not metered.
    IpBanJson,
    /// Every token issued so far becomes invalid; the call itself then proceeds normally (so it
    /// meets the invalid token unless it is a token call).
    InvalidateTokens,
    /// The monthly quota answer (oapi `90020`; api HTTP 403
    /// `Forbidden.AccessDenied.ApiCountLimitForOrg`). Not metered.
    QuotaExhausted,
    /// A redirect: HTTP `status` (a 3xx; anything else is answered as 307) with `Location:
    /// location`, as a proxy or a hijacked name might answer. DingTalk never redirects an API
    /// call, so a client must not follow it with its credentials. Not metered.
    Redirect { status: u16, location: String },
    /// HTTP 429 with a JSON body carrying a `code` (`{"code":"Throttling",…}`), whatever the
    /// family, as a gateway in front of DingTalk might throttle. Not metered; counted as throttled.
    #[serde(rename = "throttle_429_json")]
    Throttle429Json,
    /// An HTML page on HTTP 200 that is not the IP-ban page: a captive portal's login page.
    /// DingTalk never saw the call. Not metered.
    HtmlPage,
    /// Hostile DingTalk: `/attendance/list` answers `hasMore: true` whatever the offset. With
    /// `repeat`, every page is the first one (the offset is ignored); without, the real page at
    /// the offset asked for, so the offset advances past the data onto empty pages. A 200 OK
    /// answer: metered. Other paths are served normally (see `http::hostile`).
    EndlessPages {
        #[serde(default)]
        repeat: bool,
    },
    /// Hostile DingTalk: `instanceIds/query` answers a fresh `nextToken` every time, never the
    /// end of the list; the pages behind those tokens wrap round to the start of the list. A 200
    /// OK answer: metered.
    EndlessCursor,
    /// Hostile DingTalk: a row outside the request is added to a real answer (results, punches)
    /// or an approval detail is rewritten to be impossible, as `mode` says. Metered.
    ForeignRows { mode: ForeignMode },
    /// Hostile DingTalk: control characters (ESC, BEL, CR, LF) and spreadsheet formulas in the
    /// free-text fields the job keeps and reports (see `http::hostile::hostile_strings`). Metered.
    HostileStrings,
    /// Hostile DingTalk: `/attendance/list` answers a valid, final, empty page (`hasMore:
    /// false`, no rows), as if every scheduled day asked for had no check point. Metered.
    EmptyPages,
}

/// What [`FaultKind::ForeignRows`] puts into an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeignMode {
    /// A row of a user the request did not name.
    User,
    /// A row whose work date is in 1913 (an approval created in 1913).
    Date,
    /// A row whose check time is negative (before 1970); a 补卡 time a year after its filing.
    Time,
    /// A row whose ids are negative (`id`, `planId`, `recordId`); a negative plan in a 补卡.
    Number,
}

/// One armed fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Exact path (no query), e.g. `/attendance/list`; `None` = every DingTalk path.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Let this many matching calls pass first.
    #[serde(default)]
    pub skip: u32,
    /// Affect this many matching calls, then disarm.
    #[serde(default = "one")]
    pub times: u32,
    /// Fire on every Nth matching call once done skipping (1: on consecutive calls).
    #[serde(default = "one")]
    pub every: u32,
}

fn one() -> u32 {
    1
}

impl FaultRule {
    pub fn new(path: Option<&str>, kind: FaultKind) -> Self {
        FaultRule {
            path: path.map(str::to_owned),
            kind,
            skip: 0,
            times: 1,
            every: 1,
        }
    }

    fn matches(&self, path: &str) -> bool {
        self.path.as_deref().is_none_or(|p| p == path)
    }
}

/// The armed rules, in order.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    pub fn replace(&mut self, rules: Vec<FaultRule>) {
        self.rules = rules.into_iter().filter(|r| r.times > 0).collect();
    }

    pub fn armed(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    /// The fault this call meets, if any. Every matching rule still skipping counts the call;
    /// the first matching rule done skipping fires (and disarms when its `times` run out). A
    /// rule that fired skips `every - 1` calls before it fires again.
    pub fn next(&mut self, path: &str) -> Option<FaultKind> {
        let mut fired = None;
        for rule in self.rules.iter_mut().filter(|r| r.matches(path)) {
            if rule.skip > 0 {
                rule.skip -= 1;
            } else if fired.is_none() {
                rule.times -= 1;
                rule.skip = rule.every.saturating_sub(1);
                fired = Some(rule.kind.clone());
            }
        }
        self.rules.retain(|r| r.times > 0);
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_lets_skipped_calls_pass_then_fires_its_times_then_disarms() {
        let mut faults = Faults::default();
        let mut rule = FaultRule::new(Some("/attendance/list"), FaultKind::Throttle);
        rule.skip = 1;
        rule.times = 2;
        faults.replace(vec![rule]);
        assert_eq!(faults.next("/gettoken"), None);
        assert_eq!(faults.next("/attendance/list"), None);
        assert_eq!(faults.next("/attendance/list"), Some(FaultKind::Throttle));
        assert_eq!(faults.next("/attendance/list"), Some(FaultKind::Throttle));
        assert_eq!(faults.next("/attendance/list"), None);
        assert!(faults.armed().is_empty());
    }

    #[test]
    fn rules_round_trip_through_their_json_shape() {
        let raw = r#"[{"path":null,"kind":"server_error","status":503,"skip":0,"times":2},
                      {"kind":"slow","delay_ms":1500}]"#;
        let rules: Vec<FaultRule> = serde_json::from_str(raw).unwrap();
        assert_eq!(rules[0].kind, FaultKind::ServerError { status: 503 });
        assert_eq!(rules[1].times, 1);
        let again: Vec<FaultRule> =
            serde_json::from_str(&serde_json::to_string(&rules).unwrap()).unwrap();
        assert_eq!(again, rules);
    }

    #[test]
    fn a_rule_with_every_fires_on_every_nth_matching_call_until_its_times_run_out() {
        let mut faults = Faults::default();
        let mut rule = FaultRule::new(None, FaultKind::InvalidateTokens);
        rule.skip = 2;
        rule.every = 3;
        rule.times = 3;
        faults.replace(vec![rule]);
        let fired: Vec<usize> = (0..15)
            .filter(|_| faults.next("/attendance/list").is_some())
            .collect();
        assert_eq!(fired, vec![2, 5, 8], "the 3rd, 6th and 9th calls");
        assert!(faults.armed().is_empty());
    }

    #[test]
    fn the_hostile_kinds_have_their_documented_json_names() {
        let raw = r#"[{"kind":"redirect","status":307,"location":"http://127.0.0.1:9/x"},
                      {"path":"/attendance/list","kind":"throttle_429_json","every":2,"times":5},
                      {"kind":"html_page"}]"#;
        let rules: Vec<FaultRule> = serde_json::from_str(raw).unwrap();
        assert_eq!(
            rules[0].kind,
            FaultKind::Redirect {
                status: 307,
                location: "http://127.0.0.1:9/x".into()
            }
        );
        assert_eq!(
            (rules[1].kind.clone(), rules[1].every, rules[1].times),
            (FaultKind::Throttle429Json, 2, 5)
        );
        assert_eq!(
            (rules[2].kind.clone(), rules[2].every),
            (FaultKind::HtmlPage, 1)
        );
        let again: Vec<FaultRule> =
            serde_json::from_str(&serde_json::to_string(&rules).unwrap()).unwrap();
        assert_eq!(again, rules);
        let mut faults = Faults::default();
        faults.replace(rules.clone());
        assert_eq!(faults.next("/gettoken"), Some(rules[0].kind.clone()));
        assert_eq!(faults.next("/gettoken"), Some(FaultKind::HtmlPage));
        assert_eq!(
            faults.next("/attendance/list"),
            Some(FaultKind::Throttle429Json)
        );
        assert_eq!(faults.next("/attendance/list"), None, "every 2nd call");
    }
}
