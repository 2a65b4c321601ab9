//! The same input and parameters give byte-identical `dealer_metrics` Parquet,
//! whatever the thread count and whatever order the lake lists its files in.

mod common;

use std::path::Path;

use chrono::NaiveDate;
use gexlake::ingest::{IngestOptions, Selection, discover, ingest};
use gexlake::metrics::Profile;
use gexlake::metrics::engine::DateSelection;
use gexlake::pipeline::MetricsRun;
use gexlake::sample::SampleSpec;
use gexlake::store::Location;

/// One generated day as two archives (tickers alternating), so one trade-date
/// partition holds two files. `names` picks the file names (and so the order
/// the lake lists them in).
fn split_day(dir: &Path, names: [&str; 2]) {
    let spec = SampleSpec {
        tickers: 30,
        ..SampleSpec::new(NaiveDate::from_ymd_opt(2026, 2, 5).unwrap())
    };
    common::write_split_day(dir, &spec, names);
}

async fn metrics_bytes(names: [&str; 2], jobs: usize) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let archives = dir.path().join("in");
    std::fs::create_dir_all(&archives).unwrap();
    split_day(&archives, names);
    let lake = Location::parse(dir.path().join("lake").to_str().unwrap()).unwrap();
    let sources = discover(
        &[archives.to_string_lossy().into_owned()],
        &Selection::default(),
    )
    .await
    .unwrap();
    let report = ingest(
        sources,
        &IngestOptions {
            lake: lake.clone(),
            jobs,
            force: false,
            strict: false,
        },
    )
    .await;
    assert_eq!(report.failed(), 0);
    let mut out = Vec::new();
    for profile in [Profile::A3, Profile::V2] {
        let run = MetricsRun {
            lake: lake.clone(),
            params: profile.params(),
            tickers: None,
            jobs,
            cluster: None,
        };
        let date = NaiveDate::from_ymd_opt(2026, 2, 5).unwrap();
        let summary = run.run(&DateSelection::Dates(vec![date])).await.unwrap();
        assert!(summary.rows >= 30, "{summary:?}");
        for path in summary.written {
            let bytes = std::fs::read(dir.path().join("lake").join(&path)).unwrap();
            out.push((path, bytes));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_byte_identical_across_jobs_and_file_order() {
    let reference = metrics_bytes(["A_part", "B_part"], 1).await;
    assert_eq!(reference.len(), 2);
    for (names, jobs) in [
        (["A_part", "B_part"], 4),
        (["Z_part", "B_part"], 1),
        (["Z_part", "B_part"], 3),
    ] {
        let other = metrics_bytes(names, jobs).await;
        assert_eq!(other.len(), reference.len());
        for ((path_a, a), (path_b, b)) in reference.iter().zip(&other) {
            assert_eq!(path_a, path_b);
            assert!(
                a == b,
                "{path_a} differs with files {names:?} and jobs {jobs}"
            );
        }
    }
}
