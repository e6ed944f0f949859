"""One engine per store: the run lock, and the folder a run's local files live in.

An OS lock (flock) on `engine.lock` is held for the whole run; `engine status`, `kill` and
`promote` probe it to say whether an engine will act on what they post.
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
LOCK_TRIES, LOCK_PAUSE_S = 40, 0.025  # ~1 s: a status/kill probe holds the lock for microseconds


def run_folder(url: str) -> Path:
    """Where the run on the store at `url` keeps its local files (run lock, paper venue, archive):
    the one rule `engine run`, `status`, `kill` and `promote` share. A SQLite store's folder; for
    a server database, a folder of its own under var/, named by the URL without its password or
    driver, so that only what names the store places its lock (a second store gets a second lock)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        name = parsed.database
        return Path(name).parent if name and name != ":memory:" else DEFAULT_PATH.parent
    store = parsed.set(drivername=backend).render_as_string(hide_password=True)  # password: "***"
    return DEFAULT_PATH.parent / f"{backend}-{hashlib.sha256(store.encode()).hexdigest()[:12]}"


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
    """One engine at a time per folder of local files: an OS lock (flock) on `engine.lock`,
    held for the whole run. The kernel drops it when the process ends, however it ends, so a
    SIGKILLed run never leaves a stale lock; the file's text (pid, start) is only for people."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    @classmethod
    def acquire(cls, folder: Path) -> "RunLock":
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        file = open(folder / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
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
        return cls(file)

    def release(self) -> None:
        self._file.truncate(0)  # a finished run leaves no holder behind
        self._file.close()  # closing drops the flock

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def holder(folder: Path) -> Holder | None:
        """The engine running from `folder`, or None. Probes with a shared lock, never waits."""
        import fcntl

        try:
            file = open(folder / LOCK_FILE, encoding="utf-8")
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
