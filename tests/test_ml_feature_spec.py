"""Every parameter that shapes a feature is a `features:` key of the ML spec, recorded with the model.

The MACD periods and the mean-volume and mean-spread windows were constants in features.py;
now they come from specs/ml/filter.yaml (shipped with the old values, so features do not
move), validate refuses bad values at file:line:col, and a run builds a model's features from
the config its manifest records: a model saved before these keys existed gets the values the
features had then.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.run.session import RefusedToStart
from engine.run.signals import ModelFeed, _feed
from strategies.ml import indicators as ind
from strategies.ml.config import FeatureConfig, MLConfig, ModelParams, load_spec, recorded_features
from strategies.ml.features import build_features
from strategies.ml.model import fit, predict
from strategies.ml.pre_spec import feature_values_before_keys as _pre_spec_values
from strategies.ml.registry import LoadedModel
from strategies.regime import flag_settings
from test_ml_features import BARS, CFG, REGIME

NEW_KEYS = ("macd_fast", "macd_slow", "macd_signal", "volume_mean_window", "spread_ratio_window")
BASE = build_features(BARS, CFG, REGIME)


def test_the_shipped_values_are_the_ones_features_py_hard_coded():
    shipped = load_spec("filter", MLConfig).features
    assert shipped == FeatureConfig()
    assert {k: getattr(shipped, k) for k in NEW_KEYS} == _pre_spec_values(shipped)
    close = BARS["close"]
    from ta.trend import MACD  # the library defaults the old `ind.macd(c)` used

    old = MACD(close).macd_diff()
    pd.testing.assert_series_equal(ind.macd(close, 12, 26, 9)["macd_diff"], old, check_names=False)


@pytest.mark.parametrize("key, value, moved", [
    ("macd_fast", 4, "macd"), ("macd_slow", 10, "macd"), ("macd_signal", 4, "macd_"),
    ("volume_mean_window", 5, "_delta"), ("spread_ratio_window", 5, "spread_ratio"),
])
def test_each_spec_value_moves_its_own_features_only(key, value, moved):
    other = build_features(BARS, CFG.model_copy(update={key: value}), REGIME)
    changed = {c for c in BASE.columns if not other[c].equals(BASE[c])}
    assert changed and all(moved in c for c in changed), changed
    if key == "macd_signal":
        assert "macd" not in changed  # the MACD line itself does not use the signal period


def _validate(tmp_path, features: str, capsys) -> str:
    spec = tmp_path / "filter.yaml"
    spec.write_text(f"kind: ml\nfeatures:\n{features}")
    assert main(["validate", str(spec)]) == 1
    return capsys.readouterr().out.replace(str(spec), "F")


@pytest.mark.parametrize("features, expected", [
    ("  volume_mean_window: 0\n", "F:3:23: error SCHEMA_VALUE `features.volume_mean_window`: `0` is out of bounds: "
                                  "it must be from 1 to 1000000"),
    ("  spread_ratio_window: 1000001\n", "F:3:24: error SCHEMA_VALUE `features.spread_ratio_window`: `1000001` "
                                         "is out of bounds"),
    ("  macd_fast: 1\n", "F:3:14: error SCHEMA_VALUE `features.macd_fast`: `1` is out of bounds: it must be from 2"),
    ('  macd_signal: "9"\n', "F:3:16: error SCHEMA_TYPE `features.macd_signal` must be an integer"),
    ("  macd_fast: 26\n  macd_slow: 26\n", "F:4:14: error SCHEMA_VALUE `features.macd_slow`: macd_slow (26) must "
                                           "exceed macd_fast (26)"),
    ("  macd_spread: 3\n", "F:3:3: error"),
])
def test_validate_refuses_a_bad_feature_value_at_its_position(tmp_path, capsys, features, expected):
    assert expected in _validate(tmp_path, features, capsys)


def test_a_model_saved_before_the_keys_gets_the_values_its_features_had():
    old = FeatureConfig().model_dump(exclude=set(NEW_KEYS))
    assert recorded_features(old) == FeatureConfig()  # the shipped spec's model: identical features
    longer = recorded_features({**old, "volume_delta_windows": [1, 24]})
    assert longer.volume_mean_window == 96  # 4 x its longest delta window, not today's default 48
    assert (longer.macd_fast, longer.macd_slow, longer.macd_signal, longer.spread_ratio_window) == (12, 26, 9, 48)
    recorded = {**old, "volume_delta_windows": [1, 24], "volume_mean_window": 7}
    assert recorded_features(recorded).volume_mean_window == 7  # a recorded value is never replaced


# A feature config unlike the shipped one in every moved key, and a model that leans on MACD.
RECORDED = CFG.model_copy(update={"higher_timeframes": ["30m"], "macd_fast": 4, "macd_slow": 9, "macd_signal": 3,
                                  "volume_mean_window": 10, "spread_ratio_window": 6})


def _model(manifest_features: dict) -> LoadedModel:
    X = build_features(BARS, RECORDED, REGIME)
    y = (X["macd_diff"].fillna(0.0) > 0).to_numpy(dtype=float)
    booster = fit(X, y, ModelParams(n_estimators=5, max_depth=2, min_child_weight=1.0, subsample=1.0))
    manifest = {"feature_config": manifest_features, "threshold": 0.5, "regime_config": flag_settings(REGIME),
                # recorded as trained before BARS so every bar is judged (ml.in_sample): these tests check
                # which features a run builds, not what the model scores
                "data": {"end": (BARS.index[0] - pd.Timedelta(days=1)).isoformat()}}
    return LoadedModel("TEST", "5m", 1, booster, manifest)


def test_a_run_builds_a_models_features_from_its_recorded_config():
    model = _model(RECORDED.model_dump())
    feed = ModelFeed("TEST:5m:v1", model, BARS, REGIME)
    ts = BARS.index[200:].as_unit("s").asi8.astype(float)
    probs = feed.probs(ts)
    assert np.isfinite(probs).all()
    expected = predict(model.booster, build_features(BARS, RECORDED, REGIME))[200:]
    np.testing.assert_array_equal(probs, expected)
    shipped = RECORDED.model_copy(update={k: getattr(FeatureConfig(), k) for k in NEW_KEYS})
    assert not np.array_equal(probs, predict(model.booster, build_features(BARS, shipped, REGIME))[200:])


def test_a_recorded_config_the_engine_cannot_build_refuses_to_start():
    specs = SimpleNamespace(extra={"regime": REGIME}, extra_pos={})
    bad = {**RECORDED.model_dump(), "macd_slow": 3}
    with pytest.raises(RefusedToStart, match=r"model TEST:5m:v1 records a feature config this engine cannot build "
                                             r"its features from \(`macd_slow`: .*must exceed macd_fast.*\): retrain"):
        _feed(specs, "TEST:5m:v1", _model(bad), BARS)
    with pytest.raises(RefusedToStart, match="the manifest records no feature_config"):
        _feed(specs, "TEST:5m:v1", _model(None), BARS)  # type: ignore[arg-type]


def test_a_model_saved_before_the_keys_starts_and_predicts_as_it_did():
    specs = SimpleNamespace(extra={"regime": REGIME}, extra_pos={})
    trained = RECORDED.model_copy(update=_pre_spec_values(RECORDED))  # what the old code built
    model = _model(trained.model_dump())
    legacy = LoadedModel("TEST", "5m", 1, model.booster,
                         {**model.manifest, "feature_config": trained.model_dump(exclude=set(NEW_KEYS))})
    ts = BARS.index[200:].as_unit("s").asi8.astype(float)
    np.testing.assert_array_equal(_feed(specs, "TEST:5m:v1", legacy, BARS).probs(ts),
                                  predict(model.booster, build_features(BARS, trained, REGIME))[200:])


def test_a_model_trained_on_features_the_data_cannot_give_refuses_to_start():
    """A spread-trained model on bars without bid/ask was a ValueError traceback at the first decision."""
    specs = SimpleNamespace(extra={"regime": REGIME}, extra_pos={})
    model = _model(RECORDED.model_dump())  # trained on BARS, whose bid/ask give the spread features
    with pytest.raises(RefusedToStart, match=r"trained on features the run's TEST data cannot give "
                                             r"\(spread, spread_ratio\)"):
        _feed(specs, "TEST:5m:v1", model, BARS.drop(columns=["bid", "ask"]))
