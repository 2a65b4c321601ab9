//! The lake end to end through the real CLI (issue #2): `gexlake ingest` on generated and
//! hand-made archives, checked against what the test computes itself from the ZIPs (row counts
//! by unzipping with the zip crate, SHA-256 of the archive bytes, values summed from the CSV).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{
    CliRun, HEADER, Leg, csv, csv_data_lines, parquet_batches, parquet_rows, run_gexlake,
    sha256_hex, small_sample, zip_csv_member,
};
use datafusion::arrow::array::{Array, Date32Array, Decimal128Array, Int64Array, StringArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;

// ---------------------------------------------------------------------------------------------
// Helpers

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `ORATS_SMV_Strikes_YYYYMMDD` of a `YYYY-MM-DD` date.
fn stem(date: &str) -> String {
    format!("ORATS_SMV_Strikes_{}", date.replace('-', ""))
}

fn partition(lake: &Path, date: &str, stem: &str) -> PathBuf {
    lake.join(format!("orats_strikes/trade_date={date}/{stem}.parquet"))
}

fn ledger_path(lake: &Path, stem: &str) -> PathBuf {
    lake.join(format!("_ingest/{stem}.json"))
}

fn ledger(lake: &Path, stem: &str) -> serde_json::Value {
    let path = ledger_path(lake, stem);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("ledger {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

/// Sets a file's modification time `secs` seconds into the future (a "touch").
fn touch(p: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(secs))
        .unwrap();
}

/// Writes a ZIP named `file_name` with these (member name, bytes), deflated.
fn zip_members(dir: &Path, file_name: &str, members: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join(file_name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, data) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    path
}

fn ingest(inputs: &[&Path], lake: &Path, extra: &[&str]) -> CliRun {
    let mut args = vec!["ingest"];
    args.extend(inputs.iter().map(|p| s(p)));
    args.extend(["--lake", s(lake)]);
    args.extend(extra);
    run_gexlake(&args)
}

/// The error messages the run logged about `file`.
fn errors_about(run: &CliRun, file: &str) -> Vec<String> {
    run.events()
        .into_iter()
        .filter(|e| e["level"] == "ERROR" && e["severity"] == "ERROR" && e["file"] == file)
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column(
        b.schema()
            .index_of(name)
            .unwrap_or_else(|_| panic!("column {name}")),
    )
    .as_any()
    .downcast_ref::<T>()
    .unwrap_or_else(|| panic!("column {name} has an unexpected type"))
}

fn decode_all(parquet: &[u8]) -> RecordBatch {
    let batches = parquet_batches(parquet);
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// Field `i` of every data line of a CSV.
fn csv_field(csv: &[u8], i: usize) -> Vec<String> {
    let text = std::str::from_utf8(csv).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').nth(i).unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Conversion

/// Three generated days: one partition file each at the documented path, a ledger whose
/// checksum, sizes and row counts match what the test computes from the ZIPs, and Parquet that
/// holds every CSV row (same count, same open-interest sum, same tickers), typed and sorted.
#[test]
fn three_days_convert_to_documented_partitions_and_ledgers() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let lake = tmp.path().join("lake");
    let dates = ["2024-01-03", "2024-01-04", "2024-01-05"];
    for d in dates {
        small_sample(&raw, d, 1);
    }
    let run = ingest(&[&raw], &lake, &["--jobs", "2"]);
    run.expect_code(0);
    assert_eq!(
        (
            run.summary("converted"),
            run.summary("skipped"),
            run.summary("failed")
        ),
        (3, 0, 0),
        "{run}"
    );

    let files: BTreeSet<String> = common::tree(&lake).into_keys().collect();
    let mut expected = BTreeSet::new();
    for d in dates {
        expected.insert(format!("orats_strikes/trade_date={d}/{}.parquet", stem(d)));
        expected.insert(format!("_ingest/{}.json", stem(d)));
    }
    assert_eq!(
        files, expected,
        "exactly one partition and one ledger entry per day, nothing else"
    );

    for d in dates {
        let zip_path = raw.join(format!("{}.zip", stem(d)));
        let zip_bytes = std::fs::read(&zip_path).unwrap();
        let member = zip_csv_member(&zip_bytes);
        let lines = csv_data_lines(&member);
        assert!(lines > 500, "the sample has rows");
        let parquet_path = partition(&lake, d, &stem(d));
        let parquet = std::fs::read(&parquet_path).unwrap();

        let l = ledger(&lake, &stem(d));
        assert_eq!(l["name"], format!("{}.zip", stem(d)));
        assert!(
            l["source"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/raw/{}.zip", stem(d))),
            "{l}"
        );
        assert_eq!(l["size"], zip_bytes.len() as u64);
        assert_eq!(
            l["sha256"],
            sha256_hex(&zip_bytes),
            "ledger checksum is the archive's SHA-256"
        );
        assert_eq!(l["member"], format!("{}.csv", stem(d)));
        assert_eq!(l["rows_in"], lines);
        assert_eq!(l["rows_out"], lines);
        assert_eq!(l["rows_rejected"], 0);
        assert!(l["rejects"].is_null());
        assert_eq!(l["layout"], "v1");
        assert_eq!(l["tool_version"], env!("CARGO_PKG_VERSION"));
        let parts = l["partitions"].as_array().unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0]["trade_date"], d);
        assert_eq!(
            parts[0]["path"],
            format!("orats_strikes/trade_date={d}/{}.parquet", stem(d))
        );
        assert_eq!(parts[0]["rows"], lines);
        assert_eq!(parts[0]["bytes"], parquet.len() as u64);

        assert_eq!(
            parquet_rows(&parquet),
            lines,
            "Parquet rows = CSV data lines"
        );
        let b = decode_all(&parquet);
        assert_eq!(b.num_rows() as u64, lines);
        let schema = b.schema();
        assert_eq!(
            schema.fields().len(),
            39,
            "39 ORATS columns minus the trade_date partition, plus source_line"
        );
        assert!(
            schema.field_with_name("trade_date").is_err(),
            "trade_date lives in the path only"
        );
        for (name, ty) in [
            ("ticker", DataType::Utf8),
            ("c_opra", DataType::Utf8),
            ("p_opra", DataType::Utf8),
            ("stk_px", DataType::Decimal128(15, 4)),
            ("expir_date", DataType::Date32),
            ("strike", DataType::Decimal128(15, 3)),
            ("c_oi", DataType::Int64),
            ("p_volu", DataType::Int64),
            ("smooth_smv_vol", DataType::Decimal128(15, 6)),
            ("residual_rate_data", DataType::Decimal128(15, 4)),
            ("gamma", DataType::Decimal128(15, 8)),
            ("ext_p_theo", DataType::Float64),
            ("spot_px", DataType::Decimal128(15, 4)),
        ] {
            assert_eq!(
                schema.field_with_name(name).unwrap().data_type(),
                &ty,
                "{name}"
            );
        }
        // Values: the sums and sets the CSV itself gives.
        let csv_oi: i64 = csv_field(&member, 8)
            .iter()
            .map(|v| v.parse::<i64>().unwrap())
            .sum();
        let oi = column::<Int64Array>(&b, "c_oi");
        assert_eq!(
            oi.iter().map(|v| v.unwrap()).sum::<i64>(),
            csv_oi,
            "sum of cOi"
        );
        // Every gamma cell's decimal value, exactly: the CSV's digits as 8-decimal integers.
        let scaled = |cell: &str| -> i128 {
            let (int, frac) = cell.split_once('.').unwrap_or((cell, ""));
            assert!(frac.len() <= 8, "{cell}");
            format!("{int}{frac:0<8}").parse().unwrap()
        };
        let mut csv_gamma: Vec<i128> = csv_field(&member, 28).iter().map(|c| scaled(c)).collect();
        let gamma = column::<Decimal128Array>(&b, "gamma");
        let mut lake_gamma: Vec<i128> = gamma.iter().map(|v| v.unwrap()).collect();
        csv_gamma.sort_unstable();
        lake_gamma.sort_unstable();
        assert_eq!(lake_gamma, csv_gamma, "gamma cells, exactly");
        let csv_tickers: BTreeSet<String> = csv_field(&member, 0).into_iter().collect();
        let tickers = column::<StringArray>(&b, "ticker");
        let lake_tickers: BTreeSet<String> =
            tickers.iter().map(|t| t.unwrap().to_string()).collect();
        assert_eq!(lake_tickers, csv_tickers);
        let blank_spot = csv_field(&member, 37)
            .iter()
            .filter(|v| v.is_empty())
            .count();
        assert_eq!(
            column::<Decimal128Array>(&b, "spot_px").null_count(),
            blank_spot,
            "blank spot_px is null"
        );
        // Sorted by (ticker, expir_date, strike, c_opra).
        let expiry = column::<Date32Array>(&b, "expir_date");
        let strike = column::<Decimal128Array>(&b, "strike");
        let opra = column::<StringArray>(&b, "c_opra");
        for i in 1..b.num_rows() {
            let key = |i: usize| {
                (
                    tickers.value(i),
                    expiry.value(i),
                    strike.value(i),
                    opra.value(i),
                )
            };
            assert!(
                key(i - 1) <= key(i),
                "row {i} out of order: {:?} then {:?}",
                key(i - 1),
                key(i)
            );
        }
    }
}

/// A re-run skips every file without touching the lake; `--force` converts again to the
/// very same bytes.
#[test]
fn rerun_skips_and_force_reconverts_byte_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let lake = tmp.path().join("lake");
    let dates = ["2024-01-03", "2024-01-04", "2024-01-05"];
    for d in dates {
        small_sample(&raw, d, 1);
    }
    ingest(&[&raw], &lake, &[]).expect_code(0);
    let before = common::tree(&lake);
    let times: Vec<SystemTime> = dates
        .iter()
        .flat_map(|d| {
            [
                mtime(&partition(&lake, d, &stem(d))),
                mtime(&ledger_path(&lake, &stem(d))),
            ]
        })
        .collect();

    let again = ingest(&[&raw], &lake, &[]);
    again.expect_code(0);
    assert_eq!(
        (again.summary("skipped"), again.summary("converted")),
        (3, 0),
        "{again}"
    );
    let skipped: Vec<_> = again
        .events()
        .into_iter()
        .filter(|e| e["message"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 3, "{again}");
    assert!(
        skipped.iter().all(|e| e["reason"] == "already converted"),
        "{skipped:?}"
    );
    assert_eq!(
        common::tree(&lake),
        before,
        "a skipping run changes nothing"
    );
    let times_again: Vec<SystemTime> = dates
        .iter()
        .flat_map(|d| {
            [
                mtime(&partition(&lake, d, &stem(d))),
                mtime(&ledger_path(&lake, &stem(d))),
            ]
        })
        .collect();
    assert_eq!(times_again, times, "a skipping run rewrites nothing");

    let forced = ingest(&[&raw], &lake, &["--force"]);
    forced.expect_code(0);
    assert_eq!(forced.summary("converted"), 3, "{forced}");
    assert!(
        mtime(&partition(&lake, dates[0], &stem(dates[0]))) != times[0],
        "--force really rewrote the partition"
    );
    assert_eq!(
        common::tree(&lake),
        before,
        "--force gives byte-identical Parquet and ledgers"
    );
}

/// A source with a new modification time but the same bytes is checked by checksum and
/// recorded, its data left alone.
#[test]
fn touched_source_is_content_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let lake = tmp.path().join("lake");
    let zip = small_sample(&raw, "2024-01-03", 1);
    ingest(&[&raw], &lake, &[]).expect_code(0);
    let part = partition(&lake, "2024-01-03", &stem("2024-01-03"));
    let (bytes, time) = (std::fs::read(&part).unwrap(), mtime(&part));
    let before = ledger(&lake, &stem("2024-01-03"));

    touch(&zip, 60);
    let run = ingest(&[&raw], &lake, &[]);
    run.expect_code(0);
    assert_eq!(
        (run.summary("converted"), run.summary("skipped")),
        (0, 1),
        "{run}"
    );
    let skipped = run.event("skipped");
    assert_eq!(skipped["reason"], "content unchanged", "{run}");
    assert_eq!(std::fs::read(&part).unwrap(), bytes);
    assert_eq!(mtime(&part), time, "the partition is not rewritten");
    let after = ledger(&lake, &stem("2024-01-03"));
    assert_eq!(after["sha256"], before["sha256"]);
    assert_ne!(
        after["last_modified"], before["last_modified"],
        "the ledger records the new listing"
    );

    // Recorded: the next run skips on the listing alone.
    let run = ingest(&[&raw], &lake, &[]);
    assert_eq!(run.event("skipped")["reason"], "already converted", "{run}");
}

/// A source replaced by different content is converted again and its partition replaced by
/// exactly what a fresh conversion of the new archive gives.
#[test]
fn changed_source_replaces_its_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let lake = tmp.path().join("lake");
    small_sample(&raw, "2024-01-03", 1);
    small_sample(&raw, "2024-01-04", 1);
    ingest(&[&raw], &lake, &[]).expect_code(0);
    let part = partition(&lake, "2024-01-03", &stem("2024-01-03"));
    let old = std::fs::read(&part).unwrap();
    let other = std::fs::read(partition(&lake, "2024-01-04", &stem("2024-01-04"))).unwrap();

    // Same name, another market (seed 2).
    let zip = small_sample(&raw, "2024-01-03", 2);
    touch(&zip, 60);
    let new_zip = std::fs::read(&zip).unwrap();
    let run = ingest(&[&raw], &lake, &[]);
    run.expect_code(0);
    assert_eq!(
        (run.summary("converted"), run.summary("skipped")),
        (1, 1),
        "{run}"
    );
    let new = std::fs::read(&part).unwrap();
    assert_ne!(new, old, "the partition holds the new content");
    let l = ledger(&lake, &stem("2024-01-03"));
    assert_eq!(l["sha256"], sha256_hex(&new_zip));
    assert_eq!(l["rows_out"], csv_data_lines(&zip_csv_member(&new_zip)));
    assert_eq!(
        parquet_rows(&new),
        csv_data_lines(&zip_csv_member(&new_zip))
    );
    assert_eq!(
        std::fs::read(partition(&lake, "2024-01-04", &stem("2024-01-04"))).unwrap(),
        other
    );

    // The replaced partition is what a fresh lake gets from the new archive.
    let fresh = tmp.path().join("fresh");
    ingest(&[&zip], &fresh, &[]).expect_code(0);
    assert_eq!(
        std::fs::read(partition(&fresh, "2024-01-03", &stem("2024-01-03"))).unwrap(),
        new
    );
}

/// A file with several trade dates splits into several partitions; when its new version has
/// other trade dates, the partitions it no longer produces disappear from the lake (the
/// metrics no longer see those dates).
#[test]
fn new_version_with_other_trade_dates_moves_its_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let lake = tmp.path().join("lake");
    let name = "ORATS_SMV_Strikes_20240103";
    let day = |td: &'static str, t: &'static str| Leg {
        trade_date: td,
        ..Leg::new(t, 100.0)
    };
    let zip = common::write_zip(
        &raw,
        "20240103",
        &csv(&[day("1/3/2024", "AAA"), day("1/4/2024", "AAA")]),
    );
    ingest(&[&raw], &lake, &[]).expect_code(0);
    assert!(partition(&lake, "2024-01-03", name).is_file());
    assert!(
        partition(&lake, "2024-01-04", name).is_file(),
        "two trade dates, two partitions"
    );
    assert_eq!(
        ledger(&lake, name)["partitions"].as_array().unwrap().len(),
        2
    );

    common::write_zip(
        &raw,
        "20240103",
        &csv(&[day("1/4/2024", "BBB"), day("1/5/2024", "BBB")]),
    );
    touch(&zip, 60);
    let run = ingest(&[&raw], &lake, &[]);
    run.expect_code(0);
    assert_eq!(run.summary("converted"), 1, "{run}");
    assert!(
        !partition(&lake, "2024-01-03", name).exists(),
        "the old partition is removed"
    );
    let rows = |d: &str| decode_all(&std::fs::read(partition(&lake, d, name)).unwrap());
    assert_eq!(
        column::<StringArray>(&rows("2024-01-04"), "ticker").value(0),
        "BBB",
        "replaced"
    );
    assert_eq!(rows("2024-01-05").num_rows(), 1);
    let parts: Vec<String> = ledger(&lake, name)["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["trade_date"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(parts, ["2024-01-04", "2024-01-05"]);

    // The lake no longer has 2024-01-03 at all.
    let sql = run_gexlake(&[
        "sql",
        "--lake",
        s(&lake),
        "select distinct trade_date from strikes order by 1",
    ]);
    sql.expect_code(0);
    assert!(
        !sql.stdout.contains("2024-01-03") && sql.stdout.contains("2024-01-05"),
        "{sql}"
    );
    let metrics = run_gexlake(&["metrics", "--lake", s(&lake), "--date", "2024-01-03"]);
    metrics.expect_code(1);
    assert!(
        metrics
            .stderr
            .contains("no orats_strikes partition for 2024-01-03"),
        "{metrics}"
    );
}

// ---------------------------------------------------------------------------------------------
// Selecting sources

/// --from/--to select by the date in the file name (not the rows'), --pattern by the file
/// name, year folders are searched, a single file is an input of its own.
#[test]
fn from_to_pattern_and_single_file_select_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let year = raw.join("2023");
    std::fs::create_dir_all(&year).unwrap();
    small_sample(&year, "2023-12-29", 1);
    for d in ["2024-01-02", "2024-01-03", "2024-01-04"] {
        small_sample(&raw, d, 1);
    }
    // File-name date 2024-01-10, rows of 2024-01-03.
    common::write_zip(&raw, "20240110", &csv(&[Leg::new("AAA", 100.0)]));
    common::write_zip_named(&raw, "notes", &csv(&[Leg::new("NNN", 100.0)]));
    std::fs::write(raw.join("readme.txt"), "not an archive").unwrap();

    let lake = tmp.path().join("lake1");
    let run = ingest(
        &[&raw],
        &lake,
        &["--from", "2024-01-03", "--to", "2024-01-10"],
    );
    run.expect_code(0);
    assert_eq!(run.summary("files"), 3, "{run}");
    let ledgers: BTreeSet<String> = common::tree(&lake.join("_ingest")).into_keys().collect();
    assert_eq!(
        ledgers,
        BTreeSet::from([
            "ORATS_SMV_Strikes_20240103.json".to_string(),
            "ORATS_SMV_Strikes_20240104.json".to_string(),
            "ORATS_SMV_Strikes_20240110.json".to_string(),
        ])
    );
    assert!(
        partition(&lake, "2024-01-03", "ORATS_SMV_Strikes_20240110").is_file(),
        "a source's rows land under their own trade date, named after the source"
    );
    assert!(
        run.stderr.contains("no date in the file name"),
        "notes.zip is left out, and said so: {run}"
    );

    let lake = tmp.path().join("lake2");
    let run = ingest(
        &[&raw],
        &lake,
        &["--pattern", "ORATS_SMV_Strikes_2023*.zip"],
    );
    run.expect_code(0);
    assert_eq!(run.summary("converted"), 1, "{run}");
    assert!(
        partition(&lake, "2023-12-29", "ORATS_SMV_Strikes_20231229").is_file(),
        "found in the year folder"
    );

    let lake = tmp.path().join("lake3");
    let run = ingest(
        &[&raw],
        &lake,
        &[
            "--pattern",
            "ORATS_SMV_Strikes_2024010[24].zip",
            "--to",
            "2024-01-03",
        ],
    );
    run.expect_code(0);
    assert_eq!(run.summary("converted"), 1, "{run}");
    assert!(partition(&lake, "2024-01-02", "ORATS_SMV_Strikes_20240102").is_file());

    let lake = tmp.path().join("lake4");
    let run = ingest(&[&raw.join("ORATS_SMV_Strikes_20240104.zip")], &lake, &[]);
    run.expect_code(0);
    assert_eq!(run.summary("converted"), 1, "{run}");
    let files: Vec<String> = common::tree(&lake.join("orats_strikes"))
        .into_keys()
        .collect();
    assert_eq!(
        files,
        ["trade_date=2024-01-04/ORATS_SMV_Strikes_20240104.parquet"]
    );

    // Two sources with one name would write the same lake files: both fail, nothing is mixed.
    let lake = tmp.path().join("lake_dup");
    let other = tmp.path().join("other");
    small_sample(&other, "2024-01-04", 2);
    let run = ingest(
        &[&raw, &other],
        &lake,
        &["--from", "2024-01-04", "--to", "2024-01-04"],
    );
    run.expect_code(3);
    let errors = errors_about(&run, "ORATS_SMV_Strikes_20240104.zip");
    assert!(
        errors.iter().any(|e| e.contains("names must be unique")),
        "{run}"
    );
    assert!(!lake.join("orats_strikes").exists(), "{run}");

    // Bad selections are fatal (exit 1), not per-file failures.
    let run = ingest(
        &[&raw],
        &tmp.path().join("lake5"),
        &["--from", "2024-01-05", "--to", "2024-01-01"],
    );
    run.expect_code(1);
    let run = ingest(
        &[&tmp.path().join("nowhere")],
        &tmp.path().join("lake5"),
        &[],
    );
    run.expect_code(1);
    assert!(run.stderr.contains("nowhere"), "{run}");
}

/// A v2 archive (37 columns, from `gexlake sample --layout v2`) converts with null OPRA symbols.
#[test]
fn v2_layout_has_null_opra_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let lake = tmp.path().join("lake");
    let run = run_gexlake(&[
        "sample",
        "--date",
        "2021-05-27",
        "--tickers",
        "20",
        "--layout",
        "v2",
        "--out",
        s(&raw),
    ]);
    run.expect_code(0);
    let zip_bytes = std::fs::read(raw.join("ORATS_SMV_Strikes_20210527.zip")).unwrap();
    let member = zip_csv_member(&zip_bytes);
    let header = std::str::from_utf8(&member)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(header.split(',').count(), 37);
    let lines = csv_data_lines(&member);

    ingest(&[&raw], &lake, &[]).expect_code(0);
    let l = ledger(&lake, "ORATS_SMV_Strikes_20210527");
    assert_eq!(l["layout"], "v2");
    assert_eq!(l["rows_out"], lines);
    let b = decode_all(
        &std::fs::read(partition(&lake, "2021-05-27", "ORATS_SMV_Strikes_20210527")).unwrap(),
    );
    assert_eq!(b.num_rows() as u64, lines);
    assert_eq!(b.schema().fields().len(), 39, "same lake schema as v1");
    assert_eq!(
        column::<StringArray>(&b, "c_opra").null_count() as u64,
        lines
    );
    assert_eq!(
        column::<StringArray>(&b, "p_opra").null_count() as u64,
        lines
    );
    assert_eq!(column::<StringArray>(&b, "ticker").null_count(), 0);
    // The columns after the missing ones are read by name, not position.
    let csv_oi: i64 = csv_field(&member, 6)
        .iter()
        .map(|v| v.parse::<i64>().unwrap())
        .sum();
    assert_eq!(
        column::<Int64Array>(&b, "c_oi")
            .iter()
            .map(|v| v.unwrap())
            .sum::<i64>(),
        csv_oi
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input

/// A 50 MB, highly compressible member (a header, then endless blank lines), streamed into the
/// ZIP.
fn bomb(dir: &Path, file_name: &str, member: &str) -> PathBuf {
    let path = dir.join(file_name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.start_file(member, zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(format!("{HEADER}\n").as_bytes()).unwrap();
    // Blank lines, which the reader skips: deflate packs them ~1000:1, as bombs do, and only
    // the bomb guard stops them (one endless line would meet the line-length guard first).
    let block = vec![b'\n'; 1 << 16];
    let mut written = 0;
    while written < 50 << 20 {
        zip.write_all(&block).unwrap();
        written += block.len();
    }
    zip.finish().unwrap();
    path
}

/// The same bomb with its ZIP headers lying: they claim 900 KB inflated, so only the
/// streaming guard can stop it.
fn lying_bomb(honest: &Path, dir: &Path, file_name: &str) -> PathBuf {
    let mut z = std::fs::read(honest).unwrap();
    let claim = 900_000u32.to_le_bytes();
    assert_eq!(&z[..4], b"PK\x03\x04");
    z[22..26].copy_from_slice(&claim); // local header: uncompressed size
    let cd = z
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("central directory");
    z[cd + 24..cd + 28].copy_from_slice(&claim); // central header: uncompressed size
    let path = dir.join(file_name);
    std::fs::write(&path, z).unwrap();
    path
}

/// Pseudo-random bytes (xorshift), the same on every run.
fn garbage(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One bad archive: its name and what its error must say.
struct Bad {
    name: String,
    says: Vec<&'static str>,
}

/// Writes every failing case into `dir` (names dated 2024-01-08 … 2024-01-15).
fn write_bad_archives(dir: &Path, scratch: &Path) -> Vec<Bad> {
    std::fs::create_dir_all(dir).unwrap();
    let mut bad = Vec::new();
    let mut add = |date: &str, says: Vec<&'static str>| {
        bad.push(Bad {
            name: format!("{}.zip", stem(date)),
            says,
        });
    };
    // Truncated.
    let good = std::fs::read(small_sample(scratch, "2024-01-08", 1)).unwrap();
    std::fs::write(
        dir.join("ORATS_SMV_Strikes_20240108.zip"),
        &good[..good.len() / 2],
    )
    .unwrap();
    add("2024-01-08", vec!["not a readable ZIP"]);
    // Corrupt deflate data in the middle of the member.
    let mut z = std::fs::read(small_sample(scratch, "2024-01-09", 1)).unwrap();
    let data_start = 30
        + u16::from_le_bytes([z[26], z[27]]) as usize
        + u16::from_le_bytes([z[28], z[29]]) as usize;
    let mid = data_start + (z.len() - data_start) / 2;
    for b in &mut z[mid..mid + 64] {
        *b = !*b;
    }
    std::fs::write(dir.join("ORATS_SMV_Strikes_20240109.zip"), z).unwrap();
    add(
        "2024-01-09",
        vec!["ORATS_SMV_Strikes_20240109.csv", "line ", "reading failed"],
    );
    // Binary garbage named .csv.
    zip_members(
        dir,
        "ORATS_SMV_Strikes_20240110.zip",
        &[("ORATS_SMV_Strikes_20240110.csv", &garbage(100_000))],
    );
    add(
        "2024-01-10",
        vec![
            "ORATS_SMV_Strikes_20240110.csv",
            "line 1",
            "lacks required column",
        ],
    );
    // Required columns missing.
    let text = csv(&[Leg::new("AAA", 100.0)])
        .replace(",cOi,", ",cOI,")
        .replace(",gamma,", ",gama,");
    common::write_zip(dir, "20240111", &text);
    add(
        "2024-01-11",
        vec!["line 1", "header lacks required column(s): cOi, gamma"],
    );
    // No CSV member; two CSV members.
    zip_members(
        dir,
        "ORATS_SMV_Strikes_20240112.zip",
        &[
            ("ORATS_SMV_Strikes_20240112.txt", b"x"),
            ("readme.md", b"y"),
        ],
    );
    add(
        "2024-01-12",
        vec!["no .csv member", "ORATS_SMV_Strikes_20240112.txt"],
    );
    let one = csv(&[Leg::new("AAA", 100.0)]);
    zip_members(
        dir,
        "ORATS_SMV_Strikes_20240113.zip",
        &[
            ("a/ORATS_SMV_Strikes_20240113.csv", one.as_bytes()),
            ("b/ORATS_SMV_Strikes_20240113.csv", one.as_bytes()),
        ],
    );
    add(
        "2024-01-13",
        vec![
            "several .csv members",
            "a/ORATS_SMV_Strikes_20240113.csv",
            "b/ORATS_SMV_Strikes_20240113.csv",
        ],
    );
    // Decompression bombs: honest headers, and lying ones.
    let honest = bomb(
        dir,
        "ORATS_SMV_Strikes_20240114.zip",
        "ORATS_SMV_Strikes_20240114.csv",
    );
    add("2024-01-14", vec!["decompression bomb"]);
    lying_bomb(&honest, dir, "ORATS_SMV_Strikes_20240115.zip");
    add(
        "2024-01-15",
        vec![
            "ORATS_SMV_Strikes_20240114.csv",
            "line ",
            "decompression bomb",
        ],
    );
    bad
}

/// Archives that look odd but are valid (dated 2024-01-16 … 2024-01-19).
fn write_odd_but_valid_archives(dir: &Path) {
    let rows = csv(&[
        Leg {
            trade_date: "1/16/2024",
            ..Leg::new("AAA", 100.0)
        },
        Leg {
            trade_date: "1/16/2024",
            ..Leg::new("AAA", 105.0)
        },
    ]);
    zip_members(
        dir,
        "ORATS_SMV_Strikes_20240116.zip",
        &[
            (
                "__MACOSX/data/._ORATS_SMV_Strikes_20240116.csv",
                b"\x00\x05\x16\x07junk",
            ),
            ("data/ORATS_SMV_Strikes_20240116.csv", rows.as_bytes()),
        ],
    );
    common::write_zip(dir, "20240117", &format!("{HEADER}\n"));
    common::write_zip(dir, "20240118", "");
    small_sample(dir, "2024-01-19", 1);
}

fn assert_odd_but_valid_converted(lake: &Path) {
    let l = ledger(lake, "ORATS_SMV_Strikes_20240116");
    assert_eq!(
        l["member"], "data/ORATS_SMV_Strikes_20240116.csv",
        "junk skipped, subfolder accepted"
    );
    assert_eq!(l["rows_out"], 2);
    assert!(partition(lake, "2024-01-16", "ORATS_SMV_Strikes_20240116").is_file());
    for (stem, layout) in [
        ("ORATS_SMV_Strikes_20240117", serde_json::json!("v1")),
        ("ORATS_SMV_Strikes_20240118", serde_json::Value::Null),
    ] {
        let l = ledger(lake, stem);
        assert_eq!(
            (l["rows_in"].as_u64(), l["rows_out"].as_u64()),
            (Some(0), Some(0)),
            "{stem}: {l}"
        );
        assert_eq!(
            l["partitions"],
            serde_json::json!([]),
            "{stem}: no partition"
        );
        assert_eq!(l["layout"], layout, "{stem}");
    }
    assert!(!lake.join("orats_strikes/trade_date=2024-01-17").exists());
    assert!(partition(lake, "2024-01-19", "ORATS_SMV_Strikes_20240119").is_file());
}

/// Every kind of bad archive fails on its own with a clear error (file, line, column where
/// they apply) and exit status 3, publishes nothing, and leaves what an earlier good version
/// of the same file put in the lake exactly as it was; the odd-but-valid archives beside them
/// convert.
#[test]
fn bad_archives_fail_alone_and_damage_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("scratch");
    let raw = tmp.path().join("raw");
    let bad = write_bad_archives(&raw, &scratch);
    write_odd_but_valid_archives(&raw);

    // A fresh lake: the bad files leave no trace.
    let lake = tmp.path().join("lake");
    let run = ingest(&[&raw], &lake, &["--jobs", "2"]);
    run.expect_code(3);
    assert_eq!(
        (run.summary("failed"), run.summary("converted")),
        (bad.len() as u64, 4),
        "{run}"
    );
    for b in &bad {
        let errors = errors_about(&run, &b.name);
        assert!(!errors.is_empty(), "no error names {}: {run}", b.name);
        for e in &errors {
            for want in &b.says {
                assert!(
                    e.contains(want),
                    "{}: error {e:?} does not say {want:?}",
                    b.name
                );
            }
        }
        let st = b.name.trim_end_matches(".zip");
        assert!(
            !ledger_path(&lake, st).exists(),
            "{}: no ledger entry",
            b.name
        );
        assert!(!lake.join(format!("_rejects/{st}.csv")).exists());
    }
    let files: Vec<String> = common::tree(&lake).into_keys().collect();
    assert!(
        files
            .iter()
            .all(|f| !(8..=15).any(|d| f.contains(&format!("202401{d:02}")))),
        "nothing of the bad files in the lake: {files:?}"
    );
    assert_odd_but_valid_converted(&lake);

    // A lake holding good versions of the same names: the failures leave them untouched.
    let lake = tmp.path().join("lake_with_previous");
    let good = tmp.path().join("good");
    for d in 8..=15 {
        small_sample(&good, &format!("2024-01-{d:02}"), 1);
    }
    ingest(&[&good], &lake, &[]).expect_code(0);
    let before = common::tree(&lake);
    let times: BTreeMap<String, SystemTime> = before
        .keys()
        .map(|k| (k.clone(), mtime(&lake.join(k))))
        .collect();
    let run = ingest(&[&raw], &lake, &[]);
    run.expect_code(3);
    assert_eq!(run.summary("failed"), bad.len() as u64, "{run}");
    let after = common::tree(&lake);
    for (path, bytes) in &before {
        assert!(
            after.get(path) == Some(bytes),
            "{path} changed after a failed re-conversion"
        );
        assert_eq!(mtime(&lake.join(path)), times[path], "{path} rewritten");
    }
    assert_odd_but_valid_converted(&lake);
}

/// The rows of the rejects test: line 2 onwards.
fn rows_with_bad_ones() -> (String, Vec<(u64, &'static str, &'static str)>) {
    let good = |t: &'static str| Leg::new(t, 100.0).line();
    let with = |t: &'static str, field: usize, value: &str| {
        let mut cells: Vec<String> = good(t).split(',').map(str::to_string).collect();
        cells[field] = value.to_string();
        cells.join(",")
    };
    let lines = [
        good("AAA"),                   // 2
        with("BBB", 8, "12x"),         // 3 cOi
        "CCC,1,2".to_string(),         // 4 field count
        with("DDD", 4, "13/45/2024"),  // 5 expirDate
        with("EEE", 38, "2024/01/03"), // 6 trade_date
        with("FFF", 11, "\"1.1"),      // 7 a stray quote in cBidPx
        good("GGG"),                   // 8
        good("HHH"),                   // 9
        with("III", 10, "-5"),         // 10 pOi
        good("JJJ"),                   // 11
    ];
    let text = format!("{HEADER}\n{}\n", lines.join("\n"));
    let rejects = vec![
        (3, "cOi", "not an integer"),
        (4, "", "expected 39 fields, found 3"),
        (5, "expirDate", "date"),
        (6, "trade_date", "date"),
        (7, "cBidPx", "not a number"),
        (10, "pOi", "negative count"),
    ];
    (text, rejects)
}

/// Bad rows are rejected one by one into `_rejects/<stem>.csv` with line, column and reason,
/// counted in the ledger and logged; every other row is converted (a stray quote swallows
/// nothing).
#[test]
fn bad_rows_go_to_rejects_and_the_rest_converts() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let lake = tmp.path().join("lake");
    let (text, expected) = rows_with_bad_ones();
    common::write_zip(&raw, "20240103", &text);
    let run = ingest(&[&raw], &lake, &[]);
    // Rows rejected: exit 6, though the file converted.
    run.expect_code(6);
    let name = "ORATS_SMV_Strikes_20240103";

    let l = ledger(&lake, name);
    assert_eq!(
        l["rows_in"],
        csv_data_lines(text.as_bytes()),
        "every data line is counted: {l}"
    );
    assert_eq!(l["rows_rejected"], expected.len() as u64, "{l}");
    assert_eq!(l["rows_out"], 4, "{l}");
    assert_eq!(l["rejects"], format!("_rejects/{name}.csv"));

    let mut reader = ::csv::Reader::from_path(lake.join(format!("_rejects/{name}.csv"))).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["line", "column", "reason", "value", "raw"]
    );
    let got: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (r, (line, col, reason)) in got.iter().zip(&expected) {
        assert_eq!(r[0].parse::<u64>().unwrap(), *line, "{r:?}");
        assert_eq!(&r[1], *col, "{r:?}");
        assert!(r[2].contains(reason), "{r:?} should say {reason}");
        assert!(!r[4].is_empty(), "the raw row is kept: {r:?}");
    }
    assert_eq!(&got[0][3], "12x");

    let b = decode_all(&std::fs::read(partition(&lake, "2024-01-03", name)).unwrap());
    let tickers: Vec<&str> = column::<StringArray>(&b, "ticker")
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(tickers, ["AAA", "GGG", "HHH", "JJJ"]);

    let warned: Vec<String> = run
        .events()
        .into_iter()
        .filter(|e| e["level"] == "WARN" && e["file"] == format!("{name}.zip"))
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        warned
            .iter()
            .any(|m| m.contains("line 3, column cOi: not an integer")),
        "rejects are logged with file, line and column: {warned:?}"
    );
    assert_eq!(
        run.event("ingest: summary")["rejected"],
        expected.len() as u64
    );

    // A re-run skips the converted source: nothing is rejected again, so it exits 0.
    ingest(&[&raw], &lake, &[]).expect_code(0);

    // Once the source is fixed, its rejects file goes away.
    let zip = common::write_zip(&raw, "20240103", &csv(&[Leg::new("AAA", 100.0)]));
    touch(&zip, 60);
    ingest(&[&raw], &lake, &[]).expect_code(0);
    let l = ledger(&lake, name);
    assert_eq!(
        (l["rows_rejected"].as_u64(), l["rejects"].is_null()),
        (Some(0), true),
        "{l}"
    );
    assert!(!lake.join(format!("_rejects/{name}.csv")).exists());
}

/// --strict fails the file on its first bad row and publishes nothing; with --force over an
/// earlier conversion, the earlier partition, rejects and ledger stay as they were.
#[test]
fn strict_refuses_the_file_and_publishes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let (text, _) = rows_with_bad_ones();
    common::write_zip(&raw, "20240103", &text);
    small_sample(&raw, "2024-01-04", 1);
    let name = "ORATS_SMV_Strikes_20240103.zip";

    let lake = tmp.path().join("lake");
    let run = ingest(&[&raw], &lake, &["--strict"]);
    run.expect_code(3);
    assert_eq!(
        (run.summary("failed"), run.summary("converted")),
        (1, 1),
        "{run}"
    );
    let errors = errors_about(&run, name);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("line 3, column cOi") && e.contains("--strict")),
        "{errors:?}"
    );
    assert!(!lake.join("orats_strikes/trade_date=2024-01-03").exists());
    assert!(!ledger_path(&lake, "ORATS_SMV_Strikes_20240103").exists());
    assert!(!lake.join("_rejects").exists());
    assert!(
        partition(&lake, "2024-01-04", "ORATS_SMV_Strikes_20240104").is_file(),
        "the good file converts"
    );

    let lake = tmp.path().join("lake2");
    ingest(&[&raw], &lake, &[]).expect_code(6);
    let before = common::tree(&lake);
    let run = ingest(&[&raw], &lake, &["--strict", "--force"]);
    run.expect_code(3);
    assert_eq!(
        common::tree(&lake),
        before,
        "a --strict failure leaves the earlier conversion as it was"
    );
}

// ---------------------------------------------------------------------------------------------
// Determinism and sorting

/// --jobs 1 and --jobs 2, two lakes, and a copy of the sources elsewhere all give the same
/// Parquet bytes.
#[test]
fn conversion_is_deterministic_across_jobs_and_lakes() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    for d in ["2024-01-03", "2024-01-04", "2024-01-05"] {
        small_sample(&raw, d, 7);
    }
    let copy = tmp.path().join("elsewhere/raw_copy");
    std::fs::create_dir_all(&copy).unwrap();
    for (name, bytes) in common::tree(&raw) {
        std::fs::write(copy.join(name), bytes).unwrap();
    }
    let a = tmp.path().join("lake_a");
    let b = tmp.path().join("lake_b");
    let c = tmp.path().join("lake_c");
    ingest(&[&raw], &a, &["--jobs", "1"]).expect_code(0);
    ingest(&[&raw], &b, &["--jobs", "2"]).expect_code(0);
    ingest(&[&copy], &c, &["--jobs", "2"]).expect_code(0);
    let (ta, tb, tc) = (common::tree(&a), common::tree(&b), common::tree(&c));
    assert_eq!(
        ta, tb,
        "--jobs 1 and --jobs 2 give the same lake, ledgers included"
    );
    let strikes = |t: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        t.iter()
            .filter(|(k, _)| k.starts_with("orats_strikes/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(strikes(&ta).len(), 3);
    assert_eq!(
        strikes(&ta),
        strikes(&tc),
        "the sources' location does not change the Parquet"
    );
}

/// A CSV out of order — within tickers, or entirely — converts to the same bytes as the
/// sorted CSV.
#[test]
fn unsorted_csv_converts_to_the_sorted_output() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = gexlake::sample::SampleSpec {
        tickers: 40,
        seed: 3,
        layout: gexlake::sample::Layout::V1,
        ..gexlake::sample::SampleSpec::new(chrono::NaiveDate::from_ymd_opt(2024, 1, 3).unwrap())
    };
    let mut text = Vec::new();
    gexlake::sample::write_csv(&spec, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    // The generator's order is the lake's order (ticker, expiry, strike, OPRA).
    let ticker = |l: &str| l.split(',').next().unwrap().to_string();

    // Reversed within each ticker run: still in ticker order.
    let mut within: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let mut j = i;
        while j < lines.len() && ticker(lines[j]) == ticker(lines[i]) {
            j += 1;
        }
        within.extend(lines[i..j].iter().rev());
        i = j;
    }
    // Shuffled entirely (a fixed permutation).
    let mut shuffled = lines.clone();
    let mut x = 12345u64;
    for k in (1..shuffled.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        shuffled.swap(k, (x >> 33) as usize % (k + 1));
    }

    let mut outputs = Vec::new();
    for (label, rows) in [
        ("sorted", &lines),
        ("within", &within),
        ("shuffled", &shuffled),
    ] {
        let dir = tmp.path().join(label);
        std::fs::create_dir_all(&dir).unwrap();
        common::write_zip(
            &dir,
            "20240103",
            &format!("{header}\n{}\n", rows.join("\n")),
        );
        let lake = tmp.path().join(format!("lake_{label}"));
        let run = ingest(&[&dir], &lake, &[]);
        run.expect_code(0);
        let warned = run.stderr.contains("not in ticker order");
        assert_eq!(warned, label == "shuffled", "{label}: {run}");
        outputs.push((
            label,
            std::fs::read(partition(&lake, "2024-01-03", "ORATS_SMV_Strikes_20240103")).unwrap(),
        ));
    }
    let rows = decode_all(&outputs[0].1).num_rows();
    assert_eq!(rows, lines.len());
    // The lake's order is the same whatever the file's; only source_line, the
    // row's line in its own file, differs: it points back at that very line.
    let without_line = |b: &RecordBatch| {
        let keep: Vec<usize> = (0..b.num_columns())
            .filter(|&i| b.schema().field(i).name() != "source_line")
            .collect();
        b.project(&keep).unwrap()
    };
    let sorted = without_line(&decode_all(&outputs[0].1));
    for ((label, bytes), rows) in outputs.iter().zip([&lines, &within, &shuffled]) {
        let b = decode_all(bytes);
        assert_eq!(
            without_line(&b),
            sorted,
            "{label}: rows differ from the sorted CSV's"
        );
        let opra = column::<StringArray>(&b, "c_opra");
        let line = column::<Int64Array>(&b, "source_line");
        for i in 0..b.num_rows() {
            // Line 1 is the header; data row k is line k + 2.
            let text = rows[line.value(i) as usize - 2];
            assert_eq!(
                text.split(',').nth(1),
                Some(opra.value(i)),
                "{label}: row {i}"
            );
        }
    }
    assert_ne!(
        outputs[0].1, outputs[2].1,
        "a shuffled file keeps its own order"
    );
}
