"""Where the store lives: ENGINE_DB_URL, paths, SQLite pragmas, PostgreSQL."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from typing import Any
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from state.db import resolve_url
from state.runlock import EngineRunning, RunLock
from state.store import Store
from state_support import fill, order

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("ENGINE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def test_engine_db_url_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "elsewhere" / "custom.db"
    target.parent.mkdir()
    monkeypatch.setenv("ENGINE_DB_URL", f"sqlite:///{target}")
    with Store.open() as s:
        s.journal("hello", "", {})
        assert s.url.endswith("custom.db")
    assert target.exists() and not (tmp_path / "var").exists()


def test_explicit_arguments_beat_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE_DB_URL", "sqlite:///nowhere.db")
    assert resolve_url(path=str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    assert resolve_url(url="sqlite:///b.db", path="ignored.db") == "sqlite:///b.db"


def test_default_is_var_engine_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)
    with Store.open() as s:
        s.journal("hello", "", {})
    assert (tmp_path / "var" / "engine.db").is_file()


@pytest.mark.parametrize("durability,sync", [("full", 2), ("batch", 1)])
def test_sqlite_runs_in_wal_with_the_chosen_fsync(tmp_path: Path, durability: str, sync: int) -> None:
    with Store.open(path=str(tmp_path / "e.db"), durability=durability) as s:
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == sync  # 2 FULL, 1 NORMAL


def test_a_batch_file_gets_large_pages_and_an_existing_file_keeps_its_own(tmp_path: Path) -> None:
    def page_size(name: str) -> int:
        with sqlite3.connect(tmp_path / name) as conn:
            return conn.execute("PRAGMA page_size").fetchone()[0]

    for durability in ("batch", "full"):
        with Store.open(path=str(tmp_path / f"{durability}.db"), durability=durability) as s:
            s.journal("hello", "", {})
    assert (page_size("batch.db"), page_size("full.db")) == (16384, 4096)
    with Store.open(path=str(tmp_path / "full.db"), durability="batch") as s:  # made by a "full" run
        s.journal("again", "", {})
        assert [e.kind for e in s.journal_entries()] == ["hello", "again"]
    assert page_size("full.db") == 4096


def test_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        Store.open(path=str(tmp_path / "e.db"), durability="sometimes")


def test_importing_state_stays_light() -> None:
    code = "import sys, state; print(any(m.startswith(('sqlmodel', 'sqlalchemy')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "False"


def test_the_run_lock_admits_one_holder_and_names_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/engine.db"
    assert RunLock.holder(url) is None
    with RunLock.acquire(url):
        holder = RunLock.holder(url)
        assert holder is not None and holder.pid == os.getpid()
        with pytest.raises(EngineRunning, match=f"an engine is already running \\(pid {os.getpid()} since "):
            RunLock.acquire(url)
    assert RunLock.holder(url) is None
    RunLock.acquire(url).release()


def test_a_sigkilled_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/engine.db"
    code = ("import sys; from state.runlock import RunLock; "
            f"lock = RunLock.acquire({url!r}); print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == "held"
        holder = RunLock.holder(url)
        assert holder is not None and holder.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert RunLock.holder(url) is None  # the file still names the dead pid; the kernel dropped the lock
    RunLock.acquire(url).release()


def test_a_readonly_store_reads_past_a_writer_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with Store.open(path=str(path)) as s:
        s.put_json("k", 1)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the engine mid-checkpoint: a BEGIN IMMEDIATE would wait 30 s here
    try:
        with Store.open_readonly(f"sqlite:///{path}") as ro:
            assert ro.get_json("k") == 1 and ro.url == f"sqlite:///{path}"
            with pytest.raises(OperationalError, match="readonly"):
                ro.put_json("k", 2)
    finally:
        writer.rollback()
        writer.close()


def _pg_admin() -> Any:
    """An engine on the PostgreSQL server at ENGINE_TEST_PG_URL (.ci/run starts one); never starts one."""
    try:
        admin = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, ImportError) as exc:
        pytest.skip(f"no PostgreSQL server at {PG_URL.split('@')[-1]}: {type(exc).__name__}")
    return admin


def test_postgresql_round_trip() -> None:
    admin = _pg_admin()
    schema = f"stagecraft_test_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
        with Store.open(url=url, durability="batch") as s:
            req = order()
            s.record_intent(req, "crypto_spot")
            assert s.record_fill(fill(req)).recorded and not s.record_fill(fill(req)).recorded
            s.post_command("kill", {"mode": "flatten"})
            assert [c.args for c in s.take_commands()] == [{"mode": "flatten"}]
            assert s.take_commands() == []
            s.save_snapshots([("m", "i", "h", {"a": [1, 2]})])
            assert s.load_snapshots("m")["i"].data == {"a": [1, 2]}
            s.commit()
        raw = create_engine(url)
        for sql in ("DELETE FROM journal", "TRUNCATE journal"):
            with raw.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(sql))
        raw.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_postgresql_store_with_strict_kpi_columns_takes_a_missing_figure() -> None:
    """An earlier version's NOT NULL KPI columns are relaxed in place (ALTER ... DROP NOT NULL)."""
    admin = _pg_admin()
    schema = f"stagecraft_test_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(text(f"CREATE TABLE {schema}.kpi_snapshots (id SERIAL PRIMARY KEY, ts FLOAT NOT NULL, "
                          "stage INTEGER NOT NULL, domain VARCHAR NOT NULL, mode VARCHAR NOT NULL, "
                          "trades INTEGER NOT NULL, win_rate FLOAT NOT NULL, sharpe FLOAT NOT NULL, "
                          "sortino FLOAT NOT NULL, max_dd FLOAT NOT NULL, profit_factor FLOAT NOT NULL, "
                          "expectancy FLOAT NOT NULL)"))
    try:
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
        with Store.open(url=url, durability="batch") as s:
            s.put_kpis(stage=3, domain="crypto_perp", mode="paper", trades=0, win_rate=None, sharpe=None,
                       sortino=None, max_dd=0.0, profit_factor=None, expectancy=None)
            s.commit()
        with Store.open(url=url, durability="batch") as s:
            [k] = s.kpis(stage=3)
            assert (k.trades, k.win_rate, k.profit_factor) == (0, None, None)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_fresh_run_refuses_a_postgresql_store_that_holds_a_run(tmp_path: Path) -> None:
    """A server database cannot be archived like a file: a fresh run on one that holds a run
    is refused (URL masked, saved stage, the ways out) instead of mixing with it."""
    admin = _pg_admin()
    schema = f"stagecraft_test_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    env = {**os.environ, "ENGINE_DB_URL": url, "PYTHONPATH": str(ROOT)}
    # Run in tmp_path: a server store's folder (its lock, its paper venue) lands in var/ of the
    # folder the engine runs in, and the checkout's var/ is every worker's.
    (tmp_path / "run.yaml").write_text(f"strategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\n")
    cmd = [sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--no-progress", "--max-bars", "60",
           "--run-dir", str(tmp_path / "run"), "--specs", str(ROOT / "specs"), "--config", str(tmp_path / "run.yaml")]
    try:
        first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stderr[-2000:]
        second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert second.returncode == 1
        for needle in ("already holds a run (stage 1)", "--resume", "empty database"):
            assert needle in second.stderr, needle
        password = make_url(PG_URL).password
        assert not password or str(password) not in second.stderr
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

