-- Migration 3 (schema version 3): the pid namespace of a lock holder.
--
-- A pid means something only to a reader in the same pid namespace: a container sharing the host
-- name and the store (host networking, the same --hostname) sees other pids and another boot id,
-- and must not take over a run that is still beating because its own /proc has no such pid.
-- `pid_ns` is the holder's `/proc/<pid>/ns/pid` link (`pid:[inode]`), NULL where unknown; a lock
-- held while the store is migrated has none, so its pid counts only once its heartbeat is old.

ALTER TABLE run_lock ADD COLUMN pid_ns TEXT;
