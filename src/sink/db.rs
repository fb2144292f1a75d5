//! The database sinks: `kind = "postgres"` (PostgreSQL) and `kind = "mysql"` (MySQL, MariaDB).
//!
//! Each batch is written in one transaction, one upsert per correction, idempotent by the
//! correction's `idempotency_key`: `INSERT … ON CONFLICT (key) DO UPDATE` on PostgreSQL,
//! `INSERT … ON DUPLICATE KEY UPDATE` on MySQL/MariaDB. A batch that commits but whose outbox
//! mark is lost is written again by a later run and changes nothing. Rows go to the default
//! table (DDL in `docs/db-sink.md`, created by `sink init-db`) or to the company's own table
//! through `[sink.columns]`.
//!
//! Every table and column name is checked by [`Identifier::parse`] (ASCII letters, digits and
//! `_`, not starting with a digit, at most 63 characters; a table may be `schema.table`) and
//! quoted in the statement; values are always bound, never interpolated.
//!
//! `corrected_time` and `applied_at` are written in UTC, as timestamps without a zone
//! (`timestamp` / `DATETIME`).
//!
//! The connection URL (with its credentials) comes from the environment variable `url_env`
//! names; no error, log line or report ever carries it: every error text is scrubbed of the URL
//! and its password ([`scrub`]).
//!
//! Test-only (built with the `sim` feature only): when the environment variable
//! [`HANG_AFTER_COMMIT_ENV`] is set, the sink says so on stderr after a batch committed and
//! hangs there, so a test can kill the process between the commit and the outbox mark.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use sqlx::{ConnectOptions, Connection};

use crate::report::CorrectionLine;

/// Test-only hook (see the module doc); read only in builds with the `sim` feature.
pub const HANG_AFTER_COMMIT_ENV: &str = "DINGTALK_RECONCILE_TEST_DB_HANG_AFTER_COMMIT";

/// The table a database sink writes to when the config names none.
pub(crate) const DEFAULT_TABLE: &str = "attendance_corrections";

/// Longest identifier accepted: PostgreSQL's limit (MySQL's is 64).
const MAX_IDENTIFIER: usize = 63;

/// `kind = "postgres"` and `kind = "mysql"`. `S` is the connection URL: in the config the name of
/// the environment variable holding it ([`super::SecretEnv`]), resolved by
/// [`super::SinkConfig::from_setting`].
#[derive(Debug, Clone, Deserialize)]
pub struct DbSink<S = SecretString> {
    /// Written `url_env` in the config file: the environment variable holding the URL.
    #[serde(rename = "url_env")]
    pub url: S,
    /// The variable's name, kept for error messages (filled by `from_setting`).
    #[serde(skip)]
    pub url_env: String,
    /// `table` in the config file, optionally `schema.table`.
    #[serde(default = "default_table")]
    pub table: TableName,
    /// Written `timeout_secs`: connecting and writing one batch each get this long.
    #[serde(
        rename = "timeout_secs",
        default = "crate::config::default_sink_timeout",
        deserialize_with = "crate::config::de::seconds"
    )]
    pub timeout: Duration,
    /// `[sink.columns]`: the company's own table; absent for the default table.
    #[serde(default, deserialize_with = "some_columns")]
    pub columns: Option<ColumnMap>,
}

/// `[sink.columns]` read as a table (not through `Option`, whose `?` would show in the path of an
/// unknown key: `sink[0].columns.colour`, not `sink[0].columns.?.colour`).
fn some_columns<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ColumnMap>, D::Error> {
    ColumnMap::deserialize(deserializer).map(Some)
}

fn default_table() -> TableName {
    TableName {
        schema: None,
        table: Identifier(DEFAULT_TABLE.to_owned()),
    }
}

/// A checked SQL identifier: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier(String);

impl Identifier {
    pub fn parse(raw: &str) -> Result<Identifier, String> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if first_ok && rest_ok && raw.len() <= MAX_IDENTIFIER {
            Ok(Identifier(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not an SQL identifier: expected ASCII letters, digits and _, not \
                 starting with a digit, at most {MAX_IDENTIFIER} characters"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Identifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Identifier::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A table, optionally schema-qualified (`schema.table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<Identifier>,
    pub table: Identifier,
}

impl FromStr for TableName {
    type Err = String;

    fn from_str(raw: &str) -> Result<TableName, String> {
        let expected = |_| {
            format!(
                "{raw:?} is not a table name: expected an SQL identifier or schema.table (ASCII \
                 letters, digits and _, not starting with a digit, at most {MAX_IDENTIFIER} \
                 characters each)"
            )
        };
        match raw.split_once('.') {
            Some((schema, table)) => Ok(TableName {
                schema: Some(Identifier::parse(schema).map_err(expected)?),
                table: Identifier::parse(table).map_err(expected)?,
            }),
            None => Ok(TableName {
                schema: None,
                table: Identifier::parse(raw).map_err(expected)?,
            }),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{}.{}", schema.0, self.table.0),
            None => f.write_str(&self.table.0),
        }
    }
}

impl<'de> Deserialize<'de> for TableName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// `[sink.columns]`: the target column of each value, for a company's existing table. The
/// `key` column must carry a unique index (the upsert's conflict target).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ColumnMap {
    /// The correction's idempotency key.
    pub key: Identifier,
    pub user_id: Identifier,
    pub work_date: Identifier,
    pub check_type: Identifier,
    /// The corrected check time (after), UTC.
    pub corrected_time: Identifier,
    /// The time result after the correction.
    pub result: Identifier,
    /// The 补卡 approval's process_instance_id.
    pub approval_id: Identifier,
    /// The correction's class (`supply_applied`, …).
    pub class: Identifier,
    #[serde(default)]
    pub business_id: Option<Identifier>,
    #[serde(default)]
    pub before_result: Option<Identifier>,
    #[serde(default)]
    pub run_id: Option<Identifier>,
    /// When the correction was journaled, UTC.
    #[serde(default)]
    pub applied_at: Option<Identifier>,
}

impl ColumnMap {
    /// The default table's columns (`docs/db-sink.md`).
    pub(crate) fn default_table() -> ColumnMap {
        let id = |name: &str| Identifier(name.to_owned());
        ColumnMap {
            key: id("idempotency_key"),
            user_id: id("user_id"),
            work_date: id("work_date"),
            check_type: id("check_type"),
            corrected_time: id("corrected_time"),
            result: id("time_result"),
            approval_id: id("approval_id"),
            class: id("change_class"),
            business_id: Some(id("business_id")),
            before_result: Some(id("before_result")),
            run_id: Some(id("run_id")),
            applied_at: Some(id("applied_at")),
        }
    }

    /// Every mapped column with the value it takes, key first.
    fn columns(&self) -> Vec<(&Identifier, Field)> {
        let mut columns = vec![
            (&self.key, Field::Key),
            (&self.user_id, Field::UserId),
            (&self.work_date, Field::WorkDate),
            (&self.check_type, Field::CheckType),
            (&self.corrected_time, Field::CorrectedTime),
            (&self.result, Field::Result),
            (&self.approval_id, Field::ApprovalId),
            (&self.class, Field::Class),
        ];
        let optional = [
            (&self.business_id, Field::BusinessId),
            (&self.before_result, Field::BeforeResult),
            (&self.run_id, Field::RunId),
            (&self.applied_at, Field::AppliedAt),
        ];
        for (column, field) in optional {
            if let Some(column) = column {
                columns.push((column, field));
            }
        }
        columns
    }

    /// The first column named twice, if any.
    pub(crate) fn duplicate(&self) -> Option<&str> {
        let columns = self.columns();
        columns.iter().enumerate().find_map(|(index, (column, _))| {
            columns[..index]
                .iter()
                .any(|(earlier, _)| earlier.0.eq_ignore_ascii_case(&column.0))
                .then_some(column.as_str())
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Key,
    UserId,
    WorkDate,
    CheckType,
    CorrectedTime,
    Result,
    ApprovalId,
    Class,
    BusinessId,
    BeforeResult,
    RunId,
    AppliedAt,
}

/// One bound value. Dates and times are bound as text and cast in the statement
/// ([`Field::placeholder`]): sqlx's `chrono` feature cannot be enabled beside rusqlite (its
/// optional SQLite driver's `links` conflicts with rusqlite's in Cargo's resolver).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(Option<String>),
    Int(i64),
}

const DATE_FORMAT: &str = "%Y-%m-%d";
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

impl Field {
    fn value(self, line: &CorrectionLine) -> Value {
        match self {
            Field::Key => Value::Text(Some(line.idempotency_key.clone())),
            Field::UserId => Value::Text(Some(line.user_id.clone())),
            Field::WorkDate => Value::Text(Some(line.work_date.format(DATE_FORMAT).to_string())),
            Field::CheckType => Value::Text(Some(line.check_type.clone())),
            Field::CorrectedTime => Value::Text(
                line.after
                    .check_time
                    .map(|time| time.naive_utc().format(TIME_FORMAT).to_string()),
            ),
            Field::Result => Value::Text(Some(line.after.time_result.as_str().to_owned())),
            Field::ApprovalId => Value::Text(line.process_instance_id.clone()),
            Field::Class => Value::Text(Some(line.class.as_str().to_owned())),
            Field::BusinessId => Value::Text(line.business_id.clone()),
            Field::BeforeResult => Value::Text(
                line.before
                    .as_ref()
                    .map(|before| before.time_result.as_str().to_owned()),
            ),
            Field::RunId => Value::Int(line.run_id),
            Field::AppliedAt => Value::Text(Some(
                line.applied_at.naive_utc().format(TIME_FORMAT).to_string(),
            )),
        }
    }

    /// The statement's placeholder for this value (`param` is `$3` or `?`), cast for a date or
    /// a time bound as text.
    fn placeholder(self, dialect: Dialect, param: &str) -> String {
        match (self, dialect) {
            (Field::WorkDate, _) => format!("CAST({param} AS date)"),
            (Field::CorrectedTime | Field::AppliedAt, Dialect::Postgres) => {
                format!("CAST({param} AS timestamp)")
            }
            (Field::CorrectedTime | Field::AppliedAt, Dialect::Mysql) => {
                format!("CAST({param} AS datetime)")
            }
            _ => param.to_owned(),
        }
    }
}

/// Which SQL the sink speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Mysql,
}

impl Dialect {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    fn quote(self, identifier: &Identifier) -> String {
        // Identifiers are checked ([A-Za-z0-9_]), so quoting cannot be escaped.
        match self {
            Dialect::Postgres => format!("\"{}\"", identifier.0),
            Dialect::Mysql => format!("`{}`", identifier.0),
        }
    }

    fn table(self, table: &TableName) -> String {
        match &table.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(&table.table)),
            None => self.quote(&table.table),
        }
    }

    /// The upsert of one row: its columns in [`ColumnMap::columns`] order, key first.
    pub(crate) fn upsert(self, table: &TableName, columns: &ColumnMap) -> String {
        let columns = columns.columns();
        let names: Vec<String> = columns.iter().map(|(c, _)| self.quote(c)).collect();
        let key = &names[0];
        let rest = &names[1..];
        match self {
            Dialect::Postgres => {
                let params: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, field))| field.placeholder(self, &format!("${}", i + 1)))
                    .collect();
                let updates: Vec<String> =
                    rest.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
                format!(
                    "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({key}) DO UPDATE SET {}",
                    self.table(table),
                    names.join(", "),
                    params.join(", "),
                    updates.join(", ")
                )
            }
            Dialect::Mysql => {
                let params: Vec<String> = columns
                    .iter()
                    .map(|(_, field)| field.placeholder(self, "?"))
                    .collect();
                let updates: Vec<String> =
                    rest.iter().map(|c| format!("{c} = VALUES({c})")).collect();
                format!(
                    "INSERT INTO {} ({}) VALUES ({}) ON DUPLICATE KEY UPDATE {}",
                    self.table(table),
                    names.join(", "),
                    params.join(", "),
                    updates.join(", ")
                )
            }
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` for the default table's columns (as `docs/db-sink.md`).
    pub(crate) fn create_table(self, table: &TableName) -> String {
        let t = self.table(table);
        match self {
            Dialect::Postgres => format!(
                "CREATE TABLE IF NOT EXISTS {t} (\n\
                 \x20   idempotency_key text PRIMARY KEY,\n\
                 \x20   user_id varchar(128) NOT NULL,\n\
                 \x20   work_date date NOT NULL,\n\
                 \x20   check_type varchar(32) NOT NULL,\n\
                 \x20   corrected_time timestamp NULL,\n\
                 \x20   time_result varchar(64) NOT NULL,\n\
                 \x20   approval_id varchar(128) NULL,\n\
                 \x20   change_class varchar(32) NOT NULL,\n\
                 \x20   business_id varchar(128) NULL,\n\
                 \x20   before_result varchar(64) NULL,\n\
                 \x20   run_id bigint NOT NULL,\n\
                 \x20   applied_at timestamp NOT NULL\n\
                 )"
            ),
            Dialect::Mysql => format!(
                "CREATE TABLE IF NOT EXISTS {t} (\n\
                 \x20   idempotency_key varchar(512) NOT NULL,\n\
                 \x20   user_id varchar(128) NOT NULL,\n\
                 \x20   work_date date NOT NULL,\n\
                 \x20   check_type varchar(32) NOT NULL,\n\
                 \x20   corrected_time datetime NULL,\n\
                 \x20   time_result varchar(64) NOT NULL,\n\
                 \x20   approval_id varchar(128) NULL,\n\
                 \x20   change_class varchar(32) NOT NULL,\n\
                 \x20   business_id varchar(128) NULL,\n\
                 \x20   before_result varchar(64) NULL,\n\
                 \x20   run_id bigint NOT NULL,\n\
                 \x20   applied_at datetime NOT NULL,\n\
                 \x20   PRIMARY KEY (idempotency_key)\n\
                 ) DEFAULT CHARSET = utf8mb4"
            ),
        }
    }
}

/// A database sink ready to write: name, dialect and settings.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) sink: &'a str,
    pub(crate) dialect: Dialect,
    pub(crate) config: &'a DbSink,
}

impl Target<'_> {
    /// "postgres sink hrdb".
    fn who(&self) -> String {
        format!("{} sink {}", self.dialect.kind(), self.sink)
    }

    fn scrubbed(&self, text: &str) -> String {
        scrub(text, &self.config.url)
    }

    /// One sentence: who, what failed, why, what was expected; never the URL or its password.
    fn error(&self, what: &str, cause: &dyn std::error::Error, expected: &str) -> String {
        let cause = self.scrubbed(&super::chain(cause));
        format!("{}: {what}: {cause}: expected {expected}", self.who())
    }

    fn timed_out(&self, what: &str) -> String {
        format!(
            "{}: {what}: no answer within {:?}: expected a reachable database server at the URL \
             in {}",
            self.who(),
            self.config.timeout,
            self.config.url_env
        )
    }
}

/// Removes the URL and its password (as written and percent-decoded) from `text`.
pub(crate) fn scrub(text: &str, url: &SecretString) -> String {
    let url = url.expose_secret();
    let mut out = text.replace(url, "<url from the environment>");
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password()
        && !password.is_empty()
    {
        out = out.replace(password, "***");
        let decoded = percent_decode(password);
        if !decoded.is_empty() {
            out = out.replace(&decoded, "***");
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks the URL's scheme for the dialect; the error names neither the URL nor its parts.
pub(crate) fn check_url(dialect: Dialect, url: &str) -> Result<(), String> {
    let schemes: &[&str] = match dialect {
        Dialect::Postgres => &["postgres", "postgresql"],
        Dialect::Mysql => &["mysql", "mariadb"],
    };
    match url::Url::parse(url) {
        Ok(parsed) if schemes.contains(&parsed.scheme()) && parsed.has_host() => Ok(()),
        Ok(_) => Err(format!(
            "a {}://user:password@host:port/database URL",
            schemes[0]
        )),
        Err(_) => Err(format!(
            "a URL like {}://user:password@host:port/database (it does not parse as a URL)",
            schemes[0]
        )),
    }
}

/// Writes one batch in one transaction. `Ok` means it committed.
pub(crate) async fn write_batch(
    target: Target<'_>,
    batch: &[CorrectionLine],
) -> Result<(), String> {
    let default_columns;
    let columns = match &target.config.columns {
        Some(columns) => columns,
        None => {
            default_columns = ColumnMap::default_table();
            &default_columns
        }
    };
    let sql = target.dialect.upsert(&target.config.table, columns);
    let fields: Vec<Field> = columns.columns().into_iter().map(|(_, f)| f).collect();
    let written = match target.dialect {
        Dialect::Postgres => write_postgres(target, &sql, &fields, batch).await,
        Dialect::Mysql => write_mysql(target, &sql, &fields, batch).await,
    };
    written?;
    #[cfg(feature = "sim")]
    if std::env::var_os(HANG_AFTER_COMMIT_ENV).is_some() {
        eprintln!(
            "test hook {HANG_AFTER_COMMIT_ENV}: {} committed {} row(s); hanging before the \
             outbox marks them",
            target.who(),
            batch.len()
        );
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    Ok(())
}

/// What "connect" failing expects.
fn connect_expected(target: &Target<'_>) -> String {
    format!(
        "a reachable {} server accepting the user and password of the URL in {}",
        match target.dialect {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL/MariaDB",
        },
        target.config.url_env
    )
}

fn write_expected(target: &Target<'_>) -> String {
    format!(
        "table {} to exist with the mapped columns and a unique key on its key column \
         (see docs/db-sink.md; `sink init-db --sink {}` creates the default table)",
        target.config.table, target.sink
    )
}

/// One batch in one transaction over one connection, for a driver's connect options type: the
/// same steps for PostgreSQL and MySQL, whose sqlx types differ.
/// A connection for a driver's connect options type, within the sink's timeout; an error is
/// returned (`?`) as the sink's sentence.
macro_rules! connect {
    ($options:ty, $target:expr) => {{
        let target = $target;
        let options = <$options>::from_str(target.config.url.expose_secret())
            .map_err(|e| target.error("the URL is not usable", &e, &connect_expected(&target)))?;
        tokio::time::timeout(target.config.timeout, options.connect())
            .await
            .map_err(|_| target.timed_out("connecting"))?
            .map_err(|e| target.error("could not connect", &e, &connect_expected(&target)))?
    }};
}

macro_rules! write_with {
    ($options:ty, $target:expr, $sql:expr, $fields:expr, $batch:expr) => {{
        let (target, sql, fields, batch) = ($target, $sql, $fields, $batch);
        let timeout = target.config.timeout;
        let mut conn = connect!($options, target);
        let write = async {
            let mut tx = conn.begin().await?;
            for line in batch {
                let mut query = sqlx::query(sql);
                for field in fields {
                    query = match field.value(line) {
                        Value::Text(v) => query.bind(v),
                        Value::Int(v) => query.bind(v),
                    };
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await
        };
        let result = tokio::time::timeout(timeout, write).await;
        let _ = conn.close().await;
        result
            .map_err(|_| target.timed_out("writing a batch"))?
            .map_err(|e| {
                target.error(
                    &format!(
                        "could not write {} row(s) to {}",
                        batch.len(),
                        target.config.table
                    ),
                    &e,
                    &write_expected(&target),
                )
            })
    }};
}

async fn write_postgres(
    target: Target<'_>,
    sql: &str,
    fields: &[Field],
    batch: &[CorrectionLine],
) -> Result<(), String> {
    write_with!(sqlx::postgres::PgConnectOptions, target, sql, fields, batch)
}

async fn write_mysql(
    target: Target<'_>,
    sql: &str,
    fields: &[Field],
    batch: &[CorrectionLine],
) -> Result<(), String> {
    write_with!(sqlx::mysql::MySqlConnectOptions, target, sql, fields, batch)
}

/// `sink init-db`: creates the default table if it does not exist.
pub(crate) async fn create_default_table(target: Target<'_>) -> Result<(), String> {
    let sql = target.dialect.create_table(&target.config.table);
    let timeout = target.config.timeout;
    let what = format!("could not create table {}", target.config.table);
    let expected = format!(
        "a user allowed to create tables in the database of the URL in {}",
        target.config.url_env
    );
    macro_rules! create_with {
        ($options:ty) => {{
            let mut conn = connect!($options, target);
            let done = tokio::time::timeout(timeout, sqlx::query(&sql).execute(&mut conn)).await;
            let _ = conn.close().await;
            done.map_err(|_| target.timed_out("creating the table"))?
                .map_err(|e| target.error(&what, &e, &expected))?;
        }};
    }
    match target.dialect {
        Dialect::Postgres => create_with!(sqlx::postgres::PgConnectOptions),
        Dialect::Mysql => create_with!(sqlx::mysql::MySqlConnectOptions),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_letters_digits_and_underscores_not_starting_with_a_digit() {
        for good in [
            "kq_buka",
            "_x",
            "A1",
            "attendance_corrections",
            &"a".repeat(63),
        ] {
            assert!(Identifier::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "kq buka",
            "kq;drop table x",
            "a\"b",
            "a`b",
            "表",
            "a-b",
            &"a".repeat(64),
        ] {
            assert!(Identifier::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_table_may_be_schema_qualified_once() {
        let table: TableName = "hr.kq_buka".parse().unwrap();
        assert_eq!(table.schema.as_ref().map(Identifier::as_str), Some("hr"));
        assert_eq!(table.to_string(), "hr.kq_buka");
        assert!("a.b.c".parse::<TableName>().is_err());
        assert!(".b".parse::<TableName>().is_err());
        assert!("a.".parse::<TableName>().is_err());
        assert!("a;b".parse::<TableName>().is_err());
    }

    #[test]
    fn the_postgres_upsert_conflicts_on_the_key_and_updates_the_rest() {
        let table: TableName = "hr.kq".parse().unwrap();
        let sql = Dialect::Postgres.upsert(&table, &ColumnMap::default_table());
        assert_eq!(
            sql,
            "INSERT INTO \"hr\".\"kq\" (\"idempotency_key\", \"user_id\", \"work_date\", \
             \"check_type\", \"corrected_time\", \"time_result\", \"approval_id\", \
             \"change_class\", \"business_id\", \"before_result\", \"run_id\", \"applied_at\") \
             VALUES ($1, $2, CAST($3 AS date), $4, CAST($5 AS timestamp), $6, $7, $8, $9, $10, \
             $11, CAST($12 AS timestamp)) \
             ON CONFLICT (\"idempotency_key\") DO UPDATE SET \"user_id\" = EXCLUDED.\"user_id\", \
             \"work_date\" = EXCLUDED.\"work_date\", \"check_type\" = EXCLUDED.\"check_type\", \
             \"corrected_time\" = EXCLUDED.\"corrected_time\", \
             \"time_result\" = EXCLUDED.\"time_result\", \
             \"approval_id\" = EXCLUDED.\"approval_id\", \
             \"change_class\" = EXCLUDED.\"change_class\", \
             \"business_id\" = EXCLUDED.\"business_id\", \
             \"before_result\" = EXCLUDED.\"before_result\", \"run_id\" = EXCLUDED.\"run_id\", \
             \"applied_at\" = EXCLUDED.\"applied_at\""
        );
    }

    #[test]
    fn the_mysql_upsert_updates_on_a_duplicate_key_for_a_mapped_table() {
        let id = |s: &str| Identifier::parse(s).unwrap();
        let columns = ColumnMap {
            key: id("ext_key"),
            user_id: id("emp_no"),
            work_date: id("kq_date"),
            check_type: id("kq_type"),
            corrected_time: id("fix_time"),
            result: id("result"),
            approval_id: id("flow_no"),
            class: id("src"),
            business_id: None,
            before_result: None,
            run_id: None,
            applied_at: None,
        };
        let sql = Dialect::Mysql.upsert(&"kq_buka".parse().unwrap(), &columns);
        assert_eq!(
            sql,
            "INSERT INTO `kq_buka` (`ext_key`, `emp_no`, `kq_date`, `kq_type`, `fix_time`, \
             `result`, `flow_no`, `src`) VALUES (?, ?, CAST(? AS date), ?, CAST(? AS datetime), \
             ?, ?, ?) ON DUPLICATE KEY UPDATE \
             `emp_no` = VALUES(`emp_no`), `kq_date` = VALUES(`kq_date`), \
             `kq_type` = VALUES(`kq_type`), `fix_time` = VALUES(`fix_time`), \
             `result` = VALUES(`result`), `flow_no` = VALUES(`flow_no`), `src` = VALUES(`src`)"
        );
        assert_eq!(columns.duplicate(), None);
        let twice = ColumnMap {
            run_id: Some(id("EMP_NO")),
            ..columns
        };
        assert_eq!(twice.duplicate(), Some("EMP_NO"));
    }

    #[test]
    fn the_create_table_statements_are_idempotent_and_keyed() {
        let table: TableName = DEFAULT_TABLE.parse().unwrap();
        for dialect in [Dialect::Postgres, Dialect::Mysql] {
            let sql = dialect.create_table(&table);
            assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS "), "{sql}");
            assert!(sql.contains("PRIMARY KEY"), "{sql}");
        }
    }

    #[test]
    fn errors_never_carry_the_url_or_its_password() {
        let url = SecretString::from("postgres://hr:p%40ss-W0rd-77@db.example:5432/hr".to_owned());
        let text = "failed for postgres://hr:p%40ss-W0rd-77@db.example:5432/hr; \
                    password p@ss-W0rd-77 or p%40ss-W0rd-77";
        let scrubbed = scrub(text, &url);
        assert!(!scrubbed.contains("W0rd"), "{scrubbed}");
        assert!(
            scrubbed.contains("<url from the environment>"),
            "{scrubbed}"
        );
    }

    #[test]
    fn a_url_of_the_wrong_scheme_is_refused_without_echoing_it() {
        assert!(check_url(Dialect::Postgres, "postgres://u:p@h/db").is_ok());
        assert!(check_url(Dialect::Mysql, "mysql://u:p@h:3306/db").is_ok());
        assert!(check_url(Dialect::Mysql, "mariadb://u:p@h:3306/db").is_ok());
        let err = check_url(Dialect::Postgres, "mysql://u:secret-pw@h/db").unwrap_err();
        assert!(!err.contains("secret-pw"), "{err}");
        let err = check_url(Dialect::Mysql, "not a url secret-pw").unwrap_err();
        assert!(!err.contains("secret-pw"), "{err}");
    }

    #[tokio::test]
    async fn a_connection_failure_names_the_sink_and_never_the_password() {
        // A port nothing listens on (bound, never listening).
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        drop(socket);
        for (dialect, scheme) in [(Dialect::Postgres, "postgres"), (Dialect::Mysql, "mysql")] {
            let config = DbSink {
                url: SecretString::from(format!(
                    "{scheme}://hr:Sup3r-S3cret-Pw@127.0.0.1:{port}/hr"
                )),
                url_env: "HR_DB_URL".into(),
                table: DEFAULT_TABLE.parse().unwrap(),
                timeout: Duration::from_secs(5),
                columns: None,
            };
            let target = Target {
                sink: "hrdb",
                dialect,
                config: &config,
            };
            let err = write_batch(target, &crate::report::fixture::rich_report().corrections)
                .await
                .unwrap_err();
            assert!(err.starts_with(&format!("{scheme} sink hrdb: ")), "{err}");
            assert!(err.contains("HR_DB_URL"), "{err}");
            assert!(!err.contains("Sup3r-S3cret-Pw"), "{err}");
            let err = create_default_table(target).await.unwrap_err();
            assert!(!err.contains("Sup3r-S3cret-Pw"), "{err}");
        }
    }
}
