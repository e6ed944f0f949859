"""Positions and cash per domain (capital is segregated: no cross-funding).

Cash moves by realised P&L, fees and funding; an open position ties up
margin = |qty| x avg_price x multiplier / leverage of its domain.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.domain import DUST, Domain, Fill, Instrument, Position

_EPS = 1e-12


@dataclass
class Ledger:
    cash: dict[Domain, float]
    positions: dict[str, Position] = field(default_factory=dict)

    def position(self, inst: Instrument) -> Position:
        pos = self.positions.get(inst.symbol)
        if pos is None:
            pos = self.positions[inst.symbol] = Position(inst.symbol, inst.domain)
        return pos

    def qty(self, symbol: str) -> float:
        pos = self.positions.get(symbol)
        return pos.qty if pos else 0.0

    def apply_fill(self, fill: Fill, inst: Instrument) -> float:
        """Book a fill; returns the realised P&L (before fees)."""
        pos = self.position(inst)
        signed = fill.side.sign * fill.qty
        realized = 0.0
        if pos.qty * signed < 0:  # reduces (and maybe flips) the position
            closing = min(abs(signed), abs(pos.qty))
            realized = closing * (fill.price - pos.avg_price) * (1 if pos.qty > 0 else -1) * inst.multiplier
            rest = pos.qty + signed
            if abs(rest) < _EPS or abs(rest) <= DUST * abs(pos.qty):  # float dust of lot-sized fills
                pos.qty, pos.avg_price, pos.opened_ts = 0.0, 0.0, None
            elif rest * pos.qty < 0:  # flipped: the remainder opens at the fill price
                pos.qty, pos.avg_price, pos.opened_ts = rest, fill.price, fill.ts
            else:
                pos.qty = rest
        elif not pos.is_open:  # opens at the fill's price exactly: q * price / q may miss it by an ulp
            pos.qty, pos.avg_price, pos.opened_ts = signed, fill.price, fill.ts
        else:
            total = pos.qty + signed
            if fill.price != pos.avg_price:  # an add at the average keeps it: the weighted mean may miss by an ulp
                pos.avg_price = (pos.avg_price * abs(pos.qty) + fill.price * abs(signed)) / abs(total)
            pos.qty = total
        pos.realized_pnl += realized - fill.fee
        self.cash[inst.domain] += realized - fill.fee
        return realized

    def apply_funding(self, inst: Instrument, rate: float, mark: float) -> float:
        """Longs pay a positive rate, shorts receive it. Returns what the position paid."""
        pos = self.positions.get(inst.symbol)
        if pos is None or not pos.is_open:
            return 0.0
        paid = rate * pos.qty * mark * inst.multiplier
        pos.realized_pnl -= paid
        pos.extra["funding_paid"] = pos.extra.get("funding_paid", 0.0) + paid
        self.cash[inst.domain] -= paid
        return paid

    def margin_used(self, domain: Domain, leverage: float, multipliers: dict[str, float]) -> float:
        return sum(abs(p.qty) * p.avg_price * multipliers.get(p.symbol, 1.0) / leverage
                   for p in self.positions.values() if p.domain is domain and p.is_open)
