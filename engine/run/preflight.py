"""At start: the symbols whose domain's opening wallet cannot size an order the venue takes.

The risk rules are right to refuse such entries (min_size); this only says so up front, once
per symbol, instead of leaving the user to find out from the rejections. Nothing is refused.

The largest notional sizing can give a symbol at its domain's opening wallet W (in the wallet's
currency) is W x size% x the ladder's multiplier at zero P&L (engine/risk/sizing.py), taken in
the best case for the symbol short of profits:
  - equity stays at W, with no drawdown (recovery multiplier 1) and Kelly at its cap of 1;
  - the 7-day P&L is zero: the ladder's multiplier there (its clamp applied);
  - the per-trade risk cap does not bind (a stop close enough to the entry: it only lowers qty);
  - size% is the canary's while the domain is in canary, the base one after; the canary ends
    only after `canary.trades` closed trades, so a domain none of whose symbols can trade at
    the canary size never leaves it (unless that count is 0: its days alone end it);
  - the entry is at the price of the symbol's traded bars (from its first traded one to the
    data's end) whose smallest order is least: the lowest close, or bid where the data records
    one (a modelled spread's half below the close is not counted: a few basis points).
The venue's smallest order is the fewest whole lots (step x price x multiplier) whose notional
reaches the contract's min_notional (adapters/paper/contracts.yaml).

Only profit lifts that cap: a larger equity and a climbed ladder. When no symbol of the domain
can trade, the domain makes none and the symbol can never trade at that wallet (`never`); else
the profits of its other symbols can lift the cap, and the warning says by how much they must.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from engine.domain import Domain, Instrument
from engine.risk.sizing import Sizer
from engine.risk.types import Book
from engine.run.currency import WalletCurrency

JOURNAL_KIND = "untradable"
_TOL = 1e-9  # relative: a notional equal to the minimum up to float rounding is tradable
_BASE, _CANARY = "sizing.base_size_pct", "sizing.canary.size_pct"


@dataclass(frozen=True, slots=True)
class Untradable:
    """One symbol its domain's opening wallet cannot trade short of profits; money in the wallet's `currency`."""

    symbol: str
    domain: str
    currency: str
    price: float  # the price of its traded bars at which its smallest order is least
    step: float  # the contract's lot, in units
    min_notional: float  # the contract's minimum notional
    wallet: float  # the domain's opening wallet
    wallet_usd: float
    size_pct: float  # the best size fraction the domain reaches at that wallet
    size_param: str  # the risk spec's key of that fraction
    risk_file: str  # the risk spec file that sets it
    canary_for_good: bool  # the base size is larger, but no symbol of the domain can end its canary
    ladder: float  # the ladder's multiplier at zero P&L
    max_notional: float  # wallet x size_pct x ladder
    min_order: float  # the venue's smallest order at `price`: whole lots reaching min_notional
    never: bool  # no symbol of the domain can trade: no profit can ever lift the cap
    needed_wallet_usd: float  # the opening wallet, in USD, from which max_notional reaches min_order

    @property
    def message(self) -> str:
        from engine.run.report import money

        cur = self.currency
        stuck = ("; the domain never leaves its canary: none of its symbols can trade at the canary size"
                 if self.canary_for_good else "")
        if self.never:
            head, tail = "can never trade", (", and no symbol of its domain can trade, so no profit will lift that: "
                                             "min_size will refuse every entry")
        else:  # profit lifts both the equity and the ladder: say how far their product must rise
            head, tail = "cannot trade", (f": min_size refuses its entries until profits of its domain's other symbols "
                                          f"raise the domain's equity x ladder multiplier "
                                          f"{self.min_order / self.max_notional:.2f}-fold")
        return (f"{self.symbol} ({self.domain}) {head} at its opening wallet of {money(self.wallet)} {cur}"
                f"{'' if self.never else ' without profit'}: sizing gives at most {money(self.max_notional)} {cur} "
                f"(the wallet x {self.size_pct * 100:g}% {self.size_param} x ladder {self.ladder:g} at zero P&L{stuck}), "
                f"below its smallest order of {money(self.min_order)} {cur} (whole lots of {self.step:g} at "
                f"{self.price:g}, the price of its traded bars where that order is least, min_notional "
                f"{self.min_notional:g}){tail}. Raise the rollout's paper_wallet_usd to at least "
                f"{money(self.needed_wallet_usd)} USD (an env or stage override), or {self.size_param} in {self.risk_file}")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def untradable(series: Iterable[Any], books: Mapping[Domain, Any], currencies: Mapping[Domain, WalletCurrency],
               sizer: Sizer, instrument: Callable[[str], Instrument], risk_file: str) -> list[Untradable]:
    """Every symbol of `series` (symbol, domain, close, start; bid where recorded) whose domain has a
    book (its opening wallet: start_balance) and that wallet cannot trade short of profits;
    `sizer` is the run's (its risk chain's: the same USD rates as `currencies`), `instrument(symbol)`
    the symbol's contract, `risk_file` the risk spec's file, for the hint."""
    by_domain: dict[Domain, list[tuple[Instrument, float, float]]] = {}
    for s in series:
        if s.domain in books:
            inst = instrument(s.symbol)
            cheapest = cheapest_order(inst, _traded_prices(s))
            if cheapest is not None:
                by_domain.setdefault(s.domain, []).append((inst, *cheapest))
    out = []
    for dom, symbols in by_domain.items():
        wallet, ladder = float(books[dom].start_balance), sizer.ladder(0.0, dom.value)
        canary_max = wallet * sizer.canary_pct * sizer.canary_ladder(ladder)
        pct, param, stuck = _best_size(sizer, dom, any(_reaches(canary_max, m) for _, _, m in symbols))
        ladder = sizer.canary_ladder(ladder) if param == _CANARY else ladder
        rate, best = currencies[dom].usd_rate, wallet * pct * ladder
        never = not any(_reaches(best, m) for _, _, m in symbols)
        for inst, price, least in symbols:
            if not _reaches(best, least):  # the needed wallet: least / (pct x ladder), whatever this one is
                out.append(Untradable(inst.symbol, dom.value, currencies[dom].currency, price, inst.step,
                                      inst.min_notional, wallet, wallet * rate, pct, param, risk_file, stuck, ladder,
                                      best, least, never, least / (pct * ladder) * rate))
    return out


def check(runner: Any, domains: Iterable[Domain], journal: bool) -> list[Untradable]:
    """`untradable` for the run's books of `domains`, asked with the run's own sizer (its risk
    chain's), wallet currencies and contracts; each found is a journal row when `journal` (a
    resumed run's were journaled when first found)."""
    ses = runner.session
    risk = ses.specs.extra_pos.get("risk")  # the file the hint names: the one the run loaded
    found = untradable(runner.series, {d: ses.books[d] for d in domains}, ses.currencies, runner.chain.size,
                       ses.venue.catalogue.get, risk.file if risk else "the risk spec")
    for u in found if journal else ():
        ses.ledger.journal(JOURNAL_KIND, u.symbol, u.as_dict(), reason=u.message)
    return found


def _traded_prices(s: Any) -> np.ndarray:
    """The prices the symbol may enter at over the rows the run trades: each close, and each bid
    where the data records one (a sell enters at the bid); the positive, finite ones."""
    rows = [np.asarray(s.close[s.start:], dtype=float)]
    if getattr(s, "bid", None) is not None:
        rows.append(np.asarray(s.bid[s.start:], dtype=float))
    prices = np.concatenate(rows)
    return prices[np.isfinite(prices) & (prices > 0)]


def cheapest_order(inst: Instrument, prices: np.ndarray) -> tuple[float, float] | None:
    """The price among `prices` at which the venue's smallest order is least, and that order's
    notional; None without a price. Not simply the lowest price: whole lots overshoot
    min_notional by less at some prices than at lower ones."""
    if not prices.size:
        return None
    orders = _orders(inst, prices)
    i = int(np.argmin(orders))
    return float(prices[i]), float(orders[i])


def _orders(inst: Instrument, prices: np.ndarray) -> np.ndarray:
    """Each price's smallest order: whole lots, at least one, reaching min_notional (guards.min_size
    judges the sized order against it)."""
    lot = inst.step * prices * inst.multiplier
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.maximum(1.0, np.ceil(inst.min_notional / lot * (1 - _TOL)))
    return np.where(lot > 0, n * lot, math.inf)


def _best_size(sizer: Sizer, dom: Domain, canary_trades: bool) -> tuple[float, str, bool]:
    """The largest size fraction the domain can reach, its key, and whether a larger base size is
    out of reach because the canary never ends: it ends once some symbol trades at the canary size
    (`canary_trades`: then as many trades as it counts can close), or by its days alone when it
    counts no trades. Asked of the sizer's own rule (Sizer.in_canary), so the two cannot drift."""
    if not sizer.in_canary(_record(dom, 0, 0.0)):  # no canary at all
        return sizer.base_pct, _BASE, False
    if sizer.base_pct <= sizer.canary_pct:
        return sizer.canary_pct, _CANARY, False
    if not sizer.in_canary(_record(dom, sizer.canary_trades if canary_trades else 0, math.inf)):
        return sizer.base_pct, _BASE, False
    return sizer.canary_pct, _CANARY, True


def _record(dom: Domain, trades_closed: int, days_active: float) -> Book:
    """A book with that record: in_canary reads nothing else."""
    return Book(dom, 0.0, 0.0, 0.0, trades_closed, days_active, 0.0)


def _reaches(notional: float, least: float) -> bool:
    return notional >= least * (1 - _TOL)
