//! Writing one date's `orats_daily` rows as `orats_daily/trade_date=D/part.parquet`.

use bytes::Bytes;
use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::DailyError;
use super::schema::daily_schema;
use crate::lake::daily_file;
use crate::lake::writer::publish;
use crate::store::Location;

/// Writer properties of an `orats_daily` file: fixed (so the same rows always
/// encode to the same bytes), zstd, page statistics, sorted by symbol. A day
/// is ~6,000 rows: one row group.
fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: true,
        }]))
        .set_created_by(format!("gexlake {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Encodes one date's rows (file schema, sorted by symbol) as Parquet.
pub fn encode(rows: &RecordBatch) -> Result<Bytes, DailyError> {
    let mut writer = ArrowWriter::try_new(Vec::new(), daily_schema(), Some(properties()))?;
    writer.write(rows)?;
    Ok(Bytes::from(writer.into_inner()?))
}

/// Replaces `date`'s partition with `rows` atomically, encoding them on a
/// blocking thread.
pub async fn write_day(
    lake: &Location,
    date: NaiveDate,
    rows: RecordBatch,
) -> Result<(), DailyError> {
    let bytes = tokio::task::spawn_blocking(move || encode(&rows))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    publish(&lake.store, &lake.child(&daily_file(date)), bytes)
        .await
        .map_err(|source| DailyError::Store {
            lake: lake.url(),
            source,
        })
}
