"""Fills a reconciliation finds (OrderHandle.request_reconciliation): an entry whose submit went
unanswered, which the venue filled, was ended FILLED by the venue's figures alone; no fill was
booked and its bracket never heard of one, so the position had no stop, and the books were short
of the venue. Now each fill the engine has not booked reaches the order machine first, and a
report that brings it later books nothing twice. Through the real order and bracket machines."""
from __future__ import annotations

from typing import Any

import pytest

from adapters.base import ReportStatus, VenueReport
from bracket_support import T0, AcceptingVenue, execution_on, filled, order_machines
from engine.domain import Domain, Fill, Role, Side
from engine.risk.types import Intent
from engine.runtime import BoundMachine


class SilentEntryVenue(AcceptingVenue):
    """Leaves the entry's submit unanswered; its status: filled, at 100, in one fill."""

    def __init__(self) -> None:
        super().__init__()
        self.fills: dict[str, tuple[Fill, ...]] = {}

    def submit(self, req: Any) -> VenueReport:
        if req.role is not Role.ENTRY:
            return super().submit(req)
        self.sent.append(req)
        self.fills[req.client_order_id] = (Fill(req.client_order_id, f"{req.client_order_id}-1", "X", req.side,
                                                req.qty, 100.0, 0.0, T0 + 1, "q1"),)
        return VenueReport(req.client_order_id, ReportStatus.UNKNOWN, reason="no answer")

    def order_status(self, client_order_id: str) -> VenueReport:
        fills = self.fills.get(client_order_id, ())
        qty = sum(f.qty for f in fills)
        return VenueReport(client_order_id, ReportStatus.FILLED, fills, filled_qty=qty, qty=qty)


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def _unanswered_entry(machines: dict[str, BoundMachine]) -> tuple[Any, Any, SilentEntryVenue, list]:
    venue, booked = SilentEntryVenue(), []
    ex = execution_on(machines, venue)
    ex.on_fill = lambda d, f, m: booked.append(f.fill_id)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)
    t = ex.clock.now() + 3600.0  # past the submit's ack timeout: UNRESOLVED, which reconciles
    ex.clock.set(t)
    ex.advance(t)
    return ex, b, venue, booked


def test_an_entry_the_reconciliation_finds_filled_is_booked_and_protected(machines) -> None:
    ex, b, venue, booked = _unanswered_entry(machines)
    assert b.entry.instance.state == "FILLED"
    assert booked == [f"{b.entry.id}-1"], "the venue's fill is booked"
    assert b.instance.state == "protected" and b.open_qty == 10.0
    legs = {r.role: r.qty for r in venue.sent if r.role is not Role.ENTRY}
    assert legs == {Role.TAKE_PROFIT: 10.0, Role.STOP_LOSS: 10.0}, "the position has its stop"
    assert not ex.faults


def test_the_fills_report_coming_after_the_reconciliation_books_nothing_twice(machines) -> None:
    ex, b, venue, booked = _unanswered_entry(machines)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])  # the same fill, id and all
    assert booked == [f"{b.entry.id}-1"] and b.open_qty == 10.0 and len(b.entry_fills) == 1


def test_a_resumed_run_knows_which_fills_each_order_booked(tmp_path) -> None:
    """Else a reconciliation after a restart books again what the crashed run booked."""
    from resume_support import funded_run
    from run_support import write_env_override

    overrides = write_env_override(tmp_path / "ovr", wallet=1_000_000.0)
    runner = funded_run(tmp_path, overrides, "batch")
    while not any(o.fill_ids for o in runner.session.execution.orders.values()):
        runner.run(limit=runner.bars + 1)
    runner.checkpoint()
    before = {cid: set(o.fill_ids) for cid, o in runner.session.execution.orders.items()}
    runner.session.store.close()
    runner.session.venue.close()
    resumed = funded_run(tmp_path, overrides, "batch", resume=True)
    assert {cid: o.fill_ids for cid, o in resumed.session.execution.orders.items()} == before
