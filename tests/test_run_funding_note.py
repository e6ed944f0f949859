"""A perp traded without real funding rates is said so, not silently funding-free."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from engine.domain import Domain
from engine.run.assemble import funding_gaps


def series(symbol: str, start: float, end: float, domain: Domain = Domain.CRYPTO_PERP) -> SimpleNamespace:
    return SimpleNamespace(symbol=symbol, domain=domain, ts=np.arange(start, end, 300.0))


def test_a_perp_without_covering_rates_gets_a_note() -> None:
    rates = {"XRP-PERP": [(t, 1e-4) for t in np.arange(0.0, 86400 * 10, 8 * 3600)]}
    assert funding_gaps([series("XRP-PERP", 3600, 86400 * 9)], rates) == []
    [note] = funding_gaps([series("BTC-PERP", 3600, 86400 * 9)], rates)
    assert "BTC-PERP" in note and "not accrued" in note
    assert funding_gaps([series("XRP-PERP", 86400 * 9, 86400 * 20)], rates)  # runs past the last rate
    assert funding_gaps([series("ETH/BTC", 0, 600, Domain.CRYPTO_SPOT)], {}) == []  # spot pays no funding
