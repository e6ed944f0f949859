"""An import killed outright (SIGKILL) while swapping its days in loses no day, and the next
import of the series clears what it left.

The swap copies each stored day to `part.parquet.<pid>-<hex>.old` and renames the new file over
the day, so a day is at every instant its whole old or whole new self. The killed import left
its `.tmp` and `.old` files for good; now the next import of that series removes those of
processes that are gone and says the killed import may be half in (and until then, reads refuse
the series: test_data_store_unfinished)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.errors import DataError
from engine.data import store as store_module
from engine.data.store import ParquetStore
from data_support import KILLED_IMPORT  # killed right after its second swap

SYMBOL, TF = "LTC/BTC", "5m"
LEFTOVER = re.compile(r"^part\.parquet\.\d+-[0-9a-f]{8}\.(tmp|old)$")


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    df = bundled.load("crypto_spot/LTC_BTC-5m")
    return df[df.index < pd.Timestamp("2018-01-14", tz="UTC")]  # 4 days, 2018-01-10 .. 13


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name.rsplit(".", 1)[-1] for p in root.rglob("*") if LEFTOVER.match(p.name))


def _import(file: Path, root: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["data", "import", str(file), "--symbol", SYMBOL, "--tf", TF, "--store", str(root)]) == 0
    return capsys.readouterr().err


def test_an_import_killed_while_swapping_loses_no_day_and_the_next_import_clears_up(tmp_path, capsys, bars):
    killed, clean = ParquetStore(tmp_path / "killed"), ParquetStore(tmp_path / "clean")
    for store in (killed, clean):
        store.write(bars, SYMBOL, TF)
    file = tmp_path / "new.csv"
    (bars * 1.01).rename_axis("timestamp").to_csv(file)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", KILLED_IMPORT, str(file), str(killed.root)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _leftovers(killed.root) == ["old", "old", "tmp", "tmp"]  # 2 days swapped in, 2 staged
    _import(file, clean.root, capsys)  # the same import, not killed
    new = clean.read(SYMBOL, TF)
    with pytest.raises(DataError, match="was killed before it finished"):  # see test_data_store_unfinished
        killed.read(SYMBOL, TF)
    # Every day is there, whole: two new, two as they were.
    half = pd.concat(pd.read_parquet(p) for p in sorted(killed.root.rglob("part.parquet")))
    half.index = half.index.as_unit("ns")
    days = half.index.normalize()
    assert half[days < "2018-01-12"].equals(new[days < "2018-01-12"])
    assert half[days >= "2018-01-12"].equals(bars[days >= "2018-01-12"])

    err = _import(file, killed.root, capsys)
    assert f"{killed.folder(SYMBOL, TF)}:1:1: warning DATA_LEFTOVER removed 4 file(s) left by an import" in err
    assert "hint: that import may have stored some of its days and not others" in err
    assert _leftovers(killed.root) == []
    assert killed.read(SYMBOL, TF).equals(new)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_files_of_processes_that_are_gone_are_cleared(tmp_path, bars, monkeypatch):
    store = ParquetStore(tmp_path)
    store.write(bars.iloc[:300], SYMBOL, TF)  # 2018-01-10 and 11
    base, dead = store.folder(SYMBOL, TF), _dead_pid()
    stale = [base / "date=2018-01-10" / f"part.parquet.{dead}-0123abcd.old",
             base / "date=2018-01-12" / f"part.parquet.{dead}-0123abcd.tmp",  # in a day folder it made
             base / f"label.{dead}-0123abcd.tmp"]
    # Our pid, but not a token this process made: a process before a restart (a container's PID 1).
    stale.append(base / "date=2018-01-11" / f"part.parquet.{os.getpid()}-89abcdef.tmp")
    live = [base / "date=2018-01-11" / f"part.parquet.{os.getpid()}-4567cdef.tmp",  # an import running now
            base / "date=2018-01-11" / "part.parquet.12-not-ours.tmp"]
    monkeypatch.setattr(store_module, "_OURS", {f".{os.getpid()}-4567cdef"})
    for path in stale + live:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half a file")
    assert store.clear_leftovers(SYMBOL, TF) == sorted(stale)
    assert not any(p.exists() for p in stale) and not (base / "date=2018-01-12").exists()
    assert all(p.exists() for p in live)
    assert store.read(SYMBOL, TF).equals(bars.iloc[:300])
    assert store.clear_leftovers(SYMBOL, TF) == []
