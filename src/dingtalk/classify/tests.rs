use super::*;
use crate::dingtalk::ErrorKind;

#[track_caller]
fn check(family: Family, status: u16, body: &str, outcome: CallOutcome, kind: Option<ErrorKind>) {
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
