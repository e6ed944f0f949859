"""Seed 002's symmetry rule, at its boundaries: BUY at p >= threshold, SELL at p <= 1 - threshold.

1 - 0.55 is 0.44999999999999996 in binary, so a probability of exactly 0.45 was no SELL at the
filter's default threshold 0.55 while exactly 0.55 was a BUY. Every place that applies the rule
(the ensemble vote, the single-model filter, the evaluation trades) must mirror a threshold."""
from __future__ import annotations

import numpy as np
import pytest

from engine.run.decide import Decider, EntryFilters, SymbolInputs
from strategies.ensemble import load_ensemble_config, vote
from strategies.ml.model import sides

THRESHOLDS = [t / 100 for t in range(51, 100)]  # every two-decimal threshold a spec may set


@pytest.fixture(scope="module")
def decider() -> Decider:
    return Decider(use=None, filters=EntryFilters({}, ensemble=load_ensemble_config()))


def _inputs(p: float, thr: float) -> SymbolInputs:
    return SymbolInputs(np.array(["TREND_UP"]), {"m": np.array([p])}, thr)


@pytest.mark.parametrize("thr", THRESHOLDS)
def test_a_threshold_and_its_mirror_decide_alike(thr: float, decider: Decider) -> None:
    mirror = round(1 - thr, 2)  # as the user writes it: 0.45 for 0.55
    for method in ("weighted", "majority"):
        cfg = load_ensemble_config().model_copy(update={"threshold": thr, "method": method})
        assert vote({"a": thr, "b": thr}, cfg).decision == "BUY"
        assert vote({"a": mirror, "b": mirror}, cfg).decision == "SELL", method
    assert decider._judge(_inputs(thr, thr), 0, 0.0, +1)[0]
    assert decider._judge(_inputs(mirror, thr), 0, 0.0, -1)[0]
    assert sides(np.array([thr, mirror]), thr).tolist() == [1, -1]


@pytest.mark.parametrize("thr", [0.55, 0.9])
def test_just_inside_the_lines_is_no_trade(thr: float, decider: Decider) -> None:
    """The slack decides only the boundary: a float32 step inside it is still no trade."""
    inside_buy, inside_sell = np.nextafter(np.float32(thr), 0), np.nextafter(np.float32(1 - thr), 1)
    assert sides(np.array([inside_buy, inside_sell], dtype=float), thr).tolist() == [0, 0]
    assert not decider._judge(_inputs(float(inside_sell), thr), 0, 0.0, -1)[0]
    assert not decider._judge(_inputs(float(inside_buy), thr), 0, 0.0, +1)[0]


@pytest.mark.parametrize("thr", THRESHOLDS)
@pytest.mark.parametrize("n", [3, 5, 7])
def test_a_vote_of_models_all_at_the_line_mirrors(thr: float, n: int) -> None:
    """Three equal-weight models at 0.7 averaged to 0.6999999999999998, a HOLD, while three at
    0.3 made SELL: a score's rounding may not decide one side and not the other."""
    mirror = round(1 - thr, 2)
    cfg = load_ensemble_config().model_copy(update={"threshold": thr, "method": "weighted", "weights": {}})
    names = [f"m{k}" for k in range(n)]
    assert vote(dict.fromkeys(names, thr), cfg).decision == "BUY"
    assert vote(dict.fromkeys(names, mirror), cfg).decision == "SELL"
