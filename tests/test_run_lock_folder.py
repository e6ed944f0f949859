"""Where a run keeps its lock (state.runlock.run_files): one rule for `engine run`, `status`,
`kill` and `promote`; and a store URL that is refused leaves no file behind."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from state.db import BadStoreUrl
from state.runlock import RunLock, run_files

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("ENGINE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run config usable from any folder (the embedded defaults' strategy file is relative to the repo)."""
    path = tmp_path_factory.mktemp("config") / "run.yaml"
    path.write_text(f"strategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\n")
    return path


def _engine(*args: str, url: str, tmp: Path, config: Path) -> subprocess.CompletedProcess:
    """The engine run in `tmp`, where a server store's folder lands (var/<backend>-<id>), not in the
    checkout's var/ that other tests on other workers use."""
    given = ["--config", str(config)] if args[0] == "run" else []
    env = {**os.environ, "ENGINE_DB_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args, "--specs", str(ROOT / "specs"), *given],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=300)


def test_a_sqlite_store_keeps_its_lock_beside_it() -> None:
    assert run_files("sqlite:///runs/a/engine.db").folder == Path("runs/a").resolve()
    assert run_files("sqlite:///engine.db").folder == Path.cwd()


def test_a_symlinked_sqlite_store_is_the_store_it_points_at(tmp_path: Path) -> None:
    """`var/alias.db -> var/cfg.db` is one store: one lock, one venue file, one archive."""
    (tmp_path / "cfg.db").touch()
    (tmp_path / "alias.db").symlink_to("cfg.db")
    real, alias = run_files(f"sqlite:///{tmp_path}/cfg.db"), run_files(f"sqlite:///{tmp_path}/alias.db")
    assert alias == real and alias.venue == tmp_path.resolve() / "cfg.db-paper-venue.db"
    with RunLock.acquire(f"sqlite:///{tmp_path}/cfg.db"):
        holder = RunLock.holder(f"sqlite:///{tmp_path}/alias.db")  # status and kill through the alias
        assert holder is not None and holder.pid == os.getpid()


@pytest.mark.parametrize("url", ["mysql://x/y", "nosuchdriver://x/y", "sqlite+nosuchdriver:///{tmp}/x.db",
                                 "postgresql://x:s3cret@127.0.0.1:1/db"])
def test_a_refused_store_url_leaves_no_file_behind(tmp_path: Path, url: str, config: Path) -> None:
    url = url.format(tmp=tmp_path)
    done = _engine("run", "--stage", "1", "--no-progress", "--run-dir", str(tmp_path / "run"), url=url, tmp=tmp_path,
                   config=config)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("engine run: ") and "Traceback" not in done.stderr and "s3cret" not in done.stderr
    assert list(tmp_path.iterdir()) == []
    if url.startswith("sqlite"):  # its files would lie in tmp_path; and every reader refuses its URL alike
        with pytest.raises(BadStoreUrl):
            run_files(url)


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


def test_run_and_kill_agree_on_the_lock_of_a_postgresql_store(tmp_path: Path, monkeypatch, config: Path) -> None:
    """An engine holds the lock of a PostgreSQL store: a second run on it is refused and `engine
    kill` says the running engine takes the command."""
    from sqlalchemy import text

    from state.store import Store

    monkeypatch.chdir(tmp_path)  # the lock's folder lands in tmp_path/var, as the engine's below
    url, admin, schema = _pg_schema_url()
    Store.open(url=url).close()  # the tables the running engine made
    try:
        with RunLock.acquire(url):
            run = _engine("run", "--stage", "1", "--no-progress", "--run-dir", str(tmp_path / "run"), url=url,
                          tmp=tmp_path, config=config)
            kill = _engine("kill", "--mode", "close-only", url=url, tmp=tmp_path, config=config)
        assert run.returncode == 1 and f"already running (pid {os.getpid()}" in run.stderr, run.stderr[-2000:]
        assert kill.returncode == 0 and f"the running engine (pid {os.getpid()}" in kill.stdout, kill.stderr
        assert (tmp_path / run_files(url).folder / "engine.lock").exists()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_store_is_refused_in_one_line_and_makes_nothing(tmp_path: Path, url: str,
                                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """It would run on the default store's lock and venue files (archiving a crashed run's), and
    no status, kill or resume could ever reach it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ENGINE_DB_URL", None)
    config = tmp_path_factory.mktemp("config") / "run.yaml"  # the strategy file as seen from this cwd
    config.write_text(f"strategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\n")
    run = ["run", "--stage", "1", "--no-progress", "--specs", str(ROOT / "specs"), "--config", str(config)]
    for cmd, code in ((run, 2),
                      (["status", "--specs", str(ROOT / "specs")], 2)):
        done = subprocess.run([sys.executable, "-m", "engine.cli", *cmd, "--db", url], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == code, done.stderr[-2000:]
        assert done.stderr.count("\n") == 1 and "in-memory store" in done.stderr, done.stderr
        assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="in-memory"):
        run_files(url)
