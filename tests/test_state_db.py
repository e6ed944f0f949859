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
from sqlalchemy.exc import DBAPIError, OperationalError

from state.db import resolve_url
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
            s.save_snapshot("m", "i", "h", {"a": [1, 2]})
            assert s.load_snapshots("m")["i"].data == {"a": [1, 2]}
            s.commit()
        raw = create_engine(url)
        with raw.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM journal"))
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
