"""The paper venue's durable state in SQLite (WAL, synchronous=FULL): orders,
fills, positions, cash per domain, each symbol's fill RNG state, issued quote ids and
venue events, and the catch-up log (replay.py). Each state change that
matters is one committed transaction, together with the log entries of the
calls up to it, so a restarted process finds exactly what the venue had
acknowledged and what it had answered."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from adapters.base import VenueEvent
from adapters.paper.model import WorkingOrder, dump
from engine.domain import Fill, Position, Quote

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (client_order_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL,
  active_at REAL, reason TEXT, filled_qty REAL, bars_worked INTEGER, triggered INTEGER, updated_ts REAL,
  request TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS balances (domain TEXT PRIMARY KEY, cash REAL NOT NULL);
CREATE TABLE IF NOT EXISTS quotes (snapshot_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL, kind TEXT, symbol TEXT,
  detail TEXT);
CREATE TABLE IF NOT EXISTS replay_log (last INTEGER PRIMARY KEY, first INTEGER NOT NULL, body TEXT NOT NULL);
"""


@dataclass
class Changes:
    """What one venue call changed; flushed as one transaction."""

    orders: dict[str, WorkingOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    balances: bool = False
    quotes: list[Quote] = field(default_factory=list)
    events: list[VenueEvent] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.positions or self.balances or self.events or self.meta)


def _order_row(o: WorkingOrder) -> dict[str, Any]:
    row = o.to_row()
    row["request"] = json.dumps(row["request"])
    return row


class StateFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def flush(self, ch: Changes, cash: dict, log: Sequence[tuple[int, int, str]] = (),
              acked: int | None = None) -> None:
        """`log`: catch-up log rows of the calls up to this change; `acked`: drop the rows up to it."""
        with self.db:  # one transaction: all of it or none of it
            self.db.executemany("INSERT OR REPLACE INTO replay_log VALUES (?, ?, ?)", log)
            if acked is not None:
                self.db.execute("DELETE FROM replay_log WHERE last <= ?", (acked,))
            self.db.executemany(
                "INSERT OR REPLACE INTO orders VALUES (:client_order_id, :seq, :status, :active_at, :reason, "
                ":filled_qty, :bars_worked, :triggered, :updated_ts, :request)",
                [_order_row(o) for o in ch.orders.values()])
            self.db.executemany("INSERT OR REPLACE INTO fills VALUES (?, ?, ?)",
                                [(f.fill_id, f.client_order_id, json.dumps(dump(f))) for f in ch.fills])
            self.db.executemany("INSERT OR REPLACE INTO positions VALUES (?, ?)",
                                [(p.symbol, json.dumps(dump(p))) for p in ch.positions.values()])
            if ch.balances:
                self.db.executemany("INSERT OR REPLACE INTO balances VALUES (?, ?)",
                                    [(d.value, v) for d, v in cash.items()])
            self.db.executemany("INSERT OR IGNORE INTO quotes VALUES (?, ?)",
                                [(q.snapshot_id, json.dumps(dump(q))) for q in ch.quotes])
            self.db.executemany("INSERT INTO events (ts, kind, symbol, detail) VALUES (?, ?, ?, ?)",
                                [(e.ts, e.kind, e.symbol, json.dumps(e.detail, default=str)) for e in ch.events])
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                [(k, json.dumps(v)) for k, v in ch.meta.items()])

    def rows(self, sql: str) -> list[tuple]:
        return self.db.execute(sql).fetchall()

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.rows("SELECT key, value FROM meta")}

    def close(self) -> None:
        self.db.close()
