//! Checking that a store of ours has the tables its schema version promises, and saying briefly
//! what differs when it does not.
//!
//! The expected schema is built, not written down twice: the migrations up to the store's
//! version are applied to an empty in-memory database, and both schemas are read back the same
//! way (tables by their columns, indexes by their normalised SQL). A difference is one short
//! line (`table runs: column outcome is missing`), never the SQL itself.
//!
//! What is checked: every expected table, column and index is there as expected, and there is no
//! table or column the schema does not have (a foreign file, or one a newer build half-wrote).
//! Not checked: indexes, views and triggers someone added beside ours (an index for their own
//! queries, a trigger a test uses to fail writes as a full disk would); they change no table.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::MIGRATIONS;
use crate::store::error::{Error, Location, SqlResultExt};

/// Most differences named in an error; the rest are counted.
const MAX_DIFFERENCES: usize = 5;

/// One column as `PRAGMA table_info` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    declared_type: String,
    not_null: bool,
    primary_key: i64,
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.declared_type)?;
        if self.not_null {
            f.write_str(" NOT NULL")?;
        }
        if self.primary_key > 0 {
            f.write_str(" PRIMARY KEY")?;
        }
        Ok(())
    }
}

/// A schema object: a table by its columns in order, an index by its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Object {
    Table(Vec<(String, Column)>),
    Other { kind: String, sql: String },
}

type Schema = BTreeMap<String, Object>;

/// Fails with [`Error::SchemaMismatch`] unless the schema behind `connection` is the one the
/// migrations up to `version` build.
pub(super) fn check(
    connection: &Connection,
    version: i64,
    location: &Location,
) -> Result<(), Error> {
    let expected = expected_schema(version, location)?;
    let found = read_schema(connection, location)?;
    let differences = differences(&expected, &found);
    if differences.is_empty() {
        return Ok(());
    }
    Err(Error::SchemaMismatch {
        path: location.path().to_path_buf(),
        version,
        differences: summarised(differences),
    })
}

/// The error of a migration that failed: the SQLite message, never the migration's SQL.
pub(super) fn migration_failed(error: rusqlite::Error, version: i64, location: &Location) -> Error {
    let message = match &error {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::SqliteFailure(failure, Some(message)) => {
            format!("{message} ({:?})", failure.code)
        }
        other => other.to_string(),
    };
    Error::SchemaMismatch {
        path: location.path().to_path_buf(),
        version,
        differences: vec![format!(
            "migrating it to version {} failed: {message}",
            version + 1
        )],
    }
}

fn expected_schema(version: i64, location: &Location) -> Result<Schema, Error> {
    let reference = Connection::open_in_memory().at(location)?;
    let n_migrations = usize::try_from(version).unwrap_or(0);
    for migration in MIGRATIONS.iter().take(n_migrations) {
        reference.execute_batch(migration).at(location)?;
    }
    read_schema(&reference, location)
}

fn read_schema(connection: &Connection, location: &Location) -> Result<Schema, Error> {
    let mut statement = connection
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_schema
             WHERE name NOT LIKE 'sqlite_%' AND type IN ('table', 'index') ORDER BY name",
        )
        .at(location)?;
    let objects = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .at(location)?
        .collect::<Result<Vec<_>, _>>()
        .at(location)?;
    let mut schema = Schema::new();
    for (kind, name, sql) in objects {
        let object = if kind == "table" {
            Object::Table(columns(connection, &name, location)?)
        } else {
            Object::Other {
                kind,
                sql: normalised(&sql),
            }
        };
        schema.insert(name, object);
    }
    Ok(schema)
}

fn columns(
    connection: &Connection,
    table: &str,
    location: &Location,
) -> Result<Vec<(String, Column)>, Error> {
    let mut statement = connection
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid")
        .at(location)?;
    statement
        .query_map([table], |row| {
            Ok((
                row.get::<_, String>(0)?,
                Column {
                    declared_type: row.get::<_, String>(1)?.to_uppercase(),
                    not_null: row.get(2)?,
                    primary_key: row.get(3)?,
                },
            ))
        })
        .at(location)?
        .collect::<Result<Vec<_>, _>>()
        .at(location)
}

/// SQL with runs of whitespace folded to one space, so layout does not count as a difference.
fn normalised(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn differences(expected: &Schema, found: &Schema) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, wanted) in expected {
        match (wanted, found.get(name)) {
            (Object::Table(_), None) => lines.push(format!("table {name} is missing")),
            (Object::Other { kind, .. }, None) => lines.push(format!("{kind} {name} is missing")),
            (Object::Table(wanted), Some(Object::Table(have))) => {
                column_differences(name, wanted, have, &mut lines);
            }
            (wanted, Some(have)) if wanted != have => {
                lines.push(format!("{} {name} differs", kind_of(wanted)));
            }
            _ => {}
        }
    }
    for (name, have) in found {
        if matches!(have, Object::Table(_)) && !expected.contains_key(name) {
            lines.push(format!("table {name} is not expected"));
        }
    }
    lines
}

fn kind_of(object: &Object) -> &str {
    match object {
        Object::Table(_) => "table",
        Object::Other { kind, .. } => kind,
    }
}

fn column_differences(
    table: &str,
    wanted: &[(String, Column)],
    have: &[(String, Column)],
    lines: &mut Vec<String>,
) {
    let have_by_name: BTreeMap<&str, &Column> = have
        .iter()
        .map(|(name, column)| (name.as_str(), column))
        .collect();
    let wanted_names: Vec<&str> = wanted.iter().map(|(name, _)| name.as_str()).collect();
    for (name, column) in wanted {
        match have_by_name.get(name.as_str()) {
            None => lines.push(format!("table {table}: column {name} is missing")),
            Some(found) if *found != column => lines.push(format!(
                "table {table}: column {name} is {found}, expected {column}"
            )),
            Some(_) => {}
        }
    }
    for (name, _) in have {
        if !wanted_names.contains(&name.as_str()) {
            lines.push(format!("table {table}: column {name} is not expected"));
        }
    }
}

/// At most [`MAX_DIFFERENCES`] lines, the last one counting what was left out.
fn summarised(mut lines: Vec<String>) -> Vec<String> {
    if lines.len() > MAX_DIFFERENCES {
        let more = lines.len() - (MAX_DIFFERENCES - 1);
        lines.truncate(MAX_DIFFERENCES - 1);
        lines.push(format!("and {more} more differences"));
    }
    lines
}
