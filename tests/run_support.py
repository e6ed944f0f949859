"""Drive real `engine run` replays in-process and check safety invariants on every event.

Two observation points, both test doubles that only watch:
- `CheckingVenue` wraps the paper venue: every submit, amend, cancel and bar goes
  through it, so it sees each order the engine sends and each answer it gets;
- `CheckingSink` wraps the interpreter's audit sink: the checks run again after
  every audit record (every transition of every machine instance).

`Checker` holds the invariants; `drive` runs a `Scenario` (data slice, venue
settings, operator commands and stop moves at given bars) through the real
Runner and returns the checker with any violations and the events before them.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from adapters.base import VenueReport
from engine.domain import OrderRequest, Role, Side

ROOT = Path(__file__).resolve().parents[1]
ENV = "invariants"  # the run env of these tests: env `paper` plus a wallet that can trade every domain
TOL = 1e-9
SPOT_RUN = """
durability: {durability}
checkpoint_every: 7
data:
  crypto_spot:
    datasets: [crypto_spot/ETH_BTC-5m]
    primary: 15m
    confirm: 5m
venue: {{partial_fill_prob: 0.3}}
"""  # a run config the crash tests start `engine run` on: one spot data set, a checkpoint every 7 rows
EVENTS_PER_STEP = 3000  # a bar's step makes 3-50 events; far more means a loop (a timer re-armed in the past)
WRITE_AHEAD_READS = 8  # durability-full submits per run whose intent is looked up through a second connection


class RunawayRun(AssertionError):
    """The run stopped making progress through its bars."""


# Bundled datasets that trade with the default strategies: domain, primary and confirmation timeframes.
DATASETS: dict[str, tuple[str, str, str]] = {
    "crypto_spot/ETH_BTC-5m": ("crypto_spot", "15m", "5m"),
    "crypto_spot/LTC_BTC-5m": ("crypto_spot", "15m", "5m"),
    "crypto_spot/ADA_BTC-5m": ("crypto_spot", "15m", "5m"),
    "crypto_perp/BTC-PERP-1m": ("crypto_perp", "15m", "5m"),
    "crypto_perp/XRP-PERP-5m": ("crypto_perp", "15m", "5m"),  # with real funding rates
    "forex/GBPUSD-1m": ("forex", "15m", "5m"),
    "forex/USDJPY-1m": ("forex", "15m", "5m"),
}


# -- specs, config, data ---------------------------------------------------------------
def write_env_override(folder: Path, wallet: float, values: dict | None = None) -> Path:
    """specs/overrides/env_paper.yaml under env `invariants` (declared beside it), plus the paper
    wallet and any other machine parameters in `values` ({machine: {param: value}}).

    With the spec default wallet (1000) only BTC-quoted spot clears the venues' minimum
    lots; a bigger wallet lets perps and forex (the domains that go short) trade too.
    """
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    doc = yaml.load((ROOT / "specs/overrides/env_paper.yaml").read_text(encoding="utf-8"))
    doc["key"] = ENV
    doc["values"]["rollout"] = {"paper_wallet_usd": wallet}
    for machine, params in (values or {}).items():
        doc["values"].setdefault(machine, {}).update(params)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "env_invariants.yaml", "w", encoding="utf-8") as f:
        yaml.dump(doc, f)
    envs = {"kind": "environments", "environments": {ENV: "the run env of the tests under tests/"}}
    with open(folder / "environments_tests.yaml", "w", encoding="utf-8") as f:  # a run may select only a declared env
        yaml.dump(envs, f)
    return folder


TIGHT_KILL = {"kill_modes": {"daily_loss_limit": 0.001, "max_drawdown": 0.004, "max_consecutive_losses": 2}}


@functools.cache
def specset(override_dir: str):
    from engine.run.session import load_specset

    return load_specset([str(ROOT / "specs"), override_dir])


@functools.cache
def base_config():
    from engine.run.config import load_config

    return load_config()


# Too short for the default strategies' fit window (a week of bars): traded by a scenario's
# flips alone (Scenario.flip_every), for the real funding rates that cover them.
UNFITTED = frozenset({"crypto_perp/XRP-PERP-5m"})


@functools.cache
def full_series(dataset: str, atr_window: int):
    from engine.run.config import DomainData
    from engine.run.market import load_series

    _, primary, confirm = DATASETS[dataset]
    if dataset in UNFITTED:
        return _unfitted_series(dataset, DomainData(primary=primary, confirm=confirm), atr_window)
    cfg = base_config()
    use = cfg.strategy.model_copy(update={"file": str(ROOT / "specs" / "strategies" / f"{cfg.strategy.spec}.yaml")})
    return load_series(dataset, DomainData(primary=primary, confirm=confirm), use, atr_window)


def _unfitted_series(dataset: str, dd, atr_window: int):
    """The series load_series makes, with no strategy signal (all flat) and no confirmation."""
    import numpy as np
    import pandas as pd

    from engine.data import sources
    from engine.data.bars import epoch_seconds
    from engine.data.resample import multi_timeframe
    from engine.domain import Domain
    from engine.run.market import Series, atr

    meta = sources.describe(dataset, dd.store)
    df = multi_timeframe(sources.load(dataset, dd.store), dd.primary, dd.confirm)
    ts = epoch_seconds(df.index) + pd.Timedelta(dd.primary).total_seconds()
    return Series(meta.symbol, Domain(meta.domain), ts, *(df[c].to_numpy(dtype=float) for c in
                  ("open", "high", "low", "close", "volume")), None, None, np.zeros(len(df)), np.zeros(len(df)),
                  atr(df, atr_window), atr_window)


def window(s, offset: int, bars: int):
    """The series cut to `bars` tradable bars starting `offset` bars after its fit window."""
    lo = min(s.start + offset, len(s) - 1)
    hi = min(len(s), lo + bars)
    cut = {f.name: getattr(s, f.name)[:hi] for f in dataclasses.fields(s)
           if f.name in ("ts", "open", "high", "low", "close", "volume", "bid", "ask", "sides", "signal", "confirm",
                         "atr")
           and getattr(s, f.name) is not None}
    return dataclasses.replace(s, **cut, start=lo)


# -- the scenario ----------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    stage: int
    datasets: tuple[str, ...]
    offset: int
    bars: int  # per series
    seed: int
    partial_fill_prob: float
    slippage_bps: float
    max_hold_s: float
    commands: tuple[tuple[int, str], ...] = ()  # (bar, kill command) posted to the control channel
    stop_moves: tuple[tuple[int, float], ...] = ()  # (bar, fraction of the stop distance; > 0 tightens)
    price_updates: bool = False  # feed the brackets' breakeven/trailing rules every bar
    size_pct: float | None = None  # overrides risk.yaml's base and canary size, so that the caps bind
    max_concurrent: int | None = None  # overrides risk.yaml's max_concurrent_positions, so that it binds
    durability: str = "batch"  # full: a store write (and a credit) per fill; batch: at checkpoints
    flip_every: int = 0  # > 0: a seeded random target (long/flat/short) held ~this many bars replaces
    #                      the strategy's, so that a few hundred bars see many entries and exits
    late_reports: bool = False  # the venue reports each bar whole, exits first (LateReportingVenue)
    limits: tuple[tuple[str, Any], ...] = ()  # risk.yaml `limits` overrides, so that a cap (or the venue's
    #                                            funds check behind a loosened chain) binds


# -- observation points ----------------------------------------------------------------
class Notes:
    """A progress display that keeps the notes printed above the bar."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def advance(self, n: int) -> None:
        pass

    def note(self, text: str) -> None:
        self.notes.append(text)


class CheckingVenue:
    """The paper venue, watched: each engine call is checked before and after it runs."""

    def __init__(self, inner: Any, checker: "Checker") -> None:
        self._inner, self._checker = inner, checker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def submit(self, req: OrderRequest) -> VenueReport:
        self._checker.check_write_ahead(req)
        self._checker.before_submit(req)
        cash = self._inner.balances()
        report = self._inner.submit(req)
        self._checker.own_domain_only(req.symbol, cash, f"submit {req.client_order_id}")
        self._checker.after_submit(req, report)
        return report

    def amend(self, client_order_id: str, price: float | None = None, qty: float | None = None) -> VenueReport:
        report = self._inner.amend(client_order_id, price=price, qty=qty)
        self._checker.event(f"venue.amend {client_order_id} price={price} qty={qty} -> "
                            f"{report.status.value} {report.reason}")
        return report

    def cancel(self, client_order_id: str) -> VenueReport:
        report = self._inner.cancel(client_order_id)
        self._checker.event(f"venue.cancel {client_order_id} -> {report.status.value} {report.reason}")
        return report

    def open_bar(self, bar) -> list[VenueReport]:
        before, cash = self._inner.ledger.qty(bar.symbol), self._inner.balances()
        reports = self._inner.open_bar(bar)
        self._checker.own_domain_only(bar.symbol, cash, f"open of a {bar.symbol} bar")
        self._checker.after_bar(bar, reports, before, self._inner.ledger.qty(bar.symbol))
        return reports

    def on_bar(self, bar) -> list[VenueReport]:
        before, cash = self._inner.ledger.qty(bar.symbol), self._inner.balances()
        reports = self._inner.on_bar(bar)
        self._checker.own_domain_only(bar.symbol, cash, f"{bar.symbol} bar")
        self._checker.after_bar(bar, reports, before, self._inner.ledger.qty(bar.symbol))
        return reports


class LateReportingVenue:
    """The paper venue as a stream that reports a bar only once it is over, its exits' reports
    before its entries': nothing at the open to answer, so a stop can fill before the engine
    hears of the entry fill it should have covered (the paper venue's order before it worked a
    bar in time order; a live stream may do the same). The fail-closed close-out of an entry
    fill that comes after its bracket closed (`late_entry_fill`) is reached this way."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_bar(self, bar) -> list[VenueReport]:
        return []

    def on_bar(self, bar) -> list[VenueReport]:
        reports = self._inner.on_bar(bar)  # the whole bar
        orders = self._inner._orders
        return sorted(reports, key=lambda r: r.client_order_id in orders
                      and orders[r.client_order_id].req.role is Role.ENTRY)


class CheckingSink:
    """The interpreter's audit sink, with the invariants checked after every record."""

    def __init__(self, inner: Any, checker: "Checker") -> None:
        self.inner, self.checker = inner, checker

    def write(self, record) -> None:
        self.inner.write(record)
        self.checker.event(f"audit {record.machine}:{record.instance_id} {record.kind} "
                           f"{record.source}->{record.target} on {record.event}")
        if record.event == "flattened" and record.kind == "transition":
            self.checker.check_flat()

    def flush(self) -> None:
        self.inner.flush()


# -- the invariants --------------------------------------------------------------------
@dataclass
class Checker:
    """Safety invariants of a run, checked at every event.

    Stop grace (two-step placement): an entry is sent bare and its legs go out when the
    engine processes the venue's fill report, within the same bar. A symbol whose entry
    filled (or whose position grew) in this bar's `venue.on_bar` is in grace until the end
    of that bar's step. A stop the engine cancels gets none: an exit keeps the stop working
    until its close has flattened the position (the venue may refuse the close). Outside
    grace, and unconditionally at the end of every step, each open position must be
    covered by working reduce-only orders on the other side: its stop-loss, or a market
    exit, which is stronger (it fills on the next bar whatever the price, a stop only if
    touched).
    """

    runner: Any = None
    events: deque = field(default_factory=lambda: deque(maxlen=60))
    violations: dict[str, list[str]] = field(default_factory=dict)  # rule -> first few, with the events before
    grace: set[str] = field(default_factory=set)
    stop_best: dict[str, tuple[Side, float]] = field(default_factory=dict)  # stop order -> (side, tightest)
    credit_seq: int = 0
    store_dirty: bool = False  # a fill since the last look at the store
    step_events: int = 0
    entries: set[str] = field(default_factory=set)  # client_order_ids of the entries sent
    counts: dict[str, int] = field(default_factory=dict)
    sized: list[tuple] = field(default_factory=list)  # entries sent whose risk at the stop is not yet checked
    day: Any = None  # the run's day (Runner._day) that `day_risk` counts
    day_risk: dict[Any, float] = field(default_factory=dict)  # domain -> risk at the stop of today's entries
    steps: int = 0
    flatten_from: int | None = None  # the step at whose end the kill machine was first seen flattening
    unfunded: str = ""  # why the entry being submitted exceeds its wallet's free funds ("" if it does not)
    write_ahead_reads: int = 0  # submits looked up through a second connection (the first WRITE_AHEAD_READS)
    legs: dict[str, str] = field(default_factory=dict)  # take-profit and stop-loss orders -> their bracket
    leg_filled: dict[str, str] = field(default_factory=dict)  # bracket -> its leg that filled in full
    _busy: bool = False

    # -- plumbing --------------------------------------------------------------
    @property
    def venue(self):
        return self.runner.session.venue._inner

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def fail(self, rule: str, text: str) -> None:
        seen = self.violations.setdefault(rule, [])
        if len(seen) < 3 and not any(v.startswith(text) for v in seen):
            trail = "\n    ".join(self.events)
            seen.append(f"{text}\n  at bar {self.runner.bars} of the run, after these events (oldest first):"
                        f"\n    {trail}")

    def report(self, rule: str) -> str:
        return f"{rule}: " + "\n\n".join(self.violations.get(rule, []))

    def event(self, label: str) -> None:
        self.events.append(label)
        if self.runner is None or self._busy:
            return
        self.step_events += 1
        if self.step_events > EVENTS_PER_STEP:
            raise RunawayRun(f"{self.step_events} events in bar {self.runner.bars}'s step: the engine is looping; "
                             "last events:\n    " + "\n    ".join(self.events))
        self._busy = True  # the checks read the store and the venue; nothing they do is an event
        try:
            self._count("events")
            self.check_stops(strict=False)
            self.check_stop_never_widens()
            self.check_balances()
        finally:
            self._busy = False

    # -- venue hooks -------------------------------------------------------------
    def check_write_ahead(self, req: OrderRequest) -> None:
        """Write-ahead (issue 3 s8): the venue hears of an order only once its intent is recorded.
        Durability `full` (engine/exec/ledger.py StoreLedger) commits the intent before the call:
        a second, read-only connection on the same store already sees the order's row and its
        `intent` journal entry (looked up for the first WRITE_AHEAD_READS submits of a run; a
        connection each costs time). Durability `batch` (BufferedLedger) documents that nothing is
        committed until the next checkpoint, where orders, fills and snapshots land together, so
        there the intent must only be in the ledger's buffer already."""
        from engine.exec.ledger import BufferedLedger
        from state.store import Store

        oid, ledger = req.client_order_id, self.runner.session.execution.ledger
        self._count("write-ahead checks")
        if isinstance(ledger, BufferedLedger):
            if oid not in ledger.rows:
                self.fail("write-ahead", f"the venue was called with {oid} before its intent was recorded")
            return
        if self.write_ahead_reads >= WRITE_AHEAD_READS:
            return
        self.write_ahead_reads += 1
        url = self.runner.session.store.engine.url.render_as_string(hide_password=False)
        reader = Store.open_readonly(url)
        try:
            row, intents = reader.order(oid), reader.journal_entries(kind="intent", key=oid, limit=1)
        finally:
            reader.close()
        if row is None or not intents:
            self.fail("write-ahead", f"the venue was called with {oid} before its intent was committed "
                                     f"(order row {'stored' if row else 'missing'}, intent journal entry "
                                     f"{'stored' if intents else 'missing'}, read through a second connection)")

    def before_submit(self, req: OrderRequest) -> None:
        if req.role is Role.ENTRY:
            self.check_close_only(req)
            self.check_entry_limits(req)
            self.check_sized()
            self.size_entry(req)
            self.unfunded = self.unfunded_by(req)

    def after_submit(self, req: OrderRequest, report: VenueReport) -> None:
        if req.role in (Role.TAKE_PROFIT, Role.STOP_LOSS) and req.parent_id:
            self.legs[req.client_order_id] = req.parent_id
        if req.role is Role.STOP_LOSS:
            self.stop_from_bracket(req)
        if req.role is Role.ENTRY:
            self.entries.add(req.client_order_id)
            if self.unfunded and report.status.value != "rejected":
                self.fail("wallet", f"the venue took entry {req.client_order_id} ({req.symbol} {req.side.value} "
                                    f"{req.qty:g}), which {self.unfunded}")
        self.event(f"venue.submit {req.client_order_id} {req.symbol} {req.role.value} {req.side.value} "
                   f"{req.type.value} qty={req.qty:g} price={req.price} -> {report.status.value} {report.reason}")

    def after_bar(self, bar, reports: list[VenueReport], before: float, after: float) -> None:
        self.store_dirty |= any(r.fills for r in reports)
        for r in reports:
            if r.status.value == "filled" and r.client_order_id in self.legs:
                self.leg_filled.setdefault(self.legs[r.client_order_id], r.client_order_id)
                self._count("legs filled in full")
        self.check_no_entry_fills_in_close_only(reports)
        entered = any(r.fills and r.client_order_id in self.entries for r in reports)
        if entered or abs(after) > abs(before) + TOL or before * after < 0:
            self.grace.add(bar.symbol)  # new units: their legs go out as the engine reads the fills
        self.event(f"venue.on_bar {bar.symbol} ts={bar.ts:.0f} o={bar.open:g} h={bar.high:g} l={bar.low:g} "
                   f"c={bar.close:g}: " + "; ".join(f"{r.client_order_id} {r.status.value} "
                                                  f"{' '.join(f'{f.qty:g}@{f.price:g}' for f in r.fills)}"
                                                  for r in reports))

    def end_of_step(self) -> None:
        self.grace.clear()
        self.step_events = 0
        self.steps += 1
        self.event("end of step")
        self._busy = True
        try:
            self.check_sized()
            self.check_stops(strict=True)
            self.check_flatten_closes()
            self.check_oco()
            self.check_books_agree()
            if self.store_dirty:
                self.check_store_wallets()
        finally:
            self._busy = False

    # -- 1. no open position without a working stop --------------------------------
    def check_stops(self, strict: bool) -> None:
        orders = self.venue.open_orders()
        for p in self.venue.positions():
            if abs(p.qty) <= TOL or (not strict and p.symbol in self.grace):
                continue
            self._count("positions checked")
            closing = Side.SELL if p.qty > 0 else Side.BUY
            cover = sum(o.request.qty - o.filled_qty for o in orders
                        if o.request.symbol == p.symbol and o.request.side is closing
                        and o.request.role in (Role.STOP_LOSS, Role.EXIT)
                        and (o.request.role is Role.EXIT or o.request.reduce_only))
            if cover < abs(p.qty) * (1 - 1e-9) - TOL:
                self.fail("stop", f"{p.symbol} position {p.qty:.12g} is covered by working stops/exits for only "
                                  f"{cover:.12g}" + (" at the end of the bar's step" if strict else ""))

    # -- 1a. one cancels the other -------------------------------------------------------------
    def check_oco(self) -> None:
        for o in self.venue.open_orders():
            parent = self.legs.get(o.request.client_order_id)
            filled = self.leg_filled.get(parent) if parent is not None else None
            if filled is not None and filled != o.request.client_order_id:
                self.fail("oco", f"{o.request.symbol} {o.request.role.value} {o.request.client_order_id} works on "
                                 f"after its sibling {filled} filled in full")

    # -- 1b. `flattened` means flat --------------------------------------------------------
    def check_flat(self) -> None:
        """The kill machine hears `flattened` only once no position is left at the venue."""
        held = [f"{p.symbol} {p.qty:.12g}" for p in self.venue.positions() if abs(p.qty) > TOL]
        if held:
            self.fail("flattened", f"`flattened` sent with positions open: {', '.join(held)}")

    def check_flatten_closes(self) -> None:
        """A flatten closes every position in every domain: from the end of the step after the kill
        machine was first seen in `flatten_all` on, each open position is covered by working
        reduce-only closes (exits), or its bracket is flattening (a close the venue refused is
        re-sent at each bar). Checked at the end of each step."""
        if self.runner.session.kill.state != "flatten_all":
            self.flatten_from = None
            return
        if self.flatten_from is None:
            self.flatten_from = self.steps
            return
        orders = self.venue.open_orders()
        flattening = {b.symbol for b in self.runner.session.execution.brackets.values()
                      if b.instance.state == "flattening"}
        for p in self.venue.positions():
            if abs(p.qty) <= TOL or p.symbol in flattening:
                continue
            self._count("positions checked in a flatten")
            closing = Side.SELL if p.qty > 0 else Side.BUY
            out = sum(o.request.qty - o.filled_qty for o in orders if o.request.symbol == p.symbol
                      and o.request.side is closing and o.request.role is Role.EXIT)
            if out < abs(p.qty) * (1 - 1e-9) - TOL:
                self.fail("flattened", f"{p.symbol} position {p.qty:.12g} has working closes for only {out:.12g}, "
                                       f"{self.steps - self.flatten_from} step(s) into a flatten, and no bracket "
                                       "flattening it")

    # -- 2. a stop is never widened ------------------------------------------------------
    def stop_from_bracket(self, req: OrderRequest) -> None:
        """A stop leg's first baseline is its bracket's stop (the one its entry was sized at), not
        the price it reached the venue at: a leg sent wider than that is widened from the start."""
        handle = self.runner.session.execution.orders.get(req.client_order_id)
        if handle is not None and handle.bracket is not None:
            self.stop_best.setdefault(req.client_order_id, (req.side, float(handle.bracket.instance.ctx["stop"])))

    def check_stop_never_widens(self) -> None:
        for o in self.venue.open_orders():
            r = o.request
            if r.role is not Role.STOP_LOSS or r.price is None:
                continue
            side, best = self.stop_best.get(r.client_order_id, (r.side, r.price))
            # a sell stop protects a long: it may only rise; a buy stop protects a short: only fall
            wider = r.price < best - TOL * best if side is Side.SELL else r.price > best + TOL * best
            if wider:
                self.fail("stop_widened", f"{r.symbol} {r.client_order_id}: {side.value} stop moved from {best:g} "
                                          f"to {r.price:g}, away from the market")
            tight = max(best, r.price) if side is Side.SELL else min(best, r.price)
            if r.client_order_id in self.stop_best and tight != best:
                self._count("stop tightenings")
            self.stop_best[r.client_order_id] = (side, tight)

    # -- 3. wallets ---------------------------------------------------------------
    def check_balances(self) -> None:
        for dom, cash in self.venue.balances().items():
            if cash < -TOL:
                self.fail("wallet", f"venue cash of {dom.value} is {cash:g}")
        for dom, book in self.runner.session.books.items():
            if book.balance < -TOL:
                self.fail("wallet", f"in-memory {dom.value} balance is {book.balance:g}")

    def own_domain_only(self, symbol: str, before: dict, what: str) -> None:
        """A venue call for one symbol (a submit, a bar: its fills, its funding) moves the cash of
        that symbol's domain only: no domain pays for another's."""
        dom = self.venue.catalogue.get(symbol).domain
        for d, cash in self.venue.balances().items():
            if d is not dom and not _close(cash, before.get(d, 0.0)):
                self.fail("wallet", f"the {what} ({dom.value}) moved {d.value}'s venue cash "
                                    f"{before.get(d, 0.0)!r} -> {cash!r}")

    def unfunded_by(self, req: OrderRequest) -> str:
        """Whether an entry needs more than its wallet has free: its margin (notional / the venue's
        leverage) and fee against the domain's cash less the margin of its positions (at entry)
        and of the entries it still works (adapters/paper/config.py). A wallet commits no more
        than it holds."""
        if req.reduce_only:
            return ""
        venue = self.venue
        inst = venue.catalogue.get(req.symbol)
        dom, cfg = inst.domain, venue.config
        lev = cfg.leverage[dom]
        q = venue.quote(req.symbol)
        price = req.price if req.price is not None else (q.ask if req.side is Side.BUY else q.bid)
        notional = req.qty * price * inst.multiplier
        need = notional / lev + notional * cfg.taker_fee_bps[dom] / 1e4
        used = sum(abs(p.qty) * p.avg_price * venue.catalogue.get(p.symbol).multiplier / lev
                   for p in venue.positions() if p.domain is dom)
        for o in venue.open_orders():
            r = o.request
            i = venue.catalogue.get(r.symbol)
            if r.role is Role.ENTRY and not r.reduce_only and i.domain is dom:
                at = r.price if r.price is not None else venue._bars[r.symbol].close  # a market entry: the last close
                used += (r.qty - o.filled_qty) * at * i.multiplier / lev
        free = venue.balances()[dom] - used
        return f"needs {need:.6g} (margin + fee) with {free:.6g} free" if need > free * (1 + 1e-9) + 1e-6 else ""

    def check_store_wallets(self) -> None:
        """The store's money changes only when the engine books a fill (durability `full`)
        or writes a checkpoint (`batch`): checked after every step with a fill and every
        checkpoint."""
        self.store_dirty = False
        ses = self.runner.session
        for w in ses.store.wallets():
            if w.balance < -TOL:
                self.fail("wallet", f"stored {w.domain}/{w.mode} wallet is {w.balance:g}")
        self.check_credits()

    def check_credits(self) -> None:
        """Every stored credit (durability `full` books one per fill) names a fill of an
        order of the same domain, and moves exactly that fill's realised P&L."""
        store = self.runner.session.store
        for c in store.journal_entries(kind="credit", after_seq=self.credit_seq):
            self.credit_seq = max(self.credit_seq, c.seq)
            self._count("credits")
            domain = c.key.split("/", 1)[0]
            if c.reason.startswith("funding "):
                self._check_funding_credit(store, c, domain)
                continue
            fill_id = c.reason.removeprefix("fill ") if c.reason.startswith("fill ") else None
            fill = next(iter(store.journal_entries(kind="fill", key=fill_id)), None) if fill_id else None
            order = store.order(fill.payload["client_order_id"]) if fill else None
            if order is None:
                self.fail("wallet", f"credit of {c.payload['amount']:g} to {c.key} cites no stored fill: {c.reason!r}")
            elif order.domain != domain:
                self.fail("wallet", f"{c.key} credited {c.payload['amount']:g} for fill {fill_id} of a "
                                    f"{order.domain} order")
            elif not _close(c.payload["amount"], fill.payload["realized_pnl"]):
                self.fail("wallet", f"{c.key} credited {c.payload['amount']:g} for fill {fill_id}, whose "
                                    f"P&L is {fill.payload['realized_pnl']:g}")

    def _check_funding_credit(self, store: Any, c: Any, domain: str) -> None:
        """A funding credit names its funding row (`funding SYMBOL@ts`), of its own domain, and
        moves minus what that row says the position paid."""
        key = c.reason.removeprefix("funding ")
        row = next(iter(store.journal_entries(kind="funding", key=key)), None)
        if row is None or row.payload["domain"] != domain:
            self.fail("wallet", f"credit of {c.payload['amount']:g} to {c.key} cites no {domain} funding: {c.reason!r}")
        elif not _close(c.payload["amount"], -row.payload["paid"]):
            self.fail("wallet", f"{c.key} credited {c.payload['amount']:g} for funding {key}, which paid "
                                f"{row.payload['paid']:g}")

    def check_store_conserves(self) -> None:
        """Each stored wallet holds its start balance plus the P&L of the stored fills of its
        own domain's orders, replayed in order, less the funding its perps paid: money enters
        a wallet only through its fills and its funding."""
        from state.ledger import Book, apply_fill

        store = self.runner.session.store
        self._count("store audits")
        orders = {o.client_order_id: o for o in store.orders()}
        mult = {i.symbol: i.multiplier for i in self.venue.catalogue}
        books: dict[str, Book] = {}
        pnl: dict[tuple[str, str], float] = {}
        for f in store.fills():
            o = orders.get(f.client_order_id)
            if o is None:
                self.fail("wallet", f"stored fill {f.fill_id} belongs to no stored order")
                continue
            books[f.symbol], p = apply_fill(books.get(f.symbol, Book()), Side(f.side), f.qty, f.price, f.fee, f.ts,
                                            mult.get(f.symbol, 1.0))
            pnl[(o.domain, o.mode)] = pnl.get((o.domain, o.mode), 0.0) + p
        for r in store.journal_entries(kind="funding"):  # perp funding: the other way money moves
            k = (r.payload["domain"], r.payload["mode"])
            pnl[k] = pnl.get(k, 0.0) - r.payload["paid"]
        for w in store.wallets():
            want = w.start_balance + pnl.pop((w.domain, w.mode), 0.0)
            if not _close(w.balance, want):
                self.fail("wallet", f"stored {w.domain}/{w.mode} wallet is {w.balance!r}, but its start and its "
                                    f"own fills make {want!r}")
        for (dom, mode), p in pnl.items():
            self.fail("wallet", f"fills of {dom}/{mode} orders made {p:g} with no {dom}/{mode} wallet to hold it")
        held = {(p.symbol, p.domain): p.qty for p in store.positions()}
        for sym, b in books.items():
            dom = self.venue.catalogue.get(sym).domain.value
            if not _close(held.get((sym, dom), 0.0), b.qty):
                self.fail("wallet", f"stored position {sym} is {held.get((sym, dom), 0.0):g}, its fills make {b.qty:g}")

    def check_store_orders(self) -> None:
        """At a checkpoint each stored order's status follows the venue's: final with the very
        same status once the venue is done with it (filled, canceled, expired, rejected),
        not final while the venue still works it; so `engine status` lists no dead order.
        Its qty and price are the venue's too: as conformed at submit, and after each amend."""
        from state.models import TERMINAL

        for o in self.runner.session.store.orders():
            report = self.venue.order_status(o.client_order_id)
            if report is None:
                continue  # an intent the venue never heard of: reconciliation's business
            venue, stored = report.status.value, o.status
            if venue in TERMINAL and stored != venue:
                self.fail("store_orders", f"{o.client_order_id} ({o.role}) is {venue} at the venue, stored {stored}")
            elif venue not in TERMINAL and stored in TERMINAL:
                self.fail("store_orders", f"{o.client_order_id} ({o.role}) still works at the venue ({venue}), "
                                          f"stored {stored}")
            if (o.qty, o.price) != (report.qty, report.price):  # amended, or snapped by the clamp
                self.fail("store_orders", f"{o.client_order_id} ({o.role}) is {report.qty!r} @ {report.price!r} "
                                          f"at the venue, stored {o.qty!r} @ {o.price!r}")

    def check_books_agree(self) -> None:
        """At a bar's end the in-memory books and the venue hold the same money and positions."""
        ses = self.runner.session
        cash = self.venue.balances()
        for dom, book in ses.books.items():
            if not _close(book.balance, cash[dom]):
                self.fail("ledger", f"{dom.value}: book balance {book.balance!r}, venue cash {cash[dom]!r}")
        for dom in set(cash) - set(ses.books):
            start = self.venue.config.starting_balance.get(dom, 0.0)
            if not _close(cash[dom], start):
                self.fail("wallet", f"{dom.value} is not traded in this run but its venue cash moved "
                                    f"{start:g} -> {cash[dom]:g}")
        held = {p.symbol: p.qty for p in self.venue.positions()}
        mine = {sym: pos.qty for book in ses.books.values() for sym, pos in book.positions.items()}
        for sym in set(held) | set(mine):
            if not _close(mine.get(sym, 0.0), held.get(sym, 0.0)):
                self.fail("ledger", f"{sym}: the engine's book holds {mine.get(sym, 0.0):g}, the venue "
                                    f"{held.get(sym, 0.0):g}")

    # -- 4. a trade is its bracket's fills --------------------------------------------
    def check_trades(self) -> None:
        """Each closed trade holds its bracket's fills: its entry order's, and those of every
        order sent for it (legs, exits, the close-out of a late entry fill), all units out,
        their fees and its funding. With nothing open, the trades' P&L is what the wallets
        moved by. Read from the store at a checkpoint (every fill is stored by then)."""
        runner = self.runner
        store, ex = runner.session.store, runner.session.execution
        entry_of = {o.client_order_id: o.parent_id or o.client_order_id for o in store.orders()}
        fills: dict[str, list] = {}  # entry order id -> the fills of its bracket's orders
        for f in store.fills():
            fills.setdefault(entry_of.get(f.client_order_id, f.client_order_id), []).append(f)
        mult = {i.symbol: i.multiplier for i in self.venue.catalogue}
        self.counts["late entry fills"] = len(store.journal_entries(kind="late_entry_fill"))
        for t in runner.trades:
            self._count("trades checked")
            self._check_trade(t, fills.get(t.client_order_id, []), mult.get(t.symbol, 1.0))
        # Nothing open: no bracket, no working order (a closed bracket's may still fill), no position.
        flat = not ex.brackets and not self.venue.open_orders() and all(abs(p.qty) <= TOL for p in store.positions())
        if not flat:
            return
        self._count("flat checkpoints")
        for w in store.wallets():
            made = sum(t.pnl for t in runner.trades if (t.domain, t.mode) == (w.domain, w.mode))
            if not math.isclose(w.balance - w.start_balance, made, rel_tol=1e-9, abs_tol=1e-6):
                self.fail("trades", f"{w.domain}/{w.mode}: nothing is open, the wallet moved "
                                    f"{w.balance - w.start_balance!r} and its trades' P&L is {made!r}")

    def _check_trade(self, t: Any, own: list, mult: float) -> None:
        ins = [f for f in own if f.client_order_id == t.client_order_id]
        outs = [f for f in own if f.client_order_id != t.client_order_id]
        q_in, q_out = sum(f.qty for f in ins), sum(f.qty for f in outs)
        paid, got = sum(f.qty * f.price for f in ins), sum(f.qty * f.price for f in outs)
        fees = sum(f.fee for f in own)
        pnl = Side(t.side).sign * (got - paid) * mult - fees - t.funding
        tol = 1e-9 * max(1.0, paid * mult)  # the trade prices by average prices, this by sums
        name = f"trade {t.symbol} {t.side} entered {t.entry_ts:.0f} ({t.client_order_id}, {t.exit_reason})"
        if not _close(q_in, q_out) or not _close(t.qty, q_in):
            self.fail("trades", f"{name}: records {t.qty:g} units, its fills enter {q_in:g} and exit {q_out:g}")
        elif not math.isclose(t.pnl, pnl, abs_tol=tol) or not math.isclose(t.fees, fees, abs_tol=tol):
            self.fail("trades", f"{name}: P&L {t.pnl!r} (fees {t.fees!r}), its {len(own)} fills make "
                                f"{pnl!r} (fees {fees!r})")

    # -- 5. caps at every approved entry ------------------------------------------
    def check_entry_limits(self, req: OrderRequest) -> None:
        """Against the venue's view: positions, and every entry it still works (sent, not yet
        filled), which will be a position too. Counting filled positions only, two entries sent
        before either fills would pass a cap of one unseen."""
        runner = self.runner
        ses, lim, sizing = runner.session, runner.risk.limits, runner.risk.sizing
        inst = self.venue.catalogue.get(req.symbol)
        book = ses.books[inst.domain]
        self._count("entries checked")
        q = self.venue.quote(req.symbol)
        price = req.price if req.price is not None else (q.ask if req.side is Side.BUY else q.bid)
        new = req.qty * price * inst.multiplier
        eq = book.equity
        held = book.open_notional()
        for sym, working in self._working_entries(inst.domain, book.marks).items():
            held[sym] = held.get(sym, 0.0) + working
        have_pair, have_all = held.get(req.symbol, 0.0), sum(held.values())
        dom = inst.domain.value
        checks = [
            ("exposure_pair", have_pair + new, lim.exposure_pair_pct * eq),
            ("exposure_portfolio", have_all + new, lim.exposure_portfolio_pct * eq),
            ("leverage_cap", have_all + new, lim.leverage_caps[dom] * eq),
            ("budget", new, _size_budget(book, sizing, eq, req.ts, ses.usd_rates[dom])),
        ]
        for rule, got, cap in checks:
            if got > cap * (1 + 1e-9) + TOL:
                self.fail("caps", f"{req.symbol} entry {req.client_order_id} qty {req.qty:g} @ {price:g}: "
                                  f"{rule} {got:.6g} > cap {cap:.6g} (equity {eq:.6g}, held or working {held})")
        if len(held) + (req.symbol not in held) > lim.max_concurrent_positions:
            self.fail("caps", f"{req.symbol} entry makes {len(held) + (req.symbol not in held)} positions or "
                              f"working entries {sorted(held)} (max {lim.max_concurrent_positions})")

    def size_entry(self, req: OrderRequest) -> None:
        """The daily risk budget and the sector cap as the entry is sent: its bracket's risk at the
        stop (what the run sizes it at) is known once the engine has sent it, so it is checked at
        the next entry or the end of the step (`check_sized`) against what is held now."""
        from engine.run.loop import RISK_AT_STOP

        runner = self.runner
        ses, lim = runner.session, runner.risk.limits
        dom = self.venue.catalogue.get(req.symbol).domain
        book, brackets = ses.books[dom], ses.execution.brackets.values()
        if runner._day != self.day:  # the run's day roll: a new budget
            self.day, self.day_risk = runner._day, {}
        members = next((m for m in lim.sectors.values() if req.symbol in m), [req.symbol])
        have = sum(b.extra.get(RISK_AT_STOP, 0.0) for b in brackets if b.domain is dom and b.symbol in members)
        mine = next((b for b in brackets if b.entry is not None and b.entry.id == req.client_order_id), None)
        start = book.equity if book.day_start_equity is None else book.day_start_equity
        if mine is not None:
            self.sized.append((req, mine, dom, have, lim.sector_risk_pct * book.equity,
                               lim.daily_risk_budget_pct * start))

    def check_sized(self) -> None:
        """Today's entries' risk at the stop within the daily budget's share of the day's start
        equity; the entry's sector's open risk (its brackets', working entries' included) plus
        its own within the sector cap's share of equity (specs/risk/risk.yaml)."""
        from engine.run.loop import RISK_AT_STOP

        for req, b, dom, have, cap, budget in self.sized:
            risk = b.extra.get(RISK_AT_STOP)
            if risk is None:
                continue
            spent = self.day_risk[dom] = self.day_risk.get(dom, 0.0) + risk
            self._count("entries sized")
            name = f"{req.symbol} entry {req.client_order_id} (risk at the stop {risk:.6g})"
            if spent > budget * (1 + 1e-9) + TOL:
                self.fail("caps", f"{name}: daily_risk_budget: today's risk {spent:.6g} > budget {budget:.6g}")
            if have + risk > cap * (1 + 1e-9) + TOL:
                self.fail("caps", f"{name}: sector_risk: its sector's open risk {have + risk:.6g} > cap {cap:.6g}")
        self.sized.clear()

    def _working_entries(self, domain, marks: dict[str, float]) -> dict[str, float]:
        """symbol -> unfilled notional, at the mark, of the entries the venue still works in `domain`."""
        out: dict[str, float] = {}
        for o in self.venue.open_orders():
            req = o.request
            inst = self.venue.catalogue.get(req.symbol)
            left = req.qty - o.filled_qty
            if req.role is Role.ENTRY and inst.domain is domain and left > 0:
                out[req.symbol] = out.get(req.symbol, 0.0) + left * marks.get(req.symbol, 0.0) * inst.multiplier
        return out

    # -- 6. close-only never opens ---------------------------------------------------
    def check_close_only(self, req: OrderRequest) -> None:
        kill = self.runner.session.kill
        self._count(f"entries sent in {kill.state}")
        if not kill.has_tag("opens_risk"):
            self.fail("close_only", f"entry {req.client_order_id} ({req.symbol} {req.side.value} {req.qty:g}) "
                                    f"sent to the venue while the kill machine is `{kill.state}`")


    def check_no_entry_fills_in_close_only(self, reports: list[VenueReport]) -> None:
        """Nor does an entry sent before: the kill states that stop entries (their entry raises
        kill_close_only, kill_flatten or kill_halt in specs/kill/kill_modes.yaml) cancel every
        working entry, so none fills while the machine is in one."""
        kill = self.runner.session.kill
        if kill.state not in STOPS_ENTRIES:
            return
        for r in reports:
            if r.fills and r.client_order_id in self.entries:
                self.fail("close_only", f"entry {r.client_order_id} filled {sum(f.qty for f in r.fills):g} while "
                                        f"the kill machine is `{kill.state}`")


STOPS_ENTRIES = frozenset({"close_only", "flatten_all", "halted"})  # kill states whose entry cancels entries


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _size_budget(book, sizing, equity: float, now: float, usd_rate: float) -> float:
    """The most an entry may commit: equity x size% (canary or base) x the ladder's multiplier,
    from specs/risk/risk.yaml (drawdown recovery and Kelly only ever shrink it); the ladder's
    USD steps in the wallet's currency (`usd_rate`: USD per unit of it)."""
    days = (now - book.activated_ts) / 86400  # since the canary clock last started (DomainBook.restart_canary)
    canary = book.exploited - book.canary_from < sizing.canary.trades or days * 86400 < sizing.canary.days
    pct = sizing.canary.size_pct if canary else sizing.base_size_pct
    window = sum(p for ts, p in book.recent if ts >= now - sizing.ladder.window)
    ladder = 1.0
    for step in sizing.ladder.steps:
        if window >= step.profit_usd / usd_rate:
            ladder = step.multiplier
    lo, hi = sizing.ladder.clamp
    return max(equity, 0.0) * pct * min(max(ladder, lo), hi)


# -- running a scenario ------------------------------------------------------------------
def build(sc: Scenario, work: Path, override_dir: Path, checker: Checker):
    from engine.risk.chain import RiskChain
    from engine.run.assemble import assemble
    from engine.run.optin import route

    specs = specset(str(override_dir))
    risk = specs.extra["risk"]
    cfg = base_config().model_copy(update={
        "db": str(work / "engine.db"), "env": ENV, "seed": sc.seed, "checkpoint_every": 50,
        "durability": sc.durability,
        "venue": {"partial_fill_prob": sc.partial_fill_prob, "slippage_bps": sc.slippage_bps}})
    modes = dict(specs.machines["rollout"].states[f"stage_{sc.stage}"].attrs.get("domains", {}))
    routing = route(sc.stage, modes, config_enabled=False, live_flag=False, paper_flag=True)
    series = [window(full_series(ds, risk.brackets.atr_window), sc.offset, sc.bars) for ds in sc.datasets
              if routing.modes.get(DATASETS[ds][0]) == "paper"]
    if sc.flip_every:
        series = [dataclasses.replace(s, signal=_flips(len(s), sc.flip_every, sc.seed + n))
                  for n, s in enumerate(series)]
    runner = assemble(cfg, specs, sc.stage, routing, work / "run", series=series)
    limits = runner.risk.limits.model_copy(update={"max_hold": sc.max_hold_s})
    if sc.max_concurrent is not None:
        limits = limits.model_copy(update={"max_concurrent_positions": sc.max_concurrent})
    if sc.limits:
        limits = limits.model_copy(update=dict(sc.limits))
    sizing = runner.risk.sizing
    if sc.size_pct is not None:
        canary = sizing.canary.model_copy(update={"size_pct": sc.size_pct})
        sizing = sizing.model_copy(update={"base_size_pct": sc.size_pct, "canary": canary})
    runner.risk = runner.risk.model_copy(update={"limits": limits, "sizing": sizing})
    runner.chain = RiskChain(runner.risk, runner.session.usd_rates)  # in each wallet's currency, as the run's
    ses = runner.session
    if sc.late_reports:
        ses.venue = ses.execution.venue = LateReportingVenue(ses.venue)
    ses.venue = ses.execution.venue = CheckingVenue(ses.venue, checker)
    ses.interp.sink = CheckingSink(ses.interp.sink, checker)
    checker.runner = runner
    return runner


def drive(sc: Scenario, work: Path, override_dir: Path) -> Checker:
    checker = Checker()
    runner = build(sc, work, override_dir, checker)
    ses = runner.session
    commands: dict[int, list[str]] = {}
    for bar, cmd in sc.commands:
        commands.setdefault(bar, []).append(cmd)
    moves: dict[int, list[float]] = {}
    for bar, frac in sc.stop_moves:
        moves.setdefault(bar, []).append(frac)
    step: Callable = runner.step
    checkpoint: Callable = runner.checkpoint

    def watched_checkpoint() -> None:
        checkpoint()
        checker.check_store_wallets()
        checker.check_store_conserves()
        checker.check_store_orders()
        checker.check_trades()

    def watched_step(s, i) -> None:
        n = runner.bars
        for cmd in commands.get(n, ()):
            ses.store.post_command(cmd)  # the operator's channel (what `engine kill` writes)
            runner.poll_commands()
            checker.event(f"operator {cmd} -> kill `{ses.kill.state}`")
        for frac in moves.get(n, ()):
            _move_stops(ses, frac, checker)
        step(s, i)
        if sc.price_updates:
            for b in ses.execution.open_brackets(s.symbol):
                ses.execution.post(b.instance, "price_update", {"price": float(s.close[i]), "atr": float(s.atr[i])})
            ses.execution.pump()
        checker.end_of_step()

    runner.step = watched_step
    runner.checkpoint = watched_checkpoint
    # Commands, stop moves and price updates are injected at given bars: step every bar then.
    runner.skip_quiet = not (sc.commands or sc.stop_moves or sc.price_updates)
    try:
        runner.run()
    finally:
        ses.store.close()
    checker.counts["bars"] = runner.bars
    checker.counts["trades"] = len(runner.trades)
    checker.counts.update({f"refused: {k}": v for k, v in runner.rejections.items()})
    checker.counts["venue refused"] = ses.execution.refused
    return checker


def _flips(n: int, every: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.geometric(1.0 / every, size=n)
    levels = rng.choice([-1.0, 0.0, 1.0], size=n)
    return np.repeat(levels, lengths)[:n]


def _move_stops(ses, frac: float, checker: Checker) -> None:
    """A request to move each open position's stop by `frac` of its distance to the entry, with the
    symbol's last close as the engine sends it (`engine move-stop`)."""
    execution = ses.execution
    for b in execution.open_brackets():
        ctx = b.instance.ctx
        dist = abs(ctx["entry_px"] - ctx["stop"])
        if not b.instance.has_tag("position_open") or dist <= 0:
            continue
        new = ctx["stop"] + b.side.sign * frac * dist
        checker.event(f"move_stop {b.id} {ctx['stop']:g} -> {new:g}")
        price = ses.books[b.domain].marks.get(b.symbol, ctx["entry_px"])
        execution.post(b.instance, "move_stop", {"stop": new, "price": price})
    execution.pump()
