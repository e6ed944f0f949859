"""A series imported in one zone and its file imported again in another: the store refuses the
file (DATA_SHIFTED) and writes nothing, as it would store every bar twice, hours apart (a
MetaTrader export imported without --tz, then with --tz Europe/Athens, did so silently)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.data.store import ParquetStore

MT_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


def mt5(tmp_path: Path, start: str, n: int, freq: str = "1h", name: str = "EURUSD.csv", zone: str = "UTC") -> Path:
    """A MetaTrader 5 export of `n` bars from `start` (UTC), stamped in `zone` (a server's time),
    whose bars differ, as a market's do."""
    rng = np.random.default_rng(7)
    close = 1.1 + np.cumsum(rng.normal(0, 5e-4, n))
    high, low = close + rng.uniform(0, 5e-4, n), close - rng.uniform(0, 5e-4, n)
    stamps = pd.date_range(start, periods=n, freq=freq, tz="UTC").tz_convert(zone)
    rows = "".join(f"{t:%Y.%m.%d}\t{t:%H:%M:%S}\t{c:.5f}\t{h:.5f}\t{lo:.5f}\t{c:.5f}\t100\t0\t5\n"
                   for t, c, h, lo in zip(stamps, close, high, low))
    path = tmp_path / name
    path.write_text(MT_HEADER + rows)
    return path


def imp(capsys: pytest.CaptureFixture[str], store: Path, path: Path, tf: str, *extra: str) -> tuple[int, str]:
    rc = main(["data", "import", str(path), "--symbol", "EUR/USD", "--tf", tf, "--store", str(store), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_metatrader_export_imported_without_tz_then_with_it_is_refused(tmp_path, capsys):
    store, path = tmp_path / "store", mt5(tmp_path, "2024-01-08 00:00", 120)
    rc, err = imp(capsys, store, path, "1h")
    assert rc == 0 and "warning DATA_TZ" in err
    before = snapshot(store)
    rc, err = imp(capsys, store, path, "1h", "--tz", "Europe/Athens")
    assert rc == 1 and f"{path}:1:1: error DATA_SHIFTED 118 of this file's bars equal the stored EUR/USD 1h bars " \
                       "2 h later: the stored series was imported in another time zone or with another --tz" in err
    assert "nothing was written" in err and "import it with the --tz the series was stored with" in err
    assert "symbol=EUR%2FUSD/tf=1h and import the whole series again with the right --tz" in err
    assert snapshot(store) == before
    rc, err = imp(capsys, store, path, "1h")  # the way out: the zone it was stored with replaces its bars
    assert rc == 0 and snapshot(store) == before


def test_a_file_across_a_daylight_saving_change_names_both_offsets(tmp_path, capsys):
    """Athens' clocks go forward on 2024-03-31: the bars before are 2 h from their UTC-read twins, after 3 h."""
    store, path = tmp_path / "store", mt5(tmp_path, "2024-03-29 00:00", 96, zone="Europe/Athens")
    assert imp(capsys, store, path, "1h")[0] == 0
    rc, err = imp(capsys, store, path, "1h", "--tz", "Europe/Athens")
    assert rc == 1 and "equal the stored EUR/USD 1h bars 2 h later and " in err and " 3 h later:" in err
    assert len(ParquetStore(store).read("EUR/USD", "1h")) == 96


def test_a_fixed_half_hour_offset_is_refused_with_it_named(tmp_path, capsys):
    store, path = tmp_path / "store", mt5(tmp_path, "2024-05-06 00:00", 300, "5min")
    assert imp(capsys, store, path, "5m", "--tz", "UTC+05:30")[0] == 0
    before = snapshot(store)
    rc, err = imp(capsys, store, path, "5m")
    assert rc == 1 and "error DATA_SHIFTED" in err and "bars 5 h 30 min earlier:" in err
    assert snapshot(store) == before


def test_an_hourly_file_an_hour_off_is_told_both_causes(tmp_path, capsys):
    """One bar of 1h is also two zones an hour apart (UTC+2 stored, summer's UTC+3 now)."""
    store, path = tmp_path / "store", mt5(tmp_path, "2024-07-01 00:00", 48)
    assert imp(capsys, store, path, "1h", "--tz", "UTC+02:00")[0] == 0
    rc, err = imp(capsys, store, path, "1h", "--tz", "UTC+03:00")
    assert rc == 1 and "error DATA_SHIFTED" in err and "one bar later" in err
    assert "time zones 1 h apart (--tz)" in err and "imported with another --tz (or none)" in err


def test_the_same_file_in_the_same_zone_replaces_its_bars(tmp_path, capsys):
    store, path = tmp_path / "store", mt5(tmp_path, "2024-01-08 00:00", 120)
    assert imp(capsys, store, path, "1h", "--tz", "Europe/Athens")[0] == 0
    before = snapshot(store)
    rc, err = imp(capsys, store, mt5(tmp_path, "2024-01-08 00:00", 120, name="again.csv"), "1h",
                  "--tz", "Europe/Athens")
    assert rc == 0 and snapshot(store) == before
    later = mt5(tmp_path, "2024-01-10 00:00", 120, name="later.csv")  # a day over the stored bars, a day new
    assert imp(capsys, store, later, "1h", "--tz", "Europe/Athens")[0] == 0
    assert len(ParquetStore(store).read("EUR/USD", "1h")) == 168


def test_a_quiet_market_is_not_taken_for_a_shift(tmp_path):
    """Flat bars equal the stored bars at every offset: that says nothing about where they belong,
    neither for the file's next bars (the first equal to the last stored) nor in another zone."""
    idx = pd.date_range("2024-01-01", periods=48, freq="1h", tz="UTC")
    flat = pd.DataFrame({c: 1.1 for c in ("open", "high", "low", "close")} | {"volume": 0.0}, index=idx)
    store = ParquetStore(tmp_path)
    store.write(flat.iloc[:24], "X", "1h")
    assert store.write(flat.iloc[24:], "X", "1h").replaced == 0
    moved = flat.set_axis(idx - pd.Timedelta("2h"))
    assert store.write(moved, "X", "1h").replaced == 46
