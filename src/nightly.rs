//! The unattended nightly job: find the archives in a source that are newer
//! than the last one done (looking a few days back, so a failed night is tried
//! again), pull them from FTP into a raw prefix first when the source is an FTP
//! server, and run the same [`Chain`] as `backfill`, under a lock object in the
//! lake so overlapping runs never do the same work twice.
//!
//! The lock is `<lake>/_locks/nightly.json`, created with a conditional put
//! (`PutMode::Create`) that exactly one contender wins on local disks, S3 and
//! GCS. A run that finds it held logs who holds it and exits 0; a lock older
//! than the timeout (its holder died without releasing it) is taken over with a
//! warning. The holder deletes it at the end, on errors and on SIGTERM/SIGINT.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::America::New_York;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::ftp::{FtpSource, PullOptions};
use crate::ingest::{Selection, Source, discover};
use crate::lake::LEDGER_DIR;
use crate::orats::date_from_file_name;
use crate::outcome::Outcome;
use crate::pipeline::Chain;
use crate::sink::PgSink;
use crate::store::Location;

/// The nightly lock's lake-relative path.
pub const LOCK_FILE: &str = "_locks/nightly.json";

/// Days looked back by default: a week covers a failed night plus a weekend and a holiday.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 7;

/// Days the newest archive of the source may be old before a run warns that none arrived:
/// ORATS delivers each trading day's archive after that night, so a run on the
/// Wednesday after a long weekend (a Monday holiday) still sees Friday's, 5 days old.
pub const DEFAULT_STALE_AFTER_DAYS: u32 = 5;

/// The age in days of the source's newest archive (`newest`, a trade date) on `today`
/// (New York), when it exceeds `stale_after_days` (0: never).
pub fn overdue_days(newest: NaiveDate, today: NaiveDate, stale_after_days: u32) -> Option<i64> {
    let age = today.signed_duration_since(newest).num_days();
    (stale_after_days > 0 && age > i64::from(stale_after_days)).then_some(age)
}

/// Settings of a nightly run.
#[derive(Debug, Clone)]
pub struct NightlyOptions {
    /// Where new archives appear: a local directory, an object-store prefix or an FTP URL.
    pub source: String,
    /// Where FTP downloads are kept; required with FTP sources.
    pub raw: Option<Location>,
    /// Exactly this trade date (by file name) instead of the new archives.
    pub date: Option<NaiveDate>,
    /// Days before the newest date done that are looked at again.
    pub lookback_days: u32,
    /// File-name glob of archives.
    pub pattern: String,
    /// A lock older than this is taken over.
    pub lock_timeout: Duration,
    /// Warn when the source's newest archive is older than this many days (0: never).
    pub stale_after_days: u32,
    /// FTP download settings.
    pub pull: PullOptions,
    /// What runs on the archives found (lake, jobs, parameter sets).
    pub chain: Chain,
}

/// Who holds a lock, as stored in the lock object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Host name of the holder.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// When the holder took the lock.
    pub started_at: DateTime<Utc>,
    /// Random id of the holder's run, to release only one's own lock.
    pub run_id: String,
    /// gexlake's version.
    pub version: String,
}

impl LockInfo {
    /// This process, now.
    fn current() -> Self {
        let started_at = Utc::now();
        let pid = std::process::id();
        LockInfo {
            run_id: format!(
                "{pid:x}-{:x}",
                started_at.timestamp_nanos_opt().unwrap_or_default()
            ),
            host: hostname(),
            pid,
            started_at,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Whether the holder is presumed dead: the lock is older than `timeout`,
    /// or the holder ran on this host and its process is gone.
    pub fn is_stale(&self, now: DateTime<Utc>, timeout: Duration) -> bool {
        let age = now
            .signed_duration_since(self.started_at)
            .to_std()
            .unwrap_or_default();
        if age > timeout {
            return true;
        }
        self.host == hostname()
            && (self.pid == std::process::id()
                || !std::path::Path::new(&format!("/proc/{}", self.pid)).exists())
    }
}

/// The outcome of trying to take the lock.
#[derive(Debug)]
pub enum Acquire {
    /// This run holds the lock.
    Acquired(LakeLock),
    /// Another live run holds it.
    Held(LockInfo),
}

/// A lock held in the lake; release it with [`LakeLock::release`].
#[derive(Debug)]
pub struct LakeLock {
    lake: Location,
    path: Path,
    info: LockInfo,
}

impl LakeLock {
    /// Takes the lock at `relative` in `lake`, taking over a stale one.
    pub async fn acquire(lake: &Location, relative: &str, timeout: Duration) -> Result<Acquire> {
        let path = lake.child(relative);
        let info = LockInfo::current();
        let body = Bytes::from(serde_json::to_vec_pretty(&info).expect("lock info serializes"));
        let where_ = || lake.child_url(relative, false);
        // A few rounds: each lost race re-reads the lock someone else just wrote.
        for _ in 0..5 {
            let create = PutOptions::from(PutMode::Create);
            match lake
                .store
                .put_opts(&path, body.clone().into(), create)
                .await
            {
                Ok(_) => return Ok(Acquire::Acquired(LakeLock::new(lake, path, info))),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(object_store::Error::NotImplemented { .. }) => bail!(
                    "{}: this store cannot create objects conditionally, so overlapping runs cannot be excluded",
                    where_()
                ),
                Err(e) => return Err(e).with_context(|| format!("creating the lock {}", where_())),
            }
            let existing = match lake.store.get(&path).await {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e).with_context(|| format!("reading the lock {}", where_())),
            };
            let version = UpdateVersion {
                e_tag: existing.meta.e_tag.clone(),
                version: existing.meta.version.clone(),
            };
            let modified = existing.meta.last_modified;
            let bytes = existing
                .bytes()
                .await
                .with_context(|| format!("reading the lock {}", where_()))?;
            // An unreadable lock is judged by the object's own time.
            let holder = serde_json::from_slice::<LockInfo>(&bytes).unwrap_or_else(|_| LockInfo {
                host: "unknown".into(),
                pid: 0,
                started_at: modified,
                run_id: String::new(),
                version: String::new(),
            });
            if !holder.is_stale(Utc::now(), timeout) {
                return Ok(Acquire::Held(holder));
            }
            warn!(
                lock = %where_(),
                holder_host = %holder.host,
                holder_pid = holder.pid,
                holder_started_at = %holder.started_at,
                "taking over a stale lock: its holder died or overran --lock-timeout"
            );
            let update = PutOptions::from(PutMode::Update(version));
            match lake
                .store
                .put_opts(&path, body.clone().into(), update)
                .await
            {
                Ok(_) => return Ok(Acquire::Acquired(LakeLock::new(lake, path, info))),
                // Someone else took it over first: look again.
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => continue,
                // No compare-and-swap here (local disks): delete, then race on Create again.
                Err(object_store::Error::NotImplemented { .. }) => {
                    match lake.store.delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => continue,
                        Err(e) => {
                            return Err(e)
                                .with_context(|| format!("removing the stale lock {}", where_()));
                        }
                    }
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("taking over the lock {}", where_()));
                }
            }
        }
        bail!(
            "{}: the lock keeps changing hands; try again later",
            where_()
        )
    }

    fn new(lake: &Location, path: Path, info: LockInfo) -> Self {
        LakeLock {
            lake: lake.clone(),
            path,
            info,
        }
    }

    /// Who holds it (this run).
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Deletes the lock if it is still this run's (a run that overran the
    /// timeout may have lost it to another).
    pub async fn release(self) -> Result<()> {
        let current = match self.lake.store.get(&self.path).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_slice::<LockInfo>(&current) {
            Ok(holder) if holder.run_id == self.info.run_id => {
                match self.lake.store.delete(&self.path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            _ => {
                warn!(lock = %self.path, "the lock was taken over by another run while this one ran: left in place");
                Ok(())
            }
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Parses `90s`, `45m`, `6h`, `1d` (or a number of seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 45m, 6h or 1d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n * seconds))
}

/// The newest file-name date among the lake's ledger entries: the last archive done.
pub async fn last_done(lake: &Location) -> Result<Option<NaiveDate>> {
    let prefix = lake.child(LEDGER_DIR);
    let metas: Vec<object_store::ObjectMeta> =
        lake.store
            .list(Some(&prefix))
            .try_collect()
            .await
            .with_context(|| format!("listing {}", lake.child_url(LEDGER_DIR, true)))?;
    Ok(metas
        .iter()
        .filter_map(|m| date_from_file_name(m.location.filename()?))
        .max())
}

/// The file-name dates to take: exactly `date`, else from `lookback_days`
/// before the last date done (or before the newest available one, on a lake
/// with nothing done yet) onwards. `None` when there is nothing to anchor on.
pub fn window(
    date: Option<NaiveDate>,
    last_done: Option<NaiveDate>,
    newest_available: Option<NaiveDate>,
    lookback_days: u32,
) -> Option<(NaiveDate, NaiveDate)> {
    if let Some(d) = date {
        return Some((d, d));
    }
    let anchor = last_done.or(newest_available)?;
    let from = anchor
        .checked_sub_days(chrono::Days::new(lookback_days.into()))
        .unwrap_or(NaiveDate::MIN);
    Some((from, NaiveDate::MAX))
}

fn in_window(name: &str, window: (NaiveDate, NaiveDate)) -> bool {
    date_from_file_name(name).is_some_and(|d| d >= window.0 && d <= window.1)
}

/// Runs the nightly job under the lake's lock. Finding the lock held is no
/// failure: the run that holds it does the work.
pub async fn run(options: &NightlyOptions, sink: Option<&PgSink>) -> Result<Outcome> {
    let lake = &options.chain.ingest.lake;
    let lock = match LakeLock::acquire(lake, LOCK_FILE, options.lock_timeout).await? {
        Acquire::Acquired(lock) => lock,
        Acquire::Held(holder) => {
            let age = Utc::now().signed_duration_since(holder.started_at);
            warn!(
                lock = %lake.child_url(LOCK_FILE, false),
                holder_host = %holder.host,
                holder_pid = holder.pid,
                holder_started_at = %holder.started_at,
                holder_age_s = age.num_seconds(),
                lock_timeout_s = options.lock_timeout.as_secs(),
                "nightly: another run holds the lock; leaving the work to it"
            );
            return Ok(Outcome::default());
        }
    };
    info!(lock = %lake.child_url(LOCK_FILE, false), run_id = %lock.info().run_id, "nightly: lock taken");
    let result = tokio::select! {
        result = work(options, sink) => result,
        signal = shutdown_signal() => Err(anyhow::anyhow!("stopped by {signal}; the next run finishes the job")),
    };
    if let Err(e) = lock.release().await {
        warn!(
            "nightly: could not release the lock (the next run takes it over after --lock-timeout): {e:#}"
        );
    }
    result
}

#[cfg(unix)]
/// Waits for SIGINT or SIGTERM and names it.
pub async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(not(unix))]
/// Waits for SIGINT or SIGTERM and names it.
pub async fn shutdown_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

async fn work(options: &NightlyOptions, sink: Option<&PgSink>) -> Result<Outcome> {
    let lake = &options.chain.ingest.lake;
    let done = last_done(lake).await?;
    let mut pull_failed = 0;
    let (input, window, sources, newest): (String, _, Vec<Source>, _) =
        if FtpSource::is_ftp(&options.source) {
            let ftp = FtpSource::parse(&options.source)?;
            let Some(raw) = &options.raw else {
                bail!("--raw is required with an FTP source: it keeps the downloaded archives");
            };
            let names: Vec<String> = ftp
                .list(&options.pull)
                .await
                .with_context(|| format!("listing {ftp}"))?
                .into_iter()
                .filter(|n| glob_matches(&options.pattern, n))
                .collect();
            let newest = names.iter().filter_map(|n| date_from_file_name(n)).max();
            let window = window(options.date, done, newest, options.lookback_days);
            let wanted: Vec<String> = match window {
                Some(w) => names.into_iter().filter(|n| in_window(n, w)).collect(),
                None => Vec::new(),
            };
            info!(
                source = %ftp,
                credentials = ftp.credentials_from(),
                raw = %raw,
                listed_newest = %newest.map(|d| d.to_string()).unwrap_or_else(|| "none".into()),
                wanted = wanted.len(),
                "nightly: FTP listing"
            );
            let pulled = ftp.pull(&wanted, raw, &options.pull).await?;
            info!(
                downloaded = pulled.downloaded.len(),
                already_in_raw = pulled.present.len(),
                failed = pulled.failed.len(),
                mb = format!("{:.1}", pulled.bytes as f64 / 1e6),
                seconds = format!("{:.2}", pulled.elapsed.as_secs_f64()),
                "nightly: FTP summary"
            );
            pull_failed = pulled.failed.len();
            let sources = match window {
                Some(w) => discover(&[raw.url()], &selection(&options.pattern, Some(w))).await?,
                None => Vec::new(),
            };
            (raw.url(), window, sources, newest)
        } else {
            if options.raw.is_some() {
                warn!("--raw is only used with FTP sources: ignored");
            }
            let all = discover(
                std::slice::from_ref(&options.source),
                &selection(&options.pattern, None),
            )
            .await?;
            let newest = all.iter().filter_map(|s| s.date).max();
            let window = window(options.date, done, newest, options.lookback_days);
            let sources = all
                .into_iter()
                .filter(|s| window.is_some_and(|w| s.date.is_some_and(|d| d >= w.0 && d <= w.1)))
                .collect();
            (options.source.clone(), window, sources, newest)
        };
    let chain = &options.chain;
    info!(
        source = %redact_source(&options.source),
        input = %input,
        lake = %lake,
        last_done = %done.map(|d| d.to_string()).unwrap_or_else(|| "none".into()),
        date = %options.date.map(|d| d.to_string()).unwrap_or_else(|| "new archives".into()),
        from = %window.map(|w| w.0.to_string()).unwrap_or_else(|| "-".into()),
        lookback_days = options.lookback_days,
        pattern = %options.pattern,
        files = sources.len(),
        names = %sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(","),
        jobs = chain.ingest.jobs,
        profiles = %chain.params.iter().map(|p| p.name()).collect::<Vec<_>>().join(","),
        database = %sink.map_or("none (Parquet results only)".to_string(), |s| s.url().to_string()),
        "nightly: run header"
    );
    // "Nothing new" is success, so a source that stopped receiving archives would go
    // unnoticed night after night: say so at WARNING, which an alert can watch.
    // `--stale-after-days 0` turns the whole check off, the empty-source warning too.
    if options.date.is_none() && options.stale_after_days > 0 {
        let today = Utc::now().with_timezone(&New_York).date_naive();
        match newest {
            Some(newest) => {
                if let Some(age) = overdue_days(newest, today, options.stale_after_days) {
                    warn!(
                        newest = %newest,
                        age_days = age,
                        stale_after_days = options.stale_after_days,
                        "nightly: the source's newest archive is {age} days old: are archives still arriving?"
                    );
                }
            }
            None => warn!(
                source = %redact_source(&options.source),
                pattern = %options.pattern,
                "nightly: the source holds no archive"
            ),
        }
    }
    if sources.is_empty() {
        if let Some(d) = options.date {
            bail!(
                "no archive for {d} in {input} (pattern {})",
                options.pattern
            );
        }
        info!("nightly: no archive to process");
        return Ok(Outcome {
            files_failed: pull_failed,
            ..Outcome::default()
        });
    }
    let report = chain.run(sources, sink).await?;
    // Files that could not be downloaded count as failed files.
    let mut outcome = report.outcome();
    outcome.files_failed += pull_failed;
    Ok(outcome)
}

fn selection(pattern: &str, window: Option<(NaiveDate, NaiveDate)>) -> Selection {
    Selection {
        pattern: pattern.to_string(),
        from: window.map(|w| w.0),
        to: window.map(|w| w.1).filter(|t| *t != NaiveDate::MAX),
    }
}

fn glob_matches(pattern: &str, name: &str) -> bool {
    globset::Glob::new(pattern).is_ok_and(|g| g.compile_matcher().is_match(name))
}

/// The source for logs: FTP URLs lose their credentials, object-store URLs have none.
fn redact_source(source: &str) -> String {
    match FtpSource::parse(source) {
        Ok(ftp) => ftp.redacted(),
        Err(_) if FtpSource::is_ftp(source) => "ftp://…".to_string(),
        Err(_) => source.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn an_archive_is_overdue_past_the_allowed_age() {
        // Friday 2026-02-13's archive; Monday 2026-02-16 is Presidents' Day.
        let friday = d("2026-02-13");
        assert_eq!(
            overdue_days(friday, d("2026-02-18"), 5),
            None,
            "Wednesday: 5 days"
        );
        assert_eq!(
            overdue_days(friday, d("2026-02-19"), 5),
            Some(6),
            "Thursday: 6 days"
        );
        assert_eq!(
            overdue_days(friday, d("2026-03-13"), 0),
            None,
            "0 never warns"
        );
        assert_eq!(overdue_days(friday, friday, 1), None);
    }

    #[test]
    fn window_looks_back_from_the_last_date_done() {
        assert_eq!(
            window(Some(d("2026-02-05")), Some(d("2026-02-01")), None, 7),
            Some((d("2026-02-05"), d("2026-02-05")))
        );
        assert_eq!(
            window(None, Some(d("2026-02-05")), Some(d("2026-02-09")), 7),
            Some((d("2026-01-29"), NaiveDate::MAX))
        );
        assert_eq!(
            window(None, None, Some(d("2026-02-09")), 0),
            Some((d("2026-02-09"), NaiveDate::MAX))
        );
        assert_eq!(window(None, None, None, 7), None);
        assert!(in_window(
            "ORATS_SMV_Strikes_20260205.zip",
            (d("2026-02-05"), NaiveDate::MAX)
        ));
        assert!(!in_window(
            "ORATS_SMV_Strikes_20260204.zip",
            (d("2026-02-05"), NaiveDate::MAX)
        ));
        assert!(!in_window("notes.zip", (d("2026-02-05"), NaiveDate::MAX)));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert!(parse_duration("6 hours").is_err() && parse_duration("h").is_err());
    }

    #[test]
    fn staleness() {
        let now = Utc::now();
        let other_host = LockInfo {
            host: "elsewhere.invalid".into(),
            pid: 1,
            started_at: now - chrono::Duration::minutes(30),
            run_id: "a".into(),
            version: "0".into(),
        };
        assert!(!other_host.is_stale(now, Duration::from_secs(3600)));
        assert!(other_host.is_stale(now, Duration::from_secs(600)));
        let dead_here = LockInfo {
            host: hostname(),
            pid: u32::MAX,
            ..other_host.clone()
        };
        assert!(dead_here.is_stale(now, Duration::from_secs(3600)));
    }

    #[tokio::test]
    async fn one_contender_wins_and_a_stale_lock_is_taken_over() {
        let lake = Location::parse("memory://nightly-lock-test").unwrap();
        let hour = Duration::from_secs(3600);
        let Acquire::Acquired(first) = LakeLock::acquire(&lake, LOCK_FILE, hour).await.unwrap()
        else {
            panic!("an empty lake is free");
        };
        // This process holds it: only a lock from another host counts as live.
        let live = LockInfo {
            host: "elsewhere.invalid".into(),
            ..first.info().clone()
        };
        let path = lake.child(LOCK_FILE);
        lake.store
            .put(&path, serde_json::to_vec(&live).unwrap().into())
            .await
            .unwrap();
        assert!(
            matches!(LakeLock::acquire(&lake, LOCK_FILE, hour).await.unwrap(), Acquire::Held(h) if h == live)
        );
        let Acquire::Acquired(second) = LakeLock::acquire(&lake, LOCK_FILE, Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!("a lock older than the timeout is taken over");
        };
        // The first holder lost it: releasing leaves the new holder's lock alone.
        first.release().await.unwrap();
        assert!(lake.store.head(&path).await.is_ok());
        second.release().await.unwrap();
        assert!(matches!(
            lake.store.head(&path).await,
            Err(object_store::Error::NotFound { .. })
        ));
    }
}
