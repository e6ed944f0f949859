"""Exits that fill past flat are bought back: the one-cancels-other race on a venue whose
cancel arrives too late (both legs fill), through the real order and bracket machines.

The paper venue cancels a sibling leg in the same step and caps reduce-only fills, so it
cannot overfill; a live venue can. The venue here is a scripted test double that answers
what a live one would: the late cancel is refused, and each fill is the test's to report."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.base import ReportStatus, VenueReport
from bracket_support import T0, AcceptingVenue, execution_on, filled, order_machines
from engine.domain import Domain, Fill, OrderType, Side
from engine.exec.handles import BracketHandle
from engine.risk.types import Intent
from engine.runtime import BoundMachine


class LateCancelVenue(AcceptingVenue):
    """Accepts every order; refuses a cancel of an order the test marked as already filled."""

    def __init__(self) -> None:
        super().__init__()
        self.filled: set[str] = set()

    def cancel(self, client_order_id: str) -> VenueReport:
        if client_order_id in self.filled:
            return VenueReport(client_order_id, ReportStatus.FILLED, reason="too late: filled", refused=True)
        return super().cancel(client_order_id)


class Journal:
    """The ledger's calls, kept (a recorder: the store is not what this test is about)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        return lambda *args, **kw: self.rows.append((name, args))


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def test_both_legs_filling_buys_back_the_overfill(machines) -> None:
    venue, closed = LateCancelVenue(), []
    ex = execution_on(machines, venue, Journal(), closed.append)
    quote = venue.quote("X")
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, quote, 95.0, 110.0, T0, "s"), 10.0)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    tp, sl = b.legs["take_profit"].id, b.legs["stop_loss"].id
    venue.filled |= {tp, sl}
    ex.on_reports([filled(tp, Side.SELL, 10.0, 110.0, 2), filled(sl, Side.SELL, 10.0, 95.0, 3)])

    back = venue.sent[-1]
    assert (back.side, back.qty, back.type, back.reduce_only) == (Side.BUY, 10.0, OrderType.MARKET, True)
    assert b.open_qty == -10.0 and b.instance.state == "flattening" and not closed
    ex.on_reports([filled(back.client_order_id, Side.BUY, 10.0, 96.0, 4)])

    assert b.open_qty == 0.0 and b.instance.state == "closed" and closed == [b]
    # bought 10 at 100 and 10 at 96, sold 10 at 110 and 10 at 95
    assert b.settle(1.0).gross == pytest.approx(1100.0 + 950.0 - 1000.0 - 960.0)


def test_a_fill_past_flat_after_the_bracket_closed_is_closed_out(machines) -> None:
    """The market close of a flatten fills after a leg took the whole position."""
    venue, closed = LateCancelVenue(), []
    ex = execution_on(machines, venue, Journal(), closed.append)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.SELL, venue.quote("X"), 105.0, 90.0, T0, "s"), 10.0)
    ex.on_reports([filled(b.entry.id, Side.SELL, 10.0, 100.0, 1)])
    venue.filled.add(b.legs["stop_loss"].id)
    ex.exit(b, "max hold")  # the stop's cancel comes too late; a market close goes out
    close = venue.sent[-1]
    ex.on_reports([filled(b.legs["stop_loss"].id, Side.BUY, 10.0, 105.0, 2)])
    assert b.instance.state == "closed" and not closed  # its market close still works
    ex.on_reports([filled(close.client_order_id, Side.BUY, 10.0, 104.0, 3)])

    back = venue.sent[-1]
    assert (back.side, back.qty, back.reduce_only) == (Side.SELL, 10.0, True)
    ex.on_reports([filled(back.client_order_id, Side.SELL, 10.0, 103.0, 4)])
    assert b.open_qty == 0.0 and closed == [b]
    assert b.settle(1.0).gross == pytest.approx(1000.0 + 1030.0 - 1050.0 - 1040.0)


def test_settle_without_an_overfill_is_the_price_move() -> None:
    b = BracketHandle(None, "b", "X", Domain.FOREX, Side.SELL, "s", T0)  # type: ignore[arg-type]
    b.entry_fills = [Fill("e", "e1", "X", Side.SELL, 4.0, 100.0, 0.1, T0, "q")]
    b.exit_fills = [Fill("x", "x1", "X", Side.BUY, 4.0, 97.5, 0.2, T0 + 9, "q")]
    s = b.settle(2.0)
    assert (s.qty, s.entry_px, s.exit_px, s.last_exit_ts) == (4.0, 100.0, 97.5, T0 + 9)
    assert s.gross == pytest.approx(20.0) and s.fees == pytest.approx(0.3)


@given(st.sampled_from([Side.BUY, Side.SELL]), st.lists(st.floats(0.01, 100), min_size=1, max_size=5),
       st.lists(st.floats(0.01, 100), min_size=1, max_size=5), st.floats(0.01, 500))
@example(side=Side.BUY, ins=[90.0, 2.0], outs=[92.0], price=118.64)  # (90p + 2p) / 92 is p plus an ulp
def test_a_trade_in_and_out_at_one_price_settles_to_nothing(side, ins, outs, price) -> None:
    """However its entry and exits split, a trade filled at one price throughout averages to that
    price on both sides and makes exactly 0: float dust would count as a win or a loss."""
    b = BracketHandle(None, "b", "X", Domain.FOREX, side, "s", T0)  # type: ignore[arg-type]
    b.entry_fills = [Fill("e", f"e{k}", "X", side, q, price, 0.0, T0, "q") for k, q in enumerate(ins)]
    b.exit_fills = [Fill("x", f"x{k}", "X", side.opposite, q, price, 0.0, T0 + 1, "q") for k, q in enumerate(outs)]
    s = b.settle(2.0)
    assert (s.entry_px, s.exit_px, s.gross) == (price, price, 0.0)


def _closed_with_a_late_entry_fill(machines, venue: LateCancelVenue, closed: list) -> tuple:
    """A long of 10 whose entry filled 4, then, in one batch, its stop took those 4 (closing the
    bracket) and the entry's last 6 filled, its cancel too late."""
    from adapters.base import ReportStatus, VenueReport

    ex = execution_on(machines, venue, Journal(), closed.append)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)
    part = Fill(b.entry.id, f"{b.entry.id}-1", "X", Side.BUY, 4.0, 100.0, 0.0, T0 + 1, "q1")
    ex.on_reports([VenueReport(b.entry.id, ReportStatus.PARTIALLY_FILLED, (part,), filled_qty=4.0)])
    sl = b.legs["stop_loss"].id
    venue.filled |= {sl, b.entry.id}
    ex.on_reports([filled(sl, Side.SELL, 4.0, 95.0, 2), filled(b.entry.id, Side.BUY, 6.0, 99.0, 3)])
    return ex, b


def test_an_entry_fill_after_the_bracket_closed_is_closed_out(machines) -> None:
    """The stop took the 4 units entered and closed the bracket; the entry's cancel came too late
    and its last 6 units filled in the same batch. Nothing protects them: they leave at once, on a
    reduce-only market order, and the trade is recorded once that close has filled."""
    venue, closed = LateCancelVenue(), []
    ex, b = _closed_with_a_late_entry_fill(machines, venue, closed)
    assert b.instance.done and not closed  # its close-out still works
    out = venue.sent[-1]
    assert (out.side, out.qty, out.type, out.reduce_only) == (Side.SELL, 6.0, OrderType.MARKET, True)
    ex.on_reports([filled(out.client_order_id, Side.SELL, 6.0, 98.0, 4)])
    assert b.open_qty == 0.0 and closed == [b]


def test_settle_of_a_part_exit_is_the_move_on_the_units_that_left() -> None:
    """Exits that took 3 of the 4 units entered: the gross is the move on those 3, not on all 4."""
    b = BracketHandle(None, "b", "X", Domain.FOREX, Side.BUY, "s", T0)  # type: ignore[arg-type]
    b.entry_fills = [Fill("e", "e1", "X", Side.BUY, 4.0, 100.0, 0.0, T0, "q")]
    b.exit_fills = [Fill("x", "x1", "X", Side.SELL, 3.0, 102.0, 0.0, T0 + 9, "q")]
    assert b.settle(2.0).gross == pytest.approx(2.0 * 3.0 * 2.0)


def test_a_closed_bracket_whose_close_out_works_pays_its_funding(machines) -> None:
    """Funding moves each position's trade (seed 004): the 6 units of a closed bracket whose
    close-out still works are held, so their share of the funding is in that bracket's trade."""
    from adapters.base import VenueEvent

    venue, closed = LateCancelVenue(), []
    venue.catalogue = type("Catalogue", (), {"get": lambda self, s: type(
        "Inst", (), {"step": 1.0, "multiplier": 1.0, "min_notional": 0.0, "domain": Domain.FOREX})()})()
    ex, b = _closed_with_a_late_entry_fill(machines, venue, closed)
    assert b.id in ex.closing and b.open_qty == 6.0
    ex.on_venue_event(VenueEvent("FUNDING", T0 + 4, "X", {"paid": 1.2, "qty": 6.0, "rate": 0.0001}))
    assert b.funding == pytest.approx(1.2)


def _part(order_id: str, side: Side, qty: float, price: float, n: int,
          status: ReportStatus = ReportStatus.PARTIALLY_FILLED) -> VenueReport:
    f = Fill(order_id, f"{order_id}-{n}", "X", side, qty, price, 0.0, T0 + n, "q1")
    return VenueReport(order_id, status, (f,), filled_qty=qty)


def _long(machines, venue: LateCancelVenue, entered: float = 10.0) -> tuple:
    ex = execution_on(machines, venue, Journal(), lambda b: None)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)
    ex.on_reports([_part(b.entry.id, Side.BUY, entered, 100.0, 1,
                         ReportStatus.FILLED if entered == 10.0 else ReportStatus.PARTIALLY_FILLED)])
    return ex, b


def _working(ex, b, side: Side) -> list[float]:
    return [o.request.qty for o in b.exits if o.request.side is side and ex.is_live(o)]


@pytest.mark.parametrize("close_first", [True, False])
def test_a_stop_that_fills_after_part_of_the_flattens_close_is_bought_back(machines, close_first: bool) -> None:
    """Flattening (max hold): its market close fills 6 of 10, then the stop kept for it fills all
    10, or the other way round. Either way 6 were sold past flat and are bought back; the stop's
    fill alone must not close the bracket (its 10 covered the position it was sized for)."""
    venue = LateCancelVenue()
    ex, b = _long(machines, venue)
    ex.exit(b, "max hold")
    close, sl = b.exits[0], b.legs["stop_loss"]
    reports = [_part(close.id, Side.SELL, 6.0, 99.0, 2), filled(sl.id, Side.SELL, 10.0, 95.0, 3)]
    for r in reports if close_first else reports[::-1]:
        ex.on_reports([r])
    # (stop first: it left the position flat and closed the bracket; the close's 6 come after)
    assert b.open_qty == -6.0 and b.instance.state == ("flattening" if close_first else "closed")
    assert _working(ex, b, Side.BUY) == [6.0]


def test_a_late_entry_fill_while_a_close_works_closes_only_the_new_units(machines) -> None:
    """Flattening with a close of the 4 units entered still working; the entry's last 6 fill (its
    cancel came too late). The close for them is 6: 10 would close the first 4 twice."""
    venue = LateCancelVenue()
    ex, b = _long(machines, venue, entered=4.0)
    venue.filled.add(b.entry.id)
    ex.exit(b, "max hold")
    assert _working(ex, b, Side.SELL) == [4.0]
    ex.on_reports([filled(b.entry.id, Side.BUY, 6.0, 100.0, 2)])
    assert b.open_qty == 10.0 and _working(ex, b, Side.SELL) == [4.0, 6.0]


def test_fills_past_flat_after_the_close_are_bought_back_once(machines) -> None:
    """The stop took all 10 and closed the bracket while its flatten's close (10) still worked;
    that close then fills 4, then 6, past flat. The buy-backs are 4 and then 6, not 4 and 10: each
    nets what is already being bought back, and once they fill the position is flat."""
    venue = LateCancelVenue()
    ex, b = _long(machines, venue)
    sl = b.legs["stop_loss"]
    venue.filled.add(sl.id)
    ex.exit(b, "max hold")
    close = b.exits[0]
    ex.on_reports([filled(sl.id, Side.SELL, 10.0, 95.0, 2)])
    assert b.instance.state == "closed"
    ex.on_reports([_part(close.id, Side.SELL, 4.0, 94.0, 3)])
    ex.on_reports([_part(close.id, Side.SELL, 6.0, 94.0, 4, ReportStatus.FILLED)])
    assert _working(ex, b, Side.BUY) == [4.0, 6.0]
    for n, o in enumerate([o for o in b.exits if ex.is_live(o)], start=5):
        ex.on_reports([_part(o.id, Side.BUY, o.request.qty, 95.0, n, ReportStatus.FILLED)])
    assert b.open_qty == 0.0 and not ex.faults
