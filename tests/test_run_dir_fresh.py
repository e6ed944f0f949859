"""A fresh `engine run` into a run directory an earlier run wrote starts a new audit trail:
the earlier files move to `<run dir>/archive/<time>/`, so audit.jsonl never mixes two runs."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cli_support import engine_process
from engine.cli import main
from engine.run.report import ARCHIVE_DIR, archive_run_files

ONE = "data:\n  crypto_spot:\n    datasets: [crypto_spot/ETH_BTC-5m]\n    primary: 15m\n    confirm: 5m\n"
pytestmark = pytest.mark.usefixtures("at_root")


def _argv(work: Path, *args: str) -> list[str]:
    (work / "run.yaml").write_text(ONE)
    return ["run", "--stage", "1", "--no-progress", "--config", str(work / "run.yaml"),
            "--db", str(work / "var" / "engine.db"), "--run-dir", str(work / "run"), "--max-bars", "120", *args]


def _run(work: Path, *args: str) -> subprocess.CompletedProcess:
    return engine_process(*_argv(work, *args))


@pytest.fixture
def earlier_run(tmp_path: Path) -> None:
    """The run a test's `engine run` process meets in tmp_path, made in-process (the same
    entry point, without a second interpreter's imports)."""
    assert main(_argv(tmp_path)) == 0


def _inits(audit: Path) -> int:
    """How many runs wrote this trail: each starts its kill machine once."""
    rows = [json.loads(line) for line in audit.read_text().splitlines()]
    return sum(1 for r in rows if r["kind"] == "init" and r["machine"] == "kill_modes")


@pytest.mark.usefixtures("earlier_run")
def test_a_fresh_run_moves_the_earlier_runs_files_aside(tmp_path: Path) -> None:
    run = tmp_path / "run"
    before = {name: (run / name).read_bytes() for name in ("audit.jsonl", "journal.jsonl", "report.json")}
    second = _run(tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert _inits(run / "audit.jsonl") == 1  # one run's trail, not two appended
    [kept] = list((run / ARCHIVE_DIR).iterdir())
    assert {name: (kept / name).read_bytes() for name in before} == before  # nothing lost
    assert "the previous run's files in" in " ".join(second.stdout.split())  # the operator is told


@pytest.mark.usefixtures("earlier_run")
def test_a_resumed_run_keeps_its_trail(tmp_path: Path) -> None:
    done = _run(tmp_path, "--resume", "--max-bars", "240")  # 120 more bars: a resume at its --max-bars is refused
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "run" / ARCHIVE_DIR).exists()
    assert _inits(tmp_path / "run" / "audit.jsonl") == 1


def test_an_empty_run_dir_has_nothing_to_move(tmp_path: Path) -> None:
    assert archive_run_files(tmp_path) is None
    (tmp_path / "notes.txt").write_text("mine")  # not a run's file: left where it is
    assert archive_run_files(tmp_path) is None and (tmp_path / "notes.txt").exists()
