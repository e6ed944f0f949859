"""Rejection messages show money as the run's report does: a wallet counting BTC holds 0.07219,
and `ETH/BTC exposure would be 0.00 > cap 0.00` or `gross 0.00 exceeds 0.01x equity 0.07` said
nothing a reader could check."""
from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from engine.domain import Domain, Instrument, Quote, Side
from engine.risk.config import RiskConfig
from engine.risk.guards import GUARDS
from engine.risk.types import Book, Context, Intent, Sized

SPEC = Path(__file__).resolve().parents[1] / "specs" / "risk" / "risk.yaml"
ETH_BTC = Instrument("ETH/BTC", Domain.CRYPTO_SPOT, tick=1e-6, step=0.001, min_notional=0.0001)


@pytest.fixture(scope="module")
def limits():
    return RiskConfig.model_validate(YAML(typ="safe").load(SPEC.read_text())).limits


def _ctx(notional: float, equity: float, open_notional: float = 0.0, available: float | None = None) -> Context:
    q = Quote("q1", "ETH/BTC", 1_516_000_000.0, 0.0899, 0.0901, 0.09)
    intent = Intent("ETH/BTC", Domain.CRYPTO_SPOT, Side.BUY, q, 0.088, 0.094, q.ts, "sma")
    book = Book(Domain.CRYPTO_SPOT, equity, equity if available is None else available, equity, 100, 30.0, 0.0,
                open_notional={"ETH/BTC": open_notional})
    sized = Sized(notional / 0.0901, notional, 0.0, False, 0.05, 1.0, 1.0, 1.0, 0.0)
    return Context(intent, sized, book, ETH_BTC, "normal", True, None, "crypto_spot")


def test_btc_exposure_is_shown_to_four_significant_digits(limits) -> None:
    r = GUARDS["exposure_pair"](_ctx(0.003604, 0.07219, open_notional=0.008), limits)
    assert r.message == "ETH/BTC exposure would be 0.01160 > cap 0.01083"


def test_btc_gross_and_equity_are_readable(limits) -> None:
    r = GUARDS["leverage_cap"](_ctx(0.05, 0.07219, open_notional=0.03), limits)
    assert r.message == "gross 0.08000 exceeds 1x equity 0.07219"


def test_btc_margin_and_free_cash_are_readable(limits) -> None:
    r = GUARDS["wallet_available"](_ctx(0.005, 0.07219, available=0.004321), limits)
    assert r.message == "needs 0.005000 but only 0.004321 is available"


def test_usd_amounts_stay_to_the_cent(limits) -> None:
    r = GUARDS["wallet_available"](_ctx(1500.0, 10_000.0, available=1234.5678), limits)
    assert r.message == "needs 1,500.00 but only 1,234.57 is available"
