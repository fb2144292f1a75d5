//! Opening a store: create the file owner-only, make sure it is ours, set the connection up,
//! migrate.
//!
//! Order matters: the path is checked first (its directory exists, it is a file this user can
//! write: [`Error::Unusable`] otherwise); nothing is written to a file before it is identified as
//! ours (or as a brand new empty database) with the tables of its version (`schema`), so
//! pointing the tool at the wrong file never damages it. Migrations are
//! an append-only list (`MIGRATIONS[0]` is `schema.sql`); the version lives in
//! `PRAGMA user_version` and is only ever raised inside an exclusive transaction.
//!
//! This module does not read or write any table but `meta`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::error::{Error, Location, SqlResultExt};

/// `PRAGMA application_id` of every store: `DTRC` in ASCII.
pub(crate) const APPLICATION_ID: i32 = 0x4454_5243;

/// The value of the `meta` row `application`, the second proof that a file is ours.
pub(crate) const APPLICATION_NAME: &str = "dingtalk-reconcile";

/// Every schema change, in order. Entry `n` takes a store from version `n` to `n + 1`. Never
/// edit or reorder an entry once released; append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../schema.sql"),
    include_str!("migrations/run_lock_identity.sql"),
    include_str!("migrations/run_lock_pid_namespace.sql"),
    include_str!("migrations/backfill_queue.sql"),
    include_str!("migrations/people.sql"),
    include_str!("migrations/correction_version.sql"),
    include_str!("migrations/report_deliveries.sql"),
    include_str!("migrations/quota_exhaustion.sql"),
    include_str!("migrations/approval_links.sql"),
];

/// The schema version this build writes and understands.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a statement waits for another connection's write lock before failing. Runs write in
/// batches of a few thousand rows, so a wait is short; the call log writes from another
/// connection while a batch commits.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Files up to this size get a full `PRAGMA quick_check` at open; larger ones rely on SQLite
/// reporting corruption when a damaged page is read.
const QUICK_CHECK_MAX_BYTES: u64 = 64 * 1024 * 1024;

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What a store's connections open: a file, or a named in-process memory database.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    File(PathBuf),
    /// A `memdb` URI: every connection opening it in this process shares one database, which
    /// lives as long as one connection is open.
    Memory(String),
}

impl Target {
    pub(crate) fn memory() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Target::Memory(format!(
            "file:/dingtalk-reconcile-{}-{n}?vfs=memdb",
            std::process::id()
        ))
    }

    /// Opens one connection with the busy timeout set; touches no page of the database.
    pub(crate) fn connect(&self, location: &Location) -> Result<Connection, Error> {
        let connection = match self {
            Target::File(path) => Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            ),
            Target::Memory(uri) => Connection::open_with_flags(
                uri,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            ),
        }
        .at(location)?;
        connection.busy_timeout(BUSY_TIMEOUT).at(location)?;
        Ok(connection)
    }

    /// Sets the per-connection pragmas every connection of a store uses.
    pub(crate) fn configure(
        &self,
        connection: &Connection,
        location: &Location,
    ) -> Result<(), Error> {
        if let Target::File(_) = self {
            let mode: String = connection
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .at(location)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(journal_mode = %mode, store = %location, "store is not in WAL mode");
            }
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .at(location)?;
        connection
            .pragma_update(None, "foreign_keys", true)
            .at(location)?;
        Ok(())
    }
}

/// Opens (creating if absent) and migrates the store behind `target`.
pub(crate) fn open(target: &Target, location: &Location) -> Result<Connection, Error> {
    let small_enough_to_check = match target {
        Target::File(path) => prepare_file(path, location)?,
        Target::Memory(_) => false,
    };
    let mut connection = target.connect(location).map_err(cannot_write)?;
    let identity = identify(&connection, location)?;
    if small_enough_to_check && identity != Identity::Fresh {
        quick_check(&connection, location)?;
    }
    if let Identity::Ours(version) = identity {
        schema::check(&connection, version, location)?;
    }
    target
        .configure(&connection, location)
        .map_err(cannot_write)?;
    if identity != Identity::Ours(SCHEMA_VERSION) {
        migrate(&mut connection, location).map_err(cannot_write)?;
    }
    Ok(connection)
}

/// SQLite refusing to open or write the file (its directory not writable for the `-wal` and
/// `-shm` files, a read-only file system) makes the path unusable rather than the store bad.
fn cannot_write(error: Error) -> Error {
    let Error::Sqlite { path, source } = &error else {
        return error;
    };
    match source.sqlite_error_code() {
        Some(
            rusqlite::ErrorCode::CannotOpen
            | rusqlite::ErrorCode::ReadOnly
            | rusqlite::ErrorCode::PermissionDenied,
        ) => Error::Unusable {
            path: path.clone(),
            problem: format!("SQLite cannot open it for writing ({source})"),
            expected: "a file this user can read and write, in a directory this user can write \
                       (SQLite keeps its -wal and -shm files beside the store)",
        },
        _ => error,
    }
}

/// Creates the file owner-only if absent; if present, checks it is a regular file that starts
/// like an SQLite database (or is empty). Returns whether it is small enough for a quick check.
///
/// SQLite creates the `-wal` and `-shm` files with the permissions of the database file, so
/// creating the database 0600 keeps all three owner-only whatever the umask.
fn prepare_file(path: &Path, location: &Location) -> Result<bool, Error> {
    check_directory(path, location)?;
    match fs::metadata(path) {
        Ok(metadata) => {
            if metadata.is_dir() {
                return Err(unusable(
                    location,
                    "it is a directory".into(),
                    "the path of a store file (or of one to create), not a directory",
                ));
            }
            if !metadata.is_file() {
                return Err(unusable(
                    location,
                    "it is not a regular file (a device, a pipe or a socket)".into(),
                    "the path of a regular file",
                ));
            }
            if let Err(err) = OpenOptions::new().read(true).write(true).open(path) {
                return Err(unusable(
                    location,
                    format!("it cannot be opened for reading and writing ({err})"),
                    "a file this user can read and write",
                ));
            }
            warn_if_readable_by_others(&metadata, location);
            let mut header = Vec::with_capacity(SQLITE_HEADER.len());
            File::open(path)
                .and_then(|file| {
                    file.take(SQLITE_HEADER.len() as u64)
                        .read_to_end(&mut header)
                })
                .map_err(|err| location.io("read the store file's header", err))?;
            if !header.is_empty() && header.as_slice() != SQLITE_HEADER {
                return Err(not_ours(
                    location,
                    "not an SQLite database (the file does not start with the SQLite header)",
                ));
            }
            Ok(metadata.len() <= QUICK_CHECK_MAX_BYTES)
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            create_owner_only(path).map_err(|err| {
                unusable(
                    location,
                    format!("it cannot be created ({err})"),
                    "a path in a directory this user can write",
                )
            })?;
            Ok(false)
        }
        Err(err) => Err(unusable(
            location,
            format!("its metadata cannot be read ({err})"),
            "a path this user can read",
        )),
    }
}

/// The store's directory exists and is a directory.
fn check_directory(path: &Path, location: &Location) -> Result<(), Error> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let expected = "a file in an existing directory";
    match fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(unusable(
            location,
            format!("{} is not a directory", directory.display()),
            expected,
        )),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(unusable(
            location,
            format!("its directory {} does not exist", directory.display()),
            expected,
        )),
        Err(err) => Err(unusable(
            location,
            format!(
                "its directory {} cannot be read ({err})",
                directory.display()
            ),
            expected,
        )),
    }
}

fn unusable(location: &Location, problem: String, expected: &'static str) -> Error {
    Error::Unusable {
        path: location.path().to_path_buf(),
        problem,
        expected,
    }
}

fn create_owner_only(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        // Another process created it between our check and now; it is identified next.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(metadata: &fs::Metadata, location: &Location) {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(store = %location, mode = format!("{:o}", mode & 0o777), "store file is accessible to other users; expected mode 600");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_metadata: &fs::Metadata, _location: &Location) {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    /// An empty database: ours to initialise.
    Fresh,
    /// Ours, at this schema version.
    Ours(i64),
}

/// Decides whether the database is ours without writing anything.
fn identify(connection: &Connection, location: &Location) -> Result<Identity, Error> {
    let application_id: i32 = connection
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .at(location)?;
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .at(location)?;
    let n_objects: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .at(location)?;
    match application_id {
        0 if n_objects == 0 => Ok(Identity::Fresh),
        0 => Err(not_ours(
            location,
            &format!(
                "an SQLite database with {n_objects} schema objects of another application \
                 (application id 0, expected {APPLICATION_ID:#010x})"
            ),
        )),
        APPLICATION_ID => {
            if version > SCHEMA_VERSION {
                return Err(Error::NewerVersion {
                    path: location.path().to_path_buf(),
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
            check_meta_row(connection, location)?;
            // Every version this program ever wrote is 1 or more: the first migration sets the
            // application id and the version in one transaction.
            if version < 1 {
                return Err(Error::Corrupt {
                    path: location.path().to_path_buf(),
                    detail: format!(
                        "its schema version (PRAGMA user_version) is {version}, expected 1 to \
                         {SCHEMA_VERSION} for a store with our application id"
                    ),
                });
            }
            Ok(Identity::Ours(version))
        }
        other => Err(not_ours(
            location,
            &format!("SQLite application id {other:#010x}, expected {APPLICATION_ID:#010x}"),
        )),
    }
}

fn check_meta_row(connection: &Connection, location: &Location) -> Result<(), Error> {
    let has_meta: bool = connection
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
            [],
            |row| row.get(0),
        )
        .at(location)?;
    if !has_meta {
        return Err(not_ours(
            location,
            "the application id is ours but the meta table is missing",
        ));
    }
    let name: Option<String> = connection
        .query_row(
            "SELECT max(value) FROM meta WHERE key = 'application'",
            [],
            |row| row.get(0),
        )
        .at(location)?;
    match name.as_deref() {
        Some(APPLICATION_NAME) => Ok(()),
        other => Err(not_ours(
            location,
            &format!("meta row `application` is {other:?}, expected {APPLICATION_NAME:?}"),
        )),
    }
}

fn quick_check(connection: &Connection, location: &Location) -> Result<(), Error> {
    let mut statement = connection.prepare("PRAGMA quick_check(5)").at(location)?;
    let problems: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .at(location)?
        .collect::<Result<_, _>>()
        .at(location)?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(Error::Corrupt {
        path: location.path().to_path_buf(),
        detail: format!("quick_check reports: {}", problems.join("; ")),
    })
}

/// Applies every migration the database lacks, all in one exclusive transaction.
fn migrate(connection: &mut Connection, location: &Location) -> Result<(), Error> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .at(location)?;
    // Identified again under the lock: another process may have initialised the file meanwhile.
    let version = match identify(&transaction, location)? {
        Identity::Fresh => 0,
        Identity::Ours(version) => version,
    };
    let start = usize::try_from(version).unwrap_or(usize::MAX);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(start) {
        transaction
            .execute_batch(migration)
            .map_err(|error| schema::migration_failed(error, index as i64, location))?;
    }
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .at(location)?;
    transaction
        .pragma_update(None, "application_id", APPLICATION_ID)
        .at(location)?;
    transaction
        .execute(
            "INSERT INTO meta (key, value) VALUES ('schema_written_by', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [env!("CARGO_PKG_VERSION")],
        )
        .at(location)?;
    transaction.commit().at(location)?;
    if version != SCHEMA_VERSION {
        tracing::info!(store = %location, from = version, to = SCHEMA_VERSION, "store migrated");
    }
    Ok(())
}

fn not_ours(location: &Location, reason: &str) -> Error {
    Error::NotOurs {
        path: location.path().to_path_buf(),
        reason: reason.to_owned(),
    }
}

mod schema;

#[cfg(test)]
mod tests;
