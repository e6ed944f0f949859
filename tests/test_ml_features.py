import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st
from ml_helpers import random_bars

from strategies.ml.config import FeatureConfig, RegimeConfig
from strategies.ml.features import build_features

# Small windows so every feature, the 30m/1h ones included, is warm inside a short frame.
CFG = FeatureConfig(higher_timeframes=["30m", "1h"], ema_windows=[3, 8], rsi_window=5, atr_window=5,
                    adx_window=5, bb_window=6, volume_delta_windows=[1, 3], return_windows=[1, 3])
REGIME = RegimeConfig(kind="regime", adx_window=5, ema_window=8, bb_window=6, atr_window=5, vol_lookback=40,
                        lookback_min_bars=20)
BARS = random_bars(400, seed=3, spread=True)
BASE = build_features(BARS, CFG, REGIME)


def _perturb(bars: pd.DataFrame, start: int, seed: int) -> pd.DataFrame:
    """Rewrite bars start.. with a different (still valid) path."""
    other = random_bars(len(bars), seed=seed, spread=True).iloc[start:]
    out = bars.copy()
    cols = list(bars.columns)
    out.iloc[start:, [out.columns.get_loc(c) for c in cols]] = other[cols].to_numpy() * 1.3
    return out


@settings(max_examples=25)
@given(t=st.integers(min_value=100, max_value=398), seed=st.integers(min_value=10, max_value=10_000))
def test_altering_bar_t_and_after_never_changes_features_up_to_t(t, seed):
    changed = build_features(_perturb(BARS, t, seed), CFG, REGIME)
    pd.testing.assert_frame_equal(changed.iloc[: t + 1], BASE.iloc[: t + 1], check_exact=True)


def test_the_check_can_fail_features_after_t_do_move():
    t = 300
    changed = build_features(_perturb(BARS, t, 99), CFG, REGIME)
    assert not changed.iloc[t + 1].equals(BASE.iloc[t + 1])
    htf = [c for c in BASE.columns if c.startswith("1h_") and "macd" not in c]  # MACD: CFG keeps the 26-bar slow EMA
    assert BASE.iloc[t][htf].notna().all(), "1h features must be warm for the test to mean anything"
    assert not changed.iloc[t + 13:][htf].equals(BASE.iloc[t + 13:][htf])


def test_higher_timeframe_value_only_after_its_bar_closed():
    # rows 12:00..12:55 (5m) get the 11:00 hour; 13:00 gets 12:00's, which closed at 13:00
    f = BASE["1h_ret1"]
    hourly = np.log(BARS["close"].groupby(BARS.index.floor("1h")).last()).diff()
    assert f.loc["2024-01-01 12:55"] == np.float32(hourly.loc["2024-01-01 11:00"])
    assert f.loc["2024-01-01 13:00"] == np.float32(hourly.loc["2024-01-01 12:00"])


def test_primary_features_are_shifted_one_bar():
    r = np.log(BARS["close"]).diff()
    assert BASE["ret1"].iloc[50] == np.float32(r.iloc[49])


def test_spread_and_regime_flags_present():
    assert {"spread", "spread_ratio", "regime_trend_up", "regime_high_vol"} <= set(BASE.columns)
    assert "spread" not in build_features(BARS.drop(columns=["bid", "ask"]), CFG, REGIME).columns


def test_bad_input_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="lack column"):
        build_features(BARS.drop(columns=["volume"]), CFG, REGIME)
    with pytest.raises(ValueError, match="sorted"):
        build_features(BARS.iloc[::-1], CFG, REGIME)


def test_a_history_shorter_than_a_higher_timeframe_s_warm_up_is_nan_not_a_crash():
    """600 5m bars hold 12 closed 4h bars, fewer than the ATR's 14: the 4h features are warm-up
    NaN (review 8: ta's ATR indexed past the end, and engine select died with a traceback)."""
    bars = random_bars(600, seed=3)
    X = build_features(bars, FeatureConfig(higher_timeframes=["4h"]), REGIME)
    assert X["4h_natr"].isna().all() and X["natr"].notna().any()
