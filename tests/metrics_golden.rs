//! Golden tests of the metrics: METRICS.md §9's worked example and the A3
//! edge cases, on hand-written archives. Every expected number below is
//! computed by hand from METRICS.md, not by the code under test.

mod common;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use common::{Leg, assert_close, csv, write_zip};
use gexlake::ingest::{IngestOptions, Selection, discover, ingest};
use gexlake::metrics::engine::DateSelection;
use gexlake::metrics::rows::from_batches;
use gexlake::metrics::{DealerMetrics, MetricsParams, Profile, Wall};
use gexlake::pipeline::MetricsRun;
use gexlake::store::Location;

fn leg(
    ticker: &'static str,
    strike: f64,
    c: (i64, i64),
    p: (i64, i64),
    delta: &'static str,
    gamma: &'static str,
) -> Leg {
    Leg {
        c_oi: c.0,
        c_volu: c.1,
        p_oi: p.0,
        p_volu: p.1,
        delta,
        gamma,
        ..Leg::new(ticker, strike)
    }
}

/// The archive of 2024-01-03 with one ticker per case.
fn rows() -> Vec<Leg> {
    let mut rows = vec![
        // METRICS.md §9.
        leg("T", 95.0, (200, 5), (500, 5), "0.8", "0.02"),
        leg("T", 100.0, (1000, 10), (300, 1), "0.5", "0.05"),
        leg("T", 105.0, (400, 3), (100, 0), "0.2", "0.03"),
        // Everything below min OI 100.
        leg("ALLF", 10.0, (50, 5), (50, 5), "0.5", "0.01"),
        leg("ALLF", 11.0, (50, 5), (50, 5), "0.5", "0.01"),
        // No spot anywhere.
        Leg {
            stk_px: "0",
            ..leg("NOSPT", 10.0, (500, 5), (500, 5), "0.5", "0.01")
        },
        // Spot from spot_px.
        Leg {
            stk_px: "0",
            spot_px: "50.5",
            ..leg("PXSPT", 50.0, (500, 5), (500, 5), "0.5", "0.01")
        },
        // Per-expiry stkPx: the nearest expiry's is the spot, whatever the strikes.
        Leg {
            stk_px: "4700.5",
            expiry: "1/5/2024",
            ..leg("IDX", 4800.0, (500, 5), (500, 5), "0.5", "0.01")
        },
        Leg {
            stk_px: "4710",
            expiry: "1/19/2024",
            ..leg("IDX", 4000.0, (500, 5), (500, 5), "0.5", "0.01")
        },
        // One leg pair per filter rule, in the order the rules apply.
        Leg {
            expiry: "1/2/2024",
            ..leg("EXPD", 100.0, (500, 5), (500, 5), "0.5", "0.01")
        },
        Leg {
            expiry: "6/21/2024",
            ..leg("EXPD", 101.0, (500, 5), (500, 5), "0.5", "0.01")
        },
        leg("EXPD", 102.0, (500, 5), (500, 5), "0.5", ""),
        leg("EXPD", 103.0, (500, 0), (500, 5), "0.5", "0.01"),
        // A single strike.
        leg("ONE", 100.0, (500, 5), (500, 5), "0.5", "0.01"),
        // Net GEX positive at every strike: no crossing.
        leg("NOX", 99.0, (500, 5), (0, 0), "0.5", "0.01"),
        leg("NOX", 100.0, (500, 5), (0, 0), "0.5", "0.01"),
        leg("NOX", 101.0, (500, 5), (0, 0), "0.5", "0.01"),
        // Spot below every strike.
        leg("OUTS", 200.0, (500, 5), (500, 5), "0.5", "0.01"),
        leg("OUTS", 210.0, (500, 5), (500, 5), "0.5", "0.01"),
    ];
    // 13 strikes × 2 eligible legs: FULL.
    for k in 94..=106 {
        rows.push(leg("BIG", k as f64, (5000, 10), (1000, 10), "0.5", "0.05"));
    }
    rows.sort_by(|a, b| a.ticker.cmp(b.ticker));
    rows
}

async fn run(
    profile: MetricsParams,
    tickers: Option<Vec<String>>,
) -> BTreeMap<String, DealerMetrics> {
    let dir = tempfile::tempdir().unwrap();
    let archives = dir.path().join("archives");
    std::fs::create_dir_all(&archives).unwrap();
    write_zip(&archives, "20240103", &csv(&rows()));
    let lake = Location::parse(dir.path().join("lake").to_str().unwrap()).unwrap();
    let sources = discover(
        &[archives.to_string_lossy().into_owned()],
        &Selection::default(),
    )
    .await
    .unwrap();
    let options = IngestOptions {
        lake: lake.clone(),
        jobs: 1,
        force: false,
        strict: false,
    };
    let report = ingest(sources, &options).await;
    assert_eq!(report.failed(), 0, "{report:?}");
    let run = MetricsRun {
        lake,
        params: profile.clone(),
        tickers,
        jobs: 2,
        cluster: None,
    };
    let date = NaiveDate::from_ymd_opt(2024, 1, 3).unwrap();
    let summary = run
        .run_keeping(&DateSelection::Dates(vec![date]), true)
        .await
        .unwrap();
    from_batches(&summary.batches, &profile)
        .unwrap()
        .into_iter()
        .map(|m| (m.ticker.clone(), m))
        .collect()
}

fn wall(strike: f64, open_interest: i64, volume: i64) -> Wall {
    Wall {
        strike,
        open_interest,
        volume,
    }
}

#[tokio::test]
async fn worked_example_of_metrics_md() {
    let all = run(Profile::A3.params(), None).await;
    let t = &all["T"];
    assert_eq!(t.spot_price, Some(100.0));
    assert_eq!(t.spot_price_source.as_deref(), Some("stkPx"));
    assert_eq!((t.eligible_options_count, t.total_options_count), (5, 6));
    assert_eq!(t.filter_stats.low_volume, 1);
    assert_eq!(t.filter_stats.total, 6);
    assert_close(t.gex_net, 410_000.0);
    assert_close(t.gex_total, 530_000.0);
    assert_close(t.gex_call, 660_000.0);
    assert_close(t.gex_put, -250_000.0);
    assert_close(t.net_dex, 49_000.0);
    assert_close(t.gamma_flip, 95.0 + 5.0 * 60_000.0 / 350_000.0);
    assert_eq!(
        t.call_walls,
        vec![
            wall(100.0, 1000, 10),
            wall(105.0, 400, 3),
            wall(95.0, 200, 5)
        ]
    );
    assert_eq!(t.put_walls, vec![wall(95.0, 500, 5), wall(100.0, 300, 1)]);
    assert_eq!(
        (t.call_wall_strike, t.put_wall_strike),
        (Some(100.0), Some(95.0))
    );
    assert_close(t.gex_slope, 87_500.0);
    assert_close(t.dgpi, 410_001f64.log10() * 10.0 * 1.3);
    assert_eq!(t.position, "neutral");
    assert_eq!(t.confidence, "medium");
    assert_eq!(t.status, "LIMITED");
    assert_eq!(t.diagnostics, vec!["near_zero_net_gex"]);
    assert_eq!(t.snapshot_ts.to_rfc3339(), "2024-01-03T21:00:00+00:00");
    assert_eq!(t.params_name, "a3");
    assert!(t.failure_reason.is_some());
}

#[tokio::test]
async fn a_full_ticker() {
    let all = run(Profile::A3.params(), None).await;
    let b = &all["BIG"];
    // net_K = 0.05 · (5000 − 1000) · 100 · 100² · 0.01 = 2,000,000 at each of 13 strikes.
    assert_close(b.gex_net, 26_000_000.0);
    assert_close(b.gex_total, 26_000_000.0);
    assert_close(b.gex_call, 32_500_000.0);
    assert_close(b.gex_put, -6_500_000.0);
    // d = 0.5 · 5000 · 100 − 0.5 · 1000 · 100 = 200,000 per strike.
    assert_close(b.net_dex, 2_600_000.0);
    assert_eq!(b.gamma_flip, None);
    // Equal OI everywhere: ties go to the lower strike.
    assert_eq!(
        b.call_walls,
        vec![
            wall(94.0, 5000, 10),
            wall(95.0, 5000, 10),
            wall(96.0, 5000, 10)
        ]
    );
    // Window [98, 102]: lower = 98, 99 → 4M; upper = 100, 101, 102 → 6M; (6M − 4M) / 4.
    assert_close(b.gex_slope, 500_000.0);
    assert_close(b.dgpi, 26_000_001f64.log10() * 10.0 * 1.3);
    assert_eq!(
        (
            b.position.as_str(),
            b.confidence.as_str(),
            b.status.as_str()
        ),
        ("long_gamma", "high", "FULL")
    );
    assert_eq!(b.failure_reason, None);
    assert_eq!(b.diagnostics, vec!["no_flip"]);
}

#[tokio::test]
async fn edge_cases_soft_fail_with_diagnostics() {
    let watch: Vec<String> = [
        "ALLF", "NOSPT", "PXSPT", "IDX", "EXPD", "ONE", "NOX", "OUTS", "GHOST",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let all = run(Profile::A3.params(), Some(watch.clone())).await;
    assert_eq!(all.keys().cloned().collect::<Vec<_>>(), {
        let mut w = watch.clone();
        w.sort();
        w
    });

    let allf = &all["ALLF"];
    assert_eq!(
        (
            allf.status.as_str(),
            allf.confidence.as_str(),
            allf.position.as_str()
        ),
        ("INVALID", "invalid", "unknown")
    );
    assert_eq!(allf.filter_stats.low_open_interest, 4);
    assert_eq!(
        (
            allf.gex_net,
            allf.gex_total,
            allf.gex_call,
            allf.net_dex,
            allf.dgpi
        ),
        (None, None, None, None, None)
    );
    assert!(allf.call_walls.is_empty());
    assert_eq!(
        allf.diagnostics,
        vec!["all_contracts_filtered", "low_contract_count"]
    );

    let nospot = &all["NOSPT"];
    assert_eq!(nospot.spot_price, None);
    assert_eq!(nospot.spot_price_source, None);
    assert_eq!(
        (
            nospot.status.as_str(),
            nospot.confidence.as_str(),
            nospot.position.as_str()
        ),
        ("INVALID", "invalid", "unknown")
    );
    assert_eq!(
        (nospot.gex_net, nospot.gamma_flip, nospot.gex_slope),
        (None, None, None)
    );
    assert_eq!(nospot.diagnostics[0], "missing_spot_price");

    assert_eq!(all["PXSPT"].spot_price, Some(50.5));
    assert_eq!(all["PXSPT"].spot_price_source.as_deref(), Some("spot_px"));
    assert_eq!(all["IDX"].spot_price, Some(4700.5));

    let expd = &all["EXPD"].filter_stats;
    assert_eq!(
        (
            expd.total,
            expd.expired,
            expd.dte_exceeded,
            expd.missing_gamma,
            expd.low_open_interest,
            expd.low_volume
        ),
        (8, 2, 2, 2, 0, 1)
    );
    assert_eq!(all["EXPD"].eligible_options_count, 1);

    let one = &all["ONE"];
    assert_eq!(one.gamma_flip, None);
    assert!(!one.diagnostics.contains(&"no_flip".to_string()));
    assert!(one.diagnostics.contains(&"low_contract_count".to_string()));

    let nox = &all["NOX"];
    assert_eq!(nox.gamma_flip, None);
    assert!(
        nox.diagnostics.contains(&"no_flip".to_string()),
        "{:?}",
        nox.diagnostics
    );
    assert_close(nox.gex_put, 0.0);

    assert!(
        all["OUTS"]
            .diagnostics
            .contains(&"spot_outside_strikes".to_string())
    );
    assert!(
        !all["ONE"]
            .diagnostics
            .contains(&"spot_outside_strikes".to_string())
    );

    let ghost = &all["GHOST"];
    assert_eq!(
        (ghost.status.as_str(), ghost.total_options_count),
        ("INVALID", 0)
    );
    assert_eq!(
        ghost.diagnostics,
        vec!["no_options_available", "low_contract_count"]
    );
}

#[tokio::test]
async fn v2_profile_and_overrides_change_the_numbers_and_the_name() {
    let all = run(Profile::V2.params(), Some(vec!["T".into()])).await;
    let t = &all["T"];
    // v2 keeps the 105 put (volume 0): net_105 = 120,000 − 0.03 · 100 · 10,000 = 90,000.
    assert_eq!(t.eligible_options_count, 6);
    assert_close(t.gex_net, 380_000.0);
    assert_eq!(t.params_name, "v2");
    // The production rules (§10): contracts_analyzed counts the three rows, not
    // the six legs; every row's own stkPx is 100, so the numbers above stand.
    assert_eq!((t.contracts_analyzed, t.model_version), (3, 2));

    let mut p = Profile::A3.params();
    p.spot_override = Some(110.0);
    p.min_volume = 0;
    let all = run(p.clone(), Some(vec!["T".into()])).await;
    let t = &all["T"];
    assert_eq!(t.spot_price_source.as_deref(), Some("override"));
    // S = 110: every g scales by 1.21; six legs eligible as in v2 → 380,000 · 1.21.
    assert_close(t.gex_net, 459_800.0);
    assert!(t.params_name.starts_with("a3-") && t.params_name.len() == 11);
    assert_eq!(t.params_name, p.name());
}
