"""A venue request that raises a network error (TimeoutError, ConnectionError) is an unanswered
request: a fault (the run stops opening risk and says why), and the order stays where its spec
put it, whose timer sends it to be reconciled. Before, the error escaped the action and the run
ended in a traceback, with the kill switch still `normal`. Through the real order and bracket
machines on a scripted venue."""
from __future__ import annotations

from typing import Any

import pytest

from adapters.base import ReportStatus, VenueReport
from bracket_support import T0, AcceptingVenue, execution_on, filled, order_machines
from engine.domain import Domain, Side
from engine.risk.types import Intent
from engine.runtime import BoundMachine

LATER = T0 + 11  # past the order spec's submit_timeout and ack_timeout (10s)


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


class FlakyVenue(AcceptingVenue):
    """Raises `error` on the first request of kind `fails`; then answers; knows what it accepted."""

    def __init__(self, fails: str, error: Exception) -> None:
        super().__init__()
        self.fails, self.error, self.held = fails, error, {}

    def _flaky(self, kind: str) -> None:
        if kind == self.fails:
            self.fails = ""
            raise self.error

    def submit(self, req: Any) -> Any:
        self._flaky("submit")
        self.held[req.client_order_id] = req
        return super().submit(req)

    def cancel(self, client_order_id: str) -> Any:
        self._flaky("cancel")
        self.held.pop(client_order_id, None)
        return super().cancel(client_order_id)

    def order_status(self, client_order_id: str) -> Any:
        self._flaky("status")
        req = self.held.get(client_order_id)
        return None if req is None else VenueReport(client_order_id, ReportStatus.ACCEPTED, qty=req.qty)


def _bracket(ex: Any, venue: Any) -> Any:
    return ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)


def test_an_unanswered_submit_is_a_fault_and_its_timer_reconciles_it(machines) -> None:
    venue = FlakyVenue("submit", TimeoutError("no answer in 10 s"))
    ex = execution_on(machines, venue)
    b = _bracket(ex, venue)
    (fault,) = ex.faults
    assert f"did not answer the submit of order {b.entry.id} (TimeoutError: no answer in 10 s)" in fault
    assert b.entry.instance.state == "SUBMITTED", "no answer is made up"
    ex.advance(LATER)
    assert not ex.is_live(b.entry), "reconciled: the venue never held it"


def test_an_unanswered_cancel_is_reconciled_and_sent_again(machines) -> None:
    venue = FlakyVenue("cancel", ConnectionError("connection reset by peer"))
    ex = execution_on(machines, venue)
    b = _bracket(ex, venue)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    tp = b.legs["take_profit"]
    ex.on_reports([filled(b.legs["stop_loss"].id, Side.SELL, 10.0, 95.0, 2)])  # the take-profit is cancelled
    assert any(f"did not answer the cancel of order {tp.id}" in f for f in ex.faults)
    assert tp.instance.state == "PENDING_CANCEL"
    ex.advance(LATER)
    assert tp.id not in venue.held and not ex.is_live(tp), "the kept cancel went out once reconciled"


def test_an_unanswered_status_request_is_a_fault_and_asked_again(machines) -> None:
    venue = FlakyVenue("submit", TimeoutError("no answer"))
    ex = execution_on(machines, venue)
    b = _bracket(ex, venue)
    venue.fails = "status"
    ex.advance(LATER)
    assert b.entry.instance.state == "UNRESOLVED" and any("status request" in f for f in ex.faults)
    ex.advance(LATER + 61)  # the spec's reconcile_overdue
    assert not ex.is_live(b.entry)
