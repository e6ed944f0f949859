"""The run directory's owner file against a resume and a start: a resume whose directory another
run took is refused (it would cut that run's trail), told by the run id the store and the owner
file keep, so a store copied or moved resumes into its own directory; an owner file from before
run ids is told by its store's path; a run marks finished only its own run's owner file, an owner
file with a field of the wrong type is refused saying why, and a failed start removes only the
folders it made."""
from __future__ import annotations

import gc
import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from cli_support import cli
from engine.cli import main
from engine.commands import run as run_command
from engine.run.owner import OWNER_FILE, mark_finished, new_run_id, owner_of, read_owner, write_owner
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
    assert err.startswith(f"engine run: the run directory {tmp_path / 'R'} was taken by another run, of the store "
                          f"{tmp_path / 'b.db'} (run id {read_owner(tmp_path / 'R').run_id}"), err
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


def _store_files(tmp: Path, db: str) -> list[Path]:
    """A SQLite store and the files beside it that its run keeps (venue, WAL), not its run lock."""
    return [p for p in [tmp / db, *tmp.glob(f"{db}-*")] if p.is_file() and not p.name.endswith(".lock")]


@pytest.mark.parametrize("how", ["copied", "moved"])
def test_a_store_copied_or_moved_resumes_into_its_own_directory(tmp_path: Path, capsys, how: str) -> None:
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0
    run_id = read_owner(tmp_path / "R").run_id
    gc.collect()  # the in-process run's last connections: closing, they fold the store's -wal into it
    for p in _store_files(tmp_path, "a.db"):
        (shutil.copy2 if how == "copied" else shutil.move)(p, tmp_path / p.name.replace("a.db", "c.db", 1))
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "c.db", "R", "--resume", "--max-bars", "240"))
    assert rc == 0, err
    owner = read_owner(tmp_path / "R")  # the store that holds the run now, for a fresh run to ask
    assert (owner.run_id, owner.sqlite, owner.finished) == (run_id, str(tmp_path / "c.db"), False)
    assert main(_argv(tmp_path, "c.db", "R", "--resume")) == 0  # to the end: its owner file marked finished
    assert read_owner(tmp_path / "R").finished


def test_a_store_put_back_from_its_archive_is_refused_the_directory_its_fresh_run_took(tmp_path: Path,
                                                                                      capsys) -> None:
    """The same store's path, another run: its fresh start archived the stopped run, whose resume
    would cut the new run's trail back (by path it was this store's own)."""
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "240")) == 0  # afresh: a.db and R's files archived
    gc.collect()
    [kept] = (tmp_path / "a.db-archive").iterdir()
    for p in _store_files(tmp_path, "a.db"):
        p.unlink()
    for p in kept.iterdir():
        shutil.move(p, tmp_path / p.name)
    before = _files(tmp_path / "R")
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "a.db", "R", "--resume"))
    assert rc == 1, err
    assert err.startswith(f"engine run: the run directory {tmp_path / 'R'} was taken by another run, of the store "
                          f"{tmp_path / 'a.db'}"), err
    assert "start afresh without --resume" in err and err.count("\n") == 1
    assert _files(tmp_path / "R") == before


def test_an_owner_file_from_before_run_ids_is_told_by_its_store_s_path(tmp_path: Path, capsys) -> None:
    """Fail closed but usable: the same store resumes; another (a copy, or another store's run)
    is refused, with the way on for a copy."""
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0
    path = tmp_path / "R" / OWNER_FILE
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "run_id"}))
    assert main(_argv(tmp_path, "a.db", "R", "--resume", "--max-bars", "180")) == 0
    assert read_owner(tmp_path / "R").run_id is None  # left as it was
    gc.collect()
    for p in _store_files(tmp_path, "a.db"):
        shutil.copy2(p, tmp_path / p.name.replace("a.db", "c.db", 1))
    before = _files(tmp_path / "R")
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "c.db", "R", "--resume", "--max-bars", "240"))
    assert rc == 1, err
    assert err.startswith(f"engine run: cannot tell whether the audit trail in {tmp_path / 'R'} is still this "
                          f"run's: its owner file {path}, written before runs had an id, names another store, "
                          f"{tmp_path / 'a.db'}"), err
    assert "If this store is that one copied or moved, delete that file and resume again" in err, err
    assert err.count("\n") == 1 and _files(tmp_path / "R") == before
    path.unlink()  # as the message says
    assert main(_argv(tmp_path, "c.db", "R", "--resume", "--max-bars", "240")) == 0
    assert read_owner(tmp_path / "R").sqlite == str(tmp_path / "c.db")


def test_a_run_is_told_by_its_run_id_and_an_owner_file_without_one_by_its_store(tmp_path: Path) -> None:
    a, copy, other = (owner_of(str(tmp_path / n), tmp_path / n, None, 1, i)
                      for n, i in (("a.db", "x"), ("c.db", "x"), ("a.db", "y")))
    assert a.same_run(copy) and not a.same_run(other)
    legacy = replace(a, run_id=None)
    assert legacy.same_run(other) and not legacy.same_run(copy)
    assert not a.same_run(replace(a, run_id=None))  # a store from before run ids is not a run that has one


def test_a_run_marks_finished_only_its_own_run_s_owner_file(tmp_path: Path) -> None:
    mine, other, later, copy = (owner_of(str(tmp_path / n), tmp_path / n, None, 1, i)
                                for n, i in (("a.db", "x"), ("b.db", "y"), ("a.db", "z"), ("c.db", "x")))
    for owner in (other, later):  # another store's run; a later run of this store
        write_owner(tmp_path, owner)
        mark_finished(tmp_path, mine)
        assert read_owner(tmp_path) == owner
    write_owner(tmp_path, copy)  # this run, resumed from a copy of its store
    mark_finished(tmp_path, mine)
    assert read_owner(tmp_path) == replace(copy, finished=True)


@pytest.mark.parametrize("field, value", [("run_id", 5), ("sqlite", 5), ("store_id", 5), ("stage", "1"), ("stage", True),
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
    me = owner_of("postgresql://u:***@db/e", None, "postgresql-1a2b", 2, new_run_id())
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


def test_every_owner_field_has_the_type_read_owner_checks() -> None:
    """read_owner checks each field against FIELD_TYPES: a field added to Owner without it would
    be read unchecked (`"sqlite": 5` was a traceback)."""
    import dataclasses
    import typing

    from engine.run.owner import FIELD_TYPES, Owner

    hints = typing.get_type_hints(Owner)
    assert set(FIELD_TYPES) == {f.name for f in dataclasses.fields(Owner)}
    for name, types in FIELD_TYPES.items():
        assert set(typing.get_args(hints[name]) or (hints[name],)) == set(types if isinstance(types, tuple) else (types,))
