"""A file's timeframe is what nearly all its steps say, not one stray step: an hourly file with
one extra bar at 10:01 is refused at that bar's line as off the 1h grid, and is never accepted
as 1m bars (each hourly bar would be known 1 minute after its open, 59 minutes of look-ahead).
Real gaps (weekends, holidays, an illiquid market's quiet minutes) keep the bars' own timeframe."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.data.errors import DataError
from engine.data.loader import load_bars
from engine.data.timeframes import infer_tf

HEADER = "timestamp,open,high,low,close,volume\n"


def bars_csv(tmp_path: Path, stamps: pd.DatetimeIndex, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{t:%Y-%m-%d %H:%M:%S},1.0,1.2,0.9,1.1,10\n" for t in stamps))
    return path


def hourly_with_strays(*at: int) -> pd.DatetimeIndex:
    """300 hourly bars and, after the bar of each hour in `at`, a stray one a minute later."""
    hours = pd.date_range("2024-01-01", periods=300, freq="1h")
    strays = pd.DatetimeIndex([hours[h] + pd.Timedelta(minutes=1) for h in at])
    return hours.append(strays).sort_values()


def test_one_stray_bar_does_not_make_an_hourly_file_1m(tmp_path):
    """The reviewer's file: as 1m it was accepted by `check` and by `--tf 1m` (the hint of --tf 1h)."""
    stamps = hourly_with_strays(10)
    assert infer_tf(stamps) == pd.Timedelta(hours=1)
    path = bars_csv(tmp_path, stamps)
    stray_line = 13  # the header, the bars of 00:00 .. 10:00 on lines 2..12, then 10:01
    assert path.read_text().splitlines()[stray_line - 1].startswith("2024-01-01 10:01:00")
    for tf in (None, "1h"):
        with pytest.raises(DataError, match="bar time 2024-01-01 10:01:00.* is not on the 1h grid") as err:
            load_bars(path, tf=tf)
        assert err.value.line == stray_line
        assert "--tf 1m" not in err.value.hint and "stray rows" in err.value.hint


def test_hourly_bars_are_never_accepted_as_1m(tmp_path, capsys):
    """Nearly every step 60 x the tf: refused at the file, with the hint naming the data's 1h."""
    path = bars_csv(tmp_path, hourly_with_strays(10))
    with pytest.raises(DataError, match="timeframe 1m does not match the data: its bars are 1h apart") as err:
        load_bars(path, tf="1m")
    assert err.value.line == 1 and err.value.hint.startswith("use --tf 1h")
    store = tmp_path / "s"
    assert main(["data", "import", str(path), "--symbol", "ETH/BTC", "--tf", "1m", "--store", str(store)]) == 1
    err_text = capsys.readouterr().err
    assert f"{path}:1:1: error DATA timeframe 1m does not match the data" in err_text and "Traceback" not in err_text
    assert not store.exists()


def test_a_few_strays_at_other_minutes_still_leave_the_file_hourly(tmp_path):
    stamps = hourly_with_strays(10, 50, 200)
    stamps = stamps.map(lambda t: t + pd.Timedelta(minutes=29) if t.minute == 1 and t.hour == 2 else t)
    assert infer_tf(stamps) == pd.Timedelta(hours=1)
    with pytest.raises(DataError, match="not on the 1h grid") as err:
        load_bars(bars_csv(tmp_path, stamps), tf="1h")
    assert err.value.line == 13 and "3 of the file's 303 bars are off it" in err.value.hint


@pytest.mark.parametrize("stamps, tf", [
    # An illiquid market's minutes: a trade in about one minute of three (quiet ones have no bar).
    (pd.Timestamp("2024-01-02") + pd.to_timedelta(np.cumsum(np.random.default_rng(7).geometric(0.35, 400)), "min"),
     "1m"),
    # Quiet minutes where 2m steps are the most common and 1m ones rare: still 1m bars.
    (pd.Timestamp("2024-01-02") + pd.to_timedelta(np.cumsum([2, 3, 2, 1, 2, 2, 3, 2, 4, 2] * 20), "min"), "1m"),
    # A daily market's weekends and holidays, a forex hour's weekends.
    (pd.bdate_range("2023-01-02", periods=300).delete([20, 21, 140]), "1d"),
    (pd.date_range("2024-01-01", periods=2000, freq="1h").to_series().loc[
        lambda s: s.dt.dayofweek < 5].index, "1h"),
])
def test_real_gaps_keep_the_bars_own_timeframe(tmp_path, stamps, tf):
    df = load_bars(bars_csv(tmp_path, pd.DatetimeIndex(stamps)))
    assert df.attrs["tf"] == tf
    assert load_bars(bars_csv(tmp_path, pd.DatetimeIndex(stamps), "again.csv"), tf=tf).attrs["tf"] == tf


@pytest.mark.parametrize("moved", [0, 16, 39])  # the first bar, one inside, the last
def test_a_bar_moved_half_a_step_is_refused_at_its_line(tmp_path, moved: int):
    """5m bars with one moved by 2.5 minutes have steps of 7.5 and 2.5 minutes, all whole multiples
    of 150s: `--tf 5m` refused the file at 1:1 as 150s bars, its hint's `--tf 150s` imported them,
    and `engine data check` took them for 150s bars."""
    stamps = pd.date_range("2024-01-01", periods=40, freq="5min")
    stamps = stamps.delete(moved).insert(moved, stamps[moved] + pd.Timedelta(seconds=150))
    assert infer_tf(stamps) == pd.Timedelta(minutes=5)
    path = bars_csv(tmp_path, stamps)
    for tf in (None, "5m"):
        with pytest.raises(DataError, match="is not on the 5m grid") as err:
            load_bars(path, tf=tf)
        assert err.value.line == moved + 2 and "1 of the file's 40 bars is off it" in err.value.hint
        assert "--tf" not in err.value.hint


@pytest.mark.parametrize("unit", ["ns", "us", "s"])  # a store's frame may come back in another unit
def test_quiet_minutes_whose_odd_steps_pair_only_somewhere_stay_1m(unit: str):
    steps = [2, 2, 3, 1, 2, 2, 3, 2, 2, 1, 2, 2] * 10  # 3+1 pairs; the lone 3 and 1 do not
    stamps = pd.DatetimeIndex(pd.Timestamp("2024-01-02") + pd.to_timedelta(np.cumsum(steps), "min")).as_unit(unit)
    assert infer_tf(stamps) == pd.Timedelta(minutes=1)
