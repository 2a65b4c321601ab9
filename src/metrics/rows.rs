//! Turning result batches (of the metrics SQL, or read back from the lake)
//! into [`DealerMetrics`] values for the sink and the JSON payload.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::error::{DataFusionError, Result};

use super::model::{DealerMetrics, FilterStats, Wall};
use super::params::MetricsParams;
use crate::orats::values::days_to_date;

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    let idx = batch.schema().index_of(name)?;
    batch
        .column(idx)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| {
            DataFusionError::Internal(format!(
                "metrics column {name} has type {}",
                batch.column(idx).data_type()
            ))
        })
}

fn float(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}

fn text(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}

fn walls(list: &ArrayRef, i: usize) -> Result<Vec<Wall>> {
    let list = list.as_list::<i32>();
    if list.is_null(i) {
        return Ok(Vec::new());
    }
    let items = list.value(i);
    let s = items.as_struct();
    let strike = s
        .column_by_name("strike")
        .map(|c| c.as_primitive::<Float64Type>());
    let oi = s
        .column_by_name("open_interest")
        .map(|c| c.as_primitive::<Int64Type>());
    let volume = s
        .column_by_name("volume")
        .map(|c| c.as_primitive::<Int64Type>());
    let (Some(strike), Some(oi), Some(volume)) = (strike, oi, volume) else {
        return Err(DataFusionError::Internal(
            "walls are not {strike, open_interest, volume}".into(),
        ));
    };
    Ok((0..s.len())
        .map(|j| Wall {
            strike: strike.value(j),
            open_interest: oi.value(j),
            volume: volume.value(j),
        })
        .collect())
}

/// Converts result batches into one [`DealerMetrics`] per row.
pub fn from_batches(batches: &[RecordBatch], params: &MetricsParams) -> Result<Vec<DealerMetrics>> {
    let params_name = params.name();
    let params_hash = params.hash();
    let mut out = Vec::new();
    for b in batches {
        let ticker = column::<StringArray>(b, "ticker")?;
        let trade_date = column::<Date32Array>(b, "trade_date")?;
        let snapshot = column::<TimestampMicrosecondArray>(b, "snapshot_ts")?;
        let status = column::<StringArray>(b, "status")?;
        let status_reason = column::<StringArray>(b, "status_reason")?;
        let failure_reason = column::<StringArray>(b, "failure_reason")?;
        let spot = column::<Float64Array>(b, "spot_price")?;
        let spot_source = column::<StringArray>(b, "spot_price_source")?;
        let eligible = column::<Int64Array>(b, "eligible_options_count")?;
        let total = column::<Int64Array>(b, "total_options_count")?;
        let contracts = column::<Int64Array>(b, "contracts_analyzed")?;
        let f = |name| column::<Float64Array>(b, name);
        let (gex_total, gex_net, gex_call, gex_put) = (
            f("gex_total")?,
            f("gex_net")?,
            f("gex_call")?,
            f("gex_put")?,
        );
        let (net_dex, flip, slope, dgpi, iv_rank) = (
            f("net_dex")?,
            f("gamma_flip")?,
            f("gex_slope")?,
            f("dgpi")?,
            f("iv_rank")?,
        );
        let position = column::<StringArray>(b, "position")?;
        let confidence = column::<StringArray>(b, "confidence")?;
        let call_walls = b.column(b.schema().index_of("call_walls")?);
        let put_walls = b.column(b.schema().index_of("put_walls")?);
        let stats = b.column(b.schema().index_of("filter_stats")?).as_struct();
        let stat = |name: &str| -> Result<Arc<Int64Array>> {
            let c = stats
                .column_by_name(name)
                .ok_or_else(|| DataFusionError::Internal(format!("filter_stats lacks {name}")))?;
            Ok(Arc::new(c.as_primitive::<Int64Type>().clone()))
        };
        let (s_total, s_exp, s_dte, s_gamma, s_uncounted, s_oi, s_vol) = (
            stat("total")?,
            stat("expired")?,
            stat("dte_exceeded")?,
            stat("missing_gamma")?,
            stat("uncounted_row")?,
            stat("low_open_interest")?,
            stat("low_volume")?,
        );
        let diagnostics = b
            .column(b.schema().index_of("diagnostics")?)
            .as_list::<i32>();
        for i in 0..b.num_rows() {
            let call_walls = walls(call_walls, i)?;
            let put_walls = walls(put_walls, i)?;
            let codes = diagnostics.value(i);
            let codes = codes.as_string::<i32>();
            out.push(DealerMetrics {
                ticker: ticker.value(i).to_string(),
                trade_date: days_to_date(trade_date.value(i)),
                params_name: params_name.clone(),
                params_hash: params_hash.clone(),
                params: params.clone(),
                status: status.value(i).to_string(),
                status_reason: status_reason.value(i).to_string(),
                failure_reason: text(failure_reason, i),
                spot_price: float(spot, i),
                spot_price_source: text(spot_source, i),
                snapshot_ts: DateTime::<Utc>::from_timestamp_micros(snapshot.value(i))
                    .ok_or_else(|| DataFusionError::Internal("snapshot_ts out of range".into()))?,
                eligible_options_count: eligible.value(i),
                total_options_count: total.value(i),
                contracts_analyzed: contracts.value(i),
                gex_total: float(gex_total, i),
                gex_net: float(gex_net, i),
                gex_call: float(gex_call, i),
                gex_put: float(gex_put, i),
                net_dex: float(net_dex, i),
                gamma_flip: float(flip, i),
                call_wall_strike: call_walls.first().map(|w| w.strike),
                put_wall_strike: put_walls.first().map(|w| w.strike),
                call_walls,
                put_walls,
                gex_slope: float(slope, i),
                dgpi: float(dgpi, i),
                iv_rank: float(iv_rank, i),
                position: position.value(i).to_string(),
                confidence: confidence.value(i).to_string(),
                filter_stats: FilterStats {
                    total: s_total.value(i),
                    expired: s_exp.value(i),
                    dte_exceeded: s_dte.value(i),
                    missing_gamma: s_gamma.value(i),
                    uncounted_row: s_uncounted.value(i),
                    low_open_interest: s_oi.value(i),
                    low_volume: s_vol.value(i),
                },
                diagnostics: (0..codes.len())
                    .map(|j| codes.value(j).to_string())
                    .collect(),
                model_version: params.model_version(),
            });
        }
    }
    Ok(out)
}
