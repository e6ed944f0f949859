"""The values keys had before they existed (strategies/ml/pre_spec.py): one source for the regime
spec's validator and a model's recorded settings, and a schema that shows the missing key's
value is derived from vol_lookback, not a fixed default nobody gets."""
from __future__ import annotations

import pytest

from engine.spec.models import json_schema
from strategies.ml.config import FeatureConfig, RegimeConfig, recorded_features
from strategies.ml.pre_spec import feature_values_before_keys, min_bars_before_key
from strategies.regime import trained_settings


@pytest.mark.parametrize("lookback", [20, 99, 100, 101, 500, 1000, 5000])
def test_a_spec_and_a_record_without_the_key_get_the_same_warm_up(lookback: int) -> None:
    spec = RegimeConfig.model_validate({"kind": "regime", "vol_lookback": lookback})
    assert spec.lookback_min_bars == trained_settings({"vol_lookback": lookback})["lookback_min_bars"] \
        == min_bars_before_key(lookback) == max(20, lookback // 5)


def test_no_warm_up_is_derived_from_a_vol_lookback_that_is_no_integer() -> None:
    assert min_bars_before_key(500.0) is min_bars_before_key(True) is min_bars_before_key(None) is None
    assert "lookback_min_bars" not in trained_settings({"vol_lookback": "500"})


def test_the_schema_says_the_missing_key_is_derived_not_a_fixed_default() -> None:
    field = json_schema("regime")["properties"]["lookback_min_bars"]
    assert field.get("default") is None and "vol_lookback // 5" in field["description"]
    assert RegimeConfig.model_fields["lookback_min_bars"].default is None


def test_a_record_without_the_feature_keys_gets_the_values_from_before_them() -> None:
    recorded = {"volume_delta_windows": [1, 6]}
    assert recorded_features(recorded).model_dump(include=set(feature_values_before_keys(FeatureConfig()))) == {
        "macd_fast": 12, "macd_slow": 26, "macd_signal": 9, "spread_ratio_window": 48, "volume_mean_window": 24}
