"""Files the loader must refuse with a place and a hint, never a traceback or a silent guess:
damaged archives, quotes a fill could not have come from, unreadable volumes, and the lines
of rows after a quoted field that spans lines."""
from __future__ import annotations

import io
import lzma
import zipfile
from pathlib import Path

import pytest

from engine.data.errors import DataError
from engine.data.loader import load_bars

HEADER = "timestamp,open,high,low,close,volume"
ROWS = ["2024-01-01 00:00,100,101,99,100.5,10", "2024-01-01 00:05,100.5,101,99,100,11",
        "2024-01-01 00:10,100,102,99.5,101,12"]


def csv(tmp_path: Path, lines: list[str], name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("name, data", [("bars.csv.xz", b"not xz at all"), ("bars.csv.zip", b"not a zip"),
                                        ("bars.csv.xz", lzma.compress(b"x" * 100)[:20])])
def test_a_damaged_archive_is_a_data_error(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError, match="cannot read file") as err:
        load_bars(path)
    assert err.value.line == 1


def test_a_zip_without_exactly_one_file_is_refused(tmp_path):
    path = tmp_path / "bars.csv.zip"
    with zipfile.ZipFile(path, "w"):
        pass
    with pytest.raises(DataError, match="holds 0 files"):
        load_bars(path)
    buf = io.StringIO("\n".join([HEADER, *ROWS]) + "\n").getvalue()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.csv", buf)
        z.writestr("b.csv", buf)
    with pytest.raises(DataError, match="holds 2 files"):
        load_bars(path)


@pytest.mark.parametrize("bid, ask, what", [
    ("100.6", "100.4", "crossed"), ("0", "100.5", "not positive"), ("-5", "100.5", "not positive"),
    ("10050", "10060", "outside the bar's low..high"), ("1.005", "1.006", "outside the bar's low..high"),
    # rev31: an ask 5x its bid touched the bar and was imported; a stop's sell, the open less half
    # that spread, then filled below zero.
    ("100", "505", "half spread reaches the bar's low"), ("1", "250", "half spread reaches the bar's low")])
def test_a_quote_no_fill_could_come_from_is_refused_at_its_line(tmp_path, bid, ask, what):
    rows = [r + ",100.4,100.6" for r in ROWS]
    rows[1] = ROWS[1] + f",{bid},{ask}"
    with pytest.raises(DataError, match=what) as err:
        load_bars(csv(tmp_path, [HEADER + ",bid,ask", *rows]))
    assert err.value.line == 3


def test_one_side_of_a_quote_alone_is_refused(tmp_path):
    with pytest.raises(DataError, match="column `bid` without `ask`"):
        load_bars(csv(tmp_path, [HEADER + ",bid", *(r + ",100.4" for r in ROWS)]))


def test_good_quotes_load(tmp_path):
    df = load_bars(csv(tmp_path, [HEADER + ",bid,ask", *(r + ",100.4,100.6" for r in ROWS)]))
    assert (df["ask"] - df["bid"]).round(9).eq(0.2).all()


def test_a_volume_column_of_text_is_refused_not_read_as_zero(tmp_path):
    rows = [r.rsplit(",", 1)[0] + ',"1,234"' for r in ROWS]
    with pytest.raises(DataError, match="`volume` is missing or not a number") as err:
        load_bars(csv(tmp_path, [HEADER, *rows]))
    assert err.value.line == 2


def test_an_empty_volume_column_is_no_volume(tmp_path):
    rows = [r.rsplit(",", 1)[0] + "," for r in ROWS]
    assert load_bars(csv(tmp_path, [HEADER, *rows]))["volume"].eq(0).all()


def test_a_sparse_market_s_bars_are_its_shortest_whole_step(tmp_path):
    """Minutes without a trade have no bar: 2m steps outnumber 1m ones, and the file is 1m bars,
    with or without --tf (gaps warn; they do not refuse)."""
    minutes = [0, 2, 4, 5, 7, 10, 12, 14, 15, 18]
    rows = [f"2024-01-01 00:{m:02d},100,101,99,100.5,1" for m in minutes]
    path = csv(tmp_path, [HEADER, *rows])
    assert load_bars(path).attrs["tf"] == "1m"
    assert load_bars(path, tf="1m").attrs["tf"] == "1m"
    with pytest.raises(DataError, match="its bars are 1m apart"):
        load_bars(path, tf="2m")


def test_rows_after_a_field_spanning_lines_are_placed_on_their_own_line(tmp_path):
    lines = [HEADER + ",note", ROWS[0] + ',"halted', 'resumed"', ROWS[1] + ",x"]
    close_below_low = "2024-01-01 00:10,100,102,99.5,99,12,y"
    with pytest.raises(DataError, match="OHLC sanity") as err:
        load_bars(csv(tmp_path, [*lines, close_below_low]))
    assert err.value.line == 5
    with pytest.raises(DataError, match="Expected 7 fields in line 5") as err:
        load_bars(csv(tmp_path, [*lines, ROWS[2] + ",y,extra"], "ragged.csv"))
    assert err.value.line == 5


@pytest.mark.parametrize("name", ["bars.csv", "bars.csv.gz", "bars.csv.zip"])
def test_a_byte_that_is_not_utf8_is_refused_at_its_line_and_column(tmp_path, name):
    """A latin-1 é at the end of the second row: it was "cannot read file: 'utf-8' codec can't decode
    byte 0xe9 in position 11" at 1:1, with a hint asking whether the file was complete."""
    import gzip

    data = ("\n".join([HEADER, *ROWS]) + "\n").encode().replace(b"100,11\n", b"100,11\xe9\n")
    path = tmp_path / name
    if name.endswith(".gz"):
        data = gzip.compress(data)
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("bars.csv", data)
    else:
        path.write_bytes(data)
    with pytest.raises(DataError, match="not UTF-8 text: byte 0xe9 here does not decode") as err:
        load_bars(path)
    assert (err.value.line, err.value.diagnostics[0].pos.col) == (3, len(ROWS[1]) + 1)
    assert "save the file as UTF-8" in err.value.hint


@pytest.mark.parametrize("tail, line", [("\0" * 200_000, 5), ('2024-01-01 00:15,"100' + "9" * 140_000 + '",1,1,1,1', 5)])
def test_a_field_past_csvs_limit_is_refused_at_its_line(tmp_path, tail, line):
    """rev31: `_csv.Error: field larger than field limit (131072)` as a traceback, wherever an error
    wanted a line number: a crash's NUL tail, or a quote closed 140 kB later."""
    path = tmp_path / "bars.csv"
    path.write_text("\n".join([HEADER, *ROWS, tail]) + "\n")
    with pytest.raises(DataError, match="cannot be read as CSV") as err:
        load_bars(path)
    assert err.value.line == line


def test_a_quote_never_closed_is_named_at_the_line_it_opens_on(tmp_path):
    """rev31: pandas' `EOF inside string starting at row 2` was reported at line 1, with the hint
    that every row needs the header's number of fields."""
    rows = list(ROWS)
    rows[1] = rows[1].replace(",100.5,", ',"100.5,')
    with pytest.raises(DataError, match="a quote opened on this line is never closed") as err:
        load_bars(csv(tmp_path, [HEADER, *rows]))
    assert err.value.line == 3 and "stray quote" in err.value.hint


def test_a_file_without_a_header_says_so(tmp_path):
    """rev31: a Binance kline CSV (no header) was `the header names column 0.0994766 twice`."""
    with pytest.raises(DataError, match="the first line holds numbers, not column names") as err:
        load_bars(csv(tmp_path, ["1515542400000,0.0994766,0.0994766,0.0994766,0.0994766,1.5", *ROWS]))
    assert err.value.line == 1 and "timestamp,open,high,low,close,volume" in err.value.hint


def test_a_header_with_extra_columns_named_by_numbers_is_a_header(tmp_path):
    """rev32: extra columns `1,2` (or `NaN,inf`) made the header `numbers, not column names`."""
    for extra in ("1,2", "NaN,inf"):
        rows = [r + ",0,0" for r in ROWS]
        assert len(load_bars(csv(tmp_path, [f"{HEADER},{extra}", *rows]))) == 3
