//! A report as a message some sinks deliver (`send = ["nightly_summary", "monthly_report"]`):
//! the nightly summary after each night, the monthly report for HR once a month. Built from the
//! report renderers (Markdown summary, HTML, xlsx) by the code that schedules them; sinks only
//! carry it. Every message has a key unique per report, under which its delivery to each sink is
//! journaled exactly once and which the receiver can deduplicate on.

use serde::Deserialize;

/// What a sink receives, listed in its `send` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivers {
    /// Each journaled correction, through the outbox.
    Corrections,
    /// The summary of each nightly run.
    NightlySummary,
    /// The previous month's report, on the configured day, once its dates are reconciled.
    MonthlyReport,
}

impl Delivers {
    /// The name written in `send`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Delivers::Corrections => "corrections",
            Delivers::NightlySummary => "nightly_summary",
            Delivers::MonthlyReport => "monthly_report",
        }
    }
}

/// Which report a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportKind {
    NightlySummary,
    MonthlyReport,
}

/// One report, ready for a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportMessage {
    /// Unique per report: `nightly_summary:run:42`, `monthly_report:2026-10`.
    pub(crate) key: String,
    pub(crate) kind: ReportKind,
    /// One line: the title of a mail, of a robot message.
    pub(crate) subject: String,
    /// The chat-sized Markdown summary (at most 4,000 characters).
    pub(crate) markdown: String,
    /// The whole report as one self-contained HTML page.
    pub(crate) html: String,
    /// The xlsx workbook: file name and bytes (the monthly report's mail attachment).
    pub(crate) attachment: Option<(String, Vec<u8>)>,
}
