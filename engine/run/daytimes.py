"""The time each timeline row is judged by for the trading day (risk spec `limits.trading_day`).

The loop knows bars by their close, and TradingDays counts a time in the day (end of the day
before, its own end]. That puts a bar in the day it opens in, as the spec says, only when the
day's boundaries fall on bar closes. A bar that opens before a boundary and closes after it
(4h bars with a day that starts at midnight Prague, 23:00 UTC in winter) would count in the day
it closes in: its loss would start the next day, and the day it opened in would never see it.
Such a bar is judged at that boundary instead, as the last bar of the day that ends there; the
next day starts from the equity at its close, the first known after the boundary.

With series of different bar lengths, finer bars open after the boundary while the coarse one
is still open. The day rolls once every bar holding the boundary has closed: the rows between
count in the day before too (each judged at the boundary), so no loss of a bar that opened in
that day escapes its daily limit. For a loss limit that is the stricter of the two readings.
"""
from __future__ import annotations

import numpy as np

from engine.risk.tradingday import TradingDays
from engine.run.market import Timeline


def straddles(days: TradingDays, closes: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """The bars closing at `closes`, each `length` seconds long, that hold a day boundary:
    (the boundary inside each, its close)."""
    if length <= 0 or not closes.size:
        return np.empty(0), np.empty(0)
    opens = closes - length
    first, last = days.day_of(float(opens.min())), days.day_of(float(closes.max()))
    ends = np.array([days.end_of(d) for d in range(first, last + 1)])
    # The end of the day each bar opens in, [start, end): the first boundary after its open.
    end = ends[np.searchsorted(ends, opens, side="right")]
    inside = end < closes
    return end[inside], closes[inside]


def row_day_times(days: TradingDays, tl: Timeline, lengths: dict[str, float]) -> np.ndarray | None:
    """Per timeline row, its time, or a boundary for each row from just after it to the last
    close of a traded bar holding it; None when no traded bar holds one (the usual case)."""
    found = [straddles(days, s.ts[s.start:], lengths[s.symbol]) for s in tl.series]
    bounds = np.concatenate([b for b, _ in found]) if found else np.empty(0)
    if not bounds.size:
        return None
    closes = np.concatenate([c for _, c in found])
    uniq, which = np.unique(bounds, return_inverse=True)
    until = np.full(len(uniq), -np.inf)
    np.maximum.at(until, which, closes)  # per boundary, the last close of a bar holding it
    k = np.maximum(np.searchsorted(uniq, tl.ts, side="left") - 1, 0)  # the last boundary before each row
    held = (uniq[k] < tl.ts) & (tl.ts <= until[k])
    return np.where(held, uniq[k], tl.ts)
