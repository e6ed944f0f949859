"""A series an import was killed while swapping days into is marked, and refused by runs, until
an import of it completes.

Such an import can leave some of its days in and some not (each day whole): `engine data list`
showed the partial series as normal and `engine run` traded it, while only the next import of
the series said anything. Now the swap writes `unfinished.<pid>-<hex>` (naming the import
command) in the series' folder before its first swap and removes it after its last, so a kill in
between leaves it: reads refuse the series naming the command, `data list` marks it, and that import,
run again, removes it when it completes (an import of another file does not: the killed one's
missing days would still be missing)."""
from __future__ import annotations

import os
import shlex
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
from data_support import KILLED_IMPORT, recorded_commands  # KILLED_IMPORT: killed right after its second swap

SYMBOL, TF = "LTC/BTC", "5m"


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


def fail_renames_from(monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    """os.replace raises EIO from its `nth` call on (the swap's and then the undo's renames)."""
    replace, calls = os.replace, []

    def failing(src, dst):
        calls.append(dst)
        if len(calls) >= nth:
            raise OSError(5, "Input/output error")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)


def test_a_swap_that_cannot_be_undone_leaves_the_mark(tmp_path, monkeypatch, bars):
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    fail_renames_from(monkeypatch, 3)  # the undo's renames fail too: two new days stay in
    with pytest.raises(DataError):
        store.write(bars * 1.01, SYMBOL, TF, command="engine data import x.csv")
    monkeypatch.undo()
    (unfinished,) = store.unfinished(SYMBOL, TF)
    assert unfinished.command == "engine data import x.csv"
    with pytest.raises(DataError, match="was killed before it finished"):  # it failed: no longer running
        store.read(SYMBOL, TF)


def test_a_completed_import_leaves_no_mark(tmp_path, bars):
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    store.write(bars * 1.01, SYMBOL, TF)
    assert store.unfinished(SYMBOL, TF) == [] and store.read(SYMBOL, TF).equals(bars * 1.01)


def _other_days(bars: pd.DataFrame, tmp_path: Path) -> Path:
    """A file of other days than the killed import's (2018-01-14 .. 15)."""
    df = bundled.load("crypto_spot/LTC_BTC-5m")
    file = tmp_path / "later.csv"
    df[(df.index >= "2018-01-14") & (df.index < "2018-01-16")].rename_axis("timestamp").to_csv(file)
    return file


def test_an_import_of_another_file_does_not_clear_the_mark(killed, tmp_path, capsys, bars):
    """The killed import's days it never swapped in are still missing after another file's import."""
    command, store = _copy(killed, tmp_path)
    other = _other_days(bars, tmp_path)
    capsys.readouterr()
    assert main(["data", "import", str(other), "--symbol", SYMBOL, "--tf", TF, "--store", str(store.root)]) == 0
    assert f"killed while swapping its days in: {command}" in capsys.readouterr().err
    assert [u.command for u in store.unfinished(SYMBOL, TF)] == [command]
    with pytest.raises(DataError, match="was killed before it finished"):
        store.read(SYMBOL, TF)
    # The same file with other options (another --tz) is another import too.
    store.write(bars.iloc[:10], SYMBOL, TF, command=f"{command} --tz UTC")
    assert [u.command for u in store.unfinished(SYMBOL, TF)] == [command]
    store.write(bars, SYMBOL, TF, command=command.replace(str(killed[1]), "elsewhere"))  # the store aside: it
    assert store.unfinished(SYMBOL, TF) == []


def _marker(store: ParquetStore, pid: int, started: int | None) -> Path:
    path = store.folder(SYMBOL, TF) / f"unfinished.{pid}-0123abcd"
    path.write_text("engine data import x.csv\n" + (f"started {started}\n" if started is not None else ""))
    return path


def _started(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[19])


def test_our_own_pid_in_a_marker_we_did_not_write_is_a_killed_import(tmp_path, bars):
    """A container's import is PID 1 before and after a restart: the marker it left is not ours."""
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    _marker(store, os.getpid(), None)
    (u,) = store.unfinished(SYMBOL, TF)
    assert (u.running, u.command) == (False, "engine data import x.csv")
    with pytest.raises(DataError, match="was killed before it finished"):
        store.read(SYMBOL, TF)


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/stat").exists(), reason="needs /proc")
def test_a_live_pid_that_started_at_another_time_is_another_process(tmp_path, bars):
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    live, started = os.getppid(), _started(os.getppid())
    path = _marker(store, live, started + 1)  # the pid was given to another process since
    assert [u.running for u in store.unfinished(SYMBOL, TF)] == [False]
    path.unlink()
    path = _marker(store, live, started)  # that very process: running
    assert [u.running for u in store.unfinished(SYMBOL, TF)] == [True]
    with pytest.raises(DataError) as e:
        store.read(SYMBOL, TF)
    assert e.value.hint == ("run again once it has finished; if you know no import of it runs (it was killed), "
                            f"remove {path} and run it again to complete it: engine data import x.csv")


def test_an_import_writes_its_start_time_into_the_mark(tmp_path, monkeypatch, bars):
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    seen: list[str] = []
    replace = os.replace

    def read_the_mark(src, dst):
        seen.extend(p.read_text() for p in store.folder(SYMBOL, TF).glob("unfinished.*"))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", read_the_mark)
    store.write(bars * 1.01, SYMBOL, TF, command="engine data import x.csv")
    started = _started(os.getpid()) if Path("/proc/self/stat").exists() else None
    assert seen[0] == "engine data import x.csv\n" + (f"started {started}\n" if started is not None else "")


@pytest.mark.skipif(os.name != "posix", reason="a directory is fsynced on POSIX only")
def test_the_mark_and_its_folder_are_on_disk_before_the_first_swap(tmp_path, monkeypatch, bars):
    store = ParquetStore(tmp_path)
    store.write(bars, SYMBOL, TF)
    synced: set[tuple[int, int]] = set()
    fsync, replace, checked = os.fsync, os.replace, []

    def record(fd):
        st = os.fstat(fd)
        synced.add((st.st_dev, st.st_ino))
        fsync(fd)

    def check_first(src, dst):
        if not checked:
            (marker,) = store.folder(SYMBOL, TF).glob("unfinished.*")
            checked.append({(p.stat().st_dev, p.stat().st_ino) for p in (marker, marker.parent)} <= synced)
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", record)
    monkeypatch.setattr(os, "replace", check_first)
    store.write(bars * 1.01, SYMBOL, TF)
    assert checked == [True]


def test_the_command_to_run_again_names_the_store_by_its_full_path(tmp_path, monkeypatch, bars):
    file = tmp_path / "my bars.csv"
    bars.rename_axis("timestamp").to_csv(file)
    monkeypatch.chdir(tmp_path)
    commands = recorded_commands(monkeypatch)
    assert main(["data", "import", "my bars.csv", "--symbol", SYMBOL, "--tf", TF, "--store", "rel store"]) == 0
    assert shlex.split(commands[0])[-2:] == ["--store", str(tmp_path / "rel store")]
    assert shlex.split(commands[0])[3] == str(file)


def test_the_fallback_command_is_quoted(tmp_path, monkeypatch, bars):
    """A frame written without a command: the marker's command is one a shell reads back."""
    store = ParquetStore(tmp_path / "a store")
    df = bars.copy()
    df.attrs["source"] = "my bars.csv"
    store.write(df, SYMBOL, TF)
    fail_renames_from(monkeypatch, 2)  # the undo's renames fail too: one new day stays in
    df = bars * 1.01
    df.attrs["source"] = "my bars.csv"
    with pytest.raises(DataError):
        store.write(df, SYMBOL, TF)
    monkeypatch.undo()
    (u,) = store.unfinished(SYMBOL, TF)
    assert shlex.split(u.command) == ["engine", "data", "import", "my bars.csv", "--symbol", SYMBOL, "--tf", TF,
                                      "--label", "open", "--store", str(store.root.resolve())]
