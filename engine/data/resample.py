"""OHLCV resampling that never leaks the future.

Rows are labelled by bar open time (left label, left-closed bins), and a bin
is emitted only once the source data reaches its close: a 15m bar opening at
10:00 is built from the 5m bars opening 10:00, 10:05, 10:10 and exists only if
the data reaches 10:15. `multi_timeframe` pairs each primary bar with the last
confirmation bar closed by the primary bar's close.
"""
from __future__ import annotations

import pandas as pd

from engine.data.bars import GRID_ORIGIN, interval_of
from engine.data.errors import DataError
from engine.data.quoted import SIDE_AGG
from engine.data.timeframes import parse_tf

AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
       "bid": "last", "ask": "last", **SIDE_AGG}


def resample(df: pd.DataFrame, tf: str) -> pd.DataFrame:
    target, source = parse_tf(tf), interval_of(df)
    if target < source or target % source:
        raise DataError(str(df.attrs.get("source", "<frame>")), 1,
                        f"cannot make {tf} bars from {df.attrs.get('tf') or source} bars",
                        "the target timeframe must be a whole multiple of the source timeframe")
    if target == source:
        return df
    agg = {c: f for c, f in AGG.items() if c in df.columns}
    bins = df.resample(target, label="left", closed="left", origin=GRID_ORIGIN)  # (a Timedelta rule: pandas ignores origin for "1D")
    out, n = bins.agg(agg), bins["open"].count()
    data_end = df.index[-1] + source
    # A bin the data only partly covers at either end is not a bar: its open or close would be wrong,
    # since the market traded before the data starts (or after it ends). Empty bins are gaps (markets
    # closed), not bars.
    keep = (n > 0) & (out.index >= df.index[0]) & (out.index + target <= data_end)
    out, n = out[keep], n[keep]
    out.index.name = "ts"
    # A bin missing source bars inside the data is kept, and counted (attrs["partial"]): inside, a
    # missing source bar is mostly an interval without a trade or quote (real GBP/USD 1m misses
    # illiquid minutes: 56 of its 504 1h bars), whose bar the others make whole; dropping them would
    # punch holes in every illiquid series. The run notes the count (engine/run/market.py).
    out.attrs = {**df.attrs, "tf": tf, "warnings": [], "partial": int((n < target // source).sum())}
    return out


def multi_timeframe(df: pd.DataFrame, primary: str, confirm: str) -> pd.DataFrame:
    """Primary bars with `confirm_*` columns from the last confirmation bar closed by then."""
    p, c = resample(df, primary), resample(df, confirm)
    left = p.assign(_close=p.index + parse_tf(primary)).reset_index()
    right = c.add_prefix("confirm_").assign(_close=c.index + parse_tf(confirm))
    right = right.reset_index().rename(columns={"ts": "confirm_ts"})
    out = pd.merge_asof(left, right, on="_close", direction="backward")
    out = out.drop(columns="_close").set_index("ts")
    out.attrs = {**p.attrs, "confirm_tf": confirm}
    return out
