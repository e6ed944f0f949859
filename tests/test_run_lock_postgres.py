"""One engine per PostgreSQL store, however its URL is spelled: the run lock is also a session
advisory lock inside the database (state.runlock.ServerLock), which `engine run` takes and
`status`/`kill`/`promote` probe. Needs ENGINE_TEST_PG_URL (.ci/run starts a server); skips
without one."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from state.runlock import EngineRunning, RunLock, ServerLock, run_files

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("ENGINE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _config(folder: Path) -> str:
    """A run config that runs from `folder` (the embedded defaults' strategy file is relative to the repo)."""
    (folder / "run.yaml").write_text(f"strategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\n")
    return str(folder / "run.yaml")


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def _other_spelling(url: str) -> str:
    """The same database under another host name (localhost for 127.0.0.1, and back)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(host="localhost" if parsed.host != "localhost" else "127.0.0.1").render_as_string(
        hide_password=False)


@pytest.fixture
def schemas() -> Iterator[list[str]]:
    """Two empty schemas on the test server (two stores); skips without a server."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    names = [f"stagecraft_lock_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        admin = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with admin.begin() as conn:
            for name in names:
                conn.execute(text(f"CREATE SCHEMA {name}"))
    except (OperationalError, ImportError) as exc:
        pytest.skip(f"no PostgreSQL server at {PG_URL.split('@')[-1]}: {type(exc).__name__}")
    try:
        yield names
    finally:
        with admin.begin() as conn:
            for name in names:
                conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


def test_two_spellings_of_one_store_are_one_lock(schemas: list[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the file locks (one per spelling) land here
    one = _with_schema(PG_URL, schemas[0])
    other = _with_schema(_other_spelling(PG_URL), schemas[0])
    assert RunLock.holder(other) is None
    with RunLock.acquire(one):
        assert run_files(other) == run_files(one)  # named by the store's id, not by the URL's text
        with pytest.raises(EngineRunning, match=f"already running \\(pid {os.getpid()} since "):
            RunLock.acquire(other)
        holder = RunLock.holder(other)
        assert holder is not None and holder.pid == os.getpid()
    assert RunLock.holder(other) is None
    RunLock.acquire(other).release()


def test_another_schema_is_another_store(schemas: list[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = (_with_schema(PG_URL, s) for s in schemas)
    with RunLock.acquire(first), RunLock.acquire(second):
        assert RunLock.holder(first) is not None and RunLock.holder(second) is not None


def test_a_dropped_lock_connection_is_noticed(schemas: list[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A server restart or an idle-session timeout ends the lock's session, and with it the
    lock: the run takes it again, or learns that another engine has it (the run then stays
    close-only: test_run_lock_lost.py)."""
    monkeypatch.chdir(tmp_path)
    url = _with_schema(PG_URL, schemas[0])
    with RunLock.acquire(url) as lock:
        assert lock.lost() == ""
        _end_lock_session()
        assert lock.lost() == "", "nobody else took it: taken again"
        holder = ServerLock.holder(url)
        assert holder is not None and holder.pid == os.getpid()
        _end_lock_session()
        other = ServerLock.acquire(_with_schema(_other_spelling(PG_URL), schemas[0]))  # another engine, meanwhile
        try:
            assert "run lock is lost" in lock.lost() and "already running" in lock.lost()
        finally:
            other.release()


def _end_lock_session() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        ended = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name LIKE :me"), {"me": f"% pid {os.getpid()} %"}).all()
    admin.dispose()
    assert ended, "the lock's session must have been found"


def _engine(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess:
    """The engine in `cwd`, where a server store's folder lands (var/<backend>-<id>): a test's own
    tmp_path, since another test on another worker makes folders under the checkout's var/ meanwhile."""
    env = {**os.environ, "ENGINE_DB_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _run(tmp_path: Path, *args: str) -> list[str]:
    return ["run", "--stage", "1", "--no-progress", "--specs", str(ROOT / "specs"), "--config", _config(tmp_path), *args]


def test_run_and_kill_under_another_spelling_see_the_running_engine(schemas: list[str], tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from state.store import Store

    monkeypatch.chdir(tmp_path)
    one = _with_schema(PG_URL, schemas[0])
    other = _with_schema(_other_spelling(PG_URL), schemas[0])
    Store.open(url=one).close()  # the store's tables, as a run makes them
    with RunLock.acquire(one):
        run = _engine(*_run(tmp_path, "--run-dir", str(tmp_path / "run")), url=other, cwd=tmp_path)
        kill = _engine("kill", "--mode", "close-only", "--specs", str(ROOT / "specs"), url=other, cwd=tmp_path)
    assert run.returncode == 1 and f"already running (pid {os.getpid()}" in run.stderr, run.stderr[-2000:]
    assert kill.returncode == 0 and f"the running engine (pid {os.getpid()}" in kill.stdout, kill.stderr
    # the refused run made no folder or lock file of its own: only the running engine's is there
    assert set((tmp_path / "var").glob("postgresql-*")) == {tmp_path / run_files(one).folder}


def test_a_crashed_run_resumes_under_another_spelling_of_its_url(schemas: list[str], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The docs say two spellings are one store: its paper venue's file too (found by the
    store's id), so a stopped run resumes whichever spelling the operator types."""
    monkeypatch.chdir(tmp_path)
    one = _with_schema(PG_URL, schemas[0])
    other = _with_schema(_other_spelling(PG_URL), schemas[0])
    first = _engine(*_run(tmp_path, "--max-bars", "60", "--run-dir", str(tmp_path / "run")), url=one, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert run_files(other).venue.is_file()
    resumed = _engine(*_run(tmp_path, "--max-bars", "120", "--resume"), url=other, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_a_resume_on_a_server_that_cannot_be_reached_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """The resume's fit check asked the server's run lock outside any handler: two tracebacks."""
    from engine.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)
    url = "postgresql+psycopg2://eng:S3cr3tPw@127.0.0.1:9/engine"  # loopback, nothing listens on port 9
    assert main(["run", "--stage", "1", "--resume", "--db", url, "--specs", str(ROOT / "specs"),
                 "--config", _config(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("engine run: cannot open the state store postgresql+psycopg2://eng:***@127.0.0.1:9/engine")
    assert "Traceback" not in err and "S3cr3tPw" not in err


def test_a_role_that_may_not_make_tables_is_one_line_with_a_hint(schemas: list[str], tmp_path: Path,
                                                                 monkeypatch, capsys) -> None:
    """PostgreSQL 15 lets no role create in a database it does not own: a ProgrammingError traceback."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from engine.cli import main

    role = f"stagecraft_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA {schemas[0]} TO {role}"))  # usage, no CREATE
    try:
        url = _with_schema(make_url(PG_URL).set(username=role).render_as_string(hide_password=False), schemas[0])
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("ENGINE_DB_URL", raising=False)
        assert main(["run", "--stage", "1", "--db", url, "--max-bars", "5", "--no-progress",
                     "--specs", str(ROOT / "specs"), "--config", _config(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "InsufficientPrivilege: permission denied for schema" in err and "a database it owns" in err
        assert "Traceback" not in err
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"REVOKE ALL ON SCHEMA {schemas[0]} FROM {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def test_a_start_stopped_before_its_first_checkpoint_is_set_aside_by_the_next_fresh_run(
        schemas: list[str], tmp_path: Path) -> None:
    """rev26: on a server store the fresh run was refused ("already holds a run, continue it with
    --resume") and --resume too ("no run has checkpointed there"): no command accepted the store."""
    import signal

    url = _with_schema(PG_URL, schemas[0])
    env = {**os.environ, "ENGINE_DB_URL": url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *_run(tmp_path, "--heartbeat")], cwd=tmp_path,
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in proc.stdout:  # the first bar: long before the first checkpoint (every 200 bars)
        if line.startswith("bar "):
            proc.send_signal(signal.SIGKILL)
            break
    proc.communicate(timeout=120)
    done = _engine(*_run(tmp_path, "--max-bars", "20"), url=url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    said = next(line for line in done.stdout.splitlines() if "never checkpointed" in line)
    aside = said.rsplit(" schema ", 1)[1]
    assert aside.startswith(f"{schemas[0]}_unstarted_")
    from state.store import Store

    with Store.open(url=url) as store:  # the new run's rows only: one start, one wallet opening
        assert len(store.journal_entries("wallet_open")) == 1
    with Store.open(url=_with_schema(PG_URL, aside)) as old:  # the interrupted start's, as it wrote them
        assert old.journal_entries("wallet_open") and old.get_json("store/id") is not None
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{aside}" CASCADE'))
    admin.dispose()
