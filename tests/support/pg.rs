//! A throwaway PostgreSQL server for tests and benchmarks (test support only).
//!
//! [`TestPostgres::start`] runs `initdb` into a fresh temporary directory and starts the newest
//! server under `/usr/lib/postgresql/*/bin` on a free port of 127.0.0.1, with password
//! authentication (so URLs carry a password, as in production) and durability turned off for
//! speed. The server refuses to run as root, so when the process is root every server command
//! runs as the `postgres` system user through `runuser`. Dropping the value stops the server
//! and deletes the directory.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where Debian and Ubuntu install the server binaries, one directory per major version.
const PG_LIB_DIR: &str = "/usr/lib/postgresql";

/// The superuser created by `initdb`.
const SUPERUSER: &str = "gexlake";

/// Settings appended to `postgresql.conf`: private sockets, loopback only, no durability.
const SETTINGS: &str = "
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
";

/// How often a start is retried when another process took the chosen port meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// A login role `nightly` (password [`NIGHTLY_PASSWORD`]), on a database where no one but the
/// schema's owner may CREATE (PostgreSQL 15's default, made explicit for older servers). Run on
/// that database by its owner.
pub const NIGHTLY_ROLE: &str = "
    CREATE ROLE nightly LOGIN PASSWORD 'nightly-secret';
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;";

/// The grants README "Postgres" lists for the role a nightly job runs as: the sink's tables
/// only. Run by the owner once the migrations are applied.
pub const NIGHTLY_GRANTS: &str = "
    GRANT SELECT ON _sqlx_migrations TO nightly;
    GRANT SELECT, INSERT, UPDATE ON tickers, daily_snapshots, gex_metrics_snapshot, orats_daily
        TO nightly;
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO nightly;";

/// The password of [`NIGHTLY_ROLE`].
pub const NIGHTLY_PASSWORD: &str = "nightly-secret";

/// A running PostgreSQL server in a temporary directory.
#[derive(Debug)]
pub struct TestPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    password: String,
    as_postgres_user: bool,
}

impl TestPostgres {
    /// Initialises and starts a server; panics, saying how to install PostgreSQL, without one.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// [`TestPostgres::start`] with TLS on (plain connections are still accepted), serving
    /// the PEM certificate `cert` and its private key `key`.
    pub fn start_with_tls(cert: &Path, key: &Path) -> Self {
        Self::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Self {
        let bin = server_bin_dir();
        let as_postgres_user = running_as_root();
        let dir = fresh_temp_dir();
        // '@', '/' and ':' must be percent-encoded in a URL: the redaction is tested on both forms.
        let password = format!("pw@{}/{}:x", std::process::id(), unique_suffix());
        let pwfile = dir.join("pwfile");
        fs::write(&pwfile, &password).expect("write the password file");
        if as_postgres_user {
            let chown = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .output();
            check(&chown, "chown -R postgres");
        }
        let mut server = Self {
            bin,
            port: 0,
            password,
            as_postgres_user,
            dir,
        };
        let initdb = server
            .command("initdb")
            .arg("-D")
            .arg(server.data_dir())
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output();
        check(&initdb, "initdb");
        fs::remove_file(&pwfile).expect("remove the password file");
        let socket_dir = format!("unix_socket_directories = '{}'\n", server.dir.display());
        let conf = server.data_dir().join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str(SETTINGS);
        text.push_str(&socket_dir);
        if let Some((cert, key)) = tls {
            server.install_tls_files(cert, key);
            text.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        fs::write(&conf, text).expect("write postgresql.conf");
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.pg_ctl_start() {
                Ok(()) => return server,
                Err(log) if log.contains("could not bind") => continue,
                Err(log) => panic!("PostgreSQL did not start:\n{log}"),
            }
        }
        panic!("PostgreSQL did not find a free port in {PORT_ATTEMPTS} attempts");
    }

    /// Copies the certificate and key into the data directory, readable by the server only.
    fn install_tls_files(&self, cert: &Path, key: &Path) {
        use std::os::unix::fs::PermissionsExt;
        for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
            let to = self.data_dir().join(name);
            fs::copy(from, &to).expect("copy a TLS file into the data directory");
            fs::set_permissions(&to, fs::Permissions::from_mode(0o600))
                .expect("restrict a TLS file");
            if self.as_postgres_user {
                let chown = Command::new("chown").arg("postgres").arg(&to).output();
                check(&chown, "chown postgres");
            }
        }
    }

    /// The URL of the `postgres` database, password included.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of `database` on this server, password included.
    pub fn url_for(&self, database: &str) -> String {
        self.url_as(database, SUPERUSER, &self.password)
    }

    /// The URL of `database` on this server for `role` with `password`.
    pub fn url_as(&self, database: &str, role: &str, password: &str) -> String {
        let mut url = url::Url::parse(&format!("postgres://127.0.0.1:{}/{database}", self.port))
            .expect("a valid URL");
        url.set_username(role)
            .expect("a URL with a host takes a user");
        url.set_password(Some(password))
            .expect("a URL with a host takes a password");
        url.to_string()
    }

    /// Creates an empty database named `name` (letters, digits, `_`) and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "database names here are lowercase letters, digits and _: {name:?}"
        );
        let psql = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(format!("CREATE DATABASE {name}"))
            .env("PGPASSWORD", &self.password)
            .current_dir(&self.dir)
            .output();
        check(&psql, &format!("CREATE DATABASE {name}"));
        self.url_for(name)
    }

    /// The superuser's password (to check that it never leaks).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server as a crash would (`pg_ctl stop -m immediate`).
    pub fn stop(&self) {
        let stop = self.pg_ctl_stop();
        check(&stop, "pg_ctl stop");
    }

    /// Starts the stopped server again, on the same data directory and port.
    pub fn start_again(&self) {
        if let Err(log) = self.pg_ctl_start() {
            panic!("PostgreSQL did not restart:\n{log}");
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Starts the server; on failure returns the server log.
    fn pg_ctl_start(&self) -> Result<(), String> {
        let start = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            .arg("start")
            .output();
        match start {
            Ok(out) if out.status.success() => Ok(()),
            other => Err(format!(
                "{}\n{}",
                describe(&other),
                fs::read_to_string(self.log_file()).unwrap_or_default()
            )),
        }
    }

    fn pg_ctl_stop(&self) -> std::io::Result<Output> {
        self.command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
    }

    /// A server program, run as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres_user {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(path);
            runuser
        } else {
            Command::new(path)
        };
        // The postgres user may not be allowed into the caller's working directory.
        command.current_dir(&self.dir);
        command
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // Already stopped by a test is fine; anything else would leave a server running.
        let _ = self.pg_ctl_stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The `bin` directory of the newest installed major version.
fn server_bin_dir() -> PathBuf {
    let newest = fs::read_dir(PG_LIB_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server found (expected {PG_LIB_DIR}/<version>/bin/initdb): run the tests \
             with the README's test command, `tests/run`, which installs the `postgresql` package"
        ),
    }
}

/// Whether the effective user is root, from `/proc/self/status` (no libc needed).
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
            Some(uids.split_whitespace().nth(1)? == "0")
        })
        .unwrap_or(false)
}

fn fresh_temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gexlake-pg-{}-{}",
        std::process::id(),
        unique_suffix()
    ));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Distinct per call within the process, and across processes that reuse a pid.
fn unique_suffix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A port nobody listens on right now (another process may still take it before the server).
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port on 127.0.0.1")
}

fn check(result: &std::io::Result<Output>, what: &str) {
    if !matches!(result, Ok(out) if out.status.success()) {
        panic!("{what} failed: {}", describe(result));
    }
}

fn describe(result: &std::io::Result<Output>) -> String {
    match result {
        Ok(out) => format!(
            "{}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => e.to_string(),
    }
}
