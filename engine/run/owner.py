"""Whose run directory it is: the owner file a run leaves in its run directory.

The run directory lock (state/runlock.py RunDirLock) keeps a second run out while one runs; it
goes with the run. A stopped run (Ctrl-C, SIGTERM, SIGKILL, a --max-bars stop) still needs its
directory: its resume cuts the audit trail back to its checkpoint and goes on writing there. So a
run leaves `<run dir>/.engine-run.owner`, naming its store, for a fresh run on another store to
ask that store whether its run is still unfinished there (engine/commands/run.py
`_check_owner`). A fresh run moves the file aside with the last run's files
(engine/run/report.py RUN_FILES) and writes its own.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

OWNER_FILE = ".engine-run.owner"


@dataclass(frozen=True, slots=True)
class Owner:
    """The run that wrote a run directory: its store as people name it (`store`, password
    masked), and as a run compares it: a SQLite store's resolved file, else a server store's id
    (state/runlock.py run_files' folder name, e.g. `postgresql-<id>`)."""
    store: str
    sqlite: str | None
    store_id: str | None
    stage: int
    since: str
    finished: bool = False

    def same_store(self, other: "Owner") -> bool:
        return (self.sqlite, self.store_id) == (other.sqlite, other.store_id)


# Each field's JSON type: a wrong one would reach a run as a traceback (a number as a path) or
# as a wrong answer (the string "false" as finished).
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "store": str, "sqlite": (str, type(None)), "store_id": (str, type(None)), "stage": int, "since": str,
    "finished": bool}
FIELD_WORDS = "store, since: text; sqlite, store_id: text or null; stage: a number; finished: true or false"


class UnreadableOwner(Exception):
    """The owner file is there but cannot be read as one: why, in words."""


def owner_of(store: str, sqlite: Path | None, store_id: str | None, stage: int) -> Owner:
    """This run as the owner of its run directory, from now."""
    return Owner(store, str(sqlite) if sqlite is not None else None, store_id, stage,
                 datetime.now(timezone.utc).isoformat(timespec="seconds"))


def read_owner(run_dir: Path) -> Owner | None:
    """The owner file's run; None when there is none (a directory no run wrote since runs left
    one); UnreadableOwner when it cannot be read or is not an owner file."""
    path = run_dir / OWNER_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UnreadableOwner(f"cannot be read ({e.strerror or e})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnreadableOwner(f"is not JSON ({e})") from None
    try:
        owner = Owner(**data)
    except TypeError:
        raise UnreadableOwner("is not an owner file (its keys are not "
                              f"{', '.join(Owner.__dataclass_fields__)})") from None
    if wrong := [name for name, types in FIELD_TYPES.items() if not _fits(getattr(owner, name), types)]:
        raise UnreadableOwner(f"is not an owner file ({', '.join(wrong)} of the wrong type; {FIELD_WORDS})")
    if (owner.sqlite, owner.store_id) == (None, None):
        raise UnreadableOwner("names no store")
    return owner


def _fits(value: object, types: type | tuple[type, ...]) -> bool:
    return isinstance(value, types) and isinstance(value, bool) is (types is bool)  # JSON's true is no stage


def write_owner(run_dir: Path, owner: Owner) -> None:
    """Written whole or not at all (a rename): a half-written file would refuse the next run."""
    path = run_dir / OWNER_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(owner)) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def mark_finished(run_dir: Path, me: Owner) -> None:
    """The run in `run_dir` finished: nothing resumes there, so any run may take the directory.
    Only an owner file that names this run's store: another store's run's is not this run's to mark."""
    owner = read_owner(run_dir)
    if owner is not None and owner.same_store(me):
        write_owner(run_dir, replace(owner, finished=True))
