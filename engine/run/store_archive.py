"""A fresh run's move of the last run's files into the archive, all or none even under SIGKILL.

A SQLite store in WAL mode is two files that only make sense together: `engine.db` and its
`engine.db-wal`, which holds every commit since the last checkpoint (`-shm` is an index SQLite
rebuilds). Moved one by one, a kill between two renames would leave the archive holding a store
with only its schema and the WAL, with all of the run's orders and fills, at the old path, where
no command looks for it. So before the first rename an intent record is written and fsynced
beside the store (state/runlock.py RunFiles.moving: `archive.moving` for `engine.db`), naming
every file the move concerns, and it goes only once the start that moved the files got through
(`settled`, called by run.py _fresh once the new run is built). A record
still there with no engine holding the run lock is a move cut short: every command that opens
the store (engine/commands/status.py open_existing_store, `engine run` before anything else)
first undoes it (`settle`), putting the store back as the start found it, so `--resume`, `status`
and a next fresh run see the stopped run again. Undoing, not completing: the start that moved the
files did not get through, and a start that does not get through puts the files back (run.py
_fresh). Undoing is idempotent, so a kill during it is undone by the next command too.

The run directory's files (report, journal, audit trail, owner file) belong together the same way
and move the same way, with their own record in the run directory (engine/run/report.py
archive_run_files, settle_run_files; `engine run` and `engine status` settle them): `undo` is the step both
settle with.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


class UnsettledArchive(Exception):
    """An interrupted move that cannot be undone (an unreadable record, a file that will not move):
    the store is not used until a person puts it right, as the message says."""


@dataclass(frozen=True)
class Move:
    """A move between the store's folder and `dest`: `files`, every file of the store and its venue
    (a file not in `moved` at its place is a failed start's own, never the last run's), and `moved`,
    those the last run had, which belong at their place."""
    dest: Path
    files: tuple[Path, ...]
    moved: tuple[Path, ...]


def archive(files: list[Path], archive_dir: Path, record: Path) -> Move | None:
    """Move the `files` present into a new folder of `archive_dir` (Move.dest), all or none: `record`
    names the move first, and stays: the caller drops it (`settled`) once its start got through, so
    that a SIGKILL while the start builds its new files is undone too. None when there was nothing
    to move."""
    present = tuple(p for p in files if p.is_file())  # a store's files only: never a folder or a device
    if not present:
        return None
    dest = archive_dir / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    dest.mkdir(parents=True, exist_ok=True)
    move = Move(dest, tuple(files), present)
    try:
        _write(record, move)
    except OSError:
        _undo(move)  # nothing moved yet: only the folder goes
        raise
    try:
        for p in present:
            p.rename(dest / p.name)
        _sync(present[0].parent, dest)
    except OSError:
        put_back(move, record)
        raise
    return move


def settled(record: Path) -> None:
    """The start that moved the files got through: its move is no longer one to undo."""
    record.unlink(missing_ok=True)
    _sync(record.parent)


def put_back(move: Move, record: Path) -> None:
    """Undo `move` (a start that did not get through, or a move cut short): recorded first, so that
    a kill meanwhile is undone by the next command too."""
    if not record.is_file():
        _write(record, move)
    _undo(move)
    record.unlink()
    _sync(record.parent)


def settle(url: str) -> str | None:
    """Undo a move into the archive that a killed start cut short, when no engine runs on the store:
    one line saying so; None when there was none (or an engine is running, moving the files itself).
    UnsettledArchive when it cannot be undone."""
    from state.runlock import NoStoreId, no_engine, run_files

    try:
        record = run_files(url).moving
    except NoStoreId:  # a server store no run has locked: nothing of it was ever archived
        return None
    except Exception:  # noqa: BLE001 - a server that cannot be reached: opening the store says so
        return None
    if not record.is_file():
        return None
    try:
        with no_engine(url) as idle:
            if not idle or not record.is_file():
                return None
            move = undo(record)
    except OSError as e:  # the run lock cannot be taken (a read-only folder): no one may undo the move now
        raise locked_out(record, e) from None
    back = ", ".join(p.name for p in move.moved)
    return (f"a start killed while archiving the store left its files split between {move.files[0].parent} and "
            f"{move.dest}: put them back ({back}), so the store is as that start found it")


def locked_out(record: Path, e: OSError) -> UnsettledArchive:
    """The lock a settle takes before undoing `record`'s move could not be taken."""
    return UnsettledArchive(f"a start killed while archiving files left {record}, and its move cannot be undone: "
                            f"the lock that keeps an engine from moving them meanwhile cannot be taken "
                            f"({e.filename or record.parent}: {e.strerror or e}): make {record.parent} writable "
                            "and run the command again")


def undo(record: Path) -> Move:
    """Undo the move cut short that `record` names (the caller made sure no engine is moving files
    there now): the move, its files back. UnsettledArchive when it cannot be undone."""
    move = _read(record)
    try:
        put_back(move, record)
    except OSError as e:
        raise UnsettledArchive(f"a start killed while moving files to {move.dest} left them split, and putting "
                               f"them back failed ({e.filename or ''}: {e.strerror or e}): fix that and run the "
                               f"command again; {record} names the moves") from None
    return move


def _undo(move: Move) -> None:
    """Each file back where the last run had it, a failed start's own gone; then the folder the move
    made, if empty. Every step can be done again: a kill midway is undone by the next call."""
    for p in move.files:
        kept = move.dest / p.name
        if p in move.moved and kept.is_file():
            p.unlink(missing_ok=True)  # the failed start's own, in the last run's place
            kept.rename(p)
        elif p not in move.moved and p.is_file():
            p.unlink()  # a start's file the last run did not have (its -wal beside the last run's store: ruin)
    _sync(move.files[0].parent, move.dest)
    for folder in (move.dest, move.dest.parent):  # the archive folder too, if this move made it
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            break


def _write(record: Path, move: Move) -> None:
    """The record, whole and on disk before any file moves (a rename of an fsynced file)."""
    tmp = record.with_name(record.name + ".tmp")
    data = {"dest": str(move.dest), "files": [str(p) for p in move.files], "moved": [str(p) for p in move.moved]}
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(record)
    _sync(record.parent)


def _read(record: Path) -> Move:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        return Move(Path(data["dest"]), tuple(map(Path, data["files"])), tuple(map(Path, data["moved"])))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise UnsettledArchive(f"a start killed while archiving files left {record}, which names the files it "
                               f"moved, and it cannot be read ({e}): find those files (in {record.parent} and the "
                               f"newest folder of its archive), put them together in {record.parent}, then "
                               f"delete {record}") from None


def _sync(*folders: Path) -> None:
    """The renames in `folders` on disk (a folder's entries are made durable by fsyncing it)."""
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
