"""Bad data input is a diagnostic (file:line:col, what, hint, non-zero exit), never a traceback,
and what is imported is what the data really is (timeframe, time column, columns, values)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from cli_support import cli
from engine.data import bundled
from engine.data.errors import DataError
from engine.data.loader import load_bars
from engine.data.store import ParquetStore
from engine.data.timeframes import TimeframeError, canonical_tf, tf_seconds

HEADER = "timestamp,open,high,low,close,volume\n"
ROWS = [f"2024-01-02 00:0{i},1.0,1.2,0.9,1.1,10" for i in range(6)]


def csv(tmp_path: Path, text: str, name: str = "bars.csv") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("tf", ["7x", "5M", "5min", "99999999999999d", "0m", ""])
def test_bad_timeframe_is_an_argument_error(tmp_path, capsys, tf):
    path = csv(tmp_path, HEADER + "\n".join(ROWS) + "\n")
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "X", "--tf", tf, "--store", str(tmp_path / "s"))
    assert rc == 2 and "argument --tf: bad timeframe" in err
    rc, _, err = cli(capsys, "data", "check", path, "--tf", tf)
    assert rc == 2 and "argument --tf" in err


def test_timeframe_hint_and_canonical_name():
    with pytest.raises(TimeframeError, match="did you mean `5m`"):
        canonical_tf("5min")
    assert [canonical_tf(t) for t in (" 5m", "60m", "1h", "120s", "1w")] == ["5m", "1h", "1h", "2m", "7d"]


@given(st.integers(1, 10_000), st.sampled_from("smhd"))
def test_canonical_tf_is_idempotent(n, unit):
    name = canonical_tf(f"{n}{unit}") if n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit] <= 366 * 86400 else None
    if name is not None:
        assert canonical_tf(name) == name


def test_tf_must_match_the_data_and_is_stored_canonically(tmp_path, capsys):
    path = csv(tmp_path, HEADER + "\n".join(ROWS) + "\n")
    store = str(tmp_path / "s")
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "BTC-PERP", "--tf", "5m", "--store", store)
    assert rc == 1 and f"{path}:1:1: error DATA timeframe 5m does not match the data" in err
    assert "hint: use --tf 1m" in err
    rc, out, _ = cli(capsys, "data", "import", path, "--symbol", "BTC-PERP", "--tf", " 60s", "--store", store)
    assert rc == 0 and out.startswith("BTC-PERP 1m:")
    assert [p.name for p in (tmp_path / "s" / "symbol=BTC-PERP").iterdir()] == ["tf=1m"]


@pytest.mark.parametrize("stamp, unit", [(1704153600, "s"), (1704153600_000, "ms"),
                                          (1704153600_000_000, "us"), (1704153600_000_000_000, "ns")])
def test_epoch_unit_by_magnitude(tmp_path, stamp, unit):
    step = {"s": 60, "ms": 60_000, "us": 60_000_000, "ns": 60_000_000_000}[unit]
    rows = [f"{stamp + i * step},1.0,1.2,0.9,1.1,10" for i in range(3)]
    df = load_bars(csv(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert df.index[0] == pd.Timestamp("2024-01-02", tz="UTC") and df.attrs["tf"] == "1m"


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("at", ["1990-01-01", "2001-09-08", "2199-12-31 23:50"])
def test_every_epoch_time_from_1990_to_2200_reads_in_its_own_unit(tmp_path, at, unit):
    """_epoch_unit's thresholds (1e11, 1e14, 1e17) split the four units' 1990..2200 ranges, so the
    first and last instants written in any unit read back: 2001 in ms (1.0e12) is ms, not seconds
    of year 33000 (mut7b L09: seconds up to 1e12)."""
    start = int(pd.Timestamp(at).timestamp())
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    rows = [f"{(start + i * 60) * scale},1.0,1.2,0.9,1.1,10" for i in range(3)]
    df = load_bars(csv(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert df.index[0] == pd.Timestamp(at, tz="UTC") and df.attrs["tf"] == "1m"


@pytest.mark.parametrize("scale, odd, said", [(1, 1000, "is in the year 55972"), (1000, 1 / 1000, "is 1970-01-")])
def test_one_time_in_another_unit_than_the_rest_is_named_at_its_line(tmp_path, scale, odd, said):
    """rev31: the unit came from the column's largest value, so one ms stamp among epoch seconds
    misread every other row and the error named line 2; the mixed row is named now."""
    start = int(pd.Timestamp("2024-01-02").timestamp())
    stamps = [(start + i * 60) * scale for i in range(9)]
    stamps[5] = int(stamps[5] * odd)
    rows = [f"{t},1.0,1.2,0.9,1.1,10" for t in stamps]
    with pytest.raises(DataError, match=said) as e:
        load_bars(csv(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert e.value.line == 7


def test_a_timeframe_of_a_year_is_the_longest():
    """tf_seconds: more than 0 and at most a year (366 days) (mut7b F01: a year itself refused)."""
    assert tf_seconds("366d") == 366 * 86400 and canonical_tf("8784h") == "366d"
    with pytest.raises(TimeframeError, match="at most a year"):
        tf_seconds("367d")


def test_a_sparse_file_s_timeframe_is_its_most_common_spacing(tmp_path):
    """infer_tf takes the mode of the spacings, not the median: an illiquid hourly market with
    bars missing (spacings 1h 1h 2h 3h 4h, median 2h) is 1h bars (mut7b F03: median)."""
    stamps = ["2024-01-02 00:00", "2024-01-02 01:00", "2024-01-02 02:00", "2024-01-02 04:00", "2024-01-02 07:00",
              "2024-01-02 11:00"]
    df = load_bars(csv(tmp_path, HEADER + "".join(f"{s},1.0,1.2,0.9,1.1,10\n" for s in stamps)))
    assert df.attrs["tf"] == "1h"


def test_two_bars_are_enough_to_tell_the_timeframe(tmp_path):
    """infer_tf needs two bars, one spacing (mut7b U04: three)."""
    df = load_bars(csv(tmp_path, HEADER + "2024-01-02 00:00,1,1.2,0.9,1.1,10\n2024-01-02 01:00,1,1.2,0.9,1.1,10\n"))
    assert df.attrs["tf"] == "1h"


def test_dates_past_2200_are_refused_with_the_line(tmp_path):
    path = csv(tmp_path, HEADER + "2024-01-01,1,2,0.5,1.5,10\n2262-06-01,1,2,0.5,1.5,10\n")
    with pytest.raises(DataError, match="outside 1990-01-01 .. 2200-01-01") as err:
        load_bars(path)
    assert err.value.line == 3


def test_row_index_column_is_not_read_as_1970(tmp_path):
    rows = [f"{i},2021-12-31 23:0{i}:00,1.0,1.2,0.9,1.1,10" for i in range(4)]
    df = load_bars(csv(tmp_path, ",open_time,open,high,low,close,volume\n" + "\n".join(rows) + "\n"))
    assert df.index[0] == pd.Timestamp("2021-12-31 23:00", tz="UTC")
    only_index = [f"{i},1.0,1.2,0.9,1.1,10" for i in range(4)]
    with pytest.raises(DataError, match="1970-01-01, outside") as err:
        load_bars(csv(tmp_path, ",open,high,low,close,volume\n" + "\n".join(only_index) + "\n", "b.csv"))
    assert err.value.line == 2


def test_counter_column_hint_names_the_time_looking_column(tmp_path):
    rows = [f"{i},2021-12-31 23:0{i}:00,1.0,1.2,0.9,1.1,10" for i in range(4)]
    with pytest.raises(DataError) as err:
        load_bars(csv(tmp_path, ",bar_time,open,high,low,close,volume\n" + "\n".join(rows) + "\n"))
    assert "`bar_time` looks like the time" in err.value.hint


@pytest.mark.parametrize("name, data", [("h.csv", HEADER), ("e.csv", ""), ("e.parquet", None)])
def test_no_bars_is_an_error_at_line_1(tmp_path, capsys, name, data):
    if data is None:
        pd.DataFrame({c: pd.Series(dtype=float) for c in ("open", "high", "low", "close")}).to_parquet(tmp_path / name)
        path = str(tmp_path / name)
    else:
        path = csv(tmp_path, data, name)
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "BTC-PERP", "--tf", "1m", "--store",
                     str(tmp_path / "s"))
    assert rc == 1 and err.startswith(f"{path}:1:1: error DATA no bars")
    rc, _, err = cli(capsys, "data", "check", path)
    assert rc == 1 and "no bars" in err


def test_line_numbers_count_blank_lines(tmp_path):
    bad = "2024-01-02 00:03,1.0,0.95,0.9,1.1,10"
    text = HEADER + ROWS[0] + "\n\n   \n" + ROWS[1] + "\n" + bad + "\n"
    path = csv(tmp_path, text)
    with pytest.raises(DataError, match="high is below") as err:
        load_bars(path)
    assert Path(path).read_text().splitlines()[err.value.line - 1] == bad


def test_store_write_failure_is_a_diagnostic(tmp_path, capsys):
    path = csv(tmp_path, HEADER + "\n".join(ROWS) + "\n")
    blocker = tmp_path / "afile"
    blocker.write_text("")
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "BTC-PERP", "--tf", "1m",
                     "--store", str(blocker / "store"))
    assert rc == 1 and err.startswith(f"{blocker / 'store'}:1:1: error DATA cannot write the store")
    assert "nothing was written" in err and not blocker.read_text()


@pytest.mark.parametrize("action", ["import", "list"])
def test_a_store_that_is_a_file_is_named_so(tmp_path, capsys, action):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    args = [csv(tmp_path, HEADER + "\n".join(ROWS) + "\n"), "--symbol", "X", "--tf", "1m"] if action == "import" else []
    rc, _, err = cli(capsys, "data", action, *args, "--store", str(blocker))
    assert rc == 1 and err.startswith(f"{blocker}:1:1: error DATA is a file, not a store folder")


def test_merging_other_columns_is_refused(tmp_path):
    df = load_bars(csv(tmp_path, HEADER + "\n".join(ROWS) + "\n"))
    store = ParquetStore(tmp_path / "s")
    store.write(df, "X", "1m")
    before = sorted((tmp_path / "s").rglob("*.parquet"))
    with pytest.raises(DataError, match="differ from the stored X 1m series") as err:
        store.write(df.drop(columns="volume").assign(bid=1.0), "X", "1m")
    assert err.value.line == 1 and err.value.file.endswith("bars.csv")
    assert sorted((tmp_path / "s").rglob("*.parquet")) == before
    assert not store.read("X", "1m").isna().any().any()


class _NoCopy(list):
    """Stands for the gap warnings: pandas must not deep-copy them per day written."""

    def __deepcopy__(self, memo):
        raise AssertionError("attrs deep-copied")


def test_store_write_does_not_copy_attrs(tmp_path):
    df = bundled.load("crypto_spot/XRP_ETH-5m")
    df.attrs["warnings"] = _NoCopy(df.attrs["warnings"])
    result = ParquetStore(tmp_path).write(df, "XRP/ETH", "5m")
    assert result.days_written == 3 and isinstance(df.attrs["warnings"], _NoCopy)  # the caller's frame keeps them
    assert len(ParquetStore(tmp_path).read("XRP/ETH", "5m")) == len(df)


def test_overlap_reports_replaced_and_warns_when_values_differ(tmp_path, capsys):
    path = csv(tmp_path, HEADER + "\n".join(ROWS) + "\n")
    changed = ROWS[:3] + ["2024-01-02 00:03,1.0,1.3,0.9,1.1,10"] + ROWS[4:]
    path2 = csv(tmp_path, HEADER + "\n".join(changed) + "\n", "b.csv")
    store = ["--symbol", "BTC-PERP", "--tf", "1m", "--store", str(tmp_path / "s")]
    assert cli(capsys, "data", "import", path, *store)[0] == 0
    rc, out, err = cli(capsys, "data", "import", path2, *store)
    assert rc == 0 and "6 stored bars replaced (1 with other values)" in out
    assert f"{path2}:5:1: warning DATA_REPLACED 1 stored bar(s) had other values" in err


@pytest.mark.parametrize("symbol", ["", " ", "..", "../x", " ETH/BTC", "a\\b"])
def test_bad_symbols_are_refused(tmp_path, capsys, symbol):
    path = csv(tmp_path, HEADER + "\n".join(ROWS) + "\n")
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", symbol, "--tf", "1m", "--store", str(tmp_path / "s"))
    assert rc == 2 and "argument --symbol: bad symbol" in err
    assert not (tmp_path / "s").exists()


def test_unknown_and_case_twin_symbols_warn(tmp_path, capsys):
    path = csv(tmp_path, HEADER + "\n".join(ROWS) + "\n")
    store = str(tmp_path / "s")
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "BTC-PERP", "--tf", "1m", "--store", store)
    assert rc == 0 and "DATA_SYMBOL" not in err
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "btc-perp", "--tf", "1m", "--store", store)
    assert rc == 0
    assert "adapters/paper/contracts.yaml:1:1: warning DATA_SYMBOL symbol 'btc-perp' is not in the contract" in err
    assert "hint: add its contract (domain, kind, tick, step, min_notional) to adapters/paper/contracts.yaml" in err
    assert f"{store}:1:1: warning DATA_SYMBOL symbol 'btc-perp' differs only in case from stored 'BTC-PERP'" in err


def test_messages_show_plain_numbers_and_the_first_problem(tmp_path):
    with pytest.raises(DataError) as err:
        load_bars(csv(tmp_path, HEADER + ROWS[0] + "\n2024-01-02 00:01,1.0,1.2,0.9,,10\n"))
    assert err.value.message.endswith("(nan)")
    with pytest.raises(DataError, match="prices must be positive"):
        load_bars(csv(tmp_path, HEADER + ROWS[0] + "\n2024-01-02 00:01,-1,1.2,0.9,1.1,10\n", "n.csv"))


def test_check_one_bar_says_the_timeframe_is_unknown(tmp_path, capsys):
    rc, out, _ = cli(capsys, "data", "check", csv(tmp_path, HEADER + ROWS[0] + "\n"))
    assert rc == 0 and "1 bar of unknown timeframe" in out and "None" not in out


def test_naive_and_offset_timestamps_mixed_are_refused_at_the_first_switch(tmp_path, capsys):
    """Naive times are read as UTC and offset ones converted: mixed, the series jumps by the offset."""
    rows = [f"2024-01-02 00:0{i}:00,1.0,1.2,0.9,1.1,10" for i in range(3)]
    rows += [f"2024-01-01 19:0{i}:00-05:00,1.0,1.2,0.9,1.1,10" for i in range(3, 6)]
    path = csv(tmp_path, HEADER + "\n".join(rows) + "\n")
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "BTC-PERP", "--tf", "1m",
                     "--store", str(tmp_path / "s"))
    assert rc == 1 and err.startswith(f"{path}:5:1: error DATA timestamp '2024-01-01 19:03:00-05:00' in column "
                                      "`timestamp` has a UTC offset, but the first ('2024-01-02 00:00:00', line 2) "
                                      "has none")
    assert "hint: give every timestamp an offset, or none" in err and not (tmp_path / "s").exists()
    flipped = [rows[3], *[r.replace(":00-05:00", ":00+00:00") for r in rows[4:]], "2024-01-02 00:06:00,1,1,1,1,1"]
    with pytest.raises(DataError, match="has no UTC offset .* but the first .* has one") as e:
        load_bars(csv(tmp_path, HEADER + "\n".join(flipped) + "\n", "f.csv"))
    assert e.value.line == 5


def test_offsets_that_differ_but_agree_on_the_instant_are_accepted(tmp_path):
    rows = [f"2024-01-02 00:0{i}:00+00:00,1.0,1.2,0.9,1.1,10" for i in range(3)]
    rows += [f"2024-01-01T19:0{i}:00-0500,1.0,1.2,0.9,1.1,10" for i in range(3, 5)] + ["2024-01-02 00:05Z,1,1,1,1,1"]
    df = load_bars(csv(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert list(df.index) == list(pd.date_range("2024-01-02", periods=6, freq="1min", tz="UTC"))


def test_two_time_columns_that_differ_are_ambiguous(tmp_path):
    rows = [f"2024-01-02 00:0{i},2024-01-02 00:0{i},1.0,1.2,0.9,1.1,10" for i in range(6)]
    same = load_bars(csv(tmp_path, "timestamp,date,open,high,low,close,volume\n" + "\n".join(rows) + "\n"))
    assert same.index[0] == pd.Timestamp("2024-01-02", tz="UTC")  # the same times twice are not ambiguous
    rows[3] = rows[3].replace(",2024-01-02 00:03,", ",1999-01-01,")
    path = csv(tmp_path, "timestamp,date,open,high,low,close,volume\n" + "\n".join(rows) + "\n", "b.csv")
    with pytest.raises(DataError) as e:
        load_bars(path)
    assert (e.value.line, e.value.message) == (5, "columns `timestamp` and `date` both look like the bar time and "
                                                  "differ here ('2024-01-02 00:03' vs '1999-01-01'): which one is "
                                                  "meant is ambiguous")
    assert "drop or rename the column that is not the bar time" in e.value.hint


MT5 = ("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
       + "".join(f"2024.01.02\t{h:02d}:00:00\t1.1042\t1.1045\t1.1038\t1.1043\t1234\t0\t5\n" for h in range(6)))


def test_a_metatrader_export_imports_its_date_and_time_columns_as_one_bar_time(tmp_path, capsys):
    """MetaTrader writes a bar's date and time of day in two columns (tab-separated, <DATE>): they
    were read as two disagreeing bar times, "ambiguous", with a hint to drop one of them."""
    path = csv(tmp_path, MT5, "EURUSD_H1.csv")
    df = load_bars(path)
    assert list(df.index) == list(pd.date_range("2024-01-02", periods=6, freq="1h", tz="UTC"))
    assert df.attrs["tf"] == "1h" and list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert (df["volume"] == 1234).all()  # its <TICKVOL>: <VOL> is 0 off exchanges, and a run needs a volume
    comma = csv(tmp_path, "date,time,open,high,low,close,volume\n"
                + "".join(f"2024-01-02,00:0{i},1.0,1.2,0.9,1.1,10\n" for i in range(6)), "mt4.csv")
    assert list(load_bars(comma).index) == list(pd.date_range("2024-01-02", periods=6, freq="1min", tz="UTC"))
    rc, out, err = cli(capsys, "data", "import", path, "--symbol", "EURUSD", "--tf", "1h", "--store",
                       str(tmp_path / "s"))
    assert rc == 0 and "ambiguous" not in err
    bad = csv(tmp_path, MT5.replace("2024.01.02\t03:00", "2024.13.02\t03:00"), "bad.csv")
    with pytest.raises(DataError) as e:
        load_bars(bad)
    assert (e.value.line, e.value.message) == (5, "cannot parse timestamp '2024-13-02 03:00:00' in column "
                                                  "`date + time`")


def test_a_semicolon_separated_csv_gets_a_separator_hint(tmp_path, capsys):
    path = csv(tmp_path, (HEADER + "\n".join(ROWS) + "\n").replace(",", ";"))
    rc, _, err = cli(capsys, "data", "check", path)
    assert rc == 1 and "error DATA no timestamp column among ['timestamp;open;high;low;close;volume']" in err
    assert "hint: the header reads as one column: the file looks separated by ';', not commas" in err


def _quotes(tmp_path: Path, name: str, closes: list[float], gaps: bool = False) -> str:
    """1m bars closing at `closes`; with `gaps`, 4 minutes are missing after every 4th bar."""
    minutes = [i + 4 * (i // 4) if gaps else i for i in range(len(closes))]
    rows = [f"2024-01-02 {m // 60:02d}:{m % 60:02d},{c},{c + 0.5},{c - 0.5},{c},10" for m, c in zip(minutes, closes)]
    return csv(tmp_path, HEADER + "\n".join(rows) + "\n", name)


def test_a_tf_finer_than_the_data_is_refused_too(tmp_path):
    """--tf must be the data's own spacing in both directions: 5m bars given as --tf 1m would be
    stored as a 1m series with 4 of every 5 minutes missing (mutation round 6)."""
    rows = [f"2024-01-02 00:{m:02d},1.0,1.5,0.5,1.0,10" for m in range(0, 30, 5)]
    path = csv(tmp_path, HEADER + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="timeframe 1m does not match the data") as err:
        load_bars(path, tf="1m")
    assert err.value.hint.startswith("use --tf 5m")


def test_an_import_prints_the_files_gap_warnings(tmp_path, capsys):
    """Gaps are warnings, not errors (engine/data/loader.py), and `engine data import` shows them as
    `data check` does: the bars are stored and the holes said (mutation round 6)."""
    path = _quotes(tmp_path, "gappy.csv", [1.0] * 12, gaps=True)
    rc, out, err = cli(capsys, "data", "import", path, "--symbol", "X", "--tf", "1m", "--store", str(tmp_path / "s"))
    assert rc == 0 and "12 rows imported" in out
    assert err.count("warning DATA_GAP") == 2 and "gap of 0 days 00:05:00" in err


def test_bid_and_ask_files_swapped_are_refused(tmp_path, capsys):
    bid = _quotes(tmp_path, "bid.csv", [1.0] * 6)
    ask = _quotes(tmp_path, "ask.csv", [1.1, 0.9, 1.1, 1.1, 1.1, 1.1])
    rc, out, err = cli(capsys, "data", "check", bid, "--ask", ask)
    assert rc == 0 and "DATA_CROSSED 1 bar(s) close with ask below bid" in err  # a crossed bar: the sampling quirk
    rc, _, err = cli(capsys, "data", "check", ask, "--ask", bid)
    assert rc == 1 and err.startswith(f"{bid}:2:1: error DATA_CROSSED 5 of 6 bars close with ask below bid")
    assert "hint: the files look swapped: FILE is the bid file and --ask the ask file" in err
    assert "(try bid.csv --ask ask.csv)" in err


def test_gap_warnings_do_not_hide_a_crossed_quote(tmp_path, capsys):
    bid = _quotes(tmp_path, "bid.csv", [1.0] * 32, gaps=True)
    ask = _quotes(tmp_path, "ask.csv", [0.9] + [1.1] * 31, gaps=True)
    rc, _, err = cli(capsys, "data", "check", bid, "--ask", ask)
    assert rc == 0 and err.count("warning DATA_GAP") == 5 and "... and 2 more gap warning(s)" in err
    assert f"{ask}:2:1: warning DATA_CROSSED 1 bar(s) close with ask below bid" in err
