"""Two stores in one folder share no local file (state.runlock.run_files): each keeps its own
paper venue, run lock and archive, so a run on one never clobbers, archives or blocks the
other's; a venue file that does not fit the store's saved run is one line, not a traceback."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from state.runlock import RunLock, run_files

ROOT = Path(__file__).resolve().parents[1]
ONE = "data:\n  crypto_spot:\n    datasets: [crypto_spot/ETH_BTC-5m]\n    primary: 15m\n    confirm: 5m\n"


def engine_run(work: Path, db: str, *args: str) -> subprocess.CompletedProcess:
    (work / "run.yaml").write_text(ONE)
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    return subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--no-progress",
                           "--config", str(work / "run.yaml"), "--db", str(work / "var" / db), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


def test_each_store_names_its_own_files_and_engine_db_keeps_the_plain_names() -> None:
    var = Path("var").resolve()
    default = run_files("sqlite:///var/engine.db")
    assert (default.lock, default.venue, default.archive) == (
        var / "engine.lock", var / "paper-venue.db", var / "archive")
    other = run_files("sqlite:///var/b.db")
    assert (other.lock, other.venue, other.archive) == (
        var / "b.db-engine.lock", var / "b.db-paper-venue.db", var / "b.db-archive")
    assert run_files("sqlite:////abs/x/engine.db").venue == Path("/abs/x/paper-venue.db")


def test_two_stores_in_one_folder_hold_two_locks(tmp_path: Path) -> None:
    a, b = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    with RunLock.acquire(a):
        assert RunLock.holder(a) is not None and RunLock.holder(b) is None
        with RunLock.acquire(b):  # a second store is not the running one's
            assert RunLock.holder(b) is not None


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stage-1 runs on var/a.db and then var/b.db, each stopped after some bars: both resumable."""
    work = tmp_path_factory.mktemp("two")
    for db, bars in (("a.db", "150"), ("b.db", "250")):
        done = engine_run(work, db, "--max-bars", bars, "--run-dir", str(work / f"run-{db}"))
        assert done.returncode == 0, done.stderr[-2000:]
    return work


@pytest.fixture
def work(two_runs: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(two_runs, tmp_path / "w"))


def test_a_run_on_another_store_leaves_the_first_resumable(work: Path) -> None:
    var = work / "var"
    assert {"a.db-paper-venue.db", "b.db-paper-venue.db"} <= {p.name for p in var.iterdir()}
    assert not any(p.name.endswith("archive") for p in var.iterdir())  # b's fresh run moved none of a's files
    done = engine_run(work, "a.db", "--resume", "--max-bars", "300")
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_venue_file_that_does_not_fit_the_store_is_one_line(work: Path) -> None:
    var = work / "var"
    shutil.copy(var / "b.db-paper-venue.db", var / "a.db-paper-venue.db")  # another run's venue
    done = engine_run(work, "a.db", "--resume", "--max-bars", "300")
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.startswith("engine run: ") and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert "a.db-paper-venue.db" in done.stderr and "without --resume" in done.stderr
    assert "Traceback" not in done.stderr and "ack(" not in done.stderr and "sync()" not in done.stderr


def test_another_run_s_venue_file_is_refused_even_when_its_counts_fit(work: Path) -> None:
    """A venue file is checked by its run, not only by its call counts: another run's file with as
    many calls (review 8: one run at other fees) resumed, and the venue's cash and the store's
    wallet parted without a word."""
    var = work / "var"
    done = engine_run(work, "c.db", "--max-bars", "150", "--run-dir", str(work / "run-c"))
    assert done.returncode == 0, done.stderr[-2000:]
    shutil.copy(var / "c.db-paper-venue.db", var / "a.db-paper-venue.db")
    done = engine_run(work, "a.db", "--resume", "--max-bars", "300")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "a.db-paper-venue.db does not fit the store's saved run (the venue file is run " in done.stderr


def test_a_resume_without_its_venue_file_is_refused_before_making_one(work: Path) -> None:
    """The docs say inputs are checked before anything is written: no empty venue file."""
    var = work / "var"
    (var / "a.db-paper-venue.db").unlink()
    before = sorted(p.name for p in work.rglob("*"))
    done = engine_run(work, "a.db", "--resume", "--max-bars", "300")
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.startswith("engine run: ") and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert "no venue file" in done.stderr and "Put the run's own venue file back" in done.stderr
    assert sorted(p.name for p in work.rglob("*")) == before


def test_a_store_that_is_a_folder_is_refused_and_nothing_moves(tmp_path: Path) -> None:
    """A fresh run archives the last run's files: a folder named as the store would be moved
    away whole (with whatever it holds) and replaced by a new SQLite file."""
    folder = tmp_path / "var" / "models"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "keep.txt").write_text("keep")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = engine_run(tmp_path, "models")
    assert done.returncode == 2 and "is not a file (a folder or a device)" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.name != "run.yaml") == before


def test_runs_started_in_one_second_get_a_run_directory_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two stores' runs started in the same second wrote one audit.jsonl, interleaved."""
    from datetime import datetime, timezone

    import engine.commands.run as run_cmd

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 11, 22, 3, 57, 34, tzinfo=timezone.utc)

    monkeypatch.setattr(run_cmd, "datetime", Frozen)
    first, second = (run_cmd._new_run_dir(tmp_path / "runs", 1) for _ in range(2))
    assert (first.name, second.name) == ("stage1-20261122T035734Z", "stage1-20261122T035734Z-2")
    assert first.is_dir() and second.is_dir()


def test_a_fresh_run_says_which_operator_commands_the_archived_run_never_took(work: Path) -> None:
    """A flatten posted to a stopped run is applied by its --resume; a fresh run archived it without a word."""
    from state.store import Store

    with Store.open(path=str(work / "var" / "a.db")) as store:
        store.post_command("flatten", {"machine": "kill_modes", "event": "manual_flatten", "reason": "stop all"})
    done = engine_run(work, "a.db", "--max-bars", "20", "--run-dir", str(work / "fresh"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert ("engine run: warning: the store's last run never applied 1 operator command posted to it "
            "(#1 flatten (stop all)); this fresh run archived that run") in done.stderr
    with Store.open(path=str(work / "var" / "a.db")) as store:
        [row] = store.journal_entries("command", "not_taken")
    assert row.payload["commands"][0]["command"] == "flatten" and "never applied" in row.reason


def test_a_damaged_venue_file_refuses_the_resume_in_one_line(work: Path) -> None:
    """Garbage in the venue's file ended the resume in a sqlite3.DatabaseError traceback."""
    venue = run_files(f"sqlite:///{work / 'var' / 'a.db'}").venue
    venue.write_bytes(b"\x13" * 8192)
    for side in ("-wal", "-shm"):
        Path(f"{venue}{side}").unlink(missing_ok=True)
    done = engine_run(work, "a.db", "--resume")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert (f"engine run: the paper venue's file {venue} cannot be used (SQLite: file is not a database)"
            in done.stderr)
