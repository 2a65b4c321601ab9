//! Rewriting `orats_strikes` files written before the lake stored prices, IVs and greeks
//! as exact decimals (their columns are Float64) into today's format.
//!
//! `gexlake` itself reads such files as they are (the table's DECIMAL types are cast to per
//! file), but other engines take one file's types for the whole table: polars refuses a
//! table whose files disagree, DuckDB and pyarrow cast every file to the first one's. A
//! migrated lake is one format again. Each double must be exactly the double of a decimal
//! with the column's scale (what ingest parsed from the CSV cell); one that is not (more
//! decimals than the lake stores, NaN) fails its file, which then stays as it was.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::errors::ParquetError;
use tracing::{error, info};

use super::STRIKES_DIR;
use super::writer::{SOURCE_KEY, publish, strikes_properties};
use crate::orats::layout::{DECIMAL_PRECISION, file_schema};
use crate::orats::reader::OUTPUT_BATCH_ROWS;
use crate::store::Location;

/// Why one file could not be migrated.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Reading, listing or writing the object failed.
    #[error(transparent)]
    Store(#[from] object_store::Error),
    /// The Parquet file could not be decoded or encoded.
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    /// A batch could not be assembled.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    /// A column has a type neither format has.
    #[error("column {column} is {found}, expected {expected} or Float64")]
    Type {
        /// The lake column.
        column: String,
        /// Its type in the file.
        found: DataType,
        /// Its type in today's lake.
        expected: DataType,
    },
    /// A double that is not the double of a decimal with the column's scale.
    #[error(
        "row {row}, column {column}: {value:?} is no decimal of at most {scale} decimals and \
         {DECIMAL_PRECISION} digits (re-convert its archive with `gexlake ingest --force`: \
         ingest rejects such cells with their line)"
    )]
    NotExact {
        /// The lake column.
        column: String,
        /// The row in the file (0 = first).
        row: usize,
        /// The double stored.
        value: f64,
        /// The column's scale.
        scale: i8,
    },
}

/// What a migration did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MigrateReport {
    /// Files rewritten in today's format.
    pub migrated: usize,
    /// Files already in today's format, left alone.
    pub current: usize,
    /// Files that could not be migrated (each logged with its reason); they are unchanged.
    pub failed: usize,
}

/// Rewrites every `orats_strikes` file of the lake that is not in today's format, one file
/// at a time, each replaced atomically ([`publish`]). Re-running it is harmless.
pub async fn migrate_strikes(lake: &Location) -> Result<MigrateReport, MigrateError> {
    let mut files: Vec<Path> = lake
        .store
        .list(Some(&lake.child(STRIKES_DIR)))
        .map_ok(|meta| meta.location)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .filter(|path| path.as_ref().ends_with(".parquet"))
        .collect();
    files.sort();
    let mut report = MigrateReport::default();
    for path in files {
        let bytes = lake.store.get(&path).await?.bytes().await?;
        let shown = lake.join_root(&path);
        match migrate_file(bytes) {
            Ok(None) => report.current += 1,
            Ok(Some(migrated)) => {
                publish(&lake.store, &path, migrated).await?;
                info!(file = %shown, "migrate-lake: rewritten with decimal columns");
                report.migrated += 1;
            }
            Err(e) => {
                error!(file = %shown, "migrate-lake: {e}");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// The file in today's format, or `None` when it already is. The rows keep their order and
/// batches of [`OUTPUT_BATCH_ROWS`], as ingest writes them, so the new file has the bytes
/// converting its archive today gives.
pub fn migrate_file(bytes: Bytes) -> Result<Option<Bytes>, MigrateError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let target = file_schema();
    let old = builder.schema().clone();
    let current = target.fields().iter().all(|field| {
        old.field_with_name(field.name())
            .is_ok_and(|f| f.data_type() == field.data_type())
    });
    if current {
        return Ok(None);
    }
    let source = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == SOURCE_KEY))
        .and_then(|kv| kv.value.clone())
        .unwrap_or_default();
    let reader = builder.with_batch_size(OUTPUT_BATCH_ROWS).build()?;
    let mut writer = ArrowWriter::try_new(
        Vec::new(),
        target.clone(),
        Some(strikes_properties(&source)),
    )?;
    let mut first_row = 0;
    for batch in reader {
        let batch = batch?;
        let columns = target
            .fields()
            .iter()
            .map(|field| convert(&batch, field, first_row))
            .collect::<Result<Vec<_>, _>>()?;
        first_row += batch.num_rows();
        writer.write(&RecordBatch::try_new(target.clone(), columns)?)?;
    }
    Ok(Some(Bytes::from(writer.into_inner()?)))
}

/// One column of `batch` as `field` has it today. A column the file lacks (`source_line`,
/// in lakes older than it) is null, as the lake reads it.
fn convert(batch: &RecordBatch, field: &Field, first_row: usize) -> Result<ArrayRef, MigrateError> {
    let Some(column) = batch.column_by_name(field.name()) else {
        return Ok(new_null_array(field.data_type(), batch.num_rows()));
    };
    match (column.data_type(), field.data_type()) {
        (found, expected) if found == expected => Ok(column.clone()),
        (DataType::Float64, &DataType::Decimal128(precision, scale)) => {
            let doubles = column.as_primitive::<Float64Type>();
            let scaled = doubles
                .iter()
                .enumerate()
                .map(|(i, value)| {
                    value
                        .map(|v| {
                            exact_decimal(v, scale).ok_or_else(|| MigrateError::NotExact {
                                column: field.name().clone(),
                                row: first_row + i,
                                value: v,
                                scale,
                            })
                        })
                        .transpose()
                })
                .collect::<Result<Decimal128Array, _>>()?;
            Ok(Arc::new(scaled.with_precision_and_scale(precision, scale)?))
        }
        (found, expected) => Err(MigrateError::Type {
            column: field.name().clone(),
            found: found.clone(),
            expected: expected.clone(),
        }),
    }
}

/// The decimal `n / 10^scale` whose double `value` is, if there is one within
/// [`DECIMAL_PRECISION`] digits: `n` is `value · 10^scale` rounded, and it is the answer only
/// when casting it back (`n / 10^scale`, as every reader does) gives `value` again.
pub fn exact_decimal(value: f64, scale: i8) -> Option<i128> {
    let power = 10_f64.powi(i32::from(scale));
    let n = (value * power).round();
    let limit = 10_f64.powi(i32::from(DECIMAL_PRECISION));
    // NaN and the infinities are no decimals.
    if !n.is_finite() || n.abs() >= limit || n / power != value {
        return None;
    }
    Some(n as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_of_short_decimals_are_exact_and_others_are_refused() {
        assert_eq!(exact_decimal(0.01054919, 8), Some(1_054_919));
        assert_eq!(exact_decimal(6024.91, 4), Some(60_249_100));
        assert_eq!(exact_decimal(-0.0033, 4), Some(-33));
        assert_eq!(exact_decimal(0.0, 2), Some(0));
        assert_eq!(exact_decimal(-0.0, 2), Some(0));
        assert_eq!(exact_decimal(0.123456789, 8), None, "nine decimals");
        assert_eq!(exact_decimal(1e15, 0), None, "sixteen digits");
        assert_eq!(exact_decimal(f64::NAN, 2), None);
        assert_eq!(exact_decimal(f64::INFINITY, 2), None);
    }
}
