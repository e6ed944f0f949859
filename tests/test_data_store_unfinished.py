"""A series an import was killed while swapping days into is marked, and refused by runs, until
an import of it completes.

Such an import can leave some of its days in and some not (each day whole): `engine data list`
showed the partial series as normal and `engine run` traded it, while only the next import of
the series said anything. Now the swap writes `unfinished.<pid>-<hex>` (naming the import
command) in the series' folder before its first swap and removes it after its last, so a kill in
between leaves it: reads refuse the series naming the command, `data list` marks it, and the next
import that completes removes it."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled, sources
from engine.data.errors import DataError
from engine.data.store import ParquetStore
from engine.diagnostics import SpecError
from engine.run.config import load_config

SYMBOL, TF = "LTC/BTC", "5m"
# `engine data import`, killed right after it swapped in its second file (the label, one day) of five.
KILLED_IMPORT = """
import os, signal, sys
from engine.cli import main
replace, swapped = os.replace, []
def replace_then_die(src, dst):
    replace(src, dst)
    swapped.append(dst)
    if len(swapped) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace_then_die
main(["data", "import", sys.argv[1], "--symbol", "LTC/BTC", "--tf", "5m", "--store", sys.argv[2]])
"""


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    df = bundled.load("crypto_spot/LTC_BTC-5m")
    return df[df.index < pd.Timestamp("2018-01-14", tz="UTC")]  # 4 days, 2018-01-10 .. 13


@pytest.fixture(scope="module")
def killed(tmp_path_factory, bars) -> tuple[Path, Path]:
    """(the file, a store a killed import of it left with one of its four days in)."""
    work = tmp_path_factory.mktemp("killed")
    file, root = work / "bars.csv", work / "store"
    bars.rename_axis("timestamp").to_csv(file)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", KILLED_IMPORT, str(file), str(root)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return file, root


def _copy(killed: tuple[Path, Path], tmp_path: Path) -> tuple[str, ParquetStore]:
    """(the killed import's command, which names the killed store, and a copy of that store)."""
    file, root = killed
    command = f"engine data import {file} --symbol {SYMBOL} --tf {TF} --label open --store {root}"
    return command, ParquetStore(shutil.copytree(root, tmp_path / "store"))


def test_data_list_marks_the_partial_series_with_the_command_to_run_again(killed, tmp_path, capsys):
    command, store = _copy(killed, tmp_path)
    (listed,) = store.list()
    assert (listed.days, listed.unfinished.command, listed.unfinished.running) == (1, command, False)
    capsys.readouterr()
    assert main(["data", "list", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(" 1 days 2018-01-10 .. 2018-01-10   INCOMPLETE: an import was killed before it finished; "
                        f"runs refuse it until you re-run: {command}\n")
    assert "run config:" not in out


def test_reads_and_runs_refuse_the_partial_series_naming_the_command(killed, tmp_path, capsys):
    command, store = _copy(killed, tmp_path)
    (marker,) = store.folder(SYMBOL, TF).glob("unfinished.*")
    with pytest.raises(DataError) as e:
        store.read(SYMBOL, TF)
    assert e.value.file == str(marker)
    assert e.value.message == (f"an import of the stored {SYMBOL} {TF} series was killed before it finished: the "
                               "series may hold some of its days and not others")
    assert e.value.hint == f"run it again to complete it: {command}"
    with pytest.raises(sources.SourceError, match="was killed before it finished"):
        sources.describe(f"store:{SYMBOL}@{TF}", store.root)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"db: {tmp_path / 'engine.db'}\nruns_dir: {tmp_path / 'runs'}\ndata:\n  crypto_spot:\n"
                   f"    datasets: ['store:{SYMBOL}@{TF}']\n    store: {store.root}\n")
    with pytest.raises(SpecError, match="was killed before it finished"):
        load_config(cfg)
    capsys.readouterr()
    assert main(["run", "--stage", "1", "--no-progress", "--max-bars", "5", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{marker}: an import of the stored {SYMBOL} {TF} series was killed" in err
    assert f"hint: run it again to complete it: {command}" in err
    assert not (tmp_path / "runs").exists()


def test_the_import_run_again_completes_the_series_and_clears_the_mark(killed, tmp_path, capsys, bars):
    command, store = _copy(killed, tmp_path)
    capsys.readouterr()
    assert main([*command.split()[1:-1], str(store.root)]) == 0
    err = capsys.readouterr().err
    assert "warning DATA_LEFTOVER" in err
    assert f"warning DATA_UNFINISHED an import of this series was killed while swapping its days in: {command}" in err
    assert store.unfinished(SYMBOL, TF) == [] and not list(store.root.rglob("*.*-*"))
    assert store.read(SYMBOL, TF).equals(bars)
    assert store.list()[0].unfinished is None


def test_an_import_that_fails_keeps_the_mark(killed, tmp_path, capsys):
    command, store = _copy(killed, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close\n2018-01-10,1,1,1,x\n")
    assert main(["data", "import", str(bad), "--symbol", SYMBOL, "--tf", TF, "--store", str(store.root)]) == 1
    assert [u.command for u in store.unfinished(SYMBOL, TF)] == [command]


def test_a_swap_that_cannot_be_undone_leaves_the_mark(tmp_path, monkeypatch, bars):
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    replace, calls = os.replace, []

    def fails_from_the_third(src, dst):  # the undo's renames fail too: two new days stay in
        calls.append(dst)
        if len(calls) >= 3:
            raise OSError(5, "Input/output error")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", fails_from_the_third)
    with pytest.raises(DataError):
        store.write(bars * 1.01, SYMBOL, TF, command="engine data import x.csv")
    monkeypatch.undo()
    (unfinished,) = store.unfinished(SYMBOL, TF)
    assert unfinished.command == "engine data import x.csv"
    with pytest.raises(DataError, match="an import is swapping its days into"):  # this process: alive
        store.read(SYMBOL, TF)


def test_a_completed_import_leaves_no_mark(tmp_path, bars):
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    store.write(bars * 1.01, SYMBOL, TF)
    assert store.unfinished(SYMBOL, TF) == [] and store.read(SYMBOL, TF).equals(bars * 1.01)
