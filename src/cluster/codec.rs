//! How a plan's in-memory tables travel to the scheduler.
//!
//! The metrics and `orats_daily` runs register a few small tables built in
//! memory (`run_dates`, `watchlist`, `spot_overrides`, the spot stage's
//! result, the stored history of `orats_daily`). Ballista's codec cannot
//! serialize a `MemTable`; [`LakeCodec`] sends one as an Arrow IPC stream
//! and hands every other node to Ballista's own codec. It must be installed
//! on the client and the scheduler (the executors receive physical plans,
//! whose memory scans DataFusion serializes itself).

use std::io::Cursor;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion_proto::logical_plan::LogicalExtensionCodec;

use ballista_core::serde::BallistaLogicalExtensionCodec;

/// The first byte of an encoded table provider: whose encoding follows.
const BALLISTA: u8 = 0;
const MEMORY_TABLE: u8 = 1;

/// Ballista's logical codec, plus in-memory tables as Arrow IPC.
#[derive(Debug, Default)]
pub struct LakeCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LakeCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.split_first() {
            Some((&MEMORY_TABLE, ipc)) => {
                let reader = StreamReader::try_new(Cursor::new(ipc), None)?;
                let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
            }
            Some((&BALLISTA, rest)) => self
                .inner
                .try_decode_table_provider(rest, table_ref, schema, ctx),
            _ => Err(DataFusionError::Internal(format!(
                "table {table_ref}: unknown table encoding (client and scheduler must run the same gexlake)"
            ))),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let Some(table) = node.downcast_ref::<MemTable>() else {
            buf.push(BALLISTA);
            return self.inner.try_encode_table_provider(table_ref, node, buf);
        };
        buf.push(MEMORY_TABLE);
        let mut writer = StreamWriter::try_new(&mut *buf, &table.schema())?;
        for partition in &table.batches {
            let batches = partition.try_read().map_err(|_| {
                DataFusionError::Internal(format!("table {table_ref} is being written"))
            })?;
            for batch in batches.iter() {
                writer.write(batch)?;
            }
        }
        writer.finish()?;
        Ok(())
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
    use datafusion::prelude::SessionContext;

    #[test]
    fn memory_tables_round_trip_as_ipc() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "ticker",
                Arc::new(StringArray::from(vec!["SPX", "AAPL"])) as _,
            ),
            ("n", Arc::new(Int64Array::from(vec![Some(7), None])) as _),
        ])
        .unwrap();
        let schema = batch.schema();
        let table = MemTable::try_new(Arc::clone(&schema), vec![vec![batch.clone()]]).unwrap();
        let codec = LakeCodec::default();
        let mut buf = Vec::new();
        let name = TableReference::bare("watchlist");
        codec
            .try_encode_table_provider(&name, Arc::new(table), &mut buf)
            .unwrap();
        let ctx = SessionContext::new().task_ctx();
        let back = codec
            .try_decode_table_provider(&buf, &name, schema, &ctx)
            .unwrap();
        let back = back.downcast_ref::<MemTable>().unwrap();
        let rows = back.batches[0].try_read().unwrap().clone();
        assert_eq!(rows, vec![batch]);
        let err = codec
            .try_decode_table_provider(&[9], &name, back.schema(), &ctx)
            .unwrap_err();
        assert!(err.to_string().contains("unknown table encoding"), "{err}");
    }
}
