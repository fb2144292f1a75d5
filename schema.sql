-- dingtalk-reconcile store, schema version 1.
--
-- Applied once, inside an exclusive transaction, by `store::open` (migration 1). Never edit this
-- file once released: later changes append new migrations to `MIGRATIONS` in `src/store/open.rs`.
--
-- Conventions: user ids are TEXT (leading zeros matter); instants are INTEGER epoch milliseconds
-- UTC (columns ending in `_ms`); work dates are TEXT `YYYY-MM-DD` in the business time zone;
-- slot keys are the canonical `USER|YYYY-MM-DD|plan:ID` / `USER|YYYY-MM-DD|CHECKTYPE@MILLIS`
-- text, so every slot of one user-day shares the prefix `USER|YYYY-MM-DD|`. Enumerations are
-- stored in DingTalk's own spelling (unknown values kept verbatim). No secret is ever stored.

-- Identifies the file as ours, beside `PRAGMA application_id`.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

INSERT INTO meta (key, value) VALUES ('application', 'dingtalk-reconcile');

-- One row per execution (nightly, backfill, daemon tick).
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL,
    trigger        TEXT    NOT NULL,
    as_of_ms       INTEGER NOT NULL,
    window_from    TEXT    NOT NULL,
    window_to      TEXT    NOT NULL,
    plan_json      TEXT    NOT NULL,
    started_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    -- `running` until finished; then `done`, `partial` or `failed`.
    outcome        TEXT    NOT NULL DEFAULT 'running',
    errors_json    TEXT    NOT NULL DEFAULT '[]',
    deferred_json  TEXT
) STRICT;

CREATE INDEX runs_window ON runs (window_from, window_to);

-- Findings per class of one finished run.
CREATE TABLE run_counts (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    class  TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (run_id, class)
) STRICT, WITHOUT ROWID;

-- The snapshot: the last state of every slot as DingTalk reported it. `present = 0` once the
-- slot vanished from a complete fetch of its user-day. The first observation is described by
-- the `first_seen_*` columns instead of a history row (the hot path of a backfill writes one row
-- per slot); `slot_history` holds every later change.
CREATE TABLE slots (
    slot_key         TEXT    PRIMARY KEY,
    user_id          TEXT    NOT NULL,
    work_date        TEXT    NOT NULL,
    check_type       TEXT    NOT NULL,
    plan_id          INTEGER,
    base_check_ms    INTEGER NOT NULL,
    user_check_ms    INTEGER,
    time_result      TEXT    NOT NULL,
    location_result  TEXT    NOT NULL,
    source_type      TEXT    NOT NULL,
    proc_inst_id     TEXT,
    approve_id       INTEGER,
    record_id        INTEGER,
    group_id         INTEGER,
    row_id           INTEGER,
    observed_at_ms   INTEGER NOT NULL,
    first_seen_run   INTEGER NOT NULL REFERENCES runs (id),
    first_seen_ms    INTEGER NOT NULL,
    first_class      TEXT,
    last_seen_run    INTEGER NOT NULL REFERENCES runs (id),
    present          INTEGER NOT NULL DEFAULT 1
) STRICT, WITHOUT ROWID;

-- No index on work_date alone: slots are read per user (key prefix) or, for open slots, through
-- the partial index below; every extra index costs each of a backfill's million inserts.
-- Candidates for a targeted re-fetch: present check points DingTalk shows as not signed.
CREATE INDEX slots_open ON slots (work_date) WHERE present = 1 AND time_result = 'NotSigned';

-- Every observed change after a slot's first observation. `before_json` always holds the slot
-- as it was (JSON of the domain `Slot`); `after_json` is NULL for `vanished`.
CREATE TABLE slot_history (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES runs (id),
    slot_key       TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    work_date      TEXT    NOT NULL,
    observed_at_ms INTEGER NOT NULL,
    change         TEXT    NOT NULL CHECK (change IN ('new', 'changed', 'vanished')),
    before_json    TEXT    NOT NULL,
    after_json     TEXT,
    class          TEXT
) STRICT;

CREATE INDEX slot_history_user_day ON slot_history (user_id, work_date);

-- 补卡 approvals fetched in detail. `raw_json` is the detail response as received.
CREATE TABLE approvals (
    id                TEXT    PRIMARY KEY,
    process_code      TEXT    NOT NULL,
    business_id       TEXT,
    title             TEXT,
    originator        TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    result            TEXT,
    create_time_ms    INTEGER,
    finish_time_ms    INTEGER,
    corrected_time_ms INTEGER,
    has_ext           INTEGER NOT NULL,
    ext_plan_id       INTEGER,
    ext_work_date     TEXT,
    ext_user_check_ms INTEGER,
    reason            TEXT,
    biz_action        TEXT,
    raw_json          TEXT    NOT NULL,
    first_seen_run    INTEGER NOT NULL REFERENCES runs (id),
    last_fetched_run  INTEGER NOT NULL REFERENCES runs (id),
    fetched_at_ms     INTEGER NOT NULL
) STRICT;

CREATE INDEX approvals_originator ON approvals (originator);

-- Approval ids seen in a listing; the detail may be fetched later (deferred by the budget).
CREATE TABLE approval_listings (
    id            TEXT    PRIMARY KEY,
    process_code  TEXT    NOT NULL,
    listed_run    INTEGER NOT NULL REFERENCES runs (id),
    listed_at_ms  INTEGER NOT NULL
) STRICT;

-- The terminal (or pending) class recorded for an approval. Kept apart from `approvals` so an
-- approval known only from a slot's `procInstId` can be resolved before its detail is fetched.
CREATE TABLE approval_resolutions (
    approval_id   TEXT    PRIMARY KEY,
    class         TEXT    NOT NULL,
    slot_key      TEXT,
    resolved_run  INTEGER NOT NULL REFERENCES runs (id)
) STRICT;

-- The ledger: the company's attendance record per slot, as this job has told it.
CREATE TABLE ledger (
    slot_key            TEXT    PRIMARY KEY,
    time_result         TEXT    NOT NULL,
    check_time_ms       INTEGER,
    source_type         TEXT    NOT NULL,
    proc_inst_id        TEXT,
    cause_class         TEXT    NOT NULL,
    cause_approval      TEXT,
    last_correction_key TEXT,
    updated_run         INTEGER NOT NULL REFERENCES runs (id)
) STRICT, WITHOUT ROWID;

-- The corrections journal. The UNIQUE idempotency key is what makes applying exactly-once.
-- `before_*` columns are all NULL when the slot had no ledger row yet.
CREATE TABLE corrections (
    id                  INTEGER PRIMARY KEY,
    idempotency_key     TEXT    NOT NULL UNIQUE,
    run_id              INTEGER NOT NULL REFERENCES runs (id),
    slot_key            TEXT    NOT NULL,
    user_id             TEXT    NOT NULL,
    work_date           TEXT    NOT NULL,
    class               TEXT    NOT NULL,
    before_time_result  TEXT,
    before_check_ms     INTEGER,
    before_source_type  TEXT,
    before_proc_inst_id TEXT,
    after_time_result   TEXT    NOT NULL,
    after_check_ms      INTEGER,
    after_source_type   TEXT    NOT NULL,
    after_proc_inst_id  TEXT,
    before_observed     INTEGER NOT NULL,
    process_instance_id TEXT,
    business_id         TEXT,
    approved_at_ms      INTEGER,
    applied_at_ms       INTEGER NOT NULL
) STRICT;

CREATE INDEX corrections_run ON corrections (run_id);
CREATE INDEX corrections_work_date ON corrections (work_date);
CREATE INDEX corrections_user_day ON corrections (user_id, work_date);
CREATE INDEX corrections_process_instance ON corrections (process_instance_id)
    WHERE process_instance_id IS NOT NULL;

-- The outbox: one row per (sink, correction); delivered once acknowledged.
CREATE TABLE outbox (
    sink             TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL REFERENCES corrections (idempotency_key),
    enqueued_at_ms   INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    delivered_at_ms  INTEGER,
    last_error       TEXT,
    PRIMARY KEY (sink, idempotency_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX outbox_due ON outbox (sink, next_attempt_ms) WHERE delivered_at_ms IS NULL;

-- Report items of one run: pending, anomalies, refused, withdrawn, … `fingerprint` makes
-- recording the same finding twice in one run a no-op.
CREATE TABLE findings (
    id                  INTEGER PRIMARY KEY,
    run_id              INTEGER NOT NULL REFERENCES runs (id),
    fingerprint         TEXT    NOT NULL,
    class               TEXT    NOT NULL,
    slot_key            TEXT,
    user_id             TEXT,
    work_date           TEXT,
    check_type          TEXT,
    plan_id             INTEGER,
    process_instance_id TEXT,
    detail              TEXT    NOT NULL,
    UNIQUE (run_id, fingerprint)
) STRICT;

CREATE INDEX findings_work_date ON findings (work_date);

-- Resumable, chunked backfills: one row per requested range and user scope.
CREATE TABLE backfills (
    id          INTEGER PRIMARY KEY,
    window_from TEXT    NOT NULL,
    window_to   TEXT    NOT NULL,
    users_hash  TEXT    NOT NULL,
    UNIQUE (window_from, window_to, users_hash)
) STRICT;

CREATE TABLE backfill_chunks (
    backfill_id INTEGER NOT NULL REFERENCES backfills (id),
    chunk_from  TEXT    NOT NULL,
    chunk_to    TEXT    NOT NULL,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    PRIMARY KEY (backfill_id, chunk_from, chunk_to)
) STRICT, WITHOUT ROWID;

-- Every attempt at a DingTalk endpoint. `month` is the natural month in the business time zone.
-- `run_id` has no foreign key: the call ledger is evidence and is never refused.
CREATE TABLE calls (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER,
    endpoint         TEXT    NOT NULL,
    month            TEXT    NOT NULL,
    at_ms            INTEGER NOT NULL,
    outcome          TEXT    NOT NULL,
    outcome_detail   TEXT,
    metered_endpoint INTEGER NOT NULL,
    metered          INTEGER NOT NULL
) STRICT;

CREATE INDEX calls_month ON calls (month);
CREATE INDEX calls_run ON calls (run_id) WHERE run_id IS NOT NULL;

-- The run lock: at most one row. No two runs of one store overlap.
CREATE TABLE run_lock (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pid            INTEGER NOT NULL,
    host           TEXT    NOT NULL,
    run_id         INTEGER,
    acquired_at_ms INTEGER NOT NULL,
    heartbeat_ms   INTEGER NOT NULL
) STRICT;
