"""Ctrl-C while `engine run` starts (before its first bar) leaves the run directory as it found it:
the partial audit.jsonl the start made went, and the files of the run before came back from
archive/, so the next run does not archive a start that never ran as if it were a run."""
from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import ROOT
from engine.cli import main
from engine.commands.run import INTERRUPTED
from engine.run.loop import Runner

ONE = "data:\n  crypto_spot:\n    datasets: [crypto_spot/ETH_BTC-5m]\n    primary: 15m\n    confirm: 5m\n"
pytestmark = pytest.mark.usefixtures("at_root")


def _argv(tmp: Path, run_dir: Path) -> list[str]:
    (tmp / "one.yaml").write_text(ONE)
    return ["run", "--stage", "1", "--no-progress", "--config", str(tmp / "one.yaml"), "--db", str(tmp / "e.db"),
            "--run-dir", str(run_dir), "--max-bars", "60"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def test_ctrl_c_while_starting_leaves_no_trace_in_the_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(_argv(tmp_path, run)) == 0
    before = _files(run)
    assert "audit.jsonl" in before
    monkeypatch.setattr(Runner, "start", _interrupt)  # the fresh start's last step: its trail is open
    capsys.readouterr()
    assert main(_argv(tmp_path, run)) == INTERRUPTED
    assert "interrupted while starting" in capsys.readouterr().err
    assert _files(run) == before and not (run / "archive").exists()  # the earlier run's files, as they were
    fresh = tmp_path / "runs" / "new"
    assert main(_argv(tmp_path, fresh)) == INTERRUPTED
    assert not fresh.exists() and not fresh.parent.exists()  # a run directory of its own: claimed, then given back
    monkeypatch.undo()
    monkeypatch.chdir(ROOT)
    assert main(_argv(tmp_path, run)) == 0
    [kept] = (run / "archive").iterdir()  # one earlier run archived, not the interrupted start
    assert _files(kept) == before


def test_ctrl_c_as_a_fresh_start_gets_through_never_parts_a_store_from_its_trail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run directory's move record was settled inside assemble, the store's after it returned:
    Ctrl-C between the two left the store's record, so the next command put the last run's store
    back beside the new start's audit trail, and its resume was refused (its trail was in archive/)."""
    import json
    import os
    import signal
    import sqlite3

    from engine.run import assemble, store_archive
    from engine.run.keys import CHECKPOINT_KEY
    from state.runlock import run_files

    run = tmp_path / "run"
    assert main(_argv(tmp_path, run)) == 0  # stopped at --max-bars: a run that can resume
    store_record, real = run_files(f"sqlite:///{tmp_path / 'e.db'}").moving, store_archive.settled

    def settled(record: Path) -> None:
        if Path(record) == store_record:  # right after the run directory's record went
            os.kill(os.getpid(), signal.SIGINT)
        real(record)
    monkeypatch.setattr(store_archive, "settled", settled)
    monkeypatch.setattr(assemble, "settled", settled)
    assert main(_argv(tmp_path, run)) == INTERRUPTED
    monkeypatch.undo()
    monkeypatch.chdir(ROOT)
    main(["status", "--db", str(tmp_path / "e.db"), "--specs", str(ROOT / "specs")])  # settles what a start left
    with sqlite3.connect(tmp_path / "e.db") as db:
        row = db.execute("SELECT value FROM kv WHERE key = ?", (CHECKPOINT_KEY,)).fetchone()
    covered = json.loads(row[0]).get("audit_offset") or 0 if row else 0
    assert (run / "audit.jsonl").stat().st_size >= covered  # the store's checkpoint is of this trail


def test_a_write_the_venue_file_refuses_mid_run_is_one_line_with_the_resume(tmp_path: Path, monkeypatch, capsys):
    """A full disk or a read-only file under the venue's SQLite file was a 37-line sqlite3 traceback."""
    import sqlite3

    from adapters.paper.persist import StateFile

    calls = []

    def flush(self, *a, **k):
        calls.append(1)
        if len(calls) > 2:  # the run's checkpoint: the writes while starting go through
            raise sqlite3.OperationalError("disk I/O error")
        return real(self, *a, **k)
    real = StateFile.flush
    monkeypatch.setattr(StateFile, "flush", flush)
    assert main(_argv(tmp_path, tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert err.startswith("engine run: cannot write the paper venue's file ") and "Traceback" not in err
    assert "(OperationalError: disk I/O error). The run stopped" in err and "--resume`" in err


def test_a_write_the_store_refuses_mid_run_is_one_line_with_the_resume(tmp_path: Path, monkeypatch, capsys):
    """A checkpoint the store could not commit was a 64-line SQLAlchemy traceback."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from engine.run import checkpoint

    def save(*a, **k):
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))
    monkeypatch.setattr(checkpoint, "save", save)
    assert main(_argv(tmp_path, tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"engine run: cannot write the state store sqlite:///{tmp_path / 'e.db'}")
    assert "(OperationalError: database or disk is full)" in err and "--resume`" in err and "Traceback" not in err


def test_a_write_the_venue_file_refuses_while_starting_is_one_line(tmp_path: Path, monkeypatch, capsys):
    """The stage's activation writes the wallets to the venue's file: refused, it was an ActionError traceback."""
    import sqlite3

    from adapters.paper.persist import StateFile

    calls, real = [], StateFile.flush

    def flush(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:  # apply_stage's, as the rollout activates the stage
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *a, **k)
    monkeypatch.setattr(StateFile, "flush", flush)
    assert main(_argv(tmp_path, tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert err.startswith("engine run: cannot write the paper venue's file ") and "Traceback" not in err
    assert "(OperationalError: database or disk is full); the run did not start" in err


def test_a_write_the_venue_file_refuses_inside_an_order_action_is_one_line(tmp_path: Path, monkeypatch, capsys):
    """The venue's file full as it takes a submit: the error came wrapped in the interpreter's
    ActionError, which the run did not look inside, so it ended in a traceback."""
    import sqlite3

    from adapters.paper.venue import PaperVenue

    def submit(self, req):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(PaperVenue, "submit", submit)
    assert main([*_argv(tmp_path, tmp_path / "run")[:-1], "3000"]) == 1  # past the first entry
    err = capsys.readouterr().err
    assert err.startswith("engine run: cannot write the paper venue's file ") and "Traceback" not in err
    assert "(OperationalError: database or disk is full). The run stopped" in err and "--resume`" in err


def test_a_batch_the_store_refuses_names_the_store_not_the_venue(tmp_path: Path, monkeypatch, capsys):
    """The store's batch writer uses the driver's own cursor, whose sqlite3 error was blamed on the
    paper venue's file."""
    import sqlite3

    import state.store

    def rows(cur, batch):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(state.store, "_write_rows", rows)
    assert main(_argv(tmp_path, tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"engine run: cannot write the state store sqlite:///{tmp_path / 'e.db'}"), err
    assert "Traceback" not in err


@pytest.mark.parametrize("name, what", [("e.db", "the state store's file"),
                                        ("e.db-paper-venue.db", "the paper venue's file")])
def test_a_state_file_removed_under_the_run_stops_it_at_the_next_checkpoint(tmp_path: Path, monkeypatch, capsys,
                                                                            name: str, what: str):
    """The run wrote on into the removed (still open) file, traded on and exited 0, its state gone."""
    from engine.run import checkpoint

    real, calls = checkpoint.save, []

    def save(runner, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            (tmp_path / name).unlink()
        return real(runner, *a, **k)
    monkeypatch.setattr(checkpoint, "save", save)
    argv = _argv(tmp_path, tmp_path / "run")
    assert main(argv[:argv.index("--max-bars")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"engine run: {what} ") and f"{name} was removed while the run was writing to it" in err
    assert "Traceback" not in err and len(calls) == 2, "stopped at the checkpoint that found it"


def test_held_files_tell_a_replaced_file_from_the_same_one(tmp_path: Path):
    from engine.run.held import FileReplaced, HeldFiles

    f = tmp_path / "state.db"
    f.write_text("a")
    held = HeldFiles({"the file": f, "a server store": None})
    f.write_text("b")  # written in place: the same file
    held.check()
    (tmp_path / "new.db").write_text("c")
    (tmp_path / "new.db").replace(f)
    with pytest.raises(FileReplaced, match="state.db was replaced by another file"):
        held.check()
