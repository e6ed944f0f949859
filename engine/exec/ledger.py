"""Where execution records its facts: intents, acknowledgements, fills, journal notes.

`StoreLedger` (durability "full") writes each fact through the Store at once;
intents are committed before the venue is called (write-ahead). `BufferedLedger`
(durability "batch", backtests and replays) collects the same facts and writes
them in bulk inside the next checkpoint transaction, so orders, fills,
positions, wallets and machine snapshots always land together.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from engine.domain import Domain, Fill, OrderRequest
from state.batch import INTENT_COLUMNS
from state.journal import funding_key

if TYPE_CHECKING:
    from adapters.base import VenueEvent
    from engine.exec.handles import OrderHandle
    from engine.run.book import DomainBook

FINAL = frozenset({"filled", "canceled", "rejected", "expired"})
# A status only moves forward; final ones never change (as Store.record_ack enforces).
_QTY, _PRICE = INTENT_COLUMNS.index("qty"), INTENT_COLUMNS.index("price")
RANK = {"intent": 0, "unknown": 0, "accepted": 1, "triggered": 2, "partially_filled": 3}


def recall(store: Any, client_order_id: str) -> tuple[OrderRequest, Domain, set[str]] | None:
    """The order as the store holds it (as sent), its domain, and the ids of the fills stored for it
    (Execution._recall); None when the store has no such order."""
    row = store.order(client_order_id)
    if row is None:
        return None
    return row.to_request(), Domain(row.domain), {f.fill_id for f in store.fills(client_order_id)}


def funding_reason(event: "VenueEvent") -> str:
    paid = event.detail["paid"]
    return (f"funding {event.detail['rate']:+.6%} on {event.detail['qty']:g} {event.symbol}: "
            f"{'paid' if paid > 0 else 'received'} {abs(paid):.6g}")


class StoreLedger:
    def __init__(self, store: Any, mode: str) -> None:
        self.store, self.mode = store, mode
        # Final machine states of orders retired since the last flush: states, not handles, so
        # a retired order and all it references are freed at once, not at the checkpoint.
        self._final: dict[str, str] = {}

    def intent(self, order: "OrderHandle") -> None:
        self.store.record_intent(order.request, order.domain, self.mode, machine_state=order.instance.state)
        self.store.commit()  # write-ahead: durable before the venue hears of it

    def ack(self, order: "OrderHandle", status: str, reason: str) -> None:
        self.store.record_ack(order.id, status, reason=reason)

    def amend(self, order: "OrderHandle", qty: float, price: float | None, reason: str) -> None:
        self.store.record_amend(order.id, qty, price, reason=reason)

    def figures(self, order: "OrderHandle", qty: float, price: float | None) -> None:
        self.store.record_amend(order.id, qty, price, journal=False)

    def fill(self, order: "OrderHandle", fill: Fill, multiplier: float) -> None:
        # One transaction: a crash between the fill and its credit would lose the credit for
        # good, as the re-processed bar finds the fill stored (idempotent by fill id) and
        # books nothing.
        with self.store.atomic():
            result = self.store.record_fill(fill, multiplier=multiplier, settle=False)  # "filled": the venue's ack
            if result.recorded and result.realized_pnl:
                self.store.credit(order.domain, self.mode, result.realized_pnl, f"fill {fill.fill_id}", realized=True)

    def late_fill(self, order: "OrderHandle", fill: Fill, multiplier: float) -> None:
        """A fill for an order execution retired: added to its row, whose final status stands."""
        self.fill(order, fill, multiplier)

    def funding(self, domain: Domain, event: "VenueEvent") -> None:
        # Idempotent by symbol and funding time: a re-processed bar after a crash hears it again.
        self.store.record_funding(domain, self.mode, event.symbol, event.ts, event.detail, funding_reason(event))

    def journal(self, kind: str, key: str, payload: dict, reason: str = "", ts: float | None = None) -> None:
        """`ts`: when it happened, where that is not now (a timer's transition: its deadline)."""
        self.store.journal(kind, key, payload, reason=reason, ts=ts)

    def retired(self, order: "OrderHandle") -> None:
        """Execution forgot `order`: its machine state now is its final one (the venue's synchronous
        answer, a cancel's, was booked while the order was still leaving the state before)."""
        self._final[order.id] = order.instance.state

    def recall(self, client_order_id: str) -> tuple[OrderRequest, Domain, set[str]] | None:
        return recall(self.store, client_order_id)

    @property
    def pending(self) -> bool:
        """Whether the next flush has anything to write."""
        return bool(self._final)

    def state(self) -> dict:
        return {}  # the store holds every status already

    def load(self, rows: dict) -> None:
        pass

    def flush(self, books: Iterable["DomainBook"], orders: Iterable["OrderHandle"]) -> None:
        """The machine state of every order tracked or retired since the last flush, for `engine
        status` and reconciliation. Not journaled: the checkpoint's snapshots and the audit
        trail hold every transition."""
        states, self._final = self._final, {}
        states.update((o.id, o.instance.state) for o in orders)
        self.store.set_machine_states(states)


class BufferedLedger:
    def __init__(self, store: Any, mode: str, now: Callable[[], float], spec_hash: str) -> None:
        from state.batch import Batch
        from state.models import json_text

        self.store, self.mode, self.now, self.spec_hash = store, mode, now, spec_hash
        self._new, self._text = Batch, json_text
        self.batch = Batch()
        self.rows: dict[str, dict[str, Any]] = {}  # status of orders not yet final, across flushes
        self._ack_texts: dict[str, str] = {}  # an ack's payload text by status: half the journal rows

    def intent(self, order: "OrderHandle") -> None:
        r, b = order.request, self.batch
        oid, side, role = r.client_order_id, r.side.value, r.role.value  # an enum's .value costs ~0.2 us
        # A list: `figures` sets the venue's qty and price in place.
        b.intents[oid] = [oid, r.symbol, side, r.qty, r.type.value, r.price, r.reduce_only, role, r.parent_id,
                          order.domain.value, self.mode, r.strategy, r.quote_id,
                          self._text(list(r.tags)) if r.tags else "[]", r.ts, ""]
        if oid in self.rows:  # a resumed run re-processing its bars
            self._update(order, oid, "intent")
        else:
            b.order_updates[oid] = self.rows[oid] = {"status": "intent", "filled_qty": 0.0,
                                                     "machine_state": order.instance.state}
        self.journal("intent", oid, {"symbol": r.symbol, "side": side, "qty": r.qty, "role": role,
                                     "quote_id": r.quote_id})

    def ack(self, order: "OrderHandle", status: str, reason: str) -> None:
        oid = order.id
        self._update(order, oid, status)
        text = self._ack_texts.get(status)
        if text is None:
            text = self._ack_texts[status] = self._text({"status": status})
        self._append("ack", oid, text, reason)

    def amend(self, order: "OrderHandle", qty: float, price: float | None, reason: str) -> None:
        self.figures(order, qty, price)
        self.journal("amend", order.id, {"qty": qty, "price": price}, reason)

    def figures(self, order: "OrderHandle", qty: float, price: float | None) -> None:
        """The order's qty and price as the venue holds them (conformed at submit, or amended)."""
        row = self.batch.intents.get(order.id)
        if row is not None:  # not written yet: it goes in with the venue's figures
            row[_QTY], row[_PRICE] = qty, price
        else:
            self.batch.figures[order.id] = (qty, price)

    def fill(self, order: "OrderHandle", fill: Fill, multiplier: float) -> None:
        oid = order.id
        row = self.rows.get(oid)
        filled = (0.0 if row is None else row["filled_qty"]) + fill.qty
        # "filled" is the venue's word (Execution.journal_report): an amended leg's request qty
        # is stale, and the venue fills what it conformed to its grid, not the float requested.
        self._update(order, oid, "partially_filled", filled)
        self._fill_row(fill)

    def _fill_row(self, fill: Fill) -> None:
        self.batch.fills.append((fill.fill_id, fill.client_order_id, fill.symbol, fill.side.value, fill.qty, fill.price,
                                 fill.fee, fill.ts, fill.quote_id, fill.liquidity))
        self.journal("fill", fill.fill_id, {"order": fill.client_order_id, "qty": fill.qty, "price": fill.price,
                                            "fee": fill.fee})

    def late_fill(self, order: "OrderHandle", fill: Fill, multiplier: float) -> None:
        """A fill for an order execution retired: added to its row, whose final status stands. A
        row already written and forgotten (the status of an order written with its final one is
        not kept, state()) takes the fill's qty in the store, as Store.record_fill adds it."""
        if order.id in self.rows:
            self.fill(order, fill, multiplier)
            return
        self._fill_row(fill)
        self.batch.late_fills.append((fill.qty, order.id, fill.fill_id))

    def funding(self, domain: Domain, event: "VenueEvent") -> None:
        """Journaled now; the wallet and position move with the book, written at the next flush."""
        self.journal("funding", funding_key(event.symbol, event.ts),
                     {"symbol": event.symbol, "domain": domain.value, "mode": self.mode, **event.detail}, funding_reason(event))

    def journal(self, kind: str, key: str, payload: dict, reason: str = "", ts: float | None = None) -> None:
        """`ts`: when it happened, where that is not now (a timer's transition: its deadline)."""
        self._append(kind, key, self._text(payload), reason, ts)

    def _append(self, kind: str, key: str, text: str, reason: str, ts: float | None = None) -> None:
        """A journal row (JOURNAL_COLUMNS), its payload already JSON text."""
        self.batch.journal.append((self.now() if ts is None else ts, kind, key, text, self.spec_hash, reason))

    def retired(self, order: "OrderHandle") -> None:
        """Execution forgot `order`: its machine state now is its final one (the venue's synchronous
        answer, a cancel's, was booked while the order was still leaving the state before). Its row
        holds the state, not the handle, so the order is freed now, not at the next flush. An order
        never sent (DENIED, or canceled before its submit) has no row, and gets none: one would
        be carried, as an intent, in every checkpoint."""
        if order.id in self.rows:
            self._update(order, order.id)

    def recall(self, client_order_id: str) -> tuple[OrderRequest, Domain, set[str]] | None:
        """As stored at the last checkpoint: a late fill of an order sent since is not found."""
        return recall(self.store, client_order_id)

    def state(self) -> dict:
        """Statuses of orders still working: part of the run's checkpoint."""
        return self.rows

    def load(self, rows: dict) -> None:
        self.rows = {k: dict(v) for k, v in rows.items()}

    @property
    def pending(self) -> bool:
        """Whether the next flush has anything to write."""
        return bool(self.batch)

    def flush(self, books: Iterable["DomainBook"], orders: Iterable["OrderHandle"]) -> None:
        b = self.batch
        tracked = set()
        for o in orders:
            tracked.add(o.request.client_order_id)
            self._update(o, o.request.client_order_id)
        for book in books:
            if book.balance < 0:
                raise ValueError(f"{book.domain.value} wallet would go negative ({book.balance:.2f}): refusing to "
                                 "write it; close-only until an operator looks")
            b.wallets[(book.domain.value, self.mode)] = {"balance": book.balance,
                                                         "realized_pnl": book.balance - book.start_balance,
                                                         "updated_ts": self.now()}
            for sym, p in book.positions.items():
                b.positions[(sym, book.domain.value, self.mode)] = {
                    "symbol": sym, "domain": book.domain.value, "mode": self.mode, "qty": p.qty,
                    "avg_price": p.avg_price, "realized_pnl": p.realized_pnl, "opened_ts": p.opened_ts, "extra": {}}
        self.store.write_batch(b)
        self.batch = self._new()
        # A final order is forgotten once execution no longer tracks it (a filled entry stays
        # tracked while its bracket is open): forgotten earlier, the next flush would write
        # it back as a fresh intent.
        self.rows = {k: r for k, r in self.rows.items() if r["status"] not in FINAL or k in tracked}

    def _update(self, order: "OrderHandle", oid: str, status: str | None = None,
                filled_qty: float | None = None) -> None:
        row = self.rows.get(oid)
        if row is None:
            row = self.rows[oid] = {"status": "intent", "filled_qty": 0.0, "machine_state": ""}
        if status is not None and row["status"] not in FINAL and RANK.get(status, 9) >= RANK.get(row["status"], 9):
            row["status"] = status
        if filled_qty is not None:
            row["filled_qty"] = filled_qty
        row["machine_state"] = order.instance.state
        self.batch.order_updates[oid] = row
