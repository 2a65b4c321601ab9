//! Writing a day as CSV, or as an ORATS-named ZIP archive holding that CSV.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::rows::generate;
use super::spec::{FULL_TICKERS, SampleSpec, SampleSummary};

/// Archive file name for a trade date: `ORATS_SMV_Strikes_YYYYMMDD.zip`.
pub fn archive_name(date: NaiveDate) -> String {
    format!("ORATS_SMV_Strikes_{}.zip", date.format("%Y%m%d"))
}

/// CSV member name inside the archive: `ORATS_SMV_Strikes_YYYYMMDD.csv`.
pub fn member_name(date: NaiveDate) -> String {
    format!("ORATS_SMV_Strikes_{}.csv", date.format("%Y%m%d"))
}

/// Streams the CSV of one day (header and rows) into `out`; returns the number of data rows.
pub fn write_csv<W: Write>(spec: &SampleSpec, out: W) -> io::Result<u64> {
    generate(spec, out).map(|sink| sink.rows)
}

/// Writes `out_dir/ORATS_SMV_Strikes_YYYYMMDD.zip` (creating `out_dir`), streaming the CSV
/// straight into the deflater; the file appears under its final name only once complete.
pub fn write_archive(spec: &SampleSpec, out_dir: &Path) -> io::Result<SampleSummary> {
    fs::create_dir_all(out_dir)?;
    let name = archive_name(spec.date);
    let path = out_dir.join(&name);
    let partial = out_dir.join(format!(".{name}.partial"));
    let written = write_zip(spec, &partial);
    let (rows, csv_bytes) = match written {
        Ok(counts) => counts,
        Err(e) => {
            // The partial file is garbage whatever happened; the write error is what matters.
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, &path)?;
    let bytes = fs::metadata(&path)?.len();
    Ok(SampleSummary {
        path,
        rows,
        csv_bytes,
        bytes,
    })
}

/// Writes the archive at `path`; returns its rows and CSV bytes.
fn write_zip(spec: &SampleSpec, path: &Path) -> io::Result<(u64, u64)> {
    let mut zip = ZipWriter::new(BufWriter::new(File::create(path)?));
    let (y, m, d) = (spec.date.year(), spec.date.month(), spec.date.day());
    // ORATS publishes around 21:30 ET; a fixed stamp keeps the archive bytes reproducible.
    let stamp = u16::try_from(y)
        .ok()
        .and_then(|y| DateTime::from_date_and_time(y, m as u8, d as u8, 21, 30, 0).ok())
        .unwrap_or_default();
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(stamp)
        .unix_permissions(0o644)
        // A member beyond 4 GiB needs ZIP64; only absurdly large universes get there.
        .large_file(spec.tickers > 10 * FULL_TICKERS);
    zip.start_file(member_name(spec.date), options)
        .map_err(io::Error::other)?;
    let (rows, bytes) = generate(spec, &mut zip).map(|sink| (sink.rows, sink.bytes))?;
    zip.finish().map_err(io::Error::other)?.flush()?;
    Ok((rows, bytes))
}
