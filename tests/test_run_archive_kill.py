"""A real SIGKILL at the exact point where a fresh `engine run` used to leave the audit trail split:
between the renames that archive the last run's store (engine.db moved, its -wal, with every commit
since SQLite's last checkpoint, not yet), and between the store's `run/finished` commit and the run
directory's owner file and journal export. Every command that opens the store puts it right, and
says so (engine/run/store_archive.py, engine/run/finished.py); tests/kill_at.py places the kill."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from run_support import SPOT_RUN

from engine.run.store_archive import archive, settle

ROOT = Path(__file__).resolve().parents[1]
CONFIG = SPOT_RUN.format(durability="full")
STORE_FILES = ("engine.db", "engine.db-wal", "engine.db-shm", "paper-venue.db", "paper-venue.db-wal",
               "paper-venue.db-shm")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    return env


def _run_args(work: Path, *extra: str) -> list[str]:
    return ["run", "--stage", "1", "--config", str(work / "run.yaml"), "--db", str(work / "engine.db"),
            "--run-dir", str(work / "run"), "--no-progress", *extra]


def _engine(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=300)


def _killed_at(point: str, n: int, *args: str) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tests/kill_at.py"), point, str(n), "--", *args], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def _facts(db: Path) -> tuple:
    """What the stopped run's store holds: its checkpoint's bar, orders, fills and journal rows."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        point = json.loads(c.execute("select value from kv where key = 'run/checkpoint'").fetchone()[0])
        return (point["cursor"], *(c.execute(f"select count(*) from {t}").fetchone()[0]
                                   for t in ("orders", "fills", "journal")))


@pytest.fixture
def split(tmp_path: Path) -> tuple[Path, tuple]:
    """A run SIGKILLed after its 30th checkpoint (its store's commits in engine.db-wal), then a fresh
    start SIGKILLed right after it moved engine.db into the archive, before the -wal."""
    work = tmp_path / "w"
    work.mkdir()
    (work / "run.yaml").write_text(CONFIG)
    _killed_at("checkpoint", 30, *_run_args(work))
    assert (work / "engine.db-wal").stat().st_size > 0  # the commits are in the WAL
    facts = _facts(work / "engine.db")
    assert facts[1] > 0  # orders to lose
    _killed_at("archive-rename", 1, *_run_args(work))
    assert not (work / "engine.db").exists() and (work / "engine.db-wal").is_file()  # split, as QA found it
    return work, facts


def _whole_again(work: Path, facts: tuple) -> None:
    assert _facts(work / "engine.db") == facts
    assert not (work / "archive.moving").exists() and not (work / "archive").exists()


def test_status_puts_a_split_store_back_and_names_the_stopped_run(split: tuple[Path, tuple]) -> None:
    work, facts = split
    done = _engine("status", "--db", str(work / "engine.db"))
    assert done.returncode == 0, done.stderr
    assert "note: a start killed while archiving the store left its files split" in done.stderr
    assert "the run did not finish (continue it with" in done.stdout
    _whole_again(work, facts)
    again = _engine("status", "--db", str(work / "engine.db"))  # settled once: no note any more
    assert again.returncode == 0 and "note:" not in again.stderr


def test_resume_puts_a_split_store_back_and_continues_the_run(split: tuple[Path, tuple]) -> None:
    work, facts = split
    done = _engine(*_run_args(work, "--resume", "--max-bars", "220"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "note: a start killed while archiving the store left its files split" in done.stderr
    assert _facts(work / "engine.db")[0] > facts[0]  # went on from the stopped run's checkpoint


def test_a_fresh_run_archives_a_split_store_whole_in_one_folder(split: tuple[Path, tuple]) -> None:
    work, facts = split
    done = _engine(*_run_args(work, "--max-bars", "20"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "note: a start killed while archiving the store left its files split" in done.stderr
    (kept,) = (work / "archive").iterdir()
    assert _facts(kept / "engine.db") == facts


def test_a_kill_while_the_fresh_start_builds_is_undone(tmp_path: Path) -> None:
    """A fresh start SIGKILLed once both archives are done, before its build returns (its new store and
    audit trail half made): the moves' records are still there, so `engine status` puts the stopped
    run's store and directory back, and --resume continues it."""
    work = tmp_path / "w"
    work.mkdir()
    (work / "run.yaml").write_text(CONFIG)
    _killed_at("checkpoint", 30, *_run_args(work))
    facts, audit = _facts(work / "engine.db"), (work / "run" / "audit.jsonl").read_bytes()
    _killed_at("built", 1, *_run_args(work))
    assert (work / "archive.moving").is_file() and (work / "run" / "archive.moving").is_file()
    done = _engine("status", "--db", str(work / "engine.db"))
    assert done.returncode == 0, done.stderr
    assert "the run did not finish (continue it with" in done.stdout
    _whole_again(work, facts)
    assert (work / "run" / "audit.jsonl").read_bytes() == audit and not (work / "run" / "archive").exists()
    resumed = _engine(*_run_args(work, "--resume", "--max-bars", "220"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _facts(work / "engine.db")[0] > facts[0]


def test_a_kill_after_run_finished_is_committed_is_repaired_by_the_refused_resume(tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    (work / "run.yaml").write_text(CONFIG.replace("full", "batch"))
    _killed_at("mark-finished", 1, *_run_args(work))
    journal, owner = work / "run" / "journal.jsonl", work / "run" / ".engine-run.owner"
    assert json.loads(journal.read_text().splitlines()[-1])["key"] != "run/finished"  # one row short
    assert json.loads(owner.read_text())["finished"] is False
    with open(journal, "rb+") as f:  # and a kill in the middle of a row, as one in append_journal leaves it
        f.truncate(f.seek(0, os.SEEK_END) - 40)
    done = _engine(*_run_args(work, "--resume"))
    assert done.returncode == 1 and "already finished" in done.stderr
    assert "note: the run finished, but a kill stopped it before its run directory" in done.stderr
    _assert_completed(work, journal, owner)
    status = _engine("status", "--db", str(work / "engine.db"))  # level now: nothing more to say
    assert status.returncode == 0 and "note:" not in status.stderr


@pytest.mark.parametrize("moved", range(3))
def test_settle_undoes_a_move_cut_short_anywhere(tmp_path: Path, moved: int, monkeypatch) -> None:
    """The intent record alone decides: a move cut after any rename (SIGKILL leaves the record), and
    an undo cut short itself, are undone by the next settle, the store's files back as they were."""
    files = [tmp_path / name for name in STORE_FILES]
    last_run = [files[0], files[1], files[3]]  # a store and its -wal, and a venue file; no -shm
    for p in last_run:
        p.write_text(p.name)
    rename, done = Path.rename, [0]

    def cut(self: Path, target: Path) -> Path:
        if done[0] == moved:
            raise KeyboardInterrupt  # stands in for the kill: nothing after it in archive() runs
        done[0] += 1
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", cut)
    with pytest.raises(KeyboardInterrupt):
        archive(files, tmp_path / "archive", tmp_path / "archive.moving")
    monkeypatch.setattr(Path, "rename", rename)
    files[2].write_text("a start's own")  # the last run had no -shm: one there now is not its, and goes
    url = f"sqlite:///{files[0]}"
    assert "put them back" in settle(url)
    assert sorted(p for p in tmp_path.iterdir() if p.name in STORE_FILES) == sorted(last_run)
    assert all(p.read_text() == p.name for p in last_run)
    assert not (tmp_path / "archive").exists() and settle(url) is None


def test_settle_undoes_an_undo_cut_short(tmp_path: Path, monkeypatch) -> None:
    files = [tmp_path / name for name in STORE_FILES[:2]]
    for p in files:
        p.write_text(p.name)
    archive(files, tmp_path / "archive", tmp_path / "archive.moving")  # whole; then as if killed once undone halfway
    (dest,) = (tmp_path / "archive").iterdir()
    from engine.run.store_archive import Move, _write
    _write(tmp_path / "archive.moving", Move(dest, tuple(files), tuple(files)))
    (dest / files[0].name).rename(files[0])
    files[1].write_text("a start's own -wal")  # beside the last run's store: its undo must replace it
    assert "put them back" in settle(f"sqlite:///{files[0]}")
    assert all(p.read_text() == p.name for p in files)


@pytest.fixture
def split_run_dir(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A run's directory, then a fresh start SIGKILLed between two renames that archive it (its report
    and trades moved, its journal, audit trail and owner file not yet): the work folder, and the run's
    files as it left them."""
    work = tmp_path / "w"
    work.mkdir()
    (work / "run.yaml").write_text(CONFIG.replace("full", "batch"))
    assert _engine(*_run_args(work, "--max-bars", "20")).returncode == 0
    last = {p.name: p.read_bytes() for p in (work / "run").iterdir() if p.is_file()}
    assert {"report.json", "audit.jsonl", ".engine-run.owner"} <= set(last)
    _killed_at("run-dir-rename", 2, *_run_args(work, "--max-bars", "20"))
    (cut,) = (work / "run" / "archive").iterdir()
    assert 0 < len(list(cut.iterdir())) < len(last) and (work / "run" / "audit.jsonl").is_file()  # split
    return work, last


def test_a_kill_between_the_run_directorys_renames_is_undone_by_the_next_run(
        split_run_dir: tuple[Path, dict[str, bytes]]) -> None:
    """The next run puts the last run's files back together first, so they are archived whole, in one folder."""
    work, last = split_run_dir
    done = _engine(*_run_args(work, "--max-bars", "20"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "note: a start killed while archiving the run directory" in done.stderr
    (kept,) = (work / "run" / "archive").iterdir()
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == last


def test_status_puts_a_split_run_directory_back(split_run_dir: tuple[Path, dict[str, bytes]]) -> None:
    """`engine status` after that kill (its store the killed start's new one, the last run's in the store's
    archive) puts the last run's directory back together too, so what it points at is whole."""
    work, last = split_run_dir
    done = _engine("status", "--db", str(work / "engine.db"))
    assert done.returncode == 0, done.stderr
    assert "note: a start killed while archiving the run directory" in done.stderr
    whole = {p.name: p.read_bytes() for p in (work / "run").iterdir() if p.is_file() and p.name != ".engine-run.lock"}
    assert whole == last
    assert not (work / "run" / "archive.moving").exists() and not (work / "run" / "archive").exists()
    again = _engine("status", "--db", str(work / "engine.db"))  # settled once: no note any more
    assert again.returncode == 0 and "note:" not in again.stderr


@pytest.mark.parametrize("fault", ["corrupt record", "lock cannot be taken"])
def test_status_warns_of_a_run_directory_it_cannot_settle_and_shows_the_store(tmp_path: Path, fault: str) -> None:
    """A run directory's move record that cannot be undone (unreadable, or its lock cannot be taken: a
    read-only folder, here a folder in the lock file's place, as root ignores modes) is a warning: the
    store was settled first and is whole, so `engine status` still shows it, in --json too."""
    from state.runlock import RUN_DIR_LOCK

    work = tmp_path / "w"
    work.mkdir()
    (work / "run.yaml").write_text(CONFIG.replace("full", "batch"))
    assert _engine(*_run_args(work, "--max-bars", "20")).returncode == 0
    record = work / "run" / "archive.moving"
    record.write_text("{not json" if fault == "corrupt record" else json.dumps(
        {"dest": str(work / "run" / "archive" / "x"), "files": [], "moved": []}))
    if fault != "corrupt record":
        (work / "run" / RUN_DIR_LOCK).unlink(missing_ok=True)
        (work / "run" / RUN_DIR_LOCK).mkdir()
    done = _engine("status", "--db", str(work / "engine.db"))
    assert done.returncode == 0, done.stderr
    assert f"warning: a start killed while archiving files left {record}" in done.stderr
    assert "Traceback" not in done.stderr and "engine: not running" in done.stdout
    as_json = _engine("status", "--db", str(work / "engine.db"), "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert str(record) in json.loads(as_json.stdout)["engine"]["warnings"][0]
    assert record.is_file()  # left for a person to put right, as the warning says


def test_settle_names_the_record_when_the_run_lock_cannot_be_taken(tmp_path: Path) -> None:
    """A store folder where the run lock cannot be made (read-only; here a folder in its place): the
    record's path in one message, never an OSError's traceback from every operator command."""
    from engine.run.store_archive import UnsettledArchive
    from state.runlock import run_files

    files = [tmp_path / name for name in STORE_FILES[:2]]
    for p in files:
        p.write_text(p.name)
    url = f"sqlite:///{files[0]}"
    local = run_files(url)
    archive(files, tmp_path / "archive", local.moving)
    local.lock.unlink(missing_ok=True)
    local.lock.mkdir()
    with pytest.raises(UnsettledArchive, match=str(local.moving)):
        settle(url)
    local.lock.rmdir()
    assert "put them back" in settle(url) and all(p.read_text() == p.name for p in files)


@pytest.fixture(scope="module")
def finished_short(tmp_path_factory) -> tuple[Path, dict[Path, bytes]]:
    """A run SIGKILLed once its store's `run/finished` was committed, before its run directory said so:
    the journal export one row short (and a row cut in the middle), the owner file not finished. Its
    work folder and those two files' bytes, which each test puts back."""
    work = tmp_path_factory.mktemp("finished") / "w"
    work.mkdir()
    (work / "run.yaml").write_text(CONFIG.replace("full", "batch"))
    _killed_at("mark-finished", 1, *_run_args(work))
    journal, owner = work / "run" / "journal.jsonl", work / "run" / ".engine-run.owner"
    with open(journal, "rb+") as f:
        f.truncate(f.seek(0, os.SEEK_END) - 40)
    return work, {journal: journal.read_bytes(), owner: owner.read_bytes()}


@pytest.mark.parametrize("command", [
    ("kill", "--mode", "halt"), ("promote",), ("promote", "--domain", "crypto_spot"),
    ("degrade", "--domain", "crypto_spot"), ("move-stop", "--symbol", "ETH/BTC", "--stop", "0.05"),
    ("select", "--metrics", "{metrics}", "--state")], ids=lambda c: "-".join(c[:3:2]))
def test_an_operator_command_refused_on_a_finished_run_repairs_its_run_directory(
        finished_short: tuple[Path, dict[Path, bytes]], command: tuple[str, ...]) -> None:
    """Each operator command refuses a finished run (no engine would take what it posts), and puts its run
    directory level with the store first, as `engine status` and `engine run` do (settle_finished): they
    used to refuse and leave the journal export a row short and the owner file unfinished for good."""
    work, broken = finished_short
    for path, data in broken.items():
        path.write_bytes(data)
    journal, owner = work / "run" / "journal.jsonl", work / "run" / ".engine-run.owner"
    assert json.loads(owner.read_text())["finished"] is False
    metrics = work / "metrics.json"
    metrics.write_text(json.dumps([{"symbol": "ETH/BTC", "tf": "5m", "trades": 40, "sharpe": 2.0, "profit_factor": 1.5,
                                    "max_drawdown": 0.1, "winrate": 0.5}]))
    db = str(work / "engine.db")
    args = [a.format(metrics=metrics) for a in command] + ([db] if command[-1] == "--state" else ["--db", db])
    done = _engine(*args)
    assert done.returncode != 0 and "finished" in done.stderr, done.stderr[-2000:]
    assert "note: the run finished, but a kill stopped it before its run directory" in done.stderr
    _assert_completed(work, journal, owner)


def _assert_completed(work: Path, journal: Path, owner: Path) -> None:
    """The finished run's directory put right: journal.jsonl holds every store row, the last
    `run/finished`, and the owner file says finished."""
    with sqlite3.connect(work / "engine.db") as c:
        seqs = [s for (s,) in c.execute("select seq from journal order by seq")]
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r["seq"] for r in rows] == seqs and rows[-1]["key"] == "run/finished"
    assert json.loads(owner.read_text())["finished"] is True
