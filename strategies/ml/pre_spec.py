"""The values settings had before they were spec keys ("before the key"): what the code
hard-coded then. A spec or a model's record written before a key existed gets these, never
today's default, so that its features do not move silently. History, not rules: a new spec
or model states its own, and nothing here may change.

One place for them: the regime spec's validator fills a missing key with them, and a model's
recorded settings are completed with them (strategies/regime.py trained_settings,
strategies/ml/config.py recorded_features). Light (no pandas): `engine validate` loads it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from strategies.ml.config import FeatureConfig


def min_bars_before_key(vol_lookback: object) -> int | None:
    """regime_flags' warm-up before `lookback_min_bars`: a fifth of `vol_lookback`, at least 20.
    None for a vol_lookback that is no integer (the schema reports it; there is no warm-up to
    derive from it)."""
    return max(20, vol_lookback // 5) if type(vol_lookback) is int else None


def regime_values_before_keys(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The regime keys' values before the keys, from the settings' own vol_lookback; a key the
    settings have keeps their value (the caller's to overlay)."""
    bars = min_bars_before_key(settings.get("vol_lookback"))
    return {} if bars is None else {"lookback_min_bars": bars}


def feature_values_before_keys(cfg: FeatureConfig) -> dict[str, int]:
    """What features.py hard-coded before these were spec keys (ta's MACD defaults, the mean
    volume over 4 x the longest delta window, a 48-bar mean spread): the features every model
    saved before then was trained on."""
    return {"macd_fast": 12, "macd_slow": 26, "macd_signal": 9, "spread_ratio_window": 48,
            "volume_mean_window": 4 * max(cfg.volume_delta_windows)}
