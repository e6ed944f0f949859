"""Setting a server store's tables aside: what a fresh run does with a start that never checkpointed.

A SQLite store is one file, which a fresh run moves into the archive whole. A start interrupted
before its first checkpoint (Ctrl-C, a kill) leaves rows on a PostgreSQL store that no resume can
continue; its tables move, whole, into a schema of their own beside the store's (PostgreSQL moves
a table's indexes, constraints, triggers and sequences with it), so the journal stays as it was
written, append-only, and the next run starts on empty tables. The store's id stays in the
store: its local files are found by it.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, insert, select, text

from state.db import make_engine
from state.models import TABLES, KvRow
from state.store import STORE_ID_KEY


def set_aside(url: str) -> tuple[str, int] | None:
    """Move the tables of the PostgreSQL store at `url` into a new schema named after its own and
    the time: (that schema, the rows moved), or None when nothing but the store's id is there.
    One transaction: all of it moves, or nothing."""
    engine = make_engine(url, "full")
    kv = KvRow.__table__
    try:
        with engine.begin() as conn:
            rows = sum(conn.execute(select(func.count()).select_from(t)).scalar() for t in TABLES) - 1  # less the id
            if rows <= 0:
                return None
            identity = conn.execute(kv.select().where(kv.c.key == STORE_ID_KEY)).mappings().one()
            schema = conn.execute(text("SELECT current_schema()")).scalar()
            aside = f"{schema}_unstarted_{datetime.now(timezone.utc):%Y%m%d%H%M%S%f}"[:63]  # unquoted, as search_path reads it
            conn.execute(text(f'CREATE SCHEMA "{aside}"'))
            for table in TABLES:
                conn.execute(text(f'ALTER TABLE "{schema}"."{table.name}" SET SCHEMA "{aside}"'))
            kv.create(conn)
            conn.execute(insert(kv).values(**identity))
        return aside, rows
    finally:
        engine.dispose()
