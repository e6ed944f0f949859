"""A bin missing source bars inside the data is kept as a bar and counted (attrs["partial"]);
one the data only partly covers at either end is dropped (engine/data/resample.py says why)."""
from __future__ import annotations

import pandas as pd

from engine.data import bundled
from engine.data.resample import multi_timeframe, resample

ETH = bundled.load("crypto_spot/ETH_BTC-5m")


def _without(df: pd.DataFrame, drop: list[int]) -> pd.DataFrame:
    out = df.drop(df.index[drop])
    out.attrs = dict(df.attrs)
    return out


def test_an_interior_bin_missing_bars_is_kept_and_counted():
    full = resample(ETH, "15m")
    t = full.index[10]
    inside = [i for i, ts in enumerate(ETH.index) if t <= ts < t + pd.Timedelta("15min")]
    holed = resample(_without(ETH, inside[1:]), "15m")  # the 15m bar at t from 1 of its 3 5m bars
    assert holed.attrs["partial"] == 1 and full.attrs["partial"] == 0
    assert holed.index.equals(full.index)
    bar = ETH.iloc[inside[0]]
    assert holed.loc[t, ["open", "close"]].tolist() == [bar["open"], bar["close"]]


def test_a_bin_cut_by_the_data_s_end_is_dropped_not_counted():
    full = resample(ETH, "15m")
    cut = ETH[ETH.index < full.index[-1] + pd.Timedelta("10min")]  # the last bar's bin loses its last 5m bar
    cut.attrs = dict(ETH.attrs)
    short = resample(cut, "15m")
    assert short.index.equals(full.index[:-1]) and short.attrs["partial"] == 0


def test_real_gbpusd_minutes_leave_partial_hours_that_stay_bars():
    """Real GBP/USD 1m misses illiquid minutes: 56 of its 504 hours are partial, and trading them
    as bars is what the run does (refusing them would refuse the bundled forex data)."""
    df = multi_timeframe(bundled.load("forex/GBPUSD-1m"), "1h", "15m")
    assert (len(df), df.attrs["partial"]) == (504, 56)
