-- Migration 5 (schema version 5): the directory, names and departments of people.
--
-- Filled from DingTalk's free contacts calls at most once a business day (`store::people`).
-- `people` holds each person ever seen with their current name (text from outside, escaped at
-- output); `left_on` is the business date of the first refresh that no longer listed them (NULL
-- while listed). `departments` holds each department ever seen with its current name.
-- `memberships` says in which departments a person was, over which business dates: from
-- `valid_from` (NULL: since before the person was first seen) up to but excluding `valid_to`
-- (NULL: still). `rank` is the department's position in DingTalk's list for the person; the
-- lowest valid on a date is the person's department on that date.

CREATE TABLE people (
    user_id       TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    left_on       TEXT
) STRICT, WITHOUT ROWID;

CREATE TABLE departments (
    dept_id       INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    parent_id     INTEGER,
    updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES people (user_id),
    dept_id    INTEGER NOT NULL,
    rank       INTEGER NOT NULL,
    valid_from TEXT,
    valid_to   TEXT
) STRICT;

CREATE INDEX memberships_user ON memberships (user_id, valid_to);
