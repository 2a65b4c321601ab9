//! Lakes written by earlier versions, whose `orats_strikes` files hold Float64 prices, IVs and
//! greeks (issue #15): `gexlake` reads them next to today's DECIMAL files and computes the
//! very same dealer_metrics and orats_daily bytes, and `gexlake migrate-lake` rewrites them
//! into the bytes converting their archives today gives — or refuses a file whose doubles
//! are no decimals of the lake's scales, leaving it as it was.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use common::{run_gexlake, sha256_hex, small_sample};
use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every Parquet file under `dir`, by path relative to it, with its SHA-256.
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    common::tree(dir)
        .into_iter()
        .filter(|(path, _)| path.ends_with(".parquet"))
        .map(|(path, bytes)| (path, sha256_hex(&bytes)))
        .collect()
}

/// The strikes files of a lake.
fn strikes_files(lake: &Path) -> Vec<PathBuf> {
    hashes(&lake.join("orats_strikes"))
        .keys()
        .map(|rel| lake.join("orats_strikes").join(rel))
        .collect()
}

/// Rewrites a strikes file as earlier versions wrote it: every DECIMAL column as Float64 (the
/// cast divides the exact integer by a power of ten: the double ingest used to parse from the
/// cell), the source recorded in the footer as before. `tamper` may change the doubles.
fn write_old_format(file: &Path, tamper: impl Fn(&str, ArrayRef) -> ArrayRef) {
    let bytes = Bytes::from(std::fs::read(file).unwrap());
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .map(|kv| {
            kv.into_iter()
                .filter(|kv| kv.key != "ARROW:schema")
                .collect()
        });
    let new = builder.schema().clone();
    let old = Arc::new(Schema::new(
        new.fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Decimal128(..) => Field::new(f.name(), DataType::Float64, true),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ));
    let props = WriterProperties::builder()
        .set_key_value_metadata(kv)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, old.clone(), Some(props)).unwrap();
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        let columns: Vec<ArrayRef> = old
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, c)| tamper(f.name(), cast(c, f.data_type()).unwrap()))
            .collect();
        writer
            .write(&RecordBatch::try_new(old.clone(), columns).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
    std::fs::write(file, out).unwrap();
}

/// Metrics (both profiles) and orats_daily over every date of the lake.
fn compute(lake: &Path) {
    for profile in ["a3", "v2"] {
        run_gexlake(&[
            "metrics",
            "--lake",
            s(lake),
            "--from",
            "2026-01-01",
            "--to",
            "2026-12-31",
            "--profile",
            profile,
        ])
        .expect_code(0);
    }
    run_gexlake(&[
        "daily",
        "--lake",
        s(lake),
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
    ])
    .expect_code(0);
}

fn copy_strikes(from: &Path, to: &Path) {
    for file in strikes_files(from) {
        let target = to.join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
}

#[test]
fn old_float_files_read_alike_and_migrate_to_todays_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    small_sample(&raw, "2026-02-04", 7);
    small_sample(&raw, "2026-02-05", 7);
    let today = tmp.path().join("today");
    run_gexlake(&["ingest", s(&raw), "--lake", s(&today)]).expect_code(0);
    compute(&today);
    let want_strikes = hashes(&today.join("orats_strikes"));
    let want_metrics = hashes(&today.join("dealer_metrics"));
    let want_daily = hashes(&today.join("orats_daily"));
    assert_eq!(want_metrics.len(), 4, "{want_metrics:?}");

    // A lake whose first date was converted by an earlier version, the second by this one.
    let mixed = tmp.path().join("mixed");
    copy_strikes(&today, &mixed);
    let files = strikes_files(&mixed);
    assert_eq!(files.len(), 2);
    write_old_format(&files[0], |_, c| c);
    assert_ne!(hashes(&mixed.join("orats_strikes")), want_strikes);
    compute(&mixed);
    assert_eq!(hashes(&mixed.join("dealer_metrics")), want_metrics);
    assert_eq!(hashes(&mixed.join("orats_daily")), want_daily);
    let sums = |lake: &Path| {
        run_gexlake(&[
            "sql",
            "--lake",
            s(lake),
            "--format",
            "csv",
            "SELECT trade_date, sum(gamma * c_oi * 100 * stk_px * stk_px) AS g, sum(strike) AS k \
             FROM strikes GROUP BY trade_date ORDER BY trade_date",
        ])
        .expect_code(0)
        .stdout
        .clone()
    };
    assert_eq!(
        sums(&mixed),
        sums(&today),
        "old files read as exact decimals"
    );

    // migrate-lake: the old file gets today's bytes; the current one is left alone.
    let run = run_gexlake(&["migrate-lake", "--lake", s(&mixed)]);
    run.expect_code(0);
    let summary = run.event("migrate-lake: summary");
    assert_eq!(
        (summary["migrated"].as_u64(), summary["current"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(hashes(&mixed.join("orats_strikes")), want_strikes);
    let again = run_gexlake(&["migrate-lake", "--lake", s(&mixed)]);
    assert_eq!(
        again.expect_code(0).event("migrate-lake: summary")["migrated"],
        0
    );
}

#[test]
fn a_double_with_more_decimals_than_the_lake_stores_is_not_migrated() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    small_sample(&raw, "2026-02-04", 3);
    let lake = tmp.path().join("lake");
    run_gexlake(&["ingest", s(&raw), "--lake", s(&lake)]).expect_code(0);
    let file = strikes_files(&lake).remove(0);
    // gamma 0.123456789 on row 5: nine decimals, one more than DECIMAL(15,8) holds.
    write_old_format(&file, |name, c| {
        if name != "gamma" {
            return c;
        }
        let mut values: Vec<Option<f64>> = c
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .iter()
            .collect();
        values[5] = Some(0.123456789);
        Arc::new(Float64Array::from(values))
    });
    let before = std::fs::read(&file).unwrap();
    let run = run_gexlake(&["migrate-lake", "--lake", s(&lake)]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("row 5, column gamma: 0.123456789 is no decimal of at most 8 decimals"),
        "{run}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file is left as it was"
    );
}
