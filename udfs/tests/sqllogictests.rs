//! Runs the `.slt` files under `tests/slt` against a DataFusion session with
//! every gexlake UDF registered.

mod common;

use async_trait::async_trait;
use common::slt::{run_dir, run_sql};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

/// A sqllogictest connection: one DataFusion session.
struct DataFusionDb {
    ctx: SessionContext,
}

impl DataFusionDb {
    fn new() -> Result<Self, DataFusionError> {
        // Several partitions and small batches, so that queries run through
        // partial and final aggregation over many batches.
        let config = SessionConfig::new()
            .with_target_partitions(4)
            .with_batch_size(3);
        let mut ctx = SessionContext::new_with_config(config);
        gexlake_udfs::register_all(&mut ctx)?;
        Ok(Self { ctx })
    }
}

#[async_trait]
impl AsyncDB for DataFusionDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        run_sql(&self.ctx, sql).await
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictests() {
    let dir = common::slt::manifest_dir().join("tests/slt");
    let files = run_dir(&dir, || async { DataFusionDb::new() }).await;
    assert!(files >= 4, "expected one .slt file per function in {dir:?}");
}
