//! Helpers shared by the integration tests: hand-written ORATS archives.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// The v1 header.
pub const HEADER: &str = "ticker,cOpra,pOpra,stkPx,expirDate,yte,strike,cVolu,cOi,pVolu,pOi,cBidPx,cValue,cAskPx,pBidPx,pValue,pAskPx,cBidIv,cMidIv,cAskIv,smoothSmvVol,pBidIv,pMidIv,pAskIv,iRate,divRate,residualRateData,delta,gamma,theta,vega,rho,phi,driftlessTheta,extVol,extCTheo,extPTheo,spot_px,trade_date";

/// The cells of a row that the metrics use; the rest are filled with fixed values.
#[derive(Clone, Debug)]
pub struct Leg {
    pub ticker: &'static str,
    pub stk_px: &'static str,
    pub expiry: &'static str,
    pub strike: f64,
    pub c_volu: i64,
    pub c_oi: i64,
    pub p_volu: i64,
    pub p_oi: i64,
    pub delta: &'static str,
    pub gamma: &'static str,
    pub spot_px: &'static str,
    pub trade_date: &'static str,
}

impl Leg {
    pub fn new(ticker: &'static str, strike: f64) -> Self {
        Leg {
            ticker,
            stk_px: "100",
            expiry: "1/19/2024",
            strike,
            c_volu: 10,
            c_oi: 1000,
            p_volu: 10,
            p_oi: 1000,
            delta: "0.5",
            gamma: "0.01",
            spot_px: "",
            trade_date: "1/3/2024",
        }
    }

    pub fn line(&self) -> String {
        let k = format!("{:08}", (self.strike * 1000.0).round() as i64);
        format!(
            "{t},{t}240119C{k},{t}240119P{k},{stk},{exp},0.04384,{strike},{cv},{coi},{pv},{poi},1.1,1.2,1.3,0.5,0.6,0.7,0.2,0.21,0.22,0.2101,0.23,0.23,0.24,0.05,0.01,0,{delta},{gamma},-0.1,0.2,0.03,-0.02,-0.09,0.2,1.2,1.3,{spot},{td}",
            t = self.ticker,
            stk = self.stk_px,
            exp = self.expiry,
            strike = self.strike,
            cv = self.c_volu,
            coi = self.c_oi,
            pv = self.p_volu,
            poi = self.p_oi,
            delta = self.delta,
            gamma = self.gamma,
            spot = self.spot_px,
            td = self.trade_date,
        )
    }
}

/// A CSV with the v1 header and these rows.
pub fn csv(rows: &[Leg]) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.line());
        s.push('\n');
    }
    s
}

/// Writes `ORATS_SMV_Strikes_<yyyymmdd>.zip` holding `csv` into `dir`.
pub fn write_zip(dir: &Path, yyyymmdd: &str, csv: &str) -> PathBuf {
    let path = dir.join(format!("ORATS_SMV_Strikes_{yyyymmdd}.zip"));
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    zip.start_file(
        format!("ORATS_SMV_Strikes_{yyyymmdd}.csv"),
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(csv.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

/// Asserts `actual` equals a hand-computed decimal value to 1e-12 relative:
/// the inputs (0.02, 0.8 …) are not exact in binary, so the last bits differ.
#[track_caller]
pub fn assert_close(actual: Option<f64>, expected: f64) {
    let a = actual.expect("a value, not null");
    let tolerance = 1e-12 * expected.abs().max(1.0);
    assert!(
        (a - expected).abs() <= tolerance,
        "got {a}, expected {expected}"
    );
}

/// The path of the built `gexlake` binary.
pub fn gexlake_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gexlake"))
}

/// Writes `<name>.zip` holding `<name>.csv` with `csv` into `dir`.
pub fn write_zip_named(dir: &Path, name: &str, csv: &str) -> PathBuf {
    let path = dir.join(format!("{name}.zip"));
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    zip.start_file(
        format!("{name}.csv"),
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(csv.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// Helpers of the lake tests (lake_ingest, object_stores, compat_readers): running the CLI with
// JSON logs, small generated archives, and reading back ZIP members and Parquet files.

/// What one run of the `gexlake` binary did.
#[derive(Debug)]
pub struct CliRun {
    /// The command line, for messages.
    pub args: Vec<String>,
    /// Exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error (JSON log lines).
    pub stderr: String,
}

impl CliRun {
    /// The JSON log events on stderr.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .collect()
    }

    /// The first event whose message is `message`.
    #[track_caller]
    pub fn event(&self, message: &str) -> serde_json::Value {
        self.events()
            .into_iter()
            .find(|e| e["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} event in the log of {self}"))
    }

    /// A numeric field of the `ingest: summary` event.
    #[track_caller]
    pub fn summary(&self, field: &str) -> u64 {
        let s = self.event("ingest: summary");
        s[field]
            .as_u64()
            .unwrap_or_else(|| panic!("summary field {field} missing in {s}"))
    }

    /// Asserts the exit status.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit status of {self}");
        self
    }
}

impl std::fmt::Display for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`gexlake {}` (exit {})\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

/// A command for the built `gexlake` as a user's shell would start it: the gexlake, RUST_LOG
/// and DATABASE_URL settings of the test's own environment removed, stdin not a terminal,
/// stdout and stderr captured.
pub fn isolated_gexlake() -> std::process::Command {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(gexlake_bin());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("GEXLAKE_") || key == "RUST_LOG" || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `cmd` (stdout and stderr piped) to its end and returns what it wrote; past `limit`
/// kills it and fails the test, naming `what`.
pub fn output_within(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
    what: &str,
) -> std::process::Output {
    use std::io::Read;
    let mut child = cmd.spawn().expect("starting the gexlake binary");
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let status = wait_or_kill(&mut child, limit, what);
    std::process::Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

/// Runs the built `gexlake` with `args` plus `--log-format json --log-level debug`, with the
/// gexlake/RUST_LOG environment cleared and `envs` set; fails the test after `timeout`.
pub fn run_gexlake_env(args: &[&str], envs: &[(&str, &str)]) -> CliRun {
    let mut cmd = isolated_gexlake();
    cmd.args(args)
        .args(["--log-format", "json", "--log-level", "debug"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let output = output_within(
        &mut cmd,
        std::time::Duration::from_secs(180),
        &format!("`gexlake {}`", args.join(" ")),
    );
    CliRun {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// [`run_gexlake_env`] without extra environment.
pub fn run_gexlake(args: &[&str]) -> CliRun {
    run_gexlake_env(args, &[])
}

/// Writes a small generated archive (20 tickers, ~1,800 rows) for `date` (YYYY-MM-DD) into `dir`.
pub fn small_sample(dir: &Path, date: &str, seed: u64) -> PathBuf {
    let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let spec = gexlake::sample::SampleSpec {
        tickers: 20,
        seed,
        layout: gexlake::sample::Layout::V1,
        ..gexlake::sample::SampleSpec::new(date)
    };
    gexlake::sample::write_archive(&spec, dir).unwrap().path
}

/// The inflated bytes of the one `.csv` member of a ZIP (read with the zip crate, not gexlake).
pub fn zip_csv_member(zip_bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .filter(|n| n.ends_with(".csv") && !n.starts_with("__MACOSX"))
        .collect();
    assert_eq!(names.len(), 1, "one csv member expected: {names:?}");
    let mut out = Vec::new();
    zip.by_name(&names[0])
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Data lines of a CSV (non-empty lines after the header).
pub fn csv_data_lines(csv: &[u8]) -> u64 {
    csv.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && *l != b"\r")
        .count()
        .saturating_sub(1) as u64
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Decodes a Parquet file into record batches.
pub fn parquet_batches(bytes: &[u8]) -> Vec<datafusion::arrow::record_batch::RecordBatch> {
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .expect("a readable Parquet file")
    .build()
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

/// Rows of a Parquet file according to its footer.
pub fn parquet_rows(bytes: &[u8]) -> u64 {
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .expect("a readable Parquet file")
    .metadata()
    .file_metadata()
    .num_rows() as u64
}

/// The executable `name` on PATH; fails the test (never skips) when the tool is missing.
pub fn tool_on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not on PATH: run the tests with tests/run (it installs the test tools and puts them on PATH)")
        })
}

/// The Python with duckdb/pyarrow/polars: $GEXLAKE_TEST_PYTHON, else `python3`.
pub fn test_python() -> PathBuf {
    match std::env::var_os("GEXLAKE_TEST_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => tool_on_path("python3"),
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for a server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for `child` (its stderr piped) at most `limit`, killing it and failing the test
/// after that; returns its exit code (None when a signal ended it) and its stderr.
pub fn wait_with_stderr(
    mut child: std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> (Option<i32>, String) {
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = wait_or_kill(&mut child, limit, what);
    (status.code(), reader.join().expect("stderr reader"))
}

/// Waits for `child`; past `limit` kills it and fails the test, naming `what`.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Runs a Python snippet with `python` (`sys.argv[1:]` = `args`) and fails the test, naming
/// `what`, when it does not succeed.
#[track_caller]
pub fn run_python(python: &Path, code: &str, args: &[&str], what: &str) {
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python (with `cryptography`, a dependency of pyOpenSSL in tests/requirements.txt) of
/// [`make_test_certificates`].
const MAKE_CERTIFICATES: &str = r#"
import sys, datetime, ipaddress
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
day = datetime.timedelta(days=1)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def builder(subject, issuer, key):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - day).not_valid_after(now + 2 * day))
def ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                          crl_sign=True, encipher_only=False, decipher_only=False)
    cert = (builder(name(cn), name(cn), key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert
ca_key, ca_cert = ca("gexlake test CA")
_, other = ca("another CA")
key = ec.generate_private_key(ec.SECP256R1())
leaf = (builder(name("127.0.0.1"), ca_cert.subject, key)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256()))
pem = serialization.Encoding.PEM
for file, data in [("ca.pem", ca_cert.public_bytes(pem)), ("other-ca.pem", other.public_bytes(pem)),
                   ("cert.pem", leaf.public_bytes(pem)),
                   ("key.pem", key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))]:
    with open(f"{out}/{file}", "wb") as f:
        f.write(data)
"#;

/// Writes a test CA (`ca.pem`), a server certificate it signs for 127.0.0.1 (`cert.pem`,
/// `key.pem`) and an unrelated CA (`other-ca.pem`) into `dir`, with the test tools' `python`.
pub fn make_test_certificates(python: &Path, dir: &Path) {
    let dir = dir.to_str().expect("a UTF-8 path");
    run_python(
        python,
        MAKE_CERTIFICATES,
        &[dir],
        "making test certificates",
    );
}

/// The package's directory, read at run time (`cargo test` sets `CARGO_MANIFEST_DIR`): a test
/// binary that cargo reuses from another checkout of the same tree (a shared target directory)
/// still reads this checkout's files.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// Every file under `root` (none when it does not exist), by path relative to
/// `root`, with its bytes.
pub fn tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Writes the generated day of `spec` as two archives `names[0]`/`names[1]`
/// (`.zip` added), tickers alternating between them, so one trade-date
/// partition holds two files.
pub fn write_split_day(dir: &Path, spec: &gexlake::sample::SampleSpec, names: [&str; 2]) {
    let mut csv = Vec::new();
    gexlake::sample::write_csv(spec, &mut csv).unwrap();
    let text = String::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut parts = [vec![header.to_string()], vec![header.to_string()]];
    let (mut ticker_index, mut last) = (0usize, String::new());
    for line in lines {
        let ticker = line.split(',').next().unwrap();
        if ticker != last {
            ticker_index += 1;
            last = ticker.to_string();
        }
        parts[ticker_index % 2].push(line.to_string());
    }
    for (name, rows) in names.iter().zip(parts) {
        write_zip_named(dir, name, &(rows.join("\n") + "\n"));
    }
}

/// Copies every file under `from` to the same relative path under `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for (path, bytes) in tree(from) {
        let target = to.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}
