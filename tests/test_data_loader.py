"""The loader reads every bundled file and rejects bad files with the right row."""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.errors import DataError
from engine.data.loader import load_bars, load_bid_ask, load_funding

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = ["2024-01-01 00:00,1.0,1.2,0.9,1.1,10", "2024-01-01 00:01,1.1,1.3,1.0,1.2,11",
        "2024-01-01 00:02,1.2,1.4,1.1,1.3,12", "2024-01-01 00:03,1.3,1.5,1.2,1.4,13"]


def write(tmp_path: Path, rows: list[str], name: str = "bars.csv") -> Path:
    p = tmp_path / name
    text = HEADER + "\n".join(rows) + "\n"
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    return p


@pytest.mark.parametrize("name", list(bundled.DATASETS))
def test_every_bundled_dataset_loads(name):
    df = bundled.load(name)
    assert len(df) > 50
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC" and df.index.name == "ts"
    assert df.index.is_monotonic_increasing and df.index.is_unique
    if bundled.get(name).loader != "funding":
        assert {"open", "high", "low", "close", "volume"} <= set(df.columns)
        assert (df["low"] <= df[["open", "close"]].min(axis=1)).all()
        assert df.attrs["tf"] == bundled.get(name).tf


def test_forex_bid_ask_merge_has_real_quotes_and_mid_prices():
    df = bundled.load("forex/GBPUSD-1m")
    assert (df["ask"] >= df["bid"]).all()
    raw_bid = pd.read_csv(bundled.get("forex/GBPUSD-1m").paths[0])
    assert df["bid"].iloc[0] == min(raw_bid["close"].iloc[0], df["ask"].iloc[0])
    assert any(w.code == "DATA_CROSSED" for w in df.attrs["warnings"])  # real FXCM quirk, reported


def test_eurusd_capitalised_columns_and_unnamed_index():
    df = bundled.load("forex/EURUSD-1h")
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert df.index[0] == pd.Timestamp("2017-04-19 09:00", tz="UTC")


def test_funding_rate_comes_from_open_and_is_floored_to_the_minute():
    df = load_funding(bundled.get("crypto_perp/XRP-funding-8h").paths[0])
    assert df.index[0] == pd.Timestamp("2021-11-18 00:00", tz="UTC")
    assert df["rate"].iloc[0] == pytest.approx(0.0001)


def test_forex_weekend_gaps_are_warnings_not_errors():
    df = bundled.load("forex/GBPUSD-1m")
    gaps = [w for w in df.attrs["warnings"] if w.code == "DATA_GAP"]
    assert gaps and all(w.severity.value == "warning" for w in gaps)
    assert "2 days" in gaps[0].message


# `row`: the bad bar's 1-based data row; in the CSV it is on line row + 1, below the header.
BAD = [
    ([GOOD[0], GOOD[2], GOOD[1], GOOD[3]], 3, "goes back in time"),
    ([GOOD[0], GOOD[1], GOOD[1], GOOD[3]], 3, "duplicate timestamp"),
    ([GOOD[0], GOOD[1], "2024-01-01 00:02,1.2,1.25,1.1,1.3,12", GOOD[3]], 3, "high is below"),
    ([GOOD[0], "2024-01-01 00:01,1.1,1.3,1.15,1.2,11", GOOD[2]], 2, "low is above"),
    ([GOOD[0], GOOD[1], GOOD[2], "2024-01-01 00:03,1.3,,1.2,1.4,13"], 4, "`high` is missing"),
    ([GOOD[0], "2024-01-01 00:01,1.1,1.3,1.0,abc,11"], 2, "`close` is missing or not a number"),
    ([GOOD[0], "2024-01-01 00:01,-1,1.3,-2,1.2,11"], 2, "positive"),
    ([GOOD[0], "yesterday,1.1,1.3,1.0,1.2,11"], 2, "cannot parse timestamp"),
    # Each OHLC bound against both open and close, and every price > 0, not >= 0 (mutation round 6).
    pytest.param([GOOD[0], "2024-01-01 00:01,1.2,1.3,1.15,1.12,11"], 2, "low is above", id="low-above-close-only"),
    pytest.param([GOOD[0], "2024-01-01 00:01,1.3,1.25,1.0,1.2,11"], 2, "high is below", id="high-below-open-only"),
    pytest.param([GOOD[0], "2024-01-01 00:01,0,0,0,0,11"], 2, "positive", id="all-zero-prices"),
    pytest.param([GOOD[0], "2024-01-01 00:01,1.1,1.3,1.0,-1,11"], 2, "positive", id="negative-close-low-above"),
    pytest.param([GOOD[0], "2024-01-01 00:01,1.1,1.3,1.0,1.2,-0.5"], 2, "volume is negative", id="fractional-negative-volume"),
    # A whole bar stored in other units passes OHLC sanity; the step from the bar before does not.
    pytest.param([GOOD[0], "2024-01-01 00:01,110,130,100,120,11", GOOD[2]], 2,
                 "price jump: the open is 100x the close of the bar before (close=1.1 on ", id="bar-x100"),
    pytest.param([GOOD[0], "2024-01-01 00:01,0.011,0.013,0.01,0.012,11", GOOD[2]], 2,
                 "price jump: the open is 1/100 of the close of the bar before", id="bar-divided-by-100"),
    pytest.param([GOOD[0], "2024-01-01 00:01,11,11,11,11,11"], 2, "the open is 10x the close", id="tenfold-exactly"),
]


@pytest.mark.parametrize("rows, row, words", BAD)
def test_bad_csv_names_the_line_an_editor_shows(tmp_path, rows, row, words):
    path = write(tmp_path, rows, "bad.csv.gz")
    with pytest.raises(DataError) as err:
        load_bars(path)
    line = row + 1
    assert words in err.value.message
    assert err.value.line == line and str(err.value).startswith(f"{path}:{line}:1: error DATA ")
    assert err.value.hint
    plain = write(tmp_path, rows, "bad.csv")
    assert plain.read_text().splitlines()[line - 1] == rows[row - 1]  # that line is the bad bar


@pytest.mark.parametrize("rows, row, words", BAD)
def test_bad_feather_names_the_row(tmp_path, rows, row, words):
    frame = pd.read_csv(write(tmp_path, rows, "src.csv"))
    frame.to_feather(tmp_path / "bad.feather")
    with pytest.raises(DataError) as err:
        load_bars(tmp_path / "bad.feather")
    assert words in err.value.message and err.value.line == row


def test_missing_column_and_unknown_type_are_header_errors(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("timestamp,open,high,close\n2024-01-01,1,1,1\n")
    with pytest.raises(DataError, match="missing column.*low") as err:
        load_bars(p)
    assert err.value.line == 1
    q = tmp_path / "x.xlsx"
    q.write_text("")
    with pytest.raises(DataError, match="unknown file type"):
        load_bars(q)


def test_ragged_csv_is_a_data_error_not_a_pandas_traceback(tmp_path):
    path = write(tmp_path, [GOOD[0], GOOD[1] + ",7,8"])
    with pytest.raises(DataError, match="cannot parse CSV") as err:
        load_bars(path)
    assert err.value.line == 3  # the header, then GOOD[0], then the ragged row


def test_bid_ask_files_must_align(tmp_path):
    bid = write(tmp_path, GOOD, "bid.csv")
    ask = write(tmp_path, GOOD[:2] + ["2024-01-01 00:05,1.2,1.4,1.1,1.3,12"], "ask.csv")
    with pytest.raises(DataError, match="timestamp differs") as err:
        load_bid_ask(bid, ask)
    assert err.value.line == 4


def test_feather_and_parquet_round_trip(tmp_path):
    df = load_bars(write(tmp_path, GOOD))
    df.reset_index().rename(columns={"ts": "date"}).to_feather(tmp_path / "b.feather")
    df.to_parquet(tmp_path / "b.parquet")
    for name in ("b.feather", "b.parquet"):
        back = load_bars(tmp_path / name)
        assert back[["open", "close"]].equals(df[["open", "close"]])


def test_cli_import_bad_file_prints_message_and_exits_1(tmp_path, capsys):
    path = write(tmp_path, [GOOD[0], GOOD[0]])
    assert main(["data", "import", str(path), "--symbol", "X", "--tf", "1m", "--store", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3:1: error DATA duplicate timestamp" in err and "(same as line 2)" in err
    assert "Traceback" not in err


def test_a_gap_of_exactly_the_allowed_factor_is_quiet_and_one_minute_more_is_one_warning_on_its_row(tmp_path):
    """DATA_GAP is reported for a step wider than GAP_FACTOR bar intervals, not one of exactly that
    width: in a 1m file, a 3m step (3 x 1m) is no gap, a 4m step is, and the warning names the row
    after it."""
    from engine.data.loader import GAP_FACTOR

    def bars(steps_min: list[int]) -> list[str]:
        t, rows = pd.Timestamp("2024-01-01 00:00"), []
        for n, step in enumerate([0, 1, 1, *steps_min, 1, 1]):
            t += pd.Timedelta(minutes=step)
            rows.append(f"{t:%Y-%m-%d %H:%M},1.0,1.2,0.9,1.1,{n}")
        return rows

    allowed = int(GAP_FACTOR)
    assert allowed == GAP_FACTOR  # whole minutes, so the boundary lies on the 1m grid
    quiet = load_bars(write(tmp_path, bars([allowed]), "quiet.csv"))
    assert quiet.attrs["tf"] == "1m"
    assert [w for w in quiet.attrs["warnings"] if w.code == "DATA_GAP"] == []

    path = write(tmp_path, bars([allowed + 1]), "gap.csv")
    [gap] = [w for w in load_bars(path).attrs["warnings"] if w.code == "DATA_GAP"]
    # data rows 1-3 are 1m apart, row 4 comes 4m after row 3: line 5 of the file, below the header
    assert (gap.pos.file, gap.pos.line) == (str(path), 5)
    assert f"gap of {pd.Timedelta(minutes=allowed + 1)} after 2024-01-01 00:02:00" in gap.message


def test_a_step_just_under_tenfold_and_a_tenfold_range_within_a_bar_load(tmp_path):
    """Only the step between bars is refused: a listing's first minute can span 10x, and a step
    of 9.99x is a real (if wild) move, not a bar in other units."""
    rows = ["2024-01-01 00:00,1.0,12.0,1.0,1.1,10", "2024-01-01 00:01,10.98,11.0,10.9,10.95,11"]
    df = load_bars(write(tmp_path, rows))
    assert 9.98 < df["open"].iloc[1] / df["close"].iloc[0] < 10 and df["high"].iloc[0] / df["low"].iloc[0] == 12
