"""Position arithmetic for one fill: average price on adds, realized P&L on
reductions, a flip re-opens at the fill price. Pure, so it is property-tested."""
from __future__ import annotations

from dataclasses import dataclass

from engine.domain import DUST, Side, slot_init

FLAT_EPS = 1e-12


@slot_init  # built on every fill a run books: half the frozen __init__'s cost
@dataclass(frozen=True, slots=True)
class Book:
    qty: float = 0.0  # signed
    avg_price: float = 0.0
    realized_pnl: float = 0.0  # net of fees
    opened_ts: float | None = None


def apply_fill(book: Book, side: Side, qty: float, price: float, fee: float, ts: float,
               multiplier: float = 1.0) -> tuple[Book, float]:
    """The book after the fill, and the realized P&L (net of the fee) it produced."""
    if qty <= 0 or price <= 0:
        raise ValueError(f"a fill needs qty > 0 and price > 0, got qty={qty} price={price}")
    held = book.qty
    signed = side.sign * qty
    if abs(held) <= FLAT_EPS:  # opens at its price exactly: q * price / q may miss it by an ulp
        return Book(signed, price, book.realized_pnl + -fee, ts), -fee
    if (held > 0) == (signed > 0):
        # An add at the average keeps it exactly: the weighted mean may miss it by an ulp.
        avg = price if price == book.avg_price else (abs(held) * book.avg_price + qty * price) / (abs(held) + qty)
        return Book(held + signed, avg, book.realized_pnl + -fee, book.opened_ts), -fee
    closing = min(qty, abs(held))
    pnl = closing * (price - book.avg_price) * (1 if held > 0 else -1) * multiplier - fee
    realized = book.realized_pnl + pnl
    new_qty = held + signed
    if abs(new_qty) <= FLAT_EPS or abs(new_qty) <= DUST * abs(held):  # float dust of lot-sized fills
        return Book(0.0, 0.0, realized, None), pnl
    if (new_qty > 0) != (held > 0):  # flipped: the remainder opens at this price
        return Book(new_qty, price, realized, ts), pnl
    return Book(new_qty, book.avg_price, realized, book.opened_ts), pnl
