//! Encoding `orats_strikes` Parquet files and publishing objects atomically.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::record_batch::RecordBatch;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::orats::layout::{COLUMNS, Kind, SOURCE_LINE, TRADE_DATE, file_schema};
use crate::orats::reader::{BatchSink, ReadError};

/// Rows per row group: a day splits into ~10–15 groups, so a one-ticker query
/// reads one or two of them (the rows are sorted by ticker).
pub const ROW_GROUP_ROWS: usize = 65_536;

/// Decimal columns with many distinct values (the IVs, vols and greeks: 25–53K distinct
/// in a 65K-row group, and `c_value`/`p_value`): a dictionary would add an index to
/// nearly every value, so they are stored DELTA_BINARY_PACKED — the scaled integers of
/// neighbouring rows (one ticker, one expiry, rising strikes) differ little, and their
/// deltas pack into a few bits each. Every other column is dictionary-encoded: bid and ask
/// prices repeat across a ticker's strikes, and the per-ticker and per-expiry columns
/// (`stk_px`, `yte`, rates, dates) collapse to a few RLE runs. Measured per column on a
/// full-size realistic day (README, "Exact decimals"): delta packing beats PLAIN and the
/// dictionary on each of these but `c_ask_iv`/`p_ask_iv` (within 2 %), and the dictionary
/// beats it on the others.
const DELTA_DECIMAL_COLUMNS: &[&str] = &[
    "c_value",
    "p_value",
    "c_bid_iv",
    "c_mid_iv",
    "c_ask_iv",
    "smooth_smv_vol",
    "p_bid_iv",
    "p_mid_iv",
    "p_ask_iv",
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
    "phi",
    "driftless_theta",
    "ext_vol",
];

/// zstd levels per kind of column. The delta-packed decimals keep level 3 (their bit-packed
/// deltas are where the bytes are); the dictionary-encoded columns (bit-packed indices and
/// their dictionaries) and the OPRA symbols (already prefix-coded by DELTA_BYTE_ARRAY)
/// compress about as well at levels 2 and 1, which are cheaper.
const ZSTD_DELTA_DECIMALS: i32 = 3;
const ZSTD_DICTIONARY: i32 = 2;
const ZSTD_OPRA: i32 = 1;

/// The file metadata key naming the archive a file's rows came from.
pub const SOURCE_KEY: &str = "gexlake.source";

fn zstd(level: i32) -> Compression {
    Compression::ZSTD(ZstdLevel::try_new(level).expect("valid zstd level"))
}

/// Writer properties of an `orats_strikes` file. Fixed, so the same rows
/// always encode to the same bytes.
pub fn strikes_properties(source: &str) -> WriterProperties {
    let sorting = ["ticker", "expir_date", "strike", "c_opra"]
        .iter()
        .map(|name| SortingColumn {
            column_idx: file_schema().index_of(name).expect("sort column exists") as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    let mut builder = WriterProperties::builder()
        .set_compression(zstd(ZSTD_DICTIONARY))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("gexlake {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SOURCE_KEY.to_string(),
            source.to_string(),
        )]));
    for column in &COLUMNS[..TRADE_DATE] {
        let path = ColumnPath::from(column.lake);
        let delta = DELTA_DECIMAL_COLUMNS.contains(&column.lake);
        builder = match column.kind {
            // Sorted OPRA symbols share long prefixes with their neighbours.
            Kind::Text if column.lake != "ticker" => builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_compression(path.clone(), zstd(ZSTD_OPRA))
                .set_column_encoding(path, Encoding::DELTA_BYTE_ARRAY),
            Kind::Decimal(_) if delta => builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_compression(path.clone(), zstd(ZSTD_DELTA_DECIMALS))
                .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED),
            _ => builder.set_column_dictionary_enabled(path, true),
        };
    }
    // Line numbers rise by one from row to row in a file sorted the usual way:
    // delta encoding stores them in a few bits each.
    let line = ColumnPath::from(SOURCE_LINE);
    builder
        .set_column_dictionary_enabled(line.clone(), false)
        .set_column_encoding(line, Encoding::DELTA_BINARY_PACKED)
        .build()
}

/// One finished Parquet file for one trade date.
#[derive(Debug)]
pub struct EncodedPartition {
    /// Trade date (days since 1970-01-01).
    pub date: i32,
    /// The Parquet bytes.
    pub bytes: Bytes,
    /// Rows in the file.
    pub rows: u64,
}

/// A [`BatchSink`] encoding each trade date into its own in-memory Parquet file.
pub struct PartitionWriters {
    source: String,
    writers: BTreeMap<i32, (ArrowWriter<Vec<u8>>, u64)>,
    /// Bytes reserved for the first file's buffer; taken by the first date.
    first_capacity: usize,
}

impl PartitionWriters {
    /// Writers for the rows of the source named `source` (recorded in the file metadata), the
    /// first date's file buffer reserving `bytes` (the archive's compressed size: the lake's
    /// file is 0.66–0.77 of it). A buffer grown by doubling instead copies itself ~6 times on
    /// the way to ~45 MB, and the kernel zeroes every fresh page of every copy: a fifth of a
    /// conversion's page faults (measured). Reserved bytes never written cost no memory.
    pub fn new(source: &str, bytes: usize) -> Self {
        PartitionWriters {
            source: source.to_string(),
            writers: BTreeMap::new(),
            first_capacity: bytes,
        }
    }

    /// Closes every file.
    pub fn finish(self) -> Result<Vec<EncodedPartition>, ReadError> {
        self.writers
            .into_iter()
            .map(|(date, (writer, rows))| {
                let bytes = writer.into_inner()?;
                Ok(EncodedPartition {
                    date,
                    bytes: Bytes::from(bytes),
                    rows,
                })
            })
            .collect()
    }
}

impl BatchSink for PartitionWriters {
    fn write(&mut self, date: i32, batch: RecordBatch) -> Result<(), ReadError> {
        let (writer, rows) = match self.writers.entry(date) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let buffer = Vec::with_capacity(std::mem::take(&mut self.first_capacity));
                let writer = ArrowWriter::try_new(
                    buffer,
                    file_schema(),
                    Some(strikes_properties(&self.source)),
                )?;
                e.insert((writer, 0))
            }
        };
        *rows += batch.num_rows() as u64;
        writer.write(&batch)?;
        Ok(())
    }
}

/// Writes an object so that readers see either the old object or the whole
/// new one: one `put` (atomic on every store; the local store writes a staged
/// file and renames it).
pub async fn publish(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    bytes: Bytes,
) -> Result<(), object_store::Error> {
    store.put(path, PutPayload::from_bytes(bytes)).await?;
    Ok(())
}

/// Deletes an object; a missing object is not an error.
pub async fn remove(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<(), object_store::Error> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
