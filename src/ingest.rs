//! Converting ORATS archives into the lake: finding sources, skipping what the
//! ledger says is done, converting in parallel, and publishing atomically.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use globset::{Glob, GlobMatcher};
use object_store::path::Path;
use object_store::{GetResult, GetResultPayload, ObjectMeta, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tracing::{debug, error, info, warn};

use crate::lake::ledger::{self, LedgerEntry, LedgerError, LedgerPartition};
use crate::lake::writer::{PartitionWriters, publish, remove};
use crate::lake::{ledger_file, rejects_file, strikes_file};
use crate::orats::archive::{Archive, ArchiveData, ArchiveError};
use crate::orats::date_from_file_name;
use crate::orats::reader::{ReadError, ReadOptions, ReadSummary, Reject, read_sorted};
use crate::orats::values::days_to_date;
use crate::progress::{Heartbeat, Progress};
use crate::store::{Location, LocationError};

/// An archive to convert.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it lives.
    pub location: Location,
    /// Its object path.
    pub path: Path,
    /// File name (`ORATS_SMV_Strikes_20260205.zip`).
    pub name: String,
    /// File name without extension; names the lake files it produces.
    pub stem: String,
    /// The date in the file name.
    pub date: Option<NaiveDate>,
    /// Size in bytes.
    pub size: u64,
    /// Last-modified time as the store reports it (RFC 3339).
    pub last_modified: String,
    /// ETag, if any.
    pub e_tag: Option<String>,
}

impl Source {
    fn from_meta(location: &Location, meta: ObjectMeta) -> Self {
        let name = meta.location.filename().unwrap_or_default().to_string();
        let stem = name.split('.').next().unwrap_or(&name).to_string();
        Source {
            location: location.clone(),
            date: date_from_file_name(&name),
            path: meta.location,
            name,
            stem,
            size: meta.size,
            last_modified: meta.last_modified.to_rfc3339(),
            e_tag: meta.e_tag,
        }
    }

    /// The source's URL.
    pub fn url(&self) -> String {
        self.location.join_root(&self.path)
    }
}

/// One task's share of the archives when several tasks convert into one
/// lake side by side (`backfill --shard I/N`, or Cloud Run's
/// `CLOUD_RUN_TASK_INDEX`/`CLOUD_RUN_TASK_COUNT`).
///
/// An archive's share depends on its name only — the date in it counted in
/// weekdays (so consecutive trading days go to different tasks), or a hash of
/// an undated name — never on what else was listed: tasks that list the
/// source at different moments still agree, and no two take the same archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This task, from 0.
    pub index: u32,
    /// Tasks in all.
    pub count: u32,
}

/// Why a shard is not valid.
#[derive(Debug, thiserror::Error)]
#[error(
    "shard {0:?}: expected I/N with 0 <= I < N (this task's index from 0, then the task count), e.g. 3/16"
)]
pub struct ShardError(String);

impl Shard {
    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Self, ShardError> {
        let bad = || ShardError(text.to_string());
        let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
        Self::new(index.trim(), count.trim()).ok_or_else(bad)
    }

    /// The shard of Cloud Run's task variables, as text (`None` if either is unset).
    pub fn from_task_env(
        index: Option<&str>,
        count: Option<&str>,
    ) -> Option<Result<Self, ShardError>> {
        let (index, count) = (index?, count?);
        Some(
            Self::new(index.trim(), count.trim())
                .ok_or_else(|| ShardError(format!("{index}/{count}"))),
        )
    }

    fn new(index: &str, count: &str) -> Option<Self> {
        let (index, count): (u32, u32) = (index.parse().ok()?, count.parse().ok()?);
        (index < count).then_some(Shard { index, count })
    }

    /// Whether this task converts `source`.
    pub fn takes(&self, source: &Source) -> bool {
        self.slot(source.date, &source.name) == self.index
    }

    /// The task an archive (its date, or its name without one) belongs to.
    fn slot(&self, date: Option<NaiveDate>, name: &str) -> u32 {
        let key = match date {
            Some(d) => weekday_number(d),
            None => {
                let digest = Sha256::digest(name.as_bytes());
                u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
            }
        };
        (key % u64::from(self.count)) as u32
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Weekdays from Monday 1970-01-05 to `date` (a Saturday or Sunday counts as
/// the Friday before): consecutive trading days get consecutive numbers.
fn weekday_number(date: NaiveDate) -> u64 {
    let monday = NaiveDate::from_ymd_opt(1970, 1, 5).expect("valid date");
    let days = (date - monday).num_days().max(0) as u64;
    let (weeks, rest) = (days / 7, days % 7);
    weeks * 5 + rest.min(4)
}

/// What to look for among the inputs.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Glob on file names inside directories and prefixes.
    pub pattern: String,
    /// Earliest date in the file name (inclusive).
    pub from: Option<NaiveDate>,
    /// Latest date in the file name (inclusive).
    pub to: Option<NaiveDate>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            pattern: "*.zip".to_string(),
            from: None,
            to: None,
        }
    }
}

/// Why the inputs could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The input is not a usable location.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// The pattern is not a glob.
    #[error("--pattern {pattern:?}: {source}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// The glob error.
        source: globset::Error,
    },
    /// Listing failed.
    #[error("listing {input}: {source}")]
    List {
        /// The input.
        input: String,
        /// The store error.
        source: object_store::Error,
    },
    /// A local input does not exist.
    #[error("{0}: no such file or directory")]
    Missing(String),
}

/// Lists the archives the inputs name, filtered by pattern and date, in (date, name) order.
pub async fn discover(
    inputs: &[String],
    selection: &Selection,
) -> Result<Vec<Source>, DiscoverError> {
    let matcher: GlobMatcher = Glob::new(&selection.pattern)
        .map_err(|source| DiscoverError::Pattern {
            pattern: selection.pattern.clone(),
            source,
        })?
        .compile_matcher();
    let mut sources = Vec::new();
    for input in inputs {
        let location = Location::parse(input)?;
        let list_error = |source| DiscoverError::List {
            input: input.clone(),
            source,
        };
        if let Some(local) = location.local_path() {
            if local.is_file() {
                let meta = location
                    .store
                    .head(&location.prefix)
                    .await
                    .map_err(list_error)?;
                sources.push(Source::from_meta(&location, meta));
                continue;
            }
            if !local.is_dir() {
                return Err(DiscoverError::Missing(input.clone()));
            }
        } else if !location.prefix.as_ref().is_empty() {
            match location.store.head(&location.prefix).await {
                Ok(meta) => {
                    sources.push(Source::from_meta(&location, meta));
                    continue;
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(list_error(e)),
            }
        }
        let prefix = (!location.prefix.as_ref().is_empty()).then_some(&location.prefix);
        let metas: Vec<ObjectMeta> = location
            .store
            .list(prefix)
            .try_collect()
            .await
            .map_err(list_error)?;
        for meta in metas {
            let name = meta.location.filename().unwrap_or_default();
            if matcher.is_match(name) {
                sources.push(Source::from_meta(&location, meta));
            }
        }
    }
    let dated = selection.from.is_some() || selection.to.is_some();
    sources.retain(|s| match s.date {
        Some(d) => selection.from.is_none_or(|f| d >= f) && selection.to.is_none_or(|t| d <= t),
        None if dated => {
            warn!(source = %s.url(), "no date in the file name: left out by --from/--to");
            false
        }
        None => true,
    });
    sources.sort_by(|a, b| (a.date, &a.name, a.url()).cmp(&(b.date, &b.name, b.url())));
    Ok(sources)
}

/// Settings of an ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The lake.
    pub lake: Location,
    /// Conversions at once.
    pub jobs: usize,
    /// Convert again even when the ledger says done.
    pub force: bool,
    /// Fail a file on its first bad row.
    pub strict: bool,
}

/// Why one file failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading the source failed.
    #[error("reading the source: {0}")]
    Source(object_store::Error),
    /// Reading a local source in place failed (it shrank, or the disk failed).
    #[error("reading the source: {0}")]
    SourceRead(std::io::Error),
    /// The ZIP is unusable.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The CSV is unusable.
    #[error("member {member}: {source}")]
    Read {
        /// The CSV member.
        member: String,
        /// What went wrong, with line and column.
        source: ReadError,
    },
    /// Writing to the lake failed.
    #[error("writing to the lake: {0}")]
    Lake(object_store::Error),
    /// The previous ledger entry is unreadable.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Two sources would write the same lake files.
    #[error("another source is also named {0}: names must be unique within one lake")]
    DuplicateName(String),
    /// The conversion thread died.
    #[error("conversion task failed: {0}")]
    Task(String),
}

/// What happened to one source.
#[derive(Debug)]
pub enum Outcome {
    /// Converted now.
    Converted(LedgerEntry),
    /// Already in the lake.
    Skipped(&'static str),
    /// Failed; the lake is as it was.
    Failed(FileError),
}

/// The result of one source.
#[derive(Debug)]
pub struct FileReport {
    /// The source.
    pub source: Source,
    /// What happened.
    pub outcome: Outcome,
    /// Time spent on it.
    pub elapsed: Duration,
}

/// The result of an ingest run.
#[derive(Debug, Default)]
pub struct IngestReport {
    /// One entry per source, in source order.
    pub files: Vec<FileReport>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl IngestReport {
    /// Sources converted now.
    pub fn converted(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.files.iter().filter_map(|f| match &f.outcome {
            Outcome::Converted(e) => Some(e),
            _ => None,
        })
    }

    /// Number of failed sources.
    pub fn failed(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, Outcome::Failed(_)))
            .count()
    }

    /// Rows rejected by the sources converted now.
    pub fn rows_rejected(&self) -> u64 {
        self.converted().map(|e| e.rows_rejected).sum()
    }

    /// Number of skipped sources.
    pub fn skipped(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, Outcome::Skipped(_)))
            .count()
    }

    /// Trade dates whose `orats_strikes` partitions were (re)written.
    pub fn touched_dates(&self) -> Vec<NaiveDate> {
        let mut dates: Vec<NaiveDate> = self
            .converted()
            .flat_map(|e| e.partitions.iter().map(|p| p.trade_date))
            .collect();
        dates.sort();
        dates.dedup();
        dates
    }

    /// What did not work, as far as the exit status goes: failed files and rejected rows.
    pub fn outcome(&self) -> crate::outcome::Outcome {
        crate::outcome::Outcome {
            files_failed: self.failed(),
            rows_rejected: self.rows_rejected(),
            ..Default::default()
        }
    }

    /// Logs the run's final summary, after an error line per failed file.
    pub fn log_summary(&self) {
        let converted: Vec<_> = self.converted().collect();
        let rows: u64 = converted.iter().map(|e| e.rows_out).sum();
        let rejected = self.rows_rejected();
        let bytes: u64 = converted.iter().map(|e| e.size).sum();
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        for f in &self.files {
            if let Outcome::Failed(e) = &f.outcome {
                error!(file = %f.source.name, "FAILED: {e}");
            }
        }
        info!(
            files = self.files.len(),
            converted = converted.len(),
            skipped = self.skipped(),
            failed = self.failed(),
            rows,
            rejected,
            mb = format!("{:.1}", bytes as f64 / 1e6),
            seconds = format!("{secs:.2}"),
            mb_per_s = format!("{:.1}", bytes as f64 / 1e6 / secs),
            "ingest: summary"
        );
    }
}

/// Converts every source, `jobs` at a time, and reports each one. A failing
/// source never stops the others.
pub async fn ingest(sources: Vec<Source>, options: &IngestOptions) -> IngestReport {
    let started = Instant::now();
    let total = sources.len();
    let mut seen = std::collections::HashMap::new();
    for s in &sources {
        *seen.entry(s.stem.clone()).or_insert(0usize) += 1;
    }
    let progress = Progress::files(total as u64, "ingest");
    let heartbeat = Heartbeat::start("ingest", total as u64);
    let bytes_done = Arc::new(AtomicU64::new(0));
    let rows_done = Arc::new(AtomicU64::new(0));
    let mut files: Vec<(usize, FileReport)> =
        futures::stream::iter(sources.into_iter().enumerate())
            .map(|(i, source)| {
                let duplicate = seen.get(&source.stem).copied().unwrap_or(0) > 1;
                let options = options.clone();
                let progress = progress.clone();
                let heartbeat = heartbeat.clone();
                let bytes_done = bytes_done.clone();
                let rows_done = rows_done.clone();
                async move {
                    let t = Instant::now();
                    let outcome = if duplicate {
                        Outcome::Failed(FileError::DuplicateName(source.name.clone()))
                    } else {
                        match ingest_one(&source, &options).await {
                            Ok(outcome) => outcome,
                            Err(e) => Outcome::Failed(e),
                        }
                    };
                    let elapsed = t.elapsed();
                    log_outcome(&source, &outcome, elapsed);
                    if let Outcome::Converted(e) = &outcome {
                        bytes_done.fetch_add(e.size, Ordering::Relaxed);
                        rows_done.fetch_add(e.rows_out, Ordering::Relaxed);
                    }
                    let secs = started.elapsed().as_secs_f64().max(1e-9);
                    let rows = rows_done.load(Ordering::Relaxed);
                    let mb = bytes_done.load(Ordering::Relaxed) as f64 / 1e6;
                    progress.advance(&format!("{rows} rows, {:.1} MB/s", mb / secs));
                    heartbeat.tick(&format!("{rows} rows converted"));
                    (
                        i,
                        FileReport {
                            source,
                            outcome,
                            elapsed,
                        },
                    )
                }
            })
            .buffer_unordered(options.jobs.max(1))
            .collect()
            .await;
    progress.finish();
    heartbeat.stop();
    files.sort_by_key(|(i, _)| *i);
    IngestReport {
        files: files.into_iter().map(|(_, f)| f).collect(),
        elapsed: started.elapsed(),
    }
}

fn log_outcome(source: &Source, outcome: &Outcome, elapsed: Duration) {
    match outcome {
        Outcome::Converted(e) => {
            let mbps = e.size as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9);
            info!(
                file = %source.name,
                rows = e.rows_out,
                rejected = e.rows_rejected,
                partitions = e.partitions.len(),
                seconds = format!("{:.2}", elapsed.as_secs_f64()),
                mb_per_s = format!("{mbps:.1}"),
                "converted"
            );
        }
        Outcome::Skipped(why) => debug!(file = %source.name, reason = why, "skipped"),
        Outcome::Failed(e) => {
            error!(file = %source.name, source_url = %source.url(), "failed: {e}")
        }
    }
}

async fn ingest_one(source: &Source, options: &IngestOptions) -> Result<Outcome, FileError> {
    let lake = &options.lake;
    let ledger_path = lake.child(&ledger_file(&source.stem));
    let previous = ledger::read(&lake.store, &ledger_path).await?;
    if !options.force
        && previous.as_ref().is_some_and(|p| {
            p.matches_listing(source.size, &source.last_modified, source.e_tag.as_deref())
        })
    {
        return Ok(Outcome::Skipped("already converted"));
    }
    let got = source
        .location
        .store
        .get(&source.path)
        .await
        .map_err(FileError::Source)?;
    // A local archive is read in place; any other is fetched whole.
    let data = match got.payload {
        GetResultPayload::File(file, _) => {
            ArchiveData::file(file).map_err(FileError::SourceRead)?
        }
        payload @ GetResultPayload::Stream(_) => ArchiveData::Memory(
            GetResult { payload, ..got }
                .bytes()
                .await
                .map_err(FileError::Source)?,
        ),
    };
    let known_sha = previous
        .as_ref()
        .filter(|_| !options.force)
        .map(|p| p.sha256.clone());
    let name = source.name.clone();
    let strict = options.strict;
    let converted = tokio::task::spawn_blocking(move || convert(data, &name, strict, known_sha))
        .await
        .map_err(|e| FileError::Task(e.to_string()))??;
    let Some(converted) = converted else {
        // Same content under a new listing (copied, touched): record it, keep the data.
        let previous = previous.expect("a known checksum comes from a ledger entry");
        let refreshed = LedgerEntry {
            size: source.size,
            last_modified: source.last_modified.clone(),
            e_tag: source.e_tag.clone(),
            ..previous
        };
        publish(&lake.store, &ledger_path, ledger::encode(&refreshed))
            .await
            .map_err(FileError::Lake)?;
        return Ok(Outcome::Skipped("content unchanged"));
    };
    let entry = publish_converted(source, options, converted, previous.as_ref()).await?;
    Ok(Outcome::Converted(entry))
}

/// A converted source, still in memory.
struct Converted {
    sha256: String,
    member: String,
    summary: ReadSummary,
    partitions: Vec<(NaiveDate, Bytes, u64)>,
}

/// Converts one archive's bytes (CPU work: run it on a blocking thread);
/// `None` when its checksum equals `known_sha` (already in the lake).
fn convert(
    data: ArchiveData,
    name: &str,
    strict: bool,
    known_sha: Option<String>,
) -> Result<Option<Converted>, FileError> {
    let sha256 = data.sha256().map_err(FileError::SourceRead)?;
    if known_sha.as_deref() == Some(sha256.as_str()) {
        return Ok(None);
    }
    let archive = Archive::open_data(data)?;
    let member = archive.member.clone();
    let capacity = usize::try_from(archive.compressed_size).unwrap_or(0);
    let (summary, writers) = read_sorted(
        || Ok(archive.reader()),
        ReadOptions { strict },
        || PartitionWriters::new(name, capacity),
    )
    .map_err(|source| FileError::Read {
        member: member.clone(),
        source,
    })?;
    if summary.buffered_whole {
        warn!(
            file = name,
            "rows are not in ticker order: each date was sorted in memory"
        );
    }
    let partitions = writers
        .finish()
        .map_err(|source| FileError::Read {
            member: member.clone(),
            source,
        })?
        .into_iter()
        .map(|p| (days_to_date(p.date), p.bytes, p.rows))
        .collect();
    Ok(Some(Converted {
        sha256,
        member,
        summary,
        partitions,
    }))
}

/// Writes partitions, then rejects, then the ledger: a crash at any point
/// leaves either the old state or files a re-run overwrites, never a ledger
/// entry for data that is not there.
async fn publish_converted(
    source: &Source,
    options: &IngestOptions,
    converted: Converted,
    previous: Option<&LedgerEntry>,
) -> Result<LedgerEntry, FileError> {
    let lake = &options.lake;
    let mut partitions = Vec::new();
    for (date, bytes, rows) in converted.partitions {
        let relative = strikes_file(date, &source.stem);
        let size = bytes.len() as u64;
        publish(&lake.store, &lake.child(&relative), bytes)
            .await
            .map_err(FileError::Lake)?;
        partitions.push(LedgerPartition {
            trade_date: date,
            path: relative,
            rows,
            bytes: size,
        });
    }
    if let Some(previous) = previous {
        for old in &previous.partitions {
            if !partitions.iter().any(|p| p.path == old.path) {
                remove(&lake.store, &lake.child(&old.path))
                    .await
                    .map_err(FileError::Lake)?;
                // A local partition directory left empty would still list as a trade date.
                if let Some(dir) = lake
                    .local_path()
                    .and_then(|l| l.join(&old.path).parent().map(|p| p.to_path_buf()))
                {
                    let _ = tokio::fs::remove_dir(dir).await;
                }
            }
        }
    }
    let summary = converted.summary;
    let rejects_path = rejects_file(&source.stem);
    let rejects = if summary.rejects.is_empty() {
        remove(&lake.store, &lake.child(&rejects_path))
            .await
            .map_err(FileError::Lake)?;
        None
    } else {
        for r in summary.rejects.iter().take(5) {
            warn!(file = %source.name, "rejected row: {r}");
        }
        publish(
            &lake.store,
            &lake.child(&rejects_path),
            rejects_csv(&summary.rejects),
        )
        .await
        .map_err(FileError::Lake)?;
        Some(rejects_path)
    };
    let entry = LedgerEntry {
        source: source.url(),
        name: source.name.clone(),
        size: source.size,
        last_modified: source.last_modified.clone(),
        e_tag: source.e_tag.clone(),
        sha256: converted.sha256,
        member: converted.member,
        rows_in: summary.rows_in,
        rows_out: summary.rows_out.values().sum(),
        rows_rejected: summary.rejects.len() as u64,
        rejects,
        layout: summary.layout,
        unknown_columns: summary.unknown_columns,
        partitions,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if !entry.unknown_columns.is_empty() {
        warn!(file = %source.name, columns = ?entry.unknown_columns, "header columns not stored");
    }
    publish(
        &lake.store,
        &lake.child(&ledger_file(&source.stem)),
        ledger::encode(&entry),
    )
    .await
    .map_err(FileError::Lake)?;
    Ok(entry)
}

/// The rejects file: one CSV row per rejected line.
fn rejects_csv(rejects: &[Reject]) -> Bytes {
    let mut w = csv::Writer::from_writer(Cursor::new(Vec::new()));
    w.write_record(["line", "column", "reason", "value", "raw"])
        .expect("writing to memory");
    for r in rejects {
        w.write_record([
            r.line.to_string().as_str(),
            r.column.unwrap_or(""),
            r.reason.as_str(),
            r.value.as_deref().unwrap_or(""),
            r.raw.as_str(),
        ])
        .expect("writing to memory");
    }
    Bytes::from(w.into_inner().expect("writing to memory").into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn shards_parse_and_refuse_nonsense() {
        assert_eq!(
            Shard::parse("3/16").unwrap(),
            Shard {
                index: 3,
                count: 16
            }
        );
        assert_eq!(Shard::parse(" 0 / 1 ").unwrap().to_string(), "0/1");
        for bad in ["16/16", "3", "a/2", "1/0", "-1/2", "1/2/3"] {
            let err = Shard::parse(bad).unwrap_err().to_string();
            assert!(err.contains("expected I/N"), "{bad}: {err}");
        }
        assert!(Shard::from_task_env(None, Some("4")).is_none());
        assert_eq!(
            Shard::from_task_env(Some("2"), Some("4")).unwrap().unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert!(Shard::from_task_env(Some("4"), Some("4")).unwrap().is_err());
    }

    #[test]
    fn consecutive_trading_days_go_round_robin() {
        // Mon 2024-01-01 … Fri 2024-01-05, then Mon 2024-01-08.
        let numbers: Vec<u64> = [1, 2, 3, 4, 5, 8]
            .iter()
            .map(|d| weekday_number(day(2024, 1, *d)))
            .collect();
        for pair in numbers.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "{numbers:?}");
        }
        assert_eq!(
            weekday_number(day(2024, 1, 6)),
            weekday_number(day(2024, 1, 5))
        );
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut per_shard = [0; 3];
        let mut date = day(2024, 1, 1);
        for _ in 0..300 {
            let owners: Vec<&Shard> = shards
                .iter()
                .filter(|s| s.slot(Some(date), "x.zip") == s.index)
                .collect();
            assert_eq!(owners.len(), 1, "{date}");
            per_shard[owners[0].index as usize] += 1;
            date = date.succ_opt().unwrap();
        }
        // 300 calendar days, weekends included, split about evenly.
        assert!(
            per_shard.iter().all(|n| (90..=110).contains(n)),
            "{per_shard:?}"
        );
        // Undated names: one owner each, whatever else exists.
        for name in ["a.zip", "b.zip", "ORATS_extra.zip"] {
            let owners = shards
                .iter()
                .filter(|s| s.slot(None, name) == s.index)
                .count();
            assert_eq!(owners, 1, "{name}");
        }
    }
}
