"""Bars open on their timeframe's epoch grid (whole multiples of the timeframe since 1970-01-01
00:00 UTC; a 1d bar at midnight UTC), where engine.data.resample bins them. A file off the grid
used to import and check ok, a copy shifted 30 s stored every bar twice, and resampling then
built a 15m bar from prices after its close. Now the file is refused at its first off-grid bar,
and a store an older version filled so is refused when a run reads it, naming the day file."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.errors import DataError
from engine.data.bars import GRID_ORIGIN
from engine.data.loader import first_off_grid
from engine.data.resample import resample
from engine.data.store import ParquetStore
from engine.data.timeframes import parse_tf

HEADER = "timestamp,open,high,low,close,volume\n"


def _csv(tmp: Path, stamps: pd.DatetimeIndex, name: str = "bars.csv") -> str:
    path = tmp / name
    path.write_text(HEADER + "".join(f"{t:%Y-%m-%d %H:%M:%S},1.0,1.2,0.9,1.1,10\n" for t in stamps))
    return str(path)


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


ONE_MOVED = pd.date_range("2024-01-02", periods=10, freq="1min").map(  # the bar at 00:05 moved by 17 s
    lambda t: t + pd.Timedelta(seconds=17) if t.minute == 5 else t)
RESTAMP = "hint: the engine resamples on that grid (1d bars open at midnight UTC)"
CASES = [  # stamps, tf, the first off-grid line, what the message says, the hint
    (pd.date_range("2024-01-02 00:02:30", periods=10, freq="5min"), "5m", 2, "00:02:30 after 2024-01-02 00:00:00",
     RESTAMP),
    (ONE_MOVED, "1m", 7, "00:00:17 after 2024-01-02 00:05:00", RESTAMP),
    (pd.date_range("2024-01-02 22:00", periods=10, freq="1D"), "1d", 2, "22:00:00 after 2024-01-02 00:00:00",
     "hint: every bar is stamped at 22:00 UTC, a trading session's day"),
]


@pytest.mark.parametrize("stamps, tf, line, what, hint", CASES)
def test_a_file_off_the_grid_is_refused_by_check_and_import(tmp_path, capsys, stamps, tf, line, what, hint):
    path = _csv(tmp_path, stamps)
    for argv in (["check", path], ["check", path, "--tf", tf],
                 ["import", path, "--symbol", "BTC-PERP", "--tf", tf, "--store", str(tmp_path / "s")]):
        assert main(["data", *argv]) == 1
        err = capsys.readouterr().err
        assert f"{path}:{line}:1: error DATA bar time " in err and f"is not on the {tf} grid: it is {what}" in err
        assert f"{tf} bars open at whole multiples of {tf} since 1970-01-01 00:00 UTC" in err
        assert hint in err
        assert "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_a_feather_file_off_the_grid_names_its_row(tmp_path, capsys):
    df = pd.read_feather(bundled.get("crypto_spot/XRP_ETH-5m").paths[0])
    df["date"] += pd.Timedelta(seconds=150)
    df.to_feather(tmp_path / "off.feather")
    assert main(["data", "check", str(tmp_path / "off.feather"), "--tf", "5m"]) == 1
    assert f"{tmp_path / 'off.feather'}:1:1: error DATA bar time 2019-10-11 00:02:30" in capsys.readouterr().err


def test_a_copy_shifted_30_seconds_does_not_store_the_bars_twice(tmp_path, capsys):
    stamps = pd.date_range("2024-01-02", periods=10, freq="1min")
    store = tmp_path / "s"
    args = ["--symbol", "BTC-PERP", "--tf", "1m", "--store", str(store)]
    assert main(["data", "import", _csv(tmp_path, stamps), *args]) == 0
    before = _snapshot(store)
    shifted = _csv(tmp_path, stamps + pd.Timedelta(seconds=30), "shifted.csv")
    assert main(["data", "import", shifted, *args]) == 1
    assert f"{shifted}:2:1: error DATA bar time 2024-01-02 00:00:30" in capsys.readouterr().err
    assert _snapshot(store) == before


def test_the_store_refuses_a_frame_off_the_grid(tmp_path):
    df = bundled.load("crypto_spot/XRP_ETH-5m")
    df.index = df.index + pd.Timedelta(seconds=30)
    with pytest.raises(DataError, match="is not on the 5m grid.*nothing was written"):
        ParquetStore(tmp_path).write(df, "XRP/ETH", "5m")
    assert not any(tmp_path.iterdir())


def _polluted(root: Path) -> Path:
    """A store as an older version left it: ETH/BTC 5m imported, then again 150 s later."""
    ParquetStore(root).write(bundled.load("crypto_spot/ETH_BTC-5m"), "ETH/BTC", "5m")
    day = ParquetStore(root).folder("ETH/BTC", "5m") / "date=2018-01-11" / "part.parquet"
    old = pd.read_parquet(day)
    pd.concat([old, old.set_axis(old.index + pd.Timedelta(seconds=150))]).sort_index().to_parquet(day)
    return day


def test_reading_a_store_with_off_grid_bars_names_the_day_file(tmp_path):
    day = _polluted(tmp_path)
    with pytest.raises(DataError) as e:
        ParquetStore(tmp_path).read("ETH/BTC", "5m")
    assert (e.value.file, e.value.line) == (str(day), 2)
    assert e.value.message.startswith("stored bar time 2018-01-11 00:02:30+00:00 is not on the 5m grid")
    assert f"remove {day.parent.parent} and import the series again" in e.value.hint


def test_a_run_on_a_polluted_store_is_refused_naming_the_day_file(tmp_path, capsys):
    day = _polluted(tmp_path / "store")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"db: {tmp_path / 'engine.db'}\nruns_dir: {tmp_path / 'runs'}\ndata:\n  crypto_spot:\n"
                   f"    datasets: ['store:ETH/BTC@5m']\n    store: {tmp_path / 'store'}\n")
    assert main(["run", "--stage", "1", "--no-progress", "--max-bars", "5", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{day}:2:1: error DATA stored bar time 2018-01-11 00:02:30+00:00") and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("tf", ["15m", "4h", "1d", "3d", "1w"])
def test_resample_bins_on_the_grid_the_check_uses(tf):
    """GRID_ORIGIN is the one origin: every bar resample builds opens where first_off_grid and
    the stores' check put the grid (a week bin on 1970-01-01's weekday, a Thursday)."""
    stamps = pd.date_range("2024-01-02 00:05", periods=30 * 288, freq="5min", tz="UTC", name="ts")
    bars = pd.DataFrame(1.0, index=stamps, columns=["open", "high", "low", "close", "volume"])
    bars.attrs["tf"] = "5m"
    out = resample(bars, tf)
    assert len(out) and first_off_grid(out.index, parse_tf(tf)) is None
    assert (out.index[0] - GRID_ORIGIN) % parse_tf(tf) == pd.Timedelta(0)
    assert first_off_grid(out.index + pd.Timedelta(minutes=5), parse_tf(tf)) == 0  # the check can fail


@pytest.mark.parametrize("start", ["2024-01-01", "2024-01-04"])  # a Monday, a Thursday (on the grid)
def test_weekly_bars_are_refused_as_unsupported_not_as_off_grid(tmp_path, capsys, start):
    """A Monday-stamped `--tf 1w` file was refused with advice to re-stamp it: wrong, the grid's
    weeks start on 1970-01-01's Thursday, which no source's weeks do."""
    path = _csv(tmp_path, pd.date_range(start, periods=10, freq="7D"))
    assert main(["data", "import", path, "--symbol", "BTC-PERP", "--tf", "1w", "--store", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:1:1: error DATA weekly bars (7d) cannot be imported: the engine's weeks start "
                          "on Thursday")
    assert "hint: import the daily or intraday bars the weeks were built from" in err and "re-stamp" not in err
    assert not (tmp_path / "s").exists()


def test_daily_bars_of_a_new_york_session_are_told_apart_from_a_moved_bar(tmp_path, capsys):
    """Daily FX bars stamped at the 17:00 New York close (22:00 UTC, 21:00 in summer) are a session's
    days: re-stamping them to midnight, as the hint said, would mislabel every bar."""
    days = pd.date_range("2024-03-04", periods=12, freq="1D")
    ny = days + pd.Timedelta(hours=17)
    path = _csv(tmp_path, ny.tz_localize("America/New_York").tz_convert("UTC").tz_localize(None))
    assert main(["data", "check", path, "--tf", "1d"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:1: error DATA bar time 2024-03-04 22:00:00+00:00 is not on the 1d grid" in err
    assert ("hint: every bar is stamped at 21:00 or 22:00 UTC, a trading session's day (a 17:00 New York close "
            "is 22:00 UTC, 21:00 in summer), while the store keeps days that open at midnight UTC") in err
    assert "import the same market's intraday bars (1h, 1m) instead" in err and "re-stamp the file" not in err
    moved = _csv(tmp_path, days.map(lambda t: t + pd.Timedelta(hours=3) if t.day == 6 else t), "moved.csv")
    assert main(["data", "check", moved, "--tf", "1d"]) == 1
    assert "hint: the engine resamples on that grid" in capsys.readouterr().err  # one bar moved: re-stamp it
