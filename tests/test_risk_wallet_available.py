"""wallet_available judges free cash, not equity: it refuses an entry leverage_cap lets through
when the book's equity is an unrealised gain the wallet has no cash for (as the venue would)."""
from __future__ import annotations

import pytest

from engine.domain import Domain, Fill, Instrument, Quote, Side
from engine.risk.guards import leverage_cap, wallet_available
from engine.risk.types import Context, Intent, Sized
from engine.run.book import DomainBook
from test_risk_config import spec_data
from engine.risk.config import RiskConfig

T0 = 1_500_000_000.0
PERP = Instrument("BTCUSDT", Domain.CRYPTO_PERP, tick=0.1, step=0.001, min_notional=5.0)


def _context(book: DomainBook, notional: float, lev: float) -> Context:
    q = Quote("q", PERP.symbol, T0, 129.9, 130.1, 130.0)
    intent = Intent(PERP.symbol, Domain.CRYPTO_PERP, Side.BUY, q, 120.0, 150.0, T0, "t")
    sized = Sized(notional / 130.1, notional, 0.0, False, 0.05, 1.0, 1.0, 1.0, 0.0)
    return Context(intent, sized, book.risk_view(T0, lev, 7 * 86400.0), PERP, "normal", True, None, "crypto_perp")


def _perp_book(mark: float) -> DomainBook:
    book = DomainBook(Domain.CRYPTO_PERP, "paper", 1000.0, 1000.0, T0, 1000.0, 1000.0)
    book.apply(Fill("c", "f", "ETHUSDT", Side.BUY, 20.0, 100.0, 0.0, T0, "q"), 1.0)  # 2,000 at 3x: 666.67 margin
    book.mark("ETHUSDT", mark)
    return book


def test_an_unrealised_gain_is_no_free_cash() -> None:
    lim = RiskConfig.model_validate(spec_data()).limits
    lev = lim.leverage_caps["crypto_perp"]
    ctx = _context(_perp_book(130.0), 1500.0, lev)  # equity 1,600, gross 2,600 + 1,500 <= 3 x 1,600
    assert leverage_cap(ctx, lim) is None
    rej = wallet_available(ctx, lim)
    assert rej is not None and rej.numbers["available"] == pytest.approx(1000.0 - 2000.0 / lev)
    assert rej.numbers["margin"] == pytest.approx(500.0)


def test_an_unrealised_loss_is_owed() -> None:
    lim = RiskConfig.model_validate(spec_data()).limits
    view = _perp_book(90.0).risk_view(T0, 3.0, 7 * 86400.0)  # equity 800: the loss comes off the cash
    assert view.available == pytest.approx(800.0 - 2000.0 / 3.0)
