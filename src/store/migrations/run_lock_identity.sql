-- Migration 2 (schema version 2): a lock holder is recognised by more than its pid.
--
-- `boot_id` (the kernel's boot id) and `start_ticks` (field 22 of /proc/PID/stat: the process's
-- start in clock ticks since boot) tell the holder from a later process reusing its pid, and a
-- reboot from a restart; both are NULL where they cannot be read (not Linux). `token` is drawn at
-- random for each acquisition: heartbeats and the release name the acquisition by it. A lock held
-- while the store is migrated gets a token of its own, so nobody can mistake it for theirs.
--
-- `runs.outcome` may now also be `abandoned`: a run whose process was gone when the next run took
-- the lock (killed, its host rebooted); its `finished_at_ms` is when that was found.

ALTER TABLE run_lock ADD COLUMN boot_id TEXT;
ALTER TABLE run_lock ADD COLUMN start_ticks INTEGER;
ALTER TABLE run_lock ADD COLUMN token TEXT NOT NULL DEFAULT '';
UPDATE run_lock SET token = lower(hex(randomblob(16)));
