"""A flatten keeps its bracket's stop working until the position is flat (specs/orders/bracket.yaml
`flattening`), through the real order and bracket machines on test_exec_overfill's scripted venue:
the stop goes on the flat position, and a stop that takes what the close left closes the bracket."""
from __future__ import annotations

from adapters.base import ReportStatus, VenueReport
from engine.domain import Domain, Fill, Side
from engine.exec.execution import Execution
from engine.risk.types import Intent
from engine.runtime import Interpreter, ListSink, ReplayClock
from test_exec_overfill import T0, Journal, LateCancelVenue, machines  # noqa: F401  (a fixture)


class CancelsKept(LateCancelVenue):
    """Keeps the ids of the orders it was asked to cancel; refuses a cancel of one it ended itself."""

    def __init__(self) -> None:
        super().__init__()
        self.canceled: list[str] = []
        self.ended: set[str] = set()

    def cancel(self, client_order_id: str) -> VenueReport:
        self.canceled.append(client_order_id)
        if client_order_id in self.ended:  # as the paper venue answers
            return VenueReport(client_order_id, ReportStatus.CANCELED, reason="cannot cancel: order is already canceled",
                               refused=True)
        return super().cancel(client_order_id)


def _part(order_id: str, side: Side, qty: float, price: float, n: int, left: bool) -> VenueReport:
    fill = Fill(order_id, f"{order_id}-{n}", "X", side, qty, price, 0.0, T0 + n, "q1")
    status = ReportStatus.PARTIALLY_FILLED if left else ReportStatus.FILLED
    return VenueReport(order_id, status, (fill,), filled_qty=qty)


def _flattening(machines):
    venue, closed = CancelsKept(), []
    interp = Interpreter(ReplayClock(T0), ListSink())
    ex = Execution(interp, machines["order"], machines["bracket"], venue, Journal(), interp.clock,
                   multiplier=lambda s: 1.0, on_closed=closed.append, fill_price_band=0.10)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)
    ex.on_reports([_part(b.entry.id, Side.BUY, 10.0, 100.0, 1, left=False)])
    ex.exit(b, "max hold")
    assert b.instance.state == "flattening"
    assert venue.canceled == [b.legs["take_profit"].id], "the flatten cancelled the stop before the position was flat"
    return ex, b, venue, closed, venue.sent[-1].client_order_id


def test_the_stop_goes_once_the_close_has_flattened_the_position(machines) -> None:
    ex, b, venue, closed, close = _flattening(machines)
    ex.on_reports([_part(close, Side.SELL, 10.0, 99.0, 2, left=False)])
    assert b.instance.state == "closed" and venue.canceled[-1] == b.legs["stop_loss"].id and closed == [b]


def test_a_stop_that_takes_what_the_close_left_closes_the_bracket(machines) -> None:
    """The close fills in part and the stop the flatten kept takes the rest in the same bar: the
    stop's qty alone does not cover the position, yet it is flat, and the bracket closes."""
    ex, b, venue, closed, close = _flattening(machines)
    stop = b.legs["stop_loss"].id
    venue.ended.add(stop)
    # As the paper venue reports it: a reduce-only order that flattens the position loses its remainder.
    ex.on_reports([_part(close, Side.SELL, 4.0, 99.0, 2, left=True), _part(stop, Side.SELL, 6.0, 95.0, 3, left=True),
                   VenueReport(stop, ReportStatus.CANCELED, reason="reduce-only: position closed; remainder canceled")])
    assert b.open_qty == 0.0 and b.instance.state == "closed", "a flat bracket waits in flattening for ever"
    ex.on_reports([VenueReport(close, ReportStatus.CANCELED, reason="reduce-only: no position left to reduce")])
    assert closed == [b] and not ex.faults
    assert b.exit_reason == "max hold+stop_loss"
