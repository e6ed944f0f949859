"""PaperVenue: the local simulator behind adapters.base.Venue. It never reaches
a network endpoint. Prices come only from the bars it is fed: every order must
carry the id of a quote this venue issued for the current bar, so no price is
ever invented, and each fill names the quote (bar) its price came from.
Randomness (partial fills) is one seeded numpy Generator per symbol
(adapters/paper/streams.py), so one market's fills never depend on another's
data; their states are persisted with everything else, so a replay is exact.

A durable venue is also replay-safe: it logs each engine-facing call with its
answer (replay.py) until the engine's `ack()`, and a venue reopened with a
non-empty log answers the engine's repeated calls from it before going live.
Reads that are not engine calls (open_orders, positions, balances, equity,
events) always show the venue's newest state, also while it catches up."""
from __future__ import annotations

import bisect
import json
import math
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from adapters.base import EventHook, OpenOrder, ReportStatus, VenueError, VenueEvent, VenueFileError, VenueReport
from adapters.paper.catalogue import Catalogue
from adapters.paper.clamp import conform, snap
from adapters.paper.config import PaperConfig
from adapters.paper.ledger import Ledger
from adapters.paper.model import WORKING, OpenOrders, WorkingOrder, dump, load_fill, load_position, load_quote, load_request
from adapters.paper.persist import Changes, StateFile
from adapters.paper.replay import CatchUpLog
from adapters.paper.pricing import BAR, OPEN, Pricer, half_spread, limit_through, make_quote, stop_hit
from adapters.paper.streams import fill_stream
from engine.data.quoted import SIDE_OHLC, QuotedBar, load_bar
from engine.domain import (SELLS_ONLY_HELD, Bar, Domain, Fill, Instrument, OrderRequest, OrderType, Position, Quote,
                           Role, Side)

_EPS = 1e-12
# A bar is worked in time order, in two phases (open_bar, then on_bar): first the market orders,
# which fill at its open, then the stops and limits, which trigger inside it. The engine answers
# the open's fills in between: a bracket's entry remainder filled at the open resizes its stop
# before that stop can trigger, even on a gap through it. Then stops before limits: SL beats TP.
_PRIORITY = {OrderType.MARKET: 0, OrderType.STOP: 1, OrderType.LIMIT: 2}
_BRACKET = (Role.TAKE_PROFIT, Role.STOP_LOSS)
_MEMORY_DROP_EVERY = 256  # bars after which an in-memory venue drops its (unwritten) change set
# Final orders, issued quotes and venue events a venue keeps as objects: a venue serves its recent
# history, and a long replay (~3 orders, 2 quotes, 2 events per trade) would otherwise hold every
# one it ever made (the million-bar benchmark's peak RSS: 573 MiB with them all, 489 with this).
# Older final orders shrink to their last report, fills included, which answers every later
# call about them exactly.
HISTORY = 4096
S = ReportStatus
# Members bound once: an Enum class attribute costs ~250 ns (EnumType.__getattr__), a global ~30.
_ACCEPTED, _REJECTED, _CANCELED, _FILLED, _PARTIAL, _TRIGGERED, _UNKNOWN = (
    S.ACCEPTED, S.REJECTED, S.CANCELED, S.FILLED, S.PARTIALLY_FILLED, S.TRIGGERED, S.UNKNOWN)
_BUY, _SELL = Side.BUY, Side.SELL
_MARKET, _LIMIT, _STOP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP
_ENTRY = Role.ENTRY
# The columns of a quoted series' side rows (engine.data.quoted.SIDE_OHLC) the touch rules read.
_BID_HIGH, _BID_LOW, _ASK_HIGH, _ASK_LOW = (SIDE_OHLC.index(c)
                                              for c in ("bid_high", "bid_low", "ask_high", "ask_low"))


def _touched_range(bar: Bar, side: Side) -> str:
    """What a stop's trigger reason names: the side's own extreme where the bar has it."""
    if bar.__class__ is QuotedBar:
        return f"bid low {bar.bid_low:g}" if side is _SELL else f"ask high {bar.ask_high:g}"
    return f"bar low {bar.low:g} high {bar.high:g}"


def _work_order(o: WorkingOrder) -> tuple:
    """Within one phase of a bar: exits before entries (a same-bar reversal nets: the old
    position closes, then the new one opens), market orders, then stops, then limits, then
    arrival order."""
    return (not (o.req.reduce_only or o.req.role is not _ENTRY), _PRIORITY[o.req.type], o.seq)


class PaperVenue:
    name = "paper"
    is_live = False

    def __init__(self, config: PaperConfig | None = None, catalogue: Catalogue | None = None,
                 funding: Mapping[str, Iterable[tuple[float, float]]] | None = None,
                 on_event: EventHook | None = None, state: StateFile | None = None):
        self.config = cfg = config or PaperConfig()
        # The figures the hot paths read, bound once (the config is frozen): a pydantic model's
        # field read takes its __getattr__ hook, ~0.1 us against ~0.03 for an attribute here.
        self._latency_s = cfg.latency_ms / 1000.0
        self._max_quote_age_s, self._funding_on = cfg.max_quote_age_s, cfg.funding
        self._spread_bps, self._fee_bps, self._leverage = cfg.spread_bps, cfg.taker_fee_bps, cfg.leverage
        self._slippage_bps = cfg.slippage_bps
        self._partial = (cfg.partial_fill_prob, cfg.partial_fill_min, cfg.partial_fill_max)
        self.catalogue = catalogue or Catalogue.load()
        self.on_event = on_event
        self._funding = {s: sorted(v) for s, v in (funding or {}).items()}
        self._state = state
        self._rngs: dict[str, np.random.Generator] = {}  # symbol -> its fill stream, made at its first draw
        self.ledger = Ledger({d: float(self.config.starting_balance.get(d, 0.0)) for d in Domain})
        # Accounts funded: the config's starting balances, then each `fund` (a run funds every
        # domain so, when its rollout activates it: engine/run/session.py apply_stage).
        self._funded = {d for d, v in self.config.starting_balance.items() if v}
        self._orders: dict[str, WorkingOrder] = {}  # open ones and the latest final ones (HISTORY)
        self._open = OpenOrders()
        self._retired: dict[str, VenueReport] = {}  # older final orders: their last report, fills included
        self.history = HISTORY
        self._bars: dict[str, Bar] = {}
        self._issued: dict[str, Quote] = {}
        self._quoted: dict[str, tuple[Bar, Quote]] = {}  # symbol -> (bar, its quote): one make_quote per bar
        self._pricers: dict[str, Pricer] = {}
        self._instruments = {i.symbol: i for i in self.catalogue}  # the catalogue is fixed: one lookup, no raise
        self._multipliers = {i.symbol: i.multiplier for i in self.catalogue}
        self._funding_done: dict[str, float] = {}
        self._opened: dict[str, float] = {}  # symbol -> the bar whose open is worked, not the rest yet
        # symbol -> when that bar opened (the last bar's close): what the engine sends in answer to the
        # open's fills is sent then, and works the rest of the bar (_submit).
        self._opened_from: dict[str, float] = {}
        self._events: list[VenueEvent] = []
        self._seq = 0
        self._ch = Changes()
        self._log: CatchUpLog | None = None  # durable venues only: in memory there is no restart to survive
        self._acked = self._acked_saved = 0  # the log is acknowledged up to call _acked; on disk, _acked_saved
        # In memory there is no restart to survive: engine calls run as they are, with no log
        # and no commit, and the never-written change set is dropped every _MEMORY_DROP_EVERY bars.
        self._memory = state is None
        self._until_drop = _MEMORY_DROP_EVERY
        self._config_json: dict | None = None  # config.model_dump(mode="json"), made once: the config is frozen
        if self._memory:  # nothing to log or commit: these engine calls go straight to the simulator
            self.quote, self.submit, self.cancel = self._quote, self._submit, self._cancel  # type: ignore[method-assign]
            self.open_bar, self.quiet_bars = self._open_bar, self._quiet_bars  # type: ignore[method-assign]

    @classmethod
    def open(cls, path: str | Path, config: PaperConfig | None = None, *, resume_at: int | None = None,
             run_id: str | None = None, catalogue: Catalogue | None = None,
             funding: Mapping[str, Iterable[tuple[float, float]]] | None = None,
             on_event: EventHook | None = None) -> "PaperVenue":
        """Open (or create) the venue whose state lives in the SQLite file `path`.

        With calls logged since the last `ack()`, the venue starts catching up: the
        engine's next calls are answered from the log. `resume_at` is the count
        `sync()` returned for the engine's checkpoint: calls up to it are skipped,
        which also covers a crash between the engine's checkpoint commit and `ack()`. A resume
        needs the file its run wrote: without one, or with another run's (`run_id`, which a new
        file keeps), it is refused and none is made."""
        if resume_at is not None and not Path(path).is_file():
            raise VenueError(f"there is no venue file at {path}")
        try:
            state = StateFile(path)
            meta = state.meta()
        except sqlite3.Error as e:  # damaged, another program's SQLite file, a side file that is a folder
            raise VenueFileError(f"SQLite: {e}") from None
        if config is None and "config" in meta:
            config = PaperConfig.model_validate(meta["config"])
        venue = cls(config, catalogue, funding, on_event, state)
        venue._acked = venue._acked_saved = meta.get("acked", 0)
        saved, theirs = meta.get("calls", 0), meta.get("run_id")
        if resume_at is not None and None not in (run_id, theirs) and theirs != run_id:
            state.close()
            raise VenueError(f"the venue file is run {theirs}'s, not the saved run {run_id}'s")
        if resume_at is not None and not venue._acked <= resume_at <= saved:
            state.close()
            raise VenueError(f"the saved run's checkpoint counts {resume_at} venue calls, where the venue file "
                             f"has {venue._acked} confirmed and {saved} in all")
        venue._log = CatchUpLog(venue._acked if resume_at is None else resume_at,
                                state.rows("SELECT last, first, body FROM replay_log ORDER BY last"))
        if meta:
            venue._restore(meta)
        else:
            venue._ch.balances = True
            if run_id is not None:
                venue._ch.meta["run_id"] = run_id
            venue._commit()
        return venue

    # -- replay safety -------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Engine calls answered so far (0 in memory): save it with a checkpoint, pass it to ack/open."""
        return 0 if self._log is None else self._log.calls

    @property
    def catching_up(self) -> bool:
        """True while the engine's calls are answered from the log rather than live."""
        return self._log is not None and self._log.catching_up

    def sync(self) -> int:
        """Commit the venue's state and log now and return `calls`, for the engine to save in
        the checkpoint it is about to commit (then `ack(n)`; after a crash `open(resume_at=n)`)."""
        if self._log is None:
            return 0
        self._commit(force=True)
        return self._log.calls

    def ack(self, upto: int | None = None) -> None:
        """The engine has durably checkpointed everything up to call `upto` (default: all
        calls so far): forget their log entries. Call it right after the checkpoint commit.

        ack() commits at once: a venue reopened without `resume_at` replays its whole log.
        ack(n) after sync() costs nothing: the deletion rides on the venue's next commit,
        as open(resume_at=n) skips those calls anyway."""
        if self._log is None:
            return
        n = self._log.calls if upto is None else upto
        self._log.ack(n)
        self._acked = max(self._acked, n)
        if upto is None:
            self._commit(force=True)

    def _call(self, name: str, args: tuple, live: Callable[..., Any]) -> Any:
        """Answer an engine call: from the catch-up log while there is one, else live (and log it)."""
        log = self._log
        if log is None:  # nothing to log: in memory (the hot calls skip _call there), or closed
            result = live(*args)
            self._commit()
            return result
        if log.replay:
            result, events = log.answer(name, args)
            if self.on_event is not None:  # the hook sees the same events as in the first run
                for e in events:
                    self.on_event(e)
        else:
            mark = len(self._events)
            try:
                result = live(*args)
            except VenueError as e:  # an error is an answer too: a replay must get it again
                result = e
            log.record(name, args, result, tuple(self._events[mark:]) if len(self._events) > mark else ())
            self._commit()
        if isinstance(result, VenueError):
            raise result
        return result

    # -- market data -------------------------------------------------------------------------

    def quote(self, symbol: str) -> Quote:
        return self._call("quote", (symbol,), self._quote)

    def _quote(self, symbol: str) -> Quote:
        bar = self._bars.get(symbol)
        if bar is None:
            raise VenueError(f"no market data for {symbol} yet: no quote to price an order from")
        return self._bar_quote(bar, self._instruments.get(symbol) or self.catalogue.get(symbol))

    def _bar_quote(self, bar: Bar, inst: Instrument) -> Quote:
        last = self._quoted.get(bar.symbol)
        if last is not None and last[0] is bar:  # the same bar always makes the same quote
            q = last[1]
        else:
            q = make_quote(bar, inst, self._spread_bps[inst.domain])
            self._quoted[bar.symbol] = (bar, q)
        self._issue(q)
        return q

    def _issue(self, q: Quote) -> None:
        if q.snapshot_id not in self._issued:
            self._issued[q.snapshot_id] = q
            self._ch.quotes.append(q)

    def open_bar(self, bar: Bar) -> list[VenueReport]:
        """Advance the simulation to a new closed bar and work what fills at its open: the
        funding due by the close of the bar before (on the position held then), then market
        orders (exits before entries). `on_bar(bar)`
        then works the rest of the bar: answer these fills first (resize a bracket's legs to a
        fill of its entry), or a stop would work for less than the position it protects."""
        if self._memory:
            return self._open_bar(bar)
        return self._call("open_bar", (bar,), self._open_bar)

    def on_bar(self, bar: Bar) -> list[VenueReport]:
        """Work the resting stops and limits of the bar `open_bar` opened; of a bar not opened
        yet, the whole bar (its open first)."""
        if self._memory:
            self._until_drop -= 1
            if not self._until_drop:
                self._drop_changes()
            return self._on_bar(bar)
        return self._call("on_bar", (bar,), self._on_bar)

    def works_at_open(self, symbol: str) -> bool:
        """Whether `open_bar` of the symbol's next bar may fill something (a market order works
        on it). Where not, `on_bar` alone works that bar exactly as both calls would, and a
        durable venue logs one call, not two. Not itself logged: while catching up, the answer
        is the one the engine acted on then, read off the log (was its next call `open_bar`?);
        live, the state it reads is the one the first run read (calls after the last commit
        change no orders)."""
        log = self._log
        if log is not None and log.replay:
            return log.next_opens(symbol)
        return self._open.markets.get(symbol, 0) > 0

    def _open_bar(self, bar: Bar) -> list[VenueReport]:
        symbol = bar.symbol
        inst = self._instruments.get(symbol) or self.catalogue.get(symbol)  # (which raises)
        prev = self._bars.get(symbol)
        if prev is not None and bar.ts <= prev.ts:
            raise VenueError(f"{symbol}: bar at {bar.ts} does not follow {prev.ts}; time only moves forward")
        if symbol in self._opened:  # (prev is that bar)
            raise VenueError(f"{symbol}: the bar at {prev.ts} was opened but not worked: on_bar(bar) first")
        self._bars[symbol] = bar
        self._opened[symbol] = bar.ts
        self._opened_from[symbol] = bar.ts if prev is None else prev.ts
        if inst.kind == "perp":  # only perps accrue funding (_accrue_funding's own first test)
            self._accrue_funding(inst, prev)
        if not self._open.markets.get(symbol):  # no market order: nothing to scan for
            return []
        return self._work_bar(bar, inst, True)

    def _on_bar(self, bar: Bar) -> list[VenueReport]:
        opened = self._opened.get(bar.symbol)
        if opened is None:  # not opened: the whole bar, in time order
            reports = self._open_bar(bar)
        elif bar.ts != opened:
            raise VenueError(f"{bar.symbol}: the bar at {opened} is open; on_bar got the one at {bar.ts}")
        else:
            reports = []
        # The rest of the bar still knows when it opened: a limit's first bar asks (_arrived_late).
        reports += self._work_bar(bar, self._instruments[bar.symbol], False)  # (_open_bar found it)
        del self._opened[bar.symbol], self._opened_from[bar.symbol]
        return reports

    def _work_bar(self, bar: Bar, inst: Instrument, at_open: bool) -> list[VenueReport]:
        """Work one phase of the bar: at its open, the market orders; else the stops and limits
        (a triggered stop's remainder fills at the open too, but after the engine has answered the
        open's fills: an entry's last part there makes the stop cover it, and it is not left over
        once the stop has closed the bracket)."""
        symbol, ts = bar.symbol, bar.ts
        active = [o for o in self._open.values() if o.req.symbol == symbol and o.active_at < ts
                  and (o.req.type is _MARKET) is at_open]
        if not active:
            return []
        pricer = self._pricers.get(symbol)
        if pricer is None or pricer.inst is not inst:
            pricer = self._pricer(inst)
        reports: list[VenueReport] = []
        if len(active) > 1:
            active.sort(key=_work_order)
        dormant: list[WorkingOrder] = []
        stopped: set[str] = set()  # brackets whose stop triggered on this bar
        for o in active:
            if o.status not in WORKING:  # (o.working) an earlier order's fill may have ended it
                continue
            req = o.req
            if stopped and req.parent_id in stopped and req.type is _LIMIT:
                # A bar that reaches both legs stops the trade out, even when the stop fills only
                # in part: which extreme came first is unknown, and the harsh answer is the stop.
                continue
            if not (req.reduce_only or req.role is not _ENTRY):
                if self._held(o, symbol):  # (only entries wait)
                    continue
            elif req.parent_id in self._open and self._dormant(o):  # (_dormant's own first test)
                if req.type is _STOP and self._open[req.parent_id].req.type is _LIMIT:
                    dormant.append(o)
                continue
            reports += self._work_one(o, bar, inst, pricer)
            if o.triggered and req.parent_id and req.role in _BRACKET:
                stopped.add(req.parent_id)
        for o in dormant:
            # A stop sent with a limit entry that filled in this phase: the bar's range beyond the
            # stop came after that fill (from above a buy limit down to a low under its stop, the
            # price passes the limit first), so the stop works on it now, not from the next bar.
            # Not a take-profit (the high it needs may have come first), nor a stop entry's stop
            # (the low may have come before the breakout).
            if o.status in WORKING and not self._dormant(o):
                reports += self._work_one(o, bar, inst, pricer)
        return reports

    def _work_one(self, o: WorkingOrder, bar: Bar, inst: Instrument, pricer: Pricer) -> list[VenueReport]:
        before = (o.status, o.filled_qty, o.bars_worked == 0)
        reports = self._work(o, bar, inst, pricer)
        if before != (o.status, o.filled_qty, False):  # a quiet bar on a resting order needs no write
            self._ch.orders[o.req.client_order_id] = o
        o.bars_worked += 1
        return reports

    def _arrived_late(self, o: WorkingOrder, opened: float) -> bool:
        """A limit or stop sent before its first bar opened (at `opened`) and arriving inside it (a latency
        longer than part of a bar): the bar's open and range may lie before it reached the venue.
        Not one sent at that open in answer to its fills (submit's `sent`), whose `req.ts` is the
        engine's clock, the bar's stamp: its active_at is exactly opened + latency."""
        return opened < o.active_at < opened + self._latency_s

    def _held(self, o: WorkingOrder, symbol: str) -> bool:
        """An entry against the open position waits while an exit of that position still works.

        A reversal sends the exit and the new entry together; if the exit fills only in
        part, netting the entry against the remainder would leave the engine's new bracket
        with no position for its reduce-only legs. The entry fills once the exit is done."""
        req = o.req
        if req.reduce_only or req.role is not _ENTRY or req.side.sign * self.ledger.qty(symbol) >= 0:
            return False  # an exit (_reduces), or an entry that adds to the position
        return any(x.working and x.req.symbol == symbol and self._reduces(x.req) for x in self._open.values())

    def _dormant(self, o: WorkingOrder) -> bool:
        """A bracket leg sent with its entry (one-step placement) waits, untouched, until the
        entry has made a position for it to reduce: a contingent order, as brokers hold child
        orders until their parent fills."""
        req = o.req
        return (req.role in _BRACKET and req.parent_id in self._open
                and self.ledger.qty(req.symbol) * req.side.sign >= -_EPS)

    def quiet_bars(self, first: Bar, ts: np.ndarray, high: np.ndarray, low: np.ndarray,
                   sides: np.ndarray | None = None) -> int:
        """How many of the coming bars of `first.symbol` (`first`, then arrays from it on)
        provably change nothing here: no resting order is touched, none is new, triggered
        or held, no funding falls due. `sides`: for quoted bars, their side rows
        (engine.data.quoted.SIDE_OHLC, one row a bar), which the touch rules then read.
        The engine may pass those bars with `skip_bars` instead of `on_bar` one by one. An
        engine call like any other (logged): a resumed engine must get the answer the venue
        gave then, not one from its newer state."""
        return self._call("quiet_bars", (first, ts, high, low, sides), self._quiet_bars)

    def _quiet_bars(self, first: Bar, ts: np.ndarray, high: np.ndarray, low: np.ndarray,
                    sides: np.ndarray | None = None) -> int:
        n, symbol, t0 = len(ts), first.symbol, first.ts
        for o in self._open.values():
            req = o.req
            if req.symbol != symbol:
                continue
            if o.active_at >= t0 or req.type is _MARKET or o.triggered or (
                    self._dormant(o) if (req.reduce_only or req.role is not _ENTRY)
                    else self._held(o, symbol)):  # (only entries wait, and legs sent with them)
                return 0  # latency, market fills, holds and waiting legs depend on more than a touch
            if n < len(high):  # only once an order has shortened them (a slice is a new view: ~100 ns)
                high, low = high[:n], low[:n]
                sides = None if sides is None else sides[:n]
            n = self._untouched(o, first, high, low, sides)  # at most len(high): the min of the bounds so far
            if n == 0:
                return 0  # no later order or funding date can lengthen it
        if self._funding_on and self._funding.get(symbol):  # (_bars_before_funding's own first tests)
            n = min(n, self._bars_before_funding(symbol, ts))
        return n

    def _untouched(self, o: WorkingOrder, first: Bar, high: np.ndarray, low: np.ndarray,
                   sides: np.ndarray | None) -> int:
        """Bars before the first that would work `o` (the touch rules _work applies)."""
        side, price = o.req.side, o.req.price
        pricer = self._pricer(self._instruments[first.symbol])
        if o.req.type is _LIMIT and o.bars_worked == 0 and pricer.limit(
                first, side, price, True, self._arrived_late(o, self._bars[first.symbol].ts)) is not None:
            return 0  # marketable on arrival (the first bar's own rule)
        if first.__class__ is QuotedBar:
            if sides is None:  # each side's range may cross the other's: the mid's bounds neither
                return 0
            touch = self._side_touch(o, sides)
        else:
            touch = self._mid_touch(o, first, high, low, pricer)
            if touch is None:
                return 0
        at = touch.tobytes().find(1)  # the first touch (a bool is one byte, 0 or 1), or -1
        return len(high) if at < 0 else at

    @staticmethod
    def _side_touch(o: WorkingOrder, sides: np.ndarray) -> np.ndarray:
        """Per bar, whether `o` is worked there, by Pricer's own rules for quoted bars: each side's
        own extremes, no spread to add (a sell stop: the bid's low; a buy limit: the ask's low)."""
        side, price = o.req.side, o.req.price
        if o.req.type is _STOP:
            return stop_hit(side, price, sides[:, _BID_LOW], sides[:, _ASK_HIGH], 0.0)
        return limit_through(side, price, sides[:, _ASK_LOW], sides[:, _BID_HIGH], 0.0)

    @staticmethod
    def _mid_touch(o: WorkingOrder, first: Bar, high: np.ndarray, low: np.ndarray,
                   pricer: Pricer) -> np.ndarray | None:
        """Per bar, whether `o` may be worked there, from the mids' high and low; None where they
        bound nothing (a stop under real quotes)."""
        side, price = o.req.side, o.req.price
        # A modelled half spread at the order's price is the same on every bar; a real one is each
        # bar's own, which high/low do not carry.
        real = first.bid is not None and first.ask is not None
        half = 0.0 if real else half_spread(first, price, pricer.spread_bps)
        if o.req.type is _STOP:
            if real:  # a wider spread on a coming bar reaches further: no bound from high/low alone
                return None
            return stop_hit(side, price, low, high, half)
        return limit_through(side, price, low, high, half)  # real quotes: the mid's touch, a superset

    def _bars_before_funding(self, symbol: str, ts: np.ndarray) -> int:
        schedule = self._funding.get(symbol)
        if not self._funding_on or not schedule or self.catalogue.get(symbol).kind != "perp":
            return len(ts)
        # Funding at F falls due at the open of the bar after the one that closes at or past F
        # (_accrue_funding): at the coming bar's open if the last bar worked closed past it.
        done = self._funding_done.get(symbol, -math.inf)
        nxt = bisect.bisect_right(schedule, (done, math.inf))
        if nxt >= len(schedule):
            return len(ts)
        due = schedule[nxt][0]
        if symbol in self._bars and self._bars[symbol].ts >= due:
            return 0
        return min(len(ts), int(np.searchsorted(ts, due, side="left")) + 1)

    def skip_bars(self, bar: Bar, n: int) -> None:
        """Pass n quiet bars of `bar.symbol` ending with `bar` (see quiet_bars): the same state
        as n calls of on_bar that work nothing."""
        if self._memory:
            self._until_drop -= 1
            if not self._until_drop:
                self._drop_changes()
            self._skip_bars(bar, n)
        else:
            self._call("skip_bars", (bar, n), self._skip_bars)

    def _skip_bars(self, bar: Bar, n: int) -> None:
        prev = self._bars.get(bar.symbol)
        if prev is not None and bar.ts <= prev.ts:
            raise VenueError(f"{bar.symbol}: bar at {bar.ts} does not follow {prev.ts}; time only moves forward")
        if bar.symbol in self._opened:
            raise VenueError(f"{bar.symbol}: the bar at {prev.ts} was opened but not worked: on_bar(bar) first")
        self._bars[bar.symbol] = bar
        inst = self._instruments.get(bar.symbol) or self.catalogue.get(bar.symbol)
        if inst.kind == "perp":  # the first skipped bar's open; quiet: none falls due at the others'
            self._accrue_funding(inst, prev)
        for o in self._open.values():
            if o.req.symbol == bar.symbol and o.status in WORKING:  # (o.working)
                if o.bars_worked == 0:  # as on_bar writes an order on its first bar worked
                    self._ch.orders[o.req.client_order_id] = o
                o.bars_worked += n

    # -- orders ------------------------------------------------------------------------------

    def submit(self, req: OrderRequest) -> VenueReport:
        return self._call("submit", (req,), self._submit)

    def _submit(self, req: OrderRequest) -> VenueReport:
        existing = self._orders.get(req.client_order_id)
        if existing is not None:  # an idempotent replay: answer with the venue's truth
            return existing.report(reason=f"duplicate client_order_id; order is {existing.status.value}")
        old = self._retired.get(req.client_order_id)
        if old is not None:
            return replace(old, fills=(), reason=f"duplicate client_order_id; order is {old.status.value}")
        inst = self._instruments.get(req.symbol)
        if inst is None:
            return self._reject(req, f"symbol {req.symbol!r} is not in the contract catalogue")
        quote, why = self._check_quote(req)
        if quote is None:
            return self._reject(req, why)
        now = self._bars[req.symbol].ts
        # Sent in answer to fills at a bar's open (a bracket's legs once its entry filled there), an
        # order is sent at that open and works the rest of the bar: a live stop works from the fill
        # on, and a bar's whole range lies after its open. Else it arrives after the bar it saw.
        sent = self._opened_from.get(req.symbol, now)
        clamped = conform(req, inst, quote.ask if req.side is _BUY else quote.bid, now, self._covers(req))
        if clamped.event is not None:
            self._emit(clamped.event)
        if clamped.request is None:
            return self._reject(req, clamped.reason, clamped.event)
        why = self._pretrade(clamped.request, inst, quote)
        if why:
            return self._reject(clamped.request, why, clamped.event)
        self._seq += 1
        o = WorkingOrder(clamped.request, self._seq, _ACCEPTED, sent + self._latency_s, "", 0.0, 0, False, now, [])
        coid = req.client_order_id
        self._orders[coid] = self._open[coid] = self._ch.orders[coid] = o  # (_track: it is working)
        return o.report(clamp=clamped.event)

    def cancel(self, client_order_id: str) -> VenueReport:
        return self._call("cancel", (client_order_id,), self._cancel)

    def _cancel(self, client_order_id: str) -> VenueReport:
        o = self._orders.get(client_order_id)
        if o is None:
            return self._not_held(client_order_id, "cannot cancel")
        if o.status not in WORKING:  # (o.working)
            return o.report(reason=f"cannot cancel: order is already {o.status.value}", refused=True)
        return self._finish(o, _CANCELED, "canceled by request", self._now(o.req.symbol))

    def amend(self, client_order_id: str, price: float | None = None, qty: float | None = None) -> VenueReport:
        return self._call("amend", (client_order_id, price, qty), self._amend)

    def _amend(self, client_order_id: str, price: float | None, qty: float | None) -> VenueReport:
        o = self._orders.get(client_order_id)
        if o is None:
            return self._not_held(client_order_id, "amend refused")
        if not o.working:
            return o.report(reason=f"amend refused: order is already {o.status.value}", refused=True)
        inst, q = self.catalogue.get(o.req.symbol), self._quote(o.req.symbol)
        new = replace(o.req, price=o.req.price if price is None else price, qty=o.req.qty if qty is None else qty)
        # The position, as on submit (_covers): a reduce-only leg that covers all of it, or what its
        # working entry opens, is exempt from the minimum notional however it got there, or a stop
        # the venue took could not be tightened.
        clamped = conform(new, inst, q.ask if new.side is _BUY else q.bid, q.ts, self._covers(new))
        if clamped.event is not None:
            self._emit(clamped.event)
        if clamped.request is None or clamped.request.qty <= o.filled_qty + _EPS:
            why = clamped.reason or f"new qty {new.qty:g} is not above the filled {o.filled_qty:g}"
            return o.report(reason=f"amend refused: {why}", clamp=clamped.event, refused=True)
        if not self._reduces(new):  # an entry amended is checked as one sent
            rest = replace(clamped.request, qty=clamped.request.qty - o.filled_qty)
            why = self._pretrade(rest, inst, q, replacing=client_order_id)
            if why:
                return o.report(reason=f"amend refused: {why}", clamp=clamped.event, refused=True)
        o.req, o.reason, o.updated_ts = clamped.request, "amended", q.ts
        self._ch.orders[client_order_id] = o
        return o.report(clamp=clamped.event)

    # -- accounts ------------------------------------------------------------------------------

    def fund(self, domain: Domain, amount: float) -> None:
        """Open `domain`'s account with `amount` (in its currency): once per domain, before it
        trades. An engine call, logged like an order, so a run that repeats it after a crash is
        answered from the log rather than funded twice."""
        return self._call("fund", (domain, amount), self._fund)

    def _fund(self, domain: Domain, amount: float) -> None:
        if domain in self._funded:
            raise VenueError(f"the {domain.value} account is funded already "
                             f"({self.ledger.cash[domain]:g}): an account is funded once")
        if not 0 <= amount < float("inf"):  # NaN too
            raise VenueError(f"cannot fund the {domain.value} account with {amount!r}: a finite amount >= 0")
        self.ledger.cash[domain] = float(amount)
        self._funded.add(domain)
        self._ch.balances = True
        self._ch.meta["funded"] = sorted(d.value for d in self._funded)

    # -- state ---------------------------------------------------------------------------------

    def open_orders(self) -> list[OpenOrder]:
        return [o.view() for o in sorted(self._open.values(), key=lambda o: o.seq)]

    def positions(self) -> list[Position]:
        return [replace(p, extra=dict(p.extra)) for p in self.ledger.positions.values() if p.is_open]

    def balances(self) -> dict[Domain, float]:
        return dict(self.ledger.cash)

    def equity(self, domain: Domain) -> float:
        """Cash plus unrealised P&L at the last close of each open position."""
        upnl = sum((self._bars[p.symbol].close - p.avg_price) * p.qty * self.catalogue.get(p.symbol).multiplier
                   for p in self.positions() if p.domain is domain and p.symbol in self._bars)
        return self.ledger.cash[domain] + upnl

    def order_status(self, client_order_id: str) -> VenueReport | None:
        return self._call("order_status", (client_order_id,), self._order_status)

    def _order_status(self, client_order_id: str) -> VenueReport | None:
        o = self._orders.get(client_order_id)
        return self._retired.get(client_order_id) if o is None else o.report(fills=tuple(o.fills))

    def _not_held(self, client_order_id: str, what: str) -> VenueReport:
        """A cancel or amend of an order the venue holds no working record of: final long ago, or unknown."""
        old = self._retired.get(client_order_id)
        if old is None:
            return VenueReport(client_order_id, _UNKNOWN, reason="no such order at this venue")
        return replace(old, fills=(), reason=f"{what}: order is already {old.status.value}", refused=True)

    def events(self, kind: str | None = None) -> list[VenueEvent]:
        """The venue's recent events (at least the last `history`; a durable venue's file keeps all)."""
        return [e for e in self._events if kind is None or e.kind == kind]

    @property
    def file(self) -> Path | None:
        """The SQLite file the venue keeps its state in (None: an in-memory venue)."""
        return self._state.path if self._state is not None else None

    def close(self) -> None:
        if self._state is not None:
            self._commit(force=True)
            self._state.close()
            self._state = None
            self._log = None

    # -- internals -----------------------------------------------------------------------------

    def _pricer(self, inst: Instrument) -> Pricer:
        p = self._pricers.get(inst.symbol)
        if p is None or p.inst is not inst:
            p = self._pricers[inst.symbol] = Pricer(inst, self._spread_bps[inst.domain],
                                                    self._slippage_bps[inst.domain])
        return p

    def _now(self, symbol: str) -> float:
        bar = self._bars.get(symbol)
        return bar.ts if bar else 0.0

    def _check_quote(self, req: OrderRequest) -> tuple[Quote | None, str]:
        q = self._issued.get(req.quote_id)
        if q is None:
            return None, (f"quote_id {req.quote_id!r} is not a quote this venue holds (never issued, or older "
                          f"than the last {self.history} it keeps): price every order from venue.quote(symbol)")
        if q.symbol != req.symbol:
            return None, f"quote_id {req.quote_id!r} is a {q.symbol} quote, not {req.symbol}"
        age = self._bars[req.symbol].ts - q.ts
        if age > self._max_quote_age_s:
            return None, (f"quote {req.quote_id!r} is {age:g}s old (max {self._max_quote_age_s:g}s): "
                          "re-quote from the current bar")
        return q, ""

    @staticmethod
    def _reduces(req: OrderRequest) -> bool:
        return req.reduce_only or req.role is not _ENTRY

    def _pretrade(self, req: OrderRequest, inst: Instrument, q: Quote, replacing: str | None = None) -> str:
        """Why the venue refuses `req` before it works ("" if it does not); `replacing`: the order an
        amend changes, whose margin the amended one takes over."""
        held = self.ledger.qty(req.symbol)
        if req.reduce_only or req.role is not _ENTRY:  # (_reduces)
            if held * req.side.sign >= -_EPS and not self._contingent(req):
                return f"reduce-only {req.side.value} but no opposite position in {req.symbol} (qty {held:g})"
            return ""
        if req.side is _SELL and inst.domain in SELLS_ONLY_HELD and req.qty > held + _EPS:
            return f"crypto spot cannot go short: sell {req.qty:g} but hold {held:g} {req.symbol}"
        lev = self._leverage[inst.domain]
        price = req.price if req.price is not None else (q.ask if req.side is _BUY else q.bid)
        notional = req.qty * price * inst.multiplier
        need = notional / lev + notional * self._fee_bps[inst.domain] / 1e4
        free = self.ledger.cash[inst.domain] - self._margin_in_use(inst.domain, lev, replacing)
        if need > free + _EPS:
            return f"insufficient {inst.domain.value} funds: needs {need:g} (margin + fee), free {free:g}"
        return ""

    def _covers(self, req: OrderRequest) -> float:
        """The position a reduce-only order's exemption from the minimum notional is judged by: the
        one held, and for a leg sent with its entry, what that entry opens. Priced at its stop, a
        leg sized to an entry the venue accepted can fall under the minimum; refusing it tore down
        the bracket, where a two-step leg placed after the fill is exempt."""
        held = self.ledger.qty(req.symbol)
        if req.qty > abs(held) + _EPS and self._contingent(req):  # more than is held: the rest is the entry's
            parent = self._open[req.parent_id]
            held += parent.remaining * parent.req.side.sign
        return held

    def _contingent(self, req: OrderRequest) -> bool:
        """A take-profit or stop-loss leg whose parent entry, on the other side, still works."""
        parent = self._open.get(req.parent_id) if req.role in _BRACKET and req.parent_id else None
        return parent is not None and parent.req.role is _ENTRY and parent.req.side is not req.side

    def _margin_in_use(self, domain: Domain, lev: float, excluding: str | None = None) -> float:
        used = self.ledger.margin_used(domain, lev, self._multipliers)
        for coid, o in self._open.items():
            req = o.req
            if req.reduce_only or req.role is not _ENTRY or coid == excluding:  # _reduces: exits tie up no margin
                continue
            inst = self.catalogue.get(req.symbol)
            if inst.domain is domain:
                price = req.price if req.price is not None else self._bars[req.symbol].close
                used += o.remaining * price * inst.multiplier / lev
        return used

    def _work(self, o: WorkingOrder, bar: Bar, inst: Instrument, pricer: Pricer) -> list[VenueReport]:
        """Fill what this bar fills of `o`. The fill names the quote its price came from (_priced_from):
        the bar's open, the bar's (its close, or the range a stop or limit filled in at its own
        price), or a market order's snapshot where that priced it (the order keeps its own). A
        market order decided after this bar opened (on another series' row) pays its close."""
        side, reports = o.req.side, []
        if o.req.type is _STOP and not o.triggered:
            late = o.bars_worked == 0 and self._arrived_late(o, self._opened_from[bar.symbol])
            priced = pricer.stop_trigger(bar, side, o.req.price, late)
            if priced is None:
                return []
            o.triggered, o.status, o.updated_ts = True, _TRIGGERED, bar.ts
            reports.append(o.report(reason=f"stop {o.req.price:g} touched ({_touched_range(bar, side)})"))
        elif o.req.type is _LIMIT:
            first = o.bars_worked == 0
            late = first and self._arrived_late(o, self._opened_from[bar.symbol])
            priced = pricer.limit(bar, side, o.req.price, first, late)
            if priced is None:
                return []
        else:  # market, or a triggered stop's remainder; the snapshot binds only on arrival
            first = o.bars_worked == 0
            snapshot = self._issued.get(o.req.quote_id) if first else None
            opened = self._opened_from.get(bar.symbol, o.req.ts)
            # Sent inside this bar, or sent before it and arriving after it opened (a latency longer
            # than a bar): either way its open is a price from before the order reached the venue.
            late = first and (o.req.ts > opened or o.req.ts < opened < o.active_at)
            priced = pricer.market(bar, side, snapshot, late)
        return reports + self._fill(o, bar, inst, priced[0], self._priced_from(bar, inst, pricer, priced[1]))

    def _priced_from(self, bar: Bar, inst: Instrument, pricer: Pricer, basis: str) -> str:
        """The id of the quote a fill's price came from (pricing's OPEN, BAR or a snapshot's id),
        issued and stored like any other, so that every fill's price is read off a stored quote."""
        if basis is BAR:
            return self._bar_quote(bar, inst).snapshot_id
        if basis is OPEN:
            q = pricer.open_quote(bar, self._opened_from[bar.symbol])
            self._issue(q)
            return q.snapshot_id
        return basis

    def _fill(self, o: WorkingOrder, bar: Bar, inst: Instrument, price: float, quote_id: str) -> list[VenueReport]:
        if not price > 0.0:  # a bar's half spread beyond its price (broken quotes): no market fills there
            return []  # the order works on; the loader refuses such quotes (engine/data/loader.py check_quotes)
        req = o.req
        qty, side = max(req.qty - o.filled_qty, 0.0), req.side  # (o.remaining)
        reduces = req.reduce_only or req.role is not _ENTRY  # _reduces
        if reduces:
            held = self.ledger.qty(inst.symbol)
            available = abs(held) if held * side.sign < 0 else 0.0
            if available <= _EPS:
                return [self._finish(o, _CANCELED, "reduce-only: no position left to reduce", bar.ts)]
            qty = min(qty, available)
        elif side is _SELL and inst.domain in SELLS_ONLY_HELD:
            # Spot cannot go short when it fills either: since its submit, another sell (an exit,
            # a second entry) may have taken the units it was checked against.
            held = self.ledger.qty(inst.symbol)
            if held <= _EPS:
                return [self._finish(o, _CANCELED, "crypto spot cannot go short: nothing left to sell", bar.ts)]
            qty = min(qty, held)
        part = self._maybe_partial(qty, inst)  # drawn for every fill: each symbol's stream stays as it was
        # A market close fills whole: its remainder working on for bars carried a weekend exit (or a
        # max-hold or flatten close) past the time it had to be flat by. Entries and the bracket's
        # legs still fill in part.
        qty = qty if reduces and req.type is _MARKET else part
        fee = qty * price * inst.multiplier * self._fee_bps[inst.domain] / 1e4
        fill = Fill(req.client_order_id, f"{req.client_order_id}-{len(o.fills) + 1}", inst.symbol, side,
                    qty, price, fee, bar.ts, quote_id)
        self.ledger.apply_fill(fill, inst)
        o.fills.append(fill)
        o.filled_qty += qty
        o.status = _FILLED if req.qty - o.filled_qty <= _EPS * max(1.0, req.qty) else _PARTIAL  # (o.remaining)
        o.updated_ts, o.reason = bar.ts, ""
        self._ch.fills.append(fill)
        self._ch.positions[inst.symbol] = self.ledger.positions[inst.symbol]
        self._ch.balances = True
        reports = [o.report(fills=(fill,))]
        if o.status is _FILLED:
            self._open.pop(req.client_order_id, None)
        elif reduces and abs(self.ledger.qty(inst.symbol)) <= _EPS:
            reports.append(self._finish(o, _CANCELED, "reduce-only: position closed; remainder canceled", bar.ts))
        if req.parent_id and req.role in _BRACKET and o.status is _FILLED:
            # One-cancels-other on a complete fill only: after a partial fill both legs must
            # keep covering what is left (the engine resizes them).
            reports += self._cancel_siblings(o, bar.ts)
        return reports

    def _maybe_partial(self, qty: float, inst: Instrument) -> float:
        # Always draw twice, so the symbol's stream depends only on its own sequence of fill attempts.
        # A whole fill discards its second draw with random_raw(), which takes the same one 64-bit
        # value from the stream as uniform() (and random()) at a quarter of the cost.
        rng, (prob, low, high) = self._rngs.get(inst.symbol) or self._stream(inst.symbol), self._partial
        if rng.random() >= prob:
            rng.bit_generator.random_raw()
            return qty
        part = snap(qty * rng.uniform(low, high), inst.step, up=False)
        return part if 0 < part < qty else qty

    def _stream(self, symbol: str) -> np.random.Generator:
        rng = self._rngs[symbol] = fill_stream(self.config.seed, symbol)
        return rng

    def _cancel_siblings(self, o: WorkingOrder, ts: float) -> list[VenueReport]:
        """One-cancels-other for bracket legs: the first leg to fill cancels the rest."""
        return [self._finish(s, _CANCELED, f"oco: bracket leg {o.req.client_order_id} filled", ts)
                for s in list(self._open.values())
                if s is not o and s.req.parent_id == o.req.parent_id and s.req.role in _BRACKET]

    def _finish(self, o: WorkingOrder, status: ReportStatus, reason: str, ts: float) -> VenueReport:
        o.status, o.reason, o.updated_ts = status, reason, ts
        self._open.pop(o.req.client_order_id, None)
        self._ch.orders[o.req.client_order_id] = o
        return o.report()

    def _accrue_funding(self, inst: Instrument, prev: Bar | None) -> None:
        """At a bar's open, the funding due by the close of the bar before (`prev`), on the
        position held then: every fill of that bar came before its close, and none of this bar
        yet. Booked at the bar that closes at a funding time, it charged a position closed at
        that bar's open and missed one opened there."""
        schedule = self._funding.get(inst.symbol)
        if not self._funding_on or inst.kind != "perp" or not schedule or prev is None:
            return
        start = self._funding_done.get(inst.symbol, -math.inf)  # none before: nothing was held
        lo = bisect.bisect_right(schedule, (start, math.inf))
        hi = bisect.bisect_right(schedule, (prev.ts, math.inf))
        for ts, rate in schedule[lo:hi]:
            qty = self.ledger.qty(inst.symbol)
            paid = self.ledger.apply_funding(inst, rate, prev.close)
            if paid:
                self._emit(VenueEvent("FUNDING", ts, inst.symbol,
                                      {"rate": rate, "qty": qty, "mark": prev.close, "paid": paid}))
                self._ch.positions[inst.symbol] = self.ledger.positions[inst.symbol]
                self._ch.balances = True
        self._funding_done[inst.symbol] = prev.ts

    def _reject(self, req: OrderRequest, reason: str, clamp: VenueEvent | None = None) -> VenueReport:
        o = WorkingOrder(req, self._next_seq(), _REJECTED, 0.0, reason, updated_ts=self._now(req.symbol))
        self._track(o)
        return o.report(clamp=clamp)

    def _track(self, o: WorkingOrder) -> None:
        self._orders[o.req.client_order_id] = o
        if o.working:
            self._open[o.req.client_order_id] = o
        self._ch.orders[o.req.client_order_id] = o

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _emit(self, event: VenueEvent) -> None:
        self._events.append(event)
        self._ch.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _drop_changes(self) -> None:
        """In memory the change set is never written, only dropped every _MEMORY_DROP_EVERY bars."""
        self._until_drop = _MEMORY_DROP_EVERY
        self._ch = Changes()
        self._trim()

    def _trim(self) -> None:
        """Keep `history` final orders, quotes and events as objects (see HISTORY). Run only where
        the change set is empty (written or dropped), so nothing unwritten is let go, and only when
        there are twice as many, so that its cost per call stays O(1) on average."""
        h = self.history
        final = len(self._orders) - len(self._open)
        if final > 2 * h:
            self._retire(final - h)
        if len(self._issued) > 2 * h:
            # An order not yet worked still needs its quote (a market order fills from it).
            pinned = {o.req.quote_id: self._issued.get(o.req.quote_id) for o in self._open.values()}
            newest = dict(list(self._issued.items())[-h:])
            self._issued = {**{k: q for k, q in pinned.items() if q is not None}, **newest}
        if len(self._events) > 2 * h:
            del self._events[:-h]

    def _retire(self, n: int) -> None:
        """The n oldest final orders (by submission) shrink to their last report."""
        for coid, o in list(self._orders.items()):
            if n == 0:
                return
            if coid not in self._open:
                del self._orders[coid]
                self._retired[coid] = o.report(fills=tuple(o.fills))
                n -= 1

    def _commit(self, force: bool = False) -> None:
        if self._state is None:
            return  # in memory (or closed): nothing to write
        if not (self._ch or force):
            return
        if self._config_json is None:
            self._config_json = self.config.model_dump(mode="json")
        self._ch.meta.update(
            config=self._config_json, seq=self._seq, rngs={s: g.bit_generator.state for s, g in self._rngs.items()},
            bars={s: dump(b) for s, b in self._bars.items()}, funding_done=self._funding_done, opened=self._opened,
            opened_from=self._opened_from)
        if self._log is not None and not self._log.replay:  # catching up, the state is ahead of `calls`
            self._ch.meta["calls"] = self._log.calls
        acked = None
        if self._acked != self._acked_saved:
            acked = self._ch.meta["acked"] = self._acked_saved = self._acked
        self._state.flush(self._ch, self.ledger.cash, self._log.take() if self._log else (), acked)
        self._ch = Changes()
        self._trim()

    def _restore(self, meta: dict) -> None:
        st = self._state
        fills: dict[str, list[Fill]] = {}
        for (body,) in st.rows("SELECT body FROM fills ORDER BY rowid"):
            f = load_fill(json.loads(body))
            fills.setdefault(f.client_order_id, []).append(f)
        for row in st.rows("SELECT client_order_id, seq, status, active_at, reason, filled_qty, bars_worked, "
                           "triggered, updated_ts, request FROM orders ORDER BY seq"):
            coid, seq, status, active_at, reason, filled, worked, trig, upd, req = row
            o = WorkingOrder(load_request(json.loads(req)), seq, S(status), active_at, reason or "", filled, worked,
                             bool(trig), upd, fills.get(coid, []))
            self._orders[coid] = o
            if o.working:
                self._open[coid] = o
        rows = st.rows("SELECT symbol, body FROM positions")
        self.ledger.positions = {s: load_position(json.loads(b)) for s, b in rows}
        self.ledger.cash.update({Domain(d): c for d, c in st.rows("SELECT domain, cash FROM balances")})
        self._issued = {i: load_quote(json.loads(b)) for i, b in st.rows("SELECT snapshot_id, body FROM quotes")}
        self._seq = meta.get("seq", 0)
        # A file from before the per-symbol streams has one `rng` for all: its symbols start afresh.
        for symbol, state in meta.get("rngs", {}).items():
            self._stream(symbol).bit_generator.state = state
        self._bars = {s: load_bar(b) for s, b in meta.get("bars", {}).items()}
        self._funding_done = dict(meta.get("funding_done", {}))
        self._opened = dict(meta.get("opened", {}))
        # A file from before `opened_from`: an order sent at that open works from the next bar, as then.
        self._opened_from = {s: meta.get("opened_from", {}).get(s, ts) for s, ts in self._opened.items()}
        if "funded" in meta:  # else a file from before `fund`: its config's balances, as __init__ set
            self._funded = {Domain(d) for d in meta["funded"]}
        rows = st.rows("SELECT kind, ts, symbol, detail FROM events ORDER BY seq")
        self._events = [VenueEvent(kind, ts, symbol, json.loads(detail)) for kind, ts, symbol, detail in rows]

