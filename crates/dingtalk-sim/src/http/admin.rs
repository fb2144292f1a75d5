//! The `/_sim/` admin paths: outside DingTalk's namespace, free, never counted as DingTalk calls.
//!
//! - `GET /_sim/stats` → [`SimStats`](crate::SimStats)
//! - `GET /_sim/clock`, `PUT /_sim/clock` with `{"now":"RFC3339"}` → `{"now":"RFC3339"}`
//! - `GET /_sim/truth?as_of=RFC3339` (default: the virtual now) → `[TruthCorrection]`
//! - `GET /_sim/faults`, `PUT /_sim/faults` with `[FaultRule]` (replaces what is armed; the
//!   kinds, hostile ones included, and `skip`/`times`/`every` are documented in `faults`)
//!
//! Errors are HTTP 400/404/405 with `{"error": "…"}`.

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::FaultRule;
use crate::state::SimState;
use crate::truth::truth;

#[derive(Debug, Serialize, Deserialize)]
struct ClockBody {
    now: String,
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{raw:?} is not an instant: expected RFC 3339"))
}

fn clock(state: &SimState) -> Response {
    let now = state.now().to_rfc3339_opts(SecondsFormat::Millis, true);
    Json(ClockBody { now }).into_response()
}

pub(super) fn handle(
    state: &SimState,
    method: &Method,
    rest: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Response {
    match (method, rest) {
        (&Method::GET, "stats") => Json(state.stats()).into_response(),
        (&Method::GET, "clock") => clock(state),
        (&Method::PUT, "clock") => {
            let parsed: Result<ClockBody, _> = serde_json::from_slice(body);
            let Ok(ClockBody { now }) = parsed else {
                return error(StatusCode::BAD_REQUEST, "expected {\"now\": \"RFC3339\"}");
            };
            match parse_instant(&now) {
                Ok(now) => {
                    state.set_clock(now);
                    clock(state)
                }
                Err(msg) => error(StatusCode::BAD_REQUEST, msg),
            }
        }
        (&Method::GET, "truth") => {
            let as_of = match query.iter().find(|(k, _)| k == "as_of") {
                Some((_, raw)) => match parse_instant(raw) {
                    Ok(t) => t,
                    Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
                },
                None => state.now(),
            };
            Json(truth(state.world(), as_of)).into_response()
        }
        (&Method::GET, "faults") => Json(state.armed_faults()).into_response(),
        (&Method::PUT, "faults") => match serde_json::from_slice::<Vec<FaultRule>>(body) {
            Ok(rules) => {
                state.arm_faults(rules);
                Json(state.armed_faults()).into_response()
            }
            Err(err) => error(
                StatusCode::BAD_REQUEST,
                format!("expected a list of fault rules: {err}"),
            ),
        },
        (_, "stats" | "clock" | "truth" | "faults") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed on /_sim/{rest}"),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no such admin path: /_sim/{rest}"),
        ),
    }
}
