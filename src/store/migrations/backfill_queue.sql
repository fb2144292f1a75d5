-- Migration 4 (schema version 4): queued backfills.
--
-- `backfill --queue` records a range for the nightly runs to work through out of each night's
-- surplus instead of spending the month's budget at once. `queued_at_ms` is when it was queued
-- (NULL: a backfill run by hand, never queued, or taken off the queue); `users` is the JSON array
-- of user ids it is limited to (NULL: the configured scope), kept because `users_hash` cannot be
-- turned back into the ids the nightly runs must ask for. `estimated_calls` is what the chunks left
-- were estimated to cost when it was queued. `finished_at_ms` is when its last chunk finished while
-- queued.

ALTER TABLE backfills ADD COLUMN queued_at_ms INTEGER;
ALTER TABLE backfills ADD COLUMN users TEXT;
ALTER TABLE backfills ADD COLUMN estimated_calls INTEGER;
ALTER TABLE backfills ADD COLUMN finished_at_ms INTEGER;
