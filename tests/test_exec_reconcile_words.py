"""`request_reconciliation` answers in the order spec's words (the second review): it sent the
venue's own status (accepted, partially_filled, triggered), which no `reconciled` guard takes, so
a working order that went UNRESOLVED never left it."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from adapters.base import ReportStatus
from engine.domain import Domain
from engine.exec.handles import OrderHandle
from engine.spec.loader import load_specs
from state_support import fill, order

ROOT = Path(__file__).resolve().parents[1]


REQ = order(1, qty=2.0)


def _raised(report, booked: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    raised: list = []
    venue = SimpleNamespace(order_status=lambda cid: report)
    handle = OrderHandle(SimpleNamespace(venue=venue), REQ, Domain.CRYPTO_SPOT)
    handle.fill_ids.update(booked)
    handle.request_reconciliation(SimpleNamespace(raise_event=lambda e, p: raised.append((e, p))))
    return raised


def _answer(report) -> dict:
    *fills, (event, payload) = _raised(report)
    assert event == "reconciled" and all(e == "fill" for e, _ in fills)
    return payload


@pytest.mark.parametrize("status, word", [
    (ReportStatus.ACCEPTED, "open"), (ReportStatus.PARTIALLY_FILLED, "open"), (ReportStatus.TRIGGERED, "open"),
    (ReportStatus.FILLED, "filled"), (ReportStatus.CANCELED, "canceled"), (ReportStatus.EXPIRED, "expired"),
    (ReportStatus.REJECTED, "rejected"), (ReportStatus.UNKNOWN, "unknown")])
def test_each_venue_status_is_a_word_the_spec_reads(status: ReportStatus, word: str) -> None:
    assert _answer(SimpleNamespace(status=status, fills=(), filled_qty=0.0, qty=2.0))["status"] == word


def test_an_order_the_venue_does_not_know_is_not_found() -> None:
    assert _answer(None) == {"status": "not_found", "filled_qty": 0.0, "avg_px": 0.0, "qty": 0.0}


def test_every_word_but_unknown_leaves_unresolved() -> None:
    """The words above are the ones the order spec's `reconciled` guards compare with."""
    specs, _ = load_specs([ROOT / "specs"])
    guards = " ".join(t.guard.source for t in specs.machines["order"].transitions
                      if t.event == "reconciled" and t.guard is not None)
    for word in ("open", "filled", "canceled", "expired", "rejected", "not_found"):
        assert f"'{word}'" in guards
    assert "'unknown'" not in guards  # fail closed: an order the venue cannot tell about stays UNRESOLVED


def test_the_filled_qty_is_the_venues_cumulative_figure() -> None:
    """The venue's filled_qty (cumulative over the order's life, VenueReport) is its word on what the
    order filled, also when its status report lists only some of the fills: reconciliation passes
    that figure, not the sum of the fills at hand; the average price is that of the fills listed."""
    fills = (fill(REQ, 1, qty=0.5, price=100.0), fill(REQ, 2, qty=0.5, price=102.0))
    payload = _answer(SimpleNamespace(status=ReportStatus.FILLED, fills=fills, filled_qty=2.0, qty=2.0))
    assert payload == {"status": "filled", "filled_qty": 2.0, "avg_px": 101.0, "qty": 2.0}


def test_the_qty_is_the_venues_so_a_lost_amends_change_is_adopted() -> None:
    """An amend whose answer was lost may have changed the order's qty at the venue: reconciliation
    passes the venue's qty, which the order spec adopts (else the order's fills are judged against a
    qty the venue does not hold: FILLED early, and the venue's later fills past it)."""
    payload = _answer(SimpleNamespace(status=ReportStatus.ACCEPTED, fills=(), filled_qty=0.0, qty=12.0))
    assert payload["qty"] == 12.0


def test_the_venues_fills_the_engine_has_not_booked_come_first_as_fills() -> None:
    """A fill the venue made and never reported (an order gone UNRESOLVED) reaches the order machine
    as a `fill` before the venue's truth, so that it is booked and its bracket hears it; one the
    engine booked already is not raised again."""
    fills = (fill(REQ, 1, qty=0.5, price=100.0), fill(REQ, 2, qty=1.5, price=102.0))
    report = SimpleNamespace(status=ReportStatus.FILLED, fills=fills, filled_qty=2.0, qty=2.0)
    assert [e for e, _ in _raised(report)] == ["fill", "fill", "reconciled"]
    raised = _raised(report, booked=(fills[0].fill_id,))
    assert raised[:-1] == [("fill", {"qty": 1.5, "price": 102.0})] and raised[-1][0] == "reconciled"
