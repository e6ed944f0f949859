"""Where a run keeps its lock (state.runlock.run_files): one rule for `engine run`, `status`,
`kill` and `promote`; and a store URL that is refused leaves no file behind."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from state.runlock import RunLock, run_files

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("ENGINE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _engine(*args: str, url: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ENGINE_DB_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_sqlite_store_keeps_its_lock_beside_it() -> None:
    assert run_files("sqlite:///runs/a/engine.db").folder == Path("runs/a")
    assert run_files("sqlite:///engine.db").folder == Path(".")


def test_a_server_store_has_a_folder_of_its_own_whatever_the_driver_or_password() -> None:
    one = run_files("postgresql://u:pw1@db.example:5432/trading").folder
    assert one == run_files("postgresql+psycopg2://u:pw2@db.example:5432/trading").folder
    assert one.parent == Path("var") and "pw" not in str(one)
    others = {run_files("postgresql://u@db.example:5432/other").folder,
              run_files("postgresql://u@db.example:5432/trading?options=-csearch_path%3Ds2").folder}
    assert len(others | {one}) == 3  # another store, another lock


@pytest.mark.parametrize("url", ["mysql://x/y", "nosuchdriver://x/y", "sqlite+nosuchdriver:///{tmp}/x.db",
                                 "postgresql://x:s3cret@127.0.0.1:1/db"])
def test_a_refused_store_url_leaves_no_file_behind(tmp_path: Path, url: str) -> None:
    url = url.format(tmp=tmp_path)
    done = _engine("run", "--stage", "1", "--no-progress", "--run-dir", str(tmp_path / "run"), url=url, tmp=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("engine run: ") and "Traceback" not in done.stderr and "s3cret" not in done.stderr
    assert list(tmp_path.iterdir()) == []
    assert not (ROOT / run_files(url).lock).exists()


def _pg_schema_url() -> tuple[str, object, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    try:
        admin = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        schema = f"stagecraft_test_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except (OperationalError, ImportError) as exc:
        pytest.skip(f"no PostgreSQL server at {PG_URL.split('@')[-1]}: {type(exc).__name__}")
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}", admin, schema


def test_run_and_kill_agree_on_the_lock_of_a_postgresql_store(tmp_path: Path) -> None:
    """An engine holds the lock of a PostgreSQL store: a second run on it is refused and `engine
    kill` says the running engine takes the command."""
    from sqlalchemy import text

    from state.store import Store

    url, admin, schema = _pg_schema_url()
    folder = ROOT / run_files(url).folder
    Store.open(url=url).close()  # the tables the running engine made
    try:
        with RunLock.acquire(url):
            run = _engine("run", "--stage", "1", "--no-progress", "--run-dir", str(tmp_path / "run"), url=url,
                          tmp=tmp_path)
            kill = _engine("kill", "--mode", "close-only", url=url, tmp=tmp_path)
        assert run.returncode == 1 and f"already running (pid {os.getpid()}" in run.stderr, run.stderr[-2000:]
        assert kill.returncode == 0 and f"the running engine (pid {os.getpid()}" in kill.stdout, kill.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
