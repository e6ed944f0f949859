"""What the store reads is its layout: symbol=S/tf=T/date=YYYY-MM-DD/part.parquet (and `label`).

A folder named as the store's but not as the store writes it (`date=garbage`, `date=2022-13-45`,
`tf=60m`) used to give a ValueError traceback in `data list`, `data import` and `engine run`, or
to be listed under a day or timeframe no read looks at. Now it is a DATA diagnostic naming it,
with a rename-or-remove hint. What is plainly not the store's (notes, folders without its
prefixes) is ignored by every command alike."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.errors import DataError
from engine.data.store import ParquetStore

SYMBOL, TF = "LTC/BTC", "5m"
SERIES = "symbol=LTC%2FBTC/tf=5m"


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    df = bundled.load("crypto_spot/LTC_BTC-5m")
    return df[df.index < pd.Timestamp("2018-01-12", tz="UTC")]  # 2018-01-10 and 11


@pytest.fixture
def store(tmp_path: Path, bars: pd.DataFrame) -> tuple[Path, str]:
    """A store holding the series, and a CSV of the same bars to import again."""
    ParquetStore(tmp_path / "store").write(bars, SYMBOL, TF)
    file = tmp_path / "bars.csv"
    bars.rename_axis("timestamp").to_csv(file)
    return tmp_path / "store", str(file)


def _add(root: Path, rel: str) -> Path:
    """A folder holding a copy of a real day file, or a stray text file."""
    path = root / rel
    if rel.endswith("/"):
        path.mkdir(parents=True)
        shutil.copy(root / SERIES / "date=2018-01-10" / "part.parquet", path / "part.parquet")
    else:
        path.write_text("my notes\n")
    return path


def _named(err: str, path: Path, hint: str) -> None:
    assert err.startswith(f"{path}:1:1: error DATA ") and "Traceback" not in err
    assert f"hint: {hint}" in err


def _import(root: Path, file: str, capsys) -> tuple[int, str]:
    code = main(["data", "import", file, "--symbol", SYMBOL, "--tf", TF, "--store", str(root)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("day", ["date=garbage", "date=2022-13-45", "date=2018-1-10", "date=20180110"])
def test_a_misnamed_day_folder_is_named_by_list_import_and_read(tmp_path, store, capsys, day):
    root, file = store
    folder = _add(root, f"{SERIES}/{day}/")
    hint = "rename it to the day its bars open on (date=2024-01-31) or remove it"
    capsys.readouterr()
    assert main(["data", "list", "--store", str(root)]) == 1
    _named(capsys.readouterr().err, folder, hint)
    code, err = _import(root, file, capsys)
    assert code == 1
    _named(err, folder, hint)
    with pytest.raises(DataError) as e:
        ParquetStore(root).read(SYMBOL, TF)
    assert e.value.file == str(folder) and f"{day!r} is not a day of the store" in e.value.message
    (folder / "part.parquet").unlink()  # an empty one too: a day folder the store would not write
    with pytest.raises(DataError):
        ParquetStore(root).read(SYMBOL, TF)


def test_a_misnamed_day_folder_stops_a_run_at_its_config_line(tmp_path, store, capsys):
    root, _ = store
    folder = _add(root, f"{SERIES}/date=garbage/")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"db: {tmp_path / 'engine.db'}\nruns_dir: {tmp_path / 'runs'}\ndata:\n  crypto_spot:\n"
                   f"    datasets: ['store:{SYMBOL}@{TF}']\n    store: {root}\n")
    capsys.readouterr()
    assert main(["run", "--stage", "1", "--no-progress", "--max-bars", "5", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{cfg}:5:16: error CONFIG_DATA {folder}: 'date=garbage' is not a day of the store")
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("series, hint", [
    ("symbol=LTC%2FBTC/tf=60m", "rename it to symbol=LTC%2FBTC/tf=1h or remove it"),
    ("symbol=LTC%2fBTC/tf=5m", f"rename it to {SERIES} or remove it"),
    ("symbol=LTC%2FBTC/tf=garbage", "rename it to symbol=SYMBOL/tf=TIMEFRAME as `engine data import` writes them"),
    ("symbol=%2E%2E/tf=5m", "rename it to symbol=SYMBOL/tf=TIMEFRAME as `engine data import` writes them"),
])
def test_a_misnamed_series_folder_is_named_by_list(tmp_path, store, capsys, series, hint):
    """`data list` used to show it under a name no run config can read."""
    root, file = store
    folder = _add(root, f"{series}/date=2018-01-10/").parent
    capsys.readouterr()
    assert main(["data", "list", "--store", str(root)]) == 1
    _named(capsys.readouterr().err, folder, hint)
    # The series that is well named is not blocked by it.
    assert _import(root, file, capsys)[0] == 0
    assert len(ParquetStore(root).read(SYMBOL, TF)) == 517


STRAYS = ["notes.txt", "junk/", "LTC/tf=5m/", "symbol=LTC%2FBTC/notes.txt", "symbol=LTC%2FBTC/5m/",
          f"{SERIES}/notes.txt", f"{SERIES}/days/", f"{SERIES}/date=2018-01-10/notes.txt"]


def test_what_is_not_the_stores_is_ignored_by_every_command(tmp_path, store, capsys, bars):
    root, file = store
    before = _listing(root, capsys)
    for rel in STRAYS:
        _add(root, rel)
    assert _listing(root, capsys) == before
    assert _import(root, file, capsys)[0] == 0
    assert ParquetStore(root).read(SYMBOL, TF).equals(bars)
    assert all((root / rel).exists() for rel in STRAYS)  # and left alone


def _listing(root: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["data", "list", "--store", str(root)]) == 0
    return capsys.readouterr().out


def test_a_day_file_in_another_days_folder_is_refused_when_read(store):
    root, _ = store
    moved = root / SERIES / "date=2018-01-12"
    (root / SERIES / "date=2018-01-11").rename(moved)  # renamed by hand: its bars are of the 11th
    with pytest.raises(DataError) as e:
        ParquetStore(root).read(SYMBOL, TF)
    assert e.value.file == str(moved / "part.parquet") and e.value.line == 1
    assert e.value.message.startswith("stored bar 2018-01-11 00:00:00+00:00 is not of 2018-01-12, the day its folder")
    assert e.value.hint == f"remove {moved} and import the file holding 2018-01-12 again"
