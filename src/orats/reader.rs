//! Streaming an ORATS CSV into sorted Arrow batches, one stream per trade date.
//!
//! Rows are parsed one at a time, cell by cell, straight into typed column
//! buffers (the `rows` module); a bad row is rejected (reported with line,
//! column and reason) and cut off the buffers again, so nothing of it is kept.
//! Real ORATS files are ordered by ticker, so a trade date's rows are released
//! ticker run by ticker run, sorted by (ticker, expir_date, strike, c_opra):
//! memory holds one run and one chunk, never the day. A file that is not in
//! ticker order is detected and read again with the whole date buffered.

use std::collections::BTreeMap;
use std::io::{self, Read};

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use super::layout::{HeaderError, HeaderMap, Layout, SOURCE_LINE, file_schema};
use super::records::{Record, Records};
use super::rows::{CHUNK_ROWS, Column, Columns, RowError, RowParser};

/// Rows per batch handed to the writer; fixed so Parquet pages fall identically on every run.
pub const OUTPUT_BATCH_ROWS: usize = 8_192;

/// Why a CSV stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The header is unusable.
    #[error("line 1: {0}")]
    Header(#[from] HeaderError),
    /// The stream broke (truncated or corrupt deflate data, bomb guard).
    #[error("line {line}: reading failed: {source}")]
    Io {
        /// The line being read.
        line: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// A bad row under `--strict`.
    #[error("{0} (--strict: the file is refused)")]
    Strict(Reject),
    /// Arrow failed while sorting (a bug, not bad input).
    #[error("sorting rows: {0}")]
    Arrow(#[from] ArrowError),
    /// Writing Parquet failed.
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// A rejected row: where, which column, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// 1-based line number in the CSV (the header is line 1).
    pub line: u64,
    /// The ORATS column at fault, if the fault is one cell.
    pub column: Option<&'static str>,
    /// Why the row was rejected.
    pub reason: String,
    /// The offending cell, if any.
    pub value: Option<String>,
    /// The whole raw row.
    pub raw: String,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.reason)?;
        if let Some(v) = &self.value {
            write!(f, " (value {v:?})")?;
        }
        Ok(())
    }
}

/// What a read produced besides the batches.
#[derive(Debug, Clone, Default)]
pub struct ReadSummary {
    /// Data rows read (not counting the header).
    pub rows_in: u64,
    /// Rows emitted, per trade date (days since 1970-01-01).
    pub rows_out: BTreeMap<i32, u64>,
    /// Rejected rows, in line order.
    pub rejects: Vec<Reject>,
    /// The layout; `None` for an empty member with no header.
    pub layout: Option<Layout>,
    /// Header columns we do not store.
    pub unknown_columns: Vec<String>,
    /// Whether the file was out of ticker order and had to be buffered whole.
    pub buffered_whole: bool,
}

/// Options for reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Fail on the first bad row instead of rejecting it.
    pub strict: bool,
}

/// Receives the sorted batches of one read, per trade date (days since 1970-01-01).
pub trait BatchSink {
    /// Takes the next batch of `date`, in sorted order.
    fn write(&mut self, date: i32, batch: RecordBatch) -> Result<(), ReadError>;
}

/// A sink that keeps every batch in memory, per trade date (tests, small files).
#[derive(Debug, Default)]
pub struct Collect(pub BTreeMap<i32, Vec<RecordBatch>>);

impl BatchSink for Collect {
    fn write(&mut self, date: i32, batch: RecordBatch) -> Result<(), ReadError> {
        self.0.entry(date).or_default().push(batch);
        Ok(())
    }
}

/// Reads a CSV stream and hands sorted batches of [`file_schema`] to a sink,
/// per trade date, in (ticker, expir_date, strike, c_opra) order.
///
/// `open` and `new_sink` are called once, or twice when the file turns out not
/// to be in ticker order: the first sink, which may have received some runs,
/// is then dropped and the second pass buffers each date whole before sorting.
pub fn read_sorted<R, S>(
    mut open: impl FnMut() -> Result<R, ReadError>,
    options: ReadOptions,
    mut new_sink: impl FnMut() -> S,
) -> Result<(ReadSummary, S), ReadError>
where
    R: Read,
    S: BatchSink,
{
    let mut sink = new_sink();
    match read_pass(open()?, options, false, &mut sink) {
        Ok(summary) => Ok((summary, sink)),
        Err(PassError::Read(e)) => Err(e),
        Err(PassError::OutOfOrder) => {
            drop(sink);
            let mut sink = new_sink();
            let mut summary =
                read_pass(open()?, options, true, &mut sink).map_err(|e| match e {
                    PassError::Read(e) => e,
                    PassError::OutOfOrder => {
                        unreachable!("whole-date buffering never checks order")
                    }
                })?;
            summary.buffered_whole = true;
            Ok((summary, sink))
        }
    }
}

/// Reads CSV bytes into memory: per trade date, the sorted batches.
pub fn read_to_batches(
    bytes: &[u8],
    options: ReadOptions,
) -> Result<(ReadSummary, BTreeMap<i32, Vec<RecordBatch>>), ReadError> {
    let (summary, Collect(batches)) = read_sorted(|| Ok(bytes), options, Collect::default)?;
    Ok((summary, batches))
}

enum PassError {
    Read(ReadError),
    OutOfOrder,
}

impl From<ReadError> for PassError {
    fn from(e: ReadError) -> Self {
        PassError::Read(e)
    }
}

impl From<ArrowError> for PassError {
    fn from(e: ArrowError) -> Self {
        PassError::Read(ReadError::Arrow(e))
    }
}

fn read_pass<R: Read>(
    input: R,
    options: ReadOptions,
    buffer_whole: bool,
    sink: &mut dyn BatchSink,
) -> Result<ReadSummary, PassError> {
    let mut records = Records::new(input, 1 << 20);
    let mut summary = ReadSummary::default();
    let io_error = |line: u64, source: io::Error| PassError::Read(ReadError::Io { line, source });
    let names: Vec<String> = match records.next_record() {
        Ok(Some(header)) => header
            .fields()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect(),
        Ok(None) => return Ok(summary),
        Err(e) => return Err(io_error(records.line(), e)),
    };
    let header =
        HeaderMap::from_names(names.iter().map(String::as_str)).map_err(ReadError::from)?;
    summary.layout = Some(header.layout);
    summary.unknown_columns = header.unknown.clone();

    let mut parser = RowParser::new(header);
    let mut dates: BTreeMap<i32, DateBuffer> = BTreeMap::new();
    loop {
        let record = match records.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(e) => return Err(io_error(records.line(), e)),
        };
        if record.is_blank_line() {
            continue; // a blank line carries no row
        }
        let line = record.line;
        summary.rows_in += 1;
        let appended = match parser.trade_date(record) {
            Ok(date) => {
                let buffer = dates
                    .entry(date)
                    .or_insert_with(|| DateBuffer::new(buffer_whole));
                match buffer.append(&mut parser, record) {
                    Ok(()) => {
                        if buffer.columns.len() >= CHUNK_ROWS {
                            buffer.finish_chunk(date, sink)?;
                        }
                        Ok(())
                    }
                    Err(AppendError::Row(e)) => Err(e),
                    Err(AppendError::OutOfOrder) => return Err(PassError::OutOfOrder),
                }
            }
            Err(e) => Err(e),
        };
        if let Err((column, reason, value)) = appended {
            let reject = Reject {
                line,
                column,
                reason,
                value,
                raw: String::from_utf8_lossy(record.text()).into_owned(),
            };
            if options.strict {
                return Err(ReadError::Strict(reject).into());
            }
            summary.rejects.push(reject);
        }
    }
    for (date, buffer) in dates {
        let rows = buffer.rows;
        buffer.finish(date, sink)?;
        summary.rows_out.insert(date, rows);
    }
    Ok(summary)
}

/// Why a row was not appended.
enum AppendError {
    /// The row is bad (it is rejected, and nothing of it stays in the columns).
    Row(RowError),
    /// The row is good but its ticker sorts before the previous row's.
    OutOfOrder,
}

/// The rows of one trade date not yet released.
struct DateBuffer {
    columns: Columns,
    /// Finished chunks not yet released (all rows of the current ticker run, and
    /// with `buffer_whole` everything).
    pending: Vec<RecordBatch>,
    last_ticker: Vec<u8>,
    buffer_whole: bool,
    rows: u64,
    out: Rechunker,
}

impl DateBuffer {
    fn new(buffer_whole: bool) -> Self {
        DateBuffer {
            columns: Columns::new(),
            pending: Vec::new(),
            last_ticker: Vec::new(),
            buffer_whole,
            rows: 0,
            out: Rechunker::default(),
        }
    }

    /// Appends a row (its cells, then its line) and checks the ticker order.
    fn append(&mut self, parser: &mut RowParser, record: Record) -> Result<(), AppendError> {
        let rows = self.columns.len();
        parser
            .append(record, &mut self.columns)
            .map_err(AppendError::Row)?;
        self.columns
            .lines
            .push(i64::try_from(record.line).unwrap_or(i64::MAX));
        if !self.buffer_whole {
            let ticker = match &self.columns.columns[0] {
                Column::Text(text) => &text.bytes[text.offsets[rows] as usize..],
                _ => unreachable!("ticker is text"),
            };
            if ticker < self.last_ticker.as_slice() {
                return Err(AppendError::OutOfOrder);
            }
            if ticker != self.last_ticker.as_slice() {
                self.last_ticker.clear();
                self.last_ticker.extend_from_slice(ticker);
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Finishes the current chunk and releases every complete ticker run in it.
    fn finish_chunk(&mut self, date: i32, sink: &mut dyn BatchSink) -> Result<(), PassError> {
        let chunk = self.columns.finish()?;
        self.pending.push(chunk);
        if self.buffer_whole {
            return Ok(());
        }
        // In ticker order, every row before the last ticker's first row is complete.
        let last = self.pending.last().expect("just pushed");
        let tickers = last
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("ticker is Utf8");
        let current = std::str::from_utf8(&self.last_ticker).unwrap_or_default();
        let mut split = tickers.len();
        while split > 0 && tickers.value(split - 1) == current {
            split -= 1;
        }
        if split == 0 {
            return Ok(()); // the whole chunk is the current run
        }
        let mut complete = std::mem::take(&mut self.pending);
        let last = complete.pop().expect("just pushed");
        complete.push(last.slice(0, split));
        self.pending
            .push(last.slice(split, last.num_rows() - split));
        self.release(date, &complete, sink)
    }

    fn release(
        &mut self,
        date: i32,
        batches: &[RecordBatch],
        sink: &mut dyn BatchSink,
    ) -> Result<(), PassError> {
        if in_key_order(batches)? {
            // The usual case: the file is already sorted; no copy.
            for batch in batches {
                self.out.push(batch.clone(), &mut |b| sink.write(date, b))?;
            }
            return Ok(());
        }
        let sorted = sort_rows(batches)?;
        self.out.push(sorted, &mut |b| sink.write(date, b))?;
        Ok(())
    }

    fn finish(mut self, date: i32, sink: &mut dyn BatchSink) -> Result<(), PassError> {
        if self.columns.len() > 0 {
            let chunk = self.columns.finish()?;
            self.pending.push(chunk);
        }
        let pending = std::mem::take(&mut self.pending);
        self.release(date, &pending, sink)?;
        self.out.flush(&mut |b| sink.write(date, b))?;
        Ok(())
    }
}

/// Concatenates and sorts rows by (ticker, expir_date, strike, c_opra,
/// source_line): rows equal in every key keep their file order.
fn sort_rows(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let all = concat_batches(&file_schema(), batches)?;
    if all.num_rows() == 0 {
        return Ok(all);
    }
    let keys = SORT_KEYS
        .iter()
        .chain(std::iter::once(&SOURCE_LINE))
        .map(|name| {
            Ok(SortColumn {
                values: all.column(file_schema().index_of(name)?).clone(),
                options: None,
            })
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    let indices = lexsort_to_indices(&keys, None)?;
    take_record_batch(&all, &indices)
}

/// The sort key of `orats_strikes` (rows equal in all of it keep file order).
const SORT_KEYS: [&str; 4] = ["ticker", "expir_date", "strike", "c_opra"];

/// Whether the rows of `batches`, in file order, are already in key order
/// (usual for ORATS files), so the sort — and its copy — can be skipped.
fn in_key_order(batches: &[RecordBatch]) -> Result<bool, ArrowError> {
    use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
    let Some(first) = batches.first() else {
        return Ok(true);
    };
    let key_columns = |batch: &RecordBatch| -> Result<Vec<ArrayRef>, ArrowError> {
        SORT_KEYS
            .iter()
            .map(|n| Ok(batch.column(file_schema().index_of(n)?).clone()))
            .collect()
    };
    let fields = key_columns(first)?
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let mut previous: Option<OwnedRow> = None;
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let rows = converter.convert_columns(&key_columns(batch)?)?;
        if previous.is_some_and(|p| p.row() > rows.row(0))
            || !(1..rows.num_rows()).all(|i| rows.row(i - 1) <= rows.row(i))
        {
            return Ok(false);
        }
        previous = Some(rows.row(rows.num_rows() - 1).owned());
    }
    Ok(true)
}

/// Re-cuts a stream of sorted batches into batches of exactly
/// [`OUTPUT_BATCH_ROWS`] rows (the last one shorter), so the Parquet writer sees
/// the same batch boundaries whatever the chunking upstream.
#[derive(Default)]
struct Rechunker {
    held: Vec<RecordBatch>,
    held_rows: usize,
}

impl Rechunker {
    fn push(
        &mut self,
        batch: RecordBatch,
        out: &mut dyn FnMut(RecordBatch) -> Result<(), ReadError>,
    ) -> Result<(), PassError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (OUTPUT_BATCH_ROWS - self.held_rows).min(batch.num_rows() - offset);
            self.held.push(batch.slice(offset, take));
            self.held_rows += take;
            offset += take;
            if self.held_rows == OUTPUT_BATCH_ROWS {
                self.emit(out)?;
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        out: &mut dyn FnMut(RecordBatch) -> Result<(), ReadError>,
    ) -> Result<(), PassError> {
        if self.held_rows == 0 {
            return Ok(());
        }
        let batch = concat_batches(&file_schema(), &self.held)?;
        self.held.clear();
        self.held_rows = 0;
        out(batch)?;
        Ok(())
    }

    fn flush(
        &mut self,
        out: &mut dyn FnMut(RecordBatch) -> Result<(), ReadError>,
    ) -> Result<(), PassError> {
        self.emit(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orats::values::date_to_days;
    use chrono::NaiveDate;
    use datafusion::arrow::array::{Date32Array, Decimal128Array, Float64Array, Int64Array};

    const HEADER: &str = "ticker,cOpra,pOpra,stkPx,expirDate,yte,strike,cVolu,cOi,pVolu,pOi,cBidPx,cValue,cAskPx,pBidPx,pValue,pAskPx,cBidIv,cMidIv,cAskIv,smoothSmvVol,pBidIv,pMidIv,pAskIv,iRate,divRate,residualRateData,delta,gamma,theta,vega,rho,phi,driftlessTheta,extVol,extCTheo,extPTheo,spot_px,trade_date";

    /// A v1 row with the given key cells and fixed values elsewhere.
    fn row(
        ticker: &str,
        expiry: &str,
        strike: &str,
        c_oi: &str,
        gamma: &str,
        trade: &str,
    ) -> String {
        format!(
            "{ticker},{ticker}C{strike},{ticker}P{strike},100.5,{expiry},0.04110,{strike},1,{c_oi},2,3,1.1,1.2,1.3,0.5,0.6,0.7,0.2,0.21,0.22,0.2101,,0.23,0.24,0.05,0.01,0,0.5,{gamma},-0.1,0.2,0.03,-0.02,-0.09,0.2,1.2,2.3E+15,,{trade}"
        )
    }

    fn csv(rows: &[String]) -> Vec<u8> {
        let mut s = HEADER.to_string();
        for r in rows {
            s.push('\n');
            s.push_str(r);
        }
        s.push('\n');
        s.into_bytes()
    }

    fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
        batch
            .column(batch.schema().index_of(name).unwrap())
            .as_any()
            .downcast_ref::<T>()
            .unwrap()
    }

    fn day(s: &str) -> i32 {
        date_to_days(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn parses_values_blanks_and_awkward_tickers() {
        let data = csv(&[
            row("NA", "1/19/2024", "95", "200", "0.02", "1/3/2024"),
            row("NAN", "2024-01-19", "100", "0", "", "1/3/2024"),
            row("TRUE", "1/19/2024", "105", "7", "0.00000443", "1/3/2024"),
        ]);
        let (summary, out) = read_to_batches(&data, ReadOptions::default()).unwrap();
        assert_eq!(summary.rows_in, 3);
        assert!(summary.rejects.is_empty());
        assert_eq!(summary.layout, Some(Layout::V1));
        let batches = &out[&day("2024-01-03")];
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        let tickers = column::<StringArray>(b, "ticker");
        assert_eq!(
            (0..3).map(|i| tickers.value(i)).collect::<Vec<_>>(),
            vec!["NA", "NAN", "TRUE"]
        );
        let gamma = column::<Decimal128Array>(b, "gamma");
        assert_eq!(gamma.value_as_string(0), "0.02000000");
        assert!(gamma.is_null(1), "a blank gamma is null, not 0");
        assert_eq!(gamma.value(2), 443, "0.00000443 at 8 decimals");
        assert_eq!(column::<Decimal128Array>(b, "stk_px").value(0), 1_005_000);
        assert_eq!(column::<Decimal128Array>(b, "yte").value(0), 4_110);
        assert!(column::<Decimal128Array>(b, "p_bid_iv").is_null(0));
        assert!(column::<Decimal128Array>(b, "spot_px").is_null(0));
        assert_eq!(column::<Float64Array>(b, "ext_p_theo").value(0), 2.3e15);
        assert_eq!(column::<Int64Array>(b, "c_oi").value(0), 200);
        let expiry = column::<Date32Array>(b, "expir_date");
        assert_eq!(expiry.value(0), day("2024-01-19"));
        assert_eq!(expiry.value(1), day("2024-01-19"));
    }

    #[test]
    fn rows_come_out_sorted_with_duplicate_keys_kept() {
        let data = csv(&[
            row("SPX", "1/19/2024", "4700", "1", "0.01", "1/3/2024"),
            row("SPX", "1/5/2024", "4800", "2", "0.01", "1/3/2024"),
            row("SPX", "1/5/2024", "4700", "3", "0.01", "1/3/2024"),
            row("SPX", "1/5/2024", "4700", "4", "0.01", "1/3/2024"),
        ]);
        let (_, out) = read_to_batches(&data, ReadOptions::default()).unwrap();
        let b = &out[&day("2024-01-03")][0];
        let strikes = column::<Decimal128Array>(b, "strike");
        let oi = column::<Int64Array>(b, "c_oi");
        assert_eq!(
            strikes.values().to_vec(),
            vec![4_700_000, 4_700_000, 4_800_000, 4_700_000]
        );
        // Same (ticker, expiry, strike) rows are both kept, in file order (same c_opra).
        assert_eq!(oi.values().to_vec(), vec![3, 4, 2, 1]);
    }

    #[test]
    fn bad_rows_are_rejected_with_line_column_and_reason() {
        let data = csv(&[
            row("AAA", "1/19/2024", "95", "200", "0.02", "1/3/2024"),
            row("BBB", "1/19/2024", "95", "x12", "0.02", "1/3/2024"),
            "CCC,too,few".to_string(),
            // A blank line is no row, but it counts for the line numbers after it.
            String::new(),
            row("DDD", "13/45/2024", "95", "1", "0.02", "1/3/2024"),
            row("EEE", "1/19/2024", "95", "1", "0.02", "1/3/2024"),
        ]);
        let (summary, out) = read_to_batches(&data, ReadOptions::default()).unwrap();
        assert_eq!(summary.rows_in, 5);
        assert_eq!(summary.rows_out.values().sum::<u64>(), 2);
        let r = &summary.rejects;
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].line, r[0].column), (3, Some("cOi")));
        assert_eq!(r[0].reason, "not an integer");
        assert_eq!(r[0].value.as_deref(), Some("x12"));
        assert_eq!((r[1].line, r[1].column), (4, None));
        assert_eq!(r[1].reason, "expected 39 fields, found 3");
        assert_eq!((r[2].line, r[2].column), (6, Some("expirDate")));
        assert!(
            r[0].to_string()
                .starts_with("line 3, column cOi: not an integer")
        );
        assert_eq!(out[&day("2024-01-03")][0].num_rows(), 2);
    }

    #[test]
    fn a_row_is_judged_left_to_right_whatever_is_read_first() {
        // The trade date is parsed first (it picks the partition); when it is bad,
        // the error is still the row's first bad cell in column order.
        let data = csv(&[
            row("AAA", "1/19/2024", "95", "x1", "0.02", "13/3/2024"),
            row("BBB", "1/19/2024", "95", "1", "0.02", "13/3/2024"),
            row("CCC", "1/19/2024", "95", "1", "0.02", " "),
        ]);
        let (summary, out) = read_to_batches(&data, ReadOptions::default()).unwrap();
        let r: Vec<_> = summary
            .rejects
            .iter()
            .map(|r| (r.line, r.column, r.reason.as_str()))
            .collect();
        assert_eq!(
            r,
            [
                (2, Some("cOi"), "not an integer"),
                (3, Some("trade_date"), "date does not exist"),
                (4, Some("trade_date"), "blank value"),
            ]
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_stray_quote_stays_in_its_cell() {
        let data = csv(&[
            row("AAA", "1/19/2024", "95", "\"12", "0.02", "1/3/2024"),
            row("BBB", "1/19/2024", "95", "7", "0.02", "1/3/2024"),
            row("CCC", "1/19/2024", "95", "8\"", "0.02", "1/3/2024"),
        ]);
        let (summary, out) = read_to_batches(&data, ReadOptions::default()).unwrap();
        let r = &summary.rejects;
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].line, r[0].column, r[0].value.as_deref()),
            (2, Some("cOi"), Some("\"12"))
        );
        assert_eq!(
            (r[1].line, r[1].column, r[1].value.as_deref()),
            (4, Some("cOi"), Some("8\""))
        );
        // The rejected rows' first cells were cut off again: BBB's cells line up.
        let batch = &out[&day("2024-01-03")][0];
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(column::<StringArray>(batch, "ticker").value(0), "BBB");
        assert_eq!(column::<StringArray>(batch, "c_opra").value(0), "BBBC95");
        assert_eq!(column::<Int64Array>(batch, "c_oi").value(0), 7);
        assert_eq!(
            column::<Decimal128Array>(batch, "gamma").value(0),
            2_000_000
        );
    }

    /// A cell with more decimals than its column's scale, or more digits than the lake's
    /// precision, is a bad cell like any other: rejected with line, column, reason and
    /// value, never rounded into the lake.
    #[test]
    fn cells_beyond_the_scale_are_rejected_not_rounded() {
        let data = csv(&[
            row("AAA", "1/19/2024", "95", "1", "0.123456789", "1/3/2024"),
            row("BBB", "1/19/2024", "95.0005", "1", "0.02", "1/3/2024"),
            row("CCC", "1/19/2024", "95", "1", "1E+8", "1/3/2024"),
            row("DDD", "1/19/2024", "95", "1", "1.000000000000", "1/3/2024"),
        ]);
        let (summary, out) = read_to_batches(&data, ReadOptions::default()).unwrap();
        let r = &summary.rejects;
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!((r[0].line, r[0].column), (2, Some("gamma")));
        assert_eq!(
            r[0].reason,
            "more decimals than the lake stores for this column (DECIMAL(15,8): at most 8 decimals, 15 digits)"
        );
        assert_eq!(r[0].value.as_deref(), Some("0.123456789"));
        assert_eq!((r[1].line, r[1].column), (3, Some("strike")));
        assert_eq!((r[2].line, r[2].column), (4, Some("gamma")));
        assert!(r[2].reason.starts_with("more digits than the lake stores"));
        let batch = &out[&day("2024-01-03")][0];
        assert_eq!(column::<StringArray>(batch, "ticker").value(0), "DDD");
        assert_eq!(
            column::<Decimal128Array>(batch, "gamma").value(0),
            100_000_000,
            "trailing zeros past the scale are no extra precision"
        );
    }

    #[test]
    fn strict_fails_on_the_first_bad_row() {
        let data = csv(&[
            row("AAA", "1/19/2024", "95", "200", "0.02", "1/3/2024"),
            row("BBB", "1/19/2024", "95", "-5", "0.02", "1/3/2024"),
        ]);
        let err = read_to_batches(&data, ReadOptions { strict: true }).unwrap_err();
        assert!(matches!(err, ReadError::Strict(_)));
        assert!(
            err.to_string()
                .contains("line 3, column cOi: negative count"),
            "{err}"
        );
    }

    #[test]
    fn several_trade_dates_split() {
        let data = csv(&[
            row("AAA", "1/19/2024", "95", "1", "0.02", "1/3/2024"),
            row("AAA", "1/19/2024", "95", "1", "0.02", "1/4/2024"),
            row("BBB", "1/19/2024", "95", "1", "0.02", "1/3/2024"),
        ]);
        let (summary, out) = read_to_batches(&data, ReadOptions::default()).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(summary.rows_out[&day("2024-01-03")], 2);
        assert_eq!(summary.rows_out[&day("2024-01-04")], 1);
    }

    #[test]
    fn empty_member_and_header_only_yield_no_rows() {
        let (summary, out) = read_to_batches(b"", ReadOptions::default()).unwrap();
        assert_eq!((summary.rows_in, summary.layout, out.len()), (0, None, 0));
        let (summary, out) = read_to_batches(HEADER.as_bytes(), ReadOptions::default()).unwrap();
        assert_eq!((summary.rows_in, out.len()), (0, 0));
        assert_eq!(summary.layout, Some(Layout::V1));
    }

    #[test]
    fn crlf_and_bom_are_tolerated() {
        let mut s = format!("\u{feff}{HEADER}\r\n");
        s.push_str(&row("AAA", "1/19/2024", "95", "1", "0.02", "1/3/2024"));
        s.push_str("\r\n");
        let (summary, out) = read_to_batches(s.as_bytes(), ReadOptions::default()).unwrap();
        assert!(summary.rejects.is_empty(), "{:?}", summary.rejects);
        assert_eq!(out[&day("2024-01-03")][0].num_rows(), 1);
    }

    #[test]
    fn missing_required_column_is_a_header_error() {
        let header = HEADER.replace(",gamma,", ",gammaX,");
        let err =
            read_to_batches(format!("{header}\n").as_bytes(), ReadOptions::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("line 1: header lacks required column(s): gamma"),
            "{err}"
        );
    }

    /// Many tickers across several chunks, out of ticker order in one place:
    /// the output must equal a plain sort of the input either way.
    #[test]
    fn chunked_release_equals_a_full_sort() {
        let mut rows = Vec::new();
        for t in 0..300 {
            for k in (0..300).rev() {
                let ticker = format!("T{t:03}");
                rows.push(row(
                    &ticker,
                    "1/19/2024",
                    &format!("{}", 10 + k),
                    &k.to_string(),
                    "0.01",
                    "1/3/2024",
                ));
            }
        }
        let sorted = csv(&rows);
        let (s1, out1) = read_to_batches(&sorted, ReadOptions::default()).unwrap();
        assert!(!s1.buffered_whole);
        rows.swap(10, 80_000);
        let shuffled = csv(&rows);
        let (s2, out2) = read_to_batches(&shuffled, ReadOptions::default()).unwrap();
        assert!(s2.buffered_whole);
        let d = day("2024-01-03");
        let sizes: Vec<usize> = out1[&d].iter().map(|b| b.num_rows()).collect();
        assert!(
            sizes[..sizes.len() - 1]
                .iter()
                .all(|n| *n == OUTPUT_BATCH_ROWS)
        );
        let one = concat_batches(&file_schema(), &out1[&d]).unwrap();
        let two = concat_batches(&file_schema(), &out2[&d]).unwrap();
        assert_eq!(one.num_rows(), 90_000);
        // The same rows in the same order; only the two swapped rows' lines moved.
        let line = file_schema().index_of(SOURCE_LINE).unwrap();
        let keys: Vec<usize> = (0..line).collect();
        assert_eq!(one.project(&keys).unwrap(), two.project(&keys).unwrap());
        let (l1, l2) = (
            column::<Int64Array>(&one, SOURCE_LINE),
            column::<Int64Array>(&two, SOURCE_LINE),
        );
        let moved: Vec<(i64, i64)> = (0..one.num_rows())
            .filter(|&i| l1.value(i) != l2.value(i))
            .map(|i| (l1.value(i), l2.value(i)))
            .collect();
        // Rows 10 and 80,000 (lines 12 and 80,002) traded places.
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert!(
            moved.contains(&(12, 80_002)) && moved.contains(&(80_002, 12)),
            "{moved:?}"
        );
        let tickers = column::<StringArray>(&one, "ticker");
        let strikes = column::<Decimal128Array>(&one, "strike");
        for i in 1..one.num_rows() {
            let a = (tickers.value(i - 1), strikes.value(i - 1));
            let b = (tickers.value(i), strikes.value(i));
            assert!(
                a.0 < b.0 || (a.0 == b.0 && a.1 < b.1),
                "row {i}: {a:?} then {b:?}"
            );
        }
    }
}
