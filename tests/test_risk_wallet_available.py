"""wallet_available judges free cash, not equity: it refuses an entry leverage_cap lets through
when the book's equity is an unrealised gain the wallet has no cash for (as the venue would)."""
from __future__ import annotations

import pytest

from engine.domain import Domain, Fill, Instrument, Quote, Side
from engine.risk.guards import leverage_cap, wallet_available
from engine.risk.types import Book, Context, Intent, Sized
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
    view = _perp_book(90.0).risk_view(T0, 3.0, 7 * 86400.0)  # equity 800: the loss comes off the cash
    assert view.available == pytest.approx(800.0 - 2000.0 / 3.0)


# -- QA mutation run mut5f: seed 004's leverage caps at their edges, the entry at its highest fill --
def _entry(domain: Domain, equity: float, open_notional: float, notional: float, fill: float,
           available: float | None = None) -> Context:
    """An entry of `notional` at the quote that the venue's cost model fills at up to `fill`,
    into a book of `equity` with `open_notional` open on another symbol."""
    q = Quote("q", PERP.symbol, T0, 99.9, 100.1, 100.0)
    intent = Intent(PERP.symbol, domain, Side.BUY, q, 90.0, 120.0, T0, "t")
    sized = Sized(notional / 100.1, notional, 0.0, False, 0.05, 1.0, 1.0, 1.0, 0.0, fill_notional=fill)
    book = Book(domain, equity, equity if available is None else available, equity, 100, 30.0, 0.0,
                open_positions=1, open_notional={"OTHER": open_notional})
    return Context(intent, sized, book, PERP, "normal", True, None, domain.value)


@pytest.mark.parametrize("domain,cap", [(Domain.CRYPTO_SPOT, 1.0), (Domain.CRYPTO_PERP, 3.0), (Domain.FOREX, 10.0),
                                        (Domain.FOREX_OPTIONS, 1.0)])
def test_seed_004_leverage_caps_admit_gross_exposure_up_to_the_cap_and_no_more(domain: Domain, cap: float) -> None:
    """crypto_spot 1x, perps 3x, forex 10x, forex options 1x of equity, the open positions counted: a gross exactly
    at the cap passes, a cent over is refused."""
    lim = RiskConfig.model_validate(spec_data()).limits
    at_cap = 1000.0 * cap - 500.0
    assert leverage_cap(_entry(domain, 1000.0, 500.0, at_cap, at_cap), lim) is None
    rej = leverage_cap(_entry(domain, 1000.0, 500.0, at_cap + 0.01, at_cap + 0.01), lim)
    assert rej is not None and rej.numbers["cap"] == cap


def test_leverage_cap_judges_the_entry_at_its_highest_fill() -> None:
    """Within 3x at the quote (500 + 2,500), over it as the venue fills it (500 + 2,502)."""
    lim = RiskConfig.model_validate(spec_data()).limits
    rej = leverage_cap(_entry(Domain.CRYPTO_PERP, 1000.0, 500.0, 2500.0, 2502.0), lim)
    assert rej is not None and rej.numbers["gross"] == pytest.approx(3002.0)


def test_wallet_available_judges_the_margin_at_the_highest_fill_and_admits_it_all() -> None:
    """The margin of an entry filled at 1,503 on a 3x perp is 501: 501 of free cash covers it
    exactly, 500 (the margin at the quote's 1,500) does not."""
    lim = RiskConfig.model_validate(spec_data()).limits
    assert wallet_available(_entry(Domain.CRYPTO_PERP, 1000.0, 0.0, 1500.0, 1503.0, available=501.0), lim) is None
    rej = wallet_available(_entry(Domain.CRYPTO_PERP, 1000.0, 0.0, 1500.0, 1503.0, available=500.0), lim)
    assert rej is not None and rej.numbers["margin"] == pytest.approx(501.0)
