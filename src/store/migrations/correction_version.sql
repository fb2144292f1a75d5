-- A correction's version: 1 as journaled, one more each time enrichment (the approval's business
-- id and approved-at arriving after the correction was applied) changes what the sinks were sent.
-- An enriched correction already delivered is due again for each sink, under the same key.
ALTER TABLE corrections ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
