"""One-cancels-other: when a leg fills, its sibling is canceled exactly once.

The paper venue cancels the sibling itself and reports it in the same batch as the fill
(adapters/paper/venue.py `_cancel_siblings`): the bracket's `cancel_sibling` must take that
report as its answer, not send a cancel the venue can only refuse (a wasted round trip, and a
`cancel_rejected` in the audit trail of nearly every trade). A venue that does not cancel
siblings itself reports only the fill: then the bracket cancels the sibling."""
from __future__ import annotations


import pytest

from adapters.base import ReportStatus, VenueReport
from adapters.paper import PaperConfig
from bracket_support import T0, XRP, UnitCatalogue, execution_at, execution_on, filled, order_machines
from engine.domain import Domain, Quote, Side
from engine.exec.handles import BracketHandle, OrderHandle
from engine.runtime.instance import Instance
from engine.risk.types import Intent
from engine.runtime import BoundMachine

OPEN_AT, LATER = 280, 300  # XRP-PERP falls from 1.1767 to 1.1324 meanwhile, never above 1.1768


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def test_the_venues_own_sibling_cancel_answers_the_bracket(machines) -> None:
    venue, _, ex = execution_at(machines, PaperConfig(partial_fill_prob=0.0), OPEN_AT)
    asked: list[str] = []
    cancel = venue.cancel
    venue.cancel = lambda cid: asked.append(cid) or cancel(cid)  # the engine's cancels, counted
    quote = venue.quote("XRP-PERP")
    b = ex.open_bracket(Intent("XRP-PERP", Domain.CRYPTO_PERP, Side.SELL, quote, 1.20, 1.16, quote.ts, "s"), 20.0)
    reports: list[VenueReport] = []
    for bar in XRP[OPEN_AT + 1:LATER + 1]:
        ex.clock.set(bar.ts)
        batch = venue.on_bar(bar)
        reports += batch
        ex.on_reports(batch)

    tp, sl = b.legs["take_profit"].id, b.legs["stop_loss"].id
    assert b.instance.state == "closed" and b.exit_reason == "take_profit"
    assert [r.status for r in reports if r.client_order_id == sl] == [ReportStatus.CANCELED]
    assert asked == []  # the venue's one-cancels-other did it: no cancel from us
    records = ex.interp.sink.records
    assert [r for r in records if r.event == "cancel_rejected"] == []
    assert [(r.event, r.target) for r in records if r.instance_id == sl and r.kind == "transition"] == [
        ("submit", "SUBMITTED"), ("accepted", "ACCEPTED"), ("canceled", "CANCELED")]
    assert b.legs["take_profit"].instance.state == "FILLED" and tp != sl


class NoOcoVenue:
    """Accepts and cancels every order; a leg's fill is the test's to report, and nothing
    cancels its sibling but the engine (a venue without native one-cancels-other)."""

    def __init__(self) -> None:
        self.catalogue = UnitCatalogue()
        self.canceled: list[str] = []

    def quote(self, symbol: str) -> Quote:
        return Quote("q1", symbol, T0, 99.9, 100.0, 100.0)

    def submit(self, req) -> VenueReport:
        return VenueReport(req.client_order_id, ReportStatus.ACCEPTED, qty=req.qty, price=req.price)

    def cancel(self, client_order_id: str) -> VenueReport:
        self.canceled.append(client_order_id)
        return VenueReport(client_order_id, ReportStatus.CANCELED)


class Quiet:
    """A ledger that keeps nothing (the store is not what these tests are about)."""

    def __getattr__(self, name: str):
        return lambda *args, **kw: None


def test_a_sibling_the_venue_does_not_cancel_is_canceled_by_the_bracket(machines) -> None:
    venue, closed = NoOcoVenue(), []
    ex = execution_on(machines, venue, Quiet(), closed.append)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    ex.on_reports([filled(b.legs["take_profit"].id, Side.SELL, 10.0, 110.0, 2)])

    assert venue.canceled == [b.legs["stop_loss"].id]
    assert b.legs["stop_loss"].instance.state == "CANCELED"
    assert b.instance.state == "closed" and closed == [b]
    assert [r for r in ex.interp.sink.records if r.event == "cancel_rejected"] == []


def test_a_recorded_bracket_leaves_no_reference_cycles_behind(machines) -> None:
    """Execution forgets a bracket once its trade is recorded: its handles and machine instances
    are freed by reference counting then, not left to the cycle collector (a replay's every trade)."""
    import gc

    venue = NoOcoVenue()
    ex = execution_on(machines, venue, Quiet())
    interp = ex.interp

    def trade() -> None:
        b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)
        ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
        tp, sl = b.legs["take_profit"].id, b.legs["stop_loss"].id  # the venue cancels sl itself: no timer holds it
        ex.on_reports([filled(tp, Side.SELL, 10.0, 110.0, 2), VenueReport(sl, ReportStatus.CANCELED)])

    def alive() -> list:  # only the trade's own kinds: other tests' garbage must not count
        return [o for o in gc.get_objects() if isinstance(o, (BracketHandle, OrderHandle, Instance))]

    trade()  # the first one also compiles what the machines evaluate lazily
    gc.collect()
    before = {id(o): o for o in alive()}  # held, so no new object can take one of their ids
    gc.disable()
    try:
        trade()
        assert not ex.brackets and not ex.closing and not ex.orders
        assert interp.next_deadline() is None  # (which drops the heap's stale timers of the orders)
        # Freed by reference counting, gc off; but the orders kept for a late fill (their handles
        # and instances, nothing of their bracket: Execution.RETIRED_KEPT).
        kept = {id(x) for o in ex.retired.values() for x in (o, o.instance)}
        assert [o for o in alive() if id(o) not in before and id(o) not in kept] == []
        assert all(o.bracket is None and o.instance.host is None for o in ex.retired.values())
    finally:
        gc.enable()


def test_a_trade_a_take_profit_began_and_the_stop_finished_names_both(machines) -> None:
    """The take-profit fills 4 of 10, the stop the other 6: the trade's exit reason names both,
    in fill order (the default stage-1 run held such a trade before its strategy's maths changed)."""
    from engine.domain import Fill

    class AmendingVenue(NoOcoVenue):
        def amend(self, client_order_id: str, price: float | None = None, qty: float | None = None) -> VenueReport:
            return VenueReport(client_order_id, ReportStatus.ACCEPTED, qty=qty, price=price)

    venue, closed = AmendingVenue(), []
    ex = execution_on(machines, venue, Quiet(), closed.append)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    tp, sl = b.legs["take_profit"].id, b.legs["stop_loss"].id
    part = Fill(tp, f"{tp}-2", "X", Side.SELL, 4.0, 110.0, 0.0, T0 + 2, "q1")
    ex.on_reports([VenueReport(tp, ReportStatus.PARTIALLY_FILLED, (part,), filled_qty=4.0)])
    ex.on_reports([filled(sl, Side.SELL, 6.0, 95.0, 3)])
    assert b.instance.state == "closed" and closed == [b]
    assert b.exit_reason == "take_profit+stop_loss"
