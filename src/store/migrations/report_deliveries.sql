-- Migration 7 (schema version 7): the report-delivery journal.
--
-- One row per sink per report key (`nightly_summary:run:42`, `monthly_report:2026-10`): the
-- report is enqueued once (INSERT OR IGNORE), delivered at most once on purpose (`delivered_at_ms`
-- set when the sink acknowledged it), retried with backoff otherwise. Only the key is kept: the
-- message is rebuilt from the store when it is sent. `kind` is the sink's kind
-- (`dingtalk_robot`, …), so robot messages can be counted per month apart from the API budget.

CREATE TABLE report_deliveries (
    sink            TEXT    NOT NULL,
    report_key      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    enqueued_at_ms  INTEGER NOT NULL,
    delivered_at_ms INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_ms INTEGER NOT NULL,
    PRIMARY KEY (sink, report_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX report_deliveries_due ON report_deliveries (delivered_at_ms, next_attempt_ms);
