"""Position sizing: seed 001's wallet fractions with seed 004's per-asset risk cap.

notional   = equity x size% x ladder   (size% = 5%, or 2% in canary, where the ladder only shrinks)
risk cap   = B x r_A x ladder, or max(T, B x q_A x ladder) once B x r_A x ladder > T  (seed 004)
qty        = min(notional / (entry x m), risk cap / (worst loss at the stop x m)) x recovery x kelly,
             m the contract multiplier, then put in whole lots by the chain (chain.in_lots)

Drawdown recovery and half-Kelly scale the lot whichever of the two bounds it: applied to the
notional alone, a wide stop (the risk cap binding) would leave the lot as large in a drawdown
as out of one, and seed 000's "automatic lot reduction" would not happen.

The worst loss at the stop is what one unit loses when stopped out (loss_at_stop): the stop
distance, the exit's half spread, the venue's slippage and tick rounding on both fills and its
taker fee on both, so a trade that hits its stop loses at most the cap. A gap through the
stop (filled at the open) or an entry filled after the market moved can still lose more: no
size bounds them.

Seed 004 writes QtyCap = NotionalCap / P, capping the notional at B x r_A x m. Read that
way, r_A (2% at most) would always undercut seed 001's 5% base size, which would never
apply; the issue calls r_A the per-trade risk, so it caps the loss at the stop instead
(specs/risk/risk.yaml says so at per_trade_risk_pct).

The spec's money thresholds (the ladder's profit_usd, percent_sizing_threshold_usd) are US
dollars; each domain's wallet counts its own currency, so they are converted at that
domain's USD rate (engine/run/currency.py) before they are compared with its P&L or equity.
"""
from __future__ import annotations

import math
from typing import Mapping

from engine.domain import Side
from engine.risk.config import DOMAINS, Sizing
from engine.risk.types import Book, Costs, Intent, Sized, StopLoss

_NO_COSTS = Costs()


class Sizer:
    """The sizing section bound once to plain numbers: every entry reads them, and a pydantic
    model's nested attributes and per-call dict lookups cost more than the arithmetic."""

    __slots__ = ("base_pct", "canary_pct", "canary_trades", "canary_s", "steps", "lo", "hi", "recover_from",
                 "recovery", "kelly_fraction", "kelly_min_trades", "kelly_floor", "risk_pct", "above",
                 "threshold", "usd_rates", "local")

    def __init__(self, s: Sizing, usd_rates: Mapping[str, float] | None = None) -> None:
        """`usd_rates`: domain -> USD per unit of its wallet's currency; None: every wallet counts USD."""
        self.base_pct, self.threshold = s.base_size_pct, s.percent_sizing_threshold_usd
        self.canary_pct, self.canary_trades, self.canary_s = s.canary.size_pct, s.canary.trades, s.canary.days
        self.steps = tuple((st.profit_usd, st.multiplier) for st in s.ladder.steps)
        self.usd_rates = dict.fromkeys(DOMAINS, 1.0) if usd_rates is None else dict(usd_rates)
        # domain -> (ladder steps, threshold) in its wallet's currency: converted once, read per entry
        self.local = {d: (tuple((p / r, m) for p, m in self.steps), self.threshold / r)
                      for d, r in self.usd_rates.items()}
        self.lo, self.hi = s.ladder.clamp
        self.recover_from, self.recovery = s.drawdown_recovery.from_drawdown, s.drawdown_recovery.multiplier
        k = s.kelly
        self.kelly_fraction, self.kelly_min_trades, self.kelly_floor = k.fraction, k.min_trades, k.floor
        self.risk_pct, self.above = dict(s.per_trade_risk_pct), dict(s.percent_sizing_above_threshold)

    def ladder(self, pnl_window: float, domain: str | None = None) -> float:
        """The multiplier for `pnl_window`, P&L in `domain`'s wallet currency (None: in USD)."""
        m = 1.0
        for profit, mult in self.steps if domain is None else self.local[domain][0]:
            if pnl_window >= profit:
                m = mult
        return min(max(m, self.lo), self.hi)

    @staticmethod
    def canary_ladder(ladder: float) -> float:
        """The ladder in canary: a canary's size is seed 001's 2%, which early profit does not raise."""
        return min(ladder, 1.0)

    def in_canary(self, book: Book) -> bool:
        # "first 50 trades or 7 days": stay in canary until both are behind us (fail closed).
        trades = book.trades_closed if book.canary_trades is None else book.canary_trades
        return trades < self.canary_trades or book.days_active * 86400 < self.canary_s

    def kelly(self, book: Book, risk_pct: float) -> float:
        """Half-Kelly fraction relative to the configured risk, clamped to [floor, 1]. A losing
        record shrinks the size to the floor, never back to full size: Kelly is negative without
        wins (w = 0), and without losses (no payoff ratio either) it is w itself, the limit of
        w - (1 - w) / r as r grows."""
        w, r = book.win_rate, book.payoff_ratio
        if book.trades_closed < self.kelly_min_trades or w is None:
            return 1.0
        f = self.kelly_fraction * (w if r is None else w - (1.0 - w) / r)
        return min(max(f / risk_pct, self.kelly_floor), 1.0) if risk_pct > 0 else self.kelly_floor

    def risk_cap(self, equity: float, domain: str, ladder: float) -> float:
        base = equity * self.risk_pct[domain] * ladder
        threshold = self.local[domain][1]
        if base <= threshold:
            return base
        return max(threshold, equity * self.above[domain] * ladder)

    def __call__(self, intent: Intent, book: Book, domain: str, multiplier: float = 1.0,
                 costs: Costs = _NO_COSTS, tick: float = 0.0) -> Sized:
        """`domain` is intent.domain.value (read once by the caller: Enum.value is slow);
        `multiplier` is the contract's: one contract of 6EH4 is 125,000 EUR, so its notional and
        its loss at the stop are 125,000 times the price's. `costs` and `tick` are the venue's
        and the instrument's: what a stopped-out unit loses besides the stop distance."""
        canary = self.in_canary(book)
        ladder = self.ladder(book.pnl_window, domain)
        if canary:
            ladder = self.canary_ladder(ladder)
        equity = book.equity
        peak = book.peak_equity  # Book.drawdown, inline
        drawdown = 0.0 if peak <= 0 else max(0.0, 1.0 - equity / peak)
        recovery = self.recovery if drawdown >= self.recover_from else 1.0
        kelly = self.kelly(book, self.risk_pct[domain])
        pct = self.canary_pct if canary else self.base_pct
        notional = max(equity, 0.0) * pct * ladder
        cap = self.risk_cap(max(equity, 0.0), domain, ladder)
        per_unit = loss_at_stop(intent, costs, tick)
        entry, loss = intent.entry * multiplier, per_unit.total * multiplier  # per contract
        qty = 0.0 if entry <= 0 or intent.stop_distance <= 0 else min(notional / entry, cap / loss) * recovery * kelly
        fill = highest_fill(intent, costs, tick) * multiplier
        return Sized(qty, qty * entry, qty * loss, canary, pct, ladder, recovery, kelly, cap, per_unit, qty * fill)


def highest_fill(intent: Intent, costs: Costs, tick: float) -> float:
    """The highest price the paper venue fills the entry at, a market order on arrival
    (adapters/paper/pricing.py): a buy at the quote's ask moved up by slippage and rounded up
    onto the tick grid; a sell at most at the quote's bid (slippage and the tick move it down).
    The exposure, leverage and margin caps judge this, so that no fill the cost model makes
    takes a position past them. The venue fills at the worse of the quote and the next bar's
    open: a gap (a next open beyond the quote) or a partial fill's remainder filled on a later
    bar can cost more, and no pre-trade figure bounds them; the symbol's next entry sees the
    position as it filled."""
    if intent.side is not Side.BUY:
        return intent.entry
    price = intent.entry * (1.0 + costs.slippage)
    if tick <= 0:
        return price
    n = price / tick
    return price if abs(n - round(n)) < 1e-9 else math.ceil(n) * tick  # on the grid already: as it is


def loss_at_stop(intent: Intent, costs: Costs, tick: float) -> StopLoss:
    """One unit's loss when its stop fills with the price where the quote left it, as the paper
    venue fills takers (adapters/paper/pricing.py): the entry at the touch, moved by slippage
    and rounded a tick against the trader; the exit at the worse of the stop and the mark (a
    stop inside the spread fires at once), on the far side of a spread as wide as the entry
    quote's at that price, moved by slippage and rounded a tick; a taker fee on each fill."""
    sign = 1.0 if intent.side is Side.BUY else -1.0
    q, entry = intent.quote, intent.entry
    trigger = min(intent.stop, q.mid) if sign > 0 else max(intent.stop, q.mid)
    half = q.spread / 2.0 * (max(1.0, trigger / q.mid) if q.mid > 0 else 1.0)  # a modelled spread is in bps
    exit_px = trigger - sign * half
    entry_fill = entry * (1.0 + sign * costs.slippage)
    exit_fill = exit_px * (1.0 - sign * costs.slippage)
    return StopLoss(stop=abs(entry - trigger), spread=half, slippage=costs.slippage * (entry + exit_px),
                    ticks=2.0 * tick, fees=costs.fee * (entry_fill + exit_fill))
