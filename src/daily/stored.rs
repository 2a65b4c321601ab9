//! Reading stored `orats_daily` partitions: the dates the dataset holds, one
//! date's rows, and the earlier rows the windows of a run reach back to.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, Date32Type};
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::DailyError;
use super::first_dates::FirstDates;
use super::schema::{AGGREGATE_COLUMNS, daily_schema, input_schema};
use crate::lake::{DAILY_DIR, daily_file, partition_date};
use crate::metrics::engine::subdirectories;
use crate::store::Location;

/// Rows of history a row's windows read besides itself: the 60-row windows
/// (59 before), which also cover the 60- and 46-calendar-day ranges (one row
/// per date) and the previous calendar day.
pub const ROWS_BEFORE: usize = 59;

/// Stored partitions read at once while looking back.
const LOOKBACK_BATCH: usize = 64;

/// The dates the lake's `orats_daily` dataset holds.
pub async fn daily_dates(lake: &Location) -> Result<BTreeSet<NaiveDate>, DailyError> {
    let segments = subdirectories(lake, DAILY_DIR).await?;
    Ok(segments.iter().filter_map(|s| partition_date(s)).collect())
}

/// One stored date's rows (in the file's schema).
pub async fn read_partition(lake: &Location, date: NaiveDate) -> Result<RecordBatch, DailyError> {
    let relative = daily_file(date);
    let store_error = |source| DailyError::Store {
        lake: lake.url(),
        source,
    };
    let bytes = lake
        .store
        .get(&lake.child(&relative))
        .await
        .map_err(store_error)?
        .bytes()
        .await
        .map_err(store_error)?;
    let bad_file = |e: &dyn std::fmt::Display| DailyError::BadFile {
        path: lake.child_url(&relative, false),
        message: e.to_string(),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| bad_file(&e))?
        .build()
        .map_err(|e| bad_file(&e))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_file(&e))?;
    let schema = daily_schema();
    if let Some(first) = batches.first()
        && first.schema().fields() != schema.fields()
    {
        return Err(bad_file(&"its columns are not those of orats_daily"));
    }
    Ok(concat_batches(&schema, &batches)?)
}

/// A history input batch from stored rows: their aggregates, `is_target`,
/// and (for context rows) their stored `iv_rank` and `hv_30day`.
pub fn as_input(stored: &RecordBatch, is_target: bool) -> Result<RecordBatch, DailyError> {
    let rows = stored.num_rows();
    let mut columns: Vec<ArrayRef> = AGGREGATE_COLUMNS
        .iter()
        .map(|(name, _)| stored.column_by_name(name).cloned())
        .collect::<Option<_>>()
        .expect("a stored batch has every aggregate column");
    columns.push(Arc::new(BooleanArray::from(vec![is_target; rows])));
    for name in ["iv_rank", "hv_30day"] {
        columns.push(if is_target {
            new_null_array(&DataType::Float64, rows)
        } else {
            Arc::clone(
                stored
                    .column_by_name(name)
                    .expect("a stored batch has iv_rank and hv_30day"),
            )
        });
    }
    Ok(RecordBatch::try_new(input_schema(), columns)?)
}

/// Each symbol's last `keep` rows of `batch` (which has `symbol` and
/// `asof_date` columns), in (symbol, asof_date) order.
pub fn last_rows_per_symbol(batch: &RecordBatch, keep: usize) -> Result<RecordBatch, DailyError> {
    let key = |name: &str| SortColumn {
        values: Arc::clone(batch.column_by_name(name).expect("key column")),
        options: None,
    };
    let order = lexsort_to_indices(&[key("symbol"), key("asof_date")], None)?;
    let symbols = batch
        .column_by_name("symbol")
        .expect("symbol")
        .as_string::<i32>();
    let mut kept: Vec<u32> = Vec::with_capacity(order.len());
    let mut run: Vec<u32> = Vec::new();
    for index in order.values() {
        if let Some(last) = run.last()
            && symbols.value(*last as usize) != symbols.value(*index as usize)
        {
            kept.extend(&run[run.len().saturating_sub(keep)..]);
            run.clear();
        }
        run.push(*index);
    }
    kept.extend(&run[run.len().saturating_sub(keep)..]);
    Ok(take_record_batch(batch, &UInt32Array::from(kept))?)
}

/// The stored rows before `before` of the given symbols that a run's windows
/// read: each symbol's last [`ROWS_BEFORE`] rows, as context input.
///
/// Partitions are read newest first, a batch at a time, until every symbol
/// has its rows or the scan has passed its first stored date (`first_dates`):
/// a symbol new to the lake reads nothing, one listed a month ago reads a
/// month of partitions.
pub async fn lookback(
    lake: &Location,
    stored: &BTreeSet<NaiveDate>,
    before: NaiveDate,
    symbols: &BTreeSet<String>,
    first_dates: &FirstDates,
) -> Result<RecordBatch, DailyError> {
    // Each symbol with earlier rows: (rows found, its first stored date).
    let mut wanted: BTreeMap<&str, (usize, NaiveDate)> = symbols
        .iter()
        .filter_map(|s| {
            let first = first_dates.first(s)?;
            (first < before).then_some((s.as_str(), (0, first)))
        })
        .collect();
    let mut found: Vec<RecordBatch> = Vec::new();
    let earlier: Vec<NaiveDate> = stored.range(..before).rev().copied().collect();
    for dates in earlier.chunks(LOOKBACK_BATCH) {
        // Every symbol has its rows, or the scan is past its first date.
        let newest = dates[0];
        wanted.retain(|_, (n, first)| *n < ROWS_BEFORE && *first <= newest);
        if wanted.is_empty() {
            break;
        }
        // A batch of partitions is fetched at once (a request each on GCS/S3),
        // then taken newest first.
        let partitions =
            futures::future::try_join_all(dates.iter().map(|d| read_partition(lake, *d))).await?;
        for rows in partitions {
            let names = rows.column(0).as_string::<i32>();
            let mut take = Vec::new();
            for (i, name) in names.iter().enumerate() {
                if let Some((count, _)) = name.and_then(|n| wanted.get_mut(n))
                    && *count < ROWS_BEFORE
                {
                    *count += 1;
                    take.push(i as u32);
                }
            }
            if !take.is_empty() {
                let rows = take_record_batch(&rows, &UInt32Array::from(take))?;
                found.push(as_input(&rows, false)?);
            }
        }
    }
    Ok(concat_batches(&input_schema(), &found)?)
}

/// The distinct symbols of an input batch.
pub fn symbols(batch: &RecordBatch) -> BTreeSet<String> {
    batch
        .column(0)
        .as_string::<i32>()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect()
}

/// The `asof_date`s of a batch's rows, in days since 1970-01-01.
pub fn row_dates(batch: &RecordBatch) -> Vec<i32> {
    batch
        .column(1)
        .as_primitive::<Date32Type>()
        .values()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    #[test]
    fn keeps_each_symbols_latest_rows() {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("symbol", DataType::Utf8, false),
                Field::new("asof_date", DataType::Date32, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["B", "A", "B", "A", "A", "B"])),
                Arc::new(Date32Array::from(vec![3, 1, 1, 2, 3, 2])),
            ],
        )
        .unwrap();
        let kept = last_rows_per_symbol(&batch, 2).unwrap();
        let symbols: Vec<&str> = kept.column(0).as_string::<i32>().iter().flatten().collect();
        assert_eq!(symbols, ["A", "A", "B", "B"]);
        assert_eq!(row_dates(&kept), [2, 3, 2, 3]);
        assert_eq!(last_rows_per_symbol(&batch, 0).unwrap().num_rows(), 0);
    }
}
