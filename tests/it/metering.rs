//! The client's metering rule and the simulator's own copy of it agree on every DingTalk path the
//! simulator serves and every way it answers, so the job's count of metered calls equals the
//! simulator's. Each side's rule is written separately (dingtalk-api.md section 8); this file
//! only compares them, through how the client books each kind of answer.

use dingtalk_reconcile::domain::{CallOutcome, is_metered_endpoint};
use dingtalk_sim::{Answered, dingtalk_paths, is_metered_path};

/// One answer of each kind the simulator gives.
fn every_kind_of_answer() -> Vec<Answered> {
    vec![
        Answered::Ok,
        Answered::BusinessError("40035".into()),
        Answered::BusinessError("InvalidAuthentication".into()),
        Answered::Throttled,
        Answered::QuotaExhausted,
        Answered::IpBanned,
        Answered::ServerError(502),
        Answered::ServerError(503),
        Answered::Malformed,
        Answered::Redirected(302),
        Answered::Redirected(307),
        Answered::ForeignPage,
    ]
}

/// How the client books an answer of this kind (its classification of the envelope).
fn as_the_client_books_it(answer: &Answered) -> CallOutcome {
    match answer {
        Answered::Ok => CallOutcome::Ok,
        Answered::BusinessError(code) => CallOutcome::Error(code.clone()),
        Answered::Throttled => CallOutcome::Throttled,
        Answered::QuotaExhausted => CallOutcome::QuotaExhausted,
        Answered::IpBanned => CallOutcome::IpBanned,
        Answered::ServerError(status) => CallOutcome::ServerError(*status),
        Answered::Malformed => CallOutcome::Malformed,
        Answered::Redirected(status) => CallOutcome::Redirected(*status),
        Answered::ForeignPage => CallOutcome::HtmlPage,
    }
}

#[test]
fn the_client_and_the_simulator_meter_the_same_calls() {
    let paths: Vec<&str> = dingtalk_paths().collect();
    assert_eq!(paths.len(), 12, "both families' paths: {paths:?}");
    for path in paths {
        assert_eq!(
            is_metered_endpoint(path),
            is_metered_path(path),
            "whether {path} is metered"
        );
        for answer in every_kind_of_answer() {
            let client = as_the_client_books_it(&answer);
            assert_eq!(
                is_metered_endpoint(path) && client.counts_against_quota(),
                is_metered_path(path) && answer.counts_against_quota(),
                "{path} answered {answer:?}, booked by the client as {client:?}"
            );
        }
    }
}

#[test]
fn a_call_reserved_but_never_settled_counts_whatever_the_simulator_made_of_it() {
    // A crash between the ledger's reservation and its settlement leaves the call reserved: it
    // must count whenever the simulator may have counted it, so the job never counts fewer.
    for path in dingtalk_paths() {
        for answer in every_kind_of_answer() {
            if is_metered_path(path) && answer.counts_against_quota() {
                assert!(
                    is_metered_endpoint(path) && CallOutcome::Reserved.counts_against_quota(),
                    "{path} answered {answer:?}"
                );
            }
        }
    }
}

#[test]
fn a_slow_answer_the_client_gave_up_on_is_metered_on_both_sides() {
    // The simulator still serves the call (and counts it); the client books a timeout.
    for path in dingtalk_paths() {
        assert_eq!(
            is_metered_endpoint(path) && CallOutcome::Timeout.counts_against_quota(),
            is_metered_path(path) && Answered::Ok.counts_against_quota(),
            "{path}"
        );
    }
}
