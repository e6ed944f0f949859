"""The write-ahead journal: an append-only log of every decision and fact.

Rows are only ever inserted; triggers make UPDATE, DELETE, an insert over an
existing row (SQLite's INSERT OR REPLACE, whose implicit delete fires no delete
trigger) and TRUNCATE fail, so even code that bypasses the Store cannot rewrite
history (SQLite and PostgreSQL; other databases rely on the Store having no such
call).
"""
from __future__ import annotations

import json
import math
from collections import deque
from typing import Any, Iterable

from sqlalchemy import Connection, Engine, insert, select, text
from sqlmodel import Session

from state.batch import JOURNAL_COLUMNS as COLUMNS
from state.models import JournalEntry, json_text

_SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal
       BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
       BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END""",
    # The engine's inserts name no seq (NEW.seq is then -1 here): one rowid lookup that finds nothing.
    """CREATE TRIGGER IF NOT EXISTS journal_no_replace BEFORE INSERT ON journal
       WHEN EXISTS (SELECT 1 FROM journal WHERE seq = NEW.seq)
       BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END""",
]

_POSTGRES_APPEND_ONLY = [
    """CREATE OR REPLACE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN RAISE EXCEPTION 'journal is append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER journal_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON journal
       FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only()""",
]


def funding_key(symbol: str, ts: float) -> str:
    """A funding row's key: one payment per symbol and funding time."""
    return f"{symbol}@{ts:.0f}"


def install_append_only(engine: Engine, conn: Connection) -> None:
    ddl = {"sqlite": _SQLITE_APPEND_ONLY, "postgresql": _POSTGRES_APPEND_ONLY}
    for statement in ddl.get(engine.dialect.name, []):
        conn.execute(text(statement))


# Built once: a Core insert on the session's connection skips the ORM unit of
# work, which made journaling several times slower (tools/bench_journal.py).
_INSERT = insert(JournalEntry.__table__)
# On SQLite the driver binds the row itself: the Core statement's parameter processing and
# json.dumps cost more than the insert (a checkpoint's equity entry holds every bar's point).
SQLITE_INSERT = f"INSERT INTO journal ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def append(session: Session, ts: float, kind: str, key: str, payload: dict[str, Any],
           spec_hash: str, reason: str) -> int:
    """Insert one entry inside the caller's transaction; returns its sequence number."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        return int(conn.exec_driver_sql(SQLITE_INSERT, (ts, kind, key, json_text(payload), spec_hash,
                                                        reason)).lastrowid)
    result = conn.execute(_INSERT, {
        "ts": ts, "kind": kind, "key": key, "payload": payload, "spec_hash": spec_hash,
        "reason": reason})
    return int(result.inserted_primary_key[0])


def entries(session: Session, kind: str | None = None, key: str | None = None,
            after_seq: int = 0, limit: int | None = None) -> list[JournalEntry]:
    query = select(JournalEntry).where(JournalEntry.seq > after_seq)
    if kind is not None:
        query = query.where(JournalEntry.kind == kind)
    if key is not None:
        query = query.where(JournalEntry.key == key)
    return list(session.scalars(query.order_by(JournalEntry.seq).limit(limit)))


class Repeats:
    """The journal rows committed after the checkpoint a run resumes from. A `full` store
    commits each fact as it happens, so a crash before the next checkpoint leaves rows that the
    resumed run, re-processing those bars, makes again: `take` finds such a row, so that each
    fact is written once. A fact is a row's kind, key and payload, less what the store derives
    from its own state: an ack's `stored` status, which a replay finds already ahead. Not its
    reason: that is prose, and a suggested command in it starts with however the engine was
    invoked (`engine`, a venv's path), which a resume pasted from `engine status` changes.
    A resume row is never a repeat: each start is an event of its own."""

    def __init__(self, rows: Iterable[JournalEntry]) -> None:
        self._seqs: dict[tuple[str, str, str], deque[int]] = {}
        self.until = -math.inf  # the time of the latest row: the crashed run had got that far
        for e in rows:
            if e.kind != "resume":
                self._seqs.setdefault(_fact(e.kind, e.key, e.payload), deque()).append(e.seq)
                self.until = max(self.until, e.ts)

    def __bool__(self) -> bool:
        return bool(self._seqs)

    def take(self, kind: str, key: str, payload: dict[str, Any]) -> int | None:
        """The seq of the earliest stored row of this fact not taken yet, else None."""
        fact = _fact(kind, key, json.loads(json_text(payload)))
        seqs = self._seqs.get(fact)
        if seqs is None:
            return None
        seq = seqs.popleft()
        if not seqs:
            del self._seqs[fact]
        return seq


def _fact(kind: str, key: str, decoded: dict[str, Any]) -> tuple[str, str, str]:
    """`decoded` as one text whichever encoder wrote the stored row (orjson or json.dumps)."""
    if kind == "ack":
        decoded = {k: v for k, v in decoded.items() if k != "stored"}
    return kind, key, json.dumps(decoded)
