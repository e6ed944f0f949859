"""A finished run's run directory brought level with its store, after a kill cut the finish short.

A run marks itself finished in the store (kv `run/finished`, committed once every file of the run
is written), then in its run directory: the owner file's `finished: true` (engine/run/owner.py)
and the `run/finished` row at the end of the journal's export, journal.jsonl. A SIGKILL between
the commit and those writes leaves the directory one step behind for good: a resume refuses a
finished run, so no run writes there again. `complete` repairs it from the store, idempotently:
the rows the export lacks appended (a line a kill cut short first cut off), the owner file marked
finished. `engine run` (a refused resume, a fresh run before it archives), `engine status` and
every operator command that opens the store (kill, promote, degrade, move-stop, select: through
engine/commands/status.py settle_finished) call it whenever they see a finished store.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.run.keys import CONFIG_FILE_KEY, DIR_KEY, FINISHED_KEY, RUN_ID_KEY


def complete(store: Any, sqlite: Path | None) -> str | None:
    """Repair the run directory of the finished run in `store` (a SQLite store's file `sqlite`):
    one line saying what was done; None when nothing was missing, or the directory is not this
    run's any more (its owner file names another run, or none), or a run is writing there."""
    from engine.run.owner import UnreadableOwner, read_owner, write_owner
    from engine.run.report import JOURNAL, append_journal
    from state.runlock import RunDirInUse, RunDirLock

    run_dir = run_dir_of(store) if isinstance(store.get_json(FINISHED_KEY), dict) else None
    if run_dir is None or not (run_dir / JOURNAL).is_file():
        return None
    try:
        owner = read_owner(run_dir)
    except UnreadableOwner:  # whose the directory is cannot be told: left as it is
        return None
    if owner is None or not _same_run(owner, store, sqlite):
        return None
    journal = run_dir / JOURNAL
    try:
        if owner.finished and not store.journal_entries(after_seq=_last_seq(journal), limit=1):
            return None  # level with the store: nothing written, nothing locked
        with RunDirLock.acquire(run_dir, owner.store):
            rows = store.journal_entries(after_seq=_cut_to_last_line(journal))
            append_journal(rows, journal)
            _fsync(journal)
            write_owner(run_dir, replace(owner, finished=True))
    except RunDirInUse:  # a run writes there now: the directory is not this finished run's any more
        return None
    except (ValueError, KeyError, TypeError):  # the export's last line is no journal row: left as it is
        return None
    except OSError as e:
        return (f"the run finished, but a kill stopped it before its run directory {run_dir} said so, and "
                f"repairing that failed ({e.filename or run_dir}: {e.strerror or e}); run this command again once "
                f"it can be written")
    rows_said = f"appended the {len(rows)} journal row{'s' * (len(rows) != 1)} {journal} lacked and " if rows else ""
    return (f"the run finished, but a kill stopped it before its run directory {run_dir} said so: "
            f"{rows_said}marked it finished")


def run_dir_of(store: Any) -> Path | None:
    """The directory of the store's run, absolute (a relative one is read from the folder the run
    ran in); None before a run recorded it. A run from before DIR_KEY names it only once finished."""
    run_dir = store.get_json(DIR_KEY) or (store.get_json(FINISHED_KEY) or {}).get("run_dir")
    if not isinstance(run_dir, str):
        return None
    cwd = (store.get_json(CONFIG_FILE_KEY) or {}).get("cwd") or os.getcwd()
    return (Path(cwd) / run_dir).resolve()


def _same_run(owner: Any, store: Any, sqlite: Path | None) -> bool:
    """The owner file names the store's run: by run id, or by the store's file for a run from before ids."""
    run_id = store.get_json(RUN_ID_KEY)
    if owner.run_id is not None or run_id is not None:
        return owner.run_id == run_id
    return sqlite is not None and owner.sqlite == str(sqlite)


def _last_seq(journal: Path) -> int:
    """The seq of the export's last row; -1 when its last line was cut short (a repair is due)."""
    with open(journal, "rb") as f:
        line = _last_line(f)[1]
    return int(json.loads(line)["seq"]) if line.endswith(b"\n") else -1 if line else 0


def _cut_to_last_line(journal: Path) -> int:
    """The seq of the export's last row (0: none), a line a kill cut short (no newline yet) cut off
    first: the rows after the last whole one are appended again. ValueError for a last line that
    is whole and no row: not an export this repair understands, so left alone."""
    with open(journal, "rb+") as f:
        start, line = _last_line(f)
        if line and not line.endswith(b"\n"):
            f.truncate(start)
            return _cut_to_last_line(journal) if start else 0
    return int(json.loads(line)["seq"]) if line else 0


def _last_line(f: Any) -> tuple[int, bytes]:
    """Where the file's last line starts, and the line."""
    start = _line_start(f, f.seek(0, os.SEEK_END))
    f.seek(start)
    return start, f.read()


def _line_start(f: Any, end: int) -> int:
    """Where the file's last line starts: after the last newline before its final byte."""
    pos = end - 1
    while pos > 0:
        step = min(pos, 1 << 16)
        f.seek(pos - step)
        i = f.read(step).rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
