"""The time each bar is judged by for the trading day (risk spec `limits.trading_day`).

The loop knows bars by their close, and TradingDays counts a time in the day (end of the day
before, its own end]. That puts a bar in the day it opens in, as the spec says, only when the
day's boundaries fall on bar closes. A bar that opens before a boundary and closes after it
(4h bars with a day that starts at midnight Prague, 23:00 UTC in winter) would count in the day
it closes in: its loss would start the next day, and the day it opened in would never see it.
Such a bar is judged at that boundary instead, as the last bar of the day that ends there; the
next day starts from the equity at its close, the first known after the boundary.
"""
from __future__ import annotations

import numpy as np

from engine.risk.tradingday import TradingDays
from engine.run.market import Timeline


def bar_day_times(days: TradingDays, closes: np.ndarray, length: float) -> np.ndarray | None:
    """Per bar of a series closing at `closes`, each `length` seconds long: its close, or for a
    bar with a day boundary inside it, that boundary. None when no bar has one (the usual case)."""
    if length <= 0 or not closes.size:
        return None
    opens = closes - length
    first, last = days.day_of(float(opens.min())), days.day_of(float(closes.max()))
    ends = np.array([days.end_of(d) for d in range(first, last + 1)])
    # The end of the day each bar opens in, [start, end): the first boundary after its open.
    end = ends[np.searchsorted(ends, opens, side="right")]
    inside = end < closes
    return np.where(inside, end, closes) if inside.any() else None


def row_day_times(tl: Timeline, by_series: list[np.ndarray | None]) -> np.ndarray | None:
    """The timeline's rows' day times (its `ts` where a bar has no boundary inside), from each
    series' bar_day_times; None when no series has such a bar."""
    if all(x is None for x in by_series):
        return None
    out = tl.ts.copy()
    for n, x in enumerate(by_series):
        if x is not None:
            rows = tl.rows_of[n]
            out[rows] = x[tl.idx[rows]]
    return out
