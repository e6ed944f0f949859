"""The replay loop: every bar of every series, in time order, through the machines.

Per bar: clock -> timers -> the venue works resting orders -> marks and
tripwires -> engine exits (max hold, weekend) -> the strategy's decision at the
bar's close, through the risk chain, into a bracket machine. Decisions use only
data up to the bar's close. Operator commands are applied between rows.
"""
from __future__ import annotations

import gc
import math
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from adapters.paper.clamp import exit_on_grid
from engine.domain import Domain, Fill, Instrument, Role, Side
from engine.exec.agreement import disagreements
from engine.exec.handles import BracketHandle
from engine.risk.chain import RiskChain
from engine.risk.config import RiskConfig
from engine.risk.tradingday import TradingDays
from engine.risk.types import Costs, Intent
from engine.run import interrupt
from engine.run.book import DomainBook
from engine.run.config import StrategyUse
from engine.run.daytimes import row_day_times
from engine.run.decide import Decider, Want
from engine.run.equity import EquityCurve, PointLog
from engine.run.market import Series, Timeline, iso
from engine.run.keys import CLOSING_KEY
from engine.run.quiet import EquityPath, QuietScreen
from engine.run.kpi import RunningKpis, stage_kpis
from engine.run.result import ClosedTrade, DomainResult, RunResult
from engine.run.session import OPERATOR, Session, operator_cause
from engine.run.signals import SET_ACTIVE, change_active_set, model_decay, not_traded, not_traded_warning
from engine.runtime.audit import FanoutSink, ListSink, Record
from engine.spec.contract import AWAITING_TAG, MOVE_STOP, POSITION_OPEN_TAG
from engine.suggest import Carried, commands_leaving, kill_engaged, promote_command

if TYPE_CHECKING:
    from engine.domain import Bar
    from engine.run.progress import RunProgress
    from engine.runtime.instance import Instance
    from state.control import Command

NO_DATA = "no_data"  # the journal kind of a domain a promotion opened with no data in the run
RISK_AT_STOP = "risk_at_stop"  # a bracket's `extra` key: the risk at the stop it was sized at (the sector cap)
PNL_MEASURES = ("drawdown", "daily_loss")  # the kill spec's `pnl` inputs, as pnl_inputs measures them
COMMAND_POLL_S = 0.25  # operator commands (engine kill, promote) are read this often, in wall time
_BUY, _SELL, _ENTRY = Side.BUY, Side.SELL, Role.ENTRY  # bound once: an Enum class attribute is a slow lookup


@dataclass
class Runner:
    session: Session
    series: list[Series]
    risk: RiskConfig
    use: StrategyUse
    chain: RiskChain = field(init=False)
    trades: list[ClosedTrade] = field(default_factory=list)
    equity: dict[str, EquityCurve] = field(default_factory=dict)  # domain name -> its points
    rejections: dict[str, int] = field(default_factory=dict)
    bars: int = 0
    resumed_at_bar: int = 0  # `bars` when this process took the run over (a resume: the checkpoint's)
    _day_n: int = -1  # the trading day of the last row (TradingDays.day_of; -1: no row yet): `_day`
    _day_end: float = -math.inf  # when that day ends: a row after it rolls the day
    _kill_machine: str = "kill_modes"
    _instruments: dict[str, Instrument] = field(default_factory=dict)
    _costs_of: dict = field(default_factory=dict)  # Domain -> the venue's Costs of its fills
    _equity_pending: PointLog = field(default_factory=PointLog)  # recorded since the last checkpoint
    # The last checkpoint's (row, clock, venue calls, audit offset, hold) and the store's unit count then.
    saved: tuple | None = None
    _last_risk_equity: list[float] | None = None  # each book's equity the kill machine last heard of
    _risk_bound: Any = None  # the kill machine's bound (its stage's limits) _tripwires last measured with
    _next_poll: float = 0.0
    gate_kpis: dict = field(default_factory=dict)  # Domain -> RunningKpis, what the gates read (_gate_kpis)
    heartbeat: bool = False  # print one line per bar (the crash test reads them)
    decider: Decider | None = None
    active_symbols: frozenset[str] | None = None  # the top-K set entries are limited to (None: no selection)
    _booked: tuple = (None, None)
    _explore_pnl: dict[str, float] = field(default_factory=dict)  # domain -> closed exploration trades' pnl
    _explore_seen: int = 0  # closed trades added into _explore_pnl
    skip_quiet: bool = True  # apply provably quiet rows at once (off: step every bar; same result, slower)
    lock_lost: Callable[[], str] | None = None  # why the run no longer holds its store alone ("" if it does)
    taken: list[Command] = field(default_factory=list)  # claimed by the last checkpoint, not yet applied
    pause: Callable[[float], None] = time.sleep  # the wall wait of a hold for the operator (_hold)
    _held: str | None = None  # the awaiting rollout state the replay was last held at
    _progress: RunProgress | None = None  # run()'s progress display, for notes above the bar (None: no display)
    carried: Carried = Carried()  # its `engine run` options the commands it suggests keep (store, specs...)
    bar_s: dict[str, float] = field(init=False)  # symbol -> its bar's length: what an order decided at a close fills in
    days: TradingDays = field(init=False)  # the risk spec's trading day: when _day_roll rolls
    # per timeline row, the time its trading day judges it by (engine/run/daytimes.py; None: each row's own)
    row_day_ts: np.ndarray | None = field(init=False)
    # (domain, symbol) -> what the last check found the venue holding apart from the books
    # (_check_positions): checkpointed, so a resumed run raises no fault the run had raised.
    disagreed: dict = field(default_factory=dict)
    # Rows whose open an earlier row of the same bar time already ran (_open_ahead): checkpointed,
    # as a checkpoint may fall between the two rows.
    opened_ahead: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.chain = RiskChain(self.risk, self.session.usd_rates)
        self.session.kill_detail = self._worst_domain
        day = self.risk.limits.trading_day
        self.days = TradingDays(day.zone, day.starts)
        self.timeline = Timeline(self.series)
        self.bar_s = {s.symbol: bar_length(s.ts) for s in self.series}
        self.row_day_ts = row_day_times(self.days, self.timeline, self.bar_s)
        self._ends_time = _ends_time(self.timeline)
        self._tied = _tied(self.timeline)
        self.quiet = QuietScreen(self)
        if self.decider is None:
            self.decider = Decider(self.use)

    def start(self) -> None:
        """Called once the stage is active (its wallets exist): each domain's day and peak start here."""
        for b in self.session.books.values():
            b.peak_equity = b.day_start_equity = b.equity

    @property
    def booked_series(self) -> np.ndarray:
        """Per series: does its domain have a book (rows of other series only feed the venue)?"""
        key = tuple(self.session.books)
        if self._booked[0] != key:
            self._booked = (key, np.array([s.domain in self.session.books for s in self.series], dtype=bool))
        return self._booked[1]

    # -- the loop -------------------------------------------------------------------
    def run(self, progress: RunProgress | None = None, limit: int | None = None) -> None:
        """Rows from `bars` on (a resumed run starts after its checkpoint); quiet stretches
        are applied at once (engine/run/quiet.py), the rest stepped one bar at a time."""
        self._progress = progress
        self._reopen()
        if self.taken:  # the crashed run checkpointed their claim at this row, then stopped
            self._apply_taken()
        # A command queued while no engine ran lands before the first row, not after the
        # quiet stretch that row may start (up to `checkpoint_every` rows of replay).
        self.poll_commands()
        if self.session.cfg.operator_wait_s:  # a resume at a row where the rollout waits holds there, first
            self._hold(progress)
        with _long_lived_heap():
            self._run(progress, limit)
        done = self.bars >= len(self.timeline)
        if done:  # the last poll: a command posted after it is refused
            self.session.store.put_json(CLOSING_KEY, True)
            self.session.store.commit()
        self.poll_commands()
        if done:
            self._unfinished_flatten()
        self.checkpoint()

    def _reopen(self) -> None:
        """A run killed after marking itself closing (CLOSING_KEY) is resumed: it polls again, so
        the mark goes, or `engine kill` & co. would refuse every command while it runs."""
        store = self.session.store
        if store.get_json(CLOSING_KEY) is not None:
            store.put_json(CLOSING_KEY, None)
            store.commit()

    def _unfinished_flatten(self) -> None:
        """A flatten still working when the replay ran out of rows: a position whose series ended
        has no bar left to fill its close on. Said in the journal and above the bar, not left for
        the operator to find in a kill mode that never reaches `halted`."""
        ses = self.session
        if not ses.flatten_pending:
            return
        last = {s.symbol: float(s.ts[-1]) for s in self.series}
        for p in ses.venue.positions():
            ended = last.get(p.symbol)
            why = (f"the flatten did not finish: {p.symbol} ({p.domain.value}) is still {p.qty:g} open, and its data "
                   + (f"ends at {iso(ended)}, so no bar is left to fill its close on" if ended is not None
                      else "is not in this run"))
            ses.ledger.journal("flatten_unfinished", p.symbol, {"qty": p.qty, "data_ends": ended}, reason=why)
            self._warn(why)

    def _run(self, progress: RunProgress | None, limit: int | None) -> None:
        every = self.session.cfg.checkpoint_every
        tl = self.timeline
        stop = len(tl) if limit is None else min(len(tl), limit)
        screen = True
        while self.bars < stop:
            k = self.bars
            if self.skip_quiet and screen:
                # A row already opened is stepped: its open's fills are in, its bar's rest is not.
                hi = min(stop, (k // every + 1) * every, *((min(self.opened_ahead),) if self.opened_ahead else ()))
                end = self.quiet.end(k, hi)
                if end > k:
                    # A stretch ends at a row that must be stepped, or at a checkpoint. After a
                    # checkpoint the next row is screened again, as a run resumed there does:
                    # the venue's catch-up log needs the very same calls.
                    screen = self._passed(self.skip(k, end) - k, progress, every)
                    continue
            self.step(self.series[tl.ser[k]], int(tl.idx[k]))
            self._passed(1, progress, every)
            screen = True

    def _passed(self, n: int, progress: RunProgress | None, every: int) -> bool:
        """Count n rows done, and poll the operator's commands when due; True if that reached
        a checkpoint."""
        self.bars += n
        if progress is not None:
            progress.advance(n)
        if self.session.opened:  # a promotion during the row opened wallets: before a checkpoint holds them
            self._check_opened()
        # n is 0 when a quiet stretch's first row rolled the day and moved a machine (skip): that
        # row is stepped next, and the checkpoint of the rows before it is already saved.
        at_checkpoint = n > 0 and self.bars % every == 0
        if at_checkpoint:
            self.checkpoint()
        if wall() >= self._next_poll and self.poll_commands():
            at_checkpoint = True
        if self.session.cfg.operator_wait_s and self._hold(progress):
            at_checkpoint = True
        if self.heartbeat:
            print(f"bar {self.bars}", flush=True)
        return at_checkpoint

    def _check_opened(self) -> None:
        """Wallets a promotion opened: a domain with no data in the run says it will not trade (a
        run loads its start stage's domains), one with data gets the start's untradable check
        (engine/run/preflight.py). Each a warning above the bar and a journal row, as at the start:
        else the user finds out only from a `no data` panel or the new domains' rejections."""
        from engine.run.preflight import check

        ses, traded = self.session, {s.domain for s in self.series}
        stage = int(ses.rollout.ctx.get("stage", ses.stage))  # the promoted one (Session._log_stage)
        by_state: dict[str, list[Domain]] = {}
        for dom, state in ses.opened:
            by_state.setdefault(state, []).append(dom)
        ses.opened = []
        for state, domains in by_state.items():
            for dom in domains:
                if dom not in traded:
                    why = (f"rollout `{state}` opened {dom.value}, but this run has no {dom.value} data (a run loads "
                           f"the data of its start stage's domains): its wallet stays at its opening balance; "
                           f"`{self.carried.run(stage)}` trades it")
                    ses.ledger.journal(NO_DATA, dom.value, {"state": state, "stage": stage}, reason=why)
                    self._warn(why)
            found = check(self, [d for d in domains if d in traded], journal=True)
            ses.untradable += found
            for u in found:
                self._warn(f"rollout `{state}` opened {u.domain}: {u.message}")

    def _warn(self, text: str) -> None:
        if self._progress is not None:  # (a run without one, a benchmark or a test, reads the journal)
            self._progress.note(f"warning: {text}")

    def _hold(self, progress: RunProgress | None) -> bool:
        """Hold the replay where the rollout awaits the operator (a state tagged awaiting_operator)
        for up to `operator_wait_s` of wall time, taking commands: the confirmation window counts
        replay time, which a fast replay passes in a blink. Held once per such state entered while
        the operator can act (_actionable); the replay clock stands still meanwhile. A checkpoint
        first: `engine promote` reads the state it confirms from the store. True: a checkpoint was made."""
        rollout = self.session.rollout
        state = rollout.state if rollout is not None and rollout.has_tag(AWAITING_TAG) else None
        if state is None:
            self._held = None
            return False
        if state == self._held or not self._actionable():
            return False  # not yet actionable: held once the engine has moved on (the flatten done)
        wait = self.session.cfg.operator_wait_s
        self.snapshot_kpis()
        self.checkpoint()  # before _held is set: a kill during the hold leaves a checkpoint that holds again
        self._held = state
        if progress is not None:
            progress.note(self._awaits(state, wait))
        deadline = wall() + wait
        while rollout.state == state and wall() < deadline:
            self._next_poll = 0.0
            self.poll_commands()
            if rollout.state != state:
                break
            if not self._actionable():  # the operator started a flatten: held again once it is done
                self._held = None
                break
            self.pause(COMMAND_POLL_S)
        return True

    def _actionable(self) -> bool:
        """Whether an operator command can move the run on now. Not while a flatten works: its
        exits fill only as the replay moves, which a hold stops (and the rollout's kill_clear stays
        false meanwhile); nor while the kill switch is in a state no operator command of its spec
        leaves (only the engine's own event, `flattened`, does)."""
        ses = self.session
        return not ses.flatten_pending and bool(commands_leaving(ses.kill.bound.machine, ses.kill.state))

    def _awaits(self, state: str, wait: float) -> str:
        """The hold's note: the commands that answer `state` (from the rollout spec), and, when one
        of them would not move it now (a dry run: guards real), whether the kill switch holds it
        back and what lifts it."""
        ses = self.session
        machine = ses.rollout.bound.machine
        names = commands_leaving(machine, state)
        answers = [f"`{c}`" for c in (promote_command(n, self.carried) for n in names) if c]
        stuck = any(ses._preview(machine.commands[n].event, None, None).state == state for n in names)
        kill = kill_engaged(ses.kill.bound.machine, ses.kill.state, self.carried) if stuck else ""
        return (f"rollout `{state}` awaits the operator: {' or '.join(answers)}" + (f"; {kill}" if kill else "")
                + f" (the replay holds up to {wait:g} s)")

    def checkpoint(self) -> None:
        from engine.run.checkpoint import save

        self._check_positions()
        save(self)

    def _check_positions(self) -> None:
        """Fail closed on books the venue disagrees with (engine/exec/agreement.py): a fault for
        each disagreement the last check did not find, so a lasting one is raised once. Not
        while a resumed run's venue answers from its catch-up log: its positions are then the
        crashed run's, ahead of the books being re-made."""
        ses = self.session
        if getattr(ses.venue, "catching_up", False):
            return
        ex = ses.execution
        books = {d: {s: p.qty for s, p in b.positions.items()} for d, b in ses.books.items()}
        found = disagreements(books, ses.venue.positions(), ex.on_step)
        for (domain, symbol), text in found.items():
            if self.disagreed.get((domain, symbol)) != text:
                ex.fault(text, key=f"positions:{domain}:{symbol}")
        self.disagreed = found
        if ex.faults:
            self._raise_faults()

    def result(self, started: float) -> RunResult:
        ses = self.session
        domains = {d.value: DomainResult(d.value, b.mode, b.start_balance, b.balance, b.held)
                   for d, b in ses.books.items()}
        log = ses.stage_log or [(0.0, ses.stage, None)]
        self.snapshot_kpis()
        decay = model_decay(self.decider.filters, ses.specs, ses.clock.now(), ses.store)
        ses.store.commit()
        hashes = ses.spec_hashes()
        return RunResult(ses.stage, ses.run_dir, started, time.time(), self.bars, domains, self.trades, self.equity,
                         ses.gate_decisions, ses.kill_events, self.rejections, ses.execution.refused, hashes,
                         ses.kill.state, ses.rollout.state, list(log), self.resumed_at_bar, model_decay=decay)

    def snapshot_kpis(self) -> None:
        """The store's KPI snapshots per stage and domain, as of now: when the run stops, and where
        the replay holds for the operator, whom `engine status` then shows the record a promotion is
        about. Not at every checkpoint: each is measured on the whole equity curve."""
        ses = self.session
        log = ses.stage_log or [(0.0, ses.stage, None)]
        for d, b in ses.books.items():
            per_stage = stage_kpis([t for t in self.trades if t.domain == d.value], self.equity.get(d.value, []),
                                   b.start_balance, log)
            for stage, k in per_stage.items():
                ses.store.put_kpis(stage=stage, domain=d, mode=b.mode, **k.store_fields())

    def step(self, s: Series, i: int) -> None:
        ses = self.session
        bar = s.bar(i)  # its floats serve the clock and the mark too
        t, now = bar.ts, ses.clock.now()
        if now > t:  # max(bar.ts, now), without the call
            t = now
        ses.clock.set(t)
        day_t, held = t, False  # the time the row counts in its trading day by: its close, but a row
        rows = self.row_day_ts  # while a bar holds a day boundary at that boundary (engine/run/daytimes.py)
        if rows is not None and (d := float(rows[self.bars])) < bar.ts:
            day_t, held = d, True
        if day_t > self._day_end:  # _day_roll's own first test, without the call on most rows
            self._day_roll(day_t)
        ex, venue = ses.execution, ses.venue
        # Fills at the open, answered before the bar's resting orders are worked: an entry's fill
        # resizes its bracket's stop before the stop can trigger. Only a market order fills there:
        # without one, on_bar works the whole bar alone (one venue call, one log entry, not two).
        k = self.bars
        if k in self.opened_ahead:
            self.opened_ahead.discard(k)
        elif venue.works_at_open(s.symbol):
            self._open(s, bar)
        if self._tied is not None and self._tied[k]:
            self._open_ahead(k)
        self._advance(t)
        ex.on_reports(venue.on_bar(bar), bar)
        if ex.faults:
            self._raise_faults()
        book = ses.books.get(s.domain)
        if book is None:
            return
        close = bar.close
        if not book.marks:  # the domain's first bar: its canary days count from here (DomainBook.activated_ts)
            book.activated_ts = t
        book.mark(s.symbol, close)
        # the latest time the book was marked at, as its day counts it (the gates' daily closes)
        book.marked_ts = max(day_t, book.marked_ts or -math.inf) if held else t
        if ex.brackets:  # nothing open (most stepped rows): no bracket to hear the price
            self._price_update(s, i, close)
        self._tripwires()
        if ex.brackets:
            self._engine_exits(s, t)
        self._decide(s, i, t)
        if ex.faults:
            self._raise_faults()
        if ses.flatten_pending:
            self._settle_flatten()
        ends = self._ends_time
        if ends is None or ends[self.bars]:  # (self.bars: this row) its domain's last row of this time
            domain, eq, x = s.domain.value, book.equity, self._explored(s.domain, book)
            self._curve(domain).append(t, eq, x)
            self._equity_pending.append(domain, t, eq, x)

    def _open(self, s: Series, bar: Bar) -> None:
        """The bar's open, in time order: the timers due by then, then the market orders filled
        there. A timer due later in the bar fires after these fills, not before: a flatten's
        closes fill at the open, so its retry (kill_modes.yaml's flatten_retry, shorter than a
        bar) finds it done instead of re-sending it and telling the operator it is overdue."""
        ses = self.session
        self._advance(bar.ts - self.bar_s[s.symbol])
        opened = ses.venue.open_bar(bar)
        if opened:
            ses.execution.on_reports(opened, bar)
            if ses.flatten_pending and not ses.execution.faults:
                self._settle_flatten()

    def _open_ahead(self, k: int) -> None:
        """The opens of the later rows of row k's bar time, before any of that time's timers
        fire (the next `_advance`): every bar of a time opens before its close, so a flatten whose
        closes fill at the next open is done by its retry, whichever symbol's row comes first."""
        tl, venue, ts = self.timeline, self.session.venue, self.timeline.ts[k]
        j = k + 1
        while j < len(tl) and tl.ts[j] == ts:
            s = self.series[tl.ser[j]]
            if j not in self.opened_ahead and venue.works_at_open(s.symbol):
                self._open(s, s.bar(int(tl.idx[j])))
                self.opened_ahead.add(j)
            j += 1

    def _advance(self, t: float) -> None:
        """Fire the timers due by `t`; the kill machine's steps reach the other machines."""
        fired = self.session.execution.advance(t)
        if fired:
            self.session._relay([r for r in fired if r.machine == self._kill_machine])

    # -- quiet rows, applied at once -------------------------------------------------
    def skip(self, k: int, end: int) -> int:
        """Apply rows [k, end), which QuietScreen proved quiet, as stepping them would;
        returns the row reached (earlier than `end` when a day roll moved a machine).
        Only the venue, the marks and the clock need to be at a new day's row before its
        roll (what the roll and the machines read); the equity points, the peak and the risk
        equity, which only the next step and a checkpoint read, are applied once at the end."""
        path = self.quiet.path_over(k, end)
        ses, cur, moved = self.session, k, False
        ts = path.times()  # max(ts, clock), as step() sets it (the clock only rose to path.ts)
        for i in path.new_days():  # usually none
            b = k + i
            if b >= end:
                break
            if b > cur:
                self._apply_quiet(cur, b)
            ses.clock.set(ts[i])
            cur = b
            if self._day_roll(path.day_times()[i]):
                end, moved = b, True
                break
        if not moved:
            self._apply_quiet(cur, end)
            ses.clock.set(ts[end - 1 - k])
        self._record_equity(path, 0, end - k)
        return end

    def _apply_quiet(self, a: int, b: int) -> None:
        """The venue and the marks after rows [a, b)."""
        ses, tl = self.session, self.timeline
        for n in tl.series_in(a, b):
            s = self.series[n]
            i0, i1, at = tl.span(n, a, b)
            bar = s.bar(i1 - 1)
            ses.venue.skip_bars(bar, i1 - i0)
            book = ses.books.get(s.domain)
            if book is not None:
                if not book.marks:  # as step() would at the domain's first bar
                    book.activated_ts = max(float(s.ts[i0]), ses.clock.now())
                book.mark(s.symbol, bar.close)
                # as step() leaves it: the latest of its rows (series of one domain end at other rows),
                # a last row the trading day judges at a boundary at that boundary
                last = max(float(s.ts[i1 - 1]), ses.clock.now())
                if self.row_day_ts is not None:
                    r = b - 1 if len(tl.series) == 1 else int(tl.rows_of[n][at + i1 - i0 - 1])
                    if (d := float(self.row_day_ts[r])) < s.ts[i1 - 1]:
                        last = d
                book.marked_ts = max(last, book.marked_ts or -math.inf)

    def _record_equity(self, path: EquityPath, lo: int, hi: int) -> None:
        """One point per booked row of the path's rows [lo, hi) that is its domain's last row of
        its time, in row order, as step() appends them; and each book's risk equity and peak
        that step() would leave after them (those every booked row moves)."""
        booked = path.booked
        if booked is False or hi <= lo:
            return
        ends = self._ends_time
        points = booked if ends is None else ends[path.a:path.b] if booked is True else booked & ends[path.a:path.b]
        tl = self.timeline
        if len(self.series) == 1:
            domains = [self.series[0].domain]
        else:
            domains = list({self.series[n].domain for n in tl.series_in(path.a + lo, path.a + hi)
                            if self.booked_series[n]})
            if not domains:
                return
        if len(domains) == 1:
            d = domains[0]
            name, e, x = d.value, path.by_domain[d], self._explored_rows(d, path)
            if points is True:  # the usual case: every row, as lists the screen may have made already
                t, e = path.times(), path.values(d)
                if lo or hi < len(t):
                    t, e = t[lo:hi], e[lo:hi]
                x = x if x is None else x[lo:hi].tolist()
            else:
                rows = lo + points[lo:hi].nonzero()[0]
                t, e = path.ts[rows].tolist(), e[rows].tolist()
                x = x if x is None else x[rows].tolist()
            self._curve(name).extend(t, e, x)
            self._equity_pending.extend(name, t, e, x)
            books = self.session.books
            if len(books) == 1 and points is booked:  # usual: `e` is the one book's equity on every row it sees
                self._last_risk_equity = [e[-1]]
                if not path.below_peak:  # (a peak only rises, so a path below it stays below)
                    book = books[d]
                    book.peak_equity = max(book.peak_equity, *e)  # pnl_inputs' max(peak, equity), row after row
                return
        else:
            rows = np.arange(lo, hi) if points is True else lo + points[lo:hi].nonzero()[0]
            shares = {d: self._explored_rows(d, path) for d in domains}
            for r, n in zip(rows.tolist(), tl.ser[path.a + rows].tolist(), strict=True):
                d = self.series[n].domain
                t, e, x = float(path.ts[r]), float(path.by_domain[d][r]), shares[d]
                x = 0.0 if x is None else float(x[r])
                self._curve(d.value).append(t, e, x)
                self._equity_pending.append(d.value, t, e, x)
        self._risk_after(path, slice(lo, hi) if booked is True else lo + booked[lo:hi].nonzero()[0])

    def _risk_after(self, path: EquityPath, rows: slice | np.ndarray) -> None:
        """Each book's risk equity and peak after the path's booked `rows` (some), as the
        tripwire of each stepped row leaves them: every book is measured on every row."""
        books = self.session.books
        last = rows.stop - 1 if isinstance(rows, slice) else int(rows[-1])
        self._last_risk_equity = [float(path.by_domain[d][last]) for d in books]
        if path.below_peak:
            return
        for d, book in books.items():
            top = np.fmax.reduce(path.by_domain[d][rows])  # (NaN rows never raise a peak: fmax skips them)
            if top > book.peak_equity:
                book.peak_equity = float(top)

    def _curve(self, domain: str) -> EquityCurve:
        curve = self.equity.get(domain)
        if curve is None:
            curve = self.equity[domain] = EquityCurve()
        return curve

    # -- kill tripwires, day roll, operator ----------------------------------------
    @property
    def _day(self) -> int:
        """The trading day of the last row (what a checkpoint saves and restores)."""
        return self._day_n

    @_day.setter
    def _day(self, day: int) -> None:
        self._day_n, self._day_end = day, self.days.end_of(day) if day >= 0 else -math.inf

    def _day_roll(self, t: float) -> bool:
        """A new trading day (limits.trading_day) resets the daily loss and the daily risk budget and
        re-measures the gates; True if a machine moved. Called before the row at `t` marks anything:
        the day starts from the marks of the rows up to its boundary.
        A domain's gate gets a daily close only for a day it had a bar in (its book's marked_ts
        since its last close), stamped at the end of that day: the day its data last moved, not
        `t`, which in a run of several domains may lie months or years after its data ended (or
        before its data starts). So the gate's closes are the domain's own daily equity, sampled
        as the report's curve is, and its Sharpe's sampling rate is that of the domain's days."""
        if t <= self._day_end:
            return False
        day = self.days.day_of(t)
        first = self._day < 0
        self._day = day
        for d, b in self.session.books.items():
            b.day_start_equity = eq = b.equity
            b.day_risk = 0.0  # a new daily risk budget
            # the gates measure exploitation alone (seed 001), in the phase their gate is in now
            k, m = self._gate_kpis(d), b.marked_ts
            if m is not None and (k.last_ts is None or m > k.last_ts):
                day_m = self.days.day_of(m)
                k.day(self.days.end_of(day_m), eq - self._explored(d, b), self.days.end_of(day_m - 1))
        if first:
            return False
        records = self.session.send(self.session.kill, "day_rolled") + self._update_gates()
        return any(r.kind != "unhandled" for r in records)

    def _explored(self, d: Domain, book: DomainBook, path: EquityPath | None = None) -> float | np.ndarray:
        """The exploration trades' share of `book`'s equity: the pnl of those closed and the value
        at the marks of those still open (their fills' cash, fees and funding, and the units they
        hold). Exploration must neither flatter nor drag what the promotion gates read, nor the
        report's exploitation KPIs (each equity point keeps it). With a quiet `path`: per row of
        it, each open one valued at that row's mark (a quiet stretch fills and closes nothing)."""
        if not self.decider.exploring:  # no entry is exploration: nothing to value (the usual replay)
            return 0.0
        trades = self.trades
        if self._explore_seen < len(trades):  # closed trades only grow (a resumed run reloads them all)
            for t in trades[self._explore_seen:]:
                if t.exploration:
                    self._explore_pnl[t.domain] = self._explore_pnl.get(t.domain, 0.0) + t.pnl
            self._explore_seen = len(trades)
        ex, explores = self.session.execution, self.decider.explores
        share = self._explore_pnl.get(d.value, 0.0)
        for b in (*ex.brackets.values(), *ex.closing.values()):
            if b.domain is d and explores(b.tags) and b.entry_fills:
                if path is None:
                    mark = book.marks.get(b.symbol)
                elif (mark := path.marks_before[d].get(b.symbol)) is not None:
                    mark = path.marks(b.symbol, mark)
                share += _value(b, mark, self._instrument(b.symbol).multiplier)
        return share

    def _explored_rows(self, d: Domain, path: EquityPath) -> np.ndarray | None:
        """`_explored` per row of a quiet path; None when it is 0.0 on every row (no exploration)."""
        share = self._explored(d, self.session.books[d], path)
        if isinstance(share, np.ndarray):
            return share
        return None if share == 0.0 else np.full(path.b - path.a, share)

    def pnl_inputs(self, equities: list[float] | None = None) -> dict:
        """The kill spec's inputs: the worst domain's daily loss and drawdown, each measured in
        its own wallet and currency (seed 000's limits are per account: summed, a BTC wallet and
        a USD one would make no number, and three wallets would dilute one's loss three times).
        `equities`: each book's equity, when the caller has them; every book's peak rises to it."""
        books = self.session.books.values()
        if equities is None:
            equities = [b.equity for b in books]
        # max(a, b) is a unless b > a, and max(0.0, x) is x only when x > 0.0 (NaN: 0.0):
        # written out as those comparisons, without calls per book and bar
        daily = dd = 0.0
        for b, eq in zip(books, equities, strict=True):
            peak, start = b.peak_equity, b.day_start_equity
            if eq > peak:
                peak = b.peak_equity = eq
            if start > 0 and (x := 1.0 - eq / start) > daily:
                daily = x
            if peak > 0 and (x := 1.0 - eq / peak) > dd:
                dd = x
        return {"pnl": {"daily_loss": daily, "drawdown": dd}}

    def _tripwires(self) -> None:
        ses = self.session
        bound = ses.kill.bound
        if bound is not self._risk_bound:  # another stage's kill parameters: its limits may be tighter
            if self._risk_bound is not None:
                self._last_risk_equity = None  # so measure again, equity moved or not
            self._risk_bound = bound
        # Floats, as a quiet stretch writes them: the checkpoint reads alike, stepped or skipped.
        equities = [float(b.equity) for b in ses.books.values()]
        if equities == self._last_risk_equity:
            return  # nothing the kill spec's guards read has changed
        self._last_risk_equity = equities
        ses.send(ses.kill, "risk_update", inputs=self.pnl_inputs(equities))

    def _worst_domain(self, reads: Mapping[str, Any]) -> str:
        """` in DOMAIN (FRACTION)` for the kill event's reason: the domain with the largest of the
        measure the tripping guard read (`reads`: its guard_inputs), each one named when it read
        more, since the spec's inputs carry the fraction alone. Which measure is the guard's to
        say, whatever the spec names the trip (its `tripped_by`)."""
        measures = [m for m in PNL_MEASURES if f"pnl.{m}" in reads]
        parts = []
        for measure in measures:
            worst, name = 0.0, ""
            for d, b in self.session.books.items():
                ref = b.peak_equity if measure == "drawdown" else b.day_start_equity
                if ref > 0 and (x := 1.0 - b.equity / ref) > worst:
                    worst, name = x, d.value
            if name:
                parts.append(f" in {name} ({measure + ' ' if len(measures) > 1 else ''}{worst:.4%})")
        return ",".join(parts)

    def poll_commands(self) -> bool:
        """Take and apply the operator's waiting commands, between two rows; True if it
        checkpointed (it does when it took any).

        A command is taken by wall time, so a replay of the same rows would not take it at the
        same point: what it did must be in a checkpoint before a crash can lose it. So the claim
        commits in a checkpoint of this very row, which also saves the claimed commands as not
        yet applied; they are applied, and a second checkpoint saves their effect. A crash
        before the first commit leaves them unclaimed (waiting for the next start); one after it
        resumes at this row and applies them first (`run`), making the same venue calls, which
        the venue answers from its catch-up log; one after the second finds them applied. None
        is lost, none applied twice, and commands are rare enough for two checkpoints each.

        A resumed run takes none while it re-makes what the crashed run did after its
        checkpoint: while its venue answers from the catch-up log (a command applied in between
        would change the calls, which the venue refuses as a diverged replay, ending the start;
        a start that ends before then leaves them waiting), and while the journal holds rows of
        the crashed run not made again up to their time (the log ends at the venue's last
        commit; the bars after it may have journaled decisions with no venue call). Then the
        venue is live, and its state is the one the crashed run left."""
        from engine.run.checkpoint import save

        interrupt.check()  # Ctrl-C is the operator's too: one a finalizer swallowed stops the run here
        ses = self.session
        try:
            if getattr(ses.venue, "catching_up", False) or ses.store.remaking():
                # Asked again at the next row: a command waiting now lands at the first row after
                # the re-making, the same one on every replay, not one wall time picks (rev34).
                self._next_poll = 0.0
                return False
            self._next_poll = wall() + COMMAND_POLL_S
            if not ses.store.commands_waiting():
                return False
            save(self, take_commands=True)
            if self.taken:
                self._apply_taken()
            return True
        finally:
            self._check_lock(ses)

    def _check_lock(self, ses: Session) -> None:
        """Without its store's run lock, another engine may start on the store: open no more
        risk. Asked after the commands, so an operator's resume cannot reopen it meanwhile;
        a resume is undone at each poll until the lock is held again."""
        lost = self.lock_lost() if self.lock_lost is not None else ""
        if lost and ses.entries_allowed:
            ses.execution.fault(lost)
            self._raise_faults()

    def _apply_taken(self) -> None:
        """Apply the commands the last checkpoint claimed, then checkpoint their effect."""
        ses = self.session
        for cmd in self.taken:
            stale = self._stale(cmd.args)
            if stale:
                ses.ledger.journal("command", cmd.command, {"args": cmd.args}, reason=f"not applied: {stale}")
                continue
            text = cmd.args.get("reason") or OPERATOR
            if cmd.command == MOVE_STOP:
                moved, why = self._move_stop(cmd.args, text)
            elif cmd.command == SET_ACTIVE:
                moved, why = self._set_active(cmd, text)
            else:
                moved, why = self._apply(cmd.command, text, cmd.args.get("instance"))
            left = {"not_applied": why} if moved and why else {}  # a part it left (one bracket of two)
            ses.ledger.journal("command", cmd.command, {"args": cmd.args, "moved": moved, **left},
                               reason=text if moved else "not applied: " + "; ".join(why))
        self.taken = []
        if ses.opened:  # a promotion opened wallets: checked at this row, which the checkpoint holds
            self._check_opened()
        self.checkpoint()

    def _apply(self, command: str, text: str, only: str | None = None) -> tuple[list[str], list[str]]:
        """Raise the command's event in every machine whose spec names it (`only`: in that instance
        alone, e.g. one domain's gate); returns the moves it made ("kill_modes: normal ->
        close_only") and, per machine it left where it was, why (the interpreter's unhandled or
        guard-error reason): a command the spec cannot apply in the current state must not be
        journaled as applied."""
        ses = self.session
        moved: list[str] = []
        why: list[str] = []
        for inst in (ses.kill, ses.rollout, *ses.gates.values()):
            spec_cmd = inst.bound.machine.commands.get(command)
            if spec_cmd is None or only not in (None, inst.id):
                continue
            with self._moves() as seen:
                records = ses.send(inst, spec_cmd.event, inputs=self.pnl_inputs(), cause=text)
                if ses.flatten_pending:  # nothing open to close: the flatten is done now, not at the next bar
                    self._settle_flatten()
            own = [r for r in records if r.instance_id == inst.id and r.event == spec_cmd.event]
            moved += [f"{r.instance_id}: {r.source} -> {r.target or r.source}" for r in seen
                      if r.target is not None or (r.instance_id == inst.id and r.event == spec_cmd.event)]
            if not any(r.kind == "transition" for r in own):
                refused = [ses.refused] if inst is ses.rollout and ses.refused else []  # never sent: no record
                why += [f"{inst.id}: {r}" for r in refused + [r.reason for r in own if r.reason]] or [
                    f"{inst.id}: no transition fired"]
        if not moved and not why:
            why.append(f"no machine's spec has the command `{command}`")
        return moved, why

    def _move_stop(self, args: dict, text: str) -> tuple[list[str], list[str]]:
        """`engine move-stop`: the operator's stop, sent to each bracket the operator saw open
        (args `brackets`, from the last checkpoint) that still is; the bracket spec decides (a
        tighter stop is assigned and amended at the venue, a wider one refused and recorded).
        The event carries the stop on the tick grid and the price it triggers on (the bid for a
        long, the ask for a short), for the spec's check that the stop is not at or beyond the
        market. Returns the moves (`ID: stop 40000 -> 41000`) and, per bracket left as it was, why:
        the rejection its spec recorded (the venue's refusal of the amend included), the state that
        has no transition for it, or its closing."""
        ex = self.session.execution
        stop = args.get("stop")
        if isinstance(stop, bool) or not isinstance(stop, (int, float)) or not math.isfinite(stop):
            return [], [f"the command's stop {stop!r} is not a price"]  # a hand-made row: never a crash loop
        moved: list[str] = []
        why: list[str] = []
        for bid in self._named(args):
            b = ex.brackets.get(bid)
            if b is None:
                why.append(f"{bid}: no longer open")
                continue
            price = self._stop_side(b)
            if price is None:  # the spec checks the stop against the market: without one, nothing is sent
                why.append(f"{bid}: no price of {b.symbol} yet to check the stop against")
                continue
            was = b.instance.ctx["stop"]
            own, refused = ex.operator_event(b, MOVE_STOP, {"stop": self._on_grid(b, float(stop)), "price": price},
                                             operator_cause(text))
            if any(r.kind == "transition" for r in own) and not refused:
                moved.append(f"{bid}: stop {was:g} -> {b.instance.ctx['stop']:g}")
            else:
                why += refused or [f"{bid}: {r.reason}" for r in own if r.reason] or [f"{bid}: no transition fired"]
        if ex.faults:  # an answer the step dropped (a gap in the order spec): fail closed now, not at the next row
            self._raise_faults()
        return moved, why if moved or why else [f"nothing is open on {args.get('symbol')}"]

    def _set_active(self, cmd: Command, text: str) -> tuple[list[str], list[str]]:
        """`engine select --state DB`: new entries are limited to the set it chose from this row
        on (engine/run/signals.py change_active_set); open positions stay managed. Symbols of the
        set that no series trades are warned of above the bar (journaled with the change)."""
        ses, traded = self.session, frozenset(s.symbol for s in self.series)
        self.active_symbols, moved, why = change_active_set(ses.specs, ses.store, ses.ledger, self.active_symbols,
                                                            cmd.args, cmd.ts, text, traded)
        if moved and self._progress is not None:
            self._progress.note(f"note: {moved[0]} (engine select: {text})")
        missing = not_traded(sorted(self.active_symbols or ()), traded) if moved else []
        if missing:
            self._warn(not_traded_warning(missing, traded))
        return moved, why

    def _named(self, args: dict) -> list[str]:
        """The brackets a move-stop command names: those open at the checkpoint the operator saw,
        then those opened on its symbol (and domain) after it, which no checkpoint had shown
        (`since`: a running engine's last checkpoint; None: none added)."""
        named, since = list(args.get("brackets", ())), args.get("since")
        if isinstance(since, (int, float)) and not isinstance(since, bool):
            named += [b.id for b in self.session.execution.open_brackets(args.get("symbol"))
                      if b.ts > since and args.get("domain") in (None, b.domain.value) and b.id not in named]
        return named

    def _on_grid(self, b: BracketHandle, stop: float) -> float:
        """The operator's stop on the instrument's tick grid, as the venue will work it: the spec
        weighs that price, so a stop a fraction of a tick short of the market is not accepted and
        then put on it."""
        return exit_on_grid(stop, self._instrument(b.symbol).tick, b.side)

    def _stop_side(self, b: BracketHandle) -> float | None:
        """Where the bracket's stop would trigger now, at the venue's last quote: the bid for a
        long (its stop sells), the ask for a short. None before the venue has a bar of the symbol.
        A stop between the bid and the last close is past the market, not short of it."""
        from adapters.base import VenueError

        try:
            quote = self.session.venue.quote(b.symbol)
        except VenueError:
            return None
        return quote.bid if b.side is Side.BUY else quote.ask

    @contextmanager
    def _moves(self) -> Iterator[list[Record]]:
        """The transitions of the kill, rollout and gate instances while the block runs, as their
        records reach the audit sink: a command's own move and those it set off (the kill
        machine's broadcasts demoting the rollout, `flattened` halting it), for its journal row.
        Brackets and orders are left to the audit trail: a flatten moves every one."""
        ses, interp = self.session, self.session.interp
        seen: list[Record] = []
        sink, tap = interp.sink, ListSink()
        interp.sink = FanoutSink(sink, tap)
        try:
            yield seen
        finally:
            interp.sink = sink
            ids = {i.id for i in (ses.kill, ses.rollout, *ses.gates.values())}
            seen[:] = [r for r in tap.records if r.kind == "transition" and r.instance_id in ids]

    def _settle_flatten(self) -> None:
        """Tell the kill machine the flatten is done once nothing is open (a late fill's units
        still out keep it waiting), at the venue too: units outside every bracket (a fill the
        engine never heard of, which the positions check reports) are not flat, and kill_modes.yaml's
        flatten re-sends and tells the operator until the venue reports flat."""
        ses, ex = self.session, self.session.execution
        if not ex.brackets and not ex.closing and (getattr(ses.venue, "catching_up", False)
                                                    or not ses.venue.positions()):
            ses.flatten_pending = False
            ses.send(ses.kill, "flattened")

    def _stale(self, args: dict) -> str:
        """Why a confirmation no longer applies, or "": `engine promote` confirms the state the
        operator saw; a stale or repeated one must not confirm the next stage towards live."""
        expect = args.get("expect_state")
        if expect is None:
            return ""
        ses = self.session
        only = args.get("instance")  # one domain's gate among the instances of the gate spec
        inst = next((i for i in (ses.kill, ses.rollout, *ses.gates.values())
                     if i.bound.name == args.get("machine") and only in (None, i.id)), None)
        if inst is None:  # (the rollout's old fallback named the wrong machine)
            return f"this run hosts no {only or args.get('machine')}, whose `{expect}` the operator confirmed"
        who = inst.id if inst.id == inst.bound.name else f"{inst.id} ({inst.bound.name})"
        if inst.state != expect:
            return f"{who} is in `{inst.state}`, the operator confirmed `{expect}`"
        seen = args.get("expect_timers")
        if seen is not None and sorted(d for (st, _), (d, *_) in (inst.timers or {}).items() if st == expect) != seen:
            return (f"{who} left `{expect}` and came back since the operator confirmed it: that confirmation "
                    f"answered the earlier stay, not this one")
        return ""

    def _price_update(self, s: Series, i: int, close: float) -> None:
        """Each bar's close and ATR reach the open brackets: the spec's breakeven and trailing rules,
        and the re-send of a close the venue refused. Sent on every bar, its ATR NaN where it is
        unknown (the window not full, a gap): the re-send needs none, and the spec's breakeven and
        trailing guards ask for a known one (specs/orders/bracket.yaml)."""
        self.session.execution.price_update(s.symbol, close, s.atr.item(i))

    # -- exits the engine decides ----------------------------------------------------
    def _engine_exits(self, s: Series, t: float) -> None:
        """Exits decided one bar ahead: a market exit decided at this close fills during the next
        bar, so it goes out now if waiting for that bar's close would hold the position past
        max_hold or past the Friday cutoff (both fills come a bar after their decision, so the
        hold is the decisions' difference)."""
        lim, ex = self.risk.limits, self.session.execution
        fill_s = self.bar_s[s.symbol]
        max_hold, weekend = lim.max_hold, None  # weekend: the same for every bracket, asked once
        for b in ex.open_brackets(s.symbol):
            if b.instance.has_tag(POSITION_OPEN_TAG) and t + fill_s - b.ts > max_hold:
                ex.exit(b, "max_hold")
            elif lim.avoid_weekend_carry:
                if weekend is None:
                    weekend = bool(lim.near_weekly_close(s.domain.value, t, fill_s))
                if weekend:
                    ex.exit(b, "weekend")

    # -- the strategy's decision ----------------------------------------------------------
    def _decide(self, s: Series, i: int, t: float) -> None:
        want = self.decider.decide(s, i, t)
        if want is None:
            return
        ex = self.session.execution
        open_ = ex.open_brackets(s.symbol) if ex.brackets else ()  # (most stepped rows: none open)
        for b in open_:
            if want.direction != b.side.sign:
                ex.exit(b, "signal")  # a reversal exits and enters on the same bar
        if not want.enter or any(b.side.sign == want.direction for b in open_):
            if want.refusal is not None:
                side = _BUY if want.direction > 0 else _SELL
                self._refused(s.symbol, *want.refusal, {"numbers": want.numbers or {}, "side": side.value})
            return
        self._enter(s, i, t, _BUY if want.direction > 0 else _SELL, want)

    def _enter(self, s: Series, i: int, t: float, side: Side, want: Want) -> None:
        ses = self.session
        atr = s.atr.item(i)
        if not math.isfinite(atr) or atr <= 0:  # a flat or broken series: no stop can be placed
            self._refused(s.symbol, "atr", f"the ATR is {atr:g}: the bracket's stop and target need a positive "
                          "one", {"numbers": {"atr": atr}, "side": side.value})
            return
        symbol, dom, risk = s.symbol, s.domain, self.risk
        quote = ses.venue.quote(symbol)
        br, domain = risk.brackets, dom.value
        entry = quote.ask if side is _BUY else quote.bid
        # On the venue's grid before sizing: the size, the bracket and status then hold the prices the
        # legs will work at, not ones the venue's clamp moves by a fraction of a tick.
        inst = self._instrument(symbol)
        stop = exit_on_grid(entry - side.sign * br.stop_atr[domain] * atr, inst.tick, side)
        tp = exit_on_grid(entry + side.sign * br.take_profit_atr[domain] * atr, inst.tick, side)
        intent = Intent(symbol, dom, side, quote, stop, tp, t, "+".join(self.use.use), fill_s=self.bar_s[symbol])
        book = ses.books[dom]
        lev = risk.limits.leverage_caps[domain]
        self.decider.spent(symbol)
        blocked, numbers = ses.entry_block(dom)  # the rollout's state: a domain it has off opens nothing
        if blocked:
            self._refused(symbol, "rollout", blocked, {"numbers": numbers, "side": side.value})
            return
        view = book.risk_view(t, lev, risk.sizing.ladder.window, self._working_entries(dom, book.marks),
                              self._open_risk(dom))
        decision = self.chain.evaluate(intent, view, inst, kill_mode=ses.kill.state,
                                       entries_allowed=ses.entries_allowed, active_symbols=self.active_symbols,
                                       costs=self._costs(dom))
        if decision.rejection is not None:
            rej = decision.rejection
            self._refused(s.symbol, rej.rule, rej.message, {"numbers": dict(rej.numbers), "side": side.value,
                                                            "factors": dict(decision.sized.factors)})
            return
        sized = decision.sized
        b = ses.execution.open_bracket(intent, float(sized.qty), want.tags)
        b.extra["model_version"] = want.model_version
        b.extra[RISK_AT_STOP] = sized.risk_at_stop  # its share of the sector cap while it is open
        book.day_risk += sized.risk_at_stop  # spent once sent: an exit gives none back
        # What the size came from, as a rejection's row says it: the entry's intent row (keyed by
        # `order`) carries only the qty.
        ses.ledger.journal("sized", b.id, {
            "symbol": symbol, "side": side.value, "order": b.entry.id if b.entry is not None else None,
            "qty": sized.qty, "notional": sized.notional, "risk_at_stop": sized.risk_at_stop, "entry": entry,
            "stop": stop, "take_profit": tp, "factors": sized.factors,
            "loss_at_stop": sized.stop_loss(inst.multiplier), "signal": want.numbers or {}}, reason="approved")

    def _open_risk(self, dom: Domain) -> dict[str, float]:
        """symbol -> the risk at the stop that `dom`'s open brackets (positions and working entries)
        were sized at: what the sector cap counts. The sized figure, not one re-measured from a
        stop that trailed since: a gap through the stop can still lose it."""
        out: dict[str, float] = {}
        for b in self.session.execution.brackets.values():
            if b.domain is dom:
                out[b.symbol] = out.get(b.symbol, 0.0) + b.extra[RISK_AT_STOP]
        return out

    def _working_entries(self, dom: Domain, marks: dict[str, float]) -> list[tuple[str, float]]:
        """(symbol, unfilled notional at the mark) of each of `dom`'s entry orders still working,
        its bracket open or not (a closed bracket's entry whose cancel is unconfirmed may fill)."""
        ex = self.session.execution
        out = []
        for o in ex.orders.values():
            req = o.request
            if req.role is _ENTRY and o.domain is dom and ex.is_live(o):
                ctx = o.instance.ctx
                left = ctx["qty"] - ctx["filled_qty"]
                if left > 0:
                    # Without a mark yet (none before the symbol's first bar): its limit price.
                    price = marks.get(req.symbol, req.price or 0.0)
                    out.append((req.symbol, left * price * self._instrument(req.symbol).multiplier))
        return out

    def _refused(self, symbol: str, rule: str, reason: str, detail: dict) -> None:
        self.rejections[rule] = self.rejections.get(rule, 0) + 1
        self.session.ledger.journal("signal_rejected", symbol, {"rule": rule, **detail}, reason=reason)

    def _costs(self, dom: Domain) -> Costs:
        """The venue's taker fee and slippage for `dom`'s fills, as fractions (its config's bps)."""
        c = self._costs_of.get(dom)
        if c is None:
            cfg = self.session.venue.config
            c = self._costs_of[dom] = Costs(cfg.taker_fee_bps[dom] / 1e4, cfg.slippage_bps[dom] / 1e4)
        return c

    def _instrument(self, symbol: str) -> Instrument:
        inst = self._instruments.get(symbol)
        if inst is None:
            inst = self._instruments[symbol] = self.session.venue.catalogue.get(symbol)
        return inst

    # -- fills and closed positions ----------------------------------------------------
    def on_fill(self, domain: Domain, fill: Fill, multiplier: float) -> None:
        book = self.session.books.get(domain)
        if book is not None:
            book.apply(fill, multiplier)
            book.mark(fill.symbol, fill.price)

    def _raise_faults(self) -> None:
        ses = self.session
        faults, ses.execution.faults = ses.execution.faults, []
        for reason in faults:
            ses.send(ses.kill, "fault", {"reason": reason})

    def on_funding(self, domain: Domain, symbol: str, paid: float) -> None:
        book = self.session.books.get(domain)
        if book is not None:
            book.pay_funding(symbol, paid)

    def on_closed(self, b: BracketHandle) -> None:
        """Record a bracket's trade once no order of it can fill any more (Execution._retire): it
        holds every entry and exit fill, a late entry fill and its close-out included, so its
        P&L is what those fills, their fees and the funding moved the wallet by."""
        ses = self.session
        if not b.entry_fills:
            return
        s = b.settle(self._instrument(b.symbol).multiplier)
        pnl = s.gross - s.fees - b.funding
        book = ses.books[b.domain]
        exit_ts = ses.clock.now() if s.last_exit_ts is None else s.last_exit_ts
        exploration = self.decider.explores(b.tags)
        book.trade_closed(exit_ts, pnl, self.risk.sizing.ladder.window, exploration)
        first = b.entry_fills[0]  # the trade's entry time is its first fill's (b.ts: the decision's)
        trade = ClosedTrade(b.domain.value, book.mode, b.symbol, b.side.value, s.qty, first.ts, s.entry_px, exit_ts,
                            s.exit_px, pnl, s.fees, b.exit_reason or "closed", b.strategy, exploration,
                            b.extra.get("model_version"),
                            first.client_order_id, b.funding,  # (b.entry: None on resume once retired)
                            ses.stage_at(b.ts))
        self.trades.append(trade)
        ses.ledger.journal("trade", b.id, trade.as_dict(), reason=trade.exit_reason)
        ses.send(ses.kill, "trade_closed", {"pnl": pnl}, inputs=self.pnl_inputs())
        if not trade.exploration:
            self._gate_kpis(b.domain).trade(pnl)  # a trade counts for the phase it closed in

    def _update_gates(self) -> list:
        """Gates re-measure once a day: their periods are days, and it keeps long replays linear.
        Called at the day roll, once each domain's KPIs took the day's equity: a phase its gate
        enters now (by this update, or by what the kill machine's day_rolled set off) starts
        from that equity."""
        records = []
        for domain, gate in self.session.gates.items():
            k = self.gate_kpis.get(domain)
            if k is not None:
                today = k.close()
                records += self.session.send(gate, "kpi_update", inputs=self._gate_kpis(domain, today).inputs())
                self._gate_kpis(domain, today)
        return records

    def _gate_kpis(self, d: Domain, close: tuple[float, float] | None = None) -> RunningKpis:
        """`d`'s gate KPIs, restarted (from the (time, equity) `close`) if its gate is in another phase (its state's
        `measures`) than the one they measure: the spec's KPIs are the model's in its current
        phase, so a canary counts
        no paper trade and a degraded model's drawdown starts again. A phase entered between
        two day rolls (an operator's command, a kill, a timer) is seen at its first closed
        trade or day roll and starts at the next daily close: no move of the phase before it
        leaks in. The phase the domain opens in starts from the wallet's start balance, at the
        start of its first day: its first day's trades move its drawdown and Sharpe as they
        count in its trades and win rate. The phase is checkpointed with the KPIs, so a resumed
        run restarts alike."""
        kpis = self.gate_kpis.get(d)  # not setdefault: that builds a RunningKpis per call
        opens = kpis is None
        if kpis is None:
            kpis = self.gate_kpis[d] = RunningKpis()
        gate = self.session.gates.get(d)
        phase = None if gate is None else f"{gate.bound.name}:{_measures(gate)}"
        if kpis.phase != phase:
            kpis.restart(phase, close)
            if opens and close is None:
                kpis.opening = self.session.books[d].start_balance
        return kpis


def _measures(gate: Instance) -> str:
    """The phase whose KPIs the gate's state reads: its spec `measures` (canary and live share the
    live trades, as model_promotion's input says), else the state itself."""
    return gate.bound.machine.states[gate.state].attrs.get("measures", gate.state)


def _value(b: BracketHandle, mark: float | None, multiplier: float) -> float:
    """What a bracket's fills made so far, its open units valued at `mark` (else the last fill's
    price): the cash they moved, less fees and funding, plus the units times the mark."""
    units = cash = price = 0.0
    for f in (*b.entry_fills, *b.exit_fills):
        sign, price = f.side.sign, f.price
        units += sign * f.qty
        cash -= sign * f.qty * f.price * multiplier + f.fee
    return cash - b.funding + units * (price if mark is None else mark) * multiplier


def bar_length(ts: np.ndarray) -> float:
    """A series' bar length: its most common spacing, which weekend and holiday gaps do not
    move (0 with fewer than two bars: an order is then judged at its decision's instant)."""
    gaps = np.diff(ts)
    gaps = gaps[gaps > 0]
    if not gaps.size:
        return 0.0
    values, counts = np.unique(gaps, return_counts=True)
    return float(values[counts.argmax()])


def _tied(tl: Timeline) -> np.ndarray | None:
    """Per row: does the next row close at the same time (Runner._open_ahead)? None when no row does."""
    tied = np.zeros(len(tl.ts), dtype=bool)
    tied[:-1] = tl.ts[1:] == tl.ts[:-1]
    return tied if tied.any() else None


def _ends_time(tl: Timeline) -> np.ndarray | None:
    """Per row: is it the last row of its domain at its time? The equity curve takes one point
    per domain per bar time, once every symbol of that time is marked: a point after each
    symbol would sample half-marked books and count each bar several times in the returns.
    None when every row is (one series with rising times)."""
    if len(tl.series) == 1 and (len(tl.ts) < 2 or bool(np.all(np.diff(tl.ts) > 0))):
        return None
    names = sorted({s.domain.value for s in tl.series})
    dom = np.array([names.index(s.domain.value) for s in tl.series], dtype=np.int64)[tl.ser]
    order = np.lexsort((np.arange(len(tl.ts)), dom, tl.ts))  # by time, domain, then row
    ts, d = tl.ts[order], dom[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (ts[1:] != ts[:-1]) | (d[1:] != d[:-1])
    out = np.zeros(len(order), dtype=bool)
    out[order[last]] = True
    return out


wall = time.perf_counter  # the wall clock the command poll is timed by (bound: one call a bar, not two)


@contextmanager
def _long_lived_heap() -> Iterator[None]:
    """Specs, bound machines, data and models live for the whole run: take them out of the
    cycle collector's view, and collect the cycles each order handle and its machine
    instance form less often (7-10% of a long replay went to re-scanning them).
    Only the young generations are collected first: they hold the set-up's garbage, while a
    full collection re-walks every long-lived object (~60 ms, 3% of a 100k-bar run) to find
    little or nothing; what it would have found is only held until the run ends (unfreeze)."""
    gc.collect(1)
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
