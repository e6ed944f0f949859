"""One engine per store: the run lock, and where a run's local files live.

An OS lock (flock) on the store's lock file is held for the whole run; `engine status`, `kill`
and `promote` probe it to say whether an engine will act on what they post.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from state.db import DEFAULT_PATH

LOCK_FILE = "engine.lock"
VENUE_FILE = "paper-venue.db"
ARCHIVE_DIR = "archive"
LOCK_TRIES, LOCK_PAUSE_S = 40, 0.025  # ~1 s: a status/kill probe holds the lock for microseconds


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


def run_files(url: str) -> RunFiles:
    """A SQLite store's files lie beside it, named after it as SQLite names its own (`x.db` ->
    `x.db-engine.lock`, `x.db-paper-venue.db`, `x.db-archive/`); a store named engine.db (the
    default's name) keeps the plain names (`engine.lock`, `paper-venue.db`, `archive/`), which
    runs saved before this rule resume from. A server database gets a folder of its own under
    var/, named by the URL without its password or driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        name = parsed.database
        file = Path(name) if name and name != ":memory:" else DEFAULT_PATH
        return RunFiles(file.parent, "" if file.name == DEFAULT_PATH.name else f"{file.name}-")
    store = parsed.set(drivername=backend).render_as_string(hide_password=True)  # password: "***"
    return RunFiles(DEFAULT_PATH.parent / f"{backend}-{hashlib.sha256(store.encode()).hexdigest()[:12]}", "")


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a run lock, as its file says."""
    pid: int | None
    since: str

    def __str__(self) -> str:
        return f"pid {self.pid if self.pid is not None else '?'} since {self.since}"


class EngineRunning(Exception):
    def __init__(self, holder: Holder) -> None:
        super().__init__(f"an engine is already running ({holder})")
        self.holder = holder


class RunLock:
    """One engine at a time per store. An OS lock (flock) on the store's lock file, held for the
    whole run: the kernel drops it when the process ends, however it ends, so a SIGKILLed run
    never leaves a stale lock; the file's text (pid, start) is only for people."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    @classmethod
    def acquire(cls, url: str) -> "RunLock":
        return cls(_lock_file(run_files(url).lock))

    def release(self) -> None:
        self._file.truncate(0)  # a finished run leaves no holder behind
        self._file.close()  # closing drops the flock

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def holder(url: str) -> Holder | None:
        """The engine running on the store at `url`, or None. Never waits on the lock."""
        return _file_holder(run_files(url).lock)


def _lock_file(path: Path) -> IO[str]:
    """The lock file, flocked and naming this process; EngineRunning when another holds it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
    for _ in range(LOCK_TRIES):
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:  # an engine, or a status probe about to let go: ask again
            time.sleep(LOCK_PAUSE_S)
    else:
        holder = _read_holder(file)
        file.close()
        raise EngineRunning(holder)
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "since": _now_iso()}) + "\n")
    file.flush()
    return file


def _file_holder(path: Path) -> Holder | None:
    """Probes with a shared lock, never waits."""
    import fcntl

    try:
        file = open(path, encoding="utf-8")
    except FileNotFoundError:
        return None
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(file)
        return None  # closing the file releases the probe's lock


def _read_holder(file: IO[str]) -> Holder:
    file.seek(0)
    try:
        data = json.loads(file.read())
        return Holder(int(data["pid"]), str(data["since"]))
    except (ValueError, KeyError, TypeError):  # being written this instant
        return Holder(None, "?")


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
