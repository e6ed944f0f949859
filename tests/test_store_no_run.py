"""A store file no run made its tables in (a run killed while it started leaves one: empty, or
SQLite's header alone) is "no run yet" to every command that opens an existing store: status,
kill and a resume say so alike, and a fresh run starts on it."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cli_support import ONE_DATASET
from engine.cli import main
from engine.run.keys import CHECKPOINT_KEY
from state.store import NoStore, Store

SPECS = str(Path(__file__).resolve().parents[1] / "specs")
pytestmark = pytest.mark.usefixtures("at_root")


def _empty(path: Path) -> None:
    path.touch()


def _header_only(path: Path) -> None:
    """A SQLite file with its header and WAL mode set, and no table."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("CREATE TABLE t (a)")
        conn.execute("DROP TABLE t")
    conn.close()


@pytest.fixture(params=[_empty, _header_only])
def tableless(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "engine.db"
    request.param(path)
    return path


def test_a_store_without_tables_reads_as_no_store(tableless: Path) -> None:
    for opening in (Store.open_readonly, lambda url: Store.open_existing(url, wait_s=1.0)):
        with pytest.raises(NoStore):
            opening(f"sqlite:///{tableless}")


@pytest.mark.parametrize("argv, said", [
    (("status",), "no run yet: start one with `engine run --stage 1 --specs"),
    (("kill", "--mode", "halt"), "no run yet: start one with `engine run --stage 1 --specs"),
    (("run", "--stage", "1", "--resume"), "nothing to resume"),
])
def test_status_kill_and_resume_agree_there_is_no_run(argv: tuple[str, ...], said: str, tableless: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    assert main([*argv, "--db", str(tableless), "--specs", SPECS]) == 1
    captured = capsys.readouterr()
    assert said in captured.err and "Traceback" not in captured.err + captured.out
    with sqlite3.connect(tableless) as conn:  # no tables made there
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    conn.close()


def test_a_fresh_run_starts_on_a_store_without_tables(tableless: Path, tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(ONE_DATASET)
    assert main(["run", "--stage", "1", "--no-progress", "--max-bars", "5", "--config", str(tmp_path / "run.yaml"),
                 "--db", str(tableless), "--run-dir", str(tmp_path / "run")]) == 0
    with Store.open_readonly(f"sqlite:///{tableless}") as store:
        assert store.get_json(CHECKPOINT_KEY)["cursor"] == 5
