"""Resampling never leaks the future; multi-timeframe pairs only closed bars."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.data import bundled
from engine.data.errors import DataError
from engine.data.resample import multi_timeframe, resample

ETH = bundled.load("crypto_spot/ETH_BTC-5m")
M15 = pd.Timedelta("15min")
M5 = pd.Timedelta("5min")


@given(st.integers(min_value=3, max_value=len(ETH) - 1))
def test_15m_bar_at_t_is_the_resample_of_only_5m_bars_closed_by_t(cut):
    """Truncate the 5m data at any point: every 15m bar built from the truncated data
    equals the bar built from all data, and uses only 5m bars closed by its close."""
    known = ETH.iloc[:cut]
    known.attrs = dict(ETH.attrs)
    partial, full = resample(known, "15m"), resample(ETH, "15m")
    assert partial.equals(full.loc[partial.index])  # nothing later changes a published bar
    assert (partial.index + M15 <= known.index[-1] + M5).all()  # each closed by the data's end
    if len(partial):
        t = partial.index[-1]
        window = known[(known.index >= t) & (known.index + M5 <= t + M15)]
        assert partial.loc[t, "open"] == window["open"].iloc[0]
        assert partial.loc[t, "high"] == window["high"].max()
        assert partial.loc[t, "low"] == window["low"].min()
        assert partial.loc[t, "close"] == window["close"].iloc[-1]
        assert partial.loc[t, "volume"] == pytest.approx(window["volume"].sum())


def test_partial_leading_bin_is_dropped():
    r = resample(ETH, "15m")  # the data starts at 04:55, mid-bin
    assert r.index[0] == pd.Timestamp("2018-01-10 05:00", tz="UTC")


def test_multi_timeframe_confirmation_is_never_newer_than_primary():
    m = multi_timeframe(ETH, "15m", "5m")  # crypto's pair (seed 001; engine/run/defaults.yaml)
    assert (m["confirm_ts"] + M5 <= m.index + M15).all()
    assert (m["confirm_ts"] + M5 == m.index + M15).all()  # ...and the latest one closed by then



def test_multi_timeframe_across_a_gap_pairs_an_earlier_confirmation_never_a_later_one():
    """Seed 001 confirmation timeframe, no lookahead: where the 5m bar closing with a 15m bar is
    missing (a gap; the 15m bar is kept as partial), the row gets the last 5m bar closed by then,
    never the next one after the gap (which closes after the primary bar)."""
    closing = (ETH.index.minute % 15 == 10) & (ETH.index.hour == 12)  # each 12:xx 15m bar's last 5m bar
    gap = ETH.drop(ETH.index[closing])
    gap.attrs = dict(ETH.attrs)
    m = multi_timeframe(gap, "15m", "5m")
    hit = m.index.hour == 12
    assert hit.any() and (m["confirm_ts"] + M5 <= m.index + M15).all()
    assert (m.loc[hit, "confirm_ts"] + M5 * 2 == m.index[hit] + M15).all()  # the bar before the gap

def test_multi_timeframe_never_pairs_a_later_confirmation_even_when_it_is_nearer():
    """Seed 001, no lookahead: a 15m bar kept with only its first 5m bar (the next two missing)
    closes at 00:30; the last 5m bar closed by then closed at 00:20, the next one after the gap
    closes at 00:35, nearer, but after the primary bar's close: the row gets the 00:15 bar."""
    idx = pd.date_range("2024-01-01", periods=24, freq="5min", tz="UTC", name="ts")
    df = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.0, "volume": 1.0}, index=idx)
    df = df.drop(idx[[4, 5]])  # 00:20 and 00:25
    df.attrs = {"tf": "5m"}
    m = multi_timeframe(df, "15m", "5m")
    t = pd.Timestamp("2024-01-01 00:15", tz="UTC")
    assert m.loc[t, "confirm_ts"] == t
    assert (m["confirm_ts"] + M5 <= m.index + M15).all()


def test_cannot_resample_to_a_timeframe_that_is_not_a_whole_multiple():
    """A 15m bar from 10m bars would split a source bar between two targets (or bin it wrongly)."""
    idx = pd.date_range("2024-01-01", periods=12, freq="10min", tz="UTC", name="ts")
    df = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.0, "volume": 1.0}, index=idx)
    df.attrs = {"tf": "10m"}
    with pytest.raises(DataError, match="cannot make 15m bars from 10m") as err:
        resample(df, "15m")
    assert "whole multiple" in err.value.hint


def test_iter_bars_stamps_each_bar_at_its_close_never_its_open():
    """A frame's index is each bar's open; a Bar is known only once it has closed, so Bar.ts is
    open + interval (engine/data/bars.py): a replay fed open-stamped bars would act on a bar's
    close before the bar ended (mutation round 6)."""
    from engine.data.bars import iter_bars

    bars = list(iter_bars(ETH.iloc[:3]))
    assert [b.ts for b in bars] == [(t + M5).timestamp() for t in ETH.index[:3]]
    assert bars[0].close == ETH["close"].iloc[0]


def test_forex_bid_ask_resample_keeps_last_quote():
    fx = bundled.load("forex/GBPUSD-1m")
    h = resample(fx, "1h")
    t = h.index[1]
    window = fx[(fx.index >= t) & (fx.index < t + pd.Timedelta("1h"))]
    assert h.loc[t, "bid"] == window["bid"].iloc[-1] and h.loc[t, "ask"] == window["ask"].iloc[-1]
    m = multi_timeframe(fx, "1h", "15m")  # forex's pair
    assert {"confirm_close", "confirm_bid"} <= set(m.columns)


def test_cannot_upsample():
    with pytest.raises(DataError, match="cannot make 15m bars from 1h"):
        resample(bundled.load("forex/EURUSD-1h"), "15m")
