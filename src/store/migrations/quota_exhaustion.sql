-- Migration 8 (schema version 8): the months DingTalk reported the organisation's monthly quota
-- exhausted (90020).
--
-- One row per quota month (`YYYY-MM` in the business time zone), written the first time a run
-- met the answer that month and never changed after (INSERT OR IGNORE). While the month's row
-- exists no run makes a metered call. `own_metered` is our own metered count of the month when it
-- was seen, `budget` the configured monthly budget then; `by_other_apps` is 1 when our own count
-- was far below our budget (the organisation's other apps spent the shared quota), 0 when it
-- was our own spending. `run_id` is the run that met it (NULL: none was recorded).

CREATE TABLE quota_exhaustions (
    month         TEXT    NOT NULL PRIMARY KEY,
    seen_at_ms    INTEGER NOT NULL,
    own_metered   INTEGER NOT NULL,
    budget        INTEGER NOT NULL,
    by_other_apps INTEGER NOT NULL CHECK (by_other_apps IN (0, 1)),
    run_id        INTEGER
) STRICT, WITHOUT ROWID;
