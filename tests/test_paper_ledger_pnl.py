"""The paper venue's ledger books realised P&L with the position's sign: a short gains when the
price falls. Mutation testing found that dropping the sign (every close booked as a long's) was
caught only by the funding run tests; these check it where it is computed."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.paper.ledger import Ledger
from engine.domain import Domain, Fill, Instrument, Side

PERP = Instrument("XRP-PERP", Domain.CRYPTO_PERP, tick=1e-4, step=1.0, min_notional=5.0, multiplier=2.0, kind="perp")


def fill(side: Side, qty: float, price: float, fee: float = 0.0, k: int = 0) -> Fill:
    return Fill(f"c{k}", f"f{k}", PERP.symbol, side, qty, price, fee, float(k), "q")


@pytest.mark.parametrize("opening, closing, pnl", [
    (Side.BUY, Side.SELL, 2.0 * 10 * (90 - 100)),   # long 10 at 100, out at 90: a loss
    (Side.SELL, Side.BUY, 2.0 * 10 * (100 - 90)),   # short 10 at 100, out at 90: a gain
])
def test_a_round_trip_realises_the_positions_signed_pnl(opening, closing, pnl):
    book = Ledger({Domain.CRYPTO_PERP: 1000.0})
    assert book.apply_fill(fill(opening, 10, 100.0), PERP) == 0.0
    assert book.apply_fill(fill(closing, 10, 90.0, fee=0.5, k=1), PERP) == pytest.approx(pnl)
    assert book.cash[Domain.CRYPTO_PERP] == pytest.approx(1000.0 + pnl - 0.5)
    assert book.qty(PERP.symbol) == 0.0


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_a_round_trip_at_one_price_realises_nothing(side):
    """A position opens at its fill's price exactly (91.5 * p / 91.5 is p less an ulp), so closing
    at that price realises 0, not float dust that counts as a win or a loss."""
    book = Ledger({Domain.CRYPTO_PERP: 1000.0})
    book.apply_fill(fill(side, 91.5, 90.49787388297626), PERP)
    assert book.positions[PERP.symbol].avg_price == 90.49787388297626
    assert book.apply_fill(fill(side.opposite, 91.5, 90.49787388297626, k=1), PERP) == 0.0
    assert book.cash[Domain.CRYPTO_PERP] == 1000.0


@given(st.sampled_from([Side.BUY, Side.SELL]), st.lists(st.floats(1, 100), min_size=2, max_size=6),
       st.floats(0.01, 500))
@example(side=Side.BUY, parts=[90.0, 2.0], price=118.64)  # (90p + 2p) / 92 is p plus an ulp
def test_a_position_built_and_closed_at_one_price_realises_nothing(side, parts, price):
    """An add at the position's average keeps it exactly, so closing there realises 0."""
    book = Ledger({Domain.CRYPTO_PERP: 1000.0})
    for k, q in enumerate(parts):
        book.apply_fill(fill(side, q, price, k=k), PERP)
    assert book.positions[PERP.symbol].avg_price == price
    assert book.apply_fill(fill(side.opposite, abs(book.qty(PERP.symbol)), price, k=9), PERP) == 0.0
    assert book.cash[Domain.CRYPTO_PERP] == 1000.0


def test_a_flip_realises_the_closed_part_and_opens_the_rest_at_the_fill():
    book = Ledger({Domain.CRYPTO_PERP: 1000.0})
    book.apply_fill(fill(Side.SELL, 10, 100.0), PERP)
    assert book.apply_fill(fill(Side.BUY, 15, 110.0, k=1), PERP) == pytest.approx(2.0 * 10 * (100 - 110))
    pos = book.positions[PERP.symbol]
    assert (pos.qty, pos.avg_price) == (5.0, 110.0)


@given(st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 20),
                          st.integers(50, 150)), min_size=1, max_size=12),
       st.integers(50, 150))
def test_realised_plus_open_pnl_is_the_trades_cash_flow(fills, mark):
    """Whatever the fills, realised P&L plus the open position marked at `mark` equals the cash the
    fills moved (sells in, buys out) plus the position's value at `mark`: the sign of each close
    is the position's."""
    book = Ledger({Domain.CRYPTO_PERP: 0.0})
    flow = 0.0
    for k, (side, qty, price) in enumerate(fills):
        book.apply_fill(fill(side, qty, float(price), k=k), PERP)
        flow -= side.sign * qty * price * PERP.multiplier
    pos = book.positions[PERP.symbol]
    open_pnl = pos.qty * (mark - pos.avg_price) * PERP.multiplier
    assert book.cash[Domain.CRYPTO_PERP] + open_pnl == pytest.approx(flow + pos.qty * mark * PERP.multiplier)
