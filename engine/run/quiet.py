"""Quiet bars: how far the replay may jump without stepping bar by bar.

Most bars change nothing but marks: no resting order is touched, the signal
keeps its direction, no timer or engine exit falls due, and the per-bar
measurements (the mark to each bracket, the book's P&L to the kill machine)
pass no guard. `QuietScreen.end` proves that with numpy over the coming rows;
`Runner.skip` then applies the rows [k, end) at once (venue, marks, equity
points, the day roll) with exactly the effects of stepping them. A row it
cannot prove quiet is stepped, so skipping changes speed and nothing else;
tests/test_quiet.py runs replays both ways and compares everything.

The guards are the specs' own, evaluated over arrays (engine/runtime/vector.py);
both per-bar events are declared `sampled`, so a sample that passes no guard
leaves no record either way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.runtime.vector import SampledEvent

if TYPE_CHECKING:
    from engine.run.loop import Runner
    from engine.run.market import Series

FIRST_WINDOW = 32  # rows screened at first; a window found quiet is followed by one 4x longer
_DAY = 86400.0


class QuietScreen:
    def __init__(self, runner: "Runner"):
        self.runner = runner
        self.tl = runner.timeline
        self.price_update = SampledEvent()
        self.risk_update = SampledEvent()
        self.path: EquityPath | None = None  # the last screen's equity path, reused by Runner.skip

    def end(self, k: int, hi: int) -> int:
        """The first row in [k, hi) that must be stepped (hi when none)."""
        self.path = None
        ses = self.runner.session
        if k >= hi or ses.flatten_pending:
            return k
        deadline = ses.interp.next_deadline()
        if deadline is not None:
            hi = min(hi, int(np.searchsorted(self.tl.ts, deadline, side="left")))
        end, width = k, FIRST_WINDOW
        while end < hi:
            stop = min(end + width, hi)
            first = self._series_end(end, stop)
            end = first
            if first < stop:
                break
            width *= 4
        return self._tripwire_end(k, end) if end > k else k

    # -- per series: venue, strategy, engine exits, breakeven and trailing ------------
    def _series_end(self, a: int, b: int) -> int:
        tl, end = self.tl, b
        for n in tl.series_in(a, b):
            i0, i1, lo = tl.span(n, a, b)
            q = self._quiet_bars(tl.series[n], i0, i1)
            if q < i1 - i0:
                end = min(end, int(tl.rows_of[n][lo + q]))
        return end

    def _quiet_bars(self, s: "Series", i0: int, i1: int) -> int:
        r = self.runner
        ses = r.session
        booked = s.domain in ses.books
        if booked:  # the strategy's bound is O(log n): it narrows what the venue must search
            i1 = i0 + r.decider.quiet_bars(s, i0, i1)
            if i1 == i0:
                return 0
        q = ses.venue.quiet_bars(s.bar(i0), s.ts[i0:i1], s.high[i0:i1], s.low[i0:i1])
        if q == 0 or not booked:
            return q  # a domain without a book only feeds the venue
        for b in ses.execution.open_brackets(s.symbol):
            if q == 0:
                break
            q = min(q, self._bracket_quiet(s, b, i0, i0 + q))
        return q

    def _bracket_quiet(self, s: "Series", b, i0: int, i1: int) -> int:
        r = self.runner
        last = r.decider.last.get(s.symbol)
        if last is not None and b.side.sign != last:
            return 0  # the strategy exits it on the next bar
        lim = r.risk.limits
        ts = s.ts[i0:i1]
        open_ = b.instance.has_tag("position_open")
        n = i1 - i0
        if open_:
            due = np.flatnonzero(ts - b.ts >= lim.max_hold)  # Runner._engine_exits' own arithmetic
            n = int(due[0]) if due.size else n
        if lim.avoid_weekend_carry and s.domain.value in lim.sessions:
            near = np.flatnonzero(lim.near_weekly_close(s.domain.value, ts[:n]))
            n = int(near[0]) if near.size else n
        if not open_ or n == 0:
            return n
        inst = b.instance
        cands = inst.bound.table.get((inst.state, "price_update"))
        if not cands:
            return n
        payload = {"price": s.close[i0:i0 + n], "atr": s.atr[i0:i0 + n]}
        return self.price_update.first(cands, n, inst.bound.globals["params"], inst.ctx, payload, {})

    # -- the book's P&L to the kill machine -----------------------------------------
    def _tripwire_end(self, k: int, end: int) -> int:
        r = self.runner
        kill = r.session.kill
        cands = kill.bound.table.get((kill.state, "risk_update"))
        if not cands:
            return end
        path = self.path = EquityPath(r, k, end)
        if not path.any_book.any():
            return end
        n = end - k
        inputs = {"pnl": {"daily_loss": path.daily_loss(), "drawdown": path.drawdown()}}
        return k + self.risk_update.first(cands, n, kill.bound.globals["params"], kill.ctx, {}, inputs)


class EquityPath:
    """Each domain's equity after each row of [a, b), as the books would mark it; valid
    while no order fills (a quiet stretch), so one path serves its screen and its apply."""

    def __init__(self, runner: "Runner", a: int, b: int):
        self.runner, self.a, self.b = runner, a, b
        tl = runner.timeline
        ses = runner.session
        self.ts = np.maximum(tl.ts[a:b], ses.clock.now())
        ser = tl.ser[a:b]
        self.by_domain = {d: self._domain(book, tl, ser, a, b) for d, book in ses.books.items()}
        self.any_book = runner.booked_series[ser]
        total = 0
        for d in ses.books:  # the order Runner.total_equity adds them in
            total = total + self.by_domain[d]
        self.total = total if isinstance(total, np.ndarray) else np.full(b - a, float(total))

    def part(self, a: int, b: int) -> "EquityPath":
        """Rows [a, b) of this path (absolute row numbers)."""
        lo, hi = a - self.a, b - self.a
        out = object.__new__(EquityPath)
        out.runner, out.a, out.b = self.runner, a, b
        out.ts, out.any_book, out.total = self.ts[lo:hi], self.any_book[lo:hi], self.total[lo:hi]
        out.by_domain = {d: v[lo:hi] for d, v in self.by_domain.items()}
        return out

    @staticmethod
    def _domain(book, tl, ser: np.ndarray, a: int, b: int) -> np.ndarray:
        from state.ledger import FLAT_EPS

        unreal = 0
        for sym, p in book.positions.items():  # book.unrealized's order and arithmetic, per row
            if abs(p.qty) <= FLAT_EPS:
                continue
            mark = _marks(tl, ser, a, b, sym, book.marks.get(sym, p.avg_price))
            unreal = unreal + p.qty * (mark - p.avg_price) * book.multipliers.get(sym, 1.0)
        return book.balance + unreal if isinstance(unreal, np.ndarray) else np.full(b - a, book.balance + unreal)

    def day_start(self) -> np.ndarray | float:
        """Start-of-day equity per row: Runner._day_roll resets it to the equity before a new day's first row."""
        r = self.runner
        if int(self.ts[-1] // _DAY) == r._day:
            return r._day_start  # no new day in these rows (ts only grows)
        day = np.floor_divide(self.ts, _DAY).astype(np.int64)
        prev_day = np.concatenate(([r._day], day[:-1]))
        before = np.concatenate(([r.total_equity()], self.total[:-1]))
        start = np.where(day != prev_day, before, np.nan)
        start[0] = start[0] if day[0] != r._day else r._day_start
        idx = np.where(np.isnan(start), 0, np.arange(len(start)))
        return start[np.maximum.accumulate(idx)]

    def daily_loss(self) -> np.ndarray:
        ds = self.day_start()
        if isinstance(ds, float):
            return np.maximum(0.0, 1.0 - self.total / ds) if ds > 0 else np.zeros(len(self.total))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(ds > 0, np.maximum(0.0, 1.0 - self.total / ds), 0.0)

    def peak(self) -> np.ndarray:
        eq = np.where(self.any_book, self.total, -np.inf)
        return np.maximum(np.maximum.accumulate(eq), self.runner._peak)

    def drawdown(self) -> np.ndarray:
        pk = self.peak()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pk > 0, np.maximum(0.0, 1.0 - self.total / pk), 0.0)


def _marks(tl, ser: np.ndarray, a: int, b: int, symbol: str, current: float) -> np.ndarray:
    """The symbol's mark after each row: its last close so far, else `current`."""
    n = tl.series_of.get(symbol)
    if n is None:
        return np.full(b - a, current)
    if len(tl.series) == 1:  # every row is this symbol's own bar
        return tl.series[0].close[tl.idx[a]:tl.idx[a] + b - a]
    last = np.maximum.accumulate(np.where(ser == n, np.arange(b - a), -1))
    # Only this symbol's own rows index its closes: another series' row numbers may run past them.
    at = np.where(last >= 0, tl.idx[a:b][np.maximum(last, 0)], 0)
    return np.where(last >= 0, tl.series[n].close[at], current)
