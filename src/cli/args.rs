//! Flag groups several subcommands share, each turned into the typed setting
//! its job takes.

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::Args;
use clap::builder::TypedValueParser;

use crate::ingest::{IngestOptions, Selection};
use crate::metrics::engine::DateSelection;
use crate::sink::{PgSink, SinkOptions, redact_url};
use crate::store::Location;

/// Where the lake is.
#[derive(Debug, Args, Clone)]
pub struct LakeArgs {
    /// The lake: a local path or a file://, gs://, s3:// or memory:// URL.
    #[arg(long, default_value = "./lake", env = "GEXLAKE_LAKE")]
    pub lake: String,
}

impl LakeArgs {
    /// The lake's location.
    pub fn location(&self) -> Result<Location> {
        Location::parse(&self.lake).context("--lake")
    }
}

/// Which archives to take.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// File-name glob for archives inside directories and prefixes.
    #[arg(long, default_value = "*.zip", env = "GEXLAKE_PATTERN")]
    pub pattern: String,
    /// Earliest date (YYYY-MM-DD) in the archive's file name.
    #[arg(long, env = "GEXLAKE_FROM")]
    pub from: Option<NaiveDate>,
    /// Latest date (YYYY-MM-DD) in the archive's file name.
    #[arg(long, env = "GEXLAKE_TO")]
    pub to: Option<NaiveDate>,
}

impl SelectArgs {
    /// The validated selection.
    pub fn selection(&self) -> Result<Selection> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            bail!("--from {from} is after --to {to}");
        }
        Ok(Selection {
            pattern: self.pattern.clone(),
            from: self.from,
            to: self.to,
        })
    }
}

/// How conversion runs.
#[derive(Debug, Args, Clone)]
pub struct ConvertArgs {
    /// Files converted at once (default: every core).
    #[arg(long, env = "GEXLAKE_JOBS")]
    pub jobs: Option<usize>,
    /// Convert again even files the ledger says are done.
    #[arg(long)]
    pub force: bool,
    /// Fail a file on its first bad row instead of rejecting the row.
    #[arg(long)]
    pub strict: bool,
}

impl ConvertArgs {
    /// The ingest settings for converting into `lake`.
    pub fn options(&self, lake: Location) -> Result<IngestOptions> {
        Ok(IngestOptions {
            lake,
            jobs: jobs(self.jobs)?,
            force: self.force,
            strict: self.strict,
        })
    }
}

/// The work done side by side: `--jobs`, else every core.
pub fn jobs(flag: Option<usize>) -> Result<usize> {
    match flag {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// Which trade dates to compute.
#[derive(Debug, Args, Clone)]
pub struct DateArgs {
    /// One trade date (YYYY-MM-DD); must be in the lake.
    #[arg(long, conflicts_with_all = ["from", "to", "snapshot_time"])]
    pub date: Option<NaiveDate>,
    /// The A3 snapshot time (RFC 3339 or YYYY-MM-DD): selects the trade date it falls on in New York.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub snapshot_time: Option<String>,
    /// First trade date of a range (every lake partition from here).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last trade date of a range.
    #[arg(long)]
    pub to: Option<NaiveDate>,
}

impl DateArgs {
    /// The validated selection.
    pub fn selection(&self) -> Result<DateSelection> {
        if let Some(d) = self.date {
            return Ok(DateSelection::Dates(vec![d]));
        }
        if let Some(t) = &self.snapshot_time {
            return Ok(DateSelection::Dates(vec![snapshot_date(t)?]));
        }
        range_selection(
            self.from,
            self.to,
            "give --date, --snapshot-time or --from/--to",
        )
    }
}

/// `--from`/`--to` as a range (an open end reaches the lake's first or last
/// date); `missing` is the error when neither is given.
pub fn range_selection(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    missing: &str,
) -> Result<DateSelection> {
    match (from, to) {
        (Some(f), Some(t)) if f > t => bail!("--from {f} is after --to {t}"),
        (Some(f), Some(t)) => Ok(DateSelection::Range(f, t)),
        (Some(f), None) => Ok(DateSelection::Range(f, NaiveDate::MAX)),
        (None, Some(t)) => Ok(DateSelection::Range(NaiveDate::MIN, t)),
        (None, None) => bail!("{missing}"),
    }
}

/// The New York trade date of a snapshot time.
fn snapshot_date(text: &str) -> Result<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d);
    }
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("--snapshot-time {text:?} is neither RFC 3339 nor YYYY-MM-DD"))?;
    Ok(t.with_timezone(&chrono_tz::America::New_York).date_naive())
}

/// The metrics database.
#[derive(Args, Clone)]
pub struct DatabaseArgs {
    /// Postgres URL (postgres://user:password@host/db); the password is never logged.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Rows per upsert statement.
    #[arg(long, env = "GEXLAKE_SINK_BATCH_SIZE", default_value_t = SinkOptions::default().batch_size,
          value_parser = TypedValueParser::map(clap::value_parser!(u32).range(1..), |n| n as usize))]
    pub sink_batch_size: usize,
    /// Upsert statements in flight at once, each on its own connection (the server parses
    /// one batch's JSON per backend): 1 keeps the load on the database to one core.
    #[arg(long, env = "GEXLAKE_SINK_CONCURRENCY", default_value_t = SinkOptions::default().concurrency,
          value_parser = TypedValueParser::map(clap::value_parser!(u32).range(1..=64), |n| n as usize))]
    pub sink_concurrency: usize,
}

impl std::fmt::Debug for DatabaseArgs {
    /// Shows the URL with its password masked: settings are logged, secrets never.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("sink_batch_size", &self.sink_batch_size)
            .field("sink_concurrency", &self.sink_concurrency)
            .finish()
    }
}

impl DatabaseArgs {
    /// Connects, or says which flag is missing.
    pub async fn connect(&self) -> Result<PgSink> {
        let Some(url) = &self.database_url else {
            bail!("no database: give --database-url or set DATABASE_URL");
        };
        let options = SinkOptions {
            batch_size: self.sink_batch_size,
            concurrency: self.sink_concurrency,
            ..SinkOptions::default()
        };
        Ok(PgSink::connect_with(url, options).await?)
    }

    /// Connects when a database URL is given: without one, results stay in the lake.
    pub async fn connect_if_given(&self) -> Result<Option<PgSink>> {
        match &self.database_url {
            Some(_) => Ok(Some(self.connect().await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_args_debug_hides_the_password() {
        let args = DatabaseArgs {
            database_url: Some("postgres://gex:s3cret@db.example/trading".into()),
            sink_batch_size: 1000,
            sink_concurrency: 3,
        };
        let shown = format!("{args:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.example"), "{shown}");
    }
}

/// Where the queries run: here, or on a Ballista cluster.
#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// Run the queries on a Ballista cluster: its scheduler as df://HOST:PORT
    /// (`gexlake scheduler` and `gexlake executor` start one). The lake must be
    /// readable from every executor: gs://, s3://, or a path shared by all nodes.
    #[arg(long, value_name = "df://HOST:PORT", env = "GEXLAKE_CLUSTER")]
    pub cluster: Option<String>,
    /// Partitions per stage on the cluster (about the executors' slots in all).
    #[arg(long, requires = "cluster", default_value_t = crate::cluster::DEFAULT_PARTITIONS, env = "GEXLAKE_CLUSTER_PARTITIONS")]
    pub cluster_partitions: usize,
}

impl ClusterArgs {
    /// The validated cluster, if one is given.
    pub fn cluster(&self) -> Result<Option<crate::cluster::Cluster>> {
        self.cluster
            .as_deref()
            .map(|url| crate::cluster::Cluster::parse(url, self.cluster_partitions))
            .transpose()
            .map_err(Into::into)
    }
}
