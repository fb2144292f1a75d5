//! The `plan` command's text and the `backfill` command's messages: the planned items with their
//! estimated metered cost, the cost estimate before a backfill starts, its refusal when the
//! estimate is over the budget left, where a stopped backfill resumes, and the closing line of a
//! run or backfill. Pure: strings in, strings out. Strings that come from the config (process
//! codes inside an item's description) go through [`escape::shown`](super::escape).

use chrono::NaiveDate;

use super::escape::shown;
use crate::quota::Outlook;
use crate::reconcile::{Plan, RunRequest};

/// The plan as text: one line per item with its estimated metered cost; `blocked`, the
/// sentence of a quota month DingTalk reported exhausted, under the budget line.
pub(crate) fn render_plan(
    plan: &Plan,
    request: &RunRequest,
    budget: u64,
    used: u64,
    month: &str,
    blocked: Option<&str>,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan for a {} run as of {} (work dates {} .. {})",
        request.kind.name(),
        request.as_of.to_rfc3339(),
        plan.window.0,
        plan.window.1
    );
    let _ = writeln!(
        out,
        "budget {budget} metered calls in {month}: {used} used, {} left; this run may spend {}",
        budget.saturating_sub(used),
        plan.allowance
    );
    if let Some(blocked) = blocked {
        let _ = writeln!(out, "{blocked}");
    }
    if let (Some(coverage), Some(cost)) = (&plan.coverage, &plan.cost) {
        let days = chrono::Datelike::day(&coverage.month.last_day());
        let _ = writeln!(
            out,
            "cost model: covering all {} employees needs about {} metered calls a night, {} a \
             month ({:.2} per employee-month; {} a night whoever is covered)",
            cost.employees,
            cost.per_night,
            cost.full_budget(days),
            cost.per_employee_month(days),
            cost.fixed_per_night
        );
        let _ = writeln!(
            out,
            "coverage in {}: {} of {} employees{}",
            coverage.month,
            coverage.covered_count(),
            coverage.total,
            if coverage.is_full() {
                String::new()
            } else {
                format!(
                    " (whole employees, by department, decided {}); a budget of {} would cover \
                     everyone",
                    coverage.decided_on, coverage.full_budget
                )
            }
        );
    }
    let _ = writeln!(out, "\n{:>6}  {:<16} item", "calls", "kind");
    for item in &plan.items {
        let _ = writeln!(
            out,
            "{:>6}  {:<16} {}{}",
            item.estimated_calls(),
            item.kind(),
            shown(&item.describe()),
            if plan.is_optional(item) {
                "  (optional: paid from the month's surplus)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "{:>6}  total planned", plan.estimated_calls);
    if !plan.deferred.is_empty() {
        let _ = writeln!(
            out,
            "\ndeferred (past this run's allowance; picked up by later runs):"
        );
        for item in &plan.deferred {
            let _ = writeln!(
                out,
                "{:>6}  {:<16} {}",
                item.estimated_calls(),
                item.kind(),
                shown(&item.describe())
            );
        }
    }
    out
}

/// What a backfill is about to do and what it will cost, shown before it starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BackfillEstimate<'a> {
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    pub(crate) chunks_to_do: usize,
    pub(crate) chunks: usize,
    /// Still to spend.
    pub(crate) estimate: u64,
    /// Already spent listing the approvals the estimate counts.
    pub(crate) listing: u64,
    /// The month's budget, what is left, what its nightly runs need, what is spare.
    pub(crate) outlook: Outlook,
    pub(crate) month: &'a str,
}

/// One line: the range, the chunks left, the estimated cost, the budget left this month and
/// how much of it the month's nightly runs still need.
pub(crate) fn backfill_estimate(estimate: &BackfillEstimate<'_>) -> String {
    let BackfillEstimate {
        from,
        to,
        chunks_to_do,
        chunks,
        estimate,
        listing,
        outlook,
        month,
    } = *estimate;
    let listed = if listing > 0 {
        format!(", {listing} of them spent listing 补卡 approvals already")
    } else {
        String::new()
    };
    format!(
        "backfill {from} .. {to}: {chunks_to_do} of {chunks} chunks to do, estimated cost {total} metered calls{listed}; \
         {left} of the {budget} budget left in {month}, the month's {nights} nightly runs need about {need} of it: {spare} spare",
        total = estimate + listing,
        left = outlook.remaining,
        budget = outlook.budget,
        nights = outlook.nights,
        need = outlook.nightly_need,
        spare = outlook.spare,
    )
}

/// Why a backfill that would eat into what the month's nightly runs need did not start, and the
/// ways to go on: queue it (`queue`: the command line that does, and the night it would finish
/// by), or start it bounded. Neither `--max-calls` nor `--yes` goes past the budget: a
/// backfill's allowance is what is left of the month's budget (at most N with `--max-calls N`),
/// so it stops there and stays resumable.
pub(crate) fn backfill_refusal(
    estimate: u64,
    outlook: &Outlook,
    queue: &str,
    finish: Option<NaiveDate>,
) -> String {
    let why = if estimate > outlook.remaining {
        format!(
            "the backfill would cost about {estimate} metered calls but only {} are left of this month's budget",
            outlook.remaining
        )
    } else {
        format!(
            "the backfill would cost about {estimate} metered calls and leave this month's {} nightly runs short: \
             {} are left, the nightly runs need about {} of them, {} are spare",
            outlook.nights, outlook.remaining, outlook.nightly_need, outlook.spare
        )
    };
    let finish = match finish {
        Some(date) => format!("expected to finish with the night of {date}"),
        None => "though at this budget the nights leave nothing spare to finish it".to_owned(),
    };
    format!(
        "{why}. Queue it instead with `{queue}`: the nightly runs work through it out of each night's spare \
         budget, oldest work dates first ({finish}). Or pass --max-calls N to spend at most N now, or --yes \
         to start anyway and spend what is left; either way it stops at the budget and the rest stays \
         resumable with --resume"
    )
}

/// What `backfill --queue` says once the range is on the queue.
pub(crate) fn backfill_queued(
    from: NaiveDate,
    to: NaiveDate,
    chunks_to_do: usize,
    estimate: u64,
    outlook: &Outlook,
    finish: Option<NaiveDate>,
) -> String {
    let finish = match finish {
        Some(date) => format!("expected to finish with the night of {date}"),
        None => "at this budget the nightly runs leave nothing spare: it waits until the budget is raised".to_owned(),
    };
    format!(
        "queued backfill {from} .. {to}: {chunks_to_do} chunk(s) to do, estimated cost {estimate} metered calls; \
         the nightly runs work through it out of each night's spare budget ({spare} spare this month now), {finish}. \
         `status` shows its progress; --unqueue takes it off the queue",
        spare = outlook.spare,
    )
}

/// Before a night works through the queue: tonight's share.
pub(crate) fn queue_share(share: u64, queued: usize) -> String {
    format!(
        "queued backfills: {queued} on the queue, tonight's share {share} metered calls (what the month's nightly runs do not need)"
    )
}

/// A queued chunk done (or not) tonight.
pub(crate) fn queue_chunk_line(
    chunk_from: NaiveDate,
    chunk_to: NaiveDate,
    outcome: &str,
    corrections: u64,
    calls: u64,
    share_left: u64,
) -> String {
    format!(
        "queued backfill chunk {chunk_from} .. {chunk_to}: {outcome}, {corrections} correction(s), \
         {calls} metered call(s); {share_left} of tonight's share left"
    )
}

/// The next queued chunk does not fit what is left of tonight's share.
pub(crate) fn queue_waits(
    chunk_from: NaiveDate,
    chunk_to: NaiveDate,
    estimate: u64,
    share: u64,
) -> String {
    format!(
        "queued backfill: the next chunk {chunk_from} .. {chunk_to} (estimated {estimate} metered calls) \
         waits for a later night ({share} of tonight's share left)"
    )
}

/// One queued chunk in a nightly `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueuedChunk {
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    pub(crate) estimate: u64,
    /// Whether it fits what is left of tonight's share.
    pub(crate) tonight: bool,
}

/// The queue section of a nightly `plan`: tonight's share and the chunks in order.
pub(crate) fn queue_plan(share: u64, queued: usize, chunks: &[QueuedChunk]) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "\nqueued backfills ({queued}): tonight's share about {share} metered calls, after the run above \
         (what the month's nightly runs do not need)\n"
    );
    for chunk in chunks {
        let _ = writeln!(
            out,
            "{:>6}  {:<16} {} .. {}{}",
            chunk.estimate,
            "queued chunk",
            chunk.from,
            chunk.to,
            if chunk.tonight {
                ""
            } else {
                "  (waits for a later night)"
            }
        );
    }
    out
}

/// A queued backfill whose last chunk finished.
pub(crate) fn queue_finished(from: NaiveDate, to: NaiveDate) -> String {
    format!("queued backfill {from} .. {to}: finished, taken off the queue")
}

/// Where a backfill stopped and how to continue it.
/// `on_request`: the stop came from SIGINT/SIGTERM rather than the run itself (budget, quota or
/// failed items).
pub(crate) fn backfill_stopped(
    chunk_from: NaiveDate,
    chunk_to: NaiveDate,
    on_request: bool,
) -> String {
    let why = if on_request {
        "stopped on request (SIGINT/SIGTERM)"
    } else {
        "budget, quota or failed items: see the report"
    };
    format!(
        "backfill stopped at {chunk_from} .. {chunk_to} ({why}); \
         continue later with the same command and --resume"
    )
}

/// What a run or a backfill did, in one closing line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Closing {
    /// `run`, or `backfill FROM .. TO`.
    pub(crate) what: String,
    /// `done`, `partial`, `failed`.
    pub(crate) outcome: String,
    pub(crate) corrections: u64,
    pub(crate) pending: u64,
    pub(crate) anomalies: u64,
    pub(crate) calls: u64,
    /// Metered calls left of the month's budget, the budget, the month (`YYYY-MM`).
    pub(crate) left: u64,
    pub(crate) budget: u64,
    pub(crate) month: String,
}

/// The one line every `run` and `backfill` ends with (on stderr unless `--report`).
pub(crate) fn closing_line(closing: &Closing) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{what}: {outcome} — {corrections} applied, {pending} pending, {anomalies}; \
         {calls} spent, {left} of the {budget} budget left in {month}",
        what = closing.what,
        outcome = closing.outcome,
        corrections = plural(closing.corrections, "correction", "corrections"),
        pending = closing.pending,
        anomalies = plural(closing.anomalies, "anomaly", "anomalies"),
        calls = plural(closing.calls, "metered call", "metered calls"),
        left = closing.left,
        budget = closing.budget,
        month = closing.month,
    )
}

/// One line per backfill chunk, for logs without a terminal (a terminal has the progress bar).
pub(crate) fn chunk_line(
    chunk_from: NaiveDate,
    chunk_to: NaiveDate,
    outcome: &str,
    corrections: u64,
    calls: u64,
    spent: u64,
) -> String {
    format!(
        "backfill chunk {chunk_from} .. {chunk_to}: {outcome}, {corrections} correction(s), \
         {calls} metered call(s) ({spent} in this backfill so far)"
    )
}

/// Before the second pass over chunks that had failed items.
pub(crate) fn backfill_revisit(chunks: usize) -> String {
    format!("backfill: coming back to {chunks} chunk(s) whose items failed on the first pass")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_closing_line_says_what_was_done_and_what_is_left() {
        let closing = Closing {
            what: "backfill 2026-10-01 .. 2026-10-31".to_owned(),
            outcome: "done".to_owned(),
            corrections: 228,
            pending: 3,
            anomalies: 1,
            calls: 675,
            left: 3325,
            budget: 4000,
            month: "2026-11".to_owned(),
        };
        assert_eq!(
            closing_line(&closing),
            "backfill 2026-10-01 .. 2026-10-31: done — 228 corrections applied, 3 pending, \
             1 anomaly; 675 metered calls spent, 3325 of the 4000 budget left in 2026-11"
        );
        let quiet = Closing {
            what: "run".to_owned(),
            outcome: "partial".to_owned(),
            calls: 1,
            corrections: 1,
            ..closing
        };
        assert!(closing_line(&quiet).starts_with("run: partial — 1 correction applied"));
        assert!(closing_line(&quiet).contains("; 1 metered call spent"));
    }

    #[test]
    fn the_estimate_names_range_chunks_cost_and_what_the_nights_need() {
        let line = backfill_estimate(&BackfillEstimate {
            from: day("2026-10-01"),
            to: day("2026-10-31"),
            chunks_to_do: 3,
            chunks: 5,
            estimate: 362,
            listing: 0,
            outlook: Outlook::new(4000, 3100, 29, 2520),
            month: "2026-11",
        });
        assert_eq!(
            line,
            "backfill 2026-10-01 .. 2026-10-31: 3 of 5 chunks to do, estimated cost 362 metered calls; \
             3100 of the 4000 budget left in 2026-11, the month's 29 nightly runs need about 580 of it: 2520 spare"
        );
        let listed = backfill_estimate(&BackfillEstimate {
            from: day("2026-10-01"),
            to: day("2026-10-31"),
            chunks_to_do: 5,
            chunks: 5,
            estimate: 540,
            listing: 11,
            outlook: Outlook::new(4000, 3989, 29, 3409),
            month: "2026-11",
        });
        assert_eq!(
            listed,
            "backfill 2026-10-01 .. 2026-10-31: 5 of 5 chunks to do, estimated cost 551 metered calls, \
             11 of them spent listing 补卡 approvals already; 3989 of the 4000 budget left in 2026-11, \
             the month's 29 nightly runs need about 580 of it: 3409 spare"
        );
    }

    #[test]
    fn a_refusal_and_a_stop_say_how_to_go_on() {
        let queue = "dingtalk-reconcile backfill --from 2026-10-01 --to 2026-10-31 --queue";
        let outlook = Outlook::new(4000, 3100, 29, 2520);
        let refusal = backfill_refusal(3000, &outlook, queue, Some(day("2026-12-01")));
        assert!(
            refusal.starts_with(
                "the backfill would cost about 3000 metered calls and leave this month's 29 nightly runs short: \
                 3100 are left, the nightly runs need about 580 of them, 2520 are spare. Queue it instead with \
                 `dingtalk-reconcile backfill --from 2026-10-01 --to 2026-10-31 --queue`"
            ),
            "{refusal}"
        );
        assert!(refusal.contains("expected to finish with the night of 2026-12-01"));
        let over = backfill_refusal(3200, &outlook, queue, None);
        assert!(
            over.starts_with(
                "the backfill would cost about 3200 metered calls but only 3100 are left"
            ),
            "{over}"
        );
        assert!(over.contains("leave nothing spare"));
        assert!(refusal.contains("--max-calls N") && refusal.contains("--yes"));
        // `--yes` starts the backfill; the run still stops at the budget.
        assert!(!refusal.contains("past the budget"), "{refusal}");
        assert!(
            refusal.contains("--yes to start anyway and spend what is left")
                && refusal.contains("stops at the budget"),
            "{refusal}"
        );
        let stopped = backfill_stopped(day("2026-10-08"), day("2026-10-14"), false);
        assert!(stopped.contains("(budget, quota or failed items: see the report)"));
        let signalled = backfill_stopped(day("2026-10-08"), day("2026-10-14"), true);
        assert!(signalled.contains("(stopped on request (SIGINT/SIGTERM))"));
        assert!(signalled.ends_with("--resume"));
        assert!(stopped.starts_with("backfill stopped at 2026-10-08 .. 2026-10-14"));
        assert!(stopped.ends_with("--resume"));
    }
}
