"""Market data for a run: bundled or stored series resampled to the stage's timeframes,
with the strategy's causal signals and ATR precomputed once.

Precomputing is safe because every column at row t uses rows <= t only (the
strategies' and features' no-future property tests prove it); replay then
reads row t, exactly what one_step_predict would return on bars[:t+1].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd

from engine.data.quoted import QuotedBar
from engine.domain import Bar, Domain
from engine.run.config import DomainData, StrategyUse
from engine.zones import utc

if TYPE_CHECKING:
    from strategies.base import Strategy


@dataclass(frozen=True, slots=True)
class DataGap:
    """A stretch of time without bars inside a series' traded bars: the strategies' indicators and
    the ATR carry across it as if it were not there, so the run says so at its start."""

    symbol: str
    start: float  # the close of the last bar before it, epoch seconds
    end: float  # the open of the first bar after it
    missing: int  # primary-timeframe bars that would fill it

    def as_dict(self) -> dict[str, Any]:
        """report.json's `data_gaps` entry, and the payload of its journal row."""
        return {"symbol": self.symbol, "from": iso(self.start), "to": iso(self.end),
                "length_s": self.end - self.start, "bars_missing": self.missing}


def iso(ts: float) -> str:
    return utc(ts).isoformat()


def data_gaps(symbol: str, ts: np.ndarray, start: int, step: float, over: float) -> tuple[DataGap, ...]:
    """The holes longer than `over` seconds between bars closing at `ts` (a bar spans `step`),
    from the last fitted bar on: the one before the first traded bar starts the indicators it reads.
    The rule is the loader's gap warning (a step between bars past a limit, engine/data/loader.py),
    with the limit a length of time: a factor of the bar would note every forex weekend."""
    ts = ts[max(start - 1, 0):]
    hole = np.diff(ts) - step
    return tuple(DataGap(symbol, float(ts[i]), float(ts[i + 1] - step), int(round(hole[i] / step)))
                 for i in np.flatnonzero(hole > over))


def fingerprint(s: "Series") -> dict[str, Any]:
    """What identifies a series' bars: their count, first and last close times and a hash of every
    price, volume and quote. A resume must replay the bars its run started with: the strategy is
    fitted on a share of them, and the checkpoint's cursor counts rows of their timeline."""
    import hashlib

    digest = hashlib.blake2b(digest_size=8)
    for a in (s.ts, s.open, s.high, s.low, s.close, s.volume, s.bid, s.ask, s.sides):
        digest.update(b"-" if a is None else np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return {"bars": len(s.ts), "first": _utc(s.ts[0]) if len(s.ts) else None,
            "last": _utc(s.ts[-1]) if len(s.ts) else None, "hash": digest.hexdigest()}


def _utc(t: float) -> str:
    return utc(float(t)).strftime("%Y-%m-%d %H:%M")


@dataclass(slots=True)
class Series:
    symbol: str
    domain: Domain
    ts: np.ndarray  # bar close, epoch seconds
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    bid: np.ndarray | None
    ask: np.ndarray | None
    signal: np.ndarray  # target position fraction (NaN: not ready); acted on at the bar's close
    confirm: np.ndarray  # +1 / -1 / 0: direction of the last confirmation-timeframe bar
    atr: np.ndarray
    start: int  # first tradable row: after the in-sample fit window
    partial: int = 0  # bars resampled from fewer source bars than they span (engine/data/resample.py)
    gaps: tuple[DataGap, ...] = ()  # holes in the traded bars the run config's note_gaps_over notes
    # Each bar's bid/ask open, high, low (engine.data.quoted.SIDE_OHLC), one row a bar: only for
    # data that has them (None otherwise, and the bars are plain Bars).
    sides: np.ndarray | None = None
    _last: tuple[int, Bar | None] = field(default=(-1, None), init=False, repr=False, compare=False)

    def bar(self, i: int) -> Bar:
        """Bar i. The last one made is handed out again: a quiet screen that ends at once is
        followed by the step of the very row it asked the venue about (over a third of steps).
        A Bar is frozen, and the venue keeps no bar but the last one fed to it, which is never
        fed twice, so sharing it answers exactly as an equal copy would."""
        last = self._last
        if last[0] == i:
            return last[1]
        # ndarray.item(i): the Python float of row i in one call, where float(a[i]) makes a numpy scalar first
        bid = None if self.bid is None else self.bid.item(i)
        ask = None if self.ask is None else self.ask.item(i)
        if self.sides is None:
            bar = Bar(self.symbol, self.ts.item(i), self.open.item(i), self.high.item(i), self.low.item(i),
                      self.close.item(i), self.volume.item(i), bid, ask)
        else:
            bo, bh, bl, ao, ah, al = self.sides[i].tolist()
            bar = QuotedBar(self.symbol, self.ts.item(i), self.open.item(i), self.high.item(i),
                            self.low.item(i), self.close.item(i), self.volume.item(i), bid, ask, bid_open=bo,
                            bid_high=bh, bid_low=bl, ask_open=ao, ask_high=ah, ask_low=al)
        self._last = (i, bar)
        return bar

    def __len__(self) -> int:
        return len(self.ts)


def partial_bars(s: Series, tf: str) -> dict[str, Any]:
    """report.json's `partial_bars` entry of a series, and the payload of its journal row."""
    return {"symbol": s.symbol, "tf": tf, "partial": s.partial, "bars": len(s)}


def data_notes(s: Series, tf: str, over: str) -> list[str]:
    """The start's notes on a series' data: its holes (the first few; report.json lists all) and
    its partial bars."""
    out = []
    if s.gaps:
        shown = "; ".join(f"{iso(g.start)} to {iso(g.end)} ({pd.Timedelta(seconds=g.end - g.start)}, "
                          f"{g.missing:,} {tf} bars)" for g in s.gaps[:3])
        more = f"; and {len(s.gaps) - 3} more (report.json data_gaps)" if len(s.gaps) > 3 else ""
        out.append(f"{s.symbol}'s traded bars have {len(s.gaps)} hole(s) longer than {over} "
                   f"(data.{s.domain.value}.note_gaps_over): {shown}{more}; its indicators carry across them")
    if s.partial:
        out.append(f"{s.symbol}: {s.partial:,} of its {len(s):,} {tf} bars are made from fewer source bars than "
                   "they span (source bars missing inside them, as an illiquid market's quiet minutes are); "
                   "they are kept as bars (report.json partial_bars)")
    return out


def atr(df: pd.DataFrame, window: int) -> np.ndarray:
    prev = df["close"].shift(1)
    tr = pd.concat([df["high"] - df["low"], (df["high"] - prev).abs(), (df["low"] - prev).abs()], axis=1).max(axis=1)
    return tr.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean().to_numpy()


def _strategies(use: StrategyUse) -> list["Strategy"]:
    from strategies.config import load_strategy_file
    from strategies.registry import build

    doc = load_strategy_file(use.file)
    entries = {e.id: e for e in doc.strategies}
    return [build(entries[name]) for name in use.use]


def run_bars(dataset: str, dd: DomainData) -> pd.DataFrame:
    """A data set's bars as a run trades them: its domain's primary timeframe, with the
    `confirm_*` columns of the confirmation timeframe."""
    from engine.data import sources
    from engine.data.resample import multi_timeframe

    return multi_timeframe(sources.load(dataset, dd.store), dd.primary, dd.confirm)


def fit_rows(n: int, fit_fraction: float) -> int:
    """How many of a series' first bars its strategies are fitted on; a run trades the rest
    (and `engine tune` scores candidates on these alone)."""
    return int(n * fit_fraction)


def load_series(dataset: str, dd: DomainData, use: StrategyUse, atr_window: int) -> Series:
    from engine.data import sources
    from engine.data.bars import epoch_seconds, side_rows
    from strategies.aggregate import position_pct_history

    meta = sources.describe(dataset, dd.store)  # the run config checked it names a known domain
    df = run_bars(dataset, dd)
    fit_end = fit_rows(len(df), use.fit_fraction)
    models = [strat.fit(df.iloc[:fit_end]) for strat in _strategies(use)]
    signal = position_pct_history(models, df).to_numpy(dtype=float)
    confirm = np.sign(df["confirm_close"].to_numpy() - df["confirm_open"].to_numpy())
    step = pd.Timedelta(dd.primary).total_seconds()
    ts = epoch_seconds(df.index) + step  # the loader indexes by bar open; decisions happen at the close
    has_quotes = "bid" in df.columns
    start = max(fit_end, 1)
    volume = df["volume"].to_numpy(dtype=float) if "volume" in df else np.zeros(len(df))  # a source without any
    return Series(meta.symbol, Domain(meta.domain), ts, *(df[c].to_numpy(dtype=float) for c in
                  ("open", "high", "low", "close")), volume,
                  df["bid"].to_numpy(dtype=float) if has_quotes else None,
                  df["ask"].to_numpy(dtype=float) if has_quotes else None,
                  signal, np.nan_to_num(confirm), atr(df, atr_window), start, df.attrs.get("partial", 0),
                  data_gaps(meta.symbol, ts, start, step, pd.Timedelta(dd.note_gaps_over).total_seconds()),
                  side_rows(df))


class Timeline:
    """Every tradable bar of every series, in time order (ties by symbol for determinism),
    as arrays: row r is bar `idx[r]` of series `ser[r]`, closing at `ts[r]`."""

    def __init__(self, series: list[Series]):
        keys = [np.stack([s.ts[s.start:], np.full(len(s) - s.start, n), np.arange(s.start, len(s))], axis=1)
                for n, s in enumerate(series)]
        allk = np.concatenate(keys) if keys else np.empty((0, 3))
        allk = allk[np.lexsort((allk[:, 1], allk[:, 0]))]
        self.series = series
        self.ts = allk[:, 0].copy()
        self.ser = allk[:, 1].astype(np.int64)
        self.idx = allk[:, 2].astype(np.int64)
        self.rows_of = [np.flatnonzero(self.ser == n) for n in range(len(series))]  # bar idx - start -> row
        self.series_of = {s.symbol: n for n, s in enumerate(series)}

    def __len__(self) -> int:
        return len(self.ts)

    def __iter__(self) -> Iterator[tuple[Series, int]]:
        """(series, bar index) per row, in order."""
        for n, i in zip(self.ser.tolist(), self.idx.tolist(), strict=True):
            yield self.series[n], i

    def span(self, n: int, a: int, b: int) -> tuple[int, int, int]:
        """Series n's bars within rows [a, b): (first bar, end bar, index into rows_of[n])."""
        if len(self.series) == 1:
            start = self.series[0].start
            return a + start, b + start, a
        rows = self.rows_of[n]
        lo, hi = np.searchsorted(rows, (a, b))
        return int(self.idx[rows[lo]]), int(self.idx[rows[hi - 1]]) + 1, int(lo)

    def series_in(self, a: int, b: int) -> list[int]:
        """The series with rows in [a, b), in series order."""
        if len(self.series) == 1:
            return [0] if b > a else []
        return sorted(set(self.ser[a:b].tolist()))
