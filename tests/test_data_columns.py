"""A file whose column names collide as the loader matches them (case-insensitively), a time
column mixing epoch numbers and written-out times, and a negative volume: each is a DataError at
its place with a hint that fits it, never a traceback, in `engine data import` and `check` alike."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data.errors import DataError
from engine.data.loader import load_bars

HEADER = "timestamp,open,high,low,close,volume"
ROWS = ["2024-01-01 00:00,1.0,1.2,0.9,1.1,10", "2024-01-01 00:01,1.1,1.3,1.0,1.2,11",
        "2024-01-01 00:02,1.2,1.4,1.1,1.3,12", "2024-01-01 00:03,1.3,1.5,1.2,1.4,13"]


def _csv(tmp_path: Path, header: str, rows: list[str], extra: str = "") -> Path:
    p = tmp_path / "bars.csv"
    p.write_text("\n".join([header + (f",{extra}" if extra else "")]
                           + [r + (",1.1" if extra else "") for r in rows]) + "\n")
    return p


def _frame() -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=4, freq="1min", tz="UTC")
    return pd.DataFrame({"open": 1.0, "high": 1.2, "low": 0.9, "close": 1.1, "volume": 10.0}, index=ts)


@pytest.mark.parametrize(("header", "extra", "col", "message"), [
    (HEADER, "Close", 38, "columns `close` and `Close` are the same column (names are matched case-insensitively)"),
    (HEADER, "Timestamp", 38, "columns `timestamp` and `Timestamp` are the same column"),
    (HEADER.replace("timestamp", "date"), "Date", 33, "columns `date` and `Date` are the same column"),
    (HEADER, "<CLOSE>", 38, "columns `close` and `<CLOSE>` are the same column (names are matched "
                            "case-insensitively, without spaces and MetaTrader's <>)"),
    (HEADER, "close", 38, "the header names column `close` twice"),
])
def test_columns_of_one_name_are_refused_at_the_second_ones_header_cell(tmp_path, capsys, header, extra, col,
                                                                         message):
    path = _csv(tmp_path, header, ROWS, extra)
    with pytest.raises(DataError) as e:
        load_bars(path)
    assert e.value.message.startswith(message)
    for argv in (["data", "check", str(path)],
                 ["data", "import", str(path), "--symbol", "ETH/BTC", "--tf", "1m", "--store", str(tmp_path / "s")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"{path}:1:{col}: error DATA {message}" in err
        assert "hint: rename or drop one of them" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_a_parquet_files_colliding_columns_are_refused(tmp_path):
    df = _frame().rename_axis("date").reset_index()
    df["Close"] = df["close"]
    df.to_parquet(tmp_path / "bars.parquet")
    with pytest.raises(DataError) as e:
        load_bars(tmp_path / "bars.parquet")
    assert (e.value.line, e.value.message) == (1, "columns `close` and `Close` are the same column (names are "
                                                  "matched case-insensitively)")


def test_a_datetime_index_and_a_ts_column_are_refused(tmp_path):
    df = _frame()
    df["TS"] = df.index
    df.to_parquet(tmp_path / "bars.parquet")
    with pytest.raises(DataError, match="datetime index is read as column `ts` and it has a column `TS` too"):
        load_bars(tmp_path / "bars.parquet")


def test_empty_header_cells_do_not_collide(tmp_path):
    path = _csv(tmp_path, "," + HEADER + ",", [f"{i},{r}," for i, r in enumerate(ROWS)])
    assert len(load_bars(path)) == 4


@pytest.mark.parametrize(("stamps", "line", "what"), [
    # One epoch number among written-out times: refused at it, as the rarer form.
    (["2024-01-01 00:00", "2024-01-01 00:01", "1704067320", "2024-01-01 00:03"], 4,
     "timestamp '1704067320' is an epoch number, while 3 of its 4 timestamps are written-out times"),
    (["1704067200", "1704067260", "2024-01-01 00:02", "1704067380"], 4,
     "timestamp '2024-01-01 00:02' is a written-out time, while 3 of its 4 timestamps are epoch numbers"),
    # As many of each: the form the first row does not have is the slip.
    (["2024-01-01 00:00", "1704067260", "2024-01-01 00:02", "1704067380"], 3,
     "timestamp '1704067260' is an epoch number, while 2 of its 4 timestamps are written-out times"),
])
def test_a_time_column_mixing_epoch_numbers_and_written_times_says_so(tmp_path, stamps, line, what):
    path = _csv(tmp_path, HEADER, [f"{s},{r.split(',', 1)[1]}" for s, r in zip(stamps, ROWS)])
    with pytest.raises(DataError) as e:
        load_bars(path)
    assert e.value.line == line
    assert e.value.message == f"column `timestamp` mixes epoch numbers and written-out times: {what}"
    assert "not both" in e.value.hint


def test_a_negative_volume_has_a_hint_about_volume(tmp_path):
    rows = [*ROWS[:2], ROWS[2].rsplit(",", 1)[0] + ",-5", ROWS[3]]
    with pytest.raises(DataError) as e:
        load_bars(_csv(tmp_path, HEADER, rows))
    assert (e.value.line, e.value.message) == (4, "volume is negative (volume=-5)")
    assert "volume" in e.value.hint and "prices" not in e.value.hint


def test_a_bad_price_before_a_negative_volume_is_reported_first(tmp_path):
    rows = [ROWS[0], "2024-01-01 00:01,1.1,1.0,1.0,1.2,11", ROWS[2].rsplit(",", 1)[0] + ",-5", ROWS[3]]
    with pytest.raises(DataError) as e:
        load_bars(_csv(tmp_path, HEADER, rows))
    assert e.value.line == 3 and e.value.message.startswith("OHLC sanity: high is below open or close")
