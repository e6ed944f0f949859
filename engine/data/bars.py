"""Frames to domain Bars. A row's `ts` is the bar's open; Bar.ts is its close,
the first moment anyone could have known the bar (so replay cannot peek)."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd

from engine.data.quoted import SIDE_OHLC, QuotedBar
from engine.data.timeframes import infer_tf, parse_tf
from engine.domain import Bar

# Bars open on whole multiples of their timeframe from here: the one origin of the import's
# grid check (loader.first_off_grid) and of resampling's bins (resample.resample).
GRID_ORIGIN = pd.Timestamp("1970-01-01", tz="UTC")


def interval_of(df: pd.DataFrame) -> pd.Timedelta:
    tf = df.attrs.get("tf")
    interval = parse_tf(tf) if tf else infer_tf(df.index)
    if interval is None:
        raise ValueError("cannot tell the bar interval of a frame with fewer than 2 rows; pass tf")
    return interval


def epoch_seconds(index: pd.DatetimeIndex) -> np.ndarray:
    """Epoch seconds of a DatetimeIndex, whatever its resolution (pandas 3 defaults to µs for some)."""
    return index.as_unit("ns").asi8 / 1e9


def iter_bars(df: pd.DataFrame, symbol: str | None = None) -> Iterator[Bar]:
    symbol = symbol or df.attrs.get("symbol")
    if not symbol:
        raise ValueError("iter_bars needs a symbol (argument or df.attrs['symbol'])")
    close_ts = epoch_seconds(df.index + interval_of(df))
    has_quotes = "bid" in df.columns and "ask" in df.columns
    volume = df["volume"].to_numpy() if "volume" in df.columns else [0.0] * len(df)
    cols = [df[c].to_numpy() for c in ("open", "high", "low", "close")]
    bids = df["bid"].to_numpy() if has_quotes else None
    asks = df["ask"].to_numpy() if has_quotes else None
    sides = side_rows(df)
    for i, ts in enumerate(close_ts):
        args = (symbol, float(ts), float(cols[0][i]), float(cols[1][i]), float(cols[2][i]),
                float(cols[3][i]), float(volume[i]),
                float(bids[i]) if has_quotes else None, float(asks[i]) if has_quotes else None)
        yield Bar(*args) if sides is None else QuotedBar(*args, **dict(zip(SIDE_OHLC, sides[i].tolist(), strict=True)))


def side_rows(df: pd.DataFrame) -> np.ndarray | None:
    """Each bar's bid/ask open, high, low as one row (SIDE_OHLC's order), or None when the frame
    has not all of them: one (n, 6) array, only for data that has them."""
    if not all(c in df.columns for c in SIDE_OHLC):
        return None
    return np.ascontiguousarray(df[list(SIDE_OHLC)].to_numpy(dtype=float))
