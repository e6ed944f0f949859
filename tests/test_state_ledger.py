"""Position arithmetic, property-tested: P&L is conserved however fills are split."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.domain import Side
from state.ledger import Book, apply_fill

qty = st.floats(0.01, 100, allow_nan=False)
price = st.floats(1, 1000, allow_nan=False)


@given(st.lists(st.tuples(st.sampled_from(Side), qty, price), min_size=1, max_size=20), price)
def test_realized_pnl_equals_the_cash_flow_once_flat(trades, close_price) -> None:
    book, cash = Book(), 0.0
    for side, q, p in trades:
        book, _ = apply_fill(book, side, q, p, 0.0, 0.0)
        cash -= side.sign * q * p
    if abs(book.qty) > 1e-12:  # close the remainder at any price
        side, rest = (Side.SELL if book.qty > 0 else Side.BUY), abs(book.qty)
        book, _ = apply_fill(book, side, rest, close_price, 0.0, 0.0)
        cash -= side.sign * rest * close_price
    assert book.qty == 0.0
    assert book.realized_pnl == pytest.approx(cash, rel=1e-9, abs=1e-6)


@given(qty, price, price, st.floats(0, 5))
# 91.5 * p / 91.5 is p less an ulp: a round trip at one price made 1.3e-12 of P&L, a win or a loss.
@example(q=91.5, entry=90.49787388297626, exit_=90.49787388297626, fee=0.0)
def test_round_trip_pnl_and_fees(q, entry, exit_, fee) -> None:
    book, pnl_open = apply_fill(Book(), Side.BUY, q, entry, fee, 1.0)
    assert (book.qty, book.opened_ts, pnl_open, book.avg_price) == (q, 1.0, -fee, entry)
    book, pnl = apply_fill(book, Side.SELL, q, exit_, fee, 2.0)
    assert pnl == pytest.approx(q * (exit_ - entry) - fee)
    assert book.realized_pnl == pytest.approx(q * (exit_ - entry) - 2 * fee)
    assert (book.qty, book.avg_price, book.opened_ts) == (0.0, 0.0, None)


@given(st.sampled_from(Side), st.lists(qty, min_size=2, max_size=6), price)
# (90 * p + 2 * p) / 92 is p plus an ulp: closing at p realised float dust, a win or a loss.
@example(side=Side.BUY, parts=[90.0, 2.0], p=118.64)
def test_a_position_built_and_closed_at_one_price_realises_nothing(side, parts, p) -> None:
    book = Book()
    for q in parts:
        book, _ = apply_fill(book, side, q, p, 0.0, 1.0)
    assert book.avg_price == p
    book, pnl = apply_fill(book, side.opposite, abs(book.qty), p, 0.0, 2.0)
    assert (pnl, book.realized_pnl, book.qty) == (0.0, 0.0, 0.0)


def test_a_flip_reopens_at_the_fill_price() -> None:
    book, _ = apply_fill(Book(), Side.BUY, 1.0, 100.0, 0.0, 1.0)
    book, pnl = apply_fill(book, Side.SELL, 3.0, 110.0, 0.0, 2.0)
    assert (book.qty, book.avg_price, book.opened_ts, pnl) == (-2.0, 110.0, 2.0, 10.0)


def test_multiplier_scales_realized_pnl() -> None:
    book, _ = apply_fill(Book(), Side.SELL, 2.0, 1.10, 0.0, 0.0)
    _, pnl = apply_fill(book, Side.BUY, 2.0, 1.09, 0.0, 0.0, multiplier=125_000)
    assert pnl == pytest.approx(2 * 0.01 * 125_000)


@pytest.mark.parametrize("q,p", [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0)])
def test_impossible_fills_are_refused(q, p) -> None:
    with pytest.raises(ValueError):
        apply_fill(Book(), Side.BUY, q, p, 0.0, 0.0)


def test_lot_sized_fills_that_close_a_position_leave_no_dust() -> None:
    """10839.7 + 3722.2 - 14561.9 is 1.8e-12 in floats: the book is flat, not holding dust."""
    book, _ = apply_fill(Book(), Side.SELL, 10839.7, 1.0, 0.0, 0.0)
    book, _ = apply_fill(book, Side.SELL, 3722.2, 1.0, 0.0, 1.0)
    book, _ = apply_fill(book, Side.BUY, 14561.9, 1.0, 0.0, 2.0)
    assert book.qty == 0.0 and book.opened_ts is None


@given(st.sampled_from(Side), st.lists(st.tuples(qty, price), min_size=2, max_size=10), st.floats(0.1, 0.9))
def test_adds_and_partial_exits_keep_the_time_the_position_opened(side, fills, part) -> None:
    """`engine status` shows a position's opened_ts (docs/run-report.md, positions): the time its
    first fill opened it, whatever was added later or taken off in part."""
    book = Book()
    for i, (q, p) in enumerate(fills):
        book, _ = apply_fill(book, side, q, p, 0.0, float(i))
    assert book.opened_ts == 0.0
    exit_side = Side.SELL if side is Side.BUY else Side.BUY
    book, _ = apply_fill(book, exit_side, abs(book.qty) * part, fills[0][1], 0.0, 99.0)
    assert book.opened_ts == 0.0
