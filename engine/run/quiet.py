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

import math
from typing import TYPE_CHECKING

import numpy as np

from engine.runtime.vector import SampledEvent, span
from engine.spec.contract import POSITION_OPEN_TAG
from state.ledger import FLAT_EPS

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.domain import Domain
    from engine.exec.handles import BracketHandle
    from engine.run.loop import Runner
    from engine.run.market import Series, Timeline
    from engine.run.book import DomainBook

    Measure = Callable[[DomainBook, np.ndarray], np.ndarray]  # one book's worst per row, from its equity

FIRST_WINDOW = 32  # rows screened at first; a window found quiet is followed by one 4x longer


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

    def path_over(self, k: int, end: int) -> "EquityPath":
        """The equity path of rows [k, end): the last screen's when it covers them."""
        path = self.path
        return path if path is not None and path.a == k and path.b >= end else EquityPath(self.runner, k, end)

    # -- per series: venue, strategy, engine exits, breakeven and trailing ------------
    def _series_end(self, a: int, b: int) -> int:
        tl = self.tl
        if len(tl.series) == 1:  # row r is the series' bar start + r
            start = tl.series[0].start
            return a + self._quiet_bars(tl.series[0], a + start, b + start)
        end = b
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
        sides = s.sides  # quoted data: each side's own extremes, which the venue's touch rules read
        q = ses.venue.quiet_bars(s.bar(i0), s.ts[i0:i1], s.high[i0:i1], s.low[i0:i1],
                                 None if sides is None else sides[i0:i1])
        if q == 0 or not booked:
            return q  # a domain without a book only feeds the venue
        ex = ses.execution
        for b in ex.open_brackets(s.symbol) if ex.brackets else ():
            if q == 0:
                break
            q = min(q, self._bracket_quiet(s, b, i0, i0 + q))
        return q

    def _bracket_quiet(self, s: "Series", b: BracketHandle, i0: int, i1: int) -> int:
        r = self.runner
        last = r.decider.last.get(s.symbol)
        if last is not None and b.side.sign != last:
            return 0  # the strategy exits it on the next bar
        lim = r.risk.limits
        open_ = b.instance.has_tag(POSITION_OPEN_TAG)
        n = i1 - i0
        fill_s = r.bar_s[s.symbol]
        # Rising with ts: none is due unless the last is. Runner._engine_exits' own arithmetic.
        if open_ and float(s.ts[i1 - 1]) + fill_s - b.ts > lim.max_hold:
            n = int((s.ts[i0:i1] + fill_s - b.ts > lim.max_hold).argmax())
        if lim.avoid_weekend_carry and s.domain.value in lim.sessions:
            near = np.flatnonzero(lim.near_weekly_close(s.domain.value, s.ts[i0:i0 + n], fill_s))
            n = int(near[0]) if near.size else n
        if n == 0:
            return n
        inst = b.instance  # its state's own price_update guards, open or not (a refused close's re-send)
        cands = inst.bound.table.get((inst.state, "price_update"))
        if not cands:
            return n
        params, price, atr = inst.bound.globals["params"], s.close[i0:i0 + n], s.atr[i0:i0 + n]
        if self.price_update.none_within(cands, params, inst.ctx, {"price": span(price), "atr": span(atr)}):
            return n  # the usual case: the stretch's price and ATR ranges prove it, no arrays
        return self.price_update.first(cands, n, params, inst.ctx, {"price": price, "atr": atr}, {})

    # -- the book's P&L to the kill machine -----------------------------------------
    def _tripwire_end(self, k: int, end: int) -> int:
        r = self.runner
        kill = r.session.kill
        cands = kill.bound.table.get((kill.state, "risk_update"))
        if not cands:
            return end
        path = self.path = EquityPath(r, k, end)
        if path.booked is False:
            return end
        params = kill.bound.globals["params"]
        upper = path.pnl_upper()
        if upper is not None and self.risk_update.none_below(cands, params, kill.ctx, {}, {"pnl": upper}):
            return end  # the usual case: proven with scalars, no per-row arrays needed
        inputs = {"pnl": {"daily_loss": path.daily_loss(), "drawdown": path.drawdown()}}
        return k + self.risk_update.first(cands, end - k, params, kill.ctx, {}, inputs)


class EquityPath:
    """Each domain's equity after each row of [a, b), as the books would mark it; valid
    while no order fills (a quiet stretch), so one path serves its screen and its apply.
    The kill inputs it screens are Runner.pnl_inputs': each book's daily loss and drawdown,
    from its own start of day and peak, and the worst of them."""

    __slots__ = ("runner", "a", "b", "ts", "by_domain", "marks_before", "booked", "below_peak", "_days", "_times",
                 "_day_times", "_lists", "_ser")

    def __init__(self, runner: "Runner", a: int, b: int):
        self.runner, self.a, self.b = runner, a, b
        tl = runner.timeline
        books = runner.session.books
        ts, now = tl.ts[a:b], runner.session.clock.now()
        times = ts.tolist()  # (every use of a path reads them as floats)
        if not times[0] >= now:  # the clock step() would set (ts rise)
            ts = np.maximum(ts, now)
            times = ts.tolist()
        self.ts, self._times = ts, times
        self._day_times: list[float] | None = None
        if len(tl.series) == 1:
            ser = None
            self.booked: np.ndarray | bool = tl.series[0].domain in books  # every row (True) or none
        else:
            ser = tl.ser[a:b]
            rows = runner.booked_series[ser]
            count = int(np.count_nonzero(rows))
            self.booked = rows if 0 < count < len(rows) else count > 0
        self._ser = ser
        self.by_domain = {d: self._domain(book, tl, ser, a, b) for d, book in books.items()}
        # Each book's marks as the path's first row finds them. The loop applies the rows (and so
        # moves the marks to their last closes) before it records their points, and a row before
        # a symbol's first bar in the path still sees the mark from before it.
        self.marks_before = {d: dict(book.marks) for d, book in books.items()}
        self.below_peak = False  # known: no row's equity exceeds its book's peak (pnl_upper checks it)
        self._days: list[int] | None = None
        self._lists: dict[Domain, list[float]] = {}  # domain -> its equity as a list (values)

    def times(self) -> list[float]:
        return self._times

    def values(self, domain: Domain) -> list[float]:
        """A domain's equity per row as floats: Python's min, max and bisect over a short stretch
        cost less than numpy's calls, and Runner._record_equity wants Python floats anyway."""
        out = self._lists.get(domain)
        if out is None:
            out = self._lists[domain] = self.by_domain[domain].tolist()
        return out

    def marks(self, symbol: str, current: float) -> np.ndarray:
        """The symbol's mark after each row (its last close so far, else `current`), as the
        book's marks would stand after stepping that row."""
        return _marks(self.runner.timeline, self._ser, self.a, self.b, symbol, current)

    @staticmethod
    def _domain(book: DomainBook, tl: Timeline, ser: np.ndarray | None, a: int, b: int) -> np.ndarray:
        unreal = None
        for sym, p in book.positions.items():  # book.py _unrealized's order and arithmetic, per row
            if abs(p.qty) <= FLAT_EPS:
                continue
            mark = _marks(tl, ser, a, b, sym, book.marks.get(sym, p.avg_price))
            mult = book.multipliers.get(sym, 1.0)
            u = p.qty * (mark - p.avg_price)
            u = u if mult == 1.0 else u * mult  # x * 1.0 is x, bit for bit
            unreal = u if unreal is None else unreal + u
        if unreal is None:
            return _filled(b - a, book.balance + 0)
        if book.balance == 0:  # sum() starts from 0, and 0 + -0.0 is 0.0: only a zero balance shows it
            unreal = 0 + unreal
        return book.balance + unreal

    def new_days(self) -> list[int]:
        """Rows (from a) whose time starts a new trading day, as Runner._day_roll counts days
        (TradingDays: a day boundary inside the rows rolls at the first row after it)."""
        if self._days is None:
            self._days = self.runner.days.new_days(self.day_times(), self.runner._day)
        return self._days

    def day_times(self) -> list[float]:
        """Per row, the time step() judges its trading day by: its time (max(ts, clock)), but a bar
        with a day boundary inside it at that boundary (engine/run/daytimes.py). Kept rising, for
        new_days' search: a row judged before a row ahead of it rolls no day in step() either, as
        that row's roll went past its time."""
        rows = self.runner.row_day_ts
        if rows is None:
            return self._times
        if self._day_times is None:
            own = rows[self.a:self.b]
            judged = np.where(own < self.runner.timeline.ts[self.a:self.b], own, self.ts)
            self._day_times = np.maximum.accumulate(judged).tolist()
        return self._day_times

    def pnl_upper(self) -> dict[str, float] | None:
        """The largest daily loss and drawdown of these rows (what daily_loss() and drawdown()
        would hold at most), from each book's lowest equity of each day: both fall as equity
        rises. None where that is not cheap or not exact: rows without a book, a new peak,
        non-finite values."""
        if self.booked is not True:
            return None
        daily = dd = 0.0
        for d, book in self.runner.session.books.items():
            upper = self._book_upper(book, self.values(d))
            if upper is None:
                return None
            daily, dd = max(daily, upper[0]), max(dd, upper[1])
        self.below_peak = True
        return {"daily_loss": daily, "drawdown": dd}

    def _book_upper(self, book: DomainBook, eq: list[float]) -> tuple[float, float] | None:
        pk = book.peak_equity
        nan = sum(eq)  # NaN if any is (or inf - inf): then no answer, as a NaN max would give
        if nan != nan or not max(eq) <= pk or not math.isfinite(pk):
            return None
        daily, low, prev, start = 0.0, math.inf, 0, book.day_start_equity
        for i in [*self.new_days(), len(eq)]:  # each day's rows [prev, i), its start `start`
            if i > prev:
                m = min(eq[prev:i]) if prev or i < len(eq) else min(eq)
                if not (math.isfinite(m) and math.isfinite(start)):
                    return None
                daily, low = max(daily, 1.0 - m / start if start > 0 else 0.0), min(low, m)
            if i < len(eq):
                start = eq[i - 1] if i else book.equity
            prev = i
        return daily, (max(0.0, 1.0 - low / pk) if pk > 0 else 0.0)

    def daily_loss(self) -> np.ndarray:
        """Per row, Runner.pnl_inputs' daily loss: the largest of the books' (fmax: a NaN one,
        which pnl_inputs reads as no loss, hides no other)."""
        return self._worst(self._daily)

    def drawdown(self) -> np.ndarray:
        """Per row, Runner.pnl_inputs' drawdown: the largest of the books'."""
        return self._worst(self._drawdown)

    def _worst(self, measure: Measure) -> np.ndarray:
        out = None
        for d, book in self.runner.session.books.items():
            x = measure(book, self.by_domain[d])
            out = x if out is None else np.fmax(out, x)
        return out if out is not None else np.zeros(self.b - self.a)

    def _daily(self, book: DomainBook, total: np.ndarray) -> np.ndarray:
        """One book's daily loss per row: its start of day is reset by Runner._day_roll to its
        equity before a new day's first row."""
        days = self.new_days()
        if not days:
            ds = book.day_start_equity
            return np.maximum(0.0, 1.0 - total / ds) if ds > 0 else np.zeros(len(total))
        ds = np.empty(len(total))
        start, prev, positive = book.day_start_equity, 0, True
        for i in days:
            ds[prev:i] = start
            positive = positive and (i == 0 or start > 0)
            start, prev = (float(total[i - 1]) if i else book.equity), i
        ds[prev:] = start
        if positive and start > 0:
            return np.maximum(0.0, 1.0 - total / ds)
        with np.errstate(divide="ignore", invalid="ignore"):  # rows whose start is not positive read 0
            return np.where(ds > 0, np.maximum(0.0, 1.0 - total / ds), 0.0)

    def _drawdown(self, book: DomainBook, total: np.ndarray) -> np.ndarray:
        """One book's drawdown per row, from its running peak over booked rows (each stepped
        row's tripwire measures every book)."""
        eq = total if self.booked is True else np.where(self.booked, total, -np.inf)
        top = np.maximum.reduce(eq)
        peak = book.peak_equity
        if top <= peak:  # no new peak in these rows (NaN never passes)
            return np.maximum(0.0, 1.0 - total / peak) if peak > 0 else np.zeros(len(total))
        pk = np.maximum(np.maximum.accumulate(eq), peak)
        if peak > 0 and top == top:  # every peak positive: where() would pick the first operand
            return np.maximum(0.0, 1.0 - total / pk)
        with np.errstate(divide="ignore", invalid="ignore"):  # rows without a positive peak read 0
            return np.where(pk > 0, np.maximum(0.0, 1.0 - total / pk), 0.0)


def _filled(n: int, value: float) -> np.ndarray:
    """np.full(n, value): for a float, without np.full's dispatch and dtype discovery (a third
    of an EquityPath's cost on a flat book); another type keeps np.full's own dtype."""
    if type(value) is not float:
        return np.full(n, value)
    out = np.empty(n)
    out.fill(value)
    return out


def _marks(tl: Timeline, ser: np.ndarray | None, a: int, b: int, symbol: str, current: float) -> np.ndarray:
    """The symbol's mark after each row: its last close so far, else `current` (ser: the rows'
    series, None when the timeline has one)."""
    n = tl.series_of.get(symbol)
    if n is None:
        return _filled(b - a, current)
    if len(tl.series) == 1:  # every row is this symbol's own bar
        i = tl.idx.item(a)
        return tl.series[0].close[i:i + b - a]
    last = np.maximum.accumulate(np.where(ser == n, np.arange(b - a), -1))
    # Only this symbol's own rows index its closes: another series' row numbers may run past them.
    at = np.where(last >= 0, tl.idx[a:b][np.maximum(last, 0)], 0)
    return np.where(last >= 0, tl.series[n].close[at], current)
