"""How a target position becomes a wanted direction (engine/run/decide.py): the deadband and
the confirmation timeframe (seed 001), checked on the Decider itself."""
from __future__ import annotations

import numpy as np
import pytest

from engine.domain import Domain
from engine.run.config import load_config
from engine.run.decide import Decider
from engine.run.market import Series

T0 = 1_700_000_000.0


def _series(signal: list[float], confirm: list[float] | None = None) -> Series:
    n = len(signal)
    ones = np.ones(n)
    return Series("X", Domain.CRYPTO_PERP, T0 + 900.0 * np.arange(n), ones, ones, ones, ones, ones, None, None,
                  np.array(signal, dtype=float), np.array(confirm or [0.0] * n, dtype=float), ones, 0)


def _wants(deadband: float, signal: list[float], confirm: list[float] | None = None) -> list:
    use = load_config().strategy.model_copy(update={"deadband": deadband})
    decider, s = Decider(use), _series(signal, confirm)
    return [decider.decide(s, i, float(s.ts[i])) for i in range(len(signal))]


@pytest.mark.parametrize("deadband", [0.0, 0.05, 0.001])
def test_a_target_exactly_at_the_deadband_is_flat(deadband):
    """Flat within the deadband, its edge included (specs/strategies/seed003.yaml: a deadband of
    0.05 reproduces round(position_pct * 10) / 10, which is 0 at +-0.05); with a deadband of 0 a
    target of exactly 0 (a strategy with no view) is flat, never long."""
    wants = _wants(deadband, [-1.0, deadband, -deadband, 1.0])
    assert [w.direction for w in wants] == [-1, 0, 0, 1]
    assert not wants[1].enter and not wants[2].enter and wants[3].enter
    assert round(0.05 * 10) / 10 == 0  # the seed's rounding the 0.05 deadband mirrors
