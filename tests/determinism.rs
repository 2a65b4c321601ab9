//! The same input and parameters give byte-identical `dealer_metrics` Parquet,
//! whatever the thread count and whatever order the lake lists its files in.

mod common;

use std::path::Path;

use chrono::NaiveDate;
use gexlake::ingest::{IngestOptions, Selection, discover, ingest};
use gexlake::metrics::Profile;
use gexlake::metrics::engine::DateSelection;
use gexlake::pipeline::{MetricsRun, run_together};
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

/// The `dealer_metrics` files of a lake, by lake-relative path.
fn metrics_files(lake: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    common::tree(&lake.join("dealer_metrics"))
}

/// Backfill computes a3 and v2 together, one scan of the strikes feeding both
/// (issue #15): each set's files are byte for byte those it writes alone, also
/// when the sets cover different dates and with a watchlist, here and with one
/// shard per ticker range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_computed_together_equal_sets_computed_alone() {
    let dir = tempfile::tempdir().unwrap();
    let archives = dir.path().join("in");
    let days: Vec<NaiveDate> = ["2026-02-05", "2026-02-06", "2026-02-09"]
        .iter()
        .map(|d| d.parse().unwrap())
        .collect();
    for (i, day) in days.iter().enumerate() {
        common::small_sample(&archives, &day.to_string(), 11 + i as u64);
    }
    let base = dir.path().join("base");
    let lake = Location::parse(base.to_str().unwrap()).unwrap();
    let sources = discover(
        &[archives.to_string_lossy().into_owned()],
        &Selection::default(),
    )
    .await
    .unwrap();
    let options = IngestOptions {
        lake: lake.clone(),
        jobs: 2,
        force: false,
        strict: false,
    };
    assert_eq!(ingest(sources, &options).await.failed(), 0);
    let mut v2_bumped = Profile::V2.params();
    v2_bumped.min_open_interest = 50;
    // a3 over every day; v2 over the first and last (a gap); a v2 variant over one.
    let sets = [
        (Profile::A3.params(), days.clone()),
        (Profile::V2.params(), vec![days[0], days[2]]),
        (v2_bumped, vec![days[1]]),
    ];
    for (tickers, jobs) in [
        (None, 1),
        (None, 3),
        (Some(vec!["SPY".to_string(), "AAPL".to_string()]), 2),
    ] {
        let runs = |root: &Path| -> Vec<MetricsRun> {
            let lake = Location::parse(root.to_str().unwrap()).unwrap();
            sets.iter()
                .map(|(params, _)| MetricsRun {
                    lake: lake.clone(),
                    params: params.clone(),
                    tickers: tickers.clone(),
                    jobs,
                    cluster: None,
                })
                .collect()
        };
        let alone = dir.path().join(format!("alone-{jobs}"));
        let together = dir.path().join(format!("together-{jobs}"));
        for root in [&alone, &together] {
            common::copy_tree(&base, root);
        }
        for (run, (_, dates)) in runs(&alone).iter().zip(&sets) {
            run.run(&DateSelection::Dates(dates.clone())).await.unwrap();
        }
        let dates: Vec<Vec<NaiveDate>> = sets.iter().map(|(_, d)| d.clone()).collect();
        let summaries = run_together(&runs(&together), &dates, false).await.unwrap();
        let written: usize = summaries.iter().map(|s| s.written.len()).sum();
        assert_eq!(written, 3 + 2 + 1, "{summaries:?}");
        let (a, b) = (metrics_files(&alone), metrics_files(&together));
        assert_eq!(a.len(), 6, "{:?}", a.keys());
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (path, bytes) in &a {
            assert!(
                bytes == &b[path],
                "{path} differs (jobs {jobs}, tickers {tickers:?})"
            );
        }
    }
}
