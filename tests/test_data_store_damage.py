"""A damaged store is a diagnostic naming the day file, and an import is all or nothing.

One day file overwritten with garbage used to give a pyarrow traceback in `data import`, `data
list` and `engine run`; a write that failed part-way (a file where a day folder goes, a full disk,
Ctrl-C) left some days and the label written. Now each day is written to a temporary file first
and all are swapped in together; a failure puts the store back as it was."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.errors import DataError
from engine.data.store import ParquetStore
from engine.diagnostics import SpecError
from engine.run.config import load_config

SYMBOL, TF = "LTC/BTC", "5m"


def _snapshot(root: Path) -> dict[Path, bytes | None]:
    """Every file's bytes and every folder (None): a left-over temporary file or folder shows. The
    series' lock file (under .locks) stays by design: removing a lock file races its next taker."""
    return {p.relative_to(root): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))
            if ".locks" not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    df = bundled.load("crypto_spot/LTC_BTC-5m")
    return df[df.index < pd.Timestamp("2018-01-14", tz="UTC")]  # 4 days, 2018-01-10 .. 13


def _damaged(root: Path, bars: pd.DataFrame, day: str) -> Path:
    ParquetStore(root).write(bars, SYMBOL, TF)
    path = ParquetStore(root).folder(SYMBOL, TF) / f"date={day}" / "part.parquet"
    path.write_text("garbage\n")
    return path


def _is_named(err: str, path: Path) -> None:
    assert err.startswith(f"{path}:1:1: error DATA cannot read this stored day file: ") and "Traceback" not in err
    assert f"hint: remove that day's folder ({path.parent}) and import the file holding {path.parent.name[5:]}" in err


def test_a_damaged_day_file_is_named_by_import_and_list(tmp_path, capsys, bars):
    day = _damaged(tmp_path, bars, "2018-01-12")
    file = tmp_path / "bars.csv"
    bars.rename_axis("timestamp").to_csv(file)
    capsys.readouterr()
    assert main(["data", "list", "--store", str(tmp_path)]) == 1
    _is_named(capsys.readouterr().err, day)
    assert main(["data", "import", str(file), "--symbol", SYMBOL, "--tf", TF, "--store", str(tmp_path)]) == 1
    _is_named(capsys.readouterr().err, day)
    # Another series does not read the damaged one.
    assert main(["data", "import", str(file), "--symbol", "ETH/BTC", "--tf", TF, "--store", str(tmp_path)]) == 0


def test_a_damaged_day_file_is_named_when_a_run_reads_it(tmp_path, capsys, bars):
    day = _damaged(tmp_path / "store", bars, "2018-01-12")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"db: {tmp_path / 'engine.db'}\nruns_dir: {tmp_path / 'runs'}\ndata:\n  crypto_spot:\n"
                   f"    datasets: ['store:{SYMBOL}@{TF}']\n    store: {tmp_path / 'store'}\n")
    assert main(["run", "--stage", "1", "--no-progress", "--max-bars", "5", "--config", str(cfg)]) == 1
    _is_named(capsys.readouterr().err, day)
    first = _damaged(tmp_path / "store", bars.iloc[:10], "2018-01-10")  # the day the config check reads
    with pytest.raises(SpecError) as e:
        load_config(cfg)
    (text,) = [d.text() for d in e.value.diagnostics]
    assert text.startswith(f"{cfg}:5:16: error CONFIG_DATA {first}: cannot read this stored day file")


def test_a_parquet_file_without_bar_times_is_damage_too(tmp_path, bars):
    day = _damaged(tmp_path, bars, "2018-01-11")
    pd.DataFrame({"open": [1.0]}).to_parquet(day)
    with pytest.raises(DataError, match="it holds no bar times") as e:
        ParquetStore(tmp_path).read(SYMBOL, TF)
    assert e.value.file == str(day)


def _naive(d: pd.DataFrame) -> pd.DataFrame:
    return d.set_axis(d.index.tz_localize(None))


@pytest.mark.parametrize("change, line, said", [
    (_naive, 1, "cannot read this stored day file: its bar times have no zone"),
    (lambda d: d.assign(volume=d["volume"].astype(str)), 1, "cannot read this stored day file: its column `volume` "
                                                            "holds"),
    (lambda d: pd.concat([d.iloc[:13], d.iloc[12:13], d.iloc[13:]]), 14, "repeats the bar before it"),
    (lambda d: d.iloc[::-1], 2, "is earlier than the bar before it"),
])
def test_a_day_file_changed_so_that_no_read_can_trust_it_is_named_by_read_and_import(tmp_path, bars, change, line,
                                                                                     said):
    """rev31: a repeated bar was read and traded (resampling counted its volume twice), a reversed
    day re-sorted; a naive index or a text volume was a traceback in import and run."""
    day = _damaged(tmp_path, bars, "2018-01-11")
    change(bars[bars.index.normalize() == pd.Timestamp("2018-01-11", tz="UTC")]).to_parquet(day)
    for attempt in (lambda: ParquetStore(tmp_path).read(SYMBOL, TF),
                    lambda: ParquetStore(tmp_path).write(bars * 1.01, SYMBOL, TF)):
        with pytest.raises(DataError) as e:
            attempt()
        assert (e.value.file, e.value.line) == (str(day), line) and said in e.value.message


@pytest.mark.parametrize("stored", [False, True])
def test_a_file_where_the_third_day_goes_writes_nothing(tmp_path, capsys, bars, stored):
    store = ParquetStore(tmp_path / "s")
    if stored:
        store.write(bars.iloc[:300], SYMBOL, TF)  # 2018-01-10 and 11, and the label
    blocker = store.folder(SYMBOL, TF) / "date=2018-01-12"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("")
    before = _snapshot(store.root)
    with pytest.raises(DataError) as e:
        store.write(bars * 1.01, SYMBOL, TF)
    assert e.value.message.startswith(f"cannot write the store: a file is where the store needs a folder ({blocker})")
    assert e.value.message.endswith("nothing was written")
    assert _snapshot(store.root) == before


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failure_while_swapping_days_in_puts_the_store_back(tmp_path, monkeypatch, bars, failure):
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    before = _snapshot(tmp_path)
    replace, calls = os.replace, []

    def third_fails(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise failure
        replace(src, dst)

    monkeypatch.setattr(os, "replace", third_fails)
    with pytest.raises((DataError, KeyboardInterrupt)):
        store.write(bars * 1.01, SYMBOL, TF)  # 4 days, each replacing a stored one
    monkeypatch.undo()
    assert len(calls) > 3  # the two days swapped in were put back
    assert _snapshot(tmp_path) == before
    assert store.read(SYMBOL, TF).equals(bars)


def test_a_day_file_removed_between_the_listing_and_the_read_is_a_diagnostic(tmp_path, monkeypatch, bars):
    """An AttributeError traceback from _checked_day: the day was listed, then gone (an import's
    undo, the series' folder removed by hand meanwhile). A read without it would have a hole."""
    import engine.data.store as store_module

    ParquetStore(tmp_path).write(bars, SYMBOL, TF)
    gone = ParquetStore(tmp_path).folder(SYMBOL, TF) / "date=2018-01-12" / "part.parquet"
    listed = store_module._day_files

    def then_removed(series: Path) -> list[Path]:
        days = listed(series)
        gone.unlink()
        return days

    monkeypatch.setattr(store_module, "_day_files", then_removed)
    with pytest.raises(DataError) as err:
        ParquetStore(tmp_path).read(SYMBOL, TF)
    assert str(err.value).startswith(f"{gone}:1:1: error DATA this stored day file was removed while it was being read")
    assert "import the file holding 2018-01-12 again" in str(err.value)


@pytest.mark.parametrize("change, message", [
    ({"open": 0.0, "high": 0.0, "low": 0.0, "close": 0.0}, "OHLC sanity: prices must be positive"),
    ({"high": float("inf")}, "`high` is not a number (inf)"),
    ({"close": float("nan")}, "`close` is not a number (nan)"),
    (lambda bar: bar * 100, "price jump: the open is 99"),  # 100x the bar's own open
], ids=["zero", "inf", "nan", "bar-x100"])
def test_a_day_file_changed_after_its_import_is_refused_at_its_row(tmp_path, bars, change, message):
    """The import checks the prices once; a day file edited or damaged since was read back
    unchecked, and the paper venue filled a stop at its price of 0 (a traceback, on every resume)."""
    ParquetStore(tmp_path).write(bars, SYMBOL, TF)
    path = ParquetStore(tmp_path).folder(SYMBOL, TF) / "date=2018-01-12" / "part.parquet"
    day = pd.read_parquet(path)
    prices = [day.columns.get_loc(c) for c in ("open", "high", "low", "close")]
    if callable(change):  # the whole bar at once, so OHLC sanity still holds
        day.iloc[96, prices] = change(day.iloc[96, prices])
    for column, value in ({} if callable(change) else change).items():
        day.iloc[96, day.columns.get_loc(column)] = value
    day.to_parquet(path)
    with pytest.raises(DataError) as e:
        ParquetStore(tmp_path).read(SYMBOL, TF)
    assert str(e.value).startswith(f"{path}:97:1: error DATA {message}")


def test_a_whole_stored_day_in_other_units_is_refused_at_its_first_row(tmp_path, bars):
    """rev27: a day file scaled x100 whole kept its own bars consistent, and read back unchecked
    against the day before."""
    ParquetStore(tmp_path).write(bars, SYMBOL, TF)
    path = ParquetStore(tmp_path).folder(SYMBOL, TF) / "date=2018-01-12" / "part.parquet"
    day = pd.read_parquet(path)
    day[["open", "high", "low", "close"]] *= 100
    day.to_parquet(path)
    with pytest.raises(DataError) as e:
        ParquetStore(tmp_path).read(SYMBOL, TF)
    assert str(e.value).startswith(f"{path}:1:1: error DATA price jump: the open is 1")


@pytest.mark.parametrize("later", [True, False], ids=["appended", "prepended"])
@pytest.mark.parametrize("cut", ["2018-01-12 00:00", "2018-01-12 07:35"], ids=["at-midnight", "mid-day"])
def test_a_file_in_other_units_than_the_stored_series_is_refused_at_its_line(tmp_path, capsys, bars, later, cut):
    """rev27: half a series imported, then the other half x100: both imports passed (each file is
    consistent in itself) and the run traded x100 prices, or every later read refused the series."""
    store = tmp_path / "s"
    first, second = bars[bars.index < cut], bars[bars.index >= cut]
    kept, scaled = (first, second) if later else (second, first)
    scaled = scaled.copy()
    scaled[["open", "high", "low", "close"]] *= 100
    ParquetStore(store).write(kept, SYMBOL, TF)
    before = _snapshot(store)
    file = tmp_path / "x100.csv"
    scaled.rename_axis("timestamp").to_csv(file)
    assert main(["data", "import", str(file), "--symbol", SYMBOL, "--tf", TF, "--store", str(store)]) == 1
    err = capsys.readouterr().err
    line = 2 if later else len(scaled) + 1  # its first bar, or its last (the stored bar after it jumps)
    assert err.startswith(f"{file}:{line}:1: error DATA price jump against the stored series: ")
    assert "nothing was written" in err and _snapshot(store) == before
