"""Position arithmetic for one fill: average price on adds, realized P&L on
reductions, a flip re-opens at the fill price. Pure, so it is property-tested."""
from __future__ import annotations

from dataclasses import dataclass

from engine.domain import Side

FLAT_EPS = 1e-12


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
    signed = side.sign * qty
    if abs(book.qty) <= FLAT_EPS or (book.qty > 0) == (signed > 0):
        total = abs(book.qty) + qty
        avg = (abs(book.qty) * book.avg_price + qty * price) / total
        opened = book.opened_ts if abs(book.qty) > FLAT_EPS else ts
        return _after(Book(book.qty + signed, avg, book.realized_pnl, opened), -fee)
    closing = min(qty, abs(book.qty))
    pnl = closing * (price - book.avg_price) * (1 if book.qty > 0 else -1) * multiplier - fee
    new_qty = book.qty + signed
    if abs(new_qty) <= FLAT_EPS:
        return _after(Book(0.0, 0.0, book.realized_pnl, None), pnl)
    if (new_qty > 0) != (book.qty > 0):  # flipped: the remainder opens at this price
        return _after(Book(new_qty, price, book.realized_pnl, ts), pnl)
    return _after(Book(new_qty, book.avg_price, book.realized_pnl, book.opened_ts), pnl)


def _after(book: Book, pnl: float) -> tuple[Book, float]:
    return Book(book.qty, book.avg_price, book.realized_pnl + pnl, book.opened_ts), pnl
