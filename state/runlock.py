"""One engine per store, and one run per run directory: the run locks, and where a run's local files live.

An OS lock (flock) on the store's lock file is held for the whole run; on a PostgreSQL store
also a session advisory lock inside the database, which every spelling of its URL reaches.
`engine status`, `kill` and `promote` probe both to say whether an engine will act on what
they post. A run directory is locked the same way, by a file in it (RunDirLock), so that two runs
on two stores never write one audit trail.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from state.db import DEFAULT_PATH, check_persistent, parse_url, shown_url

LOCK_FILE = "engine.lock"
VENUE_FILE = "paper-venue.db"
ARCHIVE_DIR = "archive"
MOVING_SUFFIX = ".moving"  # `archive.moving`: a move of the store's files under way, or cut short
RUN_DIR_LOCK = ".engine-run.lock"  # in a run directory, naming the engine writing there and its store
LOCK_TRIES, LOCK_PAUSE_S = 40, 0.025  # ~1 s: a status/kill probe holds the lock for microseconds
PROBE_WAIT_S = 5.0  # a lock probe on a server store fails rather than hang
APP_NAME = "stagecraft-engine"  # the advisory lock's connection names its engine: "<APP_NAME> pid N since T"


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Where the run on one store keeps its local files: the one rule `engine run`, `status`,
    `kill` and `promote` share (state.runlock.run_files)."""
    folder: Path
    prefix: str  # put before each file's name, so that stores sharing a folder share no file

    @property
    def lock(self) -> Path:
        return self.folder / f"{self.prefix}{LOCK_FILE}"

    @property
    def venue(self) -> Path:
        return self.folder / f"{self.prefix}{VENUE_FILE}"

    @property
    def archive(self) -> Path:
        return self.folder / f"{self.prefix}{ARCHIVE_DIR}"

    @property
    def moving(self) -> Path:
        """The intent record of a move into or out of the archive (engine/run/store_archive.py)."""
        return self.folder / f"{self.prefix}{ARCHIVE_DIR}{MOVING_SUFFIX}"


class NoStoreId(LookupError):
    """A server store no run has locked yet: it has no id, so no local files either."""


def run_files(url: str, *, make: bool = False) -> RunFiles:
    """A SQLite store's files lie beside its file (symlinks resolved: an alias is the same store),
    named after it as SQLite names its own (`x.db` -> `x.db-engine.lock`, `x.db-paper-venue.db`,
    `x.db-archive/`); a store named engine.db (the default's name) keeps the plain names
    (`engine.lock`, `paper-venue.db`, `archive/`), which runs saved before this rule resume from.
    A server database gets a folder of its own under var/, named by the id the store keeps
    (state.store.store_id): every spelling of its URL finds the same folder. Reading the id
    connects; `make` writes it when missing (`engine run`, under the run lock), else NoStoreId.
    An in-memory SQLite URL has no files (MemoryStore)."""
    check_persistent(url)
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        file = Path(parsed.database).resolve()
        return RunFiles(file.parent, "" if file.name == DEFAULT_PATH.name else f"{file.name}-")
    identity = _store_id(url, make)
    if identity is None:
        raise NoStoreId(f"no run has locked {shown_url(parsed)} yet")
    return RunFiles(DEFAULT_PATH.parent / f"{backend}-{identity}", "")


def _store_id(url: str, make: bool) -> str | None:
    from state.store import store_id

    engine = _lock_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            if conn.dialect.name == "postgresql":  # a session locking the kv table makes it fail, not hang
                conn.exec_driver_sql(f"SET lock_timeout = {int(PROBE_WAIT_S * 1000)}")
            return store_id(conn, make=make)
    finally:
        engine.dispose()


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a run lock, as its file (or the lock's database connection) says."""
    pid: int | None
    since: str
    store: str | None = None  # a run directory's lock names the store of the run writing there

    def __str__(self) -> str:
        return f"pid {self.pid if self.pid is not None else '?'} since {self.since}"


class EngineRunning(Exception):
    def __init__(self, holder: Holder) -> None:
        super().__init__(f"an engine is already running ({holder})")
        self.holder = holder


class RunDirInUse(Exception):
    """Another engine's run writes into the run directory."""

    def __init__(self, run_dir: Path, holder: Holder) -> None:
        on = f", on the store {holder.store}" if holder.store else ""
        super().__init__(f"the run directory {run_dir} is in use by another engine ({holder}{on})")
        self.holder = holder


class RunDirLock:
    """One run at a time per run directory: a run's report, journal and audit trail are its own,
    and a second start there would archive them while they are being written. An OS lock (flock)
    on a file in the directory, held for the whole run (the kernel drops it however the process
    ends); the file names the holder and its store, and goes when the run lets go."""

    def __init__(self, file: IO[str], path: Path) -> None:
        self._file, self._path = file, path

    @classmethod
    def acquire(cls, run_dir: Path, store: str) -> "RunDirLock":
        """RunDirInUse when another engine holds it; `store` (as shown to people) names this run's."""
        path = run_dir / RUN_DIR_LOCK
        try:
            return cls(_lock_file(path, store=store), path)
        except EngineRunning as e:
            raise RunDirInUse(run_dir, e.holder) from None

    def release(self) -> None:
        """Unlinked while still held, so that a start waiting on it sees it replaced (_lock_file)."""
        if self._file.closed:
            return
        self._path.unlink(missing_ok=True)
        self._file.close()

    def __enter__(self) -> "RunDirLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RunLock:
    """One engine at a time per store. An OS lock (flock) on the store's lock file, held for the
    whole run: the kernel drops it when the process ends, however it ends, so a SIGKILLed run
    never leaves a stale lock; the file's text (pid, start) is only for people. A PostgreSQL
    store is first locked inside the database (ServerLock), whatever spelling of its URL a run
    was given; a run refused there has made no file."""

    def __init__(self, file: IO[str], server: "ServerLock | None", url: str) -> None:
        self._file = file
        self._server = server
        self._url = url

    @classmethod
    def acquire(cls, url: str) -> "RunLock":
        server = ServerLock.acquire(url) if parse_url(url).get_backend_name() == "postgresql" else None
        try:
            file = _lock_file(run_files(url, make=True).lock)
        except BaseException:
            if server is not None:
                server.release()
            raise
        return cls(file, server, url)

    def release(self) -> None:
        if self._server is not None:
            self._server.release()
        self._file.truncate(0)  # a finished run leaves no holder behind
        self._file.close()  # closing drops the flock

    def lost(self) -> str:
        """Why this run no longer holds its store alone, or "" while it does. The file lock lasts
        as long as the process; the server lock only as long as its connection: once lost, it is
        taken again if no other engine took it meanwhile."""
        if self._server is None:
            return ""
        why = self._server.lost()
        if not why:
            return ""
        with suppress(Exception):  # the lost session's connection may be broken: let it go
            self._server.release()
        try:
            self._server = ServerLock.acquire(self._url)
        except EngineRunning as e:
            return f"{why}; {e}"
        except Exception:  # noqa: BLE001 - the server cannot be reached: still lost
            return why
        return ""

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def holder(url: str) -> Holder | None:
        """The engine running on the store at `url`, or None. Never waits on the lock. The file
        lock is asked too: it outlasts a server lock whose connection was dropped."""
        if parse_url(url).get_backend_name() == "postgresql":
            found = ServerLock.holder(url)
            if found is not None:
                return found
        try:
            return _file_holder(run_files(url).lock)
        except NoStoreId:  # no run ever locked it
            return None


@contextmanager
def no_engine(url: str) -> Iterator[bool]:
    """Whether no engine holds the store's run lock, held for the block when so (the store's files
    may then be moved: no start is moving them itself); False while an engine holds it."""
    try:
        file = _lock_file(run_files(url).lock)
    except EngineRunning:
        yield False
        return
    try:
        yield True
    finally:
        file.truncate(0)
        file.close()


def _lock_file(path: Path, **about: str) -> IO[str]:
    """The lock file, flocked and naming this process (and `about`); EngineRunning when another
    holds it. A lock file its holder unlinked as it let go is not the lock any more: open the
    one at `path` again."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(LOCK_TRIES):
        file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # an engine, or a status probe about to let go: ask again
            if attempt == LOCK_TRIES - 1:
                holder = _read_holder(file)
                file.close()
                raise EngineRunning(holder) from None
            file.close()
            time.sleep(LOCK_PAUSE_S)
            continue
        if _is_at(file, path):
            break
        file.close()
    else:  # replaced under it at every try: engines starting and stopping on it all the while
        raise EngineRunning(Holder(None, "?"))
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "since": _now_iso(), **about}) + "\n")
    file.flush()
    return file


def _is_at(file: IO[str], path: Path) -> bool:
    """Whether `file` is still the file at `path` (not unlinked or replaced since it was opened)."""
    try:
        return os.path.samestat(os.fstat(file.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def _file_holder(path: Path) -> Holder | None:
    """Probes with a shared lock, never waits."""
    import fcntl

    try:
        file = open(path, encoding="utf-8")  # noqa: SIM115 - the `with` below: only open() may raise here
    except (FileNotFoundError, NotADirectoryError):  # no lock file: a folder in its path is none (a file)
        return None
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(file)
        return None  # closing the file releases the probe's lock


class ServerLock:
    """A PostgreSQL session advisory lock, held on a connection of its own for the whole run.
    Advisory locks are per database; the key also names the schema the store's tables live in
    (the URL's search_path), so two stores in two schemas of one database are two locks. The
    server drops it when the connection ends, however the engine ends."""

    def __init__(self, engine: Any, conn: Any) -> None:
        self._engine, self._conn = engine, conn

    @classmethod
    def acquire(cls, url: str) -> "ServerLock":
        from sqlalchemy import text

        engine = _lock_engine(url)
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")  # never idle in a transaction
            key = _advisory_key(conn)
            conn.execute(text("SELECT set_config('application_name', :name, false)"),
                         {"name": f"{APP_NAME} pid {os.getpid()} since {_now_iso()}"})
            if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                holder = _server_holder(conn, key) or Holder(None, "?")
                conn.close()
                raise EngineRunning(holder)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, conn)

    def lost(self) -> str:
        """Why the lock is gone, or "" while this session holds it. A dropped connection (a
        server restart, an idle-session timeout) drops the lock, and another engine could start
        on the store; asking also keeps the session from idling out."""
        from sqlalchemy import text

        try:
            held = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory' "
                "AND granted")).scalar()
        except Exception as e:  # noqa: BLE001 - any failure means the lock can no longer be vouched for
            return f"the store's run lock is lost: its connection failed ({type(e).__name__})"
        return "" if held else "the store's run lock is lost: its session no longer holds it"

    def release(self) -> None:
        self._conn.close()  # ending the session drops its advisory locks
        self._engine.dispose()

    @staticmethod
    def holder(url: str) -> Holder | None:
        engine = _lock_engine(url)
        try:
            with engine.connect() as conn:
                return _server_holder(conn, _advisory_key(conn))
        finally:
            engine.dispose()


def _lock_engine(url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from state.db import connect_args, with_driver

    url = with_driver(url)
    return create_engine(url, poolclass=NullPool, connect_args=connect_args(url, PROBE_WAIT_S))


def _advisory_key(conn: Any) -> int:
    """A signed 64-bit key for the store's schema in this database."""
    from sqlalchemy import text

    schema = conn.execute(text("SELECT coalesce(current_schema(), '')")).scalar()
    digest = hashlib.sha256(f"stagecraft run lock {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _server_holder(conn: Any, key: int) -> Holder | None:
    """The session holding the advisory lock `key` in this database, from pg_locks (a bigint key
    shows as classid = its high 32 bits, objid = its low ones, objsubid = 1)."""
    from sqlalchemy import text

    row = conn.execute(text(
        "SELECT l.pid, a.application_name FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid::bigint = :hi "
        "AND l.objid::bigint = :lo AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}).first()
    if row is None:
        return None
    return _parse_app_name(row.application_name or "")


def _parse_app_name(name: str) -> Holder:
    """The engine's pid and start from its lock connection's application_name (another user's
    session may hide it: then who holds the lock is unknown, not that it is held)."""
    words = name.split()
    if len(words) == 5 and words[0] == APP_NAME and words[1] == "pid" and words[2].isdigit():
        return Holder(int(words[2]), words[4])
    return Holder(None, "?")


def _read_holder(file: IO[str]) -> Holder:
    file.seek(0)
    try:
        data = json.loads(file.read())
        return Holder(int(data["pid"]), str(data["since"]), data.get("store"))
    except (ValueError, KeyError, TypeError):  # being written this instant
        return Holder(None, "?")


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
