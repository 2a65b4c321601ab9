//! Runs the `.slt` files under `tests/slt` against the metrics pipeline's own
//! SQL (`queries/metrics/*.sql`): each stage is a view, so a file can check
//! `spot`, `legs`, `strike_gex`, `ticker_gex` and `dealer_metrics` one by one on
//! rows it inserts into `strikes` itself. Expected values in the files are
//! worked out by hand from METRICS.md.
//!
//! One statement is the harness's own: `LOAD PIPELINE <profile> <YYYY-MM-DD>…`
//! binds the stage files to a profile's parameters and the given trade dates
//! (and registers the views), over the `strikes` table as it is at that moment.

#[path = "../udfs/tests/common/slt.rs"]
mod slt;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::{SessionConfig, SessionContext};
use gexlake::metrics::Profile;
use gexlake::metrics::engine::register_stage_views;
use slt::{run_dir, run_sql};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

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

    /// `LOAD PIPELINE a3 2024-01-03 [2024-01-04 …] [name=value …]`: the
    /// profile, the dates, then parameters set as `gexlake sql --param` sets them.
    async fn load_pipeline(&self, args: &str) -> Result<(), DataFusionError> {
        let usage = || {
            DataFusionError::Plan(format!(
                "LOAD PIPELINE <profile> <date>… [name=value…], got {args:?}"
            ))
        };
        let mut words = args.split_whitespace();
        let profile = words
            .next()
            .ok_or_else(usage)?
            .parse::<Profile>()
            .map_err(DataFusionError::Plan)?;
        let mut params = profile.params();
        let mut dates = Vec::new();
        for word in words {
            match word.split_once('=') {
                Some((name, value)) => {
                    if !params.set(name, value).map_err(DataFusionError::Plan)? {
                        return Err(DataFusionError::Plan(format!("no parameter {name:?}")));
                    }
                }
                None => {
                    dates.push(NaiveDate::parse_from_str(word, "%Y-%m-%d").map_err(|_| usage())?)
                }
            }
        }
        if dates.is_empty() {
            return Err(usage());
        }
        register_stage_views(&self.ctx, &params, &dates, None)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))
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
        run_sql(&self.ctx, sql).await
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_sqllogictests() {
    let dir = slt::manifest_dir().join("tests/slt");
    let files = run_dir(&dir, || async { PipelineDb::new() }).await;
    assert!(files >= 1, "no .slt files in {dir:?}");
}
