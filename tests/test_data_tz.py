"""`engine data import|check --tz ZONE`: a file's naive times are read in ZONE and stored in UTC,
and a MetaTrader export (stamped in its broker's server time) read as UTC says so."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cli_support import cli
from data_support import recorded_commands
from engine.cli import main
from engine.data.errors import DataError
from engine.data.loader import load_bars
from engine.data.store import ParquetStore

MT_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
HEADER = "timestamp,open,high,low,close,volume\n"


def mt5(tmp_path: Path, stamps: list[str], name: str = "EURUSD_H1.csv") -> str:
    """A MetaTrader 5 export of one bar per `stamps` entry ('2024-10-27 03:00')."""
    rows = "".join(f"{s[:10].replace('-', '.')}\t{s[11:]}:00\t1.1042\t1.1045\t1.1038\t1.1043\t1234\t0\t5\n"
                   for s in stamps)
    p = tmp_path / name
    p.write_text(MT_HEADER + rows)
    return str(p)


def plain(tmp_path: Path, stamps: list[str], name: str = "bars.csv") -> str:
    p = tmp_path / name
    p.write_text(HEADER + "".join(f"{s},1.0,1.2,0.9,1.1,10\n" for s in stamps))
    return str(p)


def imported(capsys, tmp_path: Path, path: str, tf: str, *extra: str) -> tuple[int, str, list[pd.Timestamp]]:
    store = tmp_path / "store"
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "EUR/USD", "--tf", tf, "--store", str(store), *extra)
    bars = list(ParquetStore(store).read("EUR/USD", tf).index) if rc == 0 else []
    return rc, err, bars


def utc(start: str, n: int, freq: str = "1h") -> list[pd.Timestamp]:
    return list(pd.date_range(start, periods=n, freq=freq, tz="UTC"))


def test_tz_reads_naive_times_in_the_zone_across_both_dst_changes(tmp_path, capsys):
    """Athens is UTC+2, UTC+3 from 2024-03-31 03:00 (04:00 local) to 2024-10-27 04:00 (03:00 local):
    the spring file skips 03:00, the autumn file holds 03:00 twice, and both are hourly in UTC."""
    spring = mt5(tmp_path, ["2024-03-31 01:00", "2024-03-31 02:00", "2024-03-31 04:00", "2024-03-31 05:00"])
    rc, err, bars = imported(capsys, tmp_path, spring, "1h", "--tz", "Europe/Athens")
    assert rc == 0 and bars == utc("2024-03-30 23:00", 4) and "DATA_TZ" not in err
    autumn = mt5(tmp_path, ["2024-10-27 02:00", "2024-10-27 03:00", "2024-10-27 03:00", "2024-10-27 04:00"], "b.csv")
    rc, err, bars = imported(capsys, tmp_path / "b", autumn, "1h", "--tz", "Europe/Athens")
    assert rc == 0 and bars == utc("2024-10-26 23:00", 4)
    df = load_bars(plain(tmp_path, ["2024-07-01 09:30", "2024-07-01 09:31"]), tz="America/New_York")
    assert list(df.index) == utc("2024-07-01 13:30", 2, "1min")


def test_a_fixed_offset_zone_has_no_dst(tmp_path, capsys):
    path = mt5(tmp_path, ["2024-07-01 00:00", "2024-07-01 01:00", "2024-07-01 02:00"])
    rc, _, bars = imported(capsys, tmp_path, path, "1h", "--tz", "UTC+02:00")
    assert rc == 0 and bars == utc("2024-06-30 22:00", 3)
    assert list(load_bars(path, tz="UTC-5").index) == utc("2024-07-01 05:00", 3)


@pytest.mark.parametrize("zone, first", [("UTC+14:00", "2024-06-30 10:00"), ("UTC-14:00", "2024-07-01 14:00")])
def test_the_widest_offsets_are_zones(tmp_path, zone, first):
    """parse_zone takes offsets up to 14 h either way (Kiribati's UTC+14 is a real server clock;
    mut7b L03: the bound itself refused)."""
    path = plain(tmp_path, ["2024-07-01 00:00", "2024-07-01 01:00"])
    assert list(load_bars(path, tz=zone).index) == utc(first, 2)


@pytest.mark.parametrize("zone, hint", [("Europe/Athen", "did you mean `Europe/Athens`?"),
                                        ("europe/athens", "did you mean `Europe/Athens`?"),
                                        ("+02:00", "did you mean `UTC+02:00`?"),
                                        ("UTC+25", "offsets run from UTC-14:00 to UTC+14:00"),
                                        ("UTC+02:60", "offsets run from UTC-14:00 to UTC+14:00"),
                                        ("../etc/passwd", "an IANA zone name such as Europe/Athens")])
def test_an_unknown_zone_is_a_usage_error_with_a_hint(tmp_path, capsys, zone, hint):
    path = plain(tmp_path, ["2024-01-02 00:00", "2024-01-02 00:01"])
    for argv in (["import", path, "--symbol", "EUR/USD", "--tf", "1m", "--store", str(tmp_path / "s")],
                 ["check", path]):
        rc, _, err = cli(capsys, "data", *argv, "--tz", zone)
        assert rc == 2 and f"argument --tz: unknown time zone {zone!r}" in err and hint in err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("zone, hint", [("localtime", "an IANA zone name such as Europe/Athens"),
                                        ("posix/Europe/Athens", "write `Europe/Athens`"),
                                        ("right/UTC", "write `UTC`"), ("Factory", "a fixed offset")])
def test_a_zone_of_the_machine_is_refused(tmp_path, capsys, zone, hint):
    """zoneinfo finds these on the machine: the same file and command stored 09:00 UTC on one
    host and 06:00 UTC on a host whose own zone is Europe/Athens."""
    path = plain(tmp_path, ["2024-01-02 00:00", "2024-01-02 00:01"])
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "EUR/USD", "--tf", "1m",
                     "--store", str(tmp_path / "s"), "--tz", zone)
    assert rc == 2 and f"argument --tz: `{zone}` is " in err and "not a zone of the time zone database" in err
    assert hint in err and not (tmp_path / "s").exists()


def test_offset_times_with_tz_are_refused_as_ambiguous(tmp_path, capsys):
    path = plain(tmp_path, ["2024-01-02 00:00+02:00", "2024-01-02 00:01+02:00"])
    rc, _, err = cli(capsys, "data", "import", path, "--symbol", "EUR/USD", "--tf", "1m", "--tz", "Europe/Athens",
                     "--store", str(tmp_path / "s"))
    assert rc == 1 and err.startswith(f"{path}:2:1: error DATA timestamp '2024-01-02 00:00+02:00' in column "
                                      "`timestamp` has a UTC offset and --tz Europe/Athens was given: which one "
                                      "holds is ambiguous")
    assert "hint: drop --tz (an offset says its zone)" in err and not (tmp_path / "s").exists()
    epoch = tmp_path / "epoch.csv"
    epoch.write_text(HEADER + "1704153600,1,1,1,1,1\n1704153660,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"epoch numbers, which count from 1970-01-01 UTC: --tz UTC\+02:00") as e:
        load_bars(epoch, tz="UTC+02:00")
    assert e.value.line == 2


@pytest.mark.parametrize("stamps", [["20240102T000000+0200", "20240102T000100+0200"], ["20240102T0000Z", "20240102T0001Z"]])
def test_an_offset_in_iso_basic_format_is_an_offset_too(tmp_path, stamps):
    """rev27: `20180110T065500+0200` was not seen as an offset: with --tz Europe/Athens every bar was
    stored two hours early, and a file mixing such times with naive ones passed `data check`."""
    with pytest.raises(DataError, match="has a UTC offset and --tz Europe/Athens was given") as e:
        load_bars(plain(tmp_path, stamps), tz="Europe/Athens")
    assert e.value.line == 2
    mixed = plain(tmp_path, ["20240102T000000", stamps[1]], "mixed.csv")
    with pytest.raises(DataError, match="has a UTC offset, but the first") as e:
        load_bars(mixed)
    assert e.value.line == 3


def test_a_dst_change_the_file_does_not_follow_is_refused_at_its_line(tmp_path):
    """The autumn hour held once could be either of the two; a spring hour the zone skips is not its time."""
    once = mt5(tmp_path, ["2024-10-27 02:00", "2024-10-27 03:00", "2024-10-27 04:00"], "once.csv")
    with pytest.raises(DataError) as e:
        load_bars(once, tz="Europe/Athens")
    assert (e.value.line, e.value.message) == (3, "bar time 2024-10-27 03:00:00 happens twice in Europe/Athens "
                                                  "(its clocks go back that day) and the file does not show which "
                                                  "of the two it is")
    # Two autumns: 2023's repeated hour is there twice (placed), 2024's once: the error is at 2024's
    # (mut7b L06: it named the first of 2023's placed pair, line 3).
    years = plain(tmp_path, ["2023-10-29 02:00", "2023-10-29 03:00", "2023-10-29 03:00", "2023-10-29 04:00",
                             "2024-10-27 02:00", "2024-10-27 03:00", "2024-10-27 04:00"], "years.csv")
    with pytest.raises(DataError) as e:
        load_bars(years, tz="Europe/Athens")
    assert e.value.line == 7 and e.value.message.startswith("bar time 2024-10-27 03:00:00 happens twice")
    skipped = mt5(tmp_path, ["2024-03-31 02:00", "2024-03-31 03:00", "2024-03-31 04:00"], "skip.csv")
    with pytest.raises(DataError) as e:
        load_bars(skipped, tz="Europe/Athens")
    assert (e.value.line, e.value.message) == (3, "bar time 2024-03-31 03:00:00 does not exist in Europe/Athens "
                                                  "(its clocks skip that hour that day)")
    assert "not Europe/Athens time" in e.value.hint


def test_a_metatrader_export_read_as_utc_warns_unless_a_zone_is_given(tmp_path, capsys):
    path = mt5(tmp_path, ["2024-01-02 00:00", "2024-01-02 01:00", "2024-01-02 02:00"])
    rc, err, bars = imported(capsys, tmp_path, path, "1h")
    assert rc == 0 and bars == utc("2024-01-02 00:00", 3)  # imported as before
    assert (f"{path}:1:1: warning DATA_TZ a MetaTrader export, read as UTC: MetaTrader stamps bars in the "
            "broker's server time") in err and "--tz Europe/Athens" in err
    rc, err = cli(capsys, "data", "check", path)[::2]
    assert rc == 0 and "warning DATA_TZ" in err
    rc, err, _ = imported(capsys, tmp_path / "u", path, "1h", "--tz", "UTC")
    assert rc == 0 and "DATA_TZ" not in err
    mt4 = tmp_path / "mt4.csv"  # MetaTrader 4's comma-separated export: its dates are written 2024.01.02
    mt4.write_text("Date,Time,Open,High,Low,Close,Volume\n2024.01.02,00:00,1,1,1,1,1\n2024.01.02,00:01,1,1,1,1,1\n")
    assert [d.code for d in load_bars(mt4).attrs["warnings"]] == ["DATA_TZ"]
    assert load_bars(plain(tmp_path, ["2024-01-02 00:00", "2024-01-02 00:01"])).attrs["warnings"] == []


def test_daily_server_time_bars_converted_off_the_grid_are_refused_with_a_zone_hint(tmp_path, capsys):
    path = mt5(tmp_path, [f"2024-01-0{d} 00:00" for d in range(2, 6)], "EURUSD_D1.csv")
    rc, err, _ = imported(capsys, tmp_path, path, "1d", "--tz", "Europe/Athens")
    assert rc == 1 and err.startswith(f"{path}:2:1: error DATA bar time 2024-01-01 22:00:00+00:00 "
                                      "(2024-01-02 00:00 in Europe/Athens) is not on the 1d grid")
    assert ("hint: the bars open on the 1d grid in Europe/Athens time, which is UTC+2 in this file, not on the "
            "engine's UTC grid") in err and "import the same market's 1h bars" in err
    four = mt5(tmp_path, ["2024-01-02 00:00", "2024-01-02 04:00", "2024-01-02 08:00"], "H4.csv")
    with pytest.raises(DataError, match="4h grid in Europe/Athens time") as e:
        load_bars(four, tz="Europe/Athens")
    assert "import the same market's 1h bars" in e.value.hint


def test_help_names_tz(capsys):
    for action in ("import", "check"):
        with pytest.raises(SystemExit):
            main(["data", action, "--help"])
        assert "--tz ZONE" in capsys.readouterr().out


def test_times_typed_with_a_zone_and_tz_are_refused_as_ambiguous(tmp_path):
    """A parquet column typed with a zone says its zone as an offset written out does: --tz on it
    is refused, not applied on top (mut7b U01: the typed check dropped, bars shifted by 2-3 h)."""
    path = tmp_path / "bars.parquet"
    ts = pd.date_range("2024-01-02", periods=2, freq="1h", tz="Europe/Athens")
    pd.DataFrame({"timestamp": ts, "open": 1.0, "high": 1.2, "low": 0.9, "close": 1.1}).to_parquet(path)
    with pytest.raises(DataError, match=r"has a UTC offset and --tz Europe/Athens was given"):
        load_bars(path, tz="Europe/Athens")


def test_a_bid_and_an_ask_file_are_both_read_in_the_zone(tmp_path):
    """load_bid_ask gives --tz to both files: they align, in UTC (mut7b U05: the ask read as UTC)."""
    from engine.data.loader import load_bid_ask

    stamps = ["2024-07-01 00:00", "2024-07-01 01:00", "2024-07-01 02:00"]
    ask = Path(plain(tmp_path, stamps, "ask.csv"))
    ask.write_text(ask.read_text().replace(",1.1,10", ",1.15,10"))  # a spread: the same prices twice are refused
    df = load_bid_ask(plain(tmp_path, stamps, "bid.csv"), str(ask), tz="UTC+02:00")
    assert list(df.index) == utc("2024-06-30 22:00", 3)


def test_the_command_an_import_records_to_run_again_keeps_its_tz(tmp_path, capsys, monkeypatch):
    """A killed import is completed by re-running its recorded command: without --tz it would
    store the bars hours off (mut7b U07: --tz left out of the command)."""
    seen = recorded_commands(monkeypatch)
    path = mt5(tmp_path, ["2024-07-01 00:00", "2024-07-01 01:00", "2024-07-01 02:00"])
    assert imported(capsys, tmp_path, path, "1h", "--tz", "Europe/Athens")[0] == 0
    assert len(seen) == 1 and " --tz Europe/Athens " in seen[0]
