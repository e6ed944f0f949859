from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from ml_helpers import random_bars

from engine.diagnostics import SpecError
from strategies.ml.config import Allowlist, AllowlistsConfig, RegimeConfig, load_model
from strategies.regime import Regime, check_allowlist, classify, load_allowlists, regime_flags, sessions_at

CFG = RegimeConfig(kind="regime", vol_lookback=100, lookback_min_bars=20)


def _ts(hour: int) -> float:
    return datetime(2024, 1, 2, hour, 30, tzinfo=timezone.utc).timestamp()


def test_sessions_utc_with_wraparound_and_overlap():
    assert sessions_at(_ts(23), CFG) == ["asian"] and sessions_at(_ts(6), CFG) == ["asian"]
    assert sessions_at(_ts(7), CFG) == ["eu"]
    assert set(sessions_at(_ts(14), CFG)) == {"eu", "us"}
    assert sessions_at(_ts(22), CFG) == []


def test_trend_up_and_down_from_adx_and_ema_slope():
    up = random_bars(400, seed=1, drift=0.003, vol=0.001)
    down = random_bars(400, seed=1, drift=-0.003, vol=0.001)
    # flags, not labels: HIGH_VOL takes precedence where the walk's volatility clusters
    assert regime_flags(up, CFG)["trend_up"].iloc[-100:].mean() > 0.9
    assert regime_flags(down, CFG)["trend_down"].iloc[-100:].mean() > 0.9
    assert not regime_flags(up, CFG)["trend_down"].iloc[-100:].any()


def test_range_in_quiet_mean_reverting_market():
    n = 600
    rng = np.random.default_rng(0)
    close = 100 + rng.normal(0, 0.05, n)
    close[-150:] = 100 + rng.normal(0, 0.01, 150)  # the same mean, tighter bands
    prev = np.r_[close[0], close[:-1]]
    idx = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    bars = pd.DataFrame({"open": prev, "high": np.maximum(prev, close) + 0.002,
                         "low": np.minimum(prev, close) - 0.002, "close": close, "volume": 1.0}, index=idx)
    assert (classify(bars, CFG).iloc[-100:] == Regime.RANGE.value).mean() > 0.7


def test_high_vol_uses_only_past_bars_and_takes_precedence():
    bars = random_bars(600, seed=2, vol=0.001)
    spike = bars.copy()
    spike.iloc[500:, :4] = random_bars(100, seed=3, vol=0.02).to_numpy()[:, :4] * bars["close"].iloc[499] / 100
    flags = regime_flags(spike, CFG)
    assert flags["high_vol"].iloc[505:520].all()
    assert (classify(spike, CFG).iloc[505:520] == Regime.HIGH_VOL.value).all()
    # the future does not move the past: classification of bar 499 ignores the spike
    assert classify(spike, CFG).iloc[:500].equals(classify(bars, CFG).iloc[:500])




def test_high_vol_wins_over_a_trend_or_range_flagged_on_the_same_bar():
    """Seed 004: HIGH_VOL takes precedence whatever the direction: every bar flagged high_vol
    is HIGH_VOL even where trend_up, trend_down or range is flagged too."""
    bars = random_bars(600, seed=0, vol=0.001)
    flags, regimes = regime_flags(bars, CFG), classify(bars, CFG)
    for other in ("trend_up", "trend_down", "range"):
        assert (flags["high_vol"] & flags[other]).any()  # the case the rule is about occurs
    assert (regimes[flags["high_vol"]] == Regime.HIGH_VOL.value).all()

def test_range_and_high_vol_references_are_quantiles_of_strictly_earlier_bars():
    """Seed 004 regimes: the tight-band (RANGE) and HIGH_VOL references are quantiles over the
    `vol_lookback` bars BEFORE the bar classified, never including it (checked against an
    explicit window, bar by bar)."""
    from strategies.ml import indicators as ind

    bars = random_bars(1500, seed=1, vol=0.001)
    flags = regime_flags(bars, CFG)
    h, lo, c = bars["high"], bars["low"], bars["close"]
    adx = ind.adx(h, lo, c, CFG.adx_window)["adx"].to_numpy()
    width = ind.bollinger(c, CFG.bb_window, CFG.bb_dev)["bb_width"].to_numpy()
    natr = (ind.atr(h, lo, c, CFG.atr_window) / c).to_numpy()
    L, t = CFG.vol_lookback, np.arange(150, len(bars))
    past = np.lib.stride_tricks.sliding_window_view  # row k: bars k .. k+L-1, i.e. the L bars before k+L
    tight = width[t] <= np.nanquantile(past(width, L)[t - L], CFG.tight_band_quantile, axis=1)
    high = natr[t] > np.nanquantile(past(natr, L)[t - L], CFG.high_vol_quantile, axis=1)
    assert (flags["range"].to_numpy()[t] == ((adx[t] < CFG.range_adx_max) & tight)).all()
    assert (flags["high_vol"].to_numpy()[t] == high).all()
    assert flags["range"].iloc[150:].any() and not flags["range"].iloc[150:].all()
    assert flags["high_vol"].iloc[150:].any()

def test_allowlist_refusals_carry_a_reason():
    allow = Allowlist(sessions=["eu"], regimes=["TREND_UP"], assets=["crypto_spot", "EUR/USD"])
    assert check_allowlist(allow, _ts(9), "TREND_UP", "EUR/USD", CFG) == (True, "allowed")
    assert check_allowlist(allow, _ts(3), "TREND_UP", "EUR/USD", CFG)[1].startswith("session:")
    assert check_allowlist(allow, _ts(22), "TREND_UP", "EUR/USD", CFG)[1] == "session: no session open at this hour"
    assert check_allowlist(allow, _ts(9), Regime.RANGE, "EUR/USD", CFG)[1].startswith("regime:")
    assert check_allowlist(allow, _ts(9), "TREND_UP", "forex", CFG)[1].startswith("asset:")
    assert check_allowlist(allow, _ts(9), "MOONING", "EUR/USD", CFG) == (False, "regime: unknown regime 'MOONING'")
    anything = Allowlist(sessions=["*"], regimes=["*"], assets=["*"])
    assert check_allowlist(anything, _ts(22), "RANGE", "X", CFG)[0]
    with pytest.raises(ValueError):
        check_allowlist(allow, datetime(2024, 1, 2, 9), "TREND_UP", "EUR/USD", CFG)  # naive time


def test_allowlists_load_from_yaml_and_errors_have_positions(tmp_path):
    assert "ml_filter" in load_allowlists()
    bad = tmp_path / "allowlists.yaml"
    bad.write_text("kind: allowlists\nstrategies:\n  s1:\n    sessions: [eu]\n    regimes: [TRENDY]\n"
                   "    assets: ['*']\n")
    with pytest.raises(SpecError) as e:
        load_model(bad, AllowlistsConfig)
    d = e.value.diagnostics[0]
    assert (d.pos.line, d.pos.col) == (5, 14) and "TRENDY" in d.message  # at the value, as validate
