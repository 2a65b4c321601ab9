//! Parsing ORATS rows: each cell straight into a typed column buffer (text, date, count,
//! scaled decimal, float), the row validated as it goes; a bad row is reported as its column, reason and
//! cell, and cut off the buffers again, so nothing of it is kept.

use std::sync::Arc;

use datafusion::arrow::array::builder::NullBufferBuilder;
use datafusion::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::ArrowNativeType;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use super::layout::{COLUMNS, DECIMAL_PRECISION, HeaderMap, Kind, TRADE_DATE, file_schema};
use super::records::Record;
use super::values::{is_blank, parse_count, parse_date, parse_decimal, parse_float};

/// Rows per finished chunk; also the unit in which completed runs are released. Small enough
/// that the chunk being built, the ticker run held back and the batches being encoded stay a
/// few MB (65,536 kept ~90 MB of chunks alive at a full-size day's peak, every MB of it pages
/// the kernel had to zero first); the file's bytes do not depend on it (the `Rechunker`).
pub(super) const CHUNK_ROWS: usize = 16_384;
/// Number of file columns (all but `trade_date`).
const FILE_COLUMNS: usize = TRADE_DATE;

/// A bad row: the column at fault (if the fault is one cell), why, and the offending cell.
pub(super) type RowError = (Option<&'static str>, String, Option<String>);

/// Parses records against a header, remembering the last date strings seen
/// (dates repeat row after row, parsing each again would be waste).
pub(super) struct RowParser {
    header: HeaderMap,
    date_cache: [(Vec<u8>, i32); 2],
}

impl RowParser {
    pub(super) fn new(header: HeaderMap) -> Self {
        RowParser {
            header,
            date_cache: [(Vec::new(), 0), (Vec::new(), 0)],
        }
    }

    /// The field of `column` in `record` (empty when the layout lacks the column).
    fn field<'a>(&self, record: Record<'a>, column: usize) -> &'a [u8] {
        self.header.source_index[column].map_or(&[][..], |f| record.field(f))
    }

    fn date(&mut self, column: usize, raw: &[u8]) -> Result<i32, &'static str> {
        let cached = &mut self.date_cache[usize::from(column == TRADE_DATE)];
        if cached.0 != raw {
            cached.1 = parse_date(raw)?;
            cached.0.clear();
            cached.0.extend_from_slice(raw);
        }
        Ok(cached.1)
    }

    /// The row's trade date, which decides where it goes. When it is bad, the
    /// error is the row's first bad cell in column order, as if the row had been
    /// read left to right.
    pub(super) fn trade_date(&mut self, record: Record) -> Result<i32, RowError> {
        self.check_width(record)?;
        let raw = self.field(record, TRADE_DATE);
        if !is_blank(raw)
            && let Ok(date) = self.date(TRADE_DATE, raw)
        {
            return Ok(date);
        }
        // Unsized scratch columns: a file of bad dates must not allocate a chunk per row.
        let mut scratch = Columns::with_capacity(0);
        match self.append(record, &mut scratch) {
            Err(e) => Err(e),
            // Only a blank, optional trade date gets here; a row needs one all the same.
            Ok(()) => Err((
                Some(COLUMNS[TRADE_DATE].orats),
                "blank value".to_string(),
                None,
            )),
        }
    }

    fn check_width(&self, record: Record) -> Result<(), RowError> {
        if record.field_count() == self.header.width {
            return Ok(());
        }
        Err((
            None,
            format!(
                "expected {} fields, found {}",
                self.header.width,
                record.field_count()
            ),
            None,
        ))
    }

    /// Parses every cell of `record` (width already checked) straight into
    /// `columns`, then validates the trade date; on a bad cell, the columns are
    /// cut back to where they were and the cell is reported.
    pub(super) fn append(&mut self, record: Record, columns: &mut Columns) -> Result<(), RowError> {
        let rows = columns.len();
        let result = self.append_cells(record, columns);
        if result.is_err() {
            columns.truncate(rows);
        }
        result
    }

    fn append_cells(&mut self, record: Record, columns: &mut Columns) -> Result<(), RowError> {
        for (c, column) in COLUMNS.iter().enumerate() {
            let raw = self.field(record, c);
            let bad = |reason: &str| {
                (
                    Some(column.orats),
                    reason.to_string(),
                    Some(String::from_utf8_lossy(raw).into_owned()),
                )
            };
            if is_blank(raw) {
                if column.must_have_value() {
                    return Err((Some(column.orats), "blank value".to_string(), None));
                }
                if let Some(out) = columns.columns.get_mut(c) {
                    out.push_null();
                }
                continue;
            }
            let Some(out) = columns.columns.get_mut(c) else {
                // The trade date: the partition, not a column of the file.
                self.date(c, raw).map_err(bad)?;
                continue;
            };
            match out {
                Column::Decimal(values, nulls, scale) => {
                    let value = parse_decimal(raw, *scale, DECIMAL_PRECISION).map_err(|why| {
                        bad(&format!(
                            "{why} (DECIMAL({DECIMAL_PRECISION},{scale}): at most {scale} decimals, {DECIMAL_PRECISION} digits)"
                        ))
                    })?;
                    values.push(i128::from(value));
                    nulls.append_non_null();
                }
                Column::Float(values, nulls) => {
                    values.push(parse_float(raw).map_err(bad)?);
                    nulls.append_non_null();
                }
                Column::Count(values, nulls) => {
                    values.push(parse_count(raw).map_err(bad)?);
                    nulls.append_non_null();
                }
                Column::Date(values, nulls) => {
                    values.push(self.date(c, raw).map_err(bad)?);
                    nulls.append_non_null();
                }
                Column::Text(text) => {
                    if std::str::from_utf8(raw).is_err() {
                        return Err(bad("not valid UTF-8"));
                    }
                    text.push(raw);
                }
            }
        }
        Ok(())
    }
}

/// UTF-8 cells laid out as an Arrow string column.
pub(super) struct TextColumn {
    pub(super) offsets: Vec<i32>,
    pub(super) bytes: Vec<u8>,
    nulls: NullBufferBuilder,
}

impl TextColumn {
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextColumn {
            offsets,
            bytes: Vec::with_capacity(rows * 8),
            nulls: NullBufferBuilder::new(rows),
        }
    }

    fn push(&mut self, cell: &[u8]) {
        self.bytes.extend_from_slice(cell);
        self.offsets.push(self.offset());
        self.nulls.append_non_null();
    }

    fn offset(&self) -> i32 {
        i32::try_from(self.bytes.len()).expect("a chunk's text stays under 2 GiB")
    }
}

/// One column of the file schema, in the making.
pub(super) enum Column {
    Text(TextColumn),
    Date(Vec<i32>, NullBufferBuilder),
    Count(Vec<i64>, NullBufferBuilder),
    /// Values times `10^scale`, the last field.
    Decimal(Vec<i128>, NullBufferBuilder, i8),
    Float(Vec<f64>, NullBufferBuilder),
}

/// A finished chunk's values and nulls; fresh buffers take their place.
fn take_values<T: ArrowNativeType>(
    values: &mut Vec<T>,
    nulls: &mut NullBufferBuilder,
) -> (ScalarBuffer<T>, Option<NullBuffer>) {
    let values = std::mem::replace(values, Vec::with_capacity(CHUNK_ROWS));
    (ScalarBuffer::from(values), nulls.finish())
}

impl Column {
    fn push_null(&mut self) {
        match self {
            Column::Text(text) => {
                text.offsets.push(text.offset());
                text.nulls.append_null();
            }
            Column::Date(values, nulls) => {
                values.push(0);
                nulls.append_null();
            }
            Column::Count(values, nulls) => {
                values.push(0);
                nulls.append_null();
            }
            Column::Decimal(values, nulls, _) => {
                values.push(0);
                nulls.append_null();
            }
            Column::Float(values, nulls) => {
                values.push(0.0);
                nulls.append_null();
            }
        }
    }

    fn truncate(&mut self, rows: usize) {
        match self {
            Column::Text(text) => {
                text.offsets.truncate(rows + 1);
                let end = text.offsets[rows] as usize;
                text.bytes.truncate(end);
                text.nulls.truncate(rows);
            }
            Column::Date(values, nulls) => {
                values.truncate(rows);
                nulls.truncate(rows);
            }
            Column::Count(values, nulls) => {
                values.truncate(rows);
                nulls.truncate(rows);
            }
            Column::Decimal(values, nulls, _) => {
                values.truncate(rows);
                nulls.truncate(rows);
            }
            Column::Float(values, nulls) => {
                values.truncate(rows);
                nulls.truncate(rows);
            }
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Column::Text(text) => {
                let TextColumn {
                    offsets,
                    bytes,
                    mut nulls,
                } = std::mem::replace(text, TextColumn::with_capacity(CHUNK_ROWS));
                let nulls = nulls.finish();
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                Arc::new(StringArray::try_new(
                    offsets,
                    Buffer::from_vec(bytes),
                    nulls,
                )?)
            }
            Column::Date(values, nulls) => {
                let (values, nulls) = take_values(values, nulls);
                Arc::new(Date32Array::new(values, nulls))
            }
            Column::Count(values, nulls) => {
                let (values, nulls) = take_values(values, nulls);
                Arc::new(Int64Array::new(values, nulls))
            }
            Column::Decimal(values, nulls, scale) => {
                let (values, nulls) = take_values(values, nulls);
                Arc::new(
                    Decimal128Array::new(values, nulls)
                        .with_precision_and_scale(DECIMAL_PRECISION, *scale)?,
                )
            }
            Column::Float(values, nulls) => {
                let (values, nulls) = take_values(values, nulls);
                Arc::new(Float64Array::new(values, nulls))
            }
        })
    }
}

/// Columns for the file schema plus the source line (the last sort key, so
/// rows equal in every key keep their file order). Rows are appended cell by
/// cell; a row found bad half way is cut off again.
pub(super) struct Columns {
    pub(super) columns: Vec<Column>,
    pub(super) lines: Vec<i64>,
}

impl Columns {
    pub(super) fn new() -> Self {
        Self::with_capacity(CHUNK_ROWS)
    }

    fn with_capacity(rows: usize) -> Self {
        let columns = COLUMNS[..FILE_COLUMNS]
            .iter()
            .map(|c| match c.kind {
                Kind::Text => Column::Text(TextColumn::with_capacity(rows)),
                Kind::Date => Column::Date(Vec::with_capacity(rows), NullBufferBuilder::new(rows)),
                Kind::Count => {
                    Column::Count(Vec::with_capacity(rows), NullBufferBuilder::new(rows))
                }
                Kind::Decimal(scale) => Column::Decimal(
                    Vec::with_capacity(rows),
                    NullBufferBuilder::new(rows),
                    scale,
                ),
                Kind::Float => {
                    Column::Float(Vec::with_capacity(rows), NullBufferBuilder::new(rows))
                }
            })
            .collect();
        Columns {
            columns,
            lines: Vec::with_capacity(rows),
        }
    }

    /// Complete rows (every column has them and their line).
    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    fn truncate(&mut self, rows: usize) {
        for column in &mut self.columns {
            column.truncate(rows);
        }
        self.lines.truncate(rows);
    }

    pub(super) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut arrays = self
            .columns
            .iter_mut()
            .map(Column::finish)
            .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
        let lines = std::mem::replace(&mut self.lines, Vec::with_capacity(CHUNK_ROWS));
        arrays.push(Arc::new(Int64Array::from(lines)));
        RecordBatch::try_new(file_schema(), arrays)
    }
}
