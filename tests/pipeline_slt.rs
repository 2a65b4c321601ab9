//! Runs the `.slt` files under `tests/slt` against the metrics pipeline's own
//! SQL (`queries/metrics/*.sql`): each stage is a view, so a file can check
//! `spot`, `legs`, `strike_gex`, `ticker_gex` and `dealer_metrics` one by one on
//! rows it inserts into `strikes` itself. Expected values in the files are
//! worked out by hand from METRICS.md.
//!
//! One statement is the harness's own: `LOAD PIPELINE <profile> <YYYY-MM-DD>…`
//! binds the stage files to a profile's parameters and the given trade dates
//! (and registers the views), over the `strikes` table as it is at that moment.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::{SessionConfig, SessionContext};
use gexlake::metrics::Profile;
use gexlake::metrics::engine::register_stage_views;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner, strict_column_validator};

/// A sqllogictest connection: one DataFusion session with the gexlake UDAFs.
struct PipelineDb {
    ctx: SessionContext,
}

impl PipelineDb {
    fn new() -> Result<Self, DataFusionError> {
        // Several partitions and tiny batches: every aggregate runs through
        // partial and final stages over many batches.
        let config = SessionConfig::new()
            .with_target_partitions(4)
            .with_batch_size(2);
        let mut ctx = SessionContext::new_with_config(config);
        gexlake_udfs::register_all(&mut ctx as &mut dyn FunctionRegistry)?;
        Ok(Self { ctx })
    }

    /// `LOAD PIPELINE a3 2024-01-03 [2024-01-04 …]`.
    async fn load_pipeline(&self, args: &str) -> Result<(), DataFusionError> {
        let usage =
            || DataFusionError::Plan(format!("LOAD PIPELINE <profile> <date>…, got {args:?}"));
        let mut words = args.split_whitespace();
        let profile: Profile = words
            .next()
            .ok_or_else(usage)?
            .parse()
            .map_err(|e| DataFusionError::Plan(format!("{e}")))?;
        let dates = words
            .map(|w| NaiveDate::parse_from_str(w, "%Y-%m-%d").map_err(|_| usage()))
            .collect::<Result<Vec<_>, _>>()?;
        if dates.is_empty() {
            return Err(usage());
        }
        register_stage_views(&self.ctx, &profile.params(), &dates, None)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

/// The sqllogictest type letter of a result column.
fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || data_type.is_numeric() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

#[async_trait]
impl AsyncDB for PipelineDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        if let Some(args) = sql.trim().strip_prefix("LOAD PIPELINE ") {
            self.load_pipeline(args).await?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let df = self.ctx.sql(sql).await?;
        let types: Vec<_> = df
            .schema()
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let batches = df.collect().await?;
        if types.is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| f.value(row).to_string())
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion"
    }
}

async fn run_file(path: &Path) -> Result<(), String> {
    let mut runner = Runner::new(|| async { PipelineDb::new() });
    runner.with_column_validator(strict_column_validator);
    runner
        .run_file_async(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_sqllogictests() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {dir:?}");
    let mut failures = Vec::new();
    for file in &files {
        if let Err(failure) = run_file(file).await {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
