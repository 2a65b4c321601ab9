//! The lake on every object store (issue #2): the same contract functions run against the
//! local file system, `memory://`, a real S3-compatible server (moto) and — for reading
//! archives — a real fake-gcs-server; and the CLI against `s3://` and `gs://` URLs, with
//! credentials from the standard environment variables, including a metrics run on the S3 lake.
//!
//! The servers come from PATH (`moto_server`, `fake-gcs-server`): run the tests through
//! `tests/run`, which installs them. A missing server fails the test; nothing is skipped.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::NaiveDate;
use common::{
    CliRun, Leg, csv, csv_data_lines, free_port, parquet_rows, run_gexlake_env, sha256_hex,
    tool_on_path, zip_csv_member,
};
use datafusion::arrow::array::{Array, Int64Array};
use futures::TryStreamExt;
use gexlake::ingest::{IngestOptions, Outcome, Selection, Source, discover, ingest};
use gexlake::lake::{ledger, ledger_file, strikes_file};
use gexlake::store::Location;
use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

// ---------------------------------------------------------------------------------------------
// Servers

/// A server process on 127.0.0.1, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `program` with `args(port)` on a free port and waits (at most 30 s) until
    /// `GET ready_path` answers.
    fn start(program: &str, args: impl Fn(u16) -> Vec<String>, ready_path: &str) -> Server {
        let bin = tool_on_path(program);
        let dir = tempfile::tempdir().unwrap();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log = dir.path().join(format!("{program}-{port}.log"));
            let out = std::fs::File::create(&log).unwrap();
            let child = Command::new(&bin)
                .args(args(port))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let mut server = Server {
                child,
                port,
                log,
                _dir: tempfile::tempdir().unwrap(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last_log = server.log_text();
                    eprintln!("{program} exited ({status}) on port {port}, retrying: {last_log}");
                    break;
                }
                if http(port, "GET", ready_path, &[], b"").is_ok() {
                    // Keep the directory holding the log alive with the server.
                    server._dir = dir;
                    return server;
                }
                if Instant::now() > deadline {
                    panic!(
                        "{program} did not answer on 127.0.0.1:{port} within 30 s:\n{}",
                        server.log_text()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("{program} could not be started: {last_log}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to 127.0.0.1:port; returns the status and the raw body.
fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header"))?;
    let status_line = String::from_utf8_lossy(&response[..head_end])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    Ok((status, response[head_end + 4..].to_vec()))
}

#[track_caller]
fn http_ok(port: u16, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) {
    let (status, reply) = http(port, method, target, headers, body).unwrap();
    assert!(
        (200..300).contains(&status),
        "{method} {target}: {status} {}",
        String::from_utf8_lossy(&reply)
    );
}

/// moto's S3 with one bucket.
struct S3 {
    server: Server,
    bucket: String,
}

impl S3 {
    fn start(bucket: &str) -> S3 {
        let server = Server::start(
            "moto_server",
            |port| {
                vec![
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ]
            },
            "/",
        );
        http_ok(server.port, "PUT", &format!("/{bucket}"), &[], b"");
        S3 {
            server,
            bucket: bucket.to_string(),
        }
    }

    /// A location inside the bucket, configured through the builder (not the environment).
    fn location(&self, prefix: &str) -> Location {
        let store = AmazonS3Builder::new()
            .with_endpoint(self.server.endpoint())
            .with_allow_http(true)
            .with_bucket_name(&self.bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap();
        Location {
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix),
            store_url: url::Url::parse(&format!("s3://{}", self.bucket)).unwrap(),
            is_local: false,
        }
    }

    /// The environment the CLI reads S3 settings from.
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("AWS_ENDPOINT".into(), self.server.endpoint()),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
        ]
    }
}

/// fake-gcs-server with one bucket, and a service-account file pointing object_store at it.
struct Gcs {
    server: Server,
    bucket: String,
    credentials: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gcs {
    fn start(bucket: &str) -> Gcs {
        // -public-host makes it serve the path-style downloads object_store uses.
        let server = Server::start(
            "fake-gcs-server",
            |port| {
                [
                    "-scheme",
                    "http",
                    "-host",
                    "127.0.0.1",
                    "-port",
                    &port.to_string(),
                ]
                .into_iter()
                .map(String::from)
                .chain(["-public-host".to_string(), format!("127.0.0.1:{port}")])
                .chain(["-backend".to_string(), "memory".to_string()])
                .collect()
            },
            "/storage/v1/b",
        );
        let body = format!("{{\"name\":\"{bucket}\"}}");
        http_ok(
            server.port,
            "POST",
            "/storage/v1/b",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("service-account.json");
        std::fs::write(
            &credentials,
            format!(
                r#"{{"gcs_base_url":"{}","disable_oauth":true,"client_email":"","private_key":"","private_key_id":""}}"#,
                server.endpoint()
            ),
        )
        .unwrap();
        Gcs {
            server,
            bucket: bucket.to_string(),
            credentials,
            _dir: dir,
        }
    }

    /// Uploads through the JSON API (fake-gcs-server refuses object_store's uploads).
    fn seed(&self, name: &str, bytes: &[u8]) {
        http_ok(
            self.server.port,
            "POST",
            &format!(
                "/upload/storage/v1/b/{}/o?uploadType=media&name={name}",
                self.bucket
            ),
            &[("Content-Type", "application/zip")],
            bytes,
        );
    }

    fn location(&self, prefix: &str) -> Location {
        let store = GoogleCloudStorageBuilder::new()
            .with_bucket_name(&self.bucket)
            .with_service_account_path(self.credentials.to_str().unwrap())
            .build()
            .unwrap();
        Location {
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix),
            store_url: url::Url::parse(&format!("gs://{}", self.bucket)).unwrap(),
            is_local: false,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![(
            "GOOGLE_SERVICE_ACCOUNT".into(),
            self.credentials.to_str().unwrap().to_string(),
        )]
    }
}

fn run_with(args: &[&str], env: &[(String, String)]) -> CliRun {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_gexlake_env(args, &env)
}

// ---------------------------------------------------------------------------------------------
// Archives and where they are put

/// Small generated archives: (file name, bytes).
fn sample_archives(seed: u64, dates: &[&str]) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    dates
        .iter()
        .map(|d| {
            let path = common::small_sample(dir.path(), d, seed);
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

/// Where a backend's archives live and how to put one there.
enum Archives {
    /// Any store object_store can write.
    Store(Location),
    /// fake-gcs-server: written through its JSON API, read through object_store.
    Gcs(Gcs, Location),
}

impl Archives {
    fn location(&self) -> &Location {
        match self {
            Archives::Store(l) | Archives::Gcs(_, l) => l,
        }
    }

    async fn put(&self, relative: &str, bytes: &[u8]) {
        match self {
            Archives::Store(l) => {
                l.store
                    .put(
                        &l.child(relative),
                        PutPayload::from(Bytes::copy_from_slice(bytes)),
                    )
                    .await
                    .unwrap();
            }
            Archives::Gcs(gcs, l) => gcs.seed(l.child(relative).as_ref(), bytes),
        }
    }
}

/// The sources under a location, listed the way `discover` lists a prefix (by hand, because
/// `discover` takes URLs and reads credentials from the environment, which a test process must
/// not change; the CLI tests below cover `discover` on s3:// and gs://).
async fn list_sources(location: &Location) -> Vec<Source> {
    let metas: Vec<object_store::ObjectMeta> = location
        .store
        .list(Some(&location.prefix))
        .try_collect()
        .await
        .unwrap();
    let mut sources: Vec<Source> = metas
        .into_iter()
        .filter(|m| m.location.as_ref().ends_with(".zip"))
        .map(|m| {
            let name = m.location.filename().unwrap().to_string();
            Source {
                location: location.clone(),
                stem: name.trim_end_matches(".zip").to_string(),
                date: gexlake::orats::date_from_file_name(&name),
                name,
                size: m.size,
                last_modified: m.last_modified.to_rfc3339(),
                e_tag: m.e_tag,
                path: m.location,
            }
        })
        .collect();
    sources.sort_by(|a, b| (a.date, &a.name).cmp(&(b.date, &b.name)));
    sources
}

async fn get(location: &Location, relative: &str) -> Option<Vec<u8>> {
    match location.store.get(&location.child(relative)).await {
        Ok(r) => Some(r.bytes().await.unwrap().to_vec()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("reading {relative} from {location}: {e}"),
    }
}

/// Every object under `relative`, lake-relative, sorted.
async fn list(location: &Location, relative: &str) -> Vec<String> {
    let prefix = location.child(relative);
    let metas: Vec<object_store::ObjectMeta> = location
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .unwrap();
    let base = format!("{}/", location.prefix);
    let mut names: Vec<String> = metas
        .into_iter()
        .map(|m| {
            m.location
                .as_ref()
                .strip_prefix(base.as_str())
                .unwrap_or(m.location.as_ref())
                .to_string()
        })
        .collect();
    names.sort();
    names
}

fn date(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
}

fn options(lake: &Location) -> IngestOptions {
    IngestOptions {
        lake: lake.clone(),
        jobs: 2,
        force: false,
        strict: false,
    }
}

/// The Parquet bytes a local lake gets from these archives: every store must hold the same.
async fn reference(archives: &[(String, Vec<u8>)]) -> Vec<Vec<u8>> {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for (name, bytes) in archives {
        std::fs::write(raw.join(name), bytes).unwrap();
    }
    let lake = Location::parse(tmp.path().join("lake").to_str().unwrap()).unwrap();
    let sources = discover(&[raw.to_str().unwrap().to_string()], &Selection::default())
        .await
        .unwrap();
    let report = ingest(sources, &options(&lake)).await;
    assert_eq!(report.failed(), 0, "{report:?}");
    let mut out = Vec::new();
    for (name, _) in archives {
        let stem = name.trim_end_matches(".zip");
        let d = gexlake::orats::date_from_file_name(name).unwrap();
        out.push(get(&lake, &strikes_file(d, stem)).await.unwrap());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The contract every backend meets

/// Ingests three days from `archives` into `lake` and reads everything back through the
/// lake's own store: the partitions (byte-identical to a local conversion), the ledgers
/// (checksums of the archives), DataFusion over the lake; then a re-run skips, a replaced
/// archive replaces its partition, and a new trade date moves it (the old object is deleted).
async fn contract(archives: &Archives, lake: &Location) {
    let days = ["2024-01-03", "2024-01-04", "2024-01-05"];
    let seeded = sample_archives(1, &days);
    for (name, bytes) in &seeded {
        archives.put(name, bytes).await;
    }
    archives.put("readme.txt", b"not an archive").await;

    let sources = list_sources(archives.location()).await;
    assert_eq!(
        sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        seeded.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    let report = ingest(sources, &options(lake)).await;
    assert_eq!(
        (report.failed(), report.converted().count()),
        (0, 3),
        "{report:?}"
    );

    let expected = reference(&seeded).await;
    let mut total = 0;
    for ((name, zip), parquet) in seeded.iter().zip(&expected) {
        let stem = name.trim_end_matches(".zip");
        let d = gexlake::orats::date_from_file_name(name).unwrap();
        let lines = csv_data_lines(&zip_csv_member(zip));
        total += lines;
        let stored = get(lake, &strikes_file(d, stem))
            .await
            .unwrap_or_else(|| panic!("{stem}: no partition in {lake}"));
        assert!(
            stored == *parquet,
            "{stem}: the Parquet in {lake} differs from a local conversion"
        );
        assert_eq!(parquet_rows(&stored), lines);
        let entry = ledger::read(&lake.store, &lake.child(&ledger_file(stem)))
            .await
            .unwrap()
            .expect("a ledger entry");
        assert_eq!(entry.sha256, sha256_hex(zip));
        assert_eq!(entry.size, zip.len() as u64);
        assert_eq!(entry.rows_out, lines);
        assert!(
            entry.source.ends_with(&format!("/{name}")),
            "{}",
            entry.source
        );
        assert_eq!(entry.partitions.len(), 1);
        assert_eq!(entry.partitions[0].bytes, stored.len() as u64);
    }
    let mut want: Vec<String> = seeded
        .iter()
        .map(|(n, _)| {
            strikes_file(
                gexlake::orats::date_from_file_name(n).unwrap(),
                n.trim_end_matches(".zip"),
            )
        })
        .collect();
    want.sort();
    assert_eq!(
        list(lake, "orats_strikes").await,
        want,
        "exactly the partition files, no staging leftovers"
    );

    // DataFusion reads the lake through the same store.
    let ctx = gexlake::analyst::session(lake, 2).await.unwrap();
    let batches = ctx
        .sql("SELECT count(*) AS n, count(DISTINCT trade_date) AS d FROM strikes")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    let d = batches[0]
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!((n as u64, d), (total, 3), "DataFusion over {lake}");

    // Re-run: all skipped on the listing.
    let report = ingest(list_sources(archives.location()).await, &options(lake)).await;
    assert!(
        report
            .files
            .iter()
            .all(|f| matches!(f.outcome, Outcome::Skipped("already converted"))),
        "{report:?}"
    );

    // A replaced archive (another market) replaces its partition.
    let replaced = sample_archives(2, &["2024-01-04"]);
    archives.put(&replaced[0].0, &replaced[0].1).await;
    let report = ingest(list_sources(archives.location()).await, &options(lake)).await;
    assert_eq!(
        (
            report.converted().count(),
            report.skipped(),
            report.failed()
        ),
        (1, 2, 0),
        "{report:?}"
    );
    let stored = get(
        lake,
        &strikes_file(date("2024-01-04"), "ORATS_SMV_Strikes_20240104"),
    )
    .await
    .unwrap();
    assert!(
        stored == reference(&replaced).await[0],
        "the replaced partition is the new archive's"
    );

    // A new version with another trade date: the old object is deleted.
    let moved = csv(&[Leg {
        trade_date: "1/8/2024",
        ..Leg::new("AAA", 100.0)
    }]);
    let tmp = tempfile::tempdir().unwrap();
    let zip = std::fs::read(common::write_zip(tmp.path(), "20240105", &moved)).unwrap();
    archives.put("ORATS_SMV_Strikes_20240105.zip", &zip).await;
    let report = ingest(list_sources(archives.location()).await, &options(lake)).await;
    assert_eq!(
        (report.converted().count(), report.failed()),
        (1, 0),
        "{report:?}"
    );
    assert!(
        get(
            lake,
            &strikes_file(date("2024-01-05"), "ORATS_SMV_Strikes_20240105")
        )
        .await
        .is_none(),
        "old partition deleted"
    );
    assert!(
        get(
            lake,
            &strikes_file(date("2024-01-08"), "ORATS_SMV_Strikes_20240105")
        )
        .await
        .is_some()
    );
    let entry = ledger::read(
        &lake.store,
        &lake.child(&ledger_file("ORATS_SMV_Strikes_20240105")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(entry.sha256, sha256_hex(&zip));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_local_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    let archives =
        Archives::Store(Location::parse(tmp.path().join("raw").to_str().unwrap()).unwrap());
    let lake = Location::parse(tmp.path().join("lake").to_str().unwrap()).unwrap();
    contract(&archives, &lake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_memory() {
    let archives = Archives::Store(Location::parse("memory://contract/raw").unwrap());
    let lake = Location::parse("memory:///contract/lake/").unwrap();
    contract(&archives, &lake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_s3_moto() {
    let s3 = S3::start("contract");
    contract(&Archives::Store(s3.location("raw")), &s3.location("lake")).await;
}

/// fake-gcs-server only serves reads and listings: archives on gs://, lake on the local disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_gcs_archives_fake_gcs_server() {
    let gcs = Gcs::start("contract");
    let raw = gcs.location("raw");
    let tmp = tempfile::tempdir().unwrap();
    let lake = Location::parse(tmp.path().join("lake").to_str().unwrap()).unwrap();
    contract(&Archives::Gcs(gcs, raw), &lake).await;
}

/// `discover` itself (URL parsing, pattern, dates, year folders) on `memory://`, the one
/// remote-style store a test process can name by URL without environment variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_memory_urls() {
    let raw = Location::parse("memory://discover/raw").unwrap();
    let archives = Archives::Store(raw);
    for (name, bytes) in sample_archives(1, &["2024-01-03", "2024-01-04"]) {
        archives.put(&name, &bytes).await;
    }
    archives
        .put("2023/ORATS_SMV_Strikes_20231229.zip", b"x")
        .await;
    archives.put("notes.txt", b"x").await;
    let names = |s: Vec<Source>| s.into_iter().map(|s| s.name).collect::<Vec<_>>();
    let all = discover(
        &["memory://discover/raw/".to_string()],
        &Selection::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        names(all),
        [
            "ORATS_SMV_Strikes_20231229.zip",
            "ORATS_SMV_Strikes_20240103.zip",
            "ORATS_SMV_Strikes_20240104.zip"
        ]
    );
    let selection = Selection {
        pattern: "*_2024*.zip".into(),
        from: Some(date("2024-01-04")),
        to: None,
    };
    let some = discover(&["memory://discover/raw".to_string()], &selection)
        .await
        .unwrap();
    assert_eq!(names(some), ["ORATS_SMV_Strikes_20240104.zip"]);
    let one = discover(
        &["memory://discover/raw/ORATS_SMV_Strikes_20240103.zip".to_string()],
        &Selection::default(),
    )
    .await
    .unwrap();
    assert_eq!(names(one), ["ORATS_SMV_Strikes_20240103.zip"]);
}

// ---------------------------------------------------------------------------------------------
// The CLI on s3:// and gs:// URLs

/// Seeds the CLI tests' archives: four days in `raw/`, one in the year folder `raw/2023/`,
/// and a file that is not an archive.
async fn seed_cli_archives(archives: &Archives) -> Vec<(String, Vec<u8>)> {
    let seeded = sample_archives(1, &["2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]);
    for (name, bytes) in &seeded {
        archives.put(name, bytes).await;
    }
    let old = sample_archives(1, &["2023-12-29"]);
    archives.put(&format!("2023/{}", old[0].0), &old[0].1).await;
    archives.put("readme.txt", b"not an archive").await;
    seeded
}

/// `gexlake ingest s3://…/raw/ --lake s3://…/lake` with --pattern and --from/--to, credentials
/// and endpoint from AWS_* variables; a re-run skips; `gexlake metrics` and `gexlake sql` read
/// the S3 lake through DataFusion and write dealer_metrics back to S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_on_s3_urls() {
    let s3 = S3::start("cli");
    let archives = Archives::Store(s3.location("raw"));
    let seeded = seed_cli_archives(&archives).await;
    let env = s3.env();

    let run = run_with(
        &[
            "ingest",
            "s3://cli/raw/",
            "--lake",
            "s3://cli/lake",
            "--pattern",
            "ORATS_SMV_Strikes_2024*.zip",
            "--from",
            "2024-01-04",
            "--to",
            "2024-01-05",
        ],
        &env,
    );
    run.expect_code(0);
    assert_eq!(
        (run.summary("files"), run.summary("converted")),
        (2, 2),
        "{run}"
    );
    let lake = s3.location("lake");
    assert_eq!(
        list(&lake, "orats_strikes").await,
        [
            "orats_strikes/trade_date=2024-01-04/ORATS_SMV_Strikes_20240104.parquet",
            "orats_strikes/trade_date=2024-01-05/ORATS_SMV_Strikes_20240105.parquet",
        ]
    );
    let entry = ledger::read(
        &lake.store,
        &lake.child(&ledger_file("ORATS_SMV_Strikes_20240104")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(entry.source, "s3://cli/raw/ORATS_SMV_Strikes_20240104.zip");
    assert_eq!(entry.sha256, sha256_hex(&seeded[1].1));

    // The year folder is searched; the pattern picks it alone.
    let run = run_with(
        &[
            "ingest",
            "s3://cli/raw",
            "--lake",
            "s3://cli/lake",
            "--pattern",
            "*_2023*.zip",
        ],
        &env,
    );
    run.expect_code(0);
    assert_eq!(run.summary("converted"), 1, "{run}");

    let run = run_with(
        &[
            "ingest",
            "s3://cli/raw/",
            "--lake",
            "s3://cli/lake",
            "--from",
            "2024-01-04",
            "--to",
            "2024-01-05",
        ],
        &env,
    );
    run.expect_code(0);
    assert_eq!(
        (run.summary("skipped"), run.summary("converted")),
        (2, 0),
        "a re-run skips: {run}"
    );

    let run = run_with(
        &["metrics", "--lake", "s3://cli/lake", "--date", "2024-01-04"],
        &env,
    );
    run.expect_code(0);
    let written = list(&lake, "dealer_metrics").await;
    assert_eq!(
        written,
        ["dealer_metrics/params=a3/trade_date=2024-01-04/part.parquet"],
        "{run}"
    );
    let run = run_with(
        &[
            "sql",
            "--lake",
            "s3://cli/lake",
            "SELECT count(*) AS n, count(DISTINCT ticker) AS t FROM dealer_metrics WHERE trade_date = DATE '2024-01-04'",
        ],
        &env,
    );
    run.expect_code(0);
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("| ") && !l.contains(" n "))
        .unwrap_or_else(|| panic!("{run}"));
    let cells: Vec<&str> = row
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        ["20", "20"],
        "one metrics row per ticker of the sample: {run}"
    );
}

/// `gexlake ingest gs://…/raw/ --lake LOCAL` with credentials from GOOGLE_SERVICE_ACCOUNT:
/// listing with --pattern and --from/--to, a single-object input, and a re-run that skips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reads_gs_urls() {
    let gcs = Gcs::start("cli");
    let raw = gcs.location("raw");
    let archives = Archives::Gcs(gcs, raw);
    let seeded = seed_cli_archives(&archives).await;
    let Archives::Gcs(gcs, _) = &archives else {
        unreachable!()
    };
    let env = gcs.env();
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let lake_s = lake.to_str().unwrap();
    let parquet =
        |d: &str, stem: &str| lake.join(format!("orats_strikes/trade_date={d}/{stem}.parquet"));

    let run = run_with(
        &[
            "ingest",
            "gs://cli/raw/",
            "--lake",
            lake_s,
            "--pattern",
            "ORATS_SMV_Strikes_2024*.zip",
            "--from",
            "2024-01-04",
            "--to",
            "2024-01-05",
        ],
        &env,
    );
    run.expect_code(0);
    assert_eq!(
        (run.summary("files"), run.summary("converted")),
        (2, 2),
        "{run}"
    );
    assert!(parquet("2024-01-04", "ORATS_SMV_Strikes_20240104").is_file());
    assert!(parquet("2024-01-05", "ORATS_SMV_Strikes_20240105").is_file());
    assert!(!parquet("2024-01-03", "ORATS_SMV_Strikes_20240103").exists());
    let entry: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lake.join("_ingest/ORATS_SMV_Strikes_20240105.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        entry["source"],
        "gs://cli/raw/ORATS_SMV_Strikes_20240105.zip"
    );
    assert_eq!(entry["sha256"], sha256_hex(&seeded[2].1));
    assert!(entry["e_tag"].is_string(), "GCS gives an ETag: {entry}");

    let run = run_with(
        &[
            "ingest",
            "gs://cli/raw",
            "--lake",
            lake_s,
            "--pattern",
            "*_2023*.zip",
        ],
        &env,
    );
    run.expect_code(0);
    assert_eq!(
        run.summary("converted"),
        1,
        "the year folder is listed: {run}"
    );
    assert!(parquet("2023-12-29", "ORATS_SMV_Strikes_20231229").is_file());

    let run = run_with(
        &[
            "ingest",
            "gs://cli/raw/ORATS_SMV_Strikes_20240108.zip",
            "--lake",
            lake_s,
        ],
        &env,
    );
    run.expect_code(0);
    assert_eq!(run.summary("converted"), 1, "a single object: {run}");

    let run = run_with(
        &[
            "ingest",
            "gs://cli/raw/",
            "--lake",
            lake_s,
            "--from",
            "2024-01-04",
        ],
        &env,
    );
    run.expect_code(0);
    assert_eq!(
        (
            run.summary("converted"),
            run.summary("skipped"),
            run.summary("failed")
        ),
        (0, 3, 0),
        "a re-run skips: {run}"
    );
}
