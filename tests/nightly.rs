//! `gexlake nightly` end to end: two overlapping runs on one lake, raw archives on GCS
//! (fake-gcs-server) into a lake on S3 (moto), and archives pulled from an FTP server
//! (pyftpdlib) with a resumed partial download — every run logging JSON only, credentials never.
//!
//! The servers are the test tools `tests/run` installs and puts on PATH (`fake-gcs-server`,
//! `moto_server`) or in `$GEXLAKE_TEST_PYTHON` (pyftpdlib); a missing one fails the test.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::TryStreamExt;
use gexlake::sample::{Layout, SampleSpec, archive_name, write_archive};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};

/// Longest a single gexlake run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// Longest a test server may take to accept connections.
const SERVER_START: Duration = Duration::from_secs(20);

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Writes small archives (20 tickers) for `days` weekdays from `first` into `dir`.
fn archives(dir: &Path, first: &str, days: usize) -> Vec<PathBuf> {
    let mut day = date(first);
    let mut paths = Vec::new();
    for i in 0..days {
        let spec = SampleSpec {
            tickers: 20,
            seed: 7 + i as u64,
            layout: Layout::V1,
            ..SampleSpec::new(day)
        };
        paths.push(write_archive(&spec, dir).unwrap().path);
        day = gexlake::cli::sample::next_weekday(day);
    }
    paths
}

/// A finished gexlake run.
struct Run {
    code: Option<i32>,
    stderr: String,
}

impl Run {
    /// Every stderr line must be one JSON object (`--log-format json`); returns them.
    #[track_caller]
    fn events(&self) -> Vec<serde_json::Value> {
        self.stderr
            .lines()
            .map(
                |line| match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v) if v.is_object() => v,
                    _ => panic!(
                        "a stderr line is not a JSON object: {line:?}\n{}",
                        self.stderr
                    ),
                },
            )
            .collect()
    }

    /// The first event with this message.
    #[track_caller]
    fn event(&self, message: &str) -> serde_json::Value {
        self.events()
            .into_iter()
            .find(|e| e["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} event in\n{}", self.stderr))
    }

    fn has(&self, message: &str) -> bool {
        self.events().iter().any(|e| e["message"] == message)
    }
}

/// Starts `gexlake --log-format json ARGS` with the caller's gexlake settings removed.
fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gexlake"));
    cmd.args(["--log-format", "json"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("GEXLAKE_")
            || key.starts_with("ORATS_FTP_")
            || key == "RUST_LOG"
            || key == "DATABASE_URL"
        {
            cmd.env_remove(key);
        }
    }
    cmd.envs(envs.iter().copied())
        .spawn()
        .expect("start gexlake")
}

fn wait(child: Child) -> Run {
    let (code, stderr) = common::wait_with_stderr(child, RUN_LIMIT, "gexlake");
    Run { code, stderr }
}

fn gexlake(args: &[&str], envs: &[(&str, &str)]) -> Run {
    wait(spawn(args, envs))
}

/// A server process on 127.0.0.1, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `program args…` (`{port}` in an argument becomes a free port) and waits until
    /// the port accepts connections.
    fn start(name: &'static str, program: &Path, args: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()))
            .collect();
        let child = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let mut server = Server { child, port };
        let deadline = Instant::now() + SERVER_START;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("{name} exited before accepting connections: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on port {port} within {SERVER_START:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The executable `name` on PATH; fails (never skips) when the tool is missing.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: run the tests with tests/run, which installs the test tools"))
}

/// The Python of the test tools: $GEXLAKE_TEST_PYTHON.
fn python() -> PathBuf {
    match std::env::var_os("GEXLAKE_TEST_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "GEXLAKE_TEST_PYTHON is not set: run the tests with tests/run, which installs pyftpdlib"
        ),
    }
}

/// `gexlake nightly` pulling from the FTP(S) `source` into `raw`, converting into `lake`, with
/// downloads in progress under `work`, on two jobs.
fn nightly_from<'a>(
    source: &'a str,
    raw: &'a Path,
    lake: &'a Path,
    work: &'a Path,
) -> Vec<&'a str> {
    let path = |p: &'a Path| p.to_str().expect("a UTF-8 path");
    vec![
        "nightly",
        "--source",
        source,
        "--raw",
        path(raw),
        "--lake",
        path(lake),
        "--work-dir",
        path(work),
        "--jobs",
        "2",
    ]
}

/// Runs a Python snippet (with `sys.argv[1:]` = `args`) and asserts it succeeds.
#[track_caller]
fn python_run(code: &str, args: &[&str]) {
    common::run_python(&python(), code, args, "python");
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// What a complete run over `dates` (YYYYMMDD) leaves in a lake, locks excluded.
fn expected_lake(dates: &[&str]) -> Vec<String> {
    // orats_daily's index of each symbol's first date.
    let mut out = vec!["_index/orats_daily/first_dates.json".to_string()];
    for d in dates {
        let iso = format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]);
        out.push(format!("_ingest/ORATS_SMV_Strikes_{d}.json"));
        out.push(format!(
            "orats_strikes/trade_date={iso}/ORATS_SMV_Strikes_{d}.parquet"
        ));
        for p in ["a3", "v2"] {
            out.push(format!(
                "dealer_metrics/params={p}/trade_date={iso}/part.parquet"
            ));
        }
        out.push(format!("orats_daily/trade_date={iso}/part.parquet"));
    }
    out.sort();
    out
}

#[test]
fn overlapping_runs_do_the_work_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("incoming");
    archives(&input, "2026-02-04", 3);
    let lake = dir.path().join("lake");
    let args = [
        "nightly",
        "--source",
        input.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--jobs",
        "1",
    ];
    let (a, b) = (spawn(&args, &[]), spawn(&args, &[]));
    let runs = [wait(a), wait(b)];
    for run in &runs {
        assert_eq!(run.code, Some(0), "{}", run.stderr);
    }
    let worked: Vec<&Run> = runs.iter().filter(|r| r.has("run summary")).collect();
    let waited: Vec<&Run> = runs
        .iter()
        .filter(|r| r.has("nightly: another run holds the lock; leaving the work to it"))
        .collect();
    assert_eq!(
        (worked.len(), waited.len()),
        (1, 1),
        "exactly one run works, the other sees the lock"
    );
    let held = waited[0].event("nightly: another run holds the lock; leaving the work to it");
    assert!(
        held["holder_pid"].as_u64().is_some() && held["holder_host"].is_string(),
        "{held}"
    );
    assert_eq!(worked[0].event("ingest: summary")["converted"], 3);
    assert_eq!(
        files_under(&lake),
        expected_lake(&["20260204", "20260205", "20260206"]),
        "the lock is released"
    );

    // Safe to run twice: nothing is converted or computed again.
    let again = gexlake(&args, &[]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.event("ingest: summary")["converted"], 0);
    assert!(!again.has("metrics: run header"), "{}", again.stderr);

    // A new archive: only it is processed; an explicit --date redoes exactly that date's checks.
    archives(&input, "2026-02-09", 1);
    let next = gexlake(&args, &[]);
    assert_eq!(next.code, Some(0), "{}", next.stderr);
    assert_eq!(next.event("ingest: summary")["converted"], 1);
    assert_eq!(next.event("nightly: run header")["last_done"], "2026-02-06");
    let mut with_date = args.to_vec();
    with_date.extend(["--date", "2026-02-05"]);
    let one = gexlake(&with_date, &[]);
    assert_eq!(one.code, Some(0), "{}", one.stderr);
    assert_eq!(one.event("nightly: run header")["files"], 1);
    let mut missing = args.to_vec();
    missing.extend(["--date", "2026-02-07"]);
    assert_eq!(
        gexlake(&missing, &[]).code,
        Some(1),
        "no archive for an explicit date cannot run"
    );
}

#[test]
fn a_stale_lock_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("incoming");
    archives(&input, "2026-02-05", 1);
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("_locks")).unwrap();
    let lock = serde_json::json!({
        "host": "crashed-host.invalid", "pid": 4242, "started_at": "2026-02-05T03:00:00Z",
        "run_id": "dead", "version": "0.0.0"
    });
    std::fs::write(lake.join("_locks/nightly.json"), lock.to_string()).unwrap();
    let args = [
        "nightly",
        "--source",
        input.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
    ];
    let run = gexlake(&args, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let warning = run.event("taking over a stale lock: its holder died or overran --lock-timeout");
    assert_eq!(warning["level"], "WARN");
    // Cloud Logging files a JSON line by its `severity`.
    assert_eq!(warning["severity"], "WARNING");
    assert_eq!(run.event("run summary")["severity"], "INFO");
    assert!(!lake.join("_locks/nightly.json").exists());
}

#[test]
fn a_source_whose_archives_stopped_arriving_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("incoming");
    let lake = dir.path().join("lake");
    let args = |extra: &[&str]| {
        let mut args = vec![
            "nightly".to_string(),
            "--source".to_string(),
            input.display().to_string(),
            "--lake".to_string(),
            lake.display().to_string(),
            "--jobs".to_string(),
            "1".to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let run_with = |extra: &[&str]| {
        let args = args(extra);
        gexlake(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    };
    const OVERDUE: &str = "nightly: the source holds no archive";
    std::fs::create_dir_all(&input).unwrap();
    let empty = run_with(&[]);
    assert_eq!(empty.code, Some(0), "{}", empty.stderr);
    assert_eq!(empty.event(OVERDUE)["severity"], "WARNING");
    let empty_off = run_with(&["--stale-after-days", "0"]);
    assert_eq!(empty_off.code, Some(0), "{}", empty_off.stderr);
    assert!(!empty_off.has(OVERDUE), "{}", empty_off.stderr);

    // Archives of long ago: the job succeeds and warns how old the newest is.
    archives(&input, "2026-02-04", 1);
    let today = || {
        chrono::Utc::now()
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive()
    };
    let before = today();
    let old = run_with(&[]);
    let after = today();
    assert_eq!(old.code, Some(0), "{}", old.stderr);
    let stale = |e: &serde_json::Value| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("nightly: the source's newest archive is"))
    };
    let warning = old
        .events()
        .into_iter()
        .find(stale)
        .expect("a stale-source warning");
    assert_eq!(warning["severity"], "WARNING");
    assert_eq!(warning["newest"], "2026-02-04");
    let age = warning["age_days"].as_i64().unwrap();
    // The New York date the run saw (midnight may pass while it runs).
    assert!(
        [before, after].contains(
            &date("2026-02-04")
                .checked_add_days(chrono::Days::new(age as u64))
                .unwrap()
        ),
        "{warning}"
    );
    assert_eq!(
        warning["message"],
        format!(
            "nightly: the source's newest archive is {age} days old: are archives still arriving?"
        )
    );
    // With the check off, no warning.
    let off = run_with(&["--stale-after-days", "0"]);
    assert_eq!(off.code, Some(0), "{}", off.stderr);
    assert!(!off.events().iter().any(stale), "{}", off.stderr);

    // Yesterday's archive (New York): no warning.
    let yesterday = today().pred_opt().unwrap();
    let spec = SampleSpec {
        tickers: 5,
        seed: 3,
        layout: Layout::V1,
        ..SampleSpec::new(yesterday)
    };
    write_archive(&spec, &input).unwrap();
    let fresh = run_with(&[]);
    assert_eq!(fresh.code, Some(0), "{}", fresh.stderr);
    assert_eq!(fresh.event("ingest: summary")["converted"], 1);
    assert!(
        !fresh.events().iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("newest archive is"))),
        "{}",
        fresh.stderr
    );
}

/// fake-gcs-server (raw archives) and moto (the lake), with the environment gexlake needs.
struct Clouds {
    gcs: Server,
    s3: Server,
    service_account: PathBuf,
}

impl Clouds {
    fn start(dir: &Path) -> Clouds {
        let gcs = Server::start(
            "fake-gcs-server",
            &tool("fake-gcs-server"),
            // -public-host: serve the path-style XML requests object_store lists and reads with.
            &[
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                "{port}",
                "-public-host",
                "127.0.0.1:{port}",
                "-backend",
                "memory",
                "-log-level",
                "error",
            ],
        );
        let s3 = Server::start(
            "moto_server",
            &tool("moto_server"),
            &["-H", "127.0.0.1", "-p", "{port}"],
        );
        let service_account = dir.join("service-account.json");
        let key = serde_json::json!({
            "gcs_base_url": gcs.url(), "disable_oauth": true,
            "client_email": "", "private_key": "", "private_key_id": ""
        });
        std::fs::write(&service_account, key.to_string()).unwrap();
        Clouds {
            gcs,
            s3,
            service_account,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "GOOGLE_SERVICE_ACCOUNT",
                self.service_account.to_string_lossy().into_owned(),
            ),
            ("AWS_ENDPOINT", self.s3.url()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "x".into()),
            ("AWS_SECRET_ACCESS_KEY", "x".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    fn s3_bucket(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(self.s3.url())
                .with_allow_http(true)
                .with_bucket_name(bucket)
                .with_access_key_id("x")
                .with_secret_access_key("x")
                .with_region("us-east-1")
                .build()
                .unwrap(),
        )
    }
}

const SEED_CLOUDS: &str = r#"
import sys, urllib.request
gcs, s3, raw_bucket, lake_bucket, prefix = sys.argv[1:6]
def call(method, url, data=b"", ctype="application/json"):
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": ctype})
    urllib.request.urlopen(req, timeout=20).read()
call("POST", f"{gcs}/storage/v1/b", ('{"name": "%s"}' % raw_bucket).encode())
for path in sys.argv[6:]:
    name = prefix + "/" + path.rsplit("/", 1)[-1]
    call("POST", f"{gcs}/upload/storage/v1/b/{raw_bucket}/o?uploadType=media&name={name}",
         open(path, "rb").read(), "application/zip")
call("PUT", f"{s3}/{lake_bucket}")
"#;

#[test]
fn raw_archives_on_gcs_into_a_lake_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let clouds = Clouds::start(dir.path());
    let local = dir.path().join("archives");
    let paths = archives(&local, "2026-02-05", 2);
    let mut seed_args = vec![
        clouds.gcs.url(),
        clouds.s3.url(),
        "raw".into(),
        "lake".into(),
        "incoming".into(),
    ];
    seed_args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
    python_run(
        SEED_CLOUDS,
        &seed_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    let env = clouds.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = [
        "nightly",
        "--source",
        "gs://raw/incoming/",
        "--lake",
        "s3://lake/lake/",
        "--jobs",
        "2",
    ];
    let run = gexlake(&args, &env);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.event("nightly: run header")["files"], 2);

    let store = clouds.s3_bucket("lake");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listed: Vec<String> = runtime.block_on(async {
        let metas: Vec<_> = store
            .list(Some(&ObjectPath::from("lake")))
            .try_collect()
            .await
            .unwrap();
        let mut names: Vec<String> = metas
            .iter()
            .map(|m| m.location.as_ref().trim_start_matches("lake/").to_string())
            .collect();
        names.sort();
        names
    });
    assert_eq!(
        listed,
        expected_lake(&["20260205", "20260206"]),
        "the lake on S3, lock released"
    );

    // The lock's conditional create holds on this S3: a second create of one key fails.
    runtime.block_on(async {
        let key = ObjectPath::from("lake/_locks/probe.json");
        let create = || PutOptions::from(PutMode::Create);
        store.put_opts(&key, "a".into(), create()).await.unwrap();
        let second = store.put_opts(&key, "b".into(), create()).await;
        assert!(
            matches!(second, Err(object_store::Error::AlreadyExists { .. })),
            "{second:?}"
        );
        store.delete(&key).await.unwrap();
    });

    let again = gexlake(&args, &env);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.event("ingest: summary")["converted"], 0);
}

#[test]
fn archives_pulled_from_ftp_resume_and_keep_credentials_out_of_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote");
    let paths = archives(&remote, "2026-02-05", 2);
    std::fs::write(remote.join("README.txt"), "not an archive").unwrap();
    let (user, password) = ("orats-user-7f3k", "pw-Zq9x-secret");
    let python = python();
    let ftp = Server::start(
        "pyftpdlib",
        &python,
        &[
            "-m",
            "pyftpdlib",
            "-i",
            "127.0.0.1",
            "-p",
            "{port}",
            "-d",
            remote.to_str().unwrap(),
            "-u",
            user,
            "-P",
            password,
        ],
    );
    let raw = dir.path().join("raw");
    let work = dir.path().join("work");
    let lake = dir.path().join("lake");
    // A partial download of the second archive, left by an earlier run that died.
    let second = std::fs::read(&paths[1]).unwrap();
    let partial = work
        .join(format!("127.0.0.1-{}", ftp.port))
        .join(format!("{}.part", archive_name(date("2026-02-06"))));
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::File::create(&partial)
        .unwrap()
        .write_all(&second[..second.len() / 3])
        .unwrap();

    let source = format!("ftp://127.0.0.1:{}/", ftp.port);
    let mut args = nightly_from(&source, &raw, &lake, &work);
    args.extend(["--log-level", "debug"]);
    let env = [("ORATS_FTP_USER", user), ("ORATS_FTP_PASSWORD", password)];
    let run = gexlake(&args, &env);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for secret in [user, password] {
        assert!(
            !run.stderr.contains(secret),
            "a credential leaked into the log:\n{}",
            run.stderr
        );
    }
    let resumed = run.event("ftp: resuming a partial download");
    assert_eq!(resumed["offset"], second.len() as u64 / 3);
    let summary = run.event("nightly: FTP summary");
    assert_eq!(
        (summary["downloaded"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(0)),
        "{summary}"
    );
    let transferred: u64 = run
        .events()
        .iter()
        .filter(|e| e["message"] == "ftp: downloaded")
        .map(|e| e["transferred"].as_u64().unwrap())
        .sum();
    let total: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(
        transferred,
        total - second.len() as u64 / 3,
        "the partial file was continued, not fetched again"
    );
    assert_arrived_intact(&paths, &raw);
    assert_eq!(
        files_under(&raw).len(),
        2,
        "only archives, no partial files, in the raw prefix"
    );
    assert_eq!(files_under(&lake), expected_lake(&["20260205", "20260206"]));

    // The second run finds everything in the raw prefix and downloads nothing.
    let again = gexlake(&args, &env);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let summary = again.event("nightly: FTP summary");
    assert_eq!(
        (
            summary["downloaded"].as_u64(),
            summary["already_in_raw"].as_u64()
        ),
        (Some(0), Some(2)),
        "{summary}"
    );
    assert_eq!(again.event("ingest: summary")["converted"], 0);

    // A wrong password cannot run (exit 1), and is not echoed either.
    let wrong = [
        ("ORATS_FTP_USER", user),
        ("ORATS_FTP_PASSWORD", "wrong-Pw-77"),
    ];
    let denied = gexlake(&args, &wrong);
    assert_eq!(denied.code, Some(1), "{}", denied.stderr);
    assert!(
        !denied.stderr.contains("wrong-Pw-77") && !denied.stderr.contains(user),
        "{}",
        denied.stderr
    );
    denied.events();
}

/// Every remote archive in `paths` has a byte-identical copy in `raw`.
#[track_caller]
fn assert_arrived_intact(paths: &[PathBuf], raw: &Path) {
    for path in paths {
        let name = path.file_name().unwrap();
        assert_eq!(
            std::fs::read(raw.join(name)).unwrap(),
            std::fs::read(path).unwrap(),
            "{name:?} arrived intact"
        );
    }
}

/// An FTP server that requires explicit TLS (AUTH TLS) on the control and data connections.
const FTPS_SERVER: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer
port, root, user, password, cert, key = sys.argv[1:7]
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elr")
class Handler(TLS_FTPHandler):
    pass
Handler.authorizer = authorizer
Handler.certfile = cert
Handler.keyfile = key
Handler.tls_control_required = True
Handler.tls_data_required = True
FTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
"#;

#[test]
fn archives_pulled_over_ftps_verify_the_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote");
    let paths = archives(&remote, "2026-02-05", 2);
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    common::make_test_certificates(&python(), &certs);
    let (user, password) = ("orats-tls-user", "tls-Pw-4410-secret");
    let cert = certs.join("cert.pem");
    let key = certs.join("key.pem");
    let ftp = Server::start(
        "pyftpdlib (TLS)",
        &python(),
        &[
            "-c",
            FTPS_SERVER,
            "{port}",
            remote.to_str().unwrap(),
            user,
            password,
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
        ],
    );
    let raw = dir.path().join("raw");
    let lake = dir.path().join("lake");
    let work = dir.path().join("work");
    let source = format!("ftps://127.0.0.1:{}/", ftp.port);
    let args = nightly_from(&source, &raw, &lake, &work);
    let credentials = [("ORATS_FTP_USER", user), ("ORATS_FTP_PASSWORD", password)];

    // A server whose certificate no trusted CA signed is refused before the credentials go out.
    let other_ca = certs.join("other-ca.pem");
    let mut untrusted = credentials.to_vec();
    untrusted.push(("SSL_CERT_FILE", other_ca.to_str().unwrap()));
    let refused = gexlake(&args, &untrusted);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.to_lowercase().contains("certificate"),
        "the error names the certificate: {}",
        refused.stderr
    );
    assert!(files_under(&raw).is_empty() && files_under(&lake).is_empty());

    // Trusting the test CA (SSL_CERT_FILE, as rustls-native-certs reads it), both archives
    // arrive over TLS (the server refuses plain-text logins and data) and are converted.
    let ca = certs.join("ca.pem");
    let mut trusted = credentials.to_vec();
    trusted.push(("SSL_CERT_FILE", ca.to_str().unwrap()));
    let run = gexlake(&args, &trusted);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for secret in [user, password] {
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
    }
    let summary = run.event("nightly: FTP summary");
    assert_eq!(
        (summary["downloaded"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(0)),
        "{summary}"
    );
    assert_arrived_intact(&paths, &raw);
    assert_eq!(files_under(&lake), expected_lake(&["20260205", "20260206"]));
}
