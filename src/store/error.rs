//! The store's one error type, and the mapping from SQLite failures to it.
//!
//! Every variant names the store file (or `:memory:`) and says what was expected, so a message
//! read after "failed to open the store" is enough to act on. This module does not decide exit
//! codes; `exit.rs` does, by downcasting to [`Error`].

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use super::lock::LockHolder;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store {path}: {action}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("store {path}: sqlite failed")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "store {path} was written by a newer dingtalk-reconcile (schema version {found}, this build \
         knows up to {supported}); use a newer build or another store file"
    )]
    NewerVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The path cannot hold a store at all (a missing directory, a directory, a file this user
    /// cannot write): a setting to fix, not a damaged store.
    #[error("{path} cannot be used as the store: {problem}; expected {expected}")]
    Unusable {
        path: PathBuf,
        problem: String,
        expected: &'static str,
    },
    #[error(
        "store {path} does not have the tables of schema version {version}: {}; restore it \
         from a backup or move it aside",
        summary(differences)
    )]
    SchemaMismatch {
        path: PathBuf,
        version: i64,
        /// One line per difference, at most a few (the rest counted in the last line).
        differences: Vec<String>,
    },
    #[error("{path} is not a dingtalk-reconcile store: {reason}")]
    NotOurs { path: PathBuf, reason: String },
    #[error("store {path} is corrupted: {detail}; restore it from a backup or move it aside")]
    Corrupt { path: PathBuf, detail: String },
    #[error("store is locked by {holder}")]
    Locked { holder: Box<LockHolder> },
    #[error("store column {table}.{column} holds a value this build cannot read: {detail}")]
    Decode {
        table: &'static str,
        column: &'static str,
        detail: String,
    },
    #[error("run {run_id} does not exist in the store")]
    UnknownRun { run_id: i64 },
    #[error("backfill {backfill_id} does not exist in the store")]
    UnknownBackfill { backfill_id: i64 },
    #[error("value for {what} is not storable: {detail}")]
    Unstorable { what: &'static str, detail: String },
}

fn summary(differences: &[String]) -> String {
    differences.join("; ")
}

/// Where a store lives, for messages. In-memory stores show as `:memory:`.
#[derive(Debug, Clone)]
pub(crate) struct Location(PathBuf);

impl Location {
    pub(crate) fn file(path: &Path) -> Self {
        Location(path.to_path_buf())
    }

    pub(crate) fn memory() -> Self {
        Location(PathBuf::from(":memory:"))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Maps a SQLite failure: corruption and "not a database" get their own variants, anything
    /// else keeps the SQLite error as its source.
    pub(crate) fn sql(&self, source: rusqlite::Error) -> Error {
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt) => Error::Corrupt {
                path: self.0.clone(),
                detail: source.to_string(),
            },
            Some(ErrorCode::NotADatabase) => Error::NotOurs {
                path: self.0.clone(),
                reason: "not an SQLite database (SQLite reports: file is not a database)".into(),
            },
            _ => Error::Sqlite {
                path: self.0.clone(),
                source,
            },
        }
    }

    pub(crate) fn io(&self, action: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            path: self.0.clone(),
            action,
            source,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

/// `result.at(&location)?` maps a rusqlite error to [`Error`] naming the store.
pub(crate) trait SqlResultExt<T> {
    fn at(self, location: &Location) -> Result<T, Error>;
}

impl<T> SqlResultExt<T> for Result<T, rusqlite::Error> {
    fn at(self, location: &Location) -> Result<T, Error> {
        self.map_err(|source| location.sql(source))
    }
}
