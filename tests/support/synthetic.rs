//! Deterministic, plausible [`DealerMetrics`] for one trade date, without an archive: enough
//! variety (missing spots, zero GEX, no flip, fewer walls) to exercise every column of the sink.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;

use gexlake::metrics::{ContractsRule, DealerMetrics, FilterStats, Profile, Wall};

/// The tickers every synthetic day starts with: the V2 handoff's spot-check symbols.
pub const MAJOR_TICKERS: [&str; 5] = ["AAPL", "TSLA", "SPY", "NVDA", "META"];

/// trade_date 16:00 America/New_York (METRICS.md §7).
pub fn snapshot_ts(trade_date: NaiveDate) -> DateTime<Utc> {
    let close = trade_date
        .and_hms_opt(16, 0, 0)
        .expect("16:00 is a valid time");
    New_York
        .from_local_datetime(&close)
        .single()
        .expect("16:00 is never skipped or repeated in New York")
        .with_timezone(&Utc)
}

/// The `i`-th synthetic ticker: the majors, then `XAAA`, `XAAB`, … (17,576 more).
pub fn ticker(i: usize) -> String {
    if let Some(major) = MAJOR_TICKERS.get(i) {
        return (*major).to_string();
    }
    let n = i - MAJOR_TICKERS.len();
    let letter = |k: u32| char::from(b'A' + (n / 26usize.pow(k) % 26) as u8);
    format!("X{}{}{}", letter(2), letter(1), letter(0))
}

/// Results for tickers `0..count` on `trade_date` under `profile`'s default parameters; the
/// same arguments always give the same rows, and other dates or profiles give other values.
pub fn synthetic_day(profile: Profile, trade_date: NaiveDate, count: usize) -> Vec<DealerMetrics> {
    let params = profile.params();
    let (params_name, params_hash) = (params.name(), params.hash());
    let snapshot_ts = snapshot_ts(trade_date);
    (0..count)
        .map(|i| {
            let ticker = ticker(i);
            let seed = fnv1a(ticker.as_bytes())
                ^ fnv1a(trade_date.to_string().as_bytes())
                ^ fnv1a(profile.name().as_bytes());
            let mut rng = SplitMix64(seed);
            // A v2 result reaches the sink only with a counted row, hence a spot
            // and an eligible leg (METRICS.md §10).
            let v2 = profile == Profile::V2;
            let spot = (rng.unit() >= 0.02 || v2).then(|| 5.0 + rng.unit() * 495.0);
            let eligible = match (rng_if(spot.is_some(), &mut rng), v2) {
                (Some(e), true) => e.max(1),
                (Some(e), false) => e,
                (None, _) => 0,
            };
            let has_legs = eligible > 0;
            let gex_call = has_legs.then(|| rng.unit() * 5e8);
            let gex_put = has_legs.then(|| -rng.unit() * 5e8);
            let gex_net = match (gex_call, gex_put) {
                (Some(_), Some(_)) if rng.unit() < 0.05 => Some(0.0),
                (Some(call), Some(put)) => Some(call + put),
                _ => None,
            };
            let gex_total = gex_call.zip(gex_put).map(|(call, put)| call - put);
            let gamma_flip = spot
                .filter(|_| has_legs && rng.unit() < 0.7)
                .map(|s| s * (0.9 + 0.2 * rng.unit()));
            let wall_count = eligible.min(3) as usize;
            let walls = |rng: &mut SplitMix64, side: f64| -> Vec<Wall> {
                let s = spot.unwrap_or(0.0);
                (0..wall_count)
                    .map(|k| Wall {
                        strike: (s * (1.0 + side * 0.05 * (k as f64 + rng.unit()))).round(),
                        open_interest: 100 + (rng.unit() * 50_000.0) as i64,
                        volume: (rng.unit() * 5_000.0) as i64,
                    })
                    .collect()
            };
            let call_walls = walls(&mut rng, 1.0);
            let put_walls = walls(&mut rng, -1.0);
            let position = match gex_net {
                None => "unknown",
                Some(net) if net.abs() < params.neutral_threshold => "neutral",
                Some(net) if net > 0.0 => "long_gamma",
                Some(_) => "short_gamma",
            };
            let confidence = match eligible {
                _ if spot.is_none() => "invalid",
                0..5 => "invalid",
                10.. if rng.unit() < 0.6 => "high",
                _ => "medium",
            };
            let gex_positive = gex_total.is_some_and(|t| t > 0.0);
            let (status, status_reason) = if eligible >= 25
                && gex_positive
                && position != "unknown"
                && confidence != "invalid"
            {
                (
                    "FULL",
                    "eligible>=25, gex_total>0, position known, confidence high/medium",
                )
            } else if eligible >= 1 && gex_positive {
                ("LIMITED", "eligible>=1 and gex_total>0")
            } else {
                ("INVALID", "no eligible legs with positive gex_total")
            };
            let mut diagnostics = Vec::new();
            if spot.is_none() {
                diagnostics.push("missing_spot_price".to_string());
            }
            if has_legs && gamma_flip.is_none() {
                diagnostics.push("no_flip".to_string());
            }
            if eligible < 5 {
                diagnostics.push("low_contract_count".to_string());
            }
            if position == "neutral" {
                diagnostics.push("near_zero_net_gex".to_string());
            }
            let total_options_count = 2 * eligible + (rng.unit() * 200.0) as i64;
            let rejected = total_options_count - eligible;
            DealerMetrics {
                ticker,
                trade_date,
                params_name: params_name.clone(),
                params_hash: params_hash.clone(),
                params: params.clone(),
                status: status.to_string(),
                status_reason: status_reason.to_string(),
                failure_reason: (status != "FULL").then(|| format!("{status}: {status_reason}")),
                spot_price: spot,
                spot_price_source: spot.map(|_| "stkPx".to_string()),
                snapshot_ts,
                eligible_options_count: eligible,
                total_options_count,
                // Under v2 a counted row holds one or two eligible legs.
                contracts_analyzed: match params.contracts_rule {
                    ContractsRule::Legs => eligible,
                    ContractsRule::Rows => (eligible + 1) / 2,
                },
                gex_total,
                gex_net,
                gex_call,
                gex_put,
                net_dex: has_legs.then(|| (rng.unit() - 0.5) * 2e6),
                gamma_flip,
                call_wall_strike: call_walls.first().map(|w| w.strike),
                put_wall_strike: put_walls.first().map(|w| w.strike),
                call_walls,
                put_walls,
                gex_slope: has_legs.then(|| (rng.unit() - 0.5) * 1e7),
                dgpi: has_legs.then(|| (rng.unit() - 0.5) * 200.0),
                iv_rank: None,
                position: position.to_string(),
                confidence: confidence.to_string(),
                filter_stats: FilterStats {
                    total: total_options_count,
                    expired: rejected / 4,
                    dte_exceeded: rejected / 4,
                    missing_gamma: 0,
                    uncounted_row: 0,
                    low_open_interest: rejected - 3 * (rejected / 4),
                    low_volume: rejected / 4,
                },
                diagnostics,
                model_version: params.model_version(),
            }
        })
        .collect()
}

/// SplitMix64: tiny, fast and good enough for test data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Up to 400 eligible legs, drawn only when `draw` (so other rows keep their values).
fn rng_if(draw: bool, rng: &mut SplitMix64) -> Option<i64> {
    draw.then(|| (rng.unit() * 400.0) as i64)
}
