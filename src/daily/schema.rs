//! The columns of the `orats_daily` dataset (ORATS_DAILY.md §2–3) and of the
//! history step's input.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// The aggregation step's columns, in file order: the first of the file's columns.
pub const AGGREGATE_COLUMNS: [(&str, DataType); 12] = [
    ("symbol", DataType::Utf8),
    ("asof_date", DataType::Date32),
    ("call_volume", DataType::Int64),
    ("put_volume", DataType::Int64),
    ("call_open_interest", DataType::Int64),
    ("put_open_interest", DataType::Int64),
    ("total_volume", DataType::Int64),
    ("total_open_interest", DataType::Int64),
    ("avg_daily_volume", DataType::Int64),
    ("iv_30day", DataType::Float64),
    ("stock_price", DataType::Float64),
    ("avg_daily_premium", DataType::Int64),
];

/// The history step's columns, after the aggregates.
const HISTORY_COLUMNS: [(&str, DataType); 25] = [
    ("delta_call_oi", DataType::Int64),
    ("delta_put_oi", DataType::Int64),
    ("iv_rank", DataType::Float64),
    ("hv_30day", DataType::Float64),
    ("volume_ema_7d", DataType::Int64),
    ("volume_ema_30d", DataType::Int64),
    ("volume_ema_60d", DataType::Int64),
    ("iv_rank_ema_7d", DataType::Float64),
    ("iv_rank_ema_30d", DataType::Float64),
    ("iv_rank_ema_60d", DataType::Float64),
    ("volume_zscore", DataType::Float64),
    ("iv_rank_zscore", DataType::Float64),
    ("volume_trend_pct", DataType::Float64),
    ("iv_rank_trend_pct", DataType::Float64),
    ("iv_hv_ratio", DataType::Float64),
    ("hv_slope", DataType::Float64),
    ("iv_30d_zscore", DataType::Float64),
    ("open_interest_zscore", DataType::Float64),
    ("volume_accel", DataType::Float64),
    ("premium_flow", DataType::Int64),
    ("price_momentum_20d", DataType::Float64),
    ("vol_regime", DataType::Int16),
    ("put_call_volume_skew", DataType::Float64),
    ("put_call_oi_skew", DataType::Float64),
    ("volume_price_interaction", DataType::Float64),
];

fn field(name: &str, data_type: &DataType) -> Field {
    // The key columns are never null; every value column may be.
    let key = name == "symbol" || name == "asof_date";
    Field::new(name, data_type.clone(), !key)
}

/// The schema of an `orats_daily` file (`trade_date` is the hive partition,
/// not a column; it equals `asof_date`).
pub fn daily_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let fields: Vec<Field> = AGGREGATE_COLUMNS
                .iter()
                .chain(HISTORY_COLUMNS.iter())
                .map(|(name, data_type)| field(name, data_type))
                .collect();
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// The schema of the history step's input table `daily_input`: the
/// aggregates, whether the row is being computed, and a stored row's rounded
/// `iv_rank` and `hv_30day` (null on rows being computed).
pub fn input_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields: Vec<Field> = AGGREGATE_COLUMNS
                .iter()
                .map(|(name, data_type)| field(name, data_type))
                .collect();
            fields.push(Field::new("is_target", DataType::Boolean, false));
            fields.push(Field::new("stored_iv_rank", DataType::Float64, true));
            fields.push(Field::new("stored_hv_30day", DataType::Float64, true));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_schema_has_the_contract_columns_in_order() {
        let schema = daily_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names.len(), 37);
        assert_eq!(names[..3], ["symbol", "asof_date", "call_volume"]);
        assert_eq!(
            names[11..14],
            ["avg_daily_premium", "delta_call_oi", "delta_put_oi"]
        );
        assert_eq!(names[36], "volume_price_interaction");
        assert!(!schema.field(0).is_nullable() && !schema.field(1).is_nullable());
        assert_eq!(
            schema.field_with_name("vol_regime").unwrap().data_type(),
            &DataType::Int16
        );
    }
}
