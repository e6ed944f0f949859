"""The Store: the engine's one door to durable state.

Write-ahead discipline: `record_intent` journals and commits an order before
the venue ever hears of it; `reconcile` heals what a crash left behind.
Every write is a unit (a savepoint): it applies entirely or not at all, and
is journaled in the same transaction as the fact it records.

Durability "full" commits (fsync) after every unit; "batch" commits every
`batch_size` units or on `commit()` (backtests). `atomic()` groups several
units into one all-or-nothing commit. The operator channel always commits at
once: another process is waiting on it.

Rows returned are detached snapshots: changing them changes nothing stored.
"""
from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, fields
from enum import Enum
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, bindparam, create_engine, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from engine.domain import Domain, Fill, Mode, OrderRequest, Position, Side
from state import control, journal
from state.control import Command
from state.db import Durability, make_engine, parse_url, resolve_url, shown_url
from state.batch import FILL_COLUMNS, INTENT_COLUMNS, JOURNAL_COLUMNS, ORDER_UPDATE_COLUMNS, Batch
from state.ledger import FLAT_EPS, Book, apply_fill
from state.models import (INTENT, TABLES, TERMINAL, ControlRow, FillRow, JournalEntry,
                          KpiSnapshot, KvRow, MachineSnapshot, OrderRow, PositionRow, RETIRED_INDEXES, WalletRow,
                          json_text)

VENUE_STATUSES = frozenset({"accepted", "rejected", "partially_filled", "filled", "canceled",
                            "expired", "triggered", "unknown"})
# Never acknowledged by the venue: what a restart must reconcile.
PENDING = frozenset({INTENT, "unknown"})
READ_WAIT_S = 5.0  # a WAL reader waits only while SQLite recovers a crashed writer's log


class StoreError(Exception):
    """A write the store refuses; nothing was changed."""


class NoStore(StoreError):
    """No run has made the store's tables yet."""


class InsufficientFunds(StoreError):
    pass


class UnknownOrder(StoreError, KeyError):
    pass


class UnknownWallet(StoreError, KeyError):
    pass


class IdCollision(StoreError):
    """Two different requests hashed to one client_order_id."""


@dataclass(frozen=True, slots=True)
class FillResult:
    recorded: bool  # False: this fill_id was already stored, nothing changed
    realized_pnl: float = 0.0  # net of fee; what the engine credits to the wallet


class Store:
    def __init__(self, engine: Engine, durability: Durability, batch_size: int,
                 clock: Callable[[], float], spec_hash: str, shown: str | None = None) -> None:
        self.engine = engine
        self._shown_url = shown or shown_url(engine.url)
        self.durability = durability
        self.batch_size = batch_size
        self.spec_hash = spec_hash
        self._clock = clock
        self._session = Session(engine, expire_on_commit=False)
        self._depth = 0  # open units: commits wait for the outermost
        self._pending = 0  # units written since the last commit
        self.units = 0  # units written since it was opened: by it a checkpoint sees whether any was since the last
        self._repeats: journal.Repeats | None = None  # see replaying()

    @property
    def file(self) -> Path | None:
        """The SQLite file the store is kept in (None: a server's store, or one in memory)."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database)

    @classmethod
    def open(cls, url: str | None = None, path: str | None = None,
             durability: Durability = "full", *, batch_size: int = 500,
             clock: Callable[[], float] = time.time, spec_hash: str = "",
             wait_s: float | None = None) -> "Store":
        """The store at `url` (else `path`, $ENGINE_DB_URL, var/engine.db), its tables made or
        brought up to date. `wait_s` bounds how long a connection waits for another's lock
        (state.db.make_engine; SQLite's default 30 s)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        engine = make_engine(resolve_url(url, path), durability, wait_s)
        with engine.begin() as conn:
            SQLModel.metadata.create_all(conn, tables=TABLES)
            journal.install_append_only(engine, conn)
            _drop_retired_indexes(conn)
            _relax_kpi_columns(conn)
        return cls(engine, durability, batch_size, clock, spec_hash)

    @classmethod
    def open_existing(cls, url: str, *, wait_s: float) -> "Store":
        """The store an engine made, for an operator command (kill, promote): no tables made or
        brought up to date, as that DDL would queue behind the running engine's open transaction
        (on PostgreSQL, and every later statement on those tables behind it); no connect, lock
        or statement waits over `wait_s`. NoStore when no run made its tables."""
        return cls(_made_engine(url, wait_s), "full", 1, time.time, "")

    @classmethod
    def open_readonly(cls, url: str) -> "Store":
        """A store that only reads, for `engine status` and the checks before a run: no tables
        made, and on SQLite a read-only connection with no BEGIN IMMEDIATE, so it never waits on
        the running engine's write lock (WAL readers see the last commit). A server store's
        waits are bounded too, and NoStore says no run made its tables."""
        parsed = parse_url(url)
        if parsed.get_backend_name() != "sqlite":
            return cls(_made_engine(url, READ_WAIT_S), "full", 1, time.time, "")
        target = f"file:{quote(str(Path(parsed.database or '').resolve()))}?mode=ro"
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(target, uri=True, timeout=READ_WAIT_S,
                                                                            check_same_thread=False))
        return cls(_with_tables(engine, shown_url(parsed)), "full", 1, time.time, "", shown=shown_url(parsed))

    @property
    def url(self) -> str:
        return self._shown_url

    def close(self) -> None:
        try:
            self.commit()
        finally:  # a store that failed its commit still lets go of its file
            self._session.close()
            self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions --------------------------------------------------------

    def commit(self) -> None:
        self._session.commit()
        self._session.expunge_all()  # next reads see other processes' commits
        self._pending = 0

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        with self._unit():
            yield

    @contextmanager
    def _unit(self, commit_now: bool = False, savepoint: bool = True) -> Iterator[None]:
        self._depth += 1
        try:
            # One savepoint per outermost unit: a unit inside another (a checkpoint's writes, a
            # fill and its credit) is undone with it, as no caller goes on past its failure.
            if savepoint and self._depth == 1:
                with self._session.begin_nested():
                    yield
            else:  # a single statement, or a unit inside one that has its savepoint
                yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0 and self._pending == 0:
                self._release()
            raise
        self._depth -= 1
        self._pending += 1
        self.units += 1
        if self._depth == 0 and (commit_now or self.durability == "full"
                                 or self._pending >= self.batch_size):
            self.commit()

    def _release(self) -> None:
        """End the transaction of a unit that failed (the savepoint undid it), releasing the write
        lock. Where the connection itself is gone (a server that went away) that commit fails too,
        and must not hide the error that ended the unit: the transaction is rolled back instead."""
        try:
            self.commit()
        except Exception:  # noqa: BLE001 - the unit's own error is the one raised
            with suppress(Exception):
                self._session.rollback()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            yield self._session
        except BaseException:
            if self._depth == 0 and self._pending == 0:
                self._session.rollback()  # a failed read leaves nothing to keep, and no commit would take
            raise
        if self._depth == 0 and self._pending == 0:
            self.commit()  # end the read transaction so other writers are not kept waiting

    def _detach(self, *rows: SQLModel) -> None:
        self._session.flush()
        for row in rows:
            self._session.expunge(row)

    # -- journal -------------------------------------------------------------

    def journal(self, kind: str, key: str, payload: dict[str, Any], spec_hash: str = "",
                reason: str = "", ts: float | None = None) -> int:
        """`ts`: the row's time where it is not the clock's now."""
        with self._unit(savepoint=False):
            seq = self._append(kind, key, payload, spec_hash, reason, ts)
        return seq

    def journal_entries(self, kind: str | None = None, key: str | None = None,
                        after_seq: int = 0, limit: int | None = None) -> list[JournalEntry]:
        with self._read() as s:
            rows = journal.entries(s, kind, key, after_seq, limit)
            self._detach(*rows)
            return rows

    def iter_journal(self, page: int = 10_000) -> Iterator[JournalEntry]:
        """The whole journal in seq order, a page at a time: a long run's journal need not fit
        in memory at once."""
        after = 0
        while rows := self.journal_entries(after_seq=after, limit=page):
            yield from rows
            after = rows[-1].seq

    def replaying(self, after_seq: int) -> None:
        """A run resumes from the checkpoint whose journal row is `after_seq`: the rows after it
        that its re-processing makes again are not written twice (journal.Repeats)."""
        self._repeats = journal.Repeats(self.journal_entries(after_seq=after_seq))

    def remaking(self) -> bool:
        """Is the resumed run still re-making what the crashed run journaled after its checkpoint?
        True while rows of it are not made again and the clock has not reached the last of them
        (between rows, the row at that time is done): bounded by that time, so a row the resumed
        run never makes again (a start's own rows, at the checkpoint's time) cannot hold it."""
        return bool(self._repeats) and self._clock() < self._repeats.until

    def _append(self, kind: str, key: str, payload: dict[str, Any], spec_hash: str = "",
                reason: str = "", ts: float | None = None) -> int:
        if self._repeats:
            seq = self._repeats.take(kind, key, payload)
            if seq is not None:
                return seq
        return journal.append(self._session, self._clock() if ts is None else ts, kind, key, payload,
                              spec_hash or self.spec_hash, reason)

    # -- orders and fills ----------------------------------------------------

    def record_intent(self, req: OrderRequest, domain: Domain | str, mode: Mode | str = "paper",
                      *, machine_state: str = "", spec_hash: str = "", reason: str = "") -> OrderRow:
        """Journal the order before the venue sees it. An id already stored returns its row."""
        dom, md = Domain(domain).value, _mode(mode)
        with self._unit():
            row = self._order(req.client_order_id)
            if row is not None:
                self._same_request(row, req, dom, md)
            else:
                row = _order_row(req, dom, md, machine_state)
                self._session.add(row)
                self._append("intent", req.client_order_id,
                             {**_jsonable(req), "domain": dom, "mode": md}, spec_hash, reason)
            self._detach(row)
        return row

    def _same_request(self, row: OrderRow, req: OrderRequest, domain: str, mode: str) -> None:
        """Refuse a different request under a stored id. The row holds the venue's qty and price
        (its clamp at submit, later amends); a run resumed after a crash re-sends the request
        as it was first journaled, so that is the one it must equal."""
        if (row.domain, row.mode) == (domain, mode) and row.to_request() == req:
            return
        first = journal.entries(self._session, "intent", req.client_order_id, limit=1)
        if not (first and first[0].payload == {**_jsonable(req), "domain": domain, "mode": mode}):
            raise IdCollision(f"client_order_id {req.client_order_id} is already stored for a "
                              "different request; refusing to overwrite it")

    def write_batch(self, batch: Batch) -> None:
        """Write a Batch with bulk statements inside the current transaction (commit decides).

        Intents and fills already stored are skipped (idempotent, as record_intent and
        record_fill are); orders, positions and wallets take the batch's latest values.
        """
        if not batch:
            return
        with self._unit():
            conn = self._session.connection()
            if conn.dialect.name == "sqlite":
                _write_sqlite(conn, batch)
            else:
                _write_core(conn, batch)
            if batch.positions:
                conn.execute(_upsert(conn, PositionRow, ["symbol", "domain", "mode"]), list(batch.positions.values()))
            if batch.wallets:
                conn.execute(_WALLET_UPDATE, [{"b_domain": d, "b_mode": m, **v} for (d, m), v in batch.wallets.items()])
        self._session.expire_all()

    def record_ack(self, client_order_id: str, status: str = "accepted", venue_order_id: str = "",
                   reason: str = "") -> OrderRow:
        if status not in VENUE_STATUSES:
            raise ValueError(f"unknown venue status {status!r}; expected one of {sorted(VENUE_STATUSES)}")
        with self._unit():
            row = self._require_order(client_order_id)
            row.status = _advance(row.status, status)
            row.venue_order_id = venue_order_id or row.venue_order_id
            self._append("ack", client_order_id,
                         {"status": status, "stored": row.status, "venue_order_id": venue_order_id},
                         reason=reason)
            self._detach(row)
        return row

    def record_amend(self, client_order_id: str, qty: float, price: float | None, *, reason: str = "",
                     journal: bool = True) -> OrderRow:
        """The order's qty and price as the venue now holds them: after an amend (journaled), or
        as its conformance clamp snapped them at submit (journal=False: the ack is the record)."""
        with self._unit():
            row = self._require_order(client_order_id)
            row.qty, row.price = qty, price
            if journal:
                self._append("amend", client_order_id, {"qty": qty, "price": price}, reason=reason)
            self._detach(row)
        return row

    def record_fill(self, fill: Fill, *, multiplier: float = 1.0, reason: str = "",
                    settle: bool = True) -> FillResult:
        """Store a fill and move its order and position, once per fill_id. With settle=False the
        order stays partially filled until the venue's own report says filled (record_ack):
        "filled" is the venue's word, whatever the float sum of the fills says."""
        with self._unit():
            if self._session.scalar(select(FillRow.id).where(FillRow.fill_id == fill.fill_id)):
                return FillResult(recorded=False)
            order = self._require_order(fill.client_order_id)
            if fill.symbol != order.symbol or fill.side.value != order.side:
                raise StoreError(f"fill {fill.fill_id} ({fill.symbol} {fill.side.value}) does not "
                                 f"match order {order.client_order_id} ({order.symbol} {order.side})")
            self._session.add(FillRow(**_jsonable(fill)))
            order.filled_qty += fill.qty
            if order.status not in TERMINAL:
                done = settle and order.filled_qty >= order.qty - FLAT_EPS
                order.status = "filled" if done else "partially_filled"
            pnl = self._move_position(order, fill, multiplier)
            self._append("fill", fill.fill_id, {**_jsonable(fill), "realized_pnl": pnl},
                         reason=reason)
        return FillResult(recorded=True, realized_pnl=pnl)

    def set_machine_states(self, states: dict[str, str]) -> None:
        """Orders' machine states (client_order_id -> state) as a checkpoint finds them, in one
        statement. Not journaled: the machine snapshots saved with the checkpoint, and the audit
        trail, hold every transition."""
        if not states:
            return
        with self._unit(savepoint=False):
            self._session.connection().execute(_MACHINE_STATE_UPDATE, [{"b_id": k, "machine_state": v}
                                                                       for k, v in states.items()])
        self._session.expire_all()  # an order row the session holds has a stale machine_state

    def pending_intents(self) -> list[OrderRequest]:
        """Intents journaled but never acknowledged, oldest first: after a crash, the orders whose fate
        only the venue knows (a resume reconciles them through their order machines' snapshots)."""
        return [r.to_request() for r in self._orders_where(OrderRow.status.in_(PENDING))]

    def order(self, client_order_id: str) -> OrderRow | None:
        with self._read():
            row = self._order(client_order_id)
            if row is not None:
                self._detach(row)
            return row

    def orders(self) -> list[OrderRow]:
        return self._orders_where(None)

    def fills(self, client_order_id: str | None = None) -> list[FillRow]:
        query = select(FillRow).order_by(FillRow.id)
        if client_order_id is not None:
            query = query.where(FillRow.client_order_id == client_order_id)
        return self._all(query)

    def _order(self, client_order_id: str) -> OrderRow | None:
        return self._session.scalar(select(OrderRow).where(OrderRow.client_order_id == client_order_id))

    def _require_order(self, client_order_id: str) -> OrderRow:
        row = self._order(client_order_id)
        if row is None:
            raise UnknownOrder(f"no order {client_order_id!r}: record_intent must come first")
        return row

    def _orders_where(self, condition: Any) -> list[OrderRow]:
        query = select(OrderRow).order_by(OrderRow.id)
        return self._all(query if condition is None else query.where(condition))

    def _all(self, query: Any) -> list:
        with self._read() as s:
            rows = list(s.scalars(query))
            self._detach(*rows)
            return rows

    # -- positions -----------------------------------------------------------

    def position(self, symbol: str, domain: Domain | str, mode: Mode | str = "paper") -> Position:
        with self._read() as s:
            row = s.get(PositionRow, (symbol, Domain(domain).value, _mode(mode)))
            return row.to_position() if row else Position(symbol, Domain(domain))

    def positions(self, mode: Mode | str | None = None) -> list[PositionRow]:
        query = select(PositionRow).order_by(PositionRow.domain, PositionRow.symbol)
        return self._all(query if mode is None else query.where(PositionRow.mode == _mode(mode)))

    def _move_position(self, order: OrderRow, fill: Fill, multiplier: float) -> float:
        key = (order.symbol, order.domain, order.mode)
        row = self._session.get(PositionRow, key) or PositionRow(
            symbol=key[0], domain=key[1], mode=key[2])
        book, pnl = apply_fill(Book(row.qty, row.avg_price, row.realized_pnl, row.opened_ts),
                               fill.side, fill.qty, fill.price, fill.fee, fill.ts, multiplier)
        row.qty, row.avg_price = book.qty, book.avg_price
        row.realized_pnl, row.opened_ts = book.realized_pnl, book.opened_ts
        self._session.add(row)
        return pnl

    def record_funding(self, domain: Domain | str, mode: Mode | str, symbol: str, ts: float,
                       detail: dict[str, Any], reason: str) -> bool:
        """Book one perp funding payment (`detail["paid"]` leaves the wallet; negative: received)
        into the wallet and the position's realized P&L, once per symbol and funding time: a
        re-processed bar after a crash hears the venue's event again. False if already booked."""
        dom, md = Domain(domain).value, _mode(mode)
        booked = f"funding/{dom}/{md}/{symbol}"  # the last funding time booked
        with self._unit():
            last = self._session.get(KvRow, booked)
            if last is not None and last.value >= ts:
                return False
            paid, key = detail["paid"], journal.funding_key(symbol, ts)
            self.credit(dom, md, -paid, f"funding {key}", realized=True)  # as a fill's credit names its fill
            pos = self._session.get(PositionRow, (symbol, dom, md))
            if pos is not None:
                pos.realized_pnl -= paid
                self._session.add(pos)
            self._append("funding", key, {"symbol": symbol, "domain": dom, "mode": md, **detail}, reason=reason)
            self.put_json(booked, ts)
        return True

    # -- wallets: one per domain and mode; no call moves money between two --

    def open_wallet(self, domain: Domain | str, mode: Mode | str, start_balance: float,
                    reason: str = "", detail: dict[str, Any] | None = None) -> WalletRow:
        """Create a wallet funded once; an existing wallet is returned unchanged. `detail` goes
        into the `wallet_open` journal row beside the start balance (the engine's: the wallet's
        currency and the USD rate it was funded at, which `engine status` reads back)."""
        dom, md = Domain(domain).value, _mode(mode)
        if not math.isfinite(start_balance) or start_balance < 0:
            raise StoreError(f"start balance must be a finite amount >= 0, got {start_balance}")
        with self._unit():
            row = self._session.get(WalletRow, (dom, md))
            if row is None:
                row = WalletRow(domain=dom, mode=md, balance=start_balance,
                                start_balance=start_balance, updated_ts=self._clock())
                self._session.add(row)
                self._append("wallet_open", f"{dom}/{md}", {"start_balance": start_balance, **(detail or {})},
                             reason=reason)
            self._detach(row)
        return row

    def wallet(self, domain: Domain | str, mode: Mode | str) -> WalletRow:
        dom, md = Domain(domain).value, _mode(mode)
        with self._read() as s:
            row = s.get(WalletRow, (dom, md))
            if row is None:
                raise UnknownWallet(f"no {md} wallet for {dom}: open_wallet first")
            self._detach(row)
            return row

    def wallets(self) -> list[WalletRow]:
        return self._all(select(WalletRow).order_by(WalletRow.domain, WalletRow.mode))

    def credit(self, domain: Domain | str, mode: Mode | str, amount: float, reason: str,
               *, realized: bool = False) -> float:
        """Add `amount` (negative: a debit) to one wallet; returns the new balance.

        A debit below zero raises InsufficientFunds and changes nothing.
        `realized` also books the amount as realized P&L.
        """
        if not math.isfinite(amount):
            raise StoreError(f"amount must be finite, got {amount}")
        if not reason:
            raise StoreError("every wallet movement needs a reason (audit)")
        dom, md = Domain(domain).value, _mode(mode)
        with self._unit():
            row = self._session.get(WalletRow, (dom, md))
            if row is None:
                raise UnknownWallet(f"no {md} wallet for {dom}: open_wallet first")
            if row.balance + amount < 0:
                raise InsufficientFunds(f"{dom}/{md} holds {row.balance:.2f}; "
                                        f"a debit of {-amount:.2f} would make it negative")
            row.balance += amount
            row.realized_pnl += amount if realized else 0.0
            row.updated_ts = self._clock()
            self._append("credit", f"{dom}/{md}",
                         {"amount": amount, "balance": row.balance, "realized": realized},
                         reason=reason)
            balance = row.balance
        return balance

    # -- machine snapshots, KPIs, key-value ----------------------------------

    def save_snapshots(self, snapshots: Iterable[tuple[str, str, str, dict[str, Any]]]) -> None:
        """Store (machine, instance_id, spec_hash, data) snapshots together, each replacing its
        instance's earlier one (a checkpoint saves every live instance)."""
        rows = {(m, i): (h, d) for m, i, h, d in snapshots}
        if not rows:
            return
        ts = self._clock()
        with self._unit():
            conn = self._session.connection()
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(_SQLITE_SNAPSHOT_UPSERT, [(m, i, h, json_text(d), ts)
                                                               for (m, i), (h, d) in rows.items()])
            else:
                for (m, i), (h, d) in rows.items():
                    row = self._session.get(MachineSnapshot, (m, i)) or MachineSnapshot(
                        machine=m, instance_id=i, spec_hash=h, updated_ts=ts)
                    row.spec_hash, row.data, row.updated_ts = h, d, ts
                    self._session.add(row)

    def load_snapshots(self, machine: str, ids: Collection[str] | None = None) -> dict[str, MachineSnapshot]:
        """`machine`'s saved snapshots, or only those of the instances `ids`: the store keeps every
        instance a run ever saved (a long run's orders and brackets by the ten thousand), while a
        resume or `engine status` needs the few its checkpoint names."""
        query = select(MachineSnapshot).where(MachineSnapshot.machine == machine)
        if ids is not None:
            query = query.where(MachineSnapshot.instance_id.in_(list(ids)))
        return {r.instance_id: r for r in self._all(query)}

    def put_kpis(self, *, stage: int, domain: Domain | str, mode: Mode | str, trades: int,
                 win_rate: float | None, sharpe: float | None, sortino: float | None, max_dd: float,
                 profit_factor: float | None, expectancy: float | None, ts: float | None = None) -> int:
        row = KpiSnapshot(ts=self._clock() if ts is None else ts, stage=stage,
                          domain=Domain(domain).value, mode=_mode(mode), trades=trades,
                          win_rate=win_rate, sharpe=sharpe, sortino=sortino, max_dd=max_dd,
                          profit_factor=profit_factor, expectancy=expectancy)
        with self._unit():
            self._session.add(row)
            self._session.flush()
            kpi_id = int(row.id)
        return kpi_id

    def kpis(self, stage: int | None = None, domain: Domain | str | None = None) -> list[KpiSnapshot]:
        query = select(KpiSnapshot).order_by(KpiSnapshot.ts, KpiSnapshot.id)
        if stage is not None:
            query = query.where(KpiSnapshot.stage == stage)
        if domain is not None:
            query = query.where(KpiSnapshot.domain == Domain(domain).value)
        return self._all(query)

    def put_json(self, key: str, value: Any) -> None:
        with self._unit():
            conn = self._session.connection()
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(_SQLITE_KV_UPSERT, (key, json_text(value), self._clock()))
            else:
                row = self._session.get(KvRow, key) or KvRow(key=key, updated_ts=self._clock())
                row.value, row.updated_ts = value, self._clock()
                self._session.add(row)
            self._append("kv", key, {"value": value})

    def get_json(self, key: str, default: Any = None) -> Any:
        with self._read() as s:
            row = s.get(KvRow, key)
            return default if row is None else row.value

    # -- operator control channel --------------------------------------------

    def post_command(self, command: str, args: dict[str, Any] | None = None) -> int:
        with self._unit(commit_now=True):
            command_id = control.post(self._session, self._clock(), command, dict(args or {}))
        return command_id

    def withdraw_command(self, command_id: int) -> bool:
        """Mark a command taken unless an engine took it first (one UPDATE: never both): True if
        this withdrew it, so no engine ever will."""
        with self._unit(commit_now=True):
            return control.withdraw(self._session, self._clock(), command_id)

    def take_commands(self) -> list[Command]:
        """Claim every unconsumed command, journal each, and commit before returning (a batch
        left open is committed too, releasing the write lock `engine kill` waits on). Inside
        an atomic() unit (a run's checkpoint) the claim commits with the unit, or not at all."""
        if not self._session.in_transaction() and not self._commands_waiting():
            return []
        with self._unit(commit_now=True):
            taken = control.take(self._session, self._clock())
            for c in taken:
                self._append("command", c.command, {"id": c.id, "args": c.args, "posted_ts": c.ts})
        return taken

    def commands_waiting(self) -> bool:
        """Is any command unconsumed? First a batch left open is committed: it holds the write
        lock `engine kill` waits on to post one."""
        if self._depth == 0 and self._session.in_transaction():
            self.commit()
        return self._commands_waiting()

    def _commands_waiting(self) -> bool:
        """Is any command unconsumed? A run polls every 0.25 s and almost never finds one: this
        read, on a pooled connection of its own in autocommit, costs ~0.1 ms where the claim's
        ORM transaction costs ~1.4 ms (~0.5% of a replay). A command posted after the read is
        taken at the next poll; the claim alone decides who gets it."""
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(_COMMAND_WAITING)
            return cur.fetchone() is not None
        finally:
            conn.close()

    def commands(self) -> list[ControlRow]:
        return self._all(select(ControlRow).order_by(ControlRow.id))


STORE_ID_KEY = "store/id"


def store_id(conn: Any, *, make: bool = False) -> str | None:
    """The store's own identity: a random id in its kv table, written once (`make`: its kv table
    made if need be, as `engine run` does first on a server store, under the run lock). Every
    spelling of a server store's URL (localhost or 127.0.0.1, another driver) reads the same id,
    so its local files are found by it (state.runlock.run_files). None before it is made. Not
    journaled: it is no fact of a run. `conn` commits each statement (autocommit)."""
    import secrets

    from sqlalchemy import inspect, insert
    from sqlalchemy.exc import IntegrityError

    table = KvRow.__table__
    found = select(table.c.value).where(table.c.key == STORE_ID_KEY)
    if not make:
        return conn.execute(found).scalar() if inspect(conn).has_table(table.name) else None
    table.create(conn, checkfirst=True)
    if conn.execute(found).scalar() is None:
        with suppress(IntegrityError):  # another engine made it this instant: its id stands
            conn.execute(insert(table).values(key=STORE_ID_KEY, value=secrets.token_hex(8), updated_ts=time.time()))
    return conn.execute(found).scalar()


def _made_engine(url: str, wait_s: float) -> Engine:
    """An engine on the store at `url`, no wait over `wait_s`; NoStore when no run made its tables."""
    engine = make_engine(url, "full", wait_s)
    return _with_tables(engine, shown_url(engine.url))


def _with_tables(engine: Engine, shown: str) -> Engine:
    """`engine`, if a run made the store's tables there; else NoStore (disposed). The one test of
    "no run yet" for every command that opens an existing store: a run killed while it started
    leaves a file with none (empty, or SQLite's header only), which is no run, not a bad store."""
    from sqlalchemy import inspect

    try:
        with engine.connect() as conn:
            made = inspect(conn).has_table(ControlRow.__tablename__)
    except BaseException:
        engine.dispose()
        raise
    if not made:
        engine.dispose()
        raise NoStore(f"no store tables in {shown}")
    return engine


def _drop_retired_indexes(conn: Any) -> None:
    """A file made by an earlier version sheds the indexes no query uses (a no-op after once)."""
    if conn.dialect.name in ("sqlite", "postgresql"):  # both know DROP INDEX IF EXISTS
        for name in RETIRED_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def _relax_kpi_columns(conn: Any) -> None:
    """A store made by an earlier version has NOT NULL KPI columns, where a figure that does not
    exist is now NULL (the model's nullable columns): let them take it (a no-op after once).
    SQLite cannot drop a column's NOT NULL, so its small table is copied into the current shape."""
    from sqlalchemy import inspect

    table = KpiSnapshot.__table__
    found = {c["name"]: c["nullable"] for c in inspect(conn).get_columns(table.name)}
    strict = [c.name for c in table.columns if c.nullable and found.get(c.name) is False]
    if not strict:
        return
    if conn.dialect.name != "sqlite":
        for name in strict:
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ALTER COLUMN {name} DROP NOT NULL")
        return
    names = ", ".join(c.name for c in table.columns)
    conn.exec_driver_sql(f"ALTER TABLE {table.name} RENAME TO {table.name}_strict")
    for index in table.indexes:  # the renamed table keeps its indexes, under the names the new one needs
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
    table.create(conn)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {table.name}_strict")
    conn.exec_driver_sql(f"DROP TABLE {table.name}_strict")


def _mode(mode: Mode | str) -> str:
    md = Mode(mode)
    if md is Mode.OFF:
        raise StoreError("a domain that is off has no wallet, orders or positions")
    return md.value


def _jsonable(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = value.value if isinstance(value, Enum) else list(value) if isinstance(value, tuple) else value
    return out


def _order_row(req: OrderRequest, domain: str, mode: str, machine_state: str) -> OrderRow:
    return OrderRow(client_order_id=req.client_order_id, machine_state=machine_state,
                    symbol=req.symbol, side=Side(req.side).value, qty=req.qty,
                    type=req.type.value, price=req.price, reduce_only=req.reduce_only,
                    role=req.role.value, parent_id=req.parent_id, domain=domain, mode=mode,
                    strategy=req.strategy, quote_id=req.quote_id, tags=list(req.tags), ts=req.ts)




def _advance(current: str, new: str) -> str:
    """Statuses only move forward: a terminal one is final, a late ack does not undo a fill."""
    if current in TERMINAL:
        return current
    if new == "accepted" and current in ("partially_filled", "triggered"):
        return current
    return new


_ORDER_UPDATE = (update(OrderRow.__table__).where(OrderRow.__table__.c.client_order_id == bindparam("b_id"))
                 .values(status=bindparam("status"), filled_qty=bindparam("filled_qty"),
                         machine_state=bindparam("machine_state")))
_MACHINE_STATE_UPDATE = (update(OrderRow.__table__).where(OrderRow.__table__.c.client_order_id == bindparam("b_id"))
                         .values(machine_state=bindparam("machine_state")))
_FIGURES_UPDATE = (update(OrderRow.__table__).where(OrderRow.__table__.c.client_order_id == bindparam("b_id"))
                   .values(qty=bindparam("qty"), price=bindparam("price")))
_WALLET_UPDATE = (update(WalletRow.__table__)
                  .where(WalletRow.__table__.c.domain == bindparam("b_domain"),
                         WalletRow.__table__.c.mode == bindparam("b_mode"))
                  .values(balance=bindparam("balance"), realized_pnl=bindparam("realized_pnl"),
                          updated_ts=bindparam("updated_ts")))


def _write_core(conn: Any, batch: Batch) -> None:
    """Journal, orders and fills through SQLAlchemy Core (PostgreSQL and other servers). The
    batch's JSON texts are decoded for the JSON type to encode (json.loads reads NaN too)."""
    if batch.journal:
        conn.execute(journal._INSERT, [{**dict(zip(JOURNAL_COLUMNS, row, strict=True)),
                                        "payload": json.loads(row[_PAYLOAD])} for row in batch.journal])
    if batch.intents:
        conn.execute(_insert_ignore(conn, OrderRow, ["client_order_id"]),
                     [{**dict(zip(INTENT_COLUMNS, row, strict=True)), "tags": json.loads(row[_TAGS]), **_NEW_ORDER}
                      for row in batch.intents.values()])
    if batch.order_updates:
        conn.execute(_ORDER_UPDATE, [{"b_id": k, **v} for k, v in batch.order_updates.items()])
    if batch.figures:
        conn.execute(_FIGURES_UPDATE, [{"b_id": k, "qty": q, "price": p} for k, (q, p) in batch.figures.items()])
    if batch.late_fills:
        conn.execute(_LATE_FILL, [{"qty": q, "oid": o, "fid": f} for q, o, f in batch.late_fills])
    if batch.fills:
        conn.execute(_insert_ignore(conn, FillRow, ["fill_id"]),
                     [dict(zip(FILL_COLUMNS, row, strict=True)) for row in batch.fills])


# SQLite: the driver binds the rows itself. SQLAlchemy's per-row parameter processing and
# json.dumps cost more than the inserts; JSON columns are written by json_text instead.
# Snapshots and kv rows are written past the ORM session, which holds none of them to go
# stale: load_snapshots detaches what it reads and get_json keeps no row.
_SQLITE_SNAPSHOT_UPSERT = (
    "INSERT INTO machine_snapshots (machine, instance_id, spec_hash, data, updated_ts) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (machine, instance_id) DO UPDATE SET spec_hash = excluded.spec_hash, data = excluded.data, "
    "updated_ts = excluded.updated_ts")
_SQLITE_KV_UPSERT = ("INSERT INTO kv (key, value, updated_ts) VALUES (?, ?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ts = excluded.updated_ts")
_COMMAND_WAITING = "SELECT 1 FROM control WHERE consumed_ts IS NULL LIMIT 1"
_NEW_ORDER = {"status": INTENT, "filled_qty": 0.0, "machine_state": ""}  # an intent with no update
_SQLITE_ORDER_UPDATE = "UPDATE orders SET status = ?, filled_qty = ?, machine_state = ? WHERE client_order_id = ?"
_SQLITE_FIGURES_UPDATE = "UPDATE orders SET qty = ?, price = ? WHERE client_order_id = ?"
# Batch.late_fills, before the fills go in: a fill already stored (by fill_id) adds nothing again.
_LATE_FILL_SQL = ("UPDATE orders SET filled_qty = filled_qty + {q} WHERE client_order_id = {o} "
                  "AND NOT EXISTS (SELECT 1 FROM fills WHERE fills.fill_id = {f})")
_SQLITE_LATE_FILL = _LATE_FILL_SQL.format(q="?", o="?", f="?")
_LATE_FILL = text(_LATE_FILL_SQL.format(q=":qty", o=":oid", f=":fid"))
_ORDER_COLUMNS = INTENT_COLUMNS + ORDER_UPDATE_COLUMNS
_ORDER_UPDATE_ROW = itemgetter(*ORDER_UPDATE_COLUMNS)
_TAGS, _REDUCE_ONLY = INTENT_COLUMNS.index("tags"), INTENT_COLUMNS.index("reduce_only")
_PAYLOAD = JOURNAL_COLUMNS.index("payload")
# Rows per INSERT statement. One statement of many rows pays the per-statement work (step,
# reset, the GIL released and retaken, SQLite's mutexes) once for all of them, where
# executemany pays it per row: a 100k-bar checkpoint's ~62k rows went in 20% fewer
# instructions (50 rows do as well; 1000 do worse, being slower to prepare).
#
# Each statement is INSERT OR FAIL: a multi-row INSERT that may ABORT (any NOT NULL column,
# an upsert's DO UPDATE) opens a statement journal, and copies there every page it is first
# to touch: with random client_order_id and fill_id keys that is one index page per row once
# the index outgrows a statement, written to a temporary file (~13k pages of 16 KiB a
# checkpoint by 300k bars, 28k writes), and a 1M-bar run's checkpoints grew ~60% slower from
# first to last. OR FAIL needs none: a failing row leaves the rows before it in place, and
# write_batch's unit (a savepoint) undoes them with the rest of the batch.
_ROWS_PER_INSERT = 200


def _write_sqlite(conn: Any, batch: Batch) -> None:
    # The driver's own cursor, in the session's transaction: SQLAlchemy's per-statement work
    # would be paid per statement of rows.
    with closing(conn.connection.driver_connection.cursor()) as cur:
        try:
            _write_rows(cur, batch)
        except sqlite3.Error as e:  # as SQLAlchemy raises it: a caller tells the store's file from others'
            raise DBAPIError(None, None, e) from e


def _write_rows(cur: Any, batch: Batch) -> None:
    if batch.journal:
        _insert(cur, "journal", JOURNAL_COLUMNS, list(chain.from_iterable(batch.journal)), "")
    intents, updates = batch.intents, batch.order_updates
    if intents:
        # Every new order already has its latest status (a run's ledger always does): one
        # row per order rather than an insert and then an update. An intent already stored
        # (a resumed run re-processing its bars) takes its update below, as any order does.
        inserted = _insert(cur, "orders", _ORDER_COLUMNS, _order_rows(intents, updates),
                           "ON CONFLICT (client_order_id) DO NOTHING")
        if inserted == len(intents) and intents.keys() <= updates.keys():
            updates = {k: v for k, v in updates.items() if k not in intents}
    if updates:
        cur.executemany(_SQLITE_ORDER_UPDATE, [(*_ORDER_UPDATE_ROW(v), k) for k, v in updates.items()])
    if batch.figures:
        cur.executemany(_SQLITE_FIGURES_UPDATE, [(qty, price, k) for k, (qty, price) in batch.figures.items()])
    if batch.late_fills:
        cur.executemany(_SQLITE_LATE_FILL, batch.late_fills)
    if batch.fills:
        _insert(cur, "fills", FILL_COLUMNS, list(chain.from_iterable(batch.fills)), "ON CONFLICT (fill_id) DO NOTHING")


def _order_rows(intents: dict[str, tuple], updates: dict[str, dict[str, Any]]) -> list:
    """Intent rows with their updates (or a new order's defaults), flat in _ORDER_COLUMNS order.
    Built a column at a time by slice assignment: C loops, where a tuple per row cost ~1 us."""
    src, n, width = list(chain.from_iterable(intents.values())), len(INTENT_COLUMNS), len(_ORDER_COLUMNS)
    flat: list = [None] * (len(intents) * width)
    for j in range(n):
        flat[j::width] = src[j::n]
    # 0 or 1, as SQLite stores a bool: the driver binds an int at once, a bool (an int
    # subclass) only after a failed adapter lookup (~1 us each).
    flat[_REDUCE_ONLY::width] = map(int, src[_REDUCE_ONLY::n])
    rows = [updates.get(k, _NEW_ORDER) for k in intents]
    for j, name in enumerate(ORDER_UPDATE_COLUMNS, n):
        flat[j::width] = [r[name] for r in rows]
    return flat


def _insert(cur: Any, table: str, columns: tuple[str, ...], flat: list, conflict: str) -> int:
    """Insert the rows of `flat` (len(columns) values each, in order) with multi-row statements;
    returns how many were inserted (a conflict skips its row)."""
    width, inserted = len(columns), 0
    step = min(_ROWS_PER_INSERT, cur.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width) * width
    for i in range(0, len(flat), step):
        part = flat[i:i + step]
        cur.execute(_insert_sql(table, columns, len(part) // width, conflict), part)
        inserted += cur.rowcount
    return inserted


@lru_cache(maxsize=32)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int, conflict: str) -> str:
    values = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * rows)
    return f"INSERT OR FAIL INTO {table} ({', '.join(columns)}) VALUES {values} {conflict}"


def _dialect_insert(dialect: str, model: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(model.__table__)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert(model.__table__)


def _insert_ignore(conn: Any, model: Any, keys: list[str]) -> Any:
    return _dialect_insert(conn.dialect.name, model).on_conflict_do_nothing(index_elements=keys)


def _upsert(conn: Any, model: Any, keys: list[str]) -> Any:
    return _upsert_of(conn.dialect.name, model, tuple(keys))


@lru_cache(maxsize=None)
def _upsert_of(dialect: str, model: Any, keys: tuple[str, ...]) -> Any:
    """Built once per table: building it again cost each checkpoint ~0.4 ms (SQLAlchemy caches
    only its compiled form)."""
    stmt = _dialect_insert(dialect, model)
    cols = {c.name: stmt.excluded[c.name] for c in model.__table__.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=cols)
