//! Tests of opening stores: creation, reopening, and refusing what is not ours.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::{APPLICATION_ID, SCHEMA_VERSION};
use crate::store::test_support::{at, day, new_run};
use crate::store::*;

fn temp_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("reconcile.db")
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

#[track_caller]
fn check_not_ours(path: &Path, expected_reason: &str) {
    let err = Store::open(path).unwrap_err();
    match &err {
        Error::NotOurs {
            path: named,
            reason,
        } => {
            assert_eq!(named, path);
            assert!(reason.contains(expected_reason), "reason {reason:?}");
        }
        other => panic!("expected NotOurs, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_new_store_is_identified_as_ours_at_the_current_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    let store = Store::open(&path).unwrap();
    let application_id: i32 = store
        .conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .unwrap();
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    let journal_mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    let foreign_keys: bool = store
        .conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .unwrap();
    assert_eq!(application_id, APPLICATION_ID);
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(journal_mode, "wal");
    assert!(foreign_keys);
}

#[test]
fn reopening_a_store_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    let run_id = {
        let mut store = Store::open(&path).unwrap();
        store.begin_run(&new_run(day(1), day(7))).unwrap()
    };
    let store = Store::open(&path).unwrap();
    let run = store.run(run_id).unwrap().unwrap();
    assert_eq!((run.window_from, run.window_to), (day(1), day(7)));
    assert_eq!(run.started_at, at(2));
}

#[test]
fn a_store_written_by_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    drop(Store::open(&path).unwrap());
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();

    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, Error::NewerVersion { found, supported, .. }
            if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn a_foreign_sqlite_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    raw(&path)
        .execute_batch("CREATE TABLE payroll (id INTEGER); INSERT INTO payroll VALUES (1);")
        .unwrap();
    let before = fs::read(&path).unwrap();

    check_not_ours(&path, "another application");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn a_database_with_another_application_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    raw(&path)
        .pragma_update(None, "application_id", 0x1234_5678)
        .unwrap();
    check_not_ours(&path, "application id 0x12345678");
}

#[test]
fn our_application_id_without_the_meta_row_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    let connection = raw(&path);
    connection
        .pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    connection.execute_batch("CREATE TABLE other (x)").unwrap();
    drop(connection);
    check_not_ours(&path, "meta table is missing");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    fs::write(&path, "timezone = \"Asia/Shanghai\"\n[dingtalk]\n").unwrap();
    check_not_ours(&path, "does not start with the SQLite header");
}

#[track_caller]
fn check_unusable(path: &Path, expected_problem: &str) {
    let err = Store::open(path).unwrap_err();
    match &err {
        Error::Unusable {
            path: named,
            problem,
            expected,
        } => {
            assert_eq!(named, path);
            assert!(problem.contains(expected_problem), "problem {problem:?}");
            assert!(!expected.is_empty());
        }
        other => panic!("expected Unusable, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("expected"), "{text}");
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    check_unusable(dir.path(), "it is a directory");
}

#[test]
fn a_path_under_a_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    fs::write(&file, "x").unwrap();
    check_unusable(&file.join("reconcile.db"), "is not a directory");
}

#[cfg(unix)]
#[test]
fn a_device_is_refused() {
    check_unusable(Path::new("/dev/null"), "not a regular file");
}

#[test]
fn a_corrupted_store_is_refused_with_the_damage_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    {
        let mut store = Store::open(&path).unwrap();
        for _ in 0..50 {
            store.begin_run(&new_run(day(1), day(7))).unwrap();
        }
    }
    let mut bytes = fs::read(&path).unwrap();
    assert!(bytes.len() > 8192, "store has more than one page");
    let page_size = 4096;
    for byte in &mut bytes[page_size..] {
        *byte = 0xA5;
    }
    fs::write(&path, &bytes).unwrap();

    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("corrupted"), "{err}");
}

#[test]
fn an_empty_existing_file_becomes_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    fs::write(&path, "").unwrap();
    let run_id = {
        let mut store = Store::open(&path).unwrap();
        store.begin_run(&new_run(day(1), day(1))).unwrap()
    };
    assert!(
        fs::metadata(&path).unwrap().len() > 0,
        "the schema was written"
    );
    let reopened = Store::open(&path).unwrap();
    let latest = reopened.latest_run().unwrap().expect("the run was kept");
    assert_eq!(latest.id, run_id);
}

#[test]
fn a_missing_directory_is_unusable_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent").join("reconcile.db");
    check_unusable(&path, "absent does not exist");
}

/// A store of ours at `version`, written by that version's migrations (no later ones).
fn store_at_version(path: &Path, version: usize) -> Connection {
    let connection = raw(path);
    for migration in &super::MIGRATIONS[..version] {
        connection.execute_batch(migration).unwrap();
    }
    connection
        .pragma_update(None, "user_version", version as i64)
        .unwrap();
    connection
        .pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    connection
}

#[test]
fn a_negative_or_zero_schema_version_is_refused_naming_it_and_the_range() {
    for version in [-1, 0] {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        drop(Store::open(&path).unwrap());
        raw(&path)
            .pragma_update(None, "user_version", version)
            .unwrap();
        let before = fs::read(&path).unwrap();

        let err = Store::open(&path).unwrap_err();

        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("is {version}, expected 1 to {SCHEMA_VERSION}")),
            "{text}"
        );
        assert_eq!(fs::read(&path).unwrap(), before, "left untouched");
    }
}

#[test]
fn a_schema_that_differs_is_refused_with_a_short_summary_of_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    drop(Store::open(&path).unwrap());
    raw(&path)
        .execute_batch(
            "ALTER TABLE runs DROP COLUMN deferred_json;
             DROP INDEX corrections_run;
             CREATE TABLE extra (x INTEGER);
             CREATE INDEX theirs ON corrections (slot_key);
             CREATE TRIGGER audit AFTER INSERT ON runs BEGIN SELECT 1; END;",
        )
        .unwrap();

    let err = Store::open(&path).unwrap_err();

    match &err {
        Error::SchemaMismatch {
            version,
            differences,
            ..
        } => {
            assert_eq!(*version, SCHEMA_VERSION);
            assert_eq!(
                differences,
                &[
                    "index corrections_run is missing",
                    "table runs: column deferred_json is missing",
                    "table extra is not expected",
                ]
            );
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.len() < 400, "{} bytes: {text}", text.len());
    assert!(!text.contains("CREATE"), "{text}");
}

#[test]
fn many_differences_are_cut_to_a_few_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    let connection = raw(&path);
    connection
        .pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    connection
        .execute_batch(
            "PRAGMA user_version = 1;
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
             INSERT INTO meta VALUES ('application', 'dingtalk-reconcile');",
        )
        .unwrap();
    drop(connection);

    let err = Store::open(&path).unwrap_err();

    let Error::SchemaMismatch { differences, .. } = &err else {
        panic!("expected SchemaMismatch, got {err:?}");
    };
    assert_eq!(differences.len(), 5, "{differences:?}");
    assert!(
        differences[4].starts_with("and ") && differences[4].ends_with(" more differences"),
        "{differences:?}"
    );
    assert!(err.to_string().len() < 500, "{err}");
}

#[test]
fn a_version_1_store_holding_the_lock_is_migrated_and_its_holder_keeps_a_token_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    let connection = store_at_version(&path, 1);
    connection
        .execute(
            "INSERT INTO run_lock (id, pid, host, run_id, acquired_at_ms, heartbeat_ms)
             VALUES (1, 77, 'old-host', NULL, 0, 0)",
            [],
        )
        .unwrap();
    drop(connection);

    let store = Store::open(&path).unwrap();

    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let holder = store.lock_holder().unwrap().expect("the lock is kept");
    assert_eq!((holder.pid, holder.host.as_str()), (77, "old-host"));
    assert_eq!(holder.process_start, None);
    assert_eq!(holder.token.len(), 32, "{holder:?}");
}

#[cfg(unix)]
#[test]
fn a_new_store_and_its_wal_files_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    let mut store = Store::open(&path).unwrap();
    store.begin_run(&new_run(day(1), day(1))).unwrap();

    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    let wal = path.with_extension("db-wal");
    assert!(wal.exists(), "the store writes through a WAL");
    assert_eq!(mode(&wal), 0o600);
    let shm = path.with_extension("db-shm");
    assert!(shm.exists(), "the WAL index is on disk");
    assert_eq!(mode(&shm), 0o600);
}

#[test]
fn in_memory_stores_are_private_to_each_other() {
    let mut first = Store::open_in_memory().unwrap();
    let second = Store::open_in_memory().unwrap();
    first.begin_run(&new_run(day(1), day(1))).unwrap();
    assert!(first.latest_run().unwrap().is_some());
    assert!(second.latest_run().unwrap().is_none());
}

#[test]
fn the_store_moves_to_another_thread_and_the_call_log_is_shared_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir);
    let store = Store::open(&path).unwrap();
    let log = store.call_log().unwrap();
    let call = |endpoint: &str| crate::domain::CallRecord {
        endpoint: endpoint.to_owned(),
        metered_endpoint: true,
        outcome: crate::domain::CallOutcome::Ok,
        at: at(2),
    };
    // Two clones of one log record from two threads at once.
    let writers: Vec<_> = ["/attendance/list", "/attendance/listRecord"]
        .into_iter()
        .map(|endpoint| {
            let log = log.clone();
            let record = call(endpoint);
            std::thread::spawn(move || {
                for _ in 0..3 {
                    log.record(None, &record, "2026-12").unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    // The store itself is moved to another thread and read there.
    let usage = std::thread::spawn(move || store.month_usage("2026-12").unwrap())
        .join()
        .unwrap();
    assert_eq!(usage.attempts, 6);
    assert_eq!(usage.metered, 6);
    assert_eq!(usage.by_endpoint.get("/attendance/list"), Some(&3));
    assert_eq!(usage.by_endpoint.get("/attendance/listRecord"), Some(&3));
}

#[cfg(target_os = "linux")]
#[test]
fn a_store_that_cannot_be_created_is_unusable() {
    // /proc takes no new file, even from root.
    check_unusable(Path::new("/proc/reconcile.db"), "it cannot be created");
}
