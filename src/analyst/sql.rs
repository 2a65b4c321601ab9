//! `gexlake sql`: run SQL over the lake and print the results as a table,
//! CSV, JSON or Parquet; errors point at the line and column they come from.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::DFParserBuilder;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::orats::values::date_to_days;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text table.
    Table,
    /// CSV with a header; list and struct cells as JSON text.
    Csv,
    /// One JSON array of objects per statement (nulls written as null).
    Json,
    /// Newline-delimited JSON: one object per line.
    Ndjson,
    /// A Parquet file (needs --output).
    Parquet,
}

/// A named query parameter: `$name` in the SQL.
pub type Param = (String, ScalarValue);

/// Parses `--param name=value`, inferring the value's type: `YYYY-MM-DD` is a
/// DATE, a whole number a BIGINT, a decimal number a DOUBLE, `'quoted'` text
/// (quotes removed) and anything else a string.
pub fn parse_param(text: &str) -> Result<Param, String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not name=value"))?;
    let name = name.trim().trim_start_matches('$');
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{name:?} is not a parameter name (letters, digits and _)"
        ));
    }
    Ok((name.to_string(), infer_value(value)))
}

fn infer_value(value: &str) -> ScalarValue {
    if let Some(quoted) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return ScalarValue::Utf8(Some(quoted.replace("''", "'")));
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return ScalarValue::Date32(Some(date_to_days(date)));
    }
    if let Ok(n) = value.parse::<i64>() {
        return ScalarValue::Int64(Some(n));
    }
    // Rust also parses "inf" and "NaN": only plain decimal numbers are numbers here.
    let numeric = value
        .chars()
        .all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    if numeric && let Ok(x) = value.parse::<f64>() {
        return ScalarValue::Float64(Some(x));
    }
    ScalarValue::Utf8(Some(value.to_string()))
}

/// Whether `buffer` ends with a `;` that closes a statement (outside quotes
/// and comments): the interactive shell runs the buffer then.
pub fn statement_complete(buffer: &str) -> bool {
    let mut chars = buffer.chars().peekable();
    let mut last_significant = None;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                // An unterminated quote keeps the statement open.
                let mut closed = false;
                for q in chars.by_ref() {
                    if q == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return false;
                }
                last_significant = Some(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for q in chars.by_ref() {
                    if q == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                let mut closed = false;
                for q in chars.by_ref() {
                    if previous == '*' && q == '/' {
                        closed = true;
                        break;
                    }
                    previous = q;
                }
                if !closed {
                    return false;
                }
            }
            c if c.is_whitespace() => {}
            c => last_significant = Some(c),
        }
    }
    last_significant == Some(';')
}

/// A SQL error with the text it came from, printed with the offending line
/// and a caret under the position when DataFusion knows it.
#[derive(Debug)]
pub struct SqlError {
    /// The SQL that failed (the whole script: positions refer to it).
    pub sql: String,
    /// What DataFusion said.
    pub error: DataFusionError,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&render_error(&self.sql, &self.error))
    }
}

impl std::error::Error for SqlError {}

/// A position in SQL text: 1-based line and column, and how many columns it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    line: usize,
    column: usize,
    width: usize,
}

/// Where an error points: the span of DataFusion's diagnostic (planning
/// errors), else the "at Line: L, Column: C" sqlparser writes into parse errors.
fn error_position(error: &DataFusionError, message: &str) -> Option<Position> {
    if let Some(span) = error.diagnostic().and_then(|d| d.span)
        && span.start.line > 0
    {
        let width = if span.end.line == span.start.line && span.end.column > span.start.column {
            (span.end.column - span.start.column) as usize
        } else {
            1
        };
        return Some(Position {
            line: span.start.line as usize,
            column: span.start.column as usize,
            width,
        });
    }
    let at = message.rfind("at Line: ")?;
    let (line, rest) = message[at + "at Line: ".len()..].split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(Position {
        line: line.parse().ok()?,
        column: column.parse().ok()?,
        width: 1,
    })
}

/// The text of an error for a person: the message, then the line it points
/// at with a caret, then DataFusion's notes and hints.
pub fn render_error(sql: &str, error: &DataFusionError) -> String {
    let message = error.strip_backtrace();
    let mut out = String::new();
    let position = error_position(error, &message);
    match position {
        Some(p) => out.push_str(&format!(
            "SQL error at line {}, column {}: {message}",
            p.line, p.column
        )),
        None => out.push_str(&format!("SQL error: {message}")),
    }
    if let Some(p) = position
        && let Some(text) = sql.lines().nth(p.line - 1)
    {
        // Copy tabs so the caret lines up under tab-indented SQL.
        let pad: String = text
            .chars()
            .take(p.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let gutter = p.line.to_string().len();
        out.push_str(&format!(
            "\n {:>gutter$} | {text}\n {:>gutter$} | {pad}{}",
            p.line,
            "",
            "^".repeat(p.width.max(1))
        ));
    }
    if let Some(diagnostic) = error.diagnostic() {
        for note in &diagnostic.notes {
            out.push_str(&format!("\n note: {}", note.message));
        }
        for help in &diagnostic.helps {
            out.push_str(&format!("\n help: {}", help.message));
        }
    }
    out
}

/// Where results go and in which format.
pub struct Output {
    format: Format,
    sink: Box<dyn Write + Send>,
    /// Results already written (a Parquet file holds only one).
    results: usize,
    /// Print each statement's row count and time on stderr.
    pub timing: bool,
}

impl Output {
    /// Results to `path`, or to stdout when `None`; Parquet needs a file.
    pub fn new(format: Format, path: Option<&PathBuf>, timing: bool) -> anyhow::Result<Self> {
        let sink: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(io::BufWriter::new(
                File::create(p).map_err(|e| anyhow::anyhow!("--output {}: {e}", p.display()))?,
            )),
            None if format == Format::Parquet => {
                anyhow::bail!("--format parquet writes a file: give --output FILE")
            }
            None => Box::new(io::BufWriter::new(io::stdout())),
        };
        Ok(Output {
            format,
            sink,
            results: 0,
            timing,
        })
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

/// Why running SQL stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The SQL failed to parse, plan or execute.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// The results could not be written.
    #[error("writing results: {0}")]
    Write(#[source] anyhow::Error),
}

impl RunError {
    /// Whether the reader of stdout went away (`| head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        let RunError::Write(e) = self else {
            return false;
        };
        e.chain().any(|cause| {
            cause
                .downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
                || matches!(cause.downcast_ref::<ArrowError>(), Some(ArrowError::IoError(_, io)) if io.kind() == io::ErrorKind::BrokenPipe)
                || matches!(cause.downcast_ref::<parquet::errors::ParquetError>(), Some(parquet::errors::ParquetError::External(inner)) if inner.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
        })
    }
}

/// Runs every statement of `sql` in order, binding `params`, and writes each
/// result; stops at the first error.
pub async fn run_script(
    ctx: &SessionContext,
    sql: &str,
    params: &[Param],
    output: &mut Output,
) -> Result<(), RunError> {
    let fail = |error: DataFusionError| SqlError {
        sql: sql.to_string(),
        error,
    };
    let state = ctx.state();
    let dialect_name = state.config().options().sql_parser.dialect;
    let dialect = dialect_from_str(dialect_name).ok_or_else(|| {
        fail(DataFusionError::Plan(format!(
            "unsupported SQL dialect {dialect_name}"
        )))
    })?;
    let statements = DFParserBuilder::new(sql)
        .with_dialect(dialect.as_ref())
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(fail)?;
    for statement in statements {
        let started = Instant::now();
        // Planned against the current state: an earlier CREATE VIEW or SET counts.
        let plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(fail)?;
        let frame = ctx
            .execute_logical_plan(plan)
            .await
            .and_then(|df| df.with_param_values(params.to_vec()))
            .map_err(fail)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let stream = frame.execute_stream().await.map_err(fail)?;
        let rows = write_result(output, schema, stream)
            .await
            .map_err(|e| match e {
                WriteError::Sql(error) => RunError::Sql(fail(error)),
                WriteError::Output(e) => RunError::Write(e),
            })?;
        if output.timing
            && let Some(rows) = rows
        {
            // The count goes under its table, not above it.
            output.flush().map_err(|e| RunError::Write(e.into()))?;
            eprintln!(
                "{rows} row{} in {:.3} s",
                if rows == 1 { "" } else { "s" },
                started.elapsed().as_secs_f64()
            );
        }
    }
    output.flush().map_err(|e| RunError::Write(e.into()))?;
    Ok(())
}

enum WriteError {
    Sql(DataFusionError),
    Output(anyhow::Error),
}

impl From<ArrowError> for WriteError {
    fn from(e: ArrowError) -> Self {
        WriteError::Output(e.into())
    }
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Output(e.into())
    }
}

impl From<parquet::errors::ParquetError> for WriteError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        WriteError::Output(e.into())
    }
}

/// Writes one statement's result; `None` when the statement returns no
/// columns (DDL, SET), which prints nothing.
async fn write_result(
    output: &mut Output,
    schema: SchemaRef,
    mut stream: datafusion::physical_plan::SendableRecordBatchStream,
) -> Result<Option<usize>, WriteError> {
    if schema.fields().is_empty() {
        while let Some(batch) = stream.next().await {
            batch.map_err(WriteError::Sql)?;
        }
        return Ok(None);
    }
    output.results += 1;
    let mut rows = 0;
    let sink = &mut output.sink;
    match output.format {
        Format::Table => {
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(WriteError::Sql)?;
                rows += batch.num_rows();
                batches.push(batch);
            }
            writeln!(
                sink,
                "{}",
                pretty_format_batches_with_schema(schema, &batches)?
            )?;
        }
        Format::Csv => {
            let mut writer = arrow_csv::WriterBuilder::new()
                .with_header(true)
                .build(sink);
            let flat_schema = text_schema(&schema);
            let mut wrote = false;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(WriteError::Sql)?;
                rows += batch.num_rows();
                writer.write(&nested_as_json(&flat_schema, &batch)?)?;
                wrote = true;
            }
            if !wrote {
                // arrow's writer prints the header with the first batch: give it an empty one.
                writer.write(&RecordBatch::new_empty(flat_schema))?;
            }
        }
        Format::Json => {
            let mut writer = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::JsonArray>(&mut *sink);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(WriteError::Sql)?;
                rows += batch.num_rows();
                writer.write(&batch)?;
            }
            writer.finish()?;
            writeln!(sink)?;
        }
        Format::Ndjson => {
            let mut writer = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::LineDelimited>(&mut *sink);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(WriteError::Sql)?;
                rows += batch.num_rows();
                writer.write(&batch)?;
            }
            writer.finish()?;
        }
        Format::Parquet => {
            if output.results > 1 {
                return Err(WriteError::Output(anyhow::anyhow!(
                    "--format parquet holds one result: the script has more than one query"
                )));
            }
            let properties = WriterProperties::builder()
                .set_compression(Compression::ZSTD(
                    ZstdLevel::try_new(3).expect("valid level"),
                ))
                .build();
            let mut writer = ArrowWriter::try_new(sink, schema, Some(properties))?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(WriteError::Sql)?;
                rows += batch.num_rows();
                writer.write(&batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(Some(rows))
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(_, _)
    )
}

/// `schema` with list, struct and map columns as text (CSV has no nesting).
fn text_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_nested(f.data_type()) {
                Field::new(f.name(), DataType::Utf8, f.is_nullable())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// `batch` with its nested columns encoded as JSON text, as a quant's CSV
/// reader can parse them back (`call_walls` → `[{"strike":…}]`).
fn nested_as_json(flat_schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let options = arrow_json::writer::EncoderOptions::default().with_explicit_nulls(true);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !is_nested(field.data_type()) {
            columns.push(column.clone());
            continue;
        }
        let mut encoder = arrow_json::writer::make_encoder(field, column.as_ref(), &options)?;
        let mut text = StringBuilder::new();
        let mut buffer = Vec::new();
        for i in 0..column.len() {
            if encoder.is_null(i) {
                text.append_null();
            } else {
                buffer.clear();
                encoder.encode(i, &mut buffer);
                text.append_value(String::from_utf8_lossy(&buffer));
            }
        }
        columns.push(Arc::new(text.finish()));
    }
    RecordBatch::try_new(flat_schema.clone(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_take_the_type_their_text_has() {
        assert_eq!(
            parse_param("date=2026-02-05").unwrap(),
            (
                "date".into(),
                ScalarValue::Date32(Some(date_to_days(
                    NaiveDate::from_ymd_opt(2026, 2, 5).unwrap()
                )))
            )
        );
        assert_eq!(parse_param("n=20").unwrap().1, ScalarValue::Int64(Some(20)));
        assert_eq!(
            parse_param("$x=-1.5e3").unwrap(),
            ("x".into(), ScalarValue::Float64(Some(-1500.0)))
        );
        assert_eq!(
            parse_param("t=SPY").unwrap().1,
            ScalarValue::Utf8(Some("SPY".into()))
        );
        assert_eq!(
            parse_param("t=inf").unwrap().1,
            ScalarValue::Utf8(Some("inf".into()))
        );
        assert_eq!(
            parse_param("t='2026'").unwrap().1,
            ScalarValue::Utf8(Some("2026".into()))
        );
        assert_eq!(
            parse_param("t=a=b").unwrap().1,
            ScalarValue::Utf8(Some("a=b".into()))
        );
        assert_eq!(
            parse_param("t=").unwrap().1,
            ScalarValue::Utf8(Some(String::new()))
        );
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("1x=2").is_err());
        assert!(parse_param("a-b=2").is_err());
    }

    #[test]
    fn a_statement_is_complete_at_a_semicolon_outside_quotes_and_comments() {
        assert!(statement_complete("SELECT 1;"));
        assert!(statement_complete("SELECT 1;  \n"));
        assert!(statement_complete("SELECT 1; -- done\n"));
        assert!(!statement_complete("SELECT 1"));
        assert!(!statement_complete("SELECT ';"));
        assert!(statement_complete("SELECT ';';"));
        assert!(!statement_complete("SELECT 1 -- ;"));
        assert!(!statement_complete("SELECT 1 /* ; "));
        assert!(statement_complete("SELECT 1 /* ; */;"));
        assert!(!statement_complete("SELECT 1; SELECT 2"));
        assert!(statement_complete("SELECT \"a;\" FROM t;"));
    }

    #[test]
    fn parse_error_positions_come_from_the_message() {
        let error = DataFusionError::Plan(
            "Expected: an expression, found: FROM at Line: 2, Column: 8".into(),
        );
        let text = render_error("SELECT a,\n  b,   FROM t", &error);
        assert!(text.starts_with("SQL error at line 2, column 8:"), "{text}");
        assert!(
            text.ends_with(" 2 |   b,   FROM t\n   |        ^"),
            "{text}"
        );
    }

    #[test]
    fn errors_without_a_position_are_one_line() {
        let text = render_error("SELECT 1", &DataFusionError::Execution("boom".into()));
        assert_eq!(text, "SQL error: Execution error: boom");
    }
}
