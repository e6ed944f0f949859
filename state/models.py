"""The tables. One row class per table; the Store is the only writer.

Money and prices are floats in the quote currency, times epoch seconds UTC,
as in engine.domain. Status strings follow the venue vocabulary
(adapters/base.py) plus "intent": journaled and committed, never acknowledged.
"""
from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from engine.domain import Domain, OrderRequest, OrderType, Position, Role, Side

INTENT = "intent"
# Terminal statuses never change again; acks respect that.
TERMINAL = frozenset({"filled", "canceled", "rejected", "expired"})


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# orjson's own types where json.dumps raises: those keep raising (through json.dumps).
_ORJSON_OPT = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def json_text(value: Any) -> str:
    """The text a JSON column stores for `value`, for writers that bypass SQLAlchemy's JSON type:
    it decodes to exactly what the type's json.dumps text decodes to, ~10x faster (orjson).

    Where orjson's reading would differ, json.dumps writes the text, as the type does:
    - NaN and +-Infinity: orjson writes null, which would read back as None; json.dumps writes
      the NaN/Infinity tokens, which SQLite stores and json.loads reads back as the float. So a
      text with a null is re-encoded when `value` holds a non-finite float. (PostgreSQL's JSON
      type rejects those tokens; its writes go through SQLAlchemy, unchanged.)
    - what orjson refuses (float subclasses such as numpy.float64, non-str keys, ints over 64
      bits, dataclasses, datetimes): json.dumps writes it or raises its own error.
    Only the spacing and non-ASCII escaping of the text differ, never its decoded value; the one
    widening is that a plain Enum or a UUID is written (as its value) where json.dumps raised.

    A run's ledger encodes every journal payload as it records it (~10^5 per 100k bars, most
    of a hundred bytes): the null test is on the decoded str, as `in` on bytes costs more than
    the encoding (~4k instructions a call: the needle goes through the buffer protocol).
    """
    try:
        text = orjson.dumps(value, option=_ORJSON_OPT).decode()
    except TypeError:
        return json.dumps(value)
    if "null" in text and not _finite(value):
        return json.dumps(value)
    return text


_LEAVES = frozenset({str, int, bool, type(None)})


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in `value` (orjson accepted it: floats are exact floats).
    One loop per container, leaves tested inline: every trade's payload (16 fields, one null)
    is checked as it is journaled."""
    if type(value) is float:
        return value - value == 0.0
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return True
    for v in value:
        t = type(v)
        if t is float:
            if v - v != 0.0:
                return False
        elif t not in _LEAVES and not _finite(v):
            return False
    return True


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"

    id: int | None = Field(default=None, primary_key=True)
    client_order_id: str = Field(unique=True, index=True)
    machine_state: str = ""
    symbol: str
    side: str
    qty: float
    filled_qty: float = 0.0
    type: str = OrderType.MARKET.value
    price: float | None = None
    reduce_only: bool = False
    role: str
    parent_id: str | None = None
    domain: str
    mode: str = "paper"
    strategy: str = ""
    quote_id: str = ""
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ts: float
    status: str = Field(default=INTENT, index=True)
    venue_order_id: str = ""

    def to_request(self) -> OrderRequest:
        """The request exactly as journaled, so a resubmission reuses its client_order_id."""
        return OrderRequest(
            client_order_id=self.client_order_id, symbol=self.symbol, side=Side(self.side),
            qty=self.qty, type=OrderType(self.type), role=Role(self.role), quote_id=self.quote_id,
            ts=self.ts, price=self.price, reduce_only=self.reduce_only, strategy=self.strategy,
            parent_id=self.parent_id, tags=tuple(self.tags),
        )


class FillRow(SQLModel, table=True):
    __tablename__ = "fills"

    id: int | None = Field(default=None, primary_key=True)
    fill_id: str = Field(unique=True, index=True)
    client_order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    ts: float
    quote_id: str = ""
    liquidity: str = "taker"


class PositionRow(SQLModel, table=True):
    """Keyed by symbol + domain + mode: paper and live books never mix (seed 001)."""

    __tablename__ = "positions"

    symbol: str = Field(primary_key=True)
    domain: str = Field(primary_key=True)
    mode: str = Field(default="paper", primary_key=True)
    qty: float = 0.0  # signed: >0 long, <0 short
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    opened_ts: float | None = None
    extra: dict = _json()

    def to_position(self) -> Position:
        return Position(symbol=self.symbol, domain=Domain(self.domain), qty=self.qty,
                        avg_price=self.avg_price, realized_pnl=self.realized_pnl,
                        opened_ts=self.opened_ts, extra=dict(self.extra))


class WalletRow(SQLModel, table=True):
    """One segregated wallet per domain and mode; money never moves between rows."""

    __tablename__ = "wallets"

    domain: str = Field(primary_key=True)
    mode: str = Field(primary_key=True)
    balance: float
    start_balance: float
    realized_pnl: float = 0.0
    updated_ts: float


class MachineSnapshot(SQLModel, table=True):
    __tablename__ = "machine_snapshots"

    machine: str = Field(primary_key=True)
    instance_id: str = Field(primary_key=True)
    spec_hash: str
    data: dict = _json()
    updated_ts: float


class JournalEntry(SQLModel, table=True):
    """Append-only: on SQLite, triggers refuse UPDATE and DELETE (state.journal).

    No index beyond seq: the journal is written far more than it is read. Its readers (a
    resume's trades and equity points, replay_digest, tests) read by seq, and filter kind
    and key while scanning it; an index per column made each insert ~2.5x dearer."""

    __tablename__ = "journal"

    seq: int | None = Field(default=None, primary_key=True)
    ts: float
    kind: str
    key: str = ""
    payload: dict = _json()
    spec_hash: str = ""
    reason: str = ""


class KpiSnapshot(SQLModel, table=True):
    __tablename__ = "kpi_snapshots"

    id: int | None = Field(default=None, primary_key=True)
    ts: float = Field(index=True)
    stage: int
    domain: str
    mode: str
    trades: int
    max_dd: float
    # None where the figure does not exist (engine/run/kpi.py): no trade, no losing trade, a
    # flat curve. A 0.0 there would read as a real win rate or profit factor of zero.
    win_rate: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    profit_factor: float | None = None
    expectancy: float | None = None


class ControlRow(SQLModel, table=True):
    """Operator commands typed in another process (`engine kill`); consumed exactly once."""

    __tablename__ = "control"

    id: int | None = Field(default=None, primary_key=True)
    ts: float
    command: str
    args: dict = _json()
    consumed_ts: float | None = Field(default=None, index=True)


class KvRow(SQLModel, table=True):
    __tablename__ = "kv"

    key: str = Field(primary_key=True)
    value: Any = Field(default=None, sa_column=Column(JSON))
    updated_ts: float


# Indexes earlier versions made that no query uses, each one more B-tree for every insert
# to keep: journal ts, kind and key (see JournalEntry), orders by symbol or parent_id, fills
# by order (Store.fills(client_order_id) scans ~1 row per 15 bars of a run). Store.open drops
# them from an older file.
RETIRED_INDEXES = ("ix_journal_ts", "ix_journal_kind", "ix_journal_key", "ix_orders_symbol", "ix_orders_parent_id",
                   "ix_fills_client_order_id")

TABLES = [t.__table__ for t in (OrderRow, FillRow, PositionRow, WalletRow, MachineSnapshot,
                                 JournalEntry, KpiSnapshot, ControlRow, KvRow)]
__all__ = ["OrderRow", "FillRow", "PositionRow", "WalletRow", "MachineSnapshot", "JournalEntry",
           "KpiSnapshot", "ControlRow", "KvRow", "TABLES", "INTENT", "TERMINAL", "json_text"]
