//! What the two sqllogictest harnesses share (this crate's UDAF suite and the
//! metrics pipeline suite of the main crate, which includes this file): running
//! one record's SQL on a DataFusion session, and running every `.slt` file of a
//! directory.

use std::future::Future;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner, strict_column_validator};

/// The sqllogictest type letter of a result column.
fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || data_type.is_numeric() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// Runs `sql` and renders its rows as sqllogictest expects (NULL as `NULL`).
pub async fn run_sql(
    ctx: &SessionContext,
    sql: &str,
) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
    let df = ctx.sql(sql).await?;
    let types: Vec<_> = df
        .schema()
        .fields()
        .iter()
        .map(|f| column_type(f.data_type()))
        .collect();
    let batches = df.collect().await?;
    if types.is_empty() {
        return Ok(DBOutput::StatementComplete(0));
    }
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in &batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    Ok(DBOutput::Rows { types, rows })
}

/// Runs every `.slt` file in `dir` (sorted), each on a fresh connection from
/// `connect`; panics listing every failure. Returns how many files ran.
pub async fn run_dir<D, F, Fut>(dir: &Path, connect: F) -> usize
where
    D: AsyncDB<ColumnType = DefaultColumnType> + 'static,
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<D, D::Error>> + Send + 'static,
{
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = Runner::new(connect.clone());
        runner.with_column_validator(strict_column_validator);
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    files.len()
}

/// The package's directory, read at run time (`cargo test` sets `CARGO_MANIFEST_DIR`): a test
/// binary that cargo reuses from another checkout of the same tree (a shared target directory)
/// still reads this checkout's files.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}
