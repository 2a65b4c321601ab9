"""An independent implementation of ORATS_DAILY.md, for tests/orats_daily.rs.

Reads every orats_strikes partition of a lake with pyarrow, computes the
orats_daily rows of every date in plain Python (no SQL, no gexlake code),
and writes them to one Parquet file. Usage:

    python orats_daily_reference.py LAKE OUT.parquet
"""
import glob
import math
import os
import statistics
import sys
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa
import pyarrow.parquet as pq


def pg_round(x, places):
    """x::NUMERIC(p, places): %.15g, then half away from zero (ROUND_HALF_UP is away from zero)."""
    if x is None:
        return None
    d = Decimal("%.15g" % x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return float(d) + 0.0


def to_int(x):
    return None if x is None else int(pg_round(x, 0))


def clamp(x, lo, hi):
    return max(lo, min(hi, x))


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def decimal_mean(xs):
    """The mean of stored two-place values as PostgreSQL's avg(numeric): in decimals."""
    xs = [Decimal("%.15g" % x) for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def stdev(xs):
    xs = [x for x in xs if x is not None]
    return statistics.stdev(xs) if len(xs) >= 2 else None


def num(x):
    return 0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else x


def aggregate(lake):
    """{(symbol, date): aggregates} from the strikes rows (§1–2)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(lake, "orats_strikes", "trade_date=*", "*.parquet"))):
        day = date.fromisoformat(path.split("trade_date=")[1].split(os.sep)[0])
        # The lake's DECIMAL columns as doubles, as V1 computed: float() of a Decimal is the
        # double of its text (what pandas' astype(float) does; pyarrow's own decimal cast is not
        # correctly rounded).
        rows = [{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()}
                for r in pq.read_table(path).to_pylist()]
        groups = {}
        for r in rows:
            symbol = r["ticker"].strip(" ").upper()
            if not 1 <= len(symbol) <= 10:
                continue
            groups.setdefault(symbol, []).append(r)
        for symbol, rs in groups.items():
            cv = sum(num(r["c_volu"]) for r in rs)
            pv = sum(num(r["p_volu"]) for r in rs)
            coi = sum(num(r["c_oi"]) for r in rs)
            poi = sum(num(r["p_oi"]) for r in rs)
            weighted, weights = [], 0
            for r in rs:
                v = num(r["c_volu"]) + num(r["p_volu"])
                c, p = num(r["c_mid_iv"]), num(r["p_mid_iv"])
                if v > 0 and (c > 0 or p > 0):
                    iv = (c + p) / 2 if c > 0 and p > 0 else (c if c > 0 else p)
                    weighted.append(iv * v)
                    weights += v
            iv30 = math.fsum(weighted) / weights if weights else None
            price = None
            priced = [r for r in rs if num(r["stk_px"]) > 0 or num(r["spot_px"]) > 0]
            if priced:
                def value(r):
                    return r["stk_px"] if num(r["stk_px"]) > 0 else r["spot_px"]
                first = min(priced, key=lambda r: (r["expir_date"], r["strike"], r["ticker"], value(r)))
                price = value(first)
            premium = math.trunc(math.fsum(
                num(r["c_volu"]) * num(r["c_value"]) + num(r["p_volu"]) * num(r["p_value"]) for r in rs))
            out[(symbol, day)] = dict(
                symbol=symbol, asof_date=day, call_volume=cv, put_volume=pv,
                call_open_interest=coi, put_open_interest=poi, total_volume=cv + pv,
                total_open_interest=coi + poi, avg_daily_volume=cv + pv, iv_30day=iv30,
                stock_price=price, avg_daily_premium=premium)
    return out


def history(rows):
    """One symbol's rows, ascending by date, completed with §3's columns."""
    for k, r in enumerate(rows):
        d = r["asof_date"]
        last = lambda n: rows[max(0, k - n + 1):k + 1]
        # iv_rank over [d − 59, d], calendar days.
        ivs = [x["iv_30day"] for x in rows[:k + 1]
               if x["asof_date"] >= d - timedelta(days=59) and x["iv_30day"] is not None]
        r["iv_rank"] = None
        if r["iv_30day"] is not None and len(ivs) >= 36 and max(ivs) > min(ivs):
            r["iv_rank"] = pg_round(clamp((r["iv_30day"] - min(ivs)) / (max(ivs) - min(ivs)) * 100, 0, 100), 2)
        # hv over the positive prices of [d − 45, d]: returns between them only.
        prices = [x["stock_price"] for x in rows[:k + 1]
                  if x["asof_date"] >= d - timedelta(days=45) and x["stock_price"] is not None
                  and x["stock_price"] > 0]
        returns = [math.log(b / a) for a, b in zip(prices, prices[1:])]
        r["hv_30day"] = None
        if r["stock_price"] is not None and r["stock_price"] > 0 and len(returns) >= 20:
            r["hv_30day"] = pg_round(statistics.stdev(returns) * math.sqrt(252) * 100, 2)
        prev = rows[k - 1] if k > 0 else None
        one_day = prev is not None and prev["asof_date"] == d - timedelta(days=1)
        r["delta_call_oi"] = r["call_open_interest"] - prev["call_open_interest"] if one_day else None
        r["delta_put_oi"] = r["put_open_interest"] - prev["put_open_interest"] if one_day else None
        for n in (7, 30, 60):
            r[f"volume_ema_{n}d"] = to_int(mean([x["avg_daily_volume"] for x in last(n)]))
            m = mean([x["iv_rank"] for x in last(n)])
            r[f"iv_rank_ema_{n}d"] = None if m is None else pg_round(m, 2)
        before = rows[max(0, k - 20):k]
        vols = [x["total_volume"] for x in before]
        sd = stdev(vols)
        r["volume_zscore"] = None
        if len(vols) >= 10 and sd is not None and sd > 0:
            r["volume_zscore"] = pg_round(clamp((r["total_volume"] - mean(vols)) / sd, -3, 3), 3)
        sd = stdev([x["iv_rank"] for x in last(60)])
        avg60 = r["iv_rank_ema_60d"]
        r["iv_rank_zscore"] = None
        if sd is not None and sd > 0 and avg60 is not None and r["iv_rank"] is not None:
            r["iv_rank_zscore"] = pg_round(clamp((r["iv_rank"] - avg60) / sd, -999.999, 999.999), 3)
        ema = r["volume_ema_60d"]
        r["volume_trend_pct"] = None
        if ema is not None and ema > 0:
            r["volume_trend_pct"] = pg_round(clamp((r["avg_daily_volume"] - ema) * 100 / ema, -999.999, 999.999), 3)
        r["iv_rank_trend_pct"] = None
        if avg60 is not None and avg60 > 0 and r["iv_rank"] is not None:
            r["iv_rank_trend_pct"] = pg_round(clamp((r["iv_rank"] - avg60) * 100 / avg60, -999.999, 999.999), 3)
        hv = r["hv_30day"]
        r["iv_hv_ratio"] = None
        if hv is not None and hv > 0 and r["iv_30day"] is not None:
            r["iv_hv_ratio"] = pg_round(r["iv_30day"] / hv, 4)
        # V1's averages of the stored NUMERIC hv_30day: exact decimals.
        m10, m30 = decimal_mean([x["hv_30day"] for x in last(10)]), decimal_mean([x["hv_30day"] for x in last(30)])
        r["hv_slope"] = None if m10 is None or m30 is None else float(
            (m10 - m30).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)) + 0.0
        for col, out, bound in (("iv_30day", "iv_30d_zscore", 99.999),
                                ("total_open_interest", "open_interest_zscore", 99.999)):
            xs = [x[col] for x in last(60)]
            sd = stdev(xs)
            r[out] = None
            if sd is not None and sd > 0 and r[col] is not None:
                r[out] = pg_round(clamp((r[col] - mean(xs)) / sd, -bound, bound), 3)
        r["volume_accel"] = None
        if prev is not None and prev["total_volume"] > 0:
            r["volume_accel"] = pg_round(clamp(r["total_volume"] / prev["total_volume"] - 1, -9999.9999, 9999.9999), 4)
        r["premium_flow"] = r["avg_daily_premium"] * r["total_volume"]
        sma = mean([x["stock_price"] for x in last(20)])
        r["price_momentum_20d"] = None
        if sma is not None and sma > 0 and r["stock_price"] is not None:
            r["price_momentum_20d"] = pg_round(r["stock_price"] / sma - 1, 4)
        ivr = r["iv_rank"]
        r["vol_regime"] = None if ivr is None else (0 if ivr <= 0.33 else 1 if ivr <= 0.67 else 2)
        for a, b, out in (("call_volume", "put_volume", "put_call_volume_skew"),
                          ("call_open_interest", "put_open_interest", "put_call_oi_skew")):
            s = r[a] + r[b]
            r[out] = 0.0 if s == 0 else pg_round((r[a] - r[b]) / s, 4)
        vz, pm = r["volume_zscore"], r["price_momentum_20d"]
        r["volume_price_interaction"] = None if vz is None or pm is None else pg_round(vz * pm, 4)
    return rows


def main():
    lake, out = sys.argv[1], sys.argv[2]
    by_symbol = {}
    for row in aggregate(lake).values():
        by_symbol.setdefault(row["symbol"], []).append(row)
    result = []
    for symbol in sorted(by_symbol):
        result.extend(history(sorted(by_symbol[symbol], key=lambda r: r["asof_date"])))
    result.sort(key=lambda r: (r["asof_date"], r["symbol"]))
    ints = {"call_volume", "put_volume", "call_open_interest", "put_open_interest", "total_volume",
            "total_open_interest", "avg_daily_volume", "avg_daily_premium", "delta_call_oi",
            "delta_put_oi", "volume_ema_7d", "volume_ema_30d", "volume_ema_60d", "premium_flow",
            "vol_regime"}
    names = [n for n in result[0] if n not in ("symbol", "asof_date")]
    schema = pa.schema([("symbol", pa.string()), ("asof_date", pa.date32())]
                       + [(n, pa.int64() if n in ints else pa.float64()) for n in names])
    pq.write_table(pa.Table.from_pylist(result, schema=schema), out)


if __name__ == "__main__":
    main()
