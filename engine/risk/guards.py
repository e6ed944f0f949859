"""The pre-trade guards. specs/risk/*.yaml names them and orders the chain;
each returns None to pass or a Rejection with the numbers it judged.

Each guard declares the `limits` keys it reads (`@guard("max_concurrent_positions")`): the linter
(engine/spec/lint/risk.py) warns of a limit that no guard in the chain reads, and a test runs
every guard against a Limits that records its reads, so a declaration cannot fall behind."""
from __future__ import annotations

from typing import Callable

from engine.domain import Side
from engine.risk.config import Limits, week_seconds
from engine.risk.types import Context, Rejection
from engine.zones import utc

Guard = Callable[[Context, Limits], "Rejection | None"]
GUARDS: dict[str, Guard] = {}
READS: dict[str, frozenset[str]] = {}  # guard -> the `limits` keys it reads
_BUY = Side.BUY  # bound once: an Enum class attribute is a slow lookup


def guard(*limits: str) -> Callable[[Guard], Guard]:
    """Register a guard under its function's name, with the `limits` keys it reads."""
    unknown = set(limits) - set(Limits.model_fields)
    if unknown:
        raise ValueError(f"no such risk limit: {', '.join(sorted(unknown))}")

    def register(fn: Guard) -> Guard:
        GUARDS[fn.__name__] = fn
        READS[fn.__name__] = frozenset(limits)
        return fn

    return register


def _money(x: float) -> str:
    """An amount as the run's report shows one: to the cent, and below 1 to 4 significant digits,
    so that a wallet counting BTC reads 0.07219, not 0.07 (or a cap of 0.00)."""
    from engine.run.report import money  # imported on a rejection: engine validate loads this module

    return money(x)


@guard()
def kill_mode(c: Context, lim: Limits) -> Rejection | None:
    """The one check of the kill switch for entries: RiskChain runs it first whatever the list says."""
    if c.entries_allowed:
        return None
    return Rejection("kill_mode", f"kill mode `{c.kill_mode}` does not open risk", {"mode": c.kill_mode})


@guard("short_allowed")
def no_short(c: Context, lim: Limits) -> Rejection | None:
    if c.intent.side is _BUY or lim.short_allowed[c.domain]:
        return None
    return Rejection("no_short", f"{c.domain} cannot go short (risk limits.short_allowed)",
                     {"side": c.intent.side.value, "domain": c.domain, "short_allowed": False})


@guard()
def active_symbol(c: Context, lim: Limits) -> Rejection | None:
    if c.active_symbols is None or c.intent.symbol in c.active_symbols:
        return None
    return Rejection("active_symbol", f"{c.intent.symbol} is not in the active top-K set",
                     {"symbol": c.intent.symbol, "active": sorted(c.active_symbols)})


@guard("sessions", "friday_close_buffer")
def session_hours(c: Context, lim: Limits) -> Rejection | None:
    """Entries on the session's weekdays only, and none whose fill bar (the next one: a market
    order decided at a bar's close fills during it) would end past the Friday close less the
    buffer; open positions are closed by then too when `avoid_weekend_carry` is set (the run loop)."""
    sess = lim.sessions.get(c.domain)
    if sess is None:
        return None
    ts, fill_s = c.intent.ts, c.intent.fill_s
    t = utc(ts)
    if t.weekday() not in sess.weekdays:
        return Rejection("session_hours", f"{c.domain} is closed on {t:%A}", {"weekday": t.weekday()})
    buffer = lim.friday_close_buffer
    if not sess.closing(ts, fill_s, buffer):
        return None
    cutoff = ts - week_seconds(ts) + sess.cutoff(buffer)
    return Rejection("session_hours", f"its fill bar would end at {_utc(ts + fill_s)}, at or past the cutoff "
                     f"{_utc(cutoff)} (the {sess.friday_close_utc} Friday close less {buffer:g} s)",
                     {"decided": _utc(ts), "fill_bar_end": _utc(ts + fill_s), "cutoff": _utc(cutoff),
                      "fill_bar_s": fill_s, "buffer_s": buffer})


def _utc(ts: float) -> str:
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


@guard("spread_max_bps")
def spread_filter(c: Context, lim: Limits) -> Rejection | None:
    q = c.intent.quote
    bps = 1e4 * q.spread / q.mid if q.mid > 0 else float("inf")
    cap = lim.spread_max_bps[c.domain]
    if bps <= cap:
        return None
    return Rejection("spread_filter", f"spread {bps:.1f} bps exceeds {cap:g} bps", {"spread_bps": bps, "max_bps": cap})


@guard("max_concurrent_positions")
def max_concurrent(c: Context, lim: Limits) -> Rejection | None:
    if c.book.open_positions < lim.max_concurrent_positions:
        return None
    return Rejection("max_concurrent", f"{c.book.open_positions} positions open (max {lim.max_concurrent_positions})",
                     {"open": c.book.open_positions, "max": lim.max_concurrent_positions})


@guard()
def min_size(c: Context, lim: Limits) -> Rejection | None:
    """The sized qty is in whole lots already (chain.in_lots): zero lots, or a notional under the
    venue's minimum, is too small to send."""
    sized, inst = c.sized, c.instrument
    n, floor = sized.notional, inst.min_notional
    if sized.qty > 0 and n >= floor:
        return None
    lot = inst.step * c.intent.entry * inst.multiplier
    numbers = {"qty": sized.qty, "step": inst.step, "lot_notional": lot, "notional": n, "min": floor}
    if sized.qty <= 0:
        return Rejection("min_size", f"the sized entry is less than one lot ({inst.step:g} {inst.symbol}, "
                                     f"notional {lot:g})", numbers)
    return Rejection("min_size", f"size {_money(n)} is below the venue minimum {floor:g}", numbers)


@guard("daily_risk_budget_pct")
def daily_risk_budget(c: Context, lim: Limits) -> Rejection | None:
    """Seed 000's daily risk budget: the risk at the stop (Sized.risk_at_stop, what the per-trade cap
    bounds) of the entries the domain opened today, this one's included, within the budget's share
    of its wallet's start-of-day equity. Spent by entries, never given back by their exits: a day
    of stopped-out trades could otherwise lose the budget over and over."""
    book = c.book
    spent, add = book.day_risk, c.sized.risk_at_stop
    start = book.equity if book.day_start_equity is None else book.day_start_equity
    budget = lim.daily_risk_budget_pct * start
    if spent + add <= budget:
        return None
    return Rejection("daily_risk_budget", f"today's risk at the stop would be {_money(spent + add)} > budget "
                     f"{_money(budget)} ({lim.daily_risk_budget_pct:.2%} of the day's start {_money(start)})",
                     {"spent": spent, "add": add, "budget": budget, "day_start_equity": start,
                      "budget_pct": lim.daily_risk_budget_pct})


@guard("sector_risk_pct", "sectors")
def sector_risk(c: Context, lim: Limits) -> Rejection | None:
    """Seed 000's sector limit: the open risk at the stop of the domain's positions and working
    entries in the entry's sector (each at the risk its entry was sized at), plus this entry's,
    within the cap's share of the wallet's equity. A symbol in no sector is a sector of its own."""
    sector, members = _sector(c.intent.symbol, lim.sectors)
    have = sum(r for s, r in c.book.open_risk.items() if s in members)
    add, cap = c.sized.risk_at_stop, lim.sector_risk_pct * c.book.equity
    if have + add <= cap:
        return None
    own = "" if sector in lim.sectors else " (in no sector of limits.sectors: its own)"
    return Rejection("sector_risk", f"sector `{sector}`{own} open risk at the stop would be {_money(have + add)} > cap "
                     f"{_money(cap)} ({lim.sector_risk_pct:.2%} of equity)",
                     {"sector": sector, "open": have, "add": add, "cap": cap, "cap_pct": lim.sector_risk_pct})


def _sector(symbol: str, sectors: dict[str, list[str]]) -> tuple[str, list[str]]:
    """The sector `symbol` is in and its symbols; a symbol in none is a sector of its own (named
    as the symbol), capped like any other: a symbol left out of the map never escapes the cap."""
    for name, symbols in sectors.items():
        if symbol in symbols:
            return name, symbols
    return symbol, [symbol]


def _exposure(rule: str, what: str, have: float, c: Context, cap: float) -> Rejection | None:
    """`have` plus the entry at its highest fill (Sized.exposure) against `cap`."""
    add = c.sized.exposure
    if have + add <= cap:
        return None
    return Rejection(rule, f"{what} exposure would be {_money(have + add)} > cap {_money(cap)}",
                     {"open": have, "add": add, "add_at_quote": c.sized.notional, "cap": cap})


@guard("exposure_pair_pct")
def exposure_pair(c: Context, lim: Limits) -> Rejection | None:
    return _exposure("exposure_pair", c.intent.symbol, c.book.open_notional.get(c.intent.symbol, 0.0), c,
                     lim.exposure_pair_pct * c.book.equity)


@guard("exposure_portfolio_pct")
def exposure_portfolio(c: Context, lim: Limits) -> Rejection | None:
    return _exposure("exposure_portfolio", "portfolio", sum(c.book.open_notional.values()), c,
                     lim.exposure_portfolio_pct * c.book.equity)


@guard("leverage_caps")
def leverage_cap(c: Context, lim: Limits) -> Rejection | None:
    lev = lim.leverage_caps[c.domain]
    gross = sum(c.book.open_notional.values()) + c.sized.exposure
    if c.book.equity > 0 and gross <= lev * c.book.equity:
        return None
    return Rejection("leverage_cap", f"gross {_money(gross)} exceeds {lev:g}x equity {_money(c.book.equity)}",
                     {"gross": gross, "equity": c.book.equity, "cap": lev})


@guard("leverage_caps")
def wallet_available(c: Context, lim: Limits) -> Rejection | None:
    """The entry's margin, at its highest fill (Sized.exposure), against the wallet's free cash
    (Book.available: cash less the margin of open positions at entry and of working entries).
    Apart from leverage_cap, which judges marked gross exposure against equity: an unrealised
    gain raises equity, not cash."""
    margin = c.sized.exposure / lim.leverage_caps[c.domain]
    if margin <= c.book.available:
        return None
    return Rejection("wallet_available", f"needs {_money(margin)} but only {_money(c.book.available)} is available",
                     {"margin": margin, "available": c.book.available})
