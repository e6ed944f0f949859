"""What a bracket's actions ask of the venue, and what its answers do (issue 3, seed 000): a leg
resize keeps the stop where breakeven or trailing moved it and covers the position to the nearest
lot; a stop move covers the open position; a refused amend (flag or REJECTED) leaves the stop
where the venue holds it, and a take-profit's refusal leaves it alone; a REJECTED cancel leaves the
order working, and a kill broadcast reaches an entry its closed bracket left working; an
expired entry ends its bracket, and a cancel or expiry report carrying the last fills still reaches it
(the entry's filled part protected, a lost stop leg closing the rest); a bar's price reaches only its own symbol; a
refused close while another works is no fault; ids hash the intent. Through the real order and
bracket machines, on scripted venues that keep what they were asked."""
from __future__ import annotations

from typing import Any

import pytest

from adapters.base import ReportStatus, VenueReport
from bracket_support import T0, AcceptingVenue, execution_on, order_machines
from engine.domain import Domain, Fill, OrderType, Role, Side
from engine.risk.types import Intent
from engine.runtime import BoundMachine
from engine.spec.contract import MOVE_STOP

STOP, TAKE_PROFIT = 95.0, 110.0


class ScriptedVenue(AcceptingVenue):
    """Accepts every order and amend (but the amends of the orders in `refuse`); keeps each amend."""

    def __init__(self, tick: float | None = None, refusal: str = "flag") -> None:
        super().__init__()
        self.amends: list[tuple[str, float | None, float | None]] = []  # (order id, qty, price)
        self.tick = tick
        self.refuse: dict[str, float] = {}  # order id -> the price the venue holds it at, refusing amends
        self.refusal = refusal  # "flag": ACCEPTED with `refused` set; "status": REJECTED

    def amend(self, client_order_id: str, price: float | None = None, qty: float | None = None) -> VenueReport:
        self.amends.append((client_order_id, qty, price))
        held = self.refuse.get(client_order_id)
        if held is not None:
            if self.refusal == "status":
                return VenueReport(client_order_id, ReportStatus.REJECTED, reason="amend refused", price=held)
            return VenueReport(client_order_id, ReportStatus.ACCEPTED, reason="amend refused", refused=True, price=held)
        if self.tick and price is not None:  # the venue conforms the price to its tick grid
            price = round(price / self.tick) * self.tick
        return VenueReport(client_order_id, ReportStatus.ACCEPTED, qty=qty or 0.0, price=price)


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def _fill(order: Any, side: Side, qty: float, price: float, n: int, status: ReportStatus) -> VenueReport:
    fill = Fill(order.id, f"{order.id}-{n}", order.request.symbol, side, qty, price, 0.0, T0 + n, "q1")
    return VenueReport(order.id, status, (fill,), filled_qty=qty)


def _long(machines: dict[str, BoundMachine], venue: ScriptedVenue) -> tuple[Any, Any]:
    ex = execution_on(machines, venue)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), STOP, TAKE_PROFIT, T0, "s"), 10.0)
    return ex, b


def _stop_amends(venue: ScriptedVenue, b: Any) -> list[tuple[float | None, float | None]]:
    return [(q, p) for oid, q, p in venue.amends if oid == b.legs["stop_loss"].id]


def test_a_resize_after_a_partial_entry_fill_keeps_the_tightened_stop(machines) -> None:
    """Partial fills resize the legs, and a stop only ever tightens: the resize of a stop that
    trailing moved up carries the moved stop, not the one the leg was first sent with."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 4.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    assert b.instance.state == "entry_partial"
    ex.price_update("X", 103.0, 2.0)  # 1.5 ATR above the entry: the stop trails to 103 - 2
    moved = b.instance.ctx["stop"]
    assert moved == 101.0 and _stop_amends(venue, b)[-1] == (4.0, moved)
    ex.on_reports([_fill(b.entry, Side.BUY, 6.0, 100.0, 2, ReportStatus.FILLED)])
    assert b.instance.state == "protected"
    assert _stop_amends(venue, b)[-1] == (10.0, moved), "the resize widened the stop back"
    tp = [(q, p) for oid, q, p in venue.amends if oid == b.legs["take_profit"].id]
    assert tp[-1] == (10.0, TAKE_PROFIT)


def test_a_stop_move_after_a_partial_exit_covers_the_open_position(machines) -> None:
    """After the take-profit filled 4 of 10 the position is 6: a stop moved then covers 6, not
    the 10 entered (a stop over the position would fill past flat)."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    ex.on_reports([_fill(b.legs["take_profit"], Side.SELL, 4.0, 110.0, 2, ReportStatus.PARTIALLY_FILLED)])
    assert b.instance.state == "protected" and b.open_qty == 6.0
    assert _stop_amends(venue, b)[-1] == (6.0, STOP)  # the resize to the position left
    own, refused = ex.operator_event(b, MOVE_STOP, {"stop": 98.0, "price": 100.0}, "operator")
    assert not refused and b.instance.ctx["stop"] == 98.0
    assert _stop_amends(venue, b)[-1] == (6.0, 98.0)


@pytest.mark.parametrize("refusal", ["flag", "status"])
def test_a_refused_stop_amend_leaves_the_stop_the_venue_reports_it_holds(machines, refusal: str) -> None:
    """The venue refused to move the stop (a `refused` answer, or a REJECTED one) and says it holds
    it at 94.5 (its tick grid, not the 95 asked at submit): the bracket's stop is the venue's,
    never one the venue does not hold."""
    venue = ScriptedVenue(refusal=refusal)
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    venue.refuse[b.legs["stop_loss"].id] = 94.5
    ex.operator_event(b, MOVE_STOP, {"stop": 98.0, "price": 100.0}, "operator")
    assert b.instance.ctx["stop"] == 94.5 and b.legs["stop_loss"].instance.ctx["price"] == STOP


def test_a_take_profit_amend_the_venue_refuses_leaves_the_stop_alone(machines) -> None:
    """After the take-profit filled 4 of 10 its resize asks for the qty it holds (4 filled + 6): the
    venue refuses it (the target stays as it was, which still covers the position). That refusal
    is the take-profit's: the bracket's stop is not set to the target's price."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    venue.refuse[b.legs["take_profit"].id] = TAKE_PROFIT
    ex.on_reports([_fill(b.legs["take_profit"], Side.SELL, 4.0, 110.0, 2, ReportStatus.PARTIALLY_FILLED)])
    assert b.instance.state == "protected" and b.instance.ctx["stop"] == STOP
    assert _stop_amends(venue, b)[-1] == (6.0, STOP)


def test_a_take_profit_filled_in_parts_is_one_exit(machines) -> None:
    """The trade is named after each exit that took part of it, once: `take_profit`, however many
    fills the take-profit took."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    tp = b.legs["take_profit"]
    ex.on_reports([_fill(tp, Side.SELL, 4.0, 110.0, 2, ReportStatus.PARTIALLY_FILLED)])
    ex.on_reports([_fill(tp, Side.SELL, 6.0, 110.0, 3, ReportStatus.FILLED)])
    assert b.instance.done and b.exit_reason == "take_profit"


def test_an_amended_stop_is_the_price_the_venue_conformed_it_to(machines) -> None:
    """The venue conforms an amend to its tick grid: the stop leg's order holds (and a later refused
    amend hands the bracket back) the venue's 98.5, not the 98.3 asked."""
    venue = ScriptedVenue(tick=0.5)
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    ex.operator_event(b, MOVE_STOP, {"stop": 98.3, "price": 100.0}, "operator")
    leg = b.legs["stop_loss"].instance
    assert leg.state == "ACCEPTED" and leg.ctx["price"] == 98.5


def test_a_bracket_qty_off_the_lot_grid_is_rounded_down(machines) -> None:
    """An entry never grows past what sizing approved: 10.6 units on a 1-unit grid is 10, for the
    entry and for the bracket that sizes its legs."""
    venue = ScriptedVenue()
    ex = execution_on(machines, venue)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), STOP, TAKE_PROFIT, T0, "s"), 10.6)
    assert venue.sent[0].qty == 10.0 and b.instance.ctx["qty"] == 10.0


def test_an_entry_the_venue_expires_ends_its_bracket(machines) -> None:
    """An entry that expired unfilled (a day order at the close) is as canceled: the bracket ends
    and places no legs, rather than wait for ever in entry_working."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([VenueReport(b.entry.id, ReportStatus.EXPIRED)])
    assert b.instance.done and not b.legs and not ex.faults


class RejectingVenue(ScriptedVenue):
    def submit(self, req) -> VenueReport:
        return VenueReport(req.client_order_id, ReportStatus.REJECTED, reason="insufficient margin")


def test_an_entry_the_venue_rejects_is_counted_and_ends_its_bracket(machines) -> None:
    """The run's `venue_rejections` figure is execution.refused: each order the venue refused."""
    ex, b = _long(machines, RejectingVenue())
    assert ex.refused == 1 and b.instance.done


def test_each_order_id_is_the_hash_of_the_intent_and_its_nonce(machines) -> None:
    """client_order_id = hash(strategy, symbol, ts, nonce), ts the intent's (a signal of an earlier
    bar than the clock's): the same intent re-processed after a restart gets the same ids."""
    from engine.domain import client_order_id

    venue = ScriptedVenue()
    ex = execution_on(machines, venue)
    ts = T0 - 300.0
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), STOP, TAKE_PROFIT, ts, "s"), 10.0)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    ids = [b.entry.id, b.legs["take_profit"].id, b.legs["stop_loss"].id]
    assert ids == [client_order_id("s", "X", ts, f"{b.id}/{n}") for n in (1, 2, 3)]


def test_a_price_update_moves_only_its_own_symbols_stops(machines) -> None:
    """Breakeven and trailing read the bar of the bracket's own symbol: Y's rally moves no stop of X."""
    venue = ScriptedVenue()
    ex = execution_on(machines, venue)
    x, y = (ex.open_bracket(Intent(s, Domain.FOREX, Side.BUY, venue.quote(s), STOP, TAKE_PROFIT, T0, "s"), 10.0)
            for s in ("X", "Y"))
    ex.on_reports([_fill(x.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED),
                   _fill(y.entry, Side.BUY, 10.0, 100.0, 2, ReportStatus.FILLED)])
    ex.price_update("Y", 103.0, 2.0)
    assert (x.instance.ctx["stop"], y.instance.ctx["stop"]) == (STOP, 101.0)
    assert not _stop_amends(venue, x)


class RefusingVenue(ScriptedVenue):
    """Accepts orders until `refuse` is set, then rejects every new one."""

    refuse = False

    def submit(self, req) -> VenueReport:
        if self.refuse:
            return VenueReport(req.client_order_id, ReportStatus.REJECTED, reason="too many requests")
        return super().submit(req)


def test_a_refused_close_while_another_close_works_is_no_fault(machines) -> None:
    """A flatten's close of the 4 units entered works; the entry's late 6 units go on a second close,
    which the venue refuses. The first close still answers for the position: the bracket is not
    told that no close works (the stop would be re-sent for nothing) and no fault stops the run."""
    venue = RefusingVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 4.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    ex.exit(b, "max hold")
    assert b.instance.state == "flattening" and len(b.exits) == 1
    venue.refuse = True
    ex.on_reports([_fill(b.entry, Side.BUY, 6.0, 100.0, 2, ReportStatus.FILLED)])
    assert len(b.exits) == 2 and b.exits[1].instance.state == "REJECTED" and ex.is_live(b.exits[0])
    assert not b.instance.ctx["close_refused"] and not ex.faults


class CancelRefusingVenue(ScriptedVenue):
    """Answers a cancel of the orders in `busy` (all, when None) with REJECTED (not the `refused`
    flag): the order is being filled. Keeps each cancel asked."""

    def __init__(self, busy: set[str] | None = None) -> None:
        super().__init__()
        self.busy, self.cancels = busy, []

    def cancel(self, client_order_id: str) -> VenueReport:
        self.cancels.append(client_order_id)
        if self.busy is None or client_order_id in self.busy:
            return VenueReport(client_order_id, ReportStatus.REJECTED, reason="order is being filled")
        return super().cancel(client_order_id)


def test_a_cancel_the_venue_rejects_leaves_the_order_working(machines) -> None:
    """A REJECTED answer to a cancel is the cancel's refusal (`cancel_rejected`), not the order's:
    the entry still works and may fill, so its bracket is not closed as if the entry were gone."""
    venue = CancelRefusingVenue()
    ex, b = _long(machines, venue)
    ex.broadcast("kill_close_only")  # the entry stops: its cancel goes out
    assert b.entry.instance.state == "ACCEPTED" and ex.is_live(b.entry)
    assert b.instance.state == "entry_working"
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    assert b.instance.state == "protected" and set(b.legs) == {"take_profit", "stop_loss"}


class MilliCatalogue:
    """Every symbol trades in lots of 0.001."""

    def get(self, symbol: str) -> Any:
        return type("Inst", (), {"step": 0.001, "multiplier": 1.0, "min_notional": 0.0})()


def test_a_resize_covers_the_float_sum_of_the_fills_to_the_nearest_lot(machines) -> None:
    """Two entry fills on a 0.001 grid add up, in floats, to 117989.75899999999: the legs resize to
    the position's 117989.759, not a lot short of it (the nearest lot, not the one below)."""
    venue = ScriptedVenue()
    venue.catalogue = MilliCatalogue()
    ex = execution_on(machines, venue)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), STOP, TAKE_PROFIT, T0, "s"), 200000.0)
    ex.on_reports([_fill(b.entry, Side.BUY, 93198.643, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    ex.on_reports([_fill(b.entry, Side.BUY, 24791.116, 100.0, 2, ReportStatus.PARTIALLY_FILLED)])
    assert b.instance.ctx["filled_qty"] == 93198.643 + 24791.116 == 117989.75899999999
    assert _stop_amends(venue, b)[-1] == (117989.759, STOP)


def test_a_kill_broadcast_reaches_an_entry_its_closed_bracket_left_working(machines) -> None:
    """The stop took the 4 units entered and the bracket closed, but the venue refused its entry's
    cancel: the entry works on, with no bracket. A kill switch broadcast reaches every order still
    working (the order spec cancels a working entry), so that entry is canceled too."""
    venue = CancelRefusingVenue(busy=set())
    ex, b = _long(machines, venue)
    venue.busy.add(b.entry.id)
    ex.on_reports([_fill(b.entry, Side.BUY, 4.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    ex.on_reports([_fill(b.legs["stop_loss"], Side.SELL, 4.0, 95.0, 2, ReportStatus.FILLED)])
    assert b.instance.done and b.id not in ex.brackets and ex.is_live(b.entry)
    assert venue.cancels.count(b.entry.id) == 1
    venue.busy.clear()
    ex.broadcast("kill_close_only")
    assert venue.cancels.count(b.entry.id) == 2 and b.entry.instance.state == "CANCELED"


@pytest.mark.parametrize("status", [ReportStatus.CANCELED, ReportStatus.EXPIRED, ReportStatus.REJECTED])
def test_an_entry_canceled_with_its_last_fills_in_one_report_protects_what_filled(machines, status) -> None:
    """A live venue reports a part-filled order that its time in force, a cancel or its own refusal
    ended as one final report carrying the fills (Bybit's PartiallyFilledCanceled, and its Rejected
    with cumExecQty 50 of 100: ws_account_order_partially_filled_rejected.json): the fills are
    booked and the bracket still hears that its entry is gone, so it protects the part that filled
    instead of waiting in entry_partial for fills that never come. The refusal was a fault too
    (close-only): no working order state took `rejected`."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 4.0, 100.0, 1, status)])
    assert (b.instance.state, b.entry.instance.state, ex.faults) == ("protected", "CANCELED" if status is not
                                                                      ReportStatus.EXPIRED else "EXPIRED", [])
    assert {leg: o.request.qty for leg, o in b.legs.items()} == {"take_profit": 4.0, "stop_loss": 4.0}


def test_a_stop_the_venue_refuses_at_its_trigger_closes_the_position(machines) -> None:
    """A venue can refuse an order it acknowledged (a conditional order refused when it triggers):
    the stop leg is gone, so the bracket fails closed as for a leg refused at once (bracket.yaml
    `leg_rejected`: close at market). The order spec dropped `rejected` after the acknowledgement:
    a fault (close-only), and the bracket held the position with no stop."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    stop = b.legs["stop_loss"]
    ex.on_reports([VenueReport(stop.id, ReportStatus.TRIGGERED),
                   VenueReport(stop.id, ReportStatus.REJECTED, reason="insufficient balance")])
    assert (stop.instance.state, b.instance.state, ex.faults) == ("REJECTED", "flattening", [])
    close = venue.sent[-1]
    assert (close.side, close.qty, close.type, close.reduce_only) == (Side.SELL, 10.0, OrderType.MARKET, True)


def test_a_stop_leg_canceled_with_its_last_fills_in_one_report_closes_the_rest(machines) -> None:
    """The same one-report end of a part-filled stop-loss leg: the bracket hears the leg is gone,
    as it does for a leg cancelled unfilled, and fails closed as for a refused leg (bracket.yaml:
    `leg_canceled` in `protected`): it closes the rest at market rather than hold it with no stop."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    ex.on_reports([_fill(b.legs["stop_loss"], Side.SELL, 4.0, STOP, 2, ReportStatus.CANCELED)])
    assert (b.instance.state, b.open_qty, ex.faults) == ("flattening", 6.0, [])
    close = venue.sent[-1]
    assert (close.side, close.qty, close.type, close.reduce_only) == (Side.SELL, 6.0, OrderType.MARKET, True)


class UnansweredStopVenue(ScriptedVenue):
    """Leaves the stop leg's submit unanswered, and cannot tell its status until `known` is set
    (then: working); keeps each cancel it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.known = False
        self.cancels: list[str] = []

    def submit(self, req: Any) -> VenueReport:
        if req.role is not Role.STOP_LOSS:
            return super().submit(req)
        self.sent.append(req)
        return VenueReport(req.client_order_id, ReportStatus.UNKNOWN, reason="no answer")

    def order_status(self, client_order_id: str) -> VenueReport:
        return VenueReport(client_order_id, ReportStatus.ACCEPTED if self.known else ReportStatus.UNKNOWN)

    def cancel(self, client_order_id: str) -> VenueReport:
        self.cancels.append(client_order_id)
        return super().cancel(client_order_id)


def _later(ex: Any, seconds: float) -> None:
    """The order machines' timers due `seconds` on, fired as a run's next bar fires them."""
    t = ex.clock.now() + seconds
    ex.clock.set(t)
    ex.advance(t)


def _gaps(ex: Any) -> list[str]:
    """Faults for an event a machine dropped, but a reconciliation the venue could not answer yet,
    which the order spec drops on purpose (the run goes close-only: the exposure is unknown)."""
    return [f for f in ex.faults if "which the engine sent it" in f and "`reconciled`" not in f]


def test_a_submit_timeout_the_venue_cannot_reconcile_yet_fails_closed(machines) -> None:
    """order.yaml `reconciled`: a reconciliation the venue cannot answer (`unknown`) is dropped on
    purpose so that the run stops opening risk (the order's exposure is unknown). A submit's ack
    timeout is a timer's step, whose records the run did not check: no fault was raised, and the
    run went on opening risk with an order of unknown outcome (Execution.advance checks them)."""
    venue = UnansweredStopVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 4.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    assert ex.faults == []
    _later(ex, ex.order_machine.params["submit_timeout"])
    assert b.legs["stop_loss"].instance.state == "UNRESOLVED"
    assert [f for f in ex.faults if "in `UNRESOLVED`" in f and "`reconciled`" in f]


def test_a_resize_of_an_unanswered_stop_leg_goes_out_once_the_venue_says_it_works(machines) -> None:
    """An entry fill resizes the legs while the stop's own submit is unanswered (SUBMITTED, then
    UNRESOLVED at its timeout): the order spec keeps the amend and sends it once reconciliation
    finds the stop working. Dropped, as it was, it was a fault (close-only) and the stop, once
    known, covered 4 of the 10 units held."""
    venue = UnansweredStopVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 4.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    stop, params = b.legs["stop_loss"].instance, ex.order_machine.params
    ex.on_reports([_fill(b.entry, Side.BUY, 6.0, 100.0, 2, ReportStatus.FILLED)])
    assert (stop.state, _stop_amends(venue, b), _gaps(ex)) == ("SUBMITTED", [], [])
    _later(ex, params["submit_timeout"])
    assert (stop.state, _stop_amends(venue, b)) == ("UNRESOLVED", [])
    venue.known = True
    _later(ex, params["reconcile_overdue"])
    assert (stop.state, _stop_amends(venue, b), _gaps(ex)) == ("ACCEPTED", [(10.0, STOP)], [])


def test_a_cancel_of_an_unresolved_leg_goes_out_once_the_venue_says_it_works(machines) -> None:
    """The take-profit fills while the stop leg is unresolved: the bracket's cancel of the stop is
    kept and sent once reconciliation finds it working. Dropped, as it was, it was a fault and the
    stop worked on at the venue with its position gone."""
    venue = UnansweredStopVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    stop, params = b.legs["stop_loss"].instance, ex.order_machine.params
    _later(ex, params["submit_timeout"])
    ex.on_reports([_fill(b.legs["take_profit"], Side.SELL, 10.0, TAKE_PROFIT, 2, ReportStatus.FILLED)])
    assert (stop.state, venue.cancels, _gaps(ex)) == ("UNRESOLVED", [], [])
    venue.known = True
    _later(ex, params["reconcile_overdue"])
    assert (stop.state, venue.cancels, _gaps(ex)) == ("CANCELED", [b.legs["stop_loss"].id], [])


@pytest.mark.parametrize("end", [ReportStatus.EXPIRED, ReportStatus.REJECTED])
def test_a_fill_for_an_order_the_spec_has_ended_is_booked_and_fails_closed(machines, end) -> None:
    """A late fill racing the venue's expiry or refusal of the take-profit (order.yaml: EXPIRED and
    REJECTED are final, unlike CANCELED): the order's machine takes nothing more, and the fill was
    dropped without a word, the books short of the venue. It is booked, its bracket hears it (the
    units it closed leave the position), and the run goes close-only (a fault)."""
    venue = ScriptedVenue()
    ex, b = _long(machines, venue)
    ex.on_reports([_fill(b.entry, Side.BUY, 10.0, 100.0, 1, ReportStatus.FILLED)])
    tp = b.legs["take_profit"]
    ex.on_reports([VenueReport(tp.id, end, reason="x")])
    assert tp.instance.done and b.open_qty == 10.0
    ex.on_reports([_fill(tp, Side.SELL, 4.0, TAKE_PROFIT, 2, ReportStatus.PARTIALLY_FILLED)])
    assert b.open_qty == 6.0
    assert [f for f in ex.faults if f.startswith("the venue reports a fill of 4 X for order")]
