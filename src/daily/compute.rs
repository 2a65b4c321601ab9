//! Running the `orats_daily` SQL (`queries/orats_daily/*.sql`) with DataFusion:
//! the aggregation of one date's strikes, and the history step.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{
    SortColumn, cast, concat_batches, filter_record_batch, lexsort_to_indices, not,
    take_record_batch,
};
use datafusion::arrow::datatypes::Date32Type;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::DailyError;
use super::schema::{daily_schema, input_schema};
use crate::orats::values::date_to_days;

/// The aggregation step: one row per (symbol, date) of the strikes.
pub const AGGREGATE_SQL: &str = include_str!("../../queries/orats_daily/01_aggregate.sql");
/// The history step: the windows over `daily_input`.
pub const HISTORY_SQL: &str = include_str!("../../queries/orats_daily/02_history.sql");

/// The aggregates of a set of dates, ready as history input.
#[derive(Debug)]
pub struct DayAggregates {
    /// The rows (input schema, `is_target` set).
    pub rows: RecordBatch,
    /// Symbols skipped as empty or longer than 10 characters (summed over
    /// the dates).
    pub skipped_symbols: u64,
}

/// Aggregates the strikes (the session's `strikes` table) of `dates`
/// (ascending, not empty) in one query.
///
/// The query reads the span `[first, last]`, so the listing is pruned to it,
/// and the rows of dates between them that were not asked for are dropped:
/// one scan for a run's chunk of dates instead of one query a date, whose
/// planning and listing cost as much as a small day's aggregation.
pub async fn aggregate(
    ctx: &SessionContext,
    dates: &[NaiveDate],
) -> Result<DayAggregates, DailyError> {
    let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
        return Ok(DayAggregates {
            rows: RecordBatch::new_empty(input_schema()),
            skipped_symbols: 0,
        });
    };
    let bound = |d: &NaiveDate| ScalarValue::Date32(Some(date_to_days(*d)));
    let frame = ctx
        .sql(AGGREGATE_SQL)
        .await?
        .with_param_values(vec![("from_date", bound(first)), ("to_date", bound(last))])?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    let all = concat_batches(&schema, &batches)?;
    let wanted: std::collections::HashSet<i32> = dates.iter().map(|d| date_to_days(*d)).collect();
    let asked = BooleanArray::from_iter(
        all.column_by_name("asof_date")
            .expect("the aggregate selects asof_date")
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| Some(d.is_some_and(|d| wanted.contains(&d)))),
    );
    let all = filter_record_batch(&all, &asked)?;
    let skipped = all
        .column_by_name("skipped")
        .expect("the aggregate selects skipped")
        .as_boolean()
        .clone();
    let skipped_symbols = skipped.true_count() as u64;
    let kept = filter_record_batch(&all, &not(&skipped)?)?;
    let rows = conform(&kept, &input_schema(), |name| match name {
        "is_target" => Some(ScalarValue::Boolean(Some(true))),
        "stored_iv_rank" | "stored_hv_30day" => Some(ScalarValue::Float64(None)),
        _ => None,
    })?;
    Ok(DayAggregates {
        rows,
        skipped_symbols,
    })
}

/// `batch`'s columns cast to `schema` (by name); columns `batch` lacks take
/// the constant `fill` gives.
fn conform(
    batch: &RecordBatch,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    fill: impl Fn(&str) -> Option<ScalarValue>,
) -> Result<RecordBatch, DailyError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column: ArrayRef = match batch.column_by_name(field.name()) {
                Some(column) => cast(column, field.data_type())?,
                None => {
                    let value = fill(field.name()).unwrap_or_else(|| {
                        panic!("the SQL selects {}", field.name());
                    });
                    value.to_array_of_size(batch.num_rows())?
                }
            };
            Ok(column)
        })
        .collect::<Result<Vec<_>, DailyError>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The history step over `input` (context rows and the rows being computed):
/// the computed rows in the file schema, in (asof_date, symbol) order.
pub async fn history(ctx: &SessionContext, input: RecordBatch) -> Result<RecordBatch, DailyError> {
    let table = MemTable::try_new(input_schema(), vec![vec![input]])?;
    ctx.deregister_table("daily_input")?;
    ctx.register_table("daily_input", Arc::new(table))?;
    let frame = ctx.sql(HISTORY_SQL).await;
    let result = match frame {
        Ok(frame) => {
            let schema = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await;
            batches.map(|b| (schema, b))
        }
        Err(e) => Err(e),
    };
    ctx.deregister_table("daily_input")?;
    let (schema, batches) = result?;
    let all = concat_batches(&schema, &batches)?;
    let rows = conform(&all, &daily_schema(), |_| None)?;
    let key = |name: &str| SortColumn {
        values: Arc::clone(rows.column_by_name(name).expect("key column")),
        options: None,
    };
    let order = lexsort_to_indices(&[key("asof_date"), key("symbol")], None)?;
    Ok(take_record_batch(&rows, &order)?)
}
