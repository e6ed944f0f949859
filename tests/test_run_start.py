"""engine run, before the first bar: one engine per store (the run lock), what a fresh run
archives (ENGINE_DB_URL too), what a resume must match (config, specs, an unfinished run), and
that a refused start writes nothing: no archive, no run directory, no empty store."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from state.runlock import RunLock

ROOT = Path(__file__).resolve().parents[1]
ONE = """data:
  crypto_spot:
    datasets: [crypto_spot/ETH_BTC-5m]
    primary: 15m
    confirm: 5m
"""


def engine(tmp: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    return subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--no-progress", *args],
                          cwd=ROOT, capture_output=True, text=True, env={**base, **(env or {})}, timeout=600)


def run_in(tmp: Path, *args: str, config: str = ONE, env: dict | None = None) -> subprocess.CompletedProcess:
    """A stage-1 run on one data set with its store, run dir and config under `tmp`."""
    (tmp / "run.yaml").write_text(config)
    return engine(tmp, "--config", str(tmp / "run.yaml"), "--db", str(tmp / "engine.db"), *args, env=env)


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def journal_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM journal").fetchone()[0]


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("saved")
    done = run_in(work, "--max-bars", "120", "--run-dir", str(work / "run"))
    assert done.returncode == 0, done.stderr[-2000:]
    return work


@pytest.fixture
def saved(saved_once: Path, tmp_path: Path) -> Path:
    """A stage-1 run stopped after 120 bars (--max-bars), its last checkpoint saved: resumable."""
    return Path(shutil.copytree(saved_once, tmp_path / "w"))


def test_a_second_engine_is_refused_and_the_running_ones_store_left_alone(saved: Path) -> None:
    before = files(saved)
    with RunLock.acquire(f"sqlite:///{saved / 'engine.db'}"):  # what a running `engine run` holds on its store
        for extra in ((), ("--resume",)):
            done = run_in(saved, *extra)
            assert done.returncode == 1, done.stderr
            assert f"an engine is already running (pid {os.getpid()} since " in done.stderr
    assert files(saved) == before  # nothing archived, no run directory


def test_two_fresh_runs_on_a_sqlite_engine_db_url_archive_the_store_and_the_venue(tmp_path: Path) -> None:
    """The venue's catch-up log lives beside the URL's file and is archived with it: the second
    run replays on a fresh venue (it used to die with `replay diverged`, or keep the wallet)."""
    (tmp_path / "db").mkdir()
    (tmp_path / "run.yaml").write_text(ONE)
    env = {"ENGINE_DB_URL": f"sqlite:///{tmp_path / 'db' / 'x.db'}"}
    for n in (1, 2):
        done = engine(tmp_path, "--config", str(tmp_path / "run.yaml"), "--max-bars", "60", "--run-dir",
                      str(tmp_path / f"run{n}"), env=env)
        assert done.returncode == 0, done.stderr[-2000:]
    [archived] = (tmp_path / "db" / "x.db-archive").iterdir()
    assert {"x.db", "x.db-paper-venue.db"} <= {p.name for p in archived.iterdir()}
    report = json.loads((tmp_path / "run1" / "report.json").read_text())  # one report, whole
    assert report["stage"] == 1 and [s["stage"] for s in report["stages"]] == [1]
    assert not (tmp_path / "engine.db").exists()


def test_a_resume_under_another_config_names_the_changed_keys(saved: Path) -> None:
    done = run_in(saved, "--resume", config=ONE + "seed: 8\nvenue: {slippage_bps: 50}\n")
    assert done.returncode == 1
    assert "(seed, venue.slippage_bps)" in done.stderr and "Traceback" not in done.stderr


def test_a_resume_after_a_spec_edit_names_the_machine_and_the_ways_out(saved: Path) -> None:
    specs = saved / "specs"
    shutil.copytree(ROOT / "specs", specs)
    rollout = specs / "rollout" / "rollout.yaml"
    rollout.write_text(rollout.read_text().replace("default: 24h", "default: 25h"))
    done = run_in(saved, "--resume", "--specs", str(specs))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for needle in ("`rollout`", "put the spec back and resume", "without --resume"):
        assert needle in done.stderr, needle


def test_a_resume_of_a_finished_run_says_so_and_rewrites_nothing(tmp_path: Path) -> None:
    done = run_in(tmp_path, "--run-dir", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "run" / "report.json").read_bytes()
    rows = journal_rows(tmp_path / "engine.db")
    done = run_in(tmp_path, "--resume")
    assert done.returncode == 1
    assert "already finished" in done.stderr and str(tmp_path / "run") in done.stderr
    assert (tmp_path / "run" / "report.json").read_bytes() == report
    assert journal_rows(tmp_path / "engine.db") == rows


def test_a_resume_with_no_store_creates_none(tmp_path: Path) -> None:
    db = tmp_path / "var" / "engine.db"
    done = engine(tmp_path, "--db", str(db), "--resume")
    assert done.returncode == 1 and "nothing to resume" in done.stderr
    assert not db.parent.exists()


@pytest.mark.parametrize("config, code, needle", [
    # refused by the config's data checks, before the store is touched
    (ONE.replace("ETH_BTC-5m", "NOPE-5m"), 1, "NOPE-5m"),
    # refused once the store is open: the last run's files are put back
    (ONE + "ml: {enabled: true, registry: var/no-models-here}\n", 2, "no active model"),
])
def test_a_refused_start_keeps_the_last_run_in_place_and_makes_no_run_dir(saved: Path, config: str, code: int,
                                                                          needle: str) -> None:
    before = {name: (saved / name).read_bytes() for name in ("engine.db", "paper-venue.db")}
    done = run_in(saved, config=config + f"runs_dir: {saved / 'runs'}\n")
    assert done.returncode == code and needle in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert {name: (saved / name).read_bytes() for name in before} == before
    assert not (saved / "archive").exists() and not (saved / "runs").exists()
