"""The past bars the RANGE and HIGH_VOL quantiles need (`lookback_min_bars`) are a key of the
regime spec, no longer `max(20, vol_lookback // 5)` in strategies/regime.py: shipped at the
value that expression gave, so the regime features do not move; validate refuses a bad value
at file:line:col; and a model saved before the key existed is compared as trained with the
value its features had then (tests/test_run_ml_regime.py starts a run with one).
"""
from __future__ import annotations

import pytest
from ml_helpers import random_bars

from engine.cli import main
from strategies.ml.config import RegimeConfig, load_spec
from strategies.regime import changed_settings, flag_settings, regime_flags

SHIPPED = load_spec("regime", RegimeConfig)


def test_the_shipped_value_is_the_one_regime_flags_hard_coded():
    assert SHIPPED.lookback_min_bars == max(20, SHIPPED.vol_lookback // 5) == 100


def test_the_key_moves_the_quantile_flags_over_the_warm_up_only():
    bars = random_bars(800, seed=5)
    base = regime_flags(bars, SHIPPED)
    fewer = regime_flags(bars, SHIPPED.model_copy(update={"lookback_min_bars": 40}))
    moved = {c for c in base.columns if not fewer[c].equals(base[c])}
    assert moved and moved <= {"range", "high_vol"}, moved
    assert fewer.iloc[200:].equals(base.iloc[200:])  # past the warm-up both have their quantiles


@pytest.mark.parametrize("lookback", [40, 50, 500, 1000])
def test_a_spec_without_the_key_keeps_the_warm_up_it_had_before_the_key(lookback):
    """A user's regime spec written before the key: its flags must not move silently to the shipped 100."""
    cfg = SHIPPED.model_validate({**SHIPPED.model_dump(exclude={"lookback_min_bars"}), "vol_lookback": lookback})
    assert cfg.lookback_min_bars == max(20, lookback // 5)


@pytest.mark.parametrize("body, expected", [
    ("vol_lookback: 50\nlookback_min_bars: 60\n", "F:3:20: error SCHEMA_VALUE `lookback_min_bars`: lookback_min_bars "
                                                  "(60) must not exceed vol_lookback (50)"),
    ("lookback_min_bars: 0\n", "F:2:20: error SCHEMA_VALUE `lookback_min_bars`: `0` is out of bounds"),
    ("lookback_min_bars: 1.5\n", "F:2:20: error SCHEMA_TYPE `lookback_min_bars` must be an integer"),
])
def test_validate_refuses_a_bad_value_at_its_position(tmp_path, capsys, body, expected):
    spec = tmp_path / "regime.yaml"
    spec.write_text(f"kind: regime\n{body}")
    assert main(["validate", str(spec)]) == 1
    assert expected in capsys.readouterr().out.replace(str(spec), "F")


def test_a_model_saved_before_the_key_is_compared_with_the_value_its_features_had():
    old = flag_settings(SHIPPED)
    del old["lookback_min_bars"]
    assert changed_settings(old, SHIPPED) == []  # the shipped spec's model: accepted, identical features
    longer = SHIPPED.model_copy(update={"vol_lookback": 1000})
    trained = {**old, "vol_lookback": 1000}
    # Its features needed 200 past bars (1000 // 5), not the shipped 100: refused, naming both values.
    assert changed_settings(trained, longer) == [("lookback_min_bars", 200, 100)]
    assert changed_settings(trained, longer.model_copy(update={"lookback_min_bars": 200})) == []
    # A recorded value is never replaced.
    assert changed_settings({**trained, "lookback_min_bars": 100}, longer) == []
