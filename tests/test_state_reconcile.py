"""The reconciler heals pending intents and open orders from venue truth and
never asks for a second submission of an order the venue has seen."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.domain import Fill
from state.reconcile import reconcile
from state.store import Store
from state_support import fill, open_store, order


@dataclass
class Report:
    status: str
    fills: list[Fill] = field(default_factory=list)


class DictVenue:
    """Venue truth as a dict; ids it does not hold are 'unknown'."""

    def __init__(self, truth: dict[str, Report] | None = None) -> None:
        self.truth = truth or {}
        self.asked: list[str] = []

    def order_status(self, client_order_id: str) -> Report:
        self.asked.append(client_order_id)
        return self.truth.get(client_order_id, Report("unknown"))


class DownVenue:
    def order_status(self, client_order_id: str) -> Report:
        raise ConnectionError("venue unreachable")


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path)
    yield s
    s.close()


def _actions(decisions) -> dict[str, str]:
    return {d.client_order_id: d.action for d in decisions}


def test_an_intent_the_venue_never_saw_is_resubmitted_once(store: Store) -> None:
    req = order()
    store.record_intent(req, "crypto_spot")
    [d] = reconcile(store, DictVenue())
    assert (d.action, d.request) == ("resubmit", req)
    assert store.pending_intents() == [req]  # still pending until the venue acknowledges
    # The engine resubmitted, then crashed before recording the ack: the venue now knows it.
    venue = DictVenue({req.client_order_id: Report("accepted")})
    assert _actions(reconcile(store, venue)) == {req.client_order_id: "acknowledged"}
    assert store.pending_intents() == [] and store.order(req.client_order_id).status == "accepted"


def test_works_with_the_adapter_interface(store: Store) -> None:
    from adapters.base import ReportStatus, VenueReport

    seen, unseen = order(0), order(1)
    for r in (seen, unseen):
        store.record_intent(r, "crypto_spot")

    class Adapter:
        def order_status(self, client_order_id: str) -> VenueReport | None:
            if client_order_id != seen.client_order_id:
                return None  # the adapter's way to say it never saw the order
            return VenueReport(client_order_id, ReportStatus.FILLED, (fill(seen),))

    decisions = reconcile(store, Adapter())
    assert [(d.venue_status, d.action) for d in decisions] == [("filled", "acknowledged"),
                                                                ("unknown", "resubmit")]
    assert store.order(seen.client_order_id).status == "filled"
    assert [d.request for d in decisions] == [None, unseen]


def test_missing_fills_are_recorded_once(store: Store) -> None:
    req = order(qty=2.0)
    store.record_intent(req, "crypto_spot")
    fills = [fill(req, 0, qty=1.0), fill(req, 1, qty=1.0, price=101.0)]
    venue = DictVenue({req.client_order_id: Report("filled", fills)})
    [d] = reconcile(store, venue)
    assert (d.action, d.fills_recorded) == ("acknowledged", 2)
    assert store.order(req.client_order_id).status == "filled"
    assert reconcile(store, venue) == []  # nothing pending or open any more
    assert len(store.fills()) == 2 and store.position("BTCUSDT", "crypto_spot").qty == 2.0


def test_fills_missed_on_an_open_order_are_healed(store: Store) -> None:
    req = order(qty=2.0)
    store.record_intent(req, "crypto_spot")
    store.record_ack(req.client_order_id)
    store.record_fill(fill(req, 0, qty=1.0))
    venue = DictVenue({req.client_order_id: Report("filled", [fill(req, 0, qty=1.0), fill(req, 1, qty=1.0)])})
    [d] = reconcile(store, venue)
    assert (d.action, d.fills_recorded) == ("acknowledged", 1)
    assert store.order(req.client_order_id).filled_qty == 2.0


@pytest.mark.parametrize("status", ["accepted", "partially_filled", "triggered"])
def test_an_order_the_venue_still_works_is_acknowledged_with_its_missed_fills(store: Store, status: str) -> None:
    """Issue 3: every status the venue reports for a working order (part filled, a triggered
    stop) is venue truth to record, not an unrecognised one to hold (mutant: partially_filled
    dropped from the known statuses)."""
    req = order(qty=2.0)
    store.record_intent(req, "crypto_spot")
    store.record_ack(req.client_order_id)
    missed = [fill(req, 0, qty=1.0)] if status == "partially_filled" else []
    [d] = reconcile(store, DictVenue({req.client_order_id: Report(status, missed)}))
    assert (d.venue_status, d.action, d.fills_recorded) == (status, "acknowledged", len(missed))
    assert store.order(req.client_order_id).status == status
    assert store.order(req.client_order_id).filled_qty == sum(f.qty for f in missed)


def test_decisions_are_committed_before_reconcile_returns_on_a_batch_store(tmp_path: Path) -> None:
    """Issue 3: reconciliation is journaled and committed before the engine acts on it (a
    resubmit): a crash right after must find every decision and ack durable, even on a store
    that batches its commits (mutant: reconcile's commit dropped)."""
    batch = open_store(tmp_path, durability="batch", batch_size=1000)
    seen, unseen = order(0), order(1)
    for r in (seen, unseen):
        batch.record_intent(r, "crypto_spot")
    batch.commit()
    decisions = reconcile(batch, DictVenue({seen.client_order_id: Report("accepted")}))
    other = Store.open(path=str(tmp_path / "engine.db"))  # what a process started after a crash reads
    try:
        assert [(e.key, e.payload["action"]) for e in other.journal_entries(kind="reconcile")] == [
            (d.client_order_id, d.action) for d in decisions] == [
            (seen.client_order_id, "acknowledged"), (unseen.client_order_id, "resubmit")]
        assert other.order(seen.client_order_id).status == "accepted"
    finally:
        other.close()
        batch.close()


def test_rejections_are_marked_and_no_longer_pending(store: Store) -> None:
    req = order()
    store.record_intent(req, "crypto_spot")
    assert _actions(reconcile(store, DictVenue({req.client_order_id: Report("rejected")}))) == {
        req.client_order_id: "rejected"}
    assert store.order(req.client_order_id).status == "rejected" and store.pending_intents() == []


@pytest.mark.parametrize("venue", [DownVenue(), DictVenue({}), None], ids=["down", "forgot", "odd"])
def test_anything_unclear_is_held_not_resubmitted(store: Store, venue) -> None:
    req = order()
    store.record_intent(req, "crypto_spot")
    if isinstance(venue, DictVenue):  # an acknowledged order the venue no longer knows
        store.record_ack(req.client_order_id)
    if venue is None:
        venue = DictVenue({req.client_order_id: Report("teleported")})
    [d] = reconcile(store, venue)
    assert d.action == "hold" and d.request is None and d.reason
    status = store.order(req.client_order_id).status
    assert status in ("intent", "accepted")


def test_every_decision_is_journaled(store: Store) -> None:
    reqs = [order(i) for i in range(3)]
    for r in reqs:
        store.record_intent(r, "crypto_spot")
    venue = DictVenue({reqs[0].client_order_id: Report("accepted"),
                       reqs[1].client_order_id: Report("rejected")})
    decisions = reconcile(store, venue)
    entries = store.journal_entries(kind="reconcile")
    assert [(e.key, e.payload["action"]) for e in entries] == [
        (d.client_order_id, d.action) for d in decisions]
    assert [d.action for d in decisions] == ["acknowledged", "rejected", "resubmit"]
