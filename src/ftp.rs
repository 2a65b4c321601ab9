//! Pulling archives from an FTP or FTPS server into a raw prefix: list the
//! remote directory, download each wanted archive the raw prefix lacks into a
//! local work directory (resuming a partial file with `REST`), check its size
//! against the server's `SIZE`, and only then publish it to the raw prefix in
//! one atomic step, so the raw prefix never holds a partial archive.
//!
//! Credentials come from `ORATS_FTP_USER` / `ORATS_FTP_PASSWORD` (or the URL's
//! user info); neither ever reaches a log line or an error message.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use suppaftp::tokio::{AsyncFtpStream, AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};
use url::Url;

use crate::progress::{Heartbeat, Progress};
use crate::store::Location;

/// The environment variable holding the FTP user name.
pub const USER_ENV: &str = "ORATS_FTP_USER";
/// The environment variable holding the FTP password.
pub const PASSWORD_ENV: &str = "ORATS_FTP_PASSWORD";

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The source is not an FTP URL this client understands.
    #[error("{0:?} is not an ftp:// or ftps:// URL with a host")]
    Url(String),
    /// The server refused or broke a command.
    #[error("FTP: {0}")]
    Ftp(#[from] FtpError),
    /// The server sent nothing for too long.
    #[error("{0}: no answer for too long")]
    Stalled(String),
    /// A local file could not be used.
    #[error("{path}: {source}")]
    Local {
        /// The local file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The download ended short of the server's size.
    #[error("{name}: downloaded {got} bytes, the server's SIZE is {want}")]
    Size {
        /// The remote file.
        name: String,
        /// Bytes on disk.
        got: u64,
        /// Bytes the server announced.
        want: u64,
    },
    /// Copying the verified download into the raw prefix failed.
    #[error("publishing {name} to {raw}: {source}")]
    Publish {
        /// The remote file.
        name: String,
        /// The raw prefix.
        raw: String,
        /// What the store said.
        source: std::io::Error,
    },
    /// Listing the raw prefix failed.
    #[error("listing {raw}: {source}")]
    Raw {
        /// The raw prefix.
        raw: String,
        /// What the store said.
        source: object_store::Error,
    },
    /// No TLS configuration could be built.
    #[error("TLS: {0}")]
    Tls(String),
}

impl PullError {
    /// Whether trying again may help: lost connections, stalls, short
    /// transfers and 4xx replies ("try later"); not refused logins or missing files.
    pub fn is_transient(&self) -> bool {
        match self {
            PullError::Ftp(FtpError::ConnectionError(_) | FtpError::BadResponse) => true,
            PullError::Ftp(FtpError::UnexpectedResponse(r)) => {
                (400..500).contains(&r.status.code())
            }
            PullError::Stalled(_) | PullError::Size { .. } => true,
            _ => false,
        }
    }
}

/// An FTP(S) directory and the credentials to read it.
#[derive(Clone)]
pub struct FtpSource {
    secure: bool,
    host: String,
    port: u16,
    dir: String,
    user: String,
    password: String,
    credentials_from: &'static str,
}

impl fmt::Debug for FtpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for FtpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Tuning of a pull; the default suits the nightly job.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Where downloads in progress live (`<host>/<name>.part`), kept across runs for resuming.
    pub work_dir: PathBuf,
    /// Retries of a transient failure per step (listing, one file).
    pub retries: usize,
    /// First backoff delay; it doubles per retry, with jitter.
    pub retry_min_delay: Duration,
    /// Longest wait for a connection or for the next bytes of a transfer.
    pub timeout: Duration,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            work_dir: std::env::temp_dir().join("gexlake-ftp"),
            retries: 4,
            retry_min_delay: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
        }
    }
}

/// A remote archive and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name in the remote directory.
    pub name: String,
    /// Size in bytes per `SIZE`.
    pub size: u64,
}

/// What a pull did.
#[derive(Debug, Default)]
pub struct PullReport {
    /// Files downloaded and published now.
    pub downloaded: Vec<RemoteFile>,
    /// Files already in the raw prefix with the server's size.
    pub present: Vec<RemoteFile>,
    /// Files that could not be pulled, with the reason.
    pub failed: Vec<(String, String)>,
    /// Bytes transferred now (less than the files' sizes when resumed).
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// A logged-in control connection, plain or TLS.
enum Session {
    Plain(AsyncFtpStream),
    Tls(Box<AsyncRustlsFtpStream>),
}

/// Runs `$body` with `$s` bound to the session's stream, whatever its TLS type.
macro_rules! with_session {
    ($session:expr, $s:ident => $body:expr) => {
        match $session {
            Session::Plain($s) => $body,
            Session::Tls($s) => $body,
        }
    };
}

impl FtpSource {
    /// Whether `text` names an FTP source.
    pub fn is_ftp(text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        lower.starts_with("ftp://") || lower.starts_with("ftps://")
    }

    /// Parses `ftp://host[:port]/dir/` or `ftps://…` (explicit TLS); the user and
    /// password come from [`USER_ENV`]/[`PASSWORD_ENV`], else from the URL, else anonymous.
    pub fn parse(text: &str) -> Result<Self, PullError> {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Self::parse_with(text, env(USER_ENV), env(PASSWORD_ENV))
    }

    fn parse_with(
        text: &str,
        user: Option<String>,
        password: Option<String>,
    ) -> Result<Self, PullError> {
        // Never echo `text`: it may hold a password.
        let url = Url::parse(text).map_err(|_| PullError::Url(redact(text)))?;
        let secure = match url.scheme() {
            "ftp" => false,
            "ftps" => true,
            _ => return Err(PullError::Url(redact(text))),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| PullError::Url(redact(text)))?
            .to_string();
        let decode = |s: &str| {
            // Form decoding would turn a literal '+' into a space: keep it.
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let url_user = (!url.username().is_empty()).then(|| decode(url.username()));
        let url_password = url.password().map(decode);
        let (user, password, credentials_from) = match (user, url_user) {
            (Some(u), _) => (
                u,
                password.or(url_password).unwrap_or_default(),
                "environment",
            ),
            (None, Some(u)) => (u, password.or(url_password).unwrap_or_default(), "url"),
            (None, None) => (
                "anonymous".to_string(),
                password.unwrap_or_else(|| "anonymous@".to_string()),
                "anonymous",
            ),
        };
        Ok(FtpSource {
            secure,
            port: url.port().unwrap_or(21),
            dir: url.path().trim_matches('/').to_string(),
            host,
            user,
            password,
            credentials_from,
        })
    }

    /// The URL without user or password, for logs.
    pub fn redacted(&self) -> String {
        let scheme = if self.secure { "ftps" } else { "ftp" };
        if self.dir.is_empty() {
            format!("{scheme}://{}:{}/", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}/{}/", self.host, self.port, self.dir)
        }
    }

    /// Where the credentials came from: `environment`, `url` or `anonymous`.
    pub fn credentials_from(&self) -> &'static str {
        self.credentials_from
    }

    /// The file names in the remote directory.
    pub async fn list(&self, options: &PullOptions) -> Result<Vec<String>, PullError> {
        let attempt = || async {
            let mut session = self.connect(options).await?;
            let names = with_session!(&mut session, s => {
                let lines = timed(options.timeout, "listing", s.nlst(None)).await?;
                let _ = s.quit().await;
                lines
            });
            Ok::<_, PullError>(
                names
                    .iter()
                    .map(|line| line.trim().rsplit('/').next().unwrap_or("").to_string())
                    .filter(|n| !n.is_empty() && n != "." && n != "..")
                    .collect(),
            )
        };
        attempt
            .retry(backoff(options))
            .when(PullError::is_transient)
            .notify(|e, wait| warn!(source = %self, "listing failed, retrying in {wait:?}: {e}"))
            .await
    }

    /// Downloads `names` that `raw` lacks (or holds with another size), each
    /// verified by size and published to `raw` atomically. A file that fails
    /// is reported and the others go on.
    pub async fn pull(
        &self,
        names: &[String],
        raw: &Location,
        options: &PullOptions,
    ) -> Result<PullReport, PullError> {
        let started = Instant::now();
        let mut report = PullReport::default();
        if names.is_empty() {
            return Ok(report);
        }
        let in_raw = raw_sizes(raw).await?;
        let remote = (|| self.sizes(names, options))
            .retry(backoff(options))
            .when(PullError::is_transient)
            .notify(|e, wait| warn!(source = %self, "SIZE failed, retrying in {wait:?}: {e}"))
            .await?;
        let (present, wanted): (Vec<RemoteFile>, Vec<RemoteFile>) = remote
            .into_iter()
            .partition(|file| in_raw.get(&file.name) == Some(&file.size));
        report.present = present;
        // An archive is ~60–100 MB: the 60-second heartbeat tells how far the one in
        // progress got.
        let progress = Progress::files(wanted.len() as u64, "ftp");
        let heartbeat = Heartbeat::start("ftp", wanted.len() as u64);
        for file in wanted {
            let t = Instant::now();
            let fetched = self.fetch(&file, raw, options, &heartbeat).await;
            progress.advance(&file.name);
            heartbeat.tick(&format!(
                "{} {}",
                file.name,
                if fetched.is_ok() {
                    "downloaded"
                } else {
                    "failed"
                }
            ));
            match fetched {
                Ok(transferred) => {
                    info!(
                        file = %file.name,
                        bytes = file.size,
                        transferred,
                        seconds = format!("{:.2}", t.elapsed().as_secs_f64()),
                        raw = %raw,
                        "ftp: downloaded"
                    );
                    report.bytes += transferred;
                    report.downloaded.push(file);
                }
                Err(e) => {
                    tracing::error!(file = %file.name, "ftp: download failed: {e}");
                    report.failed.push((file.name, e.to_string()));
                }
            }
        }
        progress.finish();
        heartbeat.stop();
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// The sizes of `names`; a name the server does not know is left out with a warning.
    async fn sizes(
        &self,
        names: &[String],
        options: &PullOptions,
    ) -> Result<Vec<RemoteFile>, PullError> {
        let mut session = self.connect(options).await?;
        let mut files = Vec::new();
        with_session!(&mut session, s => {
            for name in names {
                match timed(options.timeout, "SIZE", s.size(name)).await {
                    Ok(size) => files.push(RemoteFile {
                        name: name.clone(),
                        size: size as u64,
                    }),
                    Err(PullError::Ftp(FtpError::UnexpectedResponse(r))) if r.status.code() >= 500 => {
                        warn!(file = %name, "ftp: the server has no size for it (not a file?): skipped");
                    }
                    Err(e) => return Err(e),
                }
            }
            let _ = s.quit().await;
        });
        Ok(files)
    }

    /// Downloads one file (with retries) and publishes it; returns the bytes transferred.
    async fn fetch(
        &self,
        file: &RemoteFile,
        raw: &Location,
        options: &PullOptions,
        heartbeat: &Heartbeat,
    ) -> Result<u64, PullError> {
        let dir = options
            .work_dir
            .join(format!("{}-{}", self.host, self.port));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| PullError::Local {
                path: dir.display().to_string(),
                source,
            })?;
        let part = dir.join(format!("{}.part", file.name));
        let transferred = (|| self.download(file, &part, options, heartbeat))
            .retry(backoff(options))
            .when(PullError::is_transient)
            .notify(|e, wait| warn!(file = %file.name, "ftp: download failed, retrying in {wait:?}: {e}"))
            .await?;
        publish(raw, &file.name, &part).await?;
        let _ = tokio::fs::remove_file(&part).await;
        let _ = tokio::fs::remove_file(stamp_path(&part)).await;
        Ok(transferred)
    }

    /// One attempt: continue `part` from its length (`REST`) up to the server's size.
    async fn download(
        &self,
        file: &RemoteFile,
        part: &FsPath,
        options: &PullOptions,
        heartbeat: &Heartbeat,
    ) -> Result<u64, PullError> {
        let local = |source| PullError::Local {
            path: part.display().to_string(),
            source,
        };
        let mut session = self.connect(options).await?;
        with_session!(&mut session, s => {
            let size = timed(options.timeout, "SIZE", s.size(&file.name)).await? as u64;
            // A partial file only continues the same remote file (same size and time).
            let modified = timed(options.timeout, "MDTM", s.mdtm(&file.name)).await.ok();
            let stamp = format!("{size} {}", modified.map(|m| m.to_string()).unwrap_or_default());
            let mut have = tokio::fs::metadata(part).await.map(|m| m.len()).unwrap_or(0);
            // A partial file without a stamp was not started by us: trusted, as a user would.
            let old_stamp = tokio::fs::read_to_string(stamp_path(part)).await.ok();
            if have > 0 && (have > size || old_stamp.is_some_and(|old| old != stamp)) {
                warn!(file = %file.name, have, size, "ftp: the partial download is of another version of the file: starting over");
                have = 0;
            }
            tokio::fs::write(stamp_path(part), &stamp).await.map_err(local)?;
            let mut out = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(have == 0)
                .append(have > 0)
                .open(part)
                .await
                .map_err(local)?;
            if have < size {
                if have > 0 {
                    info!(file = %file.name, offset = have, size, "ftp: resuming a partial download");
                    s.resume_transfer(have as usize).await?;
                }
                let mut stream = match timed(options.timeout, "RETR", s.retr_as_stream(&file.name)).await {
                    Ok(stream) => stream,
                    Err(PullError::Ftp(FtpError::UnexpectedResponse(r))) if have > 0 && r.status.code() >= 500 => {
                        // The server refuses REST: the next attempt starts from byte 0.
                        warn!(file = %file.name, "ftp: the server refused to resume: downloading from the start");
                        out.set_len(0).await.map_err(local)?;
                        return Err(PullError::Stalled(format!("resuming {}", file.name)));
                    }
                    Err(e) => return Err(e),
                };
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = have;
                loop {
                    let n = match tokio::time::timeout(options.timeout, stream.read(&mut buf)).await {
                        Ok(Ok(n)) => n,
                        Ok(Err(e)) => return Err(PullError::Ftp(FtpError::ConnectionError(e))),
                        Err(_) => return Err(PullError::Stalled(format!("downloading {}", file.name))),
                    };
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n]).await.map_err(local)?;
                    got += n as u64;
                    heartbeat.note(&format!("{}: {got} of {size} bytes", file.name));
                }
                out.flush().await.map_err(local)?;
                timed(options.timeout, "end of transfer", stream.finish()).await?;
            }
            let got = tokio::fs::metadata(part).await.map_err(local)?.len();
            if got != size {
                return Err(PullError::Size {
                    name: file.name.clone(),
                    got,
                    want: size,
                });
            }
            let _ = s.quit().await;
            Ok(size - have)
        })
    }

    /// Connects, logs in, switches to binary and enters the directory.
    async fn connect(&self, options: &PullOptions) -> Result<Session, PullError> {
        let address = format!("{}:{}", self.host, self.port);
        let tcp =
            match tokio::time::timeout(options.timeout, tokio::net::TcpStream::connect(&address))
                .await
            {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => return Err(PullError::Ftp(FtpError::ConnectionError(e))),
                Err(_) => return Err(PullError::Stalled(format!("connecting to {address}"))),
            };
        let mut session = if self.secure {
            let plain = timed(
                options.timeout,
                "greeting",
                AsyncRustlsFtpStream::connect_with_stream(tcp),
            )
            .await?;
            let secured = timed(
                options.timeout,
                "TLS",
                plain.into_secure(tls_connector()?, &self.host),
            )
            .await?;
            Session::Tls(Box::new(secured))
        } else {
            Session::Plain(
                timed(
                    options.timeout,
                    "greeting",
                    AsyncFtpStream::connect_with_stream(tcp),
                )
                .await?,
            )
        };
        with_session!(&mut session, s => {
            // Servers behind NAT announce private addresses in PASV: use the control peer's.
            s.set_mode(Mode::Passive);
            s.set_passive_nat_workaround(true);
            timed(options.timeout, "login", s.login(self.user.as_str(), self.password.as_str())).await?;
            timed(options.timeout, "TYPE I", s.transfer_type(FileType::Binary)).await?;
            if !self.dir.is_empty() {
                timed(options.timeout, "CWD", s.cwd(&self.dir)).await?;
            }
        });
        Ok(session)
    }
}

/// Bounds an FTP step by `timeout`.
async fn timed<T>(
    timeout: Duration,
    what: &str,
    step: impl std::future::Future<Output = Result<T, FtpError>>,
) -> Result<T, PullError> {
    match tokio::time::timeout(timeout, step).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(PullError::Stalled(what.to_string())),
    }
}

fn backoff(options: &PullOptions) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(options.retry_min_delay)
        .with_max_times(options.retries)
        .with_jitter()
}

/// The file recording which remote version a partial download belongs to.
fn stamp_path(part: &FsPath) -> PathBuf {
    let mut name = part.as_os_str().to_owned();
    name.push(".stamp");
    PathBuf::from(name)
}

/// File name → size of what the raw prefix holds.
async fn raw_sizes(raw: &Location) -> Result<HashMap<String, u64>, PullError> {
    if raw.local_path().is_some_and(|p| !p.exists()) {
        return Ok(HashMap::new());
    }
    let prefix = (!raw.prefix.as_ref().is_empty()).then_some(&raw.prefix);
    let metas: Vec<object_store::ObjectMeta> =
        raw.store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|source| PullError::Raw {
                raw: raw.url(),
                source,
            })?;
    Ok(metas
        .into_iter()
        .filter_map(|m| Some((m.location.filename()?.to_string(), m.size)))
        .collect())
}

/// Streams the verified download into `raw/name`: one put below 16 MiB, else a
/// multipart upload, both of which appear atomically (and are aborted on error).
async fn publish(raw: &Location, name: &str, part: &FsPath) -> Result<(), PullError> {
    let error = |source| PullError::Publish {
        name: name.to_string(),
        raw: raw.url(),
        source,
    };
    let mut file = tokio::fs::File::open(part)
        .await
        .map_err(|source| PullError::Local {
            path: part.display().to_string(),
            source,
        })?;
    let mut writer = BufWriter::with_capacity(raw.store.clone(), raw.child(name), 16 << 20);
    let copied = async {
        tokio::io::copy(&mut file, &mut writer).await?;
        writer.shutdown().await
    }
    .await;
    if let Err(e) = copied {
        let _ = writer.abort().await;
        return Err(error(e));
    }
    Ok(())
}

/// A TLS client trusting the system's CA certificates (`SSL_CERT_FILE` adds one).
fn tls_connector() -> Result<AsyncRustlsConnector, PullError> {
    use suppaftp::tokio_rustls::{TlsConnector, rustls};
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    for cert in loaded.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(PullError::Tls(format!(
            "no CA certificates found (install ca-certificates or set SSL_CERT_FILE): {:?}",
            loaded.errors
        )));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| PullError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(AsyncRustlsConnector::from(TlsConnector::from(Arc::new(
        config,
    ))))
}

/// `text` with any `user:password@` removed (for messages about a URL that did not parse).
fn redact(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &text[..scheme], &text[at + 1..])
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_prefer_the_environment_and_never_show() {
        let s = FtpSource::parse_with("ftp://bob:s3cret@example.com:2121/smv/strikes/", None, None)
            .unwrap();
        assert_eq!(
            (s.user.as_str(), s.password.as_str(), s.credentials_from()),
            ("bob", "s3cret", "url")
        );
        assert_eq!(s.redacted(), "ftp://example.com:2121/smv/strikes/");
        assert!(!format!("{s:?} {s}").contains("s3cret") && !format!("{s:?}").contains("bob"));
        let s = FtpSource::parse_with(
            "ftps://example.com/x",
            Some("env".into()),
            Some("pw".into()),
        )
        .unwrap();
        assert_eq!(
            (s.user.as_str(), s.password.as_str(), s.port, s.secure),
            ("env", "pw", 21, true)
        );
        let s = FtpSource::parse_with("ftp://example.com/", None, None).unwrap();
        assert_eq!(
            (s.user.as_str(), s.credentials_from()),
            ("anonymous", "anonymous")
        );
        assert_eq!(s.dir, "");
        let s = FtpSource::parse_with("ftp://u:p%40ss@example.com/d", None, None).unwrap();
        assert_eq!(s.password, "p@ss");
    }

    #[test]
    fn bad_urls_are_reported_without_the_password() {
        let e = FtpSource::parse_with("http://u:hunter2@example.com/", None, None).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(
            FtpSource::is_ftp("FTP://x/")
                && FtpSource::is_ftp("ftps://x/")
                && !FtpSource::is_ftp("gs://x/")
        );
    }
}
