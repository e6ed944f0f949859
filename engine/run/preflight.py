"""At start: the symbols whose domain's opening wallet can never size an order the venue takes.

The risk rules are right to refuse such entries (min_size); this only says so up front, once
per symbol, instead of leaving the user to find out from the rejections. Nothing is refused.

The largest notional sizing can give a symbol at its domain's opening wallet W (in the wallet's
currency) is W x size% x the ladder's multiplier at zero P&L (engine/risk/sizing.py), taken in
the best case for the symbol:
  - equity stays at W, with no drawdown (recovery multiplier 1) and Kelly at its cap of 1;
  - the ladder has not climbed: its multiplier at zero 7-day P&L (its clamp applied);
  - the per-trade risk cap does not bind (a stop close enough to the entry: it only lowers qty);
  - size% is the canary's while the domain is in canary, the base one after; the canary ends
    only after `canary.trades` closed trades, so a domain none of whose symbols can trade at
    the canary size never leaves it (unless that count is 0: its days alone end it);
  - the entry is at the close of the symbol's first traded bar.
The venue's smallest order is the fewest whole lots (step x price x multiplier) whose notional
reaches the contract's min_notional (adapters/paper/contracts.yaml).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping

from engine.domain import Domain, Instrument
from engine.risk.config import Sizing
from engine.risk.sizing import Sizer
from engine.run.currency import WalletCurrency

JOURNAL_KIND = "untradable"
_TOL = 1e-9  # relative: a notional equal to the minimum up to float rounding is tradable
_BASE, _CANARY = "sizing.base_size_pct", "sizing.canary.size_pct"


@dataclass(frozen=True, slots=True)
class Untradable:
    """One symbol its domain's opening wallet can never trade; money in the wallet's `currency`."""

    symbol: str
    domain: str
    currency: str
    first_price: float  # the close of its first traded bar
    step: float  # the contract's lot, in units
    min_notional: float  # the contract's minimum notional
    wallet: float  # the domain's opening wallet
    wallet_usd: float
    size_pct: float  # the best size fraction the domain reaches at that wallet
    size_param: str  # the risk spec's key of that fraction
    canary_for_good: bool  # the base size is larger, but no symbol of the domain can end its canary
    ladder: float  # the ladder's multiplier at zero P&L
    max_notional: float  # wallet x size_pct x ladder
    min_order: float  # the venue's smallest order: whole lots reaching min_notional
    needed_wallet_usd: float  # the opening wallet, in USD, from which max_notional reaches min_order

    @property
    def message(self) -> str:
        from engine.run.report import money

        cur = self.currency
        stuck = ("; the domain never leaves its canary: none of its symbols can trade at the canary size"
                 if self.canary_for_good else "")
        return (f"{self.symbol} ({self.domain}) can never trade at its opening wallet of {money(self.wallet)} {cur}: "
                f"sizing gives at most {money(self.max_notional)} {cur} (the wallet x {self.size_pct * 100:g}% "
                f"{self.size_param} x ladder {self.ladder:g} at zero P&L{stuck}), below its smallest order of "
                f"{money(self.min_order)} {cur} (whole lots of {self.step:g} at the first bar's price "
                f"{self.first_price:g}, min_notional {self.min_notional:g}): min_size will refuse every entry. Raise "
                f"the rollout's paper_wallet_usd to at least {money(self.needed_wallet_usd)} USD (an env or stage "
                f"override in specs/overrides/), or {self.size_param} in specs/risk/risk.yaml")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def untradable(series: Iterable[Any], books: Mapping[Domain, Any], currencies: Mapping[Domain, WalletCurrency],
               sizing: Sizing, instrument: Callable[[str], Instrument]) -> list[Untradable]:
    """Every symbol of `series` (symbol, domain, close, start) whose domain has a book (its opening
    wallet: start_balance) and that wallet can never trade; `instrument(symbol)` is its contract."""
    sizer = Sizer(sizing, {d.value: c.usd_rate for d, c in currencies.items()})
    by_domain: dict[Domain, list[tuple[Instrument, float, float]]] = {}
    for s in series:
        if s.domain in books and len(s.close) > s.start:
            inst, price = instrument(s.symbol), float(s.close[s.start])
            by_domain.setdefault(s.domain, []).append((inst, price, min_order(inst, price)))
    out = []
    for dom, symbols in by_domain.items():
        wallet, ladder = books[dom].start_balance, sizer.ladder(0.0, dom.value)
        canary_max = wallet * sizing.canary.size_pct * ladder
        pct, param, stuck = _best_size(sizing, any(_reaches(canary_max, m) for _, _, m in symbols))
        rate = currencies[dom].usd_rate
        best = wallet * pct * ladder
        need = math.inf if best <= 0 else wallet / best * rate  # USD of wallet per unit of max notional
        for inst, price, least in symbols:
            if not _reaches(best, least):
                out.append(Untradable(inst.symbol, dom.value, currencies[dom].currency, price, inst.step,
                                      inst.min_notional, wallet, wallet * rate, pct, param, stuck, ladder, best,
                                      least, least * need))
    return out


def min_order(inst: Instrument, price: float) -> float:
    """The notional of the venue's smallest order at `price`: whole lots, at least one, reaching
    min_notional (guards.min_size judges the sized order against it)."""
    lot = inst.step * price * inst.multiplier
    if not lot > 0:
        return math.inf
    return max(1, math.ceil(inst.min_notional / lot * (1 - _TOL))) * lot


def _best_size(s: Sizing, canary_trades: bool) -> tuple[float, str, bool]:
    """The largest size fraction the domain can reach, its key, and whether a larger base size is
    out of reach because the canary never ends: it ends once some symbol trades at the canary size
    (`canary_trades`), or by its days alone when it counts no trades."""
    c = s.canary
    if c.trades == 0 and c.days == 0:  # no canary at all
        return s.base_size_pct, _BASE, False
    if s.base_size_pct <= c.size_pct:
        return c.size_pct, _CANARY, False
    if c.trades == 0 or canary_trades:
        return s.base_size_pct, _BASE, False
    return c.size_pct, _CANARY, True


def _reaches(notional: float, least: float) -> bool:
    return notional >= least * (1 - _TOL)
