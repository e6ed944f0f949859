"""The run directory's owner file against a resume and a start: a resume whose directory another
store's run took is refused (it would cut that run's trail), a run marks finished only its own
store's owner file, an owner file with a field of the wrong type is refused saying why, and a
failed start removes only the folders it made."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from cli_support import cli
from engine.cli import main
from engine.commands import run as run_command
from engine.run.owner import OWNER_FILE, mark_finished, owner_of, read_owner, write_owner
from test_run_dirs_signals import _argv, _files

pytestmark = pytest.mark.usefixtures("at_root")


def test_a_resume_whose_directory_another_store_s_run_took_is_refused(tmp_path: Path, capsys) -> None:
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0  # stopped: a.db can resume
    (tmp_path / "R" / OWNER_FILE).unlink()  # given up, as a refusal suggests
    assert main(_argv(tmp_path, "b.db", "R")) == 0  # b's trail now, longer than a's checkpoint mark
    before = _files(tmp_path)
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "a.db", "R", "--resume"))
    assert rc == 1, err
    assert err.startswith(f"engine run: the run directory {tmp_path / 'R'} was taken by a run of another store, "
                          f"{tmp_path / 'b.db'}"), err
    assert "start afresh without --resume" in err and err.endswith("Nothing was written\n") and err.count("\n") == 1
    assert _files(tmp_path) == before  # b's trail whole


def test_a_resume_whose_owner_file_is_unreadable_is_refused(tmp_path: Path, capsys) -> None:
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0
    (tmp_path / "R" / OWNER_FILE).write_text("{\n")
    before = _files(tmp_path)
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "a.db", "R", "--resume"))
    assert rc == 1 and "cannot tell whether the audit trail" in err and "is not JSON" in err, err
    assert _files(tmp_path) == before
    (tmp_path / "R" / OWNER_FILE).unlink()  # its own, as the message says
    assert main(_argv(tmp_path, "a.db", "R", "--resume")) == 0


def test_a_run_marks_finished_only_its_own_store_s_owner_file(tmp_path: Path) -> None:
    mine, other = (owner_of(str(tmp_path / n), tmp_path / n, None, 1) for n in ("a.db", "b.db"))
    write_owner(tmp_path, other)
    mark_finished(tmp_path, mine)
    assert read_owner(tmp_path) == other
    write_owner(tmp_path, mine)
    mark_finished(tmp_path, mine)
    assert read_owner(tmp_path).finished


@pytest.mark.parametrize("field, value", [("sqlite", 5), ("store_id", 5), ("stage", "1"), ("stage", True),
                                          ("finished", "false"), ("finished", 1), ("since", None), ("store", 7)])
def test_an_owner_file_with_a_field_of_the_wrong_type_is_refused_saying_which(tmp_path: Path, capsys,
                                                                             field: str, value: object) -> None:
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0
    owner = tmp_path / "R" / OWNER_FILE
    data = json.loads(owner.read_text())
    owner.write_text(json.dumps({**data, field: value}))
    before = _files(tmp_path / "R")
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "b.db", "R", "--max-bars", "60"))
    assert rc == 1, err
    assert "cannot tell whether the run directory" in err and f"({field} of the wrong type" in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert _files(tmp_path / "R") == before and not (tmp_path / "b.db").exists()


def test_an_owner_file_as_written_reads_back(tmp_path: Path) -> None:
    me = owner_of("postgresql://u:***@db/e", None, "postgresql-1a2b", 2)
    write_owner(tmp_path, me)
    assert read_owner(tmp_path) == me and asdict(read_owner(tmp_path)) == asdict(me)


@pytest.mark.parametrize("made", ["R", "user/R", "new/deeper/R"])  # the user's folder "user" is there, empty
def test_a_failed_start_removes_only_the_folders_it_made(tmp_path: Path, monkeypatch, capsys, made: str) -> None:
    (tmp_path / "user").mkdir()
    if made == "R":
        (tmp_path / "user" / "R").mkdir()  # the run directory itself the user's, empty
    run_dir = tmp_path / "user" / "R" if made != "new/deeper/R" else tmp_path / made

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_command, "_assemble", ctrl_c)
    rc, _, err = cli(capsys, *_argv(tmp_path, "e.db", str(run_dir.relative_to(tmp_path))))
    assert rc != 0 and "interrupted while starting" in err, err
    assert (tmp_path / "user").is_dir()  # the user's folders stay
    assert run_dir.is_dir() == (made == "R")
    assert not (tmp_path / "new").exists()  # what the start made goes
