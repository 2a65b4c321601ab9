//! A query result read back by column name, for the commands that use SQL
//! results in Rust (plot, check).

use anyhow::{Context, Result, anyhow};
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::orats::values::days_to_date;

/// The rows of one query, all in one batch.
pub struct Table {
    batch: RecordBatch,
}

impl Table {
    /// Runs `sql` with `params` bound and collects the result.
    pub async fn query(
        ctx: &SessionContext,
        sql: &str,
        params: Vec<(&str, ScalarValue)>,
    ) -> Result<Self> {
        let frame = ctx.sql(sql).await?.with_param_values(params)?;
        let schema = frame.schema().as_arrow().clone();
        let batches = frame.collect().await?;
        let batch = concat_batches(&schema.into(), &batches)?;
        Ok(Table { batch })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }

    fn column(&self, name: &str, to: &DataType) -> Result<ArrayRef> {
        let column = self
            .batch
            .column_by_name(name)
            .ok_or_else(|| anyhow!("the query has no column {name}"))?;
        cast(column, to).with_context(|| format!("column {name} as {to}"))
    }

    /// A numeric column as f64.
    pub fn f64(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let array = self.column(name, &DataType::Float64)?;
        Ok(array.as_primitive::<Float64Type>().iter().collect())
    }

    /// An integer column as i64.
    pub fn i64(&self, name: &str) -> Result<Vec<Option<i64>>> {
        let array = self.column(name, &DataType::Int64)?;
        Ok(array.as_primitive::<Int64Type>().iter().collect())
    }

    /// The first row of an integer column, 0 when the table is empty or it is null
    /// (a count that found nothing).
    pub fn first_i64(&self, name: &str) -> Result<i64> {
        Ok(self.i64(name)?.first().copied().flatten().unwrap_or(0))
    }

    /// A text column.
    pub fn text(&self, name: &str) -> Result<Vec<Option<String>>> {
        let array = self.column(name, &DataType::Utf8)?;
        Ok(array
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect())
    }

    /// A date column.
    pub fn date(&self, name: &str) -> Result<Vec<Option<NaiveDate>>> {
        let array = self.column(name, &DataType::Date32)?;
        Ok(array
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.map(days_to_date))
            .collect())
    }

    /// A `list<struct{strike, open_interest, …}>` column (walls) as
    /// (strike, open interest) pairs per row.
    pub fn walls(&self, name: &str) -> Result<Vec<Vec<(f64, i64)>>> {
        let column = self
            .batch
            .column_by_name(name)
            .ok_or_else(|| anyhow!("the query has no column {name}"))?;
        let list = column
            .as_list_opt::<i32>()
            .ok_or_else(|| anyhow!("column {name} is not a list"))?;
        let mut rows = Vec::with_capacity(list.len());
        for i in 0..list.len() {
            if list.is_null(i) {
                rows.push(Vec::new());
                continue;
            }
            let walls = list.value(i);
            let walls = walls
                .as_struct_opt()
                .ok_or_else(|| anyhow!("column {name} is not a list of structs"))?;
            let field = |f: &str, to: &DataType| -> Result<ArrayRef> {
                let array = walls
                    .column_by_name(f)
                    .ok_or_else(|| anyhow!("{name} has no field {f}"))?;
                Ok(cast(array, to)?)
            };
            let strikes = field("strike", &DataType::Float64)?;
            let oi = field("open_interest", &DataType::Int64)?;
            rows.push(
                strikes
                    .as_primitive::<Float64Type>()
                    .iter()
                    .zip(oi.as_primitive::<Int64Type>().iter())
                    .filter_map(|(k, oi)| Some((k?, oi.unwrap_or(0))))
                    .collect(),
            );
        }
        Ok(rows)
    }
}
