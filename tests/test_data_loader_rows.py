"""CSV rows as read_csv reads them: a row of empty fields is a row (its error is on its own line,
not the next), only a line of spaces and tabs is skipped; and a trailing separator on every row
(a header without one) is read as the columns the header names, never shifted one to the left."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.data.errors import DataError
from engine.data.loader import bar_line, load_bars

HEADER = "ts,open,high,low,close,volume"
BAR = "2024-01-02 00:0{m},1,2,0.5,1.5,{m}"  # each bar's volume is its minute: it says which row it is


def write(tmp_path: Path, lines: list[str], name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("empty", [",,,,,", '""', ',"",,,,', " , ,,,,"])
def test_a_row_of_empty_fields_is_refused_on_its_own_line(tmp_path, empty):
    path = write(tmp_path, [HEADER, BAR.format(m=0), empty, BAR.format(m=1), BAR.format(m=2)])
    with pytest.raises(DataError, match="cannot parse timestamp") as err:
        load_bars(path)
    assert err.value.line == 3


@pytest.mark.parametrize("sep", [",", "\t"])
@pytest.mark.parametrize("odd", ["", "   ", "\t", " \t ", ",,,,,", '""', "\t\t\t\t\t"])
def test_every_row_is_placed_on_the_line_read_csv_read_it_from(tmp_path, sep, odd):
    """bar_line agrees with read_csv on which lines are rows: for each row it reads, the line
    holding that row's bar (a MetaTrader file is tab-separated: a line of tabs is a row there)."""
    bars = [BAR.format(m=m).replace(",", sep) for m in range(4)]
    path = write(tmp_path, [HEADER.replace(",", sep), bars[0], odd, bars[1], odd, odd, bars[2], bars[3]])
    text = path.read_text().splitlines()
    frame = pd.read_csv(path, sep=sep)
    for i, volume in enumerate(frame["volume"]):
        if not pd.isna(volume):
            assert text[bar_line(path, i) - 1] == bars[int(volume)]


def test_a_trailing_comma_on_every_row_is_read_as_the_header_says(tmp_path):
    """read_csv took each row's first field as an index, so `ts` held the opens (1.1): refused as a
    1970 timestamp, and a file whose opens were dates would have been read shifted."""
    rows = [f"2024-01-02 00:0{m},1.1,2,0.5,1.5,10," for m in range(3)]
    for name, lines in (("trail.csv", [HEADER, *rows]), ("twice.csv", [HEADER, *(r + "," for r in rows)])):
        df = load_bars(write(tmp_path, lines, name))
        assert list(df.columns) == ["open", "high", "low", "close", "volume"]
        assert df.index[0] == pd.Timestamp("2024-01-02", tz="UTC") and df.attrs["tf"] == "1m"
        assert df.iloc[0].tolist() == [1.1, 2.0, 0.5, 1.5, 10.0]


def test_a_value_in_the_extra_field_is_refused_at_its_row(tmp_path):
    rows = [f"2024-01-02 00:0{m},1.1,2,0.5,1.5,10," for m in range(4)]
    rows[2] += "7"
    path = write(tmp_path, [HEADER, *rows])
    with pytest.raises(DataError, match="row has one more field than the header") as err:
        load_bars(path)
    assert err.value.line == 4 and "'7'" in err.value.message and err.value.hint


def test_a_header_without_the_first_column_s_name_is_refused_not_guessed(tmp_path):
    """Rows one field longer than the header, holding data at their end: which field has no name
    is a guess (read_csv's is the first, as an index that was dropped)."""
    rows = [f"{m},2024-01-02 00:0{m},1.1,2,0.5,1.5,10" for m in range(3)]
    with pytest.raises(DataError, match="row has one more field than the header") as err:
        load_bars(write(tmp_path, [HEADER, *rows]))
    assert err.value.line == 2
