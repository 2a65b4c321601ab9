//! `orats_daily`: the lake's symbol-level rows (ORATS_DAILY.md §2–3) as one UNNEST upsert
//! statement per batch of rows.
//!
//! The input is Arrow record batches with the contract's columns and `asof_date`; rows are
//! references into them, so a year of history is never copied into row structs. Rows are
//! sorted by (asof_date, symbol) before they are split into statements, so the statements, and
//! therefore the stored rows, are the same whatever the input's batch split or order.

use std::future::Future;
use std::sync::LazyLock;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Float64Type, Int16Type, Int64Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use sqlx::PgPool;

use super::{Keyed, SinkError, SinkReport, Upsert};

/// The table's name.
pub(crate) const TABLE: &str = "orats_daily";

/// The Arrow type of a contract column, and so the Postgres array type it is bound as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `Int64` → `int8[]`.
    Int64,
    /// `Float64` → `float8[]`; NUMERIC(p, N) columns round it on assignment.
    Float64,
    /// `Int16` → `int2[]`.
    Int16,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Int16 => DataType::Int16,
        }
    }

    fn sql_array(self) -> &'static str {
        match self {
            Kind::Int64 => "int8[]",
            Kind::Float64 => "float8[]",
            Kind::Int16 => "int2[]",
        }
    }
}

impl Kind {
    /// The kind of a lake column of type `data_type`.
    fn of(data_type: &DataType) -> Kind {
        match data_type {
            DataType::Int64 => Kind::Int64,
            DataType::Float64 => Kind::Float64,
            DataType::Int16 => Kind::Int16,
            other => unreachable!("orats_daily has no {other} value column"),
        }
    }
}

/// The contract's columns after the key, in the table's order (migrations/0005): the
/// lake's `orats_daily` columns after `symbol` and `asof_date`, as the dataset defines them.
static COLUMNS: LazyLock<Vec<(String, Kind)>> = LazyLock::new(|| {
    crate::daily::schema::daily_schema()
        .fields()
        .iter()
        .skip(2)
        .map(|f| (f.name().clone(), Kind::of(f.data_type())))
        .collect()
});

/// Generated from [`COLUMNS`] (35 columns, each named five times, would hide a typo). On
/// conflict only the contract's columns and `updated_at` change, and only when a value does,
/// so a V1 table's other columns survive and a re-run leaves `updated_at` alone. The float8
/// values are cast by the columns' own types on assignment: NUMERIC(p, N) rounds as the
/// contract says, and a V1 column of another type keeps its type.
static UPSERT: LazyLock<String> = LazyLock::new(upsert_statement);

fn upsert_statement() -> String {
    let list = |item: &dyn Fn(&str) -> String| {
        COLUMNS
            .iter()
            .map(|(name, _)| item(name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names = list(&|name| name.to_string());
    let arrays = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| format!("${}::{}", i + 3, kind.sql_array()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO orats_daily AS o (asof_date, symbol, {names}, updated_at)
SELECT u.asof_date, u.symbol, {selected}, now()
FROM UNNEST($1::date[], $2::text[], {arrays})
    AS u(asof_date, symbol, {names})
ON CONFLICT (asof_date, symbol) DO UPDATE
SET {set}, updated_at = EXCLUDED.updated_at
WHERE ({stored}) IS DISTINCT FROM ({excluded})",
        selected = list(&|name| format!("u.{name}")),
        set = list(&|name| format!("{name} = EXCLUDED.{name}")),
        stored = list(&|name| format!("o.{name}")),
        excluded = list(&|name| format!("EXCLUDED.{name}")),
    )
}

/// One input batch's columns, checked: the key columns typed, the others in [`COLUMNS`] order.
pub(crate) struct BatchColumns {
    symbols: StringArray,
    dates: Vec<NaiveDate>,
    values: Vec<ArrayRef>,
}

/// Checks every batch's columns (present, typed as the contract says, keys not null) before
/// anything is written: a wrong input is the caller's bug, not a row's fault.
pub(crate) fn columns(batches: &[RecordBatch]) -> Result<Vec<BatchColumns>, SinkError> {
    batches
        .iter()
        .enumerate()
        .map(|(i, batch)| {
            batch_columns(batch).map_err(|reason| SinkError::OratsDailyInput { batch: i, reason })
        })
        .collect()
}

fn batch_columns(batch: &RecordBatch) -> Result<BatchColumns, String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("column {name} is missing"))
    };
    let typed = |name: &str, expected: DataType| -> Result<ArrayRef, String> {
        let array = column(name)?;
        if array.data_type() == &expected {
            Ok(array.clone())
        } else {
            Err(format!(
                "column {name} is {}, expected {expected}",
                array.data_type()
            ))
        }
    };
    let not_null = |name: &str, array: &ArrayRef| {
        if array.null_count() == 0 {
            Ok(())
        } else {
            Err(format!("column {name} has {} nulls", array.null_count()))
        }
    };
    // DataFusion reads Parquet strings as views: any string type is accepted.
    let symbols = column("symbol")?;
    let symbols = match symbols.data_type() {
        DataType::Utf8 => symbols.clone(),
        DataType::LargeUtf8 | DataType::Utf8View => {
            cast(symbols, &DataType::Utf8).map_err(|e| format!("column symbol: {e}"))?
        }
        other => return Err(format!("column symbol is {other}, expected Utf8")),
    };
    not_null("symbol", &symbols)?;
    let dates = typed("asof_date", DataType::Date32)?;
    not_null("asof_date", &dates)?;
    let dates = dates.as_primitive::<Date32Type>();
    let dates = (0..dates.len())
        .map(|i| {
            dates.value_as_date(i).ok_or_else(|| {
                format!(
                    "column asof_date holds day {} after 1970-01-01, beyond the calendar",
                    dates.value(i)
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let values = COLUMNS
        .iter()
        .map(|(name, kind)| typed(name, kind.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BatchColumns {
        symbols: symbols.as_string::<i32>().clone(),
        dates,
        values,
    })
}

/// One input row: where it is, and its key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OratsRow<'a> {
    batch: usize,
    index: usize,
    symbol: &'a str,
    date: NaiveDate,
}

impl Keyed for OratsRow<'_> {
    fn ticker(&self) -> &str {
        self.symbol
    }

    fn trade_date(&self) -> NaiveDate {
        self.date
    }
}

/// The rows to write, sorted by (asof_date, symbol), one per key (the last given); counts the
/// dropped duplicates in `report` and soft-fails there the rows holding a NaN or an infinity
/// (NUMERIC would store NaN, which no reader expects, or refuse an infinity).
pub(crate) fn rows<'a>(columns: &'a [BatchColumns], report: &mut SinkReport) -> Vec<OratsRow<'a>> {
    let mut rows: Vec<OratsRow<'a>> =
        Vec::with_capacity(columns.iter().map(|c| c.dates.len()).sum());
    for (batch, c) in columns.iter().enumerate() {
        for (index, date) in c.dates.iter().enumerate() {
            rows.push(OratsRow {
                batch,
                index,
                symbol: c.symbols.value(index),
                date: *date,
            });
        }
    }
    // Stable: equal keys keep their input order, so the last of each run is the last given.
    rows.sort_by_key(|row| (row.date, row.symbol));
    let total = rows.len();
    let mut unique: Vec<OratsRow<'a>> = Vec::with_capacity(total);
    for row in rows {
        match unique.last_mut() {
            Some(last) if (last.date, last.symbol) == (row.date, row.symbol) => *last = row,
            _ => unique.push(row),
        }
    }
    report.duplicates += total - unique.len();
    unique.retain(|row| match non_finite(&columns[row.batch], row.index) {
        None => true,
        Some(reason) => {
            report.soft_fail(&[*row], &reason);
            false
        }
    });
    unique
}

/// Why the row cannot be stored, if one of its numbers is NaN or infinite.
fn non_finite(columns: &BatchColumns, index: usize) -> Option<String> {
    COLUMNS
        .iter()
        .zip(&columns.values)
        .filter(|((_, kind), _)| *kind == Kind::Float64)
        .find_map(|((name, _), array)| {
            let array = array.as_primitive::<Float64Type>();
            let value = array.value(index);
            (array.is_valid(index) && !value.is_finite())
                .then(|| format!("{name} is {value}: the table holds finite numbers only"))
        })
}

/// The upsert of checked input rows into `orats_daily`.
pub(crate) struct OratsDailyUpsert<'a> {
    /// The input the rows point into.
    pub(crate) columns: &'a [BatchColumns],
}

impl OratsDailyUpsert<'_> {
    /// Column `c` of [`COLUMNS`] for `rows`, nulls kept.
    fn gather<T: ArrowPrimitiveType>(
        &self,
        rows: &[OratsRow<'_>],
        c: usize,
    ) -> Vec<Option<T::Native>> {
        rows.iter()
            .map(|row| {
                let array = self.columns[row.batch].values[c].as_primitive::<T>();
                array.is_valid(row.index).then(|| array.value(row.index))
            })
            .collect()
    }
}

impl<'r> Upsert for OratsDailyUpsert<'r> {
    type Row = OratsRow<'r>;

    fn table(&self) -> &'static str {
        TABLE
    }

    fn write<'a>(
        &'a self,
        pool: &'a PgPool,
        rows: &'a [Self::Row],
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a {
        let mut query = sqlx::query(UPSERT.as_str())
            .bind(rows.iter().map(|r| r.date).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.symbol).collect::<Vec<_>>());
        for (c, (_, kind)) in COLUMNS.iter().enumerate() {
            query = match kind {
                Kind::Int64 => query.bind(self.gather::<Int64Type>(rows, c)),
                Kind::Float64 => query.bind(self.gather::<Float64Type>(rows, c)),
                Kind::Int16 => query.bind(self.gather::<Int16Type>(rows, c)),
            };
        }
        async move { Ok(query.execute(pool).await?.rows_affected()) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        Date32Array, LargeStringArray, StringViewArray, new_null_array,
    };
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, d).unwrap()
    }

    /// A batch with the given key columns and every contract column null, `vol_regime` typed
    /// `regime`.
    fn batch(symbols: ArrayRef, dates: &[NaiveDate], regime: DataType) -> RecordBatch {
        let rows = dates.len();
        let mut fields = vec![
            Field::new("symbol", symbols.data_type().clone(), true),
            Field::new("asof_date", DataType::Date32, false),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            symbols,
            Arc::new(Date32Array::from_iter_values(
                dates.iter().map(|d| Date32Type::from_naive_date(*d)),
            )),
        ];
        for (name, kind) in COLUMNS.iter() {
            let data_type = match name.as_str() {
                "vol_regime" => regime.clone(),
                _ => kind.data_type(),
            };
            columns.push(new_null_array(&data_type, rows));
            fields.push(Field::new(name, data_type, true));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn rows_are_sorted_by_key_one_per_key_the_last_given_whatever_the_string_type() {
        let view = StringViewArray::from(vec!["MSFT", "AAPL", "AAPL"]);
        let large = LargeStringArray::from(vec!["AAPL"]);
        let input = [
            batch(Arc::new(view), &[day(8), day(8), day(7)], DataType::Int16),
            batch(Arc::new(large), &[day(8)], DataType::Int16),
        ];
        let columns = columns(&input).unwrap();
        let mut report = SinkReport::new(TABLE);
        let rows = rows(&columns, &mut report);
        let keys: Vec<(NaiveDate, &str, usize, usize)> = rows
            .iter()
            .map(|r| (r.date, r.symbol, r.batch, r.index))
            .collect();
        assert_eq!(
            keys,
            [
                (day(7), "AAPL", 0, 2),
                (day(8), "AAPL", 1, 0),
                (day(8), "MSFT", 0, 0),
            ]
        );
        assert_eq!(report.duplicates, 1);
        assert!(report.soft_failed.is_empty());
    }

    #[test]
    fn a_mistyped_column_a_null_key_or_an_impossible_date_names_the_batch_and_the_column() {
        let symbols = || -> ArrayRef { Arc::new(StringArray::from(vec![Some("A")])) };
        let good = batch(symbols(), &[day(8)], DataType::Int16);
        let wide = batch(symbols(), &[day(8)], DataType::Int64);
        let err = columns(&[good.clone(), wide]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "orats_daily input batch 1: column vol_regime is Int64, expected Int16"
        );
        let null_symbol: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>]));
        let err = columns(&[batch(null_symbol, &[day(8)], DataType::Int16), good.clone()])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "orats_daily input batch 0: column symbol has 1 nulls"
        );
        let mut far = good.columns().to_vec();
        far[1] = Arc::new(Date32Array::from(vec![i32::MAX]));
        let far = RecordBatch::try_new(good.schema(), far).unwrap();
        assert_eq!(
            columns(&[far]).err().unwrap().to_string(),
            "orats_daily input batch 0: column asof_date holds day 2147483647 after 1970-01-01, \
             beyond the calendar"
        );
    }

    #[test]
    fn the_statement_binds_every_column_once_and_updates_only_the_contract_and_updated_at() {
        let sql = upsert_statement();
        assert!(sql.contains("$37::float8[])"), "{sql}");
        assert!(!sql.contains("$38"), "{sql}");
        assert!(
            sql.contains("$34::int2[]"),
            "vol_regime is the 32nd column: {sql}"
        );
        let set = sql.split_once("\nSET ").unwrap().1;
        let set = set.split_once("\nWHERE ").unwrap().0;
        let assigned: Vec<&str> = set
            .split(", ")
            .map(|a| a.split_once(" = ").unwrap().0)
            .collect();
        let mut expected: Vec<&str> = COLUMNS.iter().map(|(name, _)| name.as_str()).collect();
        expected.push("updated_at");
        assert_eq!(assigned, expected);
    }
}
