"""How a target position becomes a wanted direction (engine/run/decide.py): the deadband and
the confirmation timeframe (seed 001), checked on the Decider itself."""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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


@functools.cache
def _use():
    return load_config().strategy


def _wants(deadband: float, signal: list[float], confirm: list[float] | None = None) -> list:
    use = _use().model_copy(update={"deadband": deadband})
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


def test_the_confirmation_direction_is_the_sign_of_the_last_closed_confirmation_bar():
    """Seed 001 multi-timeframe confirmation: a series' `confirm` at a primary bar is +1 when the
    last confirmation bar closed by then ROSE (close > open), -1 when it fell, 0 when flat."""
    import pandas as pd

    from engine.data import bundled
    from engine.run.config import DomainData
    from engine.run.market import load_series

    cfg = load_config()
    use = cfg.strategy.model_copy(update={"file": str(Path(__file__).resolve().parents[1] / "specs" / "strategies"
                                                     / f"{cfg.strategy.spec}.yaml"),
                                     "use": ["emavol_24h"]})
    s = load_series("crypto_spot/ETH_BTC-5m", DomainData(primary="15m", confirm="5m"), use, 14)
    five = bundled.load("crypto_spot/ETH_BTC-5m")
    last5 = pd.to_datetime(s.ts - 300.0, unit="s", utc=True)  # the 5m bar closing with each 15m bar
    want = np.sign(five["close"] - five["open"]).reindex(last5).to_numpy()
    assert len(want) > 100 and {-1.0, 1.0} <= set(want)
    assert (s.confirm == want).all()


def _ml_decider(p_up: float, threshold: float, min_rate: float = 0.0) -> Decider:
    from engine.run.decide import EntryFilters, SymbolInputs
    from strategies.ml.config import ExplorationConfig

    inp = SymbolInputs(np.full(3, "TREND_UP", dtype=object), {"X:15m:v1": np.full(3, p_up)}, threshold)
    explo = ExplorationConfig(min_rate=min_rate, chop_rate=min_rate, chop_regimes=("RANGE",), tag="exploration")
    return Decider(load_config().strategy, EntryFilters({"X": inp}, explo))


@pytest.mark.parametrize(("d", "p_up"), [(1, 0.75), (-1, 0.25)])
def test_the_ml_filter_threshold_is_inclusive_on_both_sides(d, p_up):
    """Seed 002: BUY needs p_up >= threshold, SELL p_up <= 1 - threshold (both edges pass)."""
    s = _series([-d, d, d])
    decider = _ml_decider(p_up, 0.75)
    decider.decide(s, 0, float(s.ts[0]))
    want = decider.decide(s, 1, float(s.ts[1]))
    assert want.enter and want.refusal is None and want.tags == ()


def test_an_exploration_draw_tags_the_entry_even_when_the_model_would_take_it():
    """Seed 001: a drawn exploration entry is taken whatever the model says AND tagged, so the
    tagged share is the exploration rate (here 100%) and its KPIs are kept apart."""
    s = _series([-1.0, 1.0, 1.0])
    decider = _ml_decider(0.9, 0.6, min_rate=1.0)
    decider.decide(s, 0, float(s.ts[0]))
    want = decider.decide(s, 1, float(s.ts[1]))
    assert want.enter and want.tags == ("exploration",)


@given(st.lists(st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.0, math.nan]), min_size=3, max_size=12),
       st.sampled_from([0.0, 0.05]))
@example([1.0, 0.0, -2.0], 0.0)  # long, then a no-view 0.0: flat, not a quiet bar
@example([2.0, 1.0, 1.0], 0.05)  # long, then exactly the deadband: flat
def test_the_bars_quiet_bars_skips_decide_nothing_at_the_deadband_edge(steps, deadband):
    """engine/run/quiet.py skips the bars Decider.quiet_bars proves quiet: on each of them, decide
    must change no direction and arm no entry, also for targets exactly at +-deadband (the
    skip's direction must read the deadband as decide does)."""
    signal = [x * deadband if deadband and math.isfinite(x) else x for x in steps]
    use = _use().model_copy(update={"deadband": deadband})
    s = _series(signal)
    for lo in range(1, len(signal)):
        decider = Decider(use)
        for i in range(lo):
            decider.decide(s, i, float(s.ts[i]))
        last = decider.last.get("X")
        for i in range(lo, lo + decider.quiet_bars(s, lo, len(signal))):
            want = decider.decide(s, i, float(s.ts[i]))
            assert want is None or (want.direction == last and not want.enter), (lo, i)


def test_an_entry_already_held_is_neither_judged_nor_drawn_for():
    """Seed 001/002: the ML filter and the exploration draw judge an entry only when it can happen.
    While a position in that direction is open, a new signal is not refused by the model (no
    journal row) and draws nothing from the run's rng (replays keep the same later draws)."""
    s = _series([-1.0, 1.0, 1.0])
    decider = _ml_decider(0.1, 0.6, min_rate=0.5)  # the model would refuse this BUY
    decider.holding = lambda symbol, direction: True
    decider.decide(s, 0, float(s.ts[0]))
    before = decider.rng.getstate()
    want = decider.decide(s, 1, float(s.ts[1]))
    assert want.refusal is None and want.tags == () and decider.rng.getstate() == before
