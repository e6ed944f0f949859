"""`engine kill` / `promote` / `status` beside a running engine on a PostgreSQL store: they run
no DDL (which queued behind the engine's open transaction, forever), every wait is bounded,
and a store no run made is "no run yet". Needs ENGINE_TEST_PG_URL (.ci/run starts a server);
skips without one."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("ENGINE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
BOUND_S = 30  # a command still waiting by then hangs: the test fails instead of hanging with it


@pytest.fixture
def url() -> Iterator[str]:
    """An empty schema on the test server, as a store URL; skips without a server."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    schema = f"stagecraft_ops_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except (OperationalError, ImportError) as exc:
        pytest.skip(f"no PostgreSQL server at {PG_URL.split('@')[-1]}: {type(exc).__name__}")
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def made(url: str) -> str:
    """The tables and a checkpoint, as a run makes them (a store without a checkpoint takes no
    command: no engine would apply it)."""
    from engine.run.keys import CHECKPOINT_KEY
    from state.store import Store

    with Store.open(url=url) as store:
        store.put_json(CHECKPOINT_KEY, {"cursor": 200, "clock": 1516515300.0, "stage": 1})
    return url


def _engine(url: str, *args: str, wait_s: float | None = None) -> subprocess.CompletedProcess:
    """The command in a process of its own (bounded by BOUND_S), with status.WRITE_WAIT_S set."""
    code = ("import sys; from engine.commands import status; from engine.cli import main; "
            + (f"status.WRITE_WAIT_S = {wait_s}; " if wait_s is not None else "")
            + f"sys.exit(main({[*args, '--specs', str(ROOT / 'specs')]!r}))")
    env = {**os.environ, "ENGINE_DB_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=BOUND_S)


@pytest.fixture
def mid_checkpoint(made: str) -> Iterator[None]:
    """The engine in the middle of a batch checkpoint: its transaction has written the journal."""
    from sqlalchemy import create_engine, text

    engine = create_engine(made)
    conn = engine.connect()
    tx = conn.begin()
    conn.execute(text("INSERT INTO journal (ts, kind, key, payload, spec_hash, reason) "
                      "VALUES (0, 'k', '', '{}', '', '')"))
    yield
    tx.rollback()
    conn.close()
    engine.dispose()


@pytest.mark.parametrize("argv, code, needle", [
    (("kill", "--mode", "halt"), 0, "posted #1"),
    (("promote",), 1, "no `rollout` snapshot"),
])
def test_operator_commands_beside_an_engine_mid_transaction_do_not_wait_on_it(
        made: str, mid_checkpoint: None, argv: tuple[str, ...], code: int, needle: str) -> None:
    done = _engine(made, *argv)
    assert done.returncode == code and needle in done.stdout + done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_kill_gives_up_on_a_locked_postgresql_store_within_its_wait(made: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(made)
    with engine.connect() as conn, conn.begin():
        conn.execute(text("LOCK TABLE control IN ACCESS EXCLUSIVE MODE"))  # nothing may post now
        done = _engine(made, "kill", "--mode", "halt", wait_s=0.5)
    engine.dispose()
    assert done.returncode == 1 and "is busy" in done.stderr and "try again" in done.stderr, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "held its write lock for over 0.5 s" in done.stderr  # its own wait, not the default's; BOUND_S a hang


def test_status_on_a_locked_store_says_its_own_wait_and_no_way_out_through_itself(made: str) -> None:
    """rev26: `engine status` said the engine had held its write lock for over 10 s, after its own
    5 s reader's wait, and told the user to run `engine status`; with the lock held from the start,
    its look for the store's id waited with no bound at all (BOUND_S ran out)."""
    from sqlalchemy import create_engine, text

    code = ("import sys; from state import store; from engine.cli import main; store.READ_WAIT_S = 0.5; "
            f"sys.exit(main({['status', '--specs', str(ROOT / 'specs')]!r}))")
    engine = create_engine(made)
    with engine.connect() as conn, conn.begin():
        conn.execute(text("LOCK TABLE kv IN ACCESS EXCLUSIVE MODE"))
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "ENGINE_DB_URL": made,
                              "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=BOUND_S)
    engine.dispose()
    assert done.returncode != 0 and "is busy: a lock on it was held for over 0.5 s" in done.stderr, done.stderr[-2000:]
    assert "`engine status`" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("argv", [("status",), ("kill", "--mode", "halt"), ("promote",)])
def test_a_database_no_run_made_is_no_run_yet_and_stays_empty(url: str, argv: tuple[str, ...]) -> None:
    from sqlalchemy import create_engine, inspect

    done = _engine(url, *argv)
    assert done.returncode == 1 and "no run yet" in done.stderr, done.stderr[-2000:]
    engine = create_engine(url)
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == []
    engine.dispose()


def test_a_resume_through_the_run_config_names_no_db_when_its_url_has_a_password(made, tmp_path, monkeypatch,
                                                                                   capsys) -> None:
    """The run's config names the store with a password: the suggested resume needs no --db. It was
    compared with the store's shown URL (password masked), never matched, and the resume got
    `--db 'postgresql+psycopg2://postgres:***@...'`, which cannot connect when pasted."""
    from engine.cli import main
    from engine.run.keys import CONFIG_FILE_KEY
    from state.store import Store

    secret = made.replace("://postgres@", "://postgres:pw-not-checked@", 1)  # the test server trusts loopback
    assert secret != made
    config = tmp_path / "run.yaml"
    config.write_text(f'db: "{secret}"\n')
    with Store.open(url=secret) as store:
        store.put_json(CONFIG_FILE_KEY, {"path": str(config), "specs": [str(ROOT / "specs")], "cwd": str(tmp_path)})
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--config", str(config), "--specs", str(ROOT / "specs")]) == 0
    out = capsys.readouterr().out
    resume = out.split("--resume")[0].rsplit("`", 1)[-1]
    assert "engine run --stage 1" in resume and "--db" not in resume, out
