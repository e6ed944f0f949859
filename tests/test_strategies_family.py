"""Every seed 003 strategy on real bundled bars: sane output, the in-sample target-vol
scaling, and one_step_predict (the replay/live path) equal to the vectorised predict."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from strategies import blocks
from strategies.base import MissingColumnsError, NotFittedError, NotReadyError, Side, StrategyError
from test_strategies_cases import CASES, bars, make

NAMES = sorted(CASES)
N_FIT = 2500
N_ROWS = 3500  # keeps the RollingOLS strategies quick


@pytest.fixture(scope="module", params=["eurusd_1h", "ethbtc_5m"])
def fitted(request):
    """name -> (strategy fitted on the first N_FIT bars, its predict over all bars, bars)."""
    out = {}
    for name in NAMES:
        df = bars(request.param, name).iloc[:N_ROWS]
        s = make(name).fit(df.iloc[:N_FIT])
        out[name] = (s, s.predict(df), df)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_output_is_sane_after_warm_up(fitted, name):
    _, pos, df = fitted[name]
    assert pos.index.equals(df.index)
    after = pos.loc[pos.first_valid_index():].iloc[300:]  # the slowest warm-up in CASES is < 300 bars
    assert np.isfinite(after).all(), f"{name}: NaN/inf after warm-up at {after[~np.isfinite(after)].index[:3]}"
    assert (after != 0).mean() > 0.05, f"{name}: almost always flat"
    assert after.abs().max() < 15, f"{name}: absurd leverage {after.abs().max():.1f}"
    assert after[after != 0].abs().median() > 0.01


@pytest.mark.parametrize("name", NAMES)
def test_in_sample_pnl_vol_equals_target(fitted, name):
    s, pos, df = fitted[name]
    pnl = blocks.strategy_pnl(pos.iloc[:N_FIT], blocks.returns(df["close"].iloc[:N_FIT]))
    realised = blocks.annualised_pnl_vol(pnl, s.state_["bars_per_year"])
    assert realised == pytest.approx(s.params.target_vol * s.weight, rel=1e-9)


def test_strat_weight_scales_the_output():
    df = bars("eurusd_1h").iloc[:1500]
    one = make("EmaVolStrategy").fit(df).predict(df)
    quarter = make("EmaVolStrategy", weight=0.25).fit(df).predict(df)
    pd.testing.assert_series_equal(quarter, one * 0.25, check_names=False)


@pytest.mark.parametrize("name", NAMES)
def test_one_step_predict_is_predict_last_at_every_replay_step(fitted, name):
    s, pos, df = fitted[name]
    for t in (N_FIT - 1, N_FIT + 17):
        assert s.one_step_predict(df.iloc[: t + 1]) == pos.iloc[t]
    assert s.one_step_predict(df) == s.predict(df).iloc[-1]


def test_one_step_predict_fails_closed_during_warm_up():
    df = bars("eurusd_1h")
    s = make("EmaVolStrategy").fit(df.iloc[:1500])
    with pytest.raises(NotReadyError, match="warm-up"):
        s.one_step_predict(df.iloc[:50])


def test_signal_is_side_and_capped_confidence():
    df = bars("eurusd_1h")
    s = make("EmaVolStrategy").fit(df.iloc[:N_FIT])
    pos = s.one_step_predict(df)
    sig = s.signal(df)
    assert sig.side is (Side.BUY if pos > 0 else Side.SELL)
    assert sig.confidence == min(1.0, abs(pos))


def test_predict_before_fit_is_refused():
    with pytest.raises(NotFittedError):
        make("VolScaleStrategy").predict(bars("eurusd_1h"))


def test_fit_on_too_little_history_says_so():
    with pytest.raises(ValueError, match="too little in-sample history"):
        make("EmaVolStrategy").fit(bars("eurusd_1h").iloc[:40])


@pytest.mark.parametrize("dataset", ["eurusd_1h", "ethbtc_5m"])
def test_buysellvol_names_the_missing_column_on_bundled_data(dataset):
    df = bars(dataset)  # the real files: no taker_buy_base_vol anywhere
    with pytest.raises(MissingColumnsError, match="taker_buy_base_vol"):
        make("BuySellVolStrategy").fit(df)


def test_wedthu_is_long_before_wednesday_short_before_thursday_else_flat():
    df = bars("eurusd_1h")
    s = make("WedThuStrategy").fit(df.iloc[:N_FIT])
    pos = s.predict(df).iloc[N_FIT:]
    next_day = (pos.index + pd.Timedelta(hours=1)).dayofweek
    assert (pos[next_day == 2] > 0).all() and (pos[next_day == 3] < 0).all()
    assert (pos[(next_day != 2) & (next_day != 3)] == 0).all()


def test_wedthu_vol_is_the_seeds_ewm_of_its_scaled_window():
    """Seed 003: "separate EWM std for Wed and Thu bars (scaled vol window = vol_window / 7)",
    written as its other vol windows are, `ewm(window).std()`: pandas' first argument is a
    centre of mass, not a span (a span halves the memory; positions moved by up to 13%)."""
    df = bars("eurusd_1h")
    s = make("WedThuStrategy").fit(df.iloc[:N_FIT])
    vol = s._vol(df)
    ret, weekday = blocks.returns(df["close"]), df.index.dayofweek
    seed = ret[weekday == 2].ewm(s.params.vol_window / 7, min_periods=2).std() * math.sqrt(s._bars_per_year(df))
    before_wed = (df.index + pd.Timedelta(hours=1)).dayofweek == 2
    got = vol[before_wed & (weekday == 2)].dropna()  # a Wednesday bar before another: its own day's vol
    assert len(got) > 100
    assert np.allclose(got, seed.reindex(got.index), rtol=1e-12)


def test_rev_fades_the_move():
    df = bars("ethbtc_5m")
    s = make("RevStrategy").fit(df.iloc[:N_FIT])
    pos = s.predict(df)
    recent = blocks.returns(df["close"]).ewm(span=6, min_periods=6).mean()
    active = pos.fillna(0) != 0
    assert active.sum() > 50
    assert (np.sign(pos[active]) == -np.sign(recent[active])).all()


def test_emavol_is_long_in_an_uptrend():
    df = bars("eurusd_1h")
    s = make("EmaVolStrategy").fit(df.iloc[:N_FIT])
    pos = s.predict(df)
    gap = (df["close"].ewm(span=12, min_periods=12).mean() - df["close"].ewm(span=48, min_periods=48).mean())
    ok = pos.notna() & gap.notna() & (gap != 0)
    assert (np.sign(pos[ok]) == np.sign(gap[ok])).mean() == 1.0
    assert math.isfinite(s.state_["weibull_scale"]) and s.state_["weibull_scale"] > 0


@pytest.mark.parametrize("name", ["OrthAlphaStrategy", "WeightedOrthAlphaStrategy"])
def test_orthalpha_on_fewer_rows_than_its_regression_window_fails_closed(name):
    """Half a window of complete rows but less than a whole one: statsmodels indexed past the end
    (a bare IndexError, which no fail-closed handler catches). Now too little history, and not
    ready yet while replaying."""
    df = bars("eurusd_1h")
    short = make(name, regression_window=1440)
    with pytest.raises(StrategyError):
        short.fit(df.iloc[:1300])
    ready = make(name, regression_window=1440).fit(df.iloc[:4000])
    with pytest.raises(NotReadyError):
        ready.one_step_predict(df.iloc[:1300])


def test_a_failed_fit_leaves_the_strategy_unfitted():
    """A fit failing part-way kept the statistics computed before the failure: `fitted` was True
    and predict raised KeyError, which is no StrategyError; also on a strategy fitted before."""
    df = bars("eurusd_1h")
    s = make("EmaVolStrategy").fit(df.iloc[:N_FIT])
    with pytest.raises(StrategyError):
        s.fit(df.iloc[:40])
    assert not s.fitted
    with pytest.raises(NotFittedError):
        s.one_step_predict(df)
