//! Writing computed metrics to the lake: one `dealer_metrics` Parquet file per parameter set
//! and trade date, each row carrying the parameters that made it, published atomically.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::error::DataFusionError;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, compute_leaves,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::engine::MetricsError;
use super::params::MetricsParams;
use crate::lake::metrics_partition;
use crate::lake::writer::publish;
use crate::orats::values::days_to_date;
use crate::store::Location;

/// Writer properties of a `dealer_metrics` file.
fn metrics_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("gexlake {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A file of fewer rows than this a thread is encoded on fewer threads (a few
/// tickers' file on the calling thread alone): starting a thread costs more
/// than encoding a few hundred rows.
const ROWS_PER_ENCODING_THREAD: usize = 512;

/// One day's results as a Parquet file of one row group, its columns encoded
/// side by side, one thread a core (fewer for a small file,
/// [`ROWS_PER_ENCODING_THREAD`]): the same bytes as [`ArrowWriter`] writing the
/// batch (the same column writers, appended in column order), in about half the
/// time on two cores. The file was encoded on one core after the computation had
/// finished with both (~17 ms of a ~0.24 s one-day run).
fn encode(batch: &RecordBatch) -> Result<Vec<u8>, ParquetError> {
    let props = metrics_properties();
    let one_group = fits_one_row_group(&props, batch.num_rows());
    let whole = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props))?;
    if !one_group {
        // Never for one day of tickers; ArrowWriter splits the row groups.
        let mut whole = whole;
        whole.write(batch)?;
        return whole.into_inner();
    }
    let (mut file, factory) = whole.into_serialized_writer()?;
    let mut leaves = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        leaves.extend(compute_leaves(field, column)?);
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(batch.num_rows() / ROWS_PER_ENCODING_THREAD)
        .max(1);
    let mut shares: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, pair) in factory
        .create_column_writers(0)?
        .into_iter()
        .zip(leaves)
        .enumerate()
    {
        shares[i % threads].push((i, pair));
    }
    let encode_share = |share: Vec<(usize, (ArrowColumnWriter, ArrowLeafColumn))>| {
        share
            .into_iter()
            .map(|(i, (mut writer, leaf))| {
                writer.write(&leaf)?;
                Ok((i, writer.close()?))
            })
            .collect::<Result<Vec<(usize, ArrowColumnChunk)>, ParquetError>>()
    };
    let encoded: Vec<_> = if threads == 1 {
        shares.into_iter().map(encode_share).collect()
    } else {
        std::thread::scope(|scope| {
            let running: Vec<_> = shares
                .into_iter()
                .map(|share| scope.spawn(move || encode_share(share)))
                .collect();
            running
                .into_iter()
                .map(|thread| thread.join().expect("a column encoder panicked"))
                .collect()
        })
    };
    let mut chunks = Vec::new();
    for share in encoded {
        chunks.extend(share?);
    }
    chunks.sort_unstable_by_key(|(i, _)| *i);
    let mut row_group = file.next_row_group()?;
    for (_, chunk) in chunks {
        chunk.append_to_row_group(&mut row_group)?;
    }
    row_group.close()?;
    file.into_inner()
}

/// Whether `ArrowWriter` would write `rows` rows as a single row group.
fn fits_one_row_group(props: &WriterProperties, rows: usize) -> bool {
    props.max_row_group_bytes().is_none()
        && props
            .max_row_group_row_count()
            .is_none_or(|max| rows <= max)
}

/// The columns recording how a result was made, appended to every row: each
/// effective parameter as its own column (easy to compare across runs), their
/// hash, the whole set as JSON (with per-ticker spot overrides) and the model version.
/// The §10 rule columns are nullable: results written before they existed read
/// as null there, beside the new ones, in one `dealer_metrics` table.
fn parameter_columns(params: &MetricsParams, rows: usize) -> Vec<(Field, ArrayRef)> {
    use datafusion::arrow::array::{BooleanArray, Int32Array, Int64Array};
    // One buffer of the value repeated, not a String a row.
    let text = |v: String| {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            v.as_str(),
            rows,
        ))) as ArrayRef
    };
    let int = |v: Option<i64>| Arc::new(Int64Array::from(vec![v; rows])) as ArrayRef;
    let float = |v: Option<f64>| Arc::new(Float64Array::from(vec![v; rows])) as ArrayRef;
    vec![
        (
            Field::new("profile", DataType::Utf8, false),
            text(params.profile.name().to_string()),
        ),
        (
            Field::new("exclude_expired", DataType::Boolean, false),
            Arc::new(BooleanArray::from(vec![params.exclude_expired; rows])),
        ),
        (
            Field::new("max_dte_days", DataType::Int64, true),
            int(params.max_dte_days),
        ),
        (
            Field::new("min_open_interest", DataType::Int64, false),
            int(Some(params.min_open_interest)),
        ),
        (
            Field::new("min_volume", DataType::Int64, false),
            int(Some(params.min_volume)),
        ),
        (
            Field::new("walls_top_n", DataType::Int64, false),
            int(Some(params.walls_top_n)),
        ),
        (
            Field::new("gex_slope_range_pct", DataType::Float64, false),
            float(Some(params.gex_slope_range_pct)),
        ),
        (
            Field::new("contract_multiplier", DataType::Int64, false),
            int(Some(params.contract_multiplier)),
        ),
        (
            Field::new("neutral_threshold", DataType::Float64, false),
            float(Some(params.neutral_threshold)),
        ),
        (
            Field::new("flip_rule", DataType::Utf8, true),
            text(params.flip_rule.to_string()),
        ),
        (
            Field::new("flip_strike_range_low", DataType::Float64, true),
            float(params.flip_strike_range.map(|r| r.low)),
        ),
        (
            Field::new("flip_strike_range_high", DataType::Float64, true),
            float(params.flip_strike_range.map(|r| r.high)),
        ),
        (
            Field::new("missing_gamma", DataType::Utf8, true),
            text(params.missing_gamma.to_string()),
        ),
        (
            Field::new("spot_rule", DataType::Utf8, true),
            text(params.spot_rule.to_string()),
        ),
        (
            Field::new("leg_spot", DataType::Utf8, true),
            text(params.leg_spot.to_string()),
        ),
        (
            Field::new("contracts_rule", DataType::Utf8, true),
            text(params.contracts_rule.to_string()),
        ),
        (
            Field::new("wall_rule", DataType::Utf8, true),
            text(params.wall_rule.to_string()),
        ),
        (
            Field::new("params_hash", DataType::Utf8, false),
            text(params.hash()),
        ),
        (
            Field::new("parameters", DataType::Utf8, false),
            text(serde_json::to_string(params).expect("parameters serialize")),
        ),
        (
            Field::new("model_version", DataType::Int32, false),
            Arc::new(Int32Array::from(vec![params.model_version(); rows])),
        ),
    ]
}

/// Writes each date's rows to `dealer_metrics/params=<name>/trade_date=D/part.parquet`,
/// replacing that partition atomically; other dates and parameter sets are untouched.
/// Returns the lake-relative paths written.
pub async fn write_partitions(
    lake: &Location,
    params: &MetricsParams,
    batches: &[RecordBatch],
) -> Result<Vec<String>, MetricsError> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let all = datafusion::arrow::compute::concat_batches(&first.schema(), batches)
        .map_err(DataFusionError::from)?;
    let date_idx = all
        .schema()
        .index_of("trade_date")
        .map_err(DataFusionError::from)?;
    let dates = all
        .column(date_idx)
        .as_any()
        .downcast_ref::<Date32Array>()
        .expect("trade_date is Date32")
        .clone();
    let name = params.name();
    let mut written = Vec::new();
    let mut start = 0;
    while start < all.num_rows() {
        let day = dates.value(start);
        let mut end = start;
        while end < all.num_rows() && dates.value(end) == day {
            end += 1;
        }
        let slice = all.slice(start, end - start);
        let mut fields: Vec<Field> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (i, field) in slice.schema().fields().iter().enumerate() {
            if i != date_idx {
                fields.push(field.as_ref().clone());
                columns.push(slice.column(i).clone());
            }
        }
        for (field, column) in parameter_columns(params, slice.num_rows()) {
            fields.push(field);
            columns.push(column);
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(DataFusionError::from)?;
        let bytes = encode(&batch)?;
        let relative = format!(
            "{}/part.parquet",
            metrics_partition(&name, days_to_date(day))
        );
        publish(&lake.store, &lake.child(&relative), Bytes::from(bytes))
            .await
            .map_err(|source| MetricsError::Store {
                lake: lake.url(),
                source,
            })?;
        written.push(relative);
        start = end;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Builder, StringBuilder};
    use datafusion::arrow::array::{Int64Array, ListBuilder, StructBuilder};
    use datafusion::arrow::datatypes::Fields;

    /// A batch shaped like a day of results: text, nullable numbers and a list
    /// of (strike, gex) structs, the wall columns' type.
    fn results(rows: usize) -> RecordBatch {
        let wall = Fields::from(vec![
            Field::new("strike", DataType::Float64, true),
            Field::new("gex", DataType::Float64, true),
        ]);
        let mut walls = ListBuilder::new(StructBuilder::from_fields(wall.clone(), rows));
        for r in 0..rows {
            for k in 0..r % 4 {
                let entry = walls.values();
                entry
                    .field_builder::<Float64Builder>(0)
                    .expect("strike")
                    .append_value(100.0 + (r * 7 + k) as f64 * 0.5);
                entry
                    .field_builder::<Float64Builder>(1)
                    .expect("gex")
                    .append_option((k != 2).then_some(r as f64 * 1.25e6 - k as f64));
                entry.append(true);
            }
            walls.append(r % 9 != 0);
        }
        let mut tickers = StringBuilder::new();
        for r in 0..rows {
            tickers.append_value(format!("T{:04}", r * 37 % 5003));
        }
        let gex: Float64Array = (0..rows)
            .map(|r| (r % 5 != 0).then_some((r as f64).sin() * 1e9))
            .collect();
        let counts = Int64Array::from_iter_values((0..rows).map(|r| (r * r % 977) as i64));
        let schema = Schema::new(vec![
            Field::new("ticker", DataType::Utf8, false),
            Field::new("gex_net", DataType::Float64, true),
            Field::new("strikes", DataType::Int64, false),
            Field::new(
                "call_walls",
                DataType::List(Arc::new(Field::new("item", DataType::Struct(wall), true))),
                true,
            ),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(tickers.finish()),
                Arc::new(gex),
                Arc::new(counts),
                Arc::new(walls.finish()),
            ],
        )
        .expect("a valid batch")
    }

    #[test]
    fn columns_encoded_side_by_side_give_the_bytes_of_one_writer() {
        for rows in [1, 5_800] {
            // The side-by-side path, not ArrowWriter's own.
            assert!(fits_one_row_group(&metrics_properties(), rows));
            let batch = results(rows);
            let mut one =
                ArrowWriter::try_new(Vec::new(), batch.schema(), Some(metrics_properties()))
                    .expect("writer");
            one.write(&batch).expect("write");
            let expected = one.into_inner().expect("file");
            let bytes = encode(&batch).expect("encoded");
            assert_eq!(bytes, expected, "{rows} rows");
            let back: Vec<RecordBatch> =
                parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
                    Bytes::from(bytes),
                    8192,
                )
                .expect("reader")
                .collect::<Result<_, _>>()
                .expect("batches");
            let back = datafusion::arrow::compute::concat_batches(&batch.schema(), &back)
                .expect("one batch");
            assert_eq!(back, batch, "{rows} rows read back");
        }
    }
}
