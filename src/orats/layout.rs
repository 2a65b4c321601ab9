//! The ORATS SMV Strikes columns, their lake names and types, and layout
//! detection from a file's header (ORATS_FORMAT.md, "Layouts").

use std::fmt;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

/// How a column's text is parsed and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text (tickers, OPRA symbols) → Utf8.
    Text,
    /// `M/D/YYYY` or `YYYY-MM-DD` → Date32.
    Date,
    /// Non-negative integer counts → Int64.
    Count,
    /// Fixed-point decimals (prices, IVs, greeks, rates) with this many decimals →
    /// `Decimal128(DECIMAL_PRECISION, scale)`, stored as INT64 in Parquet: the cell's decimal
    /// value exactly, as a scaled integer.
    Decimal(i8),
    /// Floating-point cells (the theoretical values, quoted from `1.3E-05` to `2.3E+15`: no
    /// one scale holds them in 15 digits) → Float64.
    Float,
}

impl Kind {
    /// Whether the column holds numbers that may be blank (a blank is null).
    pub fn is_number(self) -> bool {
        matches!(self, Kind::Decimal(_) | Kind::Float)
    }
}

/// Digits of every decimal column. 15 digits is what a double holds exactly: every stored
/// value `v / 10^s` has `|v| < 10^15 < 2^53`, so casting it to DOUBLE (the integer, an exact
/// double, divided by an exact power of ten: one correctly rounded division) gives the very
/// double that parsing the CSV cell's text gives — the value the metrics compute with.
pub const DECIMAL_PRECISION: u8 = 15;

/// One ORATS column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The name in the ORATS header.
    pub orats: &'static str,
    /// The snake_case name in the lake.
    pub lake: &'static str,
    /// Parsing and storage type.
    pub kind: Kind,
    /// Needed by the metrics: a file whose header lacks it is refused.
    pub required: bool,
}

impl Column {
    /// Whether a blank cell makes the row bad. Blank prices and greeks are
    /// nulls the metrics handle (a blank gamma is "missing gamma"); a blank
    /// key, date or count cannot be stored without inventing a value.
    pub fn must_have_value(&self) -> bool {
        self.required && (!self.kind.is_number() || self.lake == "strike")
    }
}

const fn col(orats: &'static str, lake: &'static str, kind: Kind, required: bool) -> Column {
    Column {
        orats,
        lake,
        kind,
        required,
    }
}

/// Every column of the v1 layout, in header order; `trade_date` last. The scales are the
/// lake's precision catalogue (README, "The lake"): ORATS_FORMAT.md's digits — prices on the
/// cent grid, `yte` to 5, rates to 4, IVs and vols to 6, greeks to 8 — with `stkPx` and
/// `spot_px` to 4 (sub-dollar stocks trade in 0.0001) and `strike` to 3 (the OSI symbol's
/// digits). A cell with more decimals is rejected, never rounded (`values::parse_decimal`).
pub const COLUMNS: [Column; 39] = [
    col("ticker", "ticker", Kind::Text, true),
    col("cOpra", "c_opra", Kind::Text, false),
    col("pOpra", "p_opra", Kind::Text, false),
    col("stkPx", "stk_px", Kind::Decimal(4), true),
    col("expirDate", "expir_date", Kind::Date, true),
    col("yte", "yte", Kind::Decimal(5), false),
    col("strike", "strike", Kind::Decimal(3), true),
    col("cVolu", "c_volu", Kind::Count, true),
    col("cOi", "c_oi", Kind::Count, true),
    col("pVolu", "p_volu", Kind::Count, true),
    col("pOi", "p_oi", Kind::Count, true),
    col("cBidPx", "c_bid_px", Kind::Decimal(2), false),
    col("cValue", "c_value", Kind::Decimal(2), false),
    col("cAskPx", "c_ask_px", Kind::Decimal(2), false),
    col("pBidPx", "p_bid_px", Kind::Decimal(2), false),
    col("pValue", "p_value", Kind::Decimal(2), false),
    col("pAskPx", "p_ask_px", Kind::Decimal(2), false),
    col("cBidIv", "c_bid_iv", Kind::Decimal(6), false),
    col("cMidIv", "c_mid_iv", Kind::Decimal(6), false),
    col("cAskIv", "c_ask_iv", Kind::Decimal(6), false),
    col("smoothSmvVol", "smooth_smv_vol", Kind::Decimal(6), false),
    col("pBidIv", "p_bid_iv", Kind::Decimal(6), false),
    col("pMidIv", "p_mid_iv", Kind::Decimal(6), false),
    col("pAskIv", "p_ask_iv", Kind::Decimal(6), false),
    col("iRate", "i_rate", Kind::Decimal(4), false),
    col("divRate", "div_rate", Kind::Decimal(4), false),
    col(
        "residualRateData",
        "residual_rate_data",
        Kind::Decimal(4),
        false,
    ),
    col("delta", "delta", Kind::Decimal(8), true),
    col("gamma", "gamma", Kind::Decimal(8), true),
    col("theta", "theta", Kind::Decimal(8), false),
    col("vega", "vega", Kind::Decimal(8), false),
    col("rho", "rho", Kind::Decimal(8), false),
    col("phi", "phi", Kind::Decimal(8), false),
    col("driftlessTheta", "driftless_theta", Kind::Decimal(8), false),
    col("extVol", "ext_vol", Kind::Decimal(6), false),
    col("extCTheo", "ext_c_theo", Kind::Float, false),
    col("extPTheo", "ext_p_theo", Kind::Float, false),
    col("spot_px", "spot_px", Kind::Decimal(4), false),
    col("trade_date", "trade_date", Kind::Date, true),
];

/// Index of `trade_date` in [`COLUMNS`]; it becomes the hive partition, not a file column.
pub const TRADE_DATE: usize = COLUMNS.len() - 1;

/// Index of a column in [`COLUMNS`] by its ORATS name.
pub fn column_index(orats: &str) -> Option<usize> {
    COLUMNS.iter().position(|c| c.orats == orats)
}

/// The schema of an `orats_strikes` Parquet file: every column but `trade_date`,
/// then [`SOURCE_LINE`].
pub fn file_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let fields: Vec<Field> = COLUMNS[..TRADE_DATE]
                .iter()
                .map(|c| {
                    let data_type = match c.kind {
                        Kind::Text => DataType::Utf8,
                        Kind::Date => DataType::Date32,
                        Kind::Count => DataType::Int64,
                        Kind::Decimal(scale) => DataType::Decimal128(DECIMAL_PRECISION, scale),
                        Kind::Float => DataType::Float64,
                    };
                    Field::new(c.lake, data_type, !c.must_have_value())
                })
                .chain(std::iter::once(Field::new(
                    SOURCE_LINE,
                    DataType::Int64,
                    true,
                )))
                .collect();
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// The last column of an `orats_strikes` file: the row's line in its source CSV
/// (the header is line 1). It keeps the file's own order, which the lake's sort
/// by (ticker, expir_date, strike, c_opra) does not: the production rules of
/// METRICS.md §10 read "the first row in file order". Every row written has
/// one; the field is nullable so that lakes written before it existed still
/// read (their rows have none).
pub const SOURCE_LINE: &str = "source_line";

/// Which ORATS layout a header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// 39 columns with `cOpra`/`pOpra` (2021-05-28 on, and 2021-03-12).
    V1,
    /// 37 columns without the OPRA symbols (2007-01-03 … 2021-05-27).
    V2,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::V1 => "v1",
            Layout::V2 => "v2",
        })
    }
}

/// A header mapped onto [`COLUMNS`].
#[derive(Debug, Clone)]
pub struct HeaderMap {
    /// For each of [`COLUMNS`], its field index in the file, if present.
    pub source_index: [Option<usize>; COLUMNS.len()],
    /// Number of fields in the header (every row must have as many).
    pub width: usize,
    /// The layout, decided by the presence of the OPRA columns.
    pub layout: Layout,
    /// Header names we do not know; reported, not stored.
    pub unknown: Vec<String>,
}

/// Why a header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Columns the metrics need are absent.
    #[error("header lacks required column(s): {}", .0.join(", "))]
    MissingColumns(Vec<String>),
    /// A column name appears twice.
    #[error("header names column {0:?} more than once")]
    Duplicate(String),
}

impl HeaderMap {
    /// Maps header field names (BOM and surrounding blanks already tolerated) onto [`COLUMNS`].
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, HeaderError> {
        let mut source_index = [None; COLUMNS.len()];
        let mut unknown = Vec::new();
        let mut width = 0;
        for (i, raw) in names.into_iter().enumerate() {
            width = i + 1;
            let name = raw.trim_start_matches('\u{feff}').trim();
            match column_index(name) {
                Some(c) if source_index[c].is_some() => {
                    return Err(HeaderError::Duplicate(name.to_string()));
                }
                Some(c) => source_index[c] = Some(i),
                None => unknown.push(name.to_string()),
            }
        }
        let missing: Vec<String> = COLUMNS
            .iter()
            .zip(&source_index)
            .filter(|(c, idx)| c.required && idx.is_none())
            .map(|(c, _)| c.orats.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(HeaderError::MissingColumns(missing));
        }
        let has = |name: &str| column_index(name).and_then(|c| source_index[c]).is_some();
        let layout = if has("cOpra") && has("pOpra") {
            Layout::V1
        } else {
            Layout::V2
        };
        Ok(HeaderMap {
            source_index,
            width,
            layout,
            unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1_header() -> Vec<&'static str> {
        COLUMNS.iter().map(|c| c.orats).collect()
    }

    #[test]
    fn v1_header_is_v1() {
        let h = HeaderMap::from_names(v1_header()).unwrap();
        assert_eq!(h.layout, Layout::V1);
        assert_eq!(h.width, 39);
        assert!(h.unknown.is_empty());
        assert_eq!(h.source_index[TRADE_DATE], Some(38));
    }

    #[test]
    fn v2_header_without_opra_is_v2_and_positions_follow_the_header() {
        let names: Vec<&str> = v1_header()
            .into_iter()
            .filter(|n| !n.ends_with("Opra"))
            .collect();
        assert_eq!(names.len(), 37);
        let h = HeaderMap::from_names(names).unwrap();
        assert_eq!(h.layout, Layout::V2);
        assert_eq!(h.source_index[1], None);
        assert_eq!(h.source_index[3], Some(1), "stkPx is the second v2 field");
    }

    #[test]
    fn reordered_header_with_bom_and_extra_column() {
        let mut names = v1_header();
        names.reverse();
        let first = format!("\u{feff}{}", names[0]);
        names[0] = &first;
        names.push("newThing");
        let h = HeaderMap::from_names(names).unwrap();
        assert_eq!(h.source_index[TRADE_DATE], Some(0));
        assert_eq!(h.source_index[0], Some(38));
        assert_eq!(h.unknown, vec!["newThing".to_string()]);
    }

    #[test]
    fn missing_required_columns_are_named() {
        let names: Vec<&str> = v1_header()
            .into_iter()
            .filter(|n| *n != "gamma" && *n != "cOi")
            .collect();
        let err = HeaderMap::from_names(names).unwrap_err();
        assert_eq!(
            err,
            HeaderError::MissingColumns(vec!["cOi".into(), "gamma".into()])
        );
        assert!(err.to_string().contains("cOi, gamma"));
    }

    #[test]
    fn file_schema_has_lake_names_and_types() {
        let s = file_schema();
        assert_eq!(s.fields().len(), 39);
        assert_eq!(s.field(38).name(), SOURCE_LINE);
        assert_eq!(s.field(38).data_type(), &DataType::Int64);
        assert_eq!(s.field(0).name(), "ticker");
        assert_eq!(
            s.field_with_name("expir_date").unwrap().data_type(),
            &DataType::Date32
        );
        assert_eq!(
            s.field_with_name("c_oi").unwrap().data_type(),
            &DataType::Int64
        );
        assert_eq!(
            s.field_with_name("smooth_smv_vol").unwrap().data_type(),
            &DataType::Decimal128(15, 6)
        );
        assert_eq!(
            s.field_with_name("gamma").unwrap().data_type(),
            &DataType::Decimal128(15, 8)
        );
        assert_eq!(
            s.field_with_name("ext_p_theo").unwrap().data_type(),
            &DataType::Float64
        );
        assert!(s.field_with_name("trade_date").is_err());
    }
}
