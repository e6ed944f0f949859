"""`engine run` and the folders and signals around it: a run directory is one run's while it runs
(a second start there is refused, naming the holder, before anything moves), SIGTERM stops a run as
Ctrl-C does (the resume command, exit 143, a start's archived store put back), the archive step
moves the store's files all or none, a store a killed start left in its archive is named where a
resume or `engine status` finds no run, a resume keeps its own run directory, and a Ctrl-C after
the run finished says so."""
from __future__ import annotations

import argparse
import errno
import gc
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from cli_support import ONE_DATASET, ROOT, after_word, cli, engine_env
from engine.cli import main
from engine.commands import run as run_command
from engine.commands.run import INTERRUPTED
from engine.run import interrupt
from engine.run.store_archive import archive, settled
from state.db import parse_url
from state.runlock import RUN_DIR_LOCK, run_files

pytestmark = pytest.mark.usefixtures("at_root")
TERMINATED = 128 + signal.SIGTERM
# The engine, its run's start stopped by a SIGTERM once the stage is set up (the fresh start's last step).
TERM_AT_START = """
import signal, sys
from engine.cli import main
from engine.run.loop import Runner
start = Runner.start
def start_then_sigterm(self, *a, **k):
    out = start(self, *a, **k)
    signal.raise_signal(signal.SIGTERM)
    return out
Runner.start = start_then_sigterm
sys.exit(main(sys.argv[1:]))
"""
# TERM_AT_START, and a Ctrl-C as the stopped start closes its new audit trail (cleaning up).
CTRL_C_IN_CLEANUP = TERM_AT_START.replace("sys.exit(main", """
from engine.runtime.audit import JsonlSink
close = JsonlSink.close
def close_then_ctrl_c(self, *a, **k):
    out = close(self, *a, **k)
    signal.raise_signal(signal.SIGINT)
    return out
JsonlSink.close = close_then_ctrl_c
sys.exit(main""")


def _argv(tmp: Path, db: str = "e.db", run: str = "run", *extra: str) -> list[str]:
    (tmp / "one.yaml").write_text(ONE_DATASET)
    return ["run", "--stage", "1", "--no-progress", "--config", str(tmp / "one.yaml"), "--db", str(tmp / db),
            "--run-dir", str(tmp / run), *extra]


def _files(folder: Path) -> dict[str, object]:
    """Every file under `folder` byte for byte, but a SQLite file by its rows (opening one may fold
    its write-ahead log into it)."""
    out: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.endswith(("-wal", "-shm", ".lock")):
            data = p.read_bytes()
            if data.startswith(b"SQLite format 3"):
                with closing(sqlite3.connect(p)) as conn:
                    data = "\n".join(conn.iterdump()).encode()
            out[str(p.relative_to(folder))] = data
    return out


def _engine(argv: list[str], script: str | None = None) -> subprocess.Popen:
    command = [sys.executable, *(["-c", script] if script else ["-m", "engine.cli"]), *argv]
    return subprocess.Popen(command, cwd=ROOT, env=engine_env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _wait_for_bar(proc: subprocess.Popen, bar: int) -> None:
    for line in proc.stdout:
        if line.startswith("bar ") and int(line.split()[1]) >= bar:
            return
    raise AssertionError(f"the run ended before bar {bar}: {proc.communicate()[1][-2000:]}")


# -- 1, 2. a run directory is one run's; SIGTERM stops a run with its resume command --------------
def test_a_second_run_on_a_busy_run_directory_is_refused_and_sigterm_stops_the_first(tmp_path: Path,
                                                                                  capsys) -> None:
    first = _engine([*_argv(tmp_path, "a.db", "R"), "--heartbeat"])
    try:
        _wait_for_bar(first, 120)  # past a checkpoint
        first.send_signal(signal.SIGSTOP)  # holding its locks, writing nothing while the second starts
        before = _files(tmp_path / "R")
        rc, _, err = cli(capsys, *_argv(tmp_path, "b.db", "R", "--max-bars", "60"))
        assert rc == 1, err
        assert err.startswith(f"engine run: the run directory {tmp_path / 'R'} is in use by another engine "
                              f"(pid {first.pid} since ") and f"on the store {tmp_path / 'a.db'}" in err, err
        assert err.count("\n") == 1 and "--run-dir" in err
        assert _files(tmp_path / "R") == before  # nothing archived from under the running engine
        assert not (tmp_path / "b.db").exists()
        first.send_signal(signal.SIGTERM)
        first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == TERMINATED, err[-2000:]
    assert err.startswith("engine run: interrupted by SIGTERM; the store holds the run up to its last checkpoint")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(after_word(err.split("`")[1])) == 0  # the command it names ends the run
    assert not (tmp_path / "R" / RUN_DIR_LOCK).exists()  # a run lets its directory go
    rc, _, err = cli(capsys, *_argv(tmp_path, "b.db", "R", "--max-bars", "60"))
    assert rc == 0, err  # free again: the next run archives the finished one's files as usual


# -- 2. SIGTERM while a fresh start has the last run's store archived ---------------------------
def test_sigterm_while_a_fresh_start_has_archived_the_store_puts_it_back(tmp_path: Path) -> None:
    argv = _argv(tmp_path, "e.db", "run", "--max-bars", "120")
    assert main(argv) == 0  # stopped at --max-bars: a run a mistaken fresh start would archive
    before = _files(tmp_path)
    start = _engine(argv, TERM_AT_START)
    _, err = start.communicate(timeout=300)
    assert start.returncode == TERMINATED, err[-2000:]
    assert err == "engine run: interrupted by SIGTERM while starting, before the first bar; run the same command again\n"
    assert _files(tmp_path) == before  # store, venue and run directory back; no archive left behind
    assert not (tmp_path / "e.db-archive").exists()


def test_a_ctrl_c_while_the_store_moves_to_the_archive_moves_it_all_or_none(tmp_path: Path, monkeypatch,
                                                                            capsys) -> None:
    argv = _argv(tmp_path, "e.db", "run", "--max-bars", "120")
    assert main(argv) == 0
    before = _files(tmp_path)
    rename = Path.rename

    def rename_then_ctrl_c(self: Path, target):  # between the store's file and its side files
        out = rename(self, target)
        if "e.db-archive" in str(target):
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(Path, "rename", rename_then_ctrl_c)
    rc, out, err = cli(capsys, *argv)
    assert rc == INTERRUPTED
    assert err == "engine run: interrupted while starting, before the first bar; run the same command again\n"
    assert _files(tmp_path) == before
    assert not (tmp_path / "e.db-archive").exists()


def test_a_second_signal_while_a_stopped_start_cleans_up_leaves_the_files_as_they_were(tmp_path: Path) -> None:
    argv = _argv(tmp_path, "e.db", "run", "--max-bars", "120")
    assert main(argv) == 0
    before = _files(tmp_path)
    start = _engine(argv, CTRL_C_IN_CLEANUP)
    _, err = start.communicate(timeout=300)
    assert start.returncode == TERMINATED, err[-2000:]  # the first signal's
    assert err == "engine run: interrupted by SIGTERM while starting, before the first bar; run the same command again\n"
    assert _files(tmp_path) == before  # the last run's report, journal and audit back; the dead start's gone
    assert not (tmp_path / "e.db-archive").exists()


def test_a_signal_during_cleanup_is_recorded_not_raised() -> None:
    cleaned = False
    with interrupt.deferred(), pytest.raises(KeyboardInterrupt):
        try:
            signal.raise_signal(signal.SIGINT)
        finally:  # a second Ctrl-C here would cut the cleanup short
            signal.raise_signal(signal.SIGINT)
            cleaned = True
    assert cleaned


@pytest.mark.parametrize("after", [1, 2])  # the store's archive step, the run directory's
def test_a_ctrl_c_as_an_archive_step_ends_puts_the_files_back(tmp_path: Path, monkeypatch, capsys,
                                                                after: int) -> None:
    argv = _argv(tmp_path, "e.db", "run", "--max-bars", "120")
    assert main(argv) == 0
    before = _files(tmp_path)
    held, blocks = interrupt.held, []

    @contextmanager
    def held_then_ctrl_c() -> Iterator[None]:  # the signal the moment the block lets signals through again
        with held():
            yield
        blocks.append(1)
        if len(blocks) == after:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(interrupt, "held", held_then_ctrl_c)
    rc, _, err = cli(capsys, *argv)
    assert rc == INTERRUPTED
    assert err == "engine run: interrupted while starting, before the first bar; run the same command again\n"
    assert _files(tmp_path) == before
    assert not (tmp_path / "e.db-archive").exists()


@pytest.mark.parametrize("failing", ["e.db-paper-venue.db", "journal.jsonl"])  # the store's second file; the run's
def test_an_archive_step_whose_move_fails_moves_nothing(tmp_path: Path, monkeypatch, capsys, failing: str) -> None:
    argv = _argv(tmp_path, "e.db", "run", "--max-bars", "120")
    assert main(argv) == 0
    assert (tmp_path / failing).is_file() or (tmp_path / "run" / failing).is_file()
    before = _files(tmp_path)
    rename = Path.rename

    def rename_failing(self: Path, target):
        if self.name == failing and "archive" in str(target):
            raise OSError(errno.EACCES, "Permission denied", str(self))
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", rename_failing)
    rc, _, err = cli(capsys, *argv)
    assert rc == 1 and err.startswith(f"engine run: cannot write {tmp_path}/"), err
    assert "the store and the last run's files are as they were" in err
    assert _files(tmp_path) == before  # true: nothing stayed in an archive
    assert not (tmp_path / "e.db-archive").exists()
    assert not any((tmp_path / "run").glob("archive/*"))


# -- 2. a store a killed fresh start left in its archive --------------------------------------
@pytest.mark.parametrize("started", [False, True])  # killed before, or after, the start made a new store
def test_a_store_left_in_its_archive_is_named_where_no_run_is_found(tmp_path: Path, capsys, started: bool) -> None:
    argv = _argv(tmp_path, "e.db", "run", "--max-bars", "120")
    assert main(argv) == 0
    url = f"sqlite:///{tmp_path / 'e.db'}"
    local = run_files(url)
    moved = archive(run_command._local_files(parse_url(url), local.venue), local.archive, local.moving).dest
    settled(local.moving)  # the start got through (its build returned), then was killed before a checkpoint
    if started:  # the killed start's own store: tables, no checkpoint
        from state.store import Store

        Store.open(path=str(tmp_path / "e.db")).close()
    capsys.readouterr()
    rc, _, err = cli(capsys, *argv, "--resume")
    assert rc == 1 and err.startswith("engine run: nothing to resume"), err
    assert f"archive {moved}" in err and f"mv {moved}/* {tmp_path}/" in err
    assert ("(e.db" in err) == started  # the files to move aside first
    rc, _, err = cli(capsys, "status", "--db", str(tmp_path / "e.db"))
    if started:
        assert rc == 0
    else:
        assert rc == 1 and "no run yet" in err and f"archive {moved}" in err
    for p in [tmp_path / "e.db", *tmp_path.glob("e.db-*")]:  # as the message says
        if p.is_file() and not p.name.endswith(".lock"):
            p.unlink()
    for p in moved.iterdir():
        shutil.move(p, tmp_path / p.name)
    assert main(argv[:-2] + ["--resume"]) == 0


# -- 3. a resume keeps its own run directory ---------------------------------------------------
def test_a_resume_given_another_run_directory_is_refused_naming_its_own(tmp_path: Path, capsys) -> None:
    assert main(_argv(tmp_path, "e.db", "run", "--max-bars", "120")) == 0
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "e.db", "other", "--resume"))
    assert rc == 2
    assert err.startswith(f"engine run: this run's directory is {tmp_path / 'run'}, not {tmp_path / 'other'}")
    assert "drop --run-dir or name it" in err and err.count("\n") == 1
    assert not (tmp_path / "other").exists()
    assert main(_argv(tmp_path, "e.db", "run", "--resume")) == 0  # named, it goes on


def test_a_resume_whose_audit_trail_lost_records_is_refused_before_anything_is_written(tmp_path: Path,
                                                                                    capsys) -> None:
    assert main(_argv(tmp_path, "e.db", "run", "--max-bars", "120")) == 0
    audit = tmp_path / "run/audit.jsonl"
    audit.write_bytes(audit.read_bytes()[:100])
    before = _files(tmp_path)
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "e.db", "run", "--resume"))
    assert rc == 1 and "the audit trail lost records" in err and "put the run's own audit.jsonl back" in err, err
    assert _files(tmp_path) == before


# -- 4. a Ctrl-C after the run finished -----------------------------------------------------
def test_ctrl_c_after_the_run_finished_says_it_finished(tmp_path: Path, monkeypatch, capsys) -> None:
    from engine.run import report

    monkeypatch.setattr(report, "print_kpi_table", lambda *a: signal.raise_signal(signal.SIGINT))  # as it prints
    rc, _, err = cli(capsys, *_argv(tmp_path))
    assert rc == INTERRUPTED
    assert err == f"engine run: interrupted after the run finished; its report is in {tmp_path / 'run'}\n"
    assert (tmp_path / "run/report.json").is_file()


def test_a_finished_run_whose_report_was_deleted_is_said_gone(tmp_path: Path, capsys) -> None:
    assert main(_argv(tmp_path)) == 0
    (tmp_path / "run/report.json").unlink()
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "e.db", "run", "--resume"))
    assert rc == 1 and "already finished" in err and "report.json) is gone" in err, err


def test_a_server_store_s_advice_names_the_option_that_named_it() -> None:
    parsed = parse_url("postgresql://u@db.example/engine")
    given = argparse.Namespace(db="postgresql://u@db.example/engine")
    assert "with --db on an empty database" in run_command._afresh(given, parsed)
    assert "with ENGINE_DB_URL on" in run_command._afresh(argparse.Namespace(db=None), parsed)


def test_a_resume_s_relative_run_dir_is_read_from_the_folder_the_run_ran_in(tmp_path, monkeypatch):
    """Resumed from another folder, the run goes on in its own directory, not in one of the same
    name under the folder it is resumed from (there its trail would look lost)."""
    from types import SimpleNamespace

    from engine.commands.run import SavedRun, _run_dir

    saved = SavedRun(checkpoint={}, config=None, finished=None, run_dir="runs/s1",
                     config_file={"cwd": str(tmp_path / "first")})
    monkeypatch.chdir(tmp_path)
    args = SimpleNamespace(resume=True, run_dir=None, stage=1)
    assert _run_dir(args, None, saved) == tmp_path / "first" / "runs" / "s1"
    args.run_dir = str(tmp_path / "first" / "runs" / "s1")
    assert _run_dir(args, None, saved) == tmp_path / "first" / "runs" / "s1"


# -- 5. a stopped run's directory is its own until it finishes ----------------------------------
STOPPED_BY = {signal.SIGINT: INTERRUPTED, signal.SIGTERM: TERMINATED, signal.SIGKILL: -signal.SIGKILL}


@pytest.mark.parametrize("sig", list(STOPPED_BY))
def test_a_fresh_run_on_another_store_is_refused_a_stopped_run_s_directory(tmp_path: Path, monkeypatch, capsys,
                                                                          sig: signal.Signals) -> None:
    """Archived by a run of another store, the stopped run's trail would be gone when it resumes."""
    stopped = _engine([*_argv(tmp_path, "a.db", "R"), "--heartbeat"])
    try:
        _wait_for_bar(stopped, 60)  # past a checkpoint (every 50 bars): a run --resume continues
        stopped.send_signal(sig)
        stopped.communicate(timeout=300)
    finally:
        stopped.kill()
    assert stopped.returncode == STOPPED_BY[sig]
    before = _files(tmp_path / "R")
    other = _argv(tmp_path, "b.db", "R", "--max-bars", "60")
    if sig == signal.SIGTERM:  # the other store named by the environment
        monkeypatch.setenv("ENGINE_DB_URL", "sqlite:///" + other.pop(other.index("--db") + 1))
        other.remove("--db")
    rc, _, err = cli(capsys, *other)
    assert rc == 1, err
    assert err.startswith(f"engine run: the run directory {tmp_path / 'R'} holds the audit trail of a stopped run "
                          f"of another store, {tmp_path / 'a.db'} (stage 1, saved at bar "), err
    assert "another --run-dir" in err and f"delete {tmp_path / 'R/.engine-run.owner'}" in err
    assert err.endswith("Nothing was moved or written\n") and err.count("\n") == 1
    assert _files(tmp_path / "R") == before and not (tmp_path / "b.db").exists()
    folder, resume = err.split("`")[1].split(" && ")  # cd to where the run ran, then its resume
    assert Path(folder.split(maxsplit=1)[1]) == ROOT and "--db " + str(tmp_path / "a.db") in resume
    if sig != signal.SIGINT:  # the way on, once
        return
    assert main(after_word(resume)) == 0  # the command it names continues the stopped run to its end
    assert main(other) == 0  # a finished run's directory: the next run archives its files as before
    [kept] = (tmp_path / "R/archive").iterdir()
    assert (kept / "report.json").is_file() and (kept / ".engine-run.owner").is_file()


def test_a_store_s_own_stopped_run_started_afresh_is_archived_whole(tmp_path: Path, capsys) -> None:
    """A run stopped at --max-bars is unfinished too: another store's run is refused its directory,
    its own store may start afresh there (the store and the run's files are archived, as before)."""
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0
    trail = (tmp_path / "R/audit.jsonl").read_bytes()
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "b.db", "R", "--max-bars", "60"))
    assert rc == 1 and "holds the audit trail of a stopped run of another store" in err, err
    rc, out, err = cli(capsys, *_argv(tmp_path, "a.db", "R"))
    assert rc == 0, err
    assert "previous run's state moved to" in out and "the previous run's files in" in " ".join(out.split())
    [kept] = (tmp_path / "R/archive").iterdir()
    assert (kept / "audit.jsonl").read_bytes() == trail
    assert [p.name for p in (tmp_path / "a.db-archive").iterdir()]  # the stopped run's store, kept
    assert main(_argv(tmp_path, "b.db", "R", "--max-bars", "60")) == 0  # finished now: free


@pytest.mark.parametrize("moved_on", ["store started afresh elsewhere", "store deleted"])
def test_a_stopped_run_its_store_no_longer_holds_leaves_its_directory(tmp_path: Path, moved_on: str) -> None:
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0
    if moved_on == "store deleted":
        for p in [tmp_path / "a.db", *tmp_path.glob("a.db-*")]:
            p.unlink()
    else:  # the stopped run is in the store's archive now: a deliberate fresh start gave it up
        assert main(_argv(tmp_path, "a.db", "R2", "--max-bars", "60")) == 0
    assert main(_argv(tmp_path, "b.db", "R", "--max-bars", "60")) == 0
    assert len(list((tmp_path / "R/archive").iterdir())) == 1


@pytest.mark.parametrize("unknown", ["owner file not JSON", "owner file unreadable", "server store",
                                     "store not a database"])
def test_a_run_directory_whose_owner_cannot_be_told_is_refused_saying_why(tmp_path: Path, capsys,
                                                                          unknown: str) -> None:
    assert main(_argv(tmp_path, "a.db", "R", "--max-bars", "120")) == 0
    owner = tmp_path / "R/.engine-run.owner"
    if unknown == "owner file not JSON":
        owner.write_text("{\n")
    elif unknown == "owner file unreadable":
        owner.unlink(missing_ok=True)
        owner.mkdir()  # a folder in its place: no file to read (the tests may run as root, whom modes do not stop)
    elif unknown == "server store":
        owner.write_text('{"store": "postgresql://u:***@db/engine", "sqlite": null, "store_id": "postgresql-1a2b", '
                         '"stage": 1, "since": "2026-01-02T03:04:05+00:00", "finished": false}\n')
    else:
        gc.collect()  # the in-process run's last connections: closing, they fold the store's -wal into it
        (tmp_path / "a.db").write_bytes(b"not a database" * 100)
    before = _files(tmp_path / "R")
    capsys.readouterr()
    rc, _, err = cli(capsys, *_argv(tmp_path, "b.db", "R", "--max-bars", "60"))
    assert rc == 1, err
    assert err.startswith(f"engine run: cannot tell whether the run directory {tmp_path / 'R'} holds a stopped "
                          "run of another store"), err
    why = {"owner file not JSON": "is not JSON", "owner file unreadable": "cannot be read",
           "server store": "a server store is not read from here", "store not a database": "cannot be read"}
    assert why[unknown] in err and f"delete {owner}" in err and err.count("\n") == 1
    assert _files(tmp_path / "R") == before and not (tmp_path / "b.db").exists()
    if unknown != "owner file unreadable":  # given up deliberately, as the message says
        owner.unlink()
        assert main(_argv(tmp_path, "b.db", "R", "--max-bars", "60")) == 0
