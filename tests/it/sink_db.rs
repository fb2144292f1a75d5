//! The database sinks against real servers (`support::servers`: a throwaway PostgreSQL and
//! MariaDB each), driven through the real binary backfilling the simulator's world. For each
//! engine: delivery ends with one row per journaled correction; an outage then a later run loses
//! nothing and writes nothing twice; a process killed after the database committed a batch and
//! before the outbox marked it writes each key once on the rerun; a company's own table is
//! filled through `[sink.columns]`; `sink init-db` creates the default table, idempotently, and
//! refuses a mapped table. The URL's password appears in no output, store or metrics file.

use std::collections::BTreeSet;

use crate::support::bin::{Rig, assert_code, run_binary, stderr, stdout};
use crate::support::servers::{Engine, PASSWORD, Server};
use crate::support::stop;

const URL_ENV: &str = "RECONCILE_TEST_DB_URL";
const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-09";
const HANG_ENV: &str = dingtalk_reconcile::sink::HANG_AFTER_COMMIT_ENV;

fn backfill_args(rig: &Rig, resume: bool) -> Vec<String> {
    let mut args = vec!["backfill", "--from", FROM, "--to", TO, "--yes"];
    if resume {
        args.push("--resume");
    }
    rig.args(&args)
}

/// A `[[sink]]` named `name` of the engine's kind, then `more` lines.
fn sink_toml(engine: Engine, name: &str, more: &str) -> String {
    format!(
        "[[sink]]\nname = \"{name}\"\nkind = \"{kind}\"\nurl_env = \"{URL_ENV}\"\n\
         timeout_secs = 10\n{more}",
        kind = engine.kind()
    )
}

/// The in-house attendance table of test (4) and its `[sink.columns]`.
fn in_house_table(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => {
            "CREATE TABLE kq_buka (id serial PRIMARY KEY, emp_no varchar(64) NOT NULL, \
             kq_date date NOT NULL, kq_type varchar(16), fix_time timestamp, result varchar(32), \
             flow_no varchar(64), src varchar(32), ext_key varchar(255) UNIQUE)"
        }
        Engine::MariaDb => {
            "CREATE TABLE kq_buka (id int AUTO_INCREMENT PRIMARY KEY, emp_no varchar(64) NOT NULL, \
             kq_date date NOT NULL, kq_type varchar(16), fix_time datetime, result varchar(32), \
             flow_no varchar(64), src varchar(32), ext_key varchar(255) UNIQUE)"
        }
    }
}

const KQ_COLUMNS: &str = "table = \"kq_buka\"\n[sink.columns]\nkey = \"ext_key\"\n\
     user_id = \"emp_no\"\nwork_date = \"kq_date\"\ncheck_type = \"kq_type\"\n\
     corrected_time = \"fix_time\"\nresult = \"result\"\napproval_id = \"flow_no\"\nclass = \"src\"\n";

/// The journal's correction keys.
fn journal_keys(rig: &Rig) -> BTreeSet<String> {
    rig.store()
        .all_corrections()
        .expect("the journal reads")
        .into_iter()
        .map(|stored| stored.correction.idempotency_key)
        .collect()
}

/// `CAST(… AS SIGNED)` is MySQL's; PostgreSQL's count is already a bigint.
fn sql(server: &Server, text: &str) -> String {
    match server.engine {
        Engine::Postgres => text.replace(" AS SIGNED)", " AS bigint)"),
        Engine::MariaDb => text.to_owned(),
    }
}

async fn counts(server: &Server, table: &str, key: &str) -> (i64, i64) {
    let rows = server
        .count(&sql(
            server,
            &format!("SELECT CAST(count(*) AS SIGNED) FROM {table}"),
        ))
        .await;
    let keys = server
        .count(&sql(
            server,
            &format!("SELECT CAST(count(DISTINCT {key}) AS SIGNED) FROM {table}"),
        ))
        .await;
    (rows, keys)
}

/// Undelivered outbox items of a sink.
fn backlog(rig: &Rig, sink: &str) -> i64 {
    rig.store()
        .outbox_backlog()
        .unwrap()
        .get(sink)
        .map_or(0, |n| *n as i64)
}

/// No file of the rig's directory (store, its WAL, metrics, config) holds the password.
#[track_caller]
fn assert_password_nowhere(rig: &Rig, outputs: &[&std::process::Output]) {
    for output in outputs {
        assert!(
            !stdout(output).contains(PASSWORD) && !stderr(output).contains(PASSWORD),
            "the password leaked into the output:\n{}\n{}",
            stdout(output),
            stderr(output)
        );
    }
    for entry in std::fs::read_dir(rig.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(PASSWORD.len())
                    .any(|window| window == PASSWORD.as_bytes()),
                "the password is in {}",
                path.display()
            );
        }
    }
}

/// The backoff of failed items has passed: due now (as a later night would find them).
fn backoff_elapsed(rig: &Rig) {
    let connection = rusqlite::Connection::open(rig.store_path()).unwrap();
    connection
        .execute(
            "UPDATE outbox SET next_attempt_ms = 0 WHERE delivered_at_ms IS NULL",
            [],
        )
        .unwrap();
}

async fn delivery_then_outage_then_redelivery(engine: Engine) {
    // Arrange
    let started = std::time::Instant::now();
    let server = Server::start(engine).await;
    eprintln!("{engine:?} server ready in {:?}", started.elapsed());
    let mut rig = Rig::with(33, |config| config.employees = 200).await;
    rig.write_config(&sink_toml(engine, "hrdb", ""));
    rig.env.push((URL_ENV.to_owned(), server.url()));
    assert_code(&rig.bin(&["sink", "init-db", "--sink", "hrdb"]).await, 0);

    // Act (1): a backfill delivers its corrections.
    let first = run_binary(backfill_args(&rig, false), rig.env.clone()).await;
    assert_code(&first, 0);

    // Assert (1)
    let journal = journal_keys(&rig);
    assert!(!journal.is_empty(), "the world has corrections");
    let (rows, keys) = counts(&server, "attendance_corrections", "idempotency_key").await;
    assert_eq!((rows, keys), (journal.len() as i64, journal.len() as i64));
    let stored: BTreeSet<String> = server
        .strings("SELECT idempotency_key FROM attendance_corrections")
        .await
        .into_iter()
        .collect();
    assert_eq!(stored, journal);
    assert_eq!(backlog(&rig, "hrdb"), 0);

    // Act (2): a second rig's world, its first backfill during an outage (nothing listens on
    // the URL's port), then a later run with the server back.
    let mut later = Rig::with(34, |config| config.employees = 300).await;
    later.write_config(&sink_toml(engine, "hrdb", ""));
    let (_refusing, port) = crate::support::refusing_port();
    later.env.push((URL_ENV.to_owned(), server.url_on(port)));
    let down = run_binary(backfill_args(&later, false), later.env.clone()).await;
    let down_journal = journal_keys(&later);
    assert!(
        !down_journal.is_empty(),
        "reconciliation went on during the outage"
    );
    assert!(backlog(&later, "hrdb") > 0);
    let text = format!("{}{}", stdout(&down), stderr(&down));
    assert!(
        text.contains(&format!("{} sink hrdb", engine.kind())) && text.contains(URL_ENV),
        "the outage is one sentence naming the sink and the variable:\n{text}"
    );
    let (rows_down, _) = counts(&server, "attendance_corrections", "idempotency_key").await;
    assert_eq!(
        rows_down,
        journal.len() as i64,
        "nothing written during the outage"
    );
    backoff_elapsed(&later);
    later.env = vec![(URL_ENV.to_owned(), server.url())];
    // The later run: `sink replay` over the backfilled dates queues nothing new (everything is
    // queued already) and delivers what is due, as the next night's run would.
    let replay = [
        "sink", "replay", "--sink", "hrdb", "--from", FROM, "--to", TO,
    ];
    let up = later.bin(&replay).await;
    assert_code(&up, 0);
    let again = later.bin(&replay).await;
    assert_code(&again, 0);

    // Assert (2): both worlds' corrections, each once.
    let all: BTreeSet<String> = journal.union(&down_journal).cloned().collect();
    eprintln!(
        "{engine:?}: {} + {} corrections delivered around the outage",
        journal.len(),
        down_journal.len()
    );
    let (rows, keys) = counts(&server, "attendance_corrections", "idempotency_key").await;
    assert_eq!((rows, keys), (all.len() as i64, all.len() as i64));
    assert_eq!(backlog(&later, "hrdb"), 0);
    assert_password_nowhere(&rig, &[&first]);
    assert_password_nowhere(&later, &[&down, &up, &again]);
    eprintln!(
        "{engine:?} delivery and outage test took {:?}",
        started.elapsed()
    );
}

async fn killed_after_commit_before_marking(engine: Engine) {
    let started = std::time::Instant::now();
    let server = Server::start(engine).await;
    let mut rig = Rig::with(33, |config| config.employees = 600).await;
    rig.write_config(&sink_toml(engine, "hrdb", ""));
    rig.env.push((URL_ENV.to_owned(), server.url()));
    assert_code(&rig.bin(&["sink", "init-db", "--sink", "hrdb"]).await, 0);

    // Act: the test hook hangs the sink right after its first batch committed.
    let mut env = rig.env.clone();
    env.push((HANG_ENV.to_owned(), "1".to_owned()));
    let mut running = stop::spawn(backfill_args(&rig, false), env);
    running.until_stderr(HANG_ENV).await;
    let (committed, _) = counts(&server, "attendance_corrections", "idempotency_key").await;
    let undelivered = backlog(&rig, "hrdb");
    running.signal("KILL");
    let killed = running.finish().await;
    assert_eq!(killed.code, None, "killed; stderr:\n{}", killed.stderr);
    let journal = journal_keys(&rig);
    assert!(committed > 0, "the batch committed before the kill");
    eprintln!(
        "{engine:?}: {committed} of {} corrections committed at the kill",
        journal.len()
    );
    assert_eq!(
        undelivered,
        journal.len() as i64,
        "at the kill the outbox had marked nothing"
    );

    // The rerun delivers everything again: the committed batch once more, by upsert.
    let rerun = run_binary(backfill_args(&rig, true), rig.env.clone()).await;
    assert_code(&rerun, 0);
    // The kill may interrupt the backfill between chunks: the resume journals the rest.
    let journal = journal_keys(&rig);

    let (rows, keys) = counts(&server, "attendance_corrections", "idempotency_key").await;
    assert_eq!((rows, keys), (journal.len() as i64, journal.len() as i64));
    let stored: BTreeSet<String> = server
        .strings("SELECT idempotency_key FROM attendance_corrections")
        .await
        .into_iter()
        .collect();
    assert_eq!(stored, journal);
    assert_eq!(backlog(&rig, "hrdb"), 0);
    assert!(!killed.stderr.contains(PASSWORD));
    assert_password_nowhere(&rig, &[&rerun]);
    eprintln!("{engine:?} crash test took {:?}", started.elapsed());
}

async fn init_db_and_the_company_table(engine: Engine) {
    let started = std::time::Instant::now();
    let server = Server::start(engine).await;
    let mut rig = Rig::new(35).await;
    server.execute(in_house_table(engine)).await;
    rig.write_config(&format!(
        "{}{}",
        sink_toml(engine, "hrdb", ""),
        sink_toml(engine, "kq", KQ_COLUMNS)
    ));

    // init-db without the URL variable: a configuration error naming sink and variable.
    let missing = rig.bin(&["sink", "init-db", "--sink", "hrdb"]).await;
    assert_code(&missing, 78);
    assert!(
        stderr(&missing).contains("hrdb") && stderr(&missing).contains(URL_ENV),
        "{}",
        stderr(&missing)
    );
    // A wrong password: exit 1, one sentence naming the sink, and neither password shown.
    const WRONG: &str = "Wrong-Pw-5c1d";
    let wrong_url = server.url().replace(PASSWORD, WRONG);
    rig.env.push((URL_ENV.to_owned(), wrong_url));
    let refused_login = rig.bin(&["sink", "init-db", "--sink", "hrdb"]).await;
    assert_code(&refused_login, 1);
    let text = stderr(&refused_login);
    assert!(
        text.contains(&format!("{} sink hrdb: could not connect", engine.kind()))
            && text.contains(URL_ENV),
        "{text}"
    );
    assert!(
        !text.contains(WRONG) && !stdout(&refused_login).contains(WRONG),
        "{text}"
    );
    rig.env = vec![(URL_ENV.to_owned(), server.url())];

    // (5) init-db creates the default table, and again changes nothing.
    let table_count = sql(
        &server,
        "SELECT CAST(count(*) AS SIGNED) FROM information_schema.tables \
         WHERE table_name = 'attendance_corrections'",
    );
    assert_eq!(server.count(&table_count).await, 0);
    let created = rig.bin(&["sink", "init-db", "--sink", "hrdb"]).await;
    assert_code(&created, 0);
    assert_eq!(server.count(&table_count).await, 1);
    let again = rig.bin(&["sink", "init-db", "--sink", "hrdb"]).await;
    assert_code(&again, 0);
    assert_eq!(server.count(&table_count).await, 1);
    // A mapped table is the company's own: refused.
    let refused = rig.bin(&["sink", "init-db", "--sink", "kq"]).await;
    assert_code(&refused, 78);
    assert!(
        stderr(&refused).contains("company's own"),
        "{}",
        stderr(&refused)
    );

    // (4) Deliver to both the default table and the company's table.
    let run = run_binary(backfill_args(&rig, false), rig.env.clone()).await;
    assert_code(&run, 0);
    let journal = journal_keys(&rig);
    assert!(!journal.is_empty());
    let (rows, keys) = counts(&server, "kq_buka", "ext_key").await;
    assert_eq!((rows, keys), (journal.len() as i64, journal.len() as i64));
    let stored: BTreeSet<String> = server
        .strings("SELECT ext_key FROM kq_buka")
        .await
        .into_iter()
        .collect();
    assert_eq!(stored, journal);
    let applied = server
        .count(&sql(
            &server,
            "SELECT CAST(count(*) AS SIGNED) FROM kq_buka WHERE src = 'supply_applied' \
             AND flow_no IS NOT NULL AND fix_time IS NOT NULL AND emp_no <> ''",
        ))
        .await;
    let journal_applied = rig
        .store()
        .all_corrections()
        .unwrap()
        .into_iter()
        .filter(|stored| stored.correction.class.as_str() == "supply_applied")
        .count() as i64;
    assert_eq!(applied, journal_applied);
    let (rows, _) = counts(&server, "attendance_corrections", "idempotency_key").await;
    assert_eq!(rows, journal.len() as i64);
    assert_password_nowhere(&rig, &[&missing, &created, &again, &refused, &run]);
    eprintln!(
        "{engine:?} init-db and mapping test took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_delivery_outage_and_redelivery_write_each_correction_once() {
    delivery_then_outage_then_redelivery(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_delivery_outage_and_redelivery_write_each_correction_once() {
    delivery_then_outage_then_redelivery(Engine::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_after_commit_before_marking_rewrites_each_key_once() {
    killed_after_commit_before_marking(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_killed_after_commit_before_marking_rewrites_each_key_once() {
    killed_after_commit_before_marking(Engine::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_init_db_and_a_mapped_company_table() {
    init_db_and_the_company_table(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_init_db_and_a_mapped_company_table() {
    init_db_and_the_company_table(Engine::MariaDb).await;
}
