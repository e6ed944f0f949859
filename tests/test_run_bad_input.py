"""engine run and the operator commands on bad input and a failing disk: one message with
file:line:col where there is a file, what is wrong and a hint; never a traceback; nothing of
the last run moved or lost.

Running as root, chmod does not stop a write: a read-only folder and a full disk are
simulated by making the file system calls that write under a folder fail as the kernel would.
"""
from __future__ import annotations

import builtins
import errno
import gc
import io
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.cli import main
from engine.run.keys import FINISHED_KEY
from state.db import with_driver
from state.store import Store

ROOT = Path(__file__).resolve().parents[1]
SPECS = str(ROOT / "specs")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the config's relative paths (specs/strategies/...) as a user runs it
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)


def engine_run(tmp: Path, *args: str) -> int:
    return main(["run", "--stage", "1", "--no-progress", "--db", str(tmp / "e.db"),
                 "--run-dir", str(tmp / "run"), *args])


def config(tmp: Path, text: str) -> Path:
    path = tmp / "cfg.yaml"
    path.write_text(text)
    return path


def one_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@contextmanager
def failing_writes(monkeypatch: pytest.MonkeyPatch, folder: Path, code: int = errno.EROFS) -> Iterator[None]:
    """Every open for writing, mkdir and rename under `folder` fails with `code`."""
    folder = folder.resolve()

    def under(path: object) -> bool:
        if not isinstance(path, (str, bytes, os.PathLike)):  # a file descriptor
            return False
        return Path(os.path.abspath(os.fsdecode(path))).is_relative_to(folder)

    def fail(path: object) -> None:
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    def guard(real, writes):
        def call(path, *args, **kwargs):
            if under(path) and writes(*args, **kwargs):
                fail(path)
            return real(path, *args, **kwargs)
        return call

    opens = lambda mode="r", *a, **k: any(c in mode for c in "wax+")
    with monkeypatch.context() as m:
        m.setattr(builtins, "open", guard(builtins.open, opens))
        m.setattr(io, "open", guard(io.open, opens))
        m.setattr(os, "open", guard(os.open, lambda flags, *a, **k: bool(flags & WRITE_FLAGS)))
        m.setattr(os, "mkdir", guard(os.mkdir, lambda *a, **k: True))
        m.setattr(os, "rename", guard(os.rename, lambda *a, **k: True))
        yield


# -- the run config ------------------------------------------------------------------
@pytest.mark.parametrize("text, kind", [("- a\n", "list"), ("hello\n", "plain value")])
def test_a_config_that_is_no_mapping_is_one_error_at_its_line(tmp_path, capsys, text: str, kind: str) -> None:
    cfg = config(tmp_path, text)
    assert engine_run(tmp_path, "--config", str(cfg)) == 1
    err = one_error(capsys)
    assert f"{cfg}:1:1: error CONFIG_SHAPE a run config is a mapping of keys, not a {kind}" in err and "hint:" in err


@pytest.mark.parametrize("text, where, needle", [
    ("strategy: {file: nope.yaml}\n", "1:18", "strategy file nope.yaml does not exist"),
    ("strategy:\n  use: [emavol_24x]\n", "2:9", "has no entry `emavol_24x`"),
    ("strategy: {spec: seed03}\n", "1:18", "the spec set has no strategy spec `seed03`"),
    ("strategy: {spec: null}\n", "1:11", "the strategy section names no strategy"),
    ("venue: {bogus: 1}\n", "1:9", "unknown key `bogus`"),
    ("venue:\n  slippage_bps: .nan\n", "2:17", "`venue.slippage_bps` is .nan, not a finite number"),
    ("strategy:\n  deadband: -.inf\n", "2:13", "`strategy.deadband` is -.inf, not a finite number"),
    # rev29: read as a path, "" is the working folder: the run dir went there, the registry was it
    ('runs_dir: ""\n', "1:11", "`runs_dir`: names no folder (it is empty)"),
    ('ml: {registry: " "}\n', "1:16", "`ml.registry`: names no folder (it is empty)"),
])
def test_a_bad_config_value_is_reported_at_its_line_with_a_hint(tmp_path, capsys, text: str, where: str,
                                                                needle: str) -> None:
    cfg = config(tmp_path, text)
    assert engine_run(tmp_path, "--config", str(cfg)) == 1
    err = one_error(capsys)
    assert err.startswith(f"{cfg}:{where}: error ") and needle in err and "\n    hint: " in err, err
    assert not (tmp_path / "run").exists() and not (tmp_path / "e.db").exists()


def test_the_strategy_traded_is_the_one_in_specs_not_the_run_folders(tmp_path, monkeypatch, capsys) -> None:
    """An edit to --specs DIR's strategy spec was linted, then ignored: the run traded
    specs/strategies/seed003.yaml of the folder it ran in."""
    monkeypatch.chdir(ROOT)
    tree = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", tree)
    mine = tree / "strategies" / "seed003.yaml"
    text = mine.read_text()
    mine.write_text(text.replace("  - id: emavol_48h\n", "  - id: emavol_48h\n    enabled: false\n", 1))
    assert engine_run(tmp_path, "--specs", str(tree)) == 1
    err = one_error(capsys)
    # Reported at the edit, the `enabled: false` of DIR's file: the run's reading of its specs,
    # not the engine's defaults.yaml, which a user does not edit; the line that trades it is named.
    at = mine.read_text().splitlines().index("    enabled: false") + 1
    assert err.startswith(f"{mine}:{at}:5: error CONFIG_STRATEGY `emavol_48h` is disabled here"), err
    assert f"`strategy.use` trades it (engine/run/defaults.yaml:{_use_line()})" in err
    assert "hint: set `enabled: true`, or leave `emavol_48h` out of `strategy.use`" in err and "did you mean" not in err


def test_an_entry_disabled_through_an_alias_is_reported_at_its_own_entry(tmp_path, capsys) -> None:
    """rev23: `enabled: *off` has the position of its anchor, another entry's line."""
    mine = tmp_path / "mine.yaml"
    text = (ROOT / "specs" / "strategies" / "seed003.yaml").read_text()
    text = text.replace("  - id: emavol_48h\n", "  - id: emavol_48h\n    enabled: &off false\n", 1)
    mine.write_text(text.replace("  - id: emavol_96h\n", "  - id: emavol_96h\n    enabled: *off\n", 1))
    cfg = config(tmp_path, f"strategy:\n  file: {mine}\n  use: [emavol_96h]\n")
    assert engine_run(tmp_path, "--config", str(cfg)) == 1
    at = mine.read_text().splitlines().index("    enabled: *off") + 1
    assert one_error(capsys).startswith(f"{mine}:{at}:5: error CONFIG_STRATEGY `emavol_96h` is disabled here")


def _use_line() -> str:
    lines = (ROOT / "engine" / "run" / "defaults.yaml").read_text().splitlines()
    row = next(i for i, line in enumerate(lines, 1) if line.startswith("  use: "))
    return f"{row}:{lines[row - 1].index('emavol_48h') + 1}"


def test_a_run_in_another_folder_trades_the_strategy_of_its_specs(tmp_path, monkeypatch, capsys) -> None:
    """The default strategy is the --specs set's `seed003`, found wherever the run stands: it was
    specs/strategies/seed003.yaml read from the run's folder, which held none here."""
    monkeypatch.chdir(tmp_path)
    assert engine_run(tmp_path, "--specs", str(ROOT / "specs"), "--max-bars", "5") == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["spec_hashes"]["strategy"]


@pytest.mark.parametrize("bars", ["-5", "0"])
def test_max_bars_below_one_is_refused_with_a_hint(tmp_path, capsys, bars: str) -> None:
    with pytest.raises(SystemExit) as done:
        engine_run(tmp_path, "--max-bars", bars)
    err = capsys.readouterr().err
    assert done.value.code == 2 and not (tmp_path / "run").exists()
    assert f"argument --max-bars: {bars} bars: give at least 1 (leave --max-bars out to run every bar)" in err


# -- the store -----------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["status"], ["kill", "--mode", "halt"], ["promote"],
                                  ["move-stop", "--symbol", "ETH/BTC", "--stop", "0.05"]])
def test_a_store_under_a_file_is_no_run_not_a_traceback(tmp_path, capsys, argv: list[str]) -> None:
    """rev29: --db var/engine.db/state.db with var/engine.db a file: the probe of the run lock beside
    it raised NotADirectoryError. Then it said `no run yet: start one with engine run ...`, a run
    that cannot make its store there either: a usage error now (rev30)."""
    (tmp_path / "file").write_text("x")
    assert main([*argv, "--specs", SPECS, "--db", str(tmp_path / "file" / "state.db")]) == 2
    assert f"{tmp_path / 'file'} is a file, not a folder" in one_error(capsys)


def test_a_name_the_file_system_refuses_is_one_line(tmp_path, capsys) -> None:
    """rev29: a 300-byte name for the store or the run directory ended in `OSError: File name too long`."""
    long = "a" * 300
    assert main(["status", "--specs", SPECS, "--db", str(tmp_path / long)]) == 2
    assert "a name of 300 bytes: a file system takes at most 255" in one_error(capsys)
    assert main(["run", "--stage", "1", "--no-progress", "--db", str(tmp_path / "e.db"), "--run-dir",
                 str(tmp_path / long), "--max-bars", "5"]) == 1
    err = one_error(capsys)
    assert err.startswith("engine run: cannot use ") and "File name too long; name another path" in err, err


def test_a_store_whose_folder_cannot_hold_the_run_lock_is_one_line(tmp_path, capsys) -> None:
    code = main(["run", "--stage", "1", "--no-progress", "--db", "/proc/e.db", "--run-dir", str(tmp_path / "run")])
    err = one_error(capsys)
    assert code == 2 and err.startswith("engine run: cannot make the store's run lock /proc/e.db-engine.lock")
    assert "--db var/engine.db" in err and err.count("\n") == 1


def test_a_read_only_store_folder_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    with failing_writes(monkeypatch, tmp_path / "ro"):
        code = main(["run", "--stage", "1", "--no-progress", "--db", str(tmp_path / "ro" / "e.db"),
                     "--run-dir", str(tmp_path / "run")])
    err = one_error(capsys)
    assert code == 2 and "run lock" in err and "Read-only file system" in err


def test_a_plain_postgresql_url_uses_the_installed_driver(monkeypatch) -> None:
    import state.db

    installed = {"psycopg2"}
    monkeypatch.setattr(state.db, "find_spec", lambda name: object() if name in installed else None)
    assert with_driver("postgresql://u:s3cret@h:5/db") == "postgresql+psycopg2://u:s3cret@h:5/db"
    assert with_driver("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    installed.add("psycopg")
    assert with_driver("postgresql://u@h/db") == "postgresql://u@h/db"  # SQLAlchemy's default driver is there


def test_a_plain_postgresql_url_reaches_the_server(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ENGINE_DB_URL", "postgresql://x:s3cret@127.0.0.1:1/db")
    code = main(["run", "--stage", "1", "--no-progress", "--run-dir", str(tmp_path / "run")])
    err = one_error(capsys)
    assert code == 2 and "No module named" not in err and "s3cret" not in err
    assert "127.0.0.1" in err and err.count("\n") == 1


# -- the run directory ---------------------------------------------------------------
def test_a_read_only_run_dir_is_refused_before_the_last_run_is_archived(tmp_path, monkeypatch, capsys) -> None:
    assert engine_run(tmp_path, "--max-bars", "200") == 0
    with failing_writes(monkeypatch, tmp_path / "ro"):
        code = engine_run(tmp_path, "--run-dir", str(tmp_path / "ro" / "run"))
    err = one_error(capsys)
    assert code == 2 and f"cannot write into the run directory {tmp_path / 'ro' / 'run'}" in err
    assert "--run-dir" in err and "Nothing was moved or written" in err
    assert (tmp_path / "e.db").is_file() and (tmp_path / "e.db-paper-venue.db").is_file()
    assert not (tmp_path / "e.db-archive").exists()
    assert main(["status", "--db", str(tmp_path / "e.db"), "--specs", SPECS]) == 0
    assert "stage: stage_1" in capsys.readouterr().out


def test_a_resume_into_a_read_only_run_dir_is_refused(tmp_path, monkeypatch, capsys) -> None:
    assert engine_run(tmp_path, "--max-bars", "200") == 0
    trail = (tmp_path / "run" / "audit.jsonl").read_bytes()
    capsys.readouterr()
    with failing_writes(monkeypatch, tmp_path / "run", errno.EACCES):
        code = engine_run(tmp_path, "--resume")
    err = one_error(capsys)
    assert code == 2 and "Permission denied" in err and "make it writable again" in err
    assert (tmp_path / "run" / "audit.jsonl").read_bytes() == trail


def test_a_full_disk_mid_run_stops_with_one_line_and_the_resume_ends_as_an_uninterrupted_run(
        tmp_path, monkeypatch, capsys) -> None:
    calls = []

    def fsync(fd: int) -> None:  # the third checkpoint's audit trail does not reach the disk
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", fsync)
        code = engine_run(tmp_path, "--max-bars", "1000")
    err = one_error(capsys)
    audit = tmp_path / "run" / "audit.jsonl"
    assert code == 1 and err.count("\n") == 1, err
    assert f"cannot write {audit}: No space left on device" in err and "state in the store is intact" in err
    assert (f"`engine run --stage 1 --db {tmp_path / 'e.db'} --run-dir {tmp_path / 'run'} --max-bars 1000 "
            "--no-progress --resume`") in err
    assert engine_run(tmp_path, "--max-bars", "1000", "--resume") == 0
    whole = tmp_path / "whole"
    assert engine_run(whole, "--max-bars", "1000") == 0
    for name in ("audit.jsonl", "trades.csv"):
        assert (tmp_path / "run" / name).read_bytes() == (whole / "run" / name).read_bytes(), name
    ends = [json.loads((t / "run" / "report.json").read_text())["domains"] for t in (tmp_path, whole)]
    assert ends[0] == ends[1]


# -- operator commands on a finished run -------------------------------------------------
@pytest.mark.parametrize("argv", [["kill", "--mode", "flatten"], ["promote"]])
def test_a_command_for_a_finished_run_is_refused_and_not_posted(tmp_path, capsys, argv: list[str]) -> None:
    db = tmp_path / "e.db"
    with Store.open(path=str(db)) as s:
        s.put_json(FINISHED_KEY, {"run_dir": "runs/stage1-x"})
    assert main([*argv, "--db", str(db), "--specs", SPECS]) == 1
    err = capsys.readouterr().err
    assert "finished (its report is in runs/stage1-x)" in err and "nothing was posted" in err
    assert "--resume" not in err.split("(")[0]
    with Store.open(path=str(db)) as s:
        assert s.take_commands() == []


class _FullDisk(io.RawIOBase):
    """A file whose every write fails as on a full disk."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_under_the_audit_trail_names_the_file_and_leaves_no_error_behind(tmp_path, monkeypatch) -> None:
    from engine.runtime.audit import JsonlSink, Record

    path = tmp_path / "audit.jsonl"
    sink = JsonlSink(path)
    sink._f.close()
    sink._f = _FullDisk()
    sink.write(Record("kill", "kill", "normal", "halted", "halt", {}, 1.0, "h", "transition"))
    with pytest.raises(OSError) as failed:
        sink.flush()
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(path)
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    del sink  # its gathered lines cannot reach the disk either: no "Exception ignored" on stderr
    gc.collect()
    assert unraisable == []


@pytest.mark.parametrize("error", ["OperationalError", "PendingRollbackError"])
def test_a_store_lost_as_the_run_starts_is_one_line(tmp_path, monkeypatch, capsys, error: str) -> None:
    """rev29: a PostgreSQL server stopped while a run started (its first kv rows, outside the
    replay's own handling) or left a broken session behind ended in a traceback."""
    from sqlalchemy import exc

    from engine.run.keys import DIR_KEY

    put = Store.put_json

    def lost(store, key, value):
        if key != DIR_KEY:  # the first row the run writes once it is assembled
            return put(store, key, value)
        if error == "OperationalError":
            raise exc.OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))
        raise exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back")

    monkeypatch.setattr(Store, "put_json", lost)
    assert engine_run(tmp_path, "--max-bars", "5") == 1
    err = one_error(capsys)
    assert err.startswith(f"engine run: lost the state store sqlite:///{tmp_path / 'e.db'} ({error}: "), err
    assert "continue with `" in err and err.count("\n") == 1, err
