//! Throwaway database servers for the database sinks' tests: a PostgreSQL and a MariaDB, each in
//! its own temporary directory on a free loopback port, with a database `hr` and a user `hr`
//! whose password is [`PASSWORD`]; killed (and their directory removed) on drop.
//!
//! The binaries come from the Debian packages `postgresql` and `mariadb-server` (`.ci/run`
//! installs them); a missing binary fails the test with a message saying so, never skips it.
//! PostgreSQL refuses to run as root: as root, its directory is chowned to the `postgres` user
//! and `initdb`, `postgres` and `psql` run as that user through `setpriv` (which execs, so the
//! server's pid is the child's). MariaDB runs as the current user (`--user=root` as root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// The password of the `hr` user on every test server; the tests check it appears in no error,
/// log or report.
pub(crate) const PASSWORD: &str = "Pw-7f3a-hr-Secret";

/// How long a server gets to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Postgres,
    MariaDb,
}

impl Engine {
    /// The sink `kind` that writes to this engine.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::MariaDb => "mysql",
        }
    }
}

/// A running throwaway server.
pub(crate) struct Server {
    pub(crate) engine: Engine,
    pub(crate) port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("the bound address").port()
}

/// The newest `/usr/lib/postgresql/*/bin`, or `pg_config --bindir`.
fn postgres_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("postgres").is_file() && bin.join("initdb").is_file())
        .collect();
    dirs.sort_by_key(|dir| {
        dir.parent()
            .and_then(|version| version.file_name())
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres. The database \
             sink tests need it: apt-get install postgresql (or run .ci/run, which installs it)"
        )
    })
}

fn mariadb_binary(names: &[&str]) -> PathBuf {
    for name in names {
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!(
        "MariaDB is not installed: none of {names:?} found. The database sink tests need it: \
         apt-get install mariadb-server (or run .ci/run, which installs it)"
    )
}

/// `command` as the `postgres` user when we are root (PostgreSQL refuses root).
fn as_postgres(program: &Path, root: bool) -> Command {
    if root {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

#[track_caller]
fn run_ok(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: could not start: {err}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Server {
    pub(crate) async fn start(engine: Engine) -> Server {
        let server = tokio::task::spawn_blocking(move || match engine {
            Engine::Postgres => Server::spawn_postgres(),
            Engine::MariaDb => Server::spawn_mariadb(),
        })
        .await
        .expect("the server starter finishes");
        server.wait_ready().await;
        server
    }

    fn spawn_postgres() -> Server {
        let bin = postgres_bin();
        let root = is_root();
        let dir = tempfile::tempdir().expect("temp dir");
        if root {
            run_ok(
                Command::new("chown").arg("postgres:").arg(dir.path()),
                "chown the PostgreSQL directory",
            );
        }
        let data = dir.path().join("data");
        run_ok(
            as_postgres(&bin.join("initdb"), root)
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ])
                .env("LC_ALL", "C"),
            "initdb",
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = as_postgres(&bin.join("postgres"), root)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
            ])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        let mut server = Server {
            engine: Engine::Postgres,
            port,
            child,
            dir,
        };
        // Wait for the socket, then create the user and database as the superuser over it.
        let started = Instant::now();
        loop {
            let ready = as_postgres(&bin.join("pg_isready"), root)
                .arg("-h")
                .arg(server.dir.path())
                .arg("-p")
                .arg(port.to_string())
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                break;
            }
            server.check_alive(started);
            std::thread::sleep(Duration::from_millis(100));
        }
        let psql = |sql: &str| {
            run_ok(
                as_postgres(&bin.join("psql"), root)
                    .arg("-h")
                    .arg(server.dir.path())
                    .arg("-p")
                    .arg(port.to_string())
                    .args([
                        "-U",
                        "postgres",
                        "-d",
                        "postgres",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-c",
                    ])
                    .arg(sql),
                "psql",
            )
        };
        psql(&format!("CREATE ROLE hr LOGIN PASSWORD '{PASSWORD}'"));
        psql("CREATE DATABASE hr OWNER hr");
        server.child_check();
        server
    }

    fn spawn_mariadb() -> Server {
        let install = mariadb_binary(&["mariadb-install-db", "mysql_install_db"]);
        let daemon = mariadb_binary(&["mariadbd", "mysqld"]);
        let client = mariadb_binary(&["mariadb", "mysql"]);
        let root = is_root();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let socket = dir.path().join("mariadb.sock");
        let mut command = Command::new(&install);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ]);
        if root {
            command.arg("--user=root");
        }
        // Bootstraps run one at a time: two at once have been seen to fail on a loaded machine.
        // A failed one is tried once more from an empty data directory before the test fails.
        {
            static BOOTSTRAP: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one_at_a_time = BOOTSTRAP
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let first = command.output();
            if !first.as_ref().is_ok_and(|output| output.status.success()) {
                let _ = std::fs::remove_dir_all(&data);
                run_ok(&mut command, "mariadb-install-db (second attempt)");
            }
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut command = Command::new(&daemon);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("mariadb.pid").display()
            ))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=8M",
                "--innodb-flush-log-at-trx-commit=0",
            ]);
        if root {
            command.arg("--user=root");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mariadbd starts");
        let mut server = Server {
            engine: Engine::MariaDb,
            port,
            child,
            dir,
        };
        let started = Instant::now();
        let sql = format!(
            "CREATE DATABASE hr; CREATE USER 'hr'@'%' IDENTIFIED BY '{PASSWORD}'; \
             CREATE USER 'hr'@'localhost' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL ON hr.* TO 'hr'@'%'; GRANT ALL ON hr.* TO 'hr'@'localhost';"
        );
        loop {
            let done = Command::new(&client)
                .arg("--no-defaults")
                .arg(format!("--socket={}", socket.display()))
                .args(["-u", "root", "-e", &sql])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if done {
                break;
            }
            server.check_alive(started);
            std::thread::sleep(Duration::from_millis(150));
        }
        server
    }

    /// Panics with the server's log when it exited or is not ready in time.
    fn check_alive(&mut self, started: Instant) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the {:?} test server exited ({status}) before it was ready; its log:\n{}",
                self.engine,
                self.log()
            );
        }
        if started.elapsed() > READY_WITHIN {
            panic!(
                "the {:?} test server was not ready within {READY_WITHIN:?}; its log:\n{}",
                self.engine,
                self.log()
            );
        }
    }

    fn child_check(&mut self) {
        self.check_alive(Instant::now());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Connects as `hr` over TCP until it works.
    async fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let one = match self.engine {
                Engine::Postgres => "SELECT CAST(1 AS bigint)",
                Engine::MariaDb => "SELECT CAST(1 AS SIGNED)",
            };
            match self.try_count(one).await {
                Ok(_) => return,
                Err(err) if started.elapsed() > READY_WITHIN => panic!(
                    "the {:?} test server does not accept the hr user: {err}; its log:\n{}",
                    self.engine,
                    self.log()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The connection URL of the `hr` user and database (it holds [`PASSWORD`]).
    pub(crate) fn url(&self) -> String {
        self.url_on(self.port)
    }

    /// The same URL on another port (an outage: nothing listens there).
    pub(crate) fn url_on(&self, port: u16) -> String {
        match self.engine {
            Engine::Postgres => format!("postgres://hr:{PASSWORD}@127.0.0.1:{port}/hr"),
            Engine::MariaDb => format!("mysql://hr:{PASSWORD}@127.0.0.1:{port}/hr"),
        }
    }

    async fn try_count(&self, sql: &str) -> Result<i64, sqlx::Error> {
        match self.engine {
            Engine::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url()).await?;
                let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await?;
                conn.close().await?;
                Ok(n)
            }
            Engine::MariaDb => {
                let mut conn = sqlx::MySqlConnection::connect(&self.url()).await?;
                let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await?;
                conn.close().await?;
                Ok(n)
            }
        }
    }

    /// One integer an SQL query answers (`SELECT count(*) …`, cast to a 64-bit integer).
    pub(crate) async fn count(&self, sql: &str) -> i64 {
        self.try_count(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// The text column of every row a query answers.
    pub(crate) async fn strings(&self, sql: &str) -> Vec<String> {
        match self.engine {
            Engine::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url()).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
            Engine::MariaDb => {
                let mut conn = sqlx::MySqlConnection::connect(&self.url()).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
        }
    }

    /// Runs statements (no results) as `hr`.
    pub(crate) async fn execute(&self, sql: &str) {
        let done = match self.engine {
            Engine::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url()).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ())
            }
            Engine::MariaDb => {
                let mut conn = sqlx::MySqlConnection::connect(&self.url()).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ())
            }
        };
        done.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // PostgreSQL: SIGQUIT is its immediate shutdown (the backends go too); MariaDB: SIGKILL.
        let signal = match self.engine {
            Engine::Postgres => "-QUIT",
            Engine::MariaDb => "-KILL",
        };
        let _ = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
