"""A Ctrl-C that arrives while a finalizer runs (a `__del__`, a weakref or garbage-collector callback:
SQLAlchemy's are many while a run starts) cannot propagate there; Python printed a traceback and
went on, and the run archived the last run's files and finished with exit 0. engine/run/interrupt.py
raises it again where `engine run` handles Ctrl-C: exit 130, one line, the last run's files as they
were (while starting) or the resume command (while replaying), and no report."""
from __future__ import annotations

import shlex
import signal
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands import run as run_command
from engine.commands.run import INTERRUPTED
from engine.run import loop
from engine.run.loop import Runner

ONE = "data:\n  crypto_spot:\n    datasets: [crypto_spot/ETH_BTC-5m]\n    primary: 15m\n    confirm: 5m\n"
EVERY = 200  # the embedded defaults' checkpoint_every
pytestmark = pytest.mark.usefixtures("at_root")


@pytest.fixture(autouse=True)
def _finalizer_errors_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)  # prints as outside pytest (it warns)


def _argv(tmp: Path, run_dir: Path, bars: int) -> list[str]:
    (tmp / "one.yaml").write_text(ONE)
    return ["run", "--stage", "1", "--no-progress", "--config", str(tmp / "one.yaml"), "--db", str(tmp / "e.db"),
            "--run-dir", str(run_dir), "--max-bars", str(bars)]


def _state(folder: Path) -> dict[str, object]:
    """Every file under `folder` byte for byte, but a SQLite file by its rows: opening one (the run
    reading its saved state, this reading it) may fold its write-ahead log into it."""
    state: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.endswith(("-wal", "-shm")):
            state[str(p.relative_to(folder))] = _rows(p) if p.read_bytes().startswith(b"SQLite format 3") \
                else p.read_bytes()
    return state


def _rows(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.iterdump())


class _Signalled:
    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)  # Python runs the SIGINT handler here, inside the finalizer


class _Raising:
    def __del__(self) -> None:
        raise KeyboardInterrupt  # as any SIGINT handler raises it, wherever the signal finds the program


def _ctrl_c_in_a_finalizer() -> None:
    _Signalled()  # dropped at once: its __del__ runs now


def _interrupt_in_a_finalizer() -> None:
    _Raising()


def _ctrl_c_dropped() -> None:
    """A Ctrl-C whose KeyboardInterrupt a library catches and does not raise again."""
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        pass


def _then(step: Callable, ctrl_c: Callable[[], None], when: Callable[..., bool] = lambda *_: True) -> Callable:
    """`step`, after which `ctrl_c` happens (when `when(*args)`)."""
    def wrapped(*args, **kw):
        out = step(*args, **kw)
        if when(*args):
            ctrl_c()
        return out
    return wrapped


@pytest.mark.parametrize("target, name, ctrl_c, archived", [
    (run_command, "_checked_series", _interrupt_in_a_finalizer, 0),  # while loading, before anything moves
    (Runner, "start", _ctrl_c_in_a_finalizer, 1),  # the fresh start's last step: the last run's files moved
    (run_command, "_checked_series", _ctrl_c_dropped, 0)])
def test_ctrl_c_lost_while_starting_stops_the_start_and_leaves_the_last_run_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, target, name: str,
        ctrl_c: Callable[[], None], archived: int) -> None:
    argv = _argv(tmp_path, tmp_path / "run", 60)
    assert main(argv) == 0
    before = _state(tmp_path)
    assert "run/audit.jsonl" in before
    import engine.run.store_archive as store_archive

    archive, archives = store_archive.archive, []
    monkeypatch.setattr(store_archive, "archive", lambda *a: archives.append(a) or archive(*a))
    monkeypatch.setattr(target, name, _then(getattr(target, name), ctrl_c))
    capsys.readouterr()
    assert main(argv) == INTERRUPTED
    out, err = capsys.readouterr()
    assert err == "engine run: interrupted while starting, before the first bar; run the same command again\n"
    assert "previous run's state moved" not in out
    assert _state(tmp_path) == before  # store, venue file, run directory as they were: nothing left archived
    assert len(archives) == archived  # one lost while loading stops the start before it moves any file
    assert sys.unraisablehook is sys.__unraisablehook__  # the process's own handlers are back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("at", [EVERY, 300])  # a checkpoint in the replay loop; the last one, after its last poll
def test_ctrl_c_lost_while_replaying_stops_the_run_with_the_resume_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, at: int) -> None:
    monkeypatch.setattr(loop, "COMMAND_POLL_S", 0.0)  # a poll after every row: where the loop stops is fixed
    checkpoint = Runner.checkpoint
    monkeypatch.setattr(Runner, "checkpoint", _then(checkpoint, _ctrl_c_in_a_finalizer, lambda r: r.bars == at))
    run = tmp_path / "run"
    assert main(_argv(tmp_path, run, 300)) == INTERRUPTED
    err = capsys.readouterr().err
    said = (f"engine run: interrupted; the store holds the run up to its last checkpoint (bar {at} of " if at < 300
            else "engine run: interrupted after bar 300 (--max-bars) was checkpointed, before the report")
    assert err.startswith(said)
    assert err.count("\n") == 1 and "Traceback" not in err and "Exception ignored" not in err
    assert not (run / "report.json").exists()
    monkeypatch.setattr(Runner, "checkpoint", checkpoint)
    assert main(shlex.split(err.split("`")[1])[1:]) == 0  # the command it names goes on (at 300: past --max-bars)
    assert (run / "report.json").exists()
