"""Position sizing: seed 001's wallet fractions with seed 004's per-asset risk cap.

notional   = equity x size% x ladder x recovery x kelly   (size% = 5%, or 2% in canary)
risk cap   = B x r_A x ladder, or max(T, B x q_A x ladder) once B x r_A x ladder > T  (seed 004)
qty        = min(notional / entry, risk cap / stop distance), snapped later by the venue clamp
"""
from __future__ import annotations

from engine.risk.config import Kelly, Ladder, Sizing
from engine.risk.types import Book, Intent, Sized


def ladder_multiplier(pnl_window: float, ladder: Ladder) -> float:
    m = 1.0
    for step in ladder.steps:
        if pnl_window >= step.profit_usd:
            m = step.multiplier
    lo, hi = ladder.clamp
    return min(max(m, lo), hi)


def in_canary(book: Book, s: Sizing) -> bool:
    # "first 50 trades or 7 days": stay in canary until both are behind us (fail closed).
    return book.trades_closed < s.canary.trades or book.days_active * 86400 < s.canary.days


def kelly_multiplier(book: Book, k: Kelly, risk_pct: float) -> float:
    """Half-Kelly fraction relative to the configured risk, clamped to [floor, 1]."""
    if book.trades_closed < k.min_trades or not book.win_rate or not book.payoff_ratio:
        return 1.0
    w, r = book.win_rate, book.payoff_ratio
    f = k.fraction * (w - (1.0 - w) / r)
    return min(max(f / risk_pct, k.floor), 1.0) if risk_pct > 0 else k.floor


def risk_cap(equity: float, s: Sizing, domain: str, ladder: float) -> float:
    base = equity * s.per_trade_risk_pct[domain] * ladder
    if base <= s.percent_sizing_threshold_usd:
        return base
    return max(s.percent_sizing_threshold_usd, equity * s.percent_sizing_above_threshold[domain] * ladder)


def size(intent: Intent, book: Book, s: Sizing) -> Sized:
    domain = intent.domain.value
    canary = in_canary(book, s)
    ladder = ladder_multiplier(book.pnl_window, s.ladder)
    recovery = s.drawdown_recovery.multiplier if book.drawdown >= s.drawdown_recovery.from_drawdown else 1.0
    kelly = kelly_multiplier(book, s.kelly, s.per_trade_risk_pct[domain])
    pct = s.canary.size_pct if canary else s.base_size_pct
    notional = max(book.equity, 0.0) * pct * ladder * recovery * kelly
    cap = risk_cap(max(book.equity, 0.0), s, domain, ladder)
    entry, dist = intent.entry, intent.stop_distance
    qty = 0.0 if entry <= 0 or dist <= 0 else min(notional / entry, cap / dist)
    factors = {"canary": float(canary), "size_pct": pct, "ladder": ladder, "recovery": recovery,
               "kelly": kelly, "risk_cap": cap}
    return Sized(qty=qty, notional=qty * entry, risk_at_stop=qty * dist, factors=factors)
