"""Startup reconciliation: heal the store from venue truth after a crash.

For every intent that was journaled but never acknowledged, and every order
still open, ask the venue what it knows, record the fills we missed, and
decide. The reconciler never submits: an order the venue has never seen is
returned as "resubmit" with its original client_order_id, and stays pending
until acknowledged, so a crash before resubmitting is healed by the next run
and a venue that did see it is never asked twice. Whether the signal still
holds is the engine's call (seed 004: no blind backfill).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from engine.domain import Fill, OrderRequest
from state.store import Store, StoreError

Action = Literal["acknowledged", "rejected", "resubmit", "hold"]
_KNOWN = frozenset({"accepted", "partially_filled", "filled", "canceled", "expired", "triggered"})


class OrderStatus(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def fills(self) -> Sequence[Fill]: ...


class StatusVenue(Protocol):
    """All the reconciler needs from a venue adapter (adapters.base.Venue has it).

    None means the venue holds no record of the order, as "unknown" does.
    """

    def order_status(self, client_order_id: str) -> OrderStatus | None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    client_order_id: str
    venue_status: str
    action: Action
    fills_recorded: int = 0
    reason: str = ""
    request: OrderRequest | None = None  # set for "resubmit": send exactly this again


def reconcile(store: Store, venue: StatusVenue) -> list[Decision]:
    """Decide every pending or open order against the venue; journaled and committed."""
    targets = [(r.client_order_id, True) for r in store.pending_intents()]
    targets += [(r.client_order_id, False) for r in store.open_orders()]
    decisions = [_decide(store, venue, coid, pending) for coid, pending in targets]
    for d in decisions:
        store.journal("reconcile", d.client_order_id,
                      {"venue_status": d.venue_status, "action": d.action,
                       "fills_recorded": d.fills_recorded}, reason=d.reason)
    store.commit()
    return decisions


def _decide(store: Store, venue: StatusVenue, coid: str, pending: bool) -> Decision:
    try:
        report = venue.order_status(coid)
        # Adapters report a str Enum; the store and the journal speak plain strings.
        status = "unknown" if report is None else str(getattr(report.status, "value", report.status))
        fills = [] if report is None else list(report.fills)
    except Exception as exc:  # fail closed: keep it pending, the engine stays close-only
        return Decision(coid, "unreachable", "hold", reason=f"venue error: {type(exc).__name__}: {exc}")
    try:
        recorded = sum(store.record_fill(f, reason="reconcile").recorded for f in fills)
    except StoreError as exc:  # a fill that contradicts the order: a human must look
        return Decision(coid, status, "hold", reason=f"venue fill refused: {exc}")
    if status == "unknown":
        if not pending:
            return Decision(coid, status, "hold", recorded,
                            "venue forgot an order it had acknowledged")
        store.record_ack(coid, "unknown", reason="reconcile: venue never saw it")
        return Decision(coid, status, "resubmit", recorded, "venue never saw it",
                        request=store.order(coid).to_request())
    if status == "rejected":
        store.record_ack(coid, "rejected", reason="reconcile")
        return Decision(coid, status, "rejected", recorded, "venue rejected it")
    if status in _KNOWN:
        store.record_ack(coid, status, reason="reconcile")
        return Decision(coid, status, "acknowledged", recorded, f"venue reports {status}")
    return Decision(coid, status, "hold", recorded, f"unrecognised venue status {status!r}")
