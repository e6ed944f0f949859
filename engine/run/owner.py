"""Whose run directory it is: the owner file a run leaves in its run directory.

The run directory lock (state/runlock.py RunDirLock) keeps a second run out while one runs; it
goes with the run. A stopped run (Ctrl-C, SIGTERM, SIGKILL, a --max-bars stop) still needs its
directory: its resume cuts the audit trail back to its checkpoint and goes on writing there. So a
run leaves `<run dir>/.engine-run.owner`, naming its store, for a fresh run on another store to
ask that store whether its run is still unfinished there (engine/commands/run.py
`_check_owner`), and its run id, which its store keeps too (kv `run/id`), for a resume to tell
its own trail from one a later run wrote there (`_check_still_own`): a store copied or moved
still holds its run id, where its path would say it is another store. A fresh run moves the file
aside with the last run's files (engine/run/report.py RUN_FILES) and writes its own.
"""
from __future__ import annotations

import json
import os
import uuid
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
    run_id: str | None = None  # None: an owner file, or a store, from before runs had an id

    def same_store(self, other: "Owner") -> bool:
        return (self.sqlite, self.store_id) == (other.sqlite, other.store_id)

    def same_run(self, other: "Owner") -> bool:
        """`other` is the run this owner file names: by run id, which goes with a store copied or
        moved; an owner file without one (written before runs had an id) by its store's path."""
        return self.run_id == other.run_id if self.run_id is not None else self.same_store(other)


# Each field's JSON type: a wrong one would reach a run as a traceback (a number as a path) or
# as a wrong answer (the string "false" as finished).
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "store": str, "sqlite": (str, type(None)), "store_id": (str, type(None)), "stage": int, "since": str,
    "finished": bool, "run_id": (str, type(None))}
FIELD_WORDS = ("store, since: text; sqlite, store_id, run_id: text or null; stage: a number; "
               "finished: true or false")


class UnreadableOwner(Exception):
    """The owner file is there but cannot be read as one: why, in words."""


def new_run_id() -> str:
    """A fresh run's id: an identity, never an input to a decision, so it needs no seed."""
    return uuid.uuid4().hex


def owner_of(store: str, sqlite: Path | None, store_id: str | None, stage: int,
             run_id: str | None = None) -> Owner:
    """This run as the owner of its run directory, from now."""
    return Owner(store, str(sqlite) if sqlite is not None else None, store_id, stage,
                 datetime.now(timezone.utc).isoformat(timespec="seconds"), run_id=run_id)


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
    Only an owner file that names this run (Owner.same_run): another run's is not this run's to mark."""
    owner = read_owner(run_dir)
    if owner is not None and owner.same_run(me):
        write_owner(run_dir, replace(owner, finished=True))


def claim_on_resume(run_dir: Path, me: Owner) -> None:
    """A resume's owner file, once its start got through: written when there is none (a run from
    before owner files), and made to name this store when it names another holding the same run
    (a store copied or moved): a fresh run on another store asks the store it names."""
    try:
        owner = read_owner(run_dir)
    except UnreadableOwner:  # read under the run directory's lock a moment ago: left as it is
        return
    if owner is None:
        write_owner(run_dir, me)
    elif owner.same_run(me) and not owner.same_store(me):
        write_owner(run_dir, replace(owner, store=me.store, sqlite=me.sqlite, store_id=me.store_id))
