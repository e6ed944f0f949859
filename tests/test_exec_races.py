"""Execution: whatever a live venue and the engine do to one bracket, in whatever order, the real
order and bracket machines take it, and the position stays protected (hypothesis over random walks).

tests/specs/test_order_races.py walks one order machine alone; this walks one bracket, long or short, through
the real engine code (Execution, OrderHandle, BracketHandle) on a scripted venue that keeps the
truth of every order it was sent. Each step is drawn from what the venue can legitimately do given
its orders now (fill part or all of a working order's rest, trigger the stop, cancel, expire or
refuse a working order on its own, end one with a final report carrying its last fills) or from
what the engine does (a bar's price that trails the stop, an exit, a kill broadcast, the clock
moving on so that timers fire); the venue answers the engine's requests of that step as drawn:
at once, never (UNKNOWN: it got the request, or lost it), or with a refusal, and it sometimes
cannot tell an order's status when asked. After every step: no event was dropped (a fault at run
time: the whole run close-only), a position in entry_partial or protected has a stop-loss leg the
venue works (or one the engine is still waiting to hear about), a closed bracket leaves no position
unless a close of it works, the stop never widens, no order fills past its qty and the engine's
fills are the venue's, and after a kill broadcast only reduce-only orders go out.

What it found, each with its own test below: a reconciliation finding the rest of a part-filled
order refused was dropped (order.yaml, fixed); a close the venue cancelled or expired short of its
qty, or one refused while another close worked, left units no order closed and nothing re-sent
(handles.py, fixed); an amend answered UNKNOWN re-sent in an endless loop (order.yaml: a kept
amend is kept once), and a leg filled in full before its resize, leaving the position without a
stop (bracket.yaml `leg_spent`: the rest is closed); with every request of a step answered
alike, a reconciliation that kept the order's old qty after an amend whose answer was lost (the
venue's later fills reached an order already FILLED), and a cancel refused before the venue
acknowledged the order that made it count as working (order.yaml: the venue's qty adopted,
ctx.acked). The lossy walk (a venue that holds fill reports back and repeats final ones) found an
entry fill after the entry's cancel dropped in `protected` (bracket.yaml: the legs are resized),
a repeated cancel confirmation dropped in CANCELED and told to the bracket again (order.yaml
ignores it; execution tells a bracket only of an order that was live), and a fill booked twice
when a reconciliation ran while another fill was dispatched (handles.py: the found ones first).
The walk with the legs sent with the entry found a leg cancelled, or filled, before any entry fill
was heard dropped in `entry_working` (bracket.yaml fails closed), an exit's fill read as an overfill
while the entry's report was late (execution books the entry's fills first), a reconciliation's
end told to the bracket before the fills it found (execution.later), and `entry_rejected` dropped
while flattening.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import ReportStatus, VenueReport
from bracket_support import T0, AcceptingVenue, execution_on, order_machines
from engine.domain import Domain, Fill, OrderRequest, Role, Side
from engine.risk.types import Intent
from engine.runtime import BoundMachine

STOP, TAKE_PROFIT, QTY = 95.0, 110.0, 10.0
KILLS = ("kill_close_only", "kill_flatten", "kill_halt", "kill_resume")
# How the venue answers the engine's requests of one step: at once (ok), with a refusal, or never:
# `unknown` (it did what was asked, the answer was lost) or `lost` (the request never reached it).
MOODS = ("ok", "ok", "ok", "ok", "refuse", "unknown", "lost")
PROTECTING = ("entry_partial", "protected")  # a position here must have its stop at the venue
UNAWARE = ("SUBMITTED", "UNRESOLVED", "PENDING_UPDATE", "PENDING_CANCEL")  # the engine awaits the venue's word


@dataclass
class Held:
    """One order as the venue holds it: the truth the engine's view is checked against."""

    req: OrderRequest
    qty: float
    price: float | None
    filled: float = 0.0
    alive: bool = True
    triggered: bool = False
    end: ReportStatus | None = None
    fills: list[Fill] = field(default_factory=list)  # every fill the venue made of it

    @property
    def left(self) -> float:
        return self.qty - self.filled


class RaceVenue(AcceptingVenue):
    """Keeps every order it holds (`book`) and answers each request as `mood` says; `lossy`: it
    may hold a fill's report back, to deliver it later in any order."""

    lossy = False
    contingent = False  # the legs go with the entry (bracket.yaml two_step_placement off)

    def __init__(self) -> None:
        super().__init__()
        self.book: dict[str, Held] = {}
        self.mood = "ok"
        self.knows = True  # False: order_status cannot tell yet (UNKNOWN)
        self.withheld: list[VenueReport] = []  # fill reports not delivered yet (the lossy walk)
        self.cancels: set[str] = set()  # the orders the engine asked to cancel

    def _report(self, cid: str, status: ReportStatus, **kw: Any) -> VenueReport:
        return VenueReport(cid, status, **kw)

    def submit(self, req: OrderRequest) -> VenueReport:
        self.sent.append(req)
        cid = req.client_order_id
        mood = self.mood
        if mood == "refuse":
            return self._report(cid, ReportStatus.REJECTED, reason="insufficient margin")
        if mood != "lost":
            self.book[cid] = Held(req, req.qty, req.price)
        if mood in ("unknown", "lost"):
            return self._report(cid, ReportStatus.UNKNOWN, reason="no answer")
        return self._report(cid, ReportStatus.ACCEPTED, qty=req.qty, price=req.price)

    def amend(self, client_order_id: str, price: float | None = None, qty: float | None = None) -> VenueReport:
        o, mood = self.book.get(client_order_id), self.mood
        if o is None or not o.alive or mood == "refuse" or (qty is not None and qty <= o.filled):
            held = o.price if o is not None else None
            return self._report(client_order_id, ReportStatus.REJECTED, reason="amend refused", price=held)
        if mood == "lost":
            return self._report(client_order_id, ReportStatus.UNKNOWN, reason="no answer")
        o.qty, o.price = qty if qty is not None else o.qty, price if price is not None else o.price
        if mood == "unknown":
            return self._report(client_order_id, ReportStatus.UNKNOWN, reason="no answer")
        return self._report(client_order_id, ReportStatus.ACCEPTED, qty=o.qty, price=o.price)

    def cancel(self, client_order_id: str) -> VenueReport:
        self.cancels.add(client_order_id)
        o, mood = self.book.get(client_order_id), self.mood
        if o is None or not o.alive or mood == "refuse":
            return self._report(client_order_id, ReportStatus.REJECTED, reason="order not working")
        if mood != "lost":
            o.alive, o.end = False, ReportStatus.CANCELED
        if mood in ("unknown", "lost"):
            return self._report(client_order_id, ReportStatus.UNKNOWN, reason="no answer")
        return self._report(client_order_id, ReportStatus.CANCELED)

    def order_status(self, client_order_id: str) -> VenueReport | None:
        if not self.knows:
            return self._report(client_order_id, ReportStatus.UNKNOWN, reason="cannot tell yet")
        o = self.book.get(client_order_id)
        if o is None:
            return None
        if o.alive:
            status = (ReportStatus.PARTIALLY_FILLED if o.filled else
                      ReportStatus.TRIGGERED if o.triggered else ReportStatus.ACCEPTED)
        else:
            status = ReportStatus.FILLED if o.left <= 0 else o.end
        return self._report(client_order_id, status, fills=tuple(o.fills), filled_qty=o.filled, qty=o.qty,
                            price=o.price)


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def _handles(b: Any) -> dict[str, Any]:
    """The bracket's orders by id (entry, legs, exits): a closed bracket's too."""
    orders = [b.entry, *b.legs.values(), *b.exits]
    return {o.id: o for o in orders if o is not None}


def _venue_steps(venue: RaceVenue) -> list[tuple]:
    """What the venue may do on its own now, to the orders it works."""
    out: list[tuple] = []
    for cid, o in venue.book.items():
        if not o.alive:
            continue
        room = _room(venue, o)
        out.append(("gone", cid))
        if room >= 1:
            out += [("fill", cid), ("final", cid) if room > 1 or o.left > 1 else ("fill", cid)]
        if o.req.role is Role.STOP_LOSS and not o.triggered and room >= 1:
            out.append(("trigger", cid))
    return out


def _room(venue: RaceVenue, o: Held) -> float:
    """What `o` may fill now: its rest; at a venue holding the legs sent with the entry, a
    reduce-only order no more than the position (its legs work once the entry fills, sized to it)."""
    if not venue.contingent or not o.req.reduce_only:
        return o.left
    held = sum(h.filled for h in venue.book.values() if h.req.role is Role.ENTRY)
    out = sum(h.filled for h in venue.book.values() if h.req.reduce_only)
    return min(o.left, held - out)


ENGINE_STEPS = [("price",), ("price",), ("exit",), ("kill",), ("wait",)]


def _fill_price(o: Held) -> float:
    return o.price if o.price is not None else 100.0


def _venue_does(ex: Any, venue: RaceVenue, step: tuple, data: Any, n: int) -> str:
    kind, cid = step
    o = venue.book[cid]
    if kind == "trigger":
        o.triggered = True
        ex.on_reports([VenueReport(cid, ReportStatus.TRIGGERED)])
        return f"{o.req.role.value} triggered"
    if kind == "gone":
        status = data.draw(st.sampled_from([ReportStatus.CANCELED, ReportStatus.EXPIRED, ReportStatus.REJECTED]))
        o.alive, o.end = False, status
        ex.on_reports([VenueReport(cid, status, reason="venue's own", filled_qty=o.filled)])
        return f"{o.req.role.value} {status.value} by the venue"
    room = _room(venue, o)
    if kind == "final":
        qty = float(data.draw(st.integers(1, int(min(room, o.left - 1)))))
        status = data.draw(st.sampled_from([ReportStatus.CANCELED, ReportStatus.EXPIRED, ReportStatus.REJECTED]))
    else:
        qty = float(data.draw(st.integers(1, int(room))))
        status = ReportStatus.FILLED if qty == o.left else ReportStatus.PARTIALLY_FILLED
    o.filled += qty
    if status is not ReportStatus.PARTIALLY_FILLED:
        o.alive, o.end = False, status
    fill = Fill(cid, f"{cid}-{n}", o.req.symbol, o.req.side, qty, _fill_price(o), 0.0, T0 + n, "q1")
    o.fills.append(fill)
    report = VenueReport(cid, status, (fill,), filled_qty=o.filled, reason="venue's own")
    if venue.lossy and data.draw(st.sampled_from([False, False, True]), label="withheld"):
        venue.withheld.append(report)  # delivered later (a `deliver` step), or found by a reconciliation
        return f"{o.req.role.value} {status.value} with a fill of {qty:g}, its report withheld"
    ex.on_reports([report])
    return f"{o.req.role.value} {status.value} with a fill of {qty:g}"


def _repeat(ex: Any, venue: RaceVenue, data: Any) -> str:
    """The venue says again how an order ended (its answer, then its stream), without fills."""
    ended = [(cid, o) for cid, o in venue.book.items() if not o.alive]
    cid, o = ended[data.draw(st.integers(0, len(ended) - 1), label="which order")]
    status = ReportStatus.FILLED if o.left <= 0 else o.end
    ex.on_reports([VenueReport(cid, status, filled_qty=o.filled, reason="repeated")])
    return f"{o.req.role.value}'s {status.value} repeated"


def _deliver(ex: Any, venue: RaceVenue, data: Any) -> str:
    report = venue.withheld.pop(data.draw(st.integers(0, len(venue.withheld) - 1), label="which report"))
    ex.on_reports([report])
    return f"a withheld {report.status.value} report delivered"


def _engine_does(ex: Any, b: Any, venue: RaceVenue, step: tuple, data: Any) -> str:
    kind = step[0]
    if kind == "price":
        up = data.draw(st.sampled_from([-1.0, 1.0, 2.0, 3.0, 4.0, 6.0, 9.0]))  # in the position's favour
        price = 100.0 + b.side.sign * up
        ex.price_update("X", price, 2.0)
        return f"price {price:g}"
    if kind == "exit":
        ex.exit(b, "max hold")
        return "exit"
    if kind == "kill":
        event = data.draw(st.sampled_from(KILLS))
        ex.broadcast(event)
        return event
    seconds = data.draw(st.sampled_from([11.0, 61.0]))
    _wait(ex, seconds)  # a timer step's drops are faults too (Execution.advance): _check reads them
    return f"wait {seconds:g}s"


class Watch:
    """What the checks remember across steps."""

    def __init__(self, b: Any) -> None:
        self.sign = b.side.sign  # +1 long: a stop only rises; -1 short: it only falls
        self.stop_held = float(b.instance.ctx["stop"])  # the tightest stop the venue has held
        self.killed_at: int | None = None  # how many orders were sent before the first kill
        self.faults = 0  # the faults already checked
        self.booked: list[Fill] = []  # every fill the engine booked (Execution.on_fill)


def _unanswerable(fault: str) -> bool:
    """A reconciliation the venue could not answer yet (`unknown`): dropped on purpose (order.yaml
    `reconciled`): the order stays UNRESOLVED, asks again, and the run goes close-only meanwhile."""
    return "in `UNRESOLVED`" in fault and "`reconciled`" in fault


def _check_oco(b: Any, venue: RaceVenue, where: str) -> None:
    """One cancels the other: once the engine knows a leg filled in full, it has asked the venue
    to cancel the other (this venue, unlike the paper one, cancels no sibling itself)."""
    for leg in b.legs.values():
        if leg.instance.state != "FILLED":
            continue
        for other in b.legs.values():
            held = venue.book.get(other.id)
            if other is not leg and held is not None and held.alive:
                assert other.id in venue.cancels, f"{where}\n{leg.instance.id} filled; its sibling works on, uncanceled"


def _check(ex: Any, b: Any, venue: RaceVenue, watch: Watch, log: list[str]) -> None:
    where = " -> ".join(log)
    new, watch.faults = ex.faults[watch.faults:], len(ex.faults)
    gaps = [f for f in new if "which the engine sent it" in f and (venue.knows or not _unanswerable(f))]
    assert not gaps, f"{where}\n{gaps}"
    handles = _handles(b)
    for cid, o in venue.book.items():
        assert o.filled <= o.qty, f"{where}\n{cid} filled past its qty"
        mine = [f.fill_id for f in watch.booked if f.client_order_id == cid]
        assert len(set(mine)) == len(mine), f"{where}\n{o.req.role.value}: a fill booked twice"
        assert set(mine) <= {f.fill_id for f in o.fills}, f"{where}\n{o.req.role.value}: a fill the venue never made"
        if any(r.client_order_id == cid for r in venue.withheld):
            continue  # the engine cannot know of it yet
        booked = sum(f.qty for f in watch.booked if f.client_order_id == cid)
        assert booked == o.filled, f"{where}\n{o.req.role.value} filled {o.filled:g} at the venue, {booked:g} booked"
        h = handles.get(cid)
        if h is not None and not venue.lossy:
            got = h.instance.ctx["filled_qty"]
            assert got == o.filled, f"{where}\n{o.req.role.value} filled {o.filled:g} at the venue, {got:g} in its machine"
    for other in ex.brackets.values():  # a bracket adopting a late fill's units (bracket.yaml `adopt`)
        if other is not b and other.open_qty:
            closing = any(_closing(venue, o) for o in other.exits) or other.instance.ctx["close_refused"]
            assert other.instance.state == "flattening" and closing, f"{where}\nadopted units left with no close"
    _check_oco(b, venue, where)
    state, pos = b.instance.state, b.open_qty
    stop = b.legs.get("stop_loss")
    held = venue.book.get(stop.id) if stop is not None else None
    if held is not None and held.price is not None:
        assert watch.sign * (held.price - watch.stop_held) >= 0, f"{where}\nthe venue's stop widened to {held.price:g}"
        watch.stop_held = held.price
    if state in PROTECTING and pos > 0:
        assert watch.sign * (b.instance.ctx["stop"] - watch.stop_held) >= 0, f"{where}\nthe bracket's stop is looser than the venue's"
        working = held is not None and held.alive
        unaware = stop is not None and (stop.instance.state in UNAWARE or _withheld(venue, stop))
        assert working or unaware, f"{where}\na position of {pos:g} in {state} with no stop at the venue"
    if state == "flattening" and pos > 0:
        closing = any(_closing(venue, o) for o in b.exits) or b.instance.ctx["close_refused"]
        assert closing, f"{where}\nflattening a position of {pos:g} with no close working and none to re-send"
    if b.instance.done and pos > 0:
        # A close of a closed bracket's late fills the venue refused: the engine raises a fault
        # (close-only) and nothing re-sends it (reported: handles.py, not a spec's gap).
        closing = any(_closing(venue, o) for o in b.exits)
        refused = any("the venue refused the exit" in f for f in ex.faults)
        assert closing or refused, f"{where}\nthe bracket closed with a position of {pos:g} and no close working"
    if watch.killed_at is not None:
        late = [r for r in venue.sent[watch.killed_at:] if r.role is Role.ENTRY or not r.reduce_only]
        assert not late, f"{where}\nan entry went out after a kill broadcast"


def _closing(venue: RaceVenue, order: Any) -> bool:
    """A close the venue works, or one the engine still awaits the venue's word on (sent with no
    answer yet: a timeout and a reconciliation will tell)."""
    held = venue.book.get(order.id)
    return (held is not None and held.alive) or order.instance.state in UNAWARE or _withheld(venue, order)


def _withheld(venue: RaceVenue, order: Any) -> bool:
    """The venue holds back a report of `order`: what it did with it the engine cannot know yet."""
    return any(r.client_order_id == order.id for r in venue.withheld)


def _settled(ex: Any, b: Any, venue: RaceVenue) -> bool:
    return (b.instance.done and not any(o.alive for o in venue.book.values())
            and not any(ex.is_live(o) for o in _handles(b).values()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), side=st.sampled_from([Side.BUY, Side.SELL]))
def test_no_venue_and_engine_interleaving_leaves_a_position_unprotected(machines, data, side) -> None:
    _walk(machines, RaceVenue(), data, side)


class LossyVenue(RaceVenue):
    lossy = True


class ContingentVenue(LossyVenue):
    contingent = True


@pytest.fixture(scope="module")
def one_step() -> dict[str, BoundMachine]:
    return order_machines({"bracket": {"two_step_placement": False}})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), side=st.sampled_from([Side.BUY, Side.SELL]))
def test_with_the_legs_sent_with_the_entry_no_interleaving_leaves_a_position_unprotected(one_step, data,
                                                                                         side) -> None:
    """As above (reports held back and repeated too), with bracket.yaml's `two_step_placement` off:
    the legs go with the entry as contingent orders, which the venue works once the entry fills,
    sized to the position."""
    venue, ex, b, watch, log = _walk(one_step, ContingentVenue(), data, side)
    while venue.withheld:
        log.append(_deliver(ex, venue, data))
        _check(ex, b, venue, watch, log)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), side=st.sampled_from([Side.BUY, Side.SELL]))
def test_fill_reports_held_back_and_delivered_in_any_order_book_each_fill_once(machines, data, side) -> None:
    """As above, on a venue that may hold a fill's report back and deliver it later, in any order
    (a live venue's execution and order streams arrive apart), and say again how an order ended
    (its answer, then its stream): every fill the venue made is
    booked once, whether its report or a reconciliation brings it first, or it comes after its
    order, or its bracket, ended; units a fill left outside every bracket are being closed."""
    venue, ex, b, watch, log = _walk(machines, LossyVenue(), data, side)
    while venue.withheld:
        log.append(_deliver(ex, venue, data))
        _check(ex, b, venue, watch, log)


def _walk(machines: dict[str, BoundMachine], venue: RaceVenue, data: Any, side: Side) -> tuple:
    venue, ex, b = _opened(machines, venue, side)
    watch = Watch(b)
    ex.on_fill = lambda d, f, m: watch.booked.append(f)
    log = ["open"]
    _check(ex, b, venue, watch, log)
    for n in range(1, data.draw(st.integers(1, 30), label="steps") + 1):
        if _settled(ex, b, venue) and not venue.withheld:
            break
        delivery = [("deliver",)] if venue.withheld else []
        if venue.lossy and any(not o.alive for o in venue.book.values()):
            delivery.append(("repeat",))
        step = data.draw(st.sampled_from(_venue_steps(venue) + ENGINE_STEPS + delivery), label="step")
        venue.mood = data.draw(st.sampled_from(MOODS), label="mood")
        venue.knows = data.draw(st.sampled_from([True, True, True, False]), label="status known")
        before = len(venue.sent)
        if step[0] in ("fill", "gone", "final", "trigger"):
            what = _venue_does(ex, venue, step, data, n)
        elif step[0] == "deliver":
            what = _deliver(ex, venue, data)
        elif step[0] == "repeat":
            what = _repeat(ex, venue, data)
        else:
            what = _engine_does(ex, b, venue, step, data)
            if step[0] == "kill" and what != "kill_resume" and watch.killed_at is None:
                watch.killed_at = before
        mood = "" if venue.mood == "ok" else f" [{venue.mood}{'' if venue.knows else ', status unknown'}]"
        log.append(f"{what}{mood} => {b.instance.state}")
        _check(ex, b, venue, watch, log)
    return venue, ex, b, watch, log


def _opened(machines: dict[str, BoundMachine], venue: Any, side: Side = Side.BUY) -> tuple[Any, Any, Any]:
    """(venue, execution, bracket): a bracket of QTY opened on `venue`, its stop and target on the
    position's side of 100 (STOP and TAKE_PROFIT for a long, mirrored for a short)."""
    ex = execution_on(machines, venue)
    stop, take_profit = (STOP, TAKE_PROFIT) if side is Side.BUY else (200.0 - STOP, 200.0 - TAKE_PROFIT)
    return venue, ex, ex.open_bracket(Intent("X", Domain.FOREX, side, venue.quote("X"), stop, take_profit, T0, "s"), QTY)


def _fill(order: Any, qty: float, price: float, n: int, status: ReportStatus) -> VenueReport:
    fill = Fill(order.id, f"{order.id}-{n}", "X", order.request.side, qty, price, 0.0, T0 + n, "q1")
    return VenueReport(order.id, status, (fill,), filled_qty=qty)


@pytest.mark.parametrize("status", [ReportStatus.CANCELED, ReportStatus.EXPIRED])
def test_a_close_the_venue_ends_part_filled_is_sent_again(machines, status) -> None:
    """A flatten's market close of 10 that the venue ends after 4 (its own cancel or expiry of the
    rest, one report with the fill) leaves 6 units no order closes, as a refused close does: the
    bracket hears `close_refused` and the next bar re-sends the close. Only a REJECTED close told
    it (the walk above found it): the bracket waited in flattening for a close that no longer
    worked, and a closed bracket's late close-out ended so left its units with no fault."""
    venue, ex, b = _opened(machines, RaceVenue())
    ex.on_reports([_fill(b.entry, 10.0, 100.0, 1, ReportStatus.FILLED)])
    ex.exit(b, "max hold")
    ex.on_reports([_fill(b.exits[0], 4.0, 99.0, 2, status)])
    assert (b.instance.state, b.open_qty, b.instance.ctx["close_refused"]) == ("flattening", 6.0, True)
    ex.price_update("X", 99.0, 2.0)
    again = venue.sent[-1]
    assert (len(b.exits), again.side, again.qty, again.reduce_only) == (2, Side.SELL, 6.0, True)


class AmendTimeoutVenue(RaceVenue):
    """Answers every amend UNKNOWN (it times out) while order_status says the order works; gives
    up after 50 amends in one step so that the engine's loop shows as a failure, not a hang."""

    amends = 0

    def amend(self, client_order_id: str, price: float | None = None, qty: float | None = None) -> VenueReport:
        self.amends += 1
        if self.amends > 50:
            raise AssertionError(f"{self.amends} amends of one stop in one step: the engine loops")
        return VenueReport(client_order_id, ReportStatus.UNKNOWN, reason="timeout")


def test_an_amend_the_venue_never_answers_is_sent_again_once_not_for_ever(machines) -> None:
    """amend_order reads an UNKNOWN answer as `ack_timeout` at once: UNRESOLVED, whose entry asks
    the venue's status; `open` with the amend kept sends it again (order.yaml `reconciled`), in the
    same step. Kept again, a venue whose amends time out while its status query answers hung the
    engine (the walk found it); the amend a timeout kept is kept once (ctx.amend_resent)."""
    venue, ex, b = _opened(machines, AmendTimeoutVenue())
    ex.on_reports([_fill(b.entry, 10.0, 100.0, 1, ReportStatus.FILLED)])
    ex.price_update("X", 103.0, 2.0)  # the stop trails to 101: its amend times out, and once more
    assert venue.amends == 2 and b.legs["stop_loss"].instance.state == "ACCEPTED"


def test_a_stop_leg_filled_in_full_before_its_resize_leaves_no_position_unprotected(machines) -> None:
    """The entry fills 1 of 10 and the legs go out for 1; their submits are not answered (the venue
    holds them). The entry fills the other 9: the resize waits for the legs' answers (order.yaml
    keeps the amend). The venue fills the stop's whole 1: the bracket heard a partial exit and
    stayed `protected` with 9 units and no stop (the walk found it). Now it hears `leg_spent` and
    fails closed as for a refused leg: the rest is closed at market."""
    venue, ex, b = _opened(machines, RaceVenue())
    venue.mood = "unknown"
    ex.on_reports([_fill(b.entry, 1.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    venue.mood = "ok"
    ex.on_reports([_fill(b.entry, 9.0, 100.0, 2, ReportStatus.FILLED)])
    stop = b.legs["stop_loss"]
    ex.on_reports([_fill(stop, 1.0, STOP, 3, ReportStatus.FILLED)])
    assert stop.instance.state == "FILLED" and b.open_qty == 9.0
    assert b.instance.state not in PROTECTING, "9 units held with no stop"


def test_a_close_refused_while_another_works_is_sent_again_once_that_one_is_done(machines) -> None:
    """A flatten's close of the 4 units entered works; the entry's late 6 units go on a second
    close, which the venue refuses: the first close answers for the position while it works. Once
    it has filled its 4, 6 units are left with no close: the bracket hears `close_refused` and the
    next bar re-sends the close. Nothing told it (the walk found it): it waited in flattening."""
    venue, ex, b = _opened(machines, RaceVenue())
    ex.on_reports([_fill(b.entry, 4.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    ex.exit(b, "max hold")
    venue.mood = "refuse"
    ex.on_reports([_fill(b.entry, 6.0, 100.0, 2, ReportStatus.FILLED)])
    venue.mood = "ok"
    assert not b.instance.ctx["close_refused"]
    ex.on_reports([_fill(b.exits[0], 4.0, 99.0, 3, ReportStatus.FILLED)])
    assert (b.instance.state, b.open_qty, b.instance.ctx["close_refused"]) == ("flattening", 6.0, True)
    ex.price_update("X", 99.0, 2.0)
    again = venue.sent[-1]
    assert (len(b.exits), again.side, again.qty, again.reduce_only) == (3, Side.SELL, 6.0, True)


def test_a_closed_brackets_refused_late_close_out_is_a_fault_once_the_other_is_done(machines) -> None:
    """The bracket closed before its entry filled (its cancel unanswered); the entry's late 3 units
    go on a close-out that works, its late 1 on one the venue refuses, left to the first. Once
    the first has filled its 3, 1 unit is left that no order closes and no bracket re-sends: a
    fault (close-only) says so, as for a lone refused close-out. It went unsaid."""
    venue, ex, b = _opened(machines, RaceVenue())
    venue.mood = "lost"
    ex.exit(b, "max hold")
    venue.mood = "ok"
    assert b.instance.done and ex.is_live(b.entry)
    ex.on_reports([_fill(b.entry, 3.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])
    venue.mood = "refuse"
    ex.on_reports([_fill(b.entry, 1.0, 100.0, 2, ReportStatus.PARTIALLY_FILLED)])
    venue.mood = "ok"
    assert not ex.faults
    ex.on_reports([_fill(b.exits[0], 3.0, 99.0, 3, ReportStatus.FILLED)])
    assert b.open_qty == 1.0 and [f for f in ex.faults if "the venue refused the exit of 1 X" in f]


def test_a_close_the_reconciliation_finds_canceled_is_sent_again(machines) -> None:
    """A flatten's close goes unanswered and its reconciliation cannot tell yet (UNRESOLVED); the
    venue cancels it meanwhile, a report UNRESOLVED ignores (the reconciliation decides). The
    bracket was told at once and re-sent a close, which the venue cancelled too: with the first
    still UNRESOLVED it counted as working, so nothing re-sent again, and when the reconciliation
    found the first canceled nobody told the bracket: it waited in flattening for ever (the walk
    found it). Now the bracket hears of an order's end from the reconciliation, not from a report
    the order spec ignored."""
    venue, ex, b = _opened(machines, RaceVenue())
    ex.on_reports([_fill(b.entry, 10.0, 100.0, 1, ReportStatus.FILLED)])
    venue.mood = "unknown"
    ex.exit(b, "max hold")
    venue.mood, venue.knows = "ok", False
    _wait(ex, 11.0)
    close = b.exits[0]
    assert close.instance.state == "UNRESOLVED"
    venue.book[close.id].alive = False
    venue.book[close.id].end = ReportStatus.CANCELED
    ex.on_reports([VenueReport(close.id, ReportStatus.CANCELED, reason="venue's own")])
    assert not b.instance.ctx["close_refused"]  # UNRESOLVED: the reconciliation decides
    venue.knows = True
    _wait(ex, 61.0)
    assert (close.instance.state, b.instance.ctx["close_refused"]) == ("CANCELED", True)
    ex.price_update("X", 99.0, 2.0)
    assert len(b.exits) == 2 and venue.sent[-1].qty == 10.0 and venue.sent[-1].reduce_only


def _wait(ex: Any, seconds: float) -> None:
    """The clock `seconds` on, its due timers fired as a run's next bar fires them."""
    t = ex.clock.now() + seconds
    ex.clock.set(t)
    ex.advance(t)


def test_a_reconciliation_while_a_fill_is_dispatched_books_what_it_found_once(machines) -> None:
    """The take-profit's submit is unanswered and its resize waits for the answer; the venue fills
    it twice, the first report held back. The second fill sends the waiting amend, which the venue
    answers `unknown`: UNRESOLVED, whose reconciliation finds the first fill and raises it. That
    fill event booked the fill being dispatched again, not the one found (the lossy walk found it):
    the position short of the venue by one fill, over by another."""
    venue, ex, b = _opened(machines, LossyVenue())
    booked: list[str] = []
    ex.on_fill = lambda d, f, m: booked.append(f.fill_id)
    venue.mood = "unknown"
    ex.on_reports([_fill(b.entry, 3.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)])  # the legs go out, unanswered
    venue.mood = "ok"
    ex.on_reports([_fill(b.entry, 1.0, 100.0, 2, ReportStatus.PARTIALLY_FILLED)])  # their resize waits
    tp = b.legs["take_profit"]
    held = venue.book[tp.id]
    first, second = (_fill(tp, 1.0, TAKE_PROFIT, n, ReportStatus.PARTIALLY_FILLED) for n in (3, 4))
    held.filled, held.fills = 2.0, [*first.fills, *second.fills]  # the first one's report is held back
    venue.mood = "unknown"
    ex.on_reports([second])
    assert sorted(i for i in booked if i.startswith(tp.id)) == [f"{tp.id}-3", f"{tp.id}-4"]
    ex.on_reports([first])  # delivered at last: booked already
    assert sorted(i for i in booked if i.startswith(tp.id)) == [f"{tp.id}-3", f"{tp.id}-4"]


def test_an_entry_fill_after_the_entrys_cancel_is_covered_by_the_legs(machines) -> None:
    """The venue cancels the entry's rest after 4 of 10 (protected, legs for 4); a fill of 2 that
    raced the cancel is reported after it. The bracket dropped it in `protected` (a fault, and 2
    units no leg covered: the lossy walk found it); now the legs are resized to the 6."""
    venue, ex, b = _opened(machines, LossyVenue())
    ex.on_reports([_fill(b.entry, 4.0, 100.0, 1, ReportStatus.CANCELED)])
    assert b.instance.state == "protected"
    ex.on_reports([_fill(b.entry, 2.0, 100.0, 2, ReportStatus.CANCELED)])
    assert not ex.faults and b.open_qty == 6.0
    assert {venue.book[o.id].qty for o in b.legs.values()} == {6.0}


def test_a_repeated_cancel_confirmation_is_no_fault_and_tells_the_bracket_nothing_twice(machines) -> None:
    """The venue confirms the entry's cancel in its answer and again on its stream: the second
    reached the CANCELED order (a fault: CANCELED did not ignore it) and the bracket heard
    `entry_canceled` again in `protected` (another fault)."""
    venue, ex, b = _opened(machines, LossyVenue())
    ex.on_reports([_fill(b.entry, 4.0, 100.0, 1, ReportStatus.CANCELED)])
    ex.on_reports([VenueReport(b.entry.id, ReportStatus.CANCELED, filled_qty=4.0, reason="again")])
    assert not ex.faults and b.instance.state == "protected"


# -- found by the walk with the legs sent with the entry (two_step_placement off) ------------------
def test_a_leg_the_venue_cancels_before_the_entry_fills_ends_the_bracket(one_step) -> None:
    """With the legs sent with the entry, the venue cancels the take-profit before any fill: the
    bracket in `entry_working` dropped `leg_canceled` (a fault); now it fails closed as for a
    refused leg: the entry is cancelled, nothing is open."""
    venue, ex, b = _opened(one_step, ContingentVenue())
    tp = b.legs["take_profit"]
    venue.book[tp.id].alive = False
    ex.on_reports([VenueReport(tp.id, ReportStatus.CANCELED, reason="venue's own")])
    assert not _gaps(ex) and b.instance.state == "closed" and not venue.book[b.entry.id].alive


def test_a_legs_fill_before_the_entrys_report_books_the_entrys_fills_first(one_step) -> None:
    """The entry filled 10 and its report is late; the take-profit sent with it fills 10 and says
    so first. Booked alone, it read as 10 sold past flat (an `overfilled` buy-back of a position
    the venue does not hold, and `leg_filled` dropped in `entry_working`); the venue's fills of
    the entry are booked first, and the trade closes flat."""
    venue, ex, b = _opened(one_step, ContingentVenue())
    entry, tp = venue.book[b.entry.id], venue.book[b.legs["take_profit"].id]
    late = _fill(b.entry, 10.0, 100.0, 1, ReportStatus.FILLED)
    entry.filled, entry.alive, entry.fills = 10.0, False, list(late.fills)
    done = _fill(b.legs["take_profit"], 10.0, TAKE_PROFIT, 2, ReportStatus.FILLED)
    tp.filled, tp.alive, tp.fills = 10.0, False, list(done.fills)
    ex.on_reports([done])
    assert not _gaps(ex) and b.open_qty == 0.0 and b.instance.state in ("exiting", "closed")
    assert not [r for r in venue.sent if r.role is Role.EXIT], "no buy-back of a phantom overfill"
    ex.on_reports([late])  # booked already
    assert b.open_qty == 0.0 and len(b.entry_fills) == 1


def _gaps(ex: Any) -> list[str]:
    return [f for f in ex.faults if "which the engine sent it" in f]


def test_a_reconciliation_finding_fills_and_an_end_tells_the_bracket_of_the_fills_first(one_step) -> None:
    """The entry filled 1 (report late); a kill cancels the rest, answer lost; the timeout's
    reconciliation finds the fill and the cancel. The bracket heard `entry_canceled` before the
    fill (closed, with 1 unit no order closed: the walk found it); now the fill comes first, and the
    1 unit is protected."""
    venue, ex, b = _opened(one_step, ContingentVenue())
    entry = venue.book[b.entry.id]
    late = _fill(b.entry, 1.0, 100.0, 1, ReportStatus.PARTIALLY_FILLED)
    entry.filled, entry.fills = 1.0, list(late.fills)
    venue.mood = "unknown"
    ex.broadcast("kill_close_only")
    venue.mood = "ok"
    _wait(ex, 61.0)
    assert not _gaps(ex) and b.entry.instance.state == "CANCELED"
    assert (b.instance.state, b.open_qty) == ("protected", 1.0)
    assert {venue.book[o.id].qty for o in b.legs.values()} == {1.0}


def test_a_stop_moved_before_the_entry_fills_moves_at_the_venue(one_step) -> None:
    """With the legs sent with the entry and nothing filled, an operator tightens the stop. The amend
    keeps the leg's qty (the entry's): sized by the position, 0, the order refused it, and the
    venue worked the old stop while the bracket held the new one."""
    venue, ex, b = _opened(one_step, ContingentVenue())
    sl = b.legs["stop_loss"]
    tighter = STOP + 2.0
    _, refused = ex.operator_event(b, "move_stop", {"stop": tighter, "price": 100.0}, "operator")
    assert not refused and b.instance.ctx["stop"] == tighter
    assert (venue.book[sl.id].price, venue.book[sl.id].qty) == (tighter, QTY)


def _venue_fill(ex: Any, venue: RaceVenue, cid: str, qty: float, status: ReportStatus, n: int,
                withhold: bool = False) -> None:
    """The venue fills `qty` of `cid` and reports it (or holds the report back)."""
    o = venue.book[cid]
    o.filled += qty
    if status is not ReportStatus.PARTIALLY_FILLED:
        o.alive, o.end = False, status
    f = Fill(cid, f"{cid}-{n}", "X", o.req.side, qty, _fill_price(o), 0.0, T0 + n, "q1")
    o.fills.append(f)
    r = VenueReport(cid, status, (f,), filled_qty=o.filled, reason="venue's own")
    if withhold:
        venue.withheld.append(r)
    else:
        ex.on_reports([r])


def _closed_behind_a_late_entry_fill(one_step, late: float) -> tuple[Any, Any, Any]:
    """The entry filled 1 and the take-profit took it (its cancel of the stop unanswered: exiting),
    then the entry filled `late` more (reported: closed out at once) and its last 1 (held back).
    The timer step reconciles both: the stop's cancel closes the bracket, and the entry fill
    found, queued behind it, reached the closed bracket."""
    venue, ex, b = _opened(one_step, ContingentVenue())
    entry, tp = b.entry.id, b.legs["take_profit"].id
    _venue_fill(ex, venue, entry, 1.0, ReportStatus.PARTIALLY_FILLED, 1)
    venue.mood = "lost"
    _venue_fill(ex, venue, tp, 1.0, ReportStatus.FILLED, 2)
    venue.mood = "ok"
    assert b.instance.state == "exiting" and b.open_qty == 0.0
    if late:
        _venue_fill(ex, venue, entry, late, ReportStatus.PARTIALLY_FILLED, 3)
    _venue_fill(ex, venue, entry, 1.0, ReportStatus.CANCELED, 4, withhold=True)
    _wait(ex, 11.0)
    return venue, ex, b


def test_units_an_entry_fill_leaves_open_behind_the_close_are_closed(one_step) -> None:
    """Dropped, it left 1 unit open, no order, no fault. Once closed with units open, the bracket
    closes them."""
    venue, ex, b = _closed_behind_a_late_entry_fill(one_step, 0.0)
    assert b.instance.done and b.open_qty == 1.0
    assert any(_closing(venue, o) and o.request.qty == 1.0 for o in b.exits), "1 unit open and no close"


def test_units_left_open_beside_a_working_close_out_are_closed_too(one_step) -> None:
    """With the close-out of the 2 still working: the 1 unit found behind the close gets its own
    close, netted against that one, so the closes working cover the 3 open, not the 2 alone."""
    venue, ex, b = _closed_behind_a_late_entry_fill(one_step, 2.0)
    assert b.instance.done and b.open_qty == 3.0
    assert sorted(o.request.qty for o in b.exits if _closing(venue, o)) == [1.0, 2.0]


def test_a_resize_the_venue_refuses_for_a_leg_it_ended_in_the_same_bar_closes_nothing(machines) -> None:
    """One bar reaches both legs of a long of 10: the stop fills 4, the target the other 6, and the
    venue cancels the target's rest (reduce-only: flat). Booking the stop's fill first, the bracket
    resizes the target to 6; the venue refuses (the target is gone), and the bracket closed the 6
    at market, units the target's fill, next in the batch, had already closed: the paper venue
    refused that close (no position) and the whole run went close-only (rev25). The target's
    report answers for it: no close, no fault."""
    venue, ex, b = _opened(machines, RaceVenue())
    ex.on_reports([_fill(b.entry, 10.0, 100.0, 1, ReportStatus.FILLED)])
    stop, target = b.legs["stop_loss"], b.legs["take_profit"]
    venue.book[target.id].filled, venue.book[target.id].alive = 6.0, False
    venue.book[stop.id].filled = 4.0
    sent = len(venue.sent)
    ex.on_reports([VenueReport(stop.id, ReportStatus.TRIGGERED), _fill(stop, 4.0, STOP, 2, ReportStatus.PARTIALLY_FILLED),
                   _fill(target, 6.0, TAKE_PROFIT, 3, ReportStatus.PARTIALLY_FILLED),
                   VenueReport(target.id, ReportStatus.CANCELED, filled_qty=6.0)])
    assert venue.sent[sent:] == [] and ex.faults == []
    assert (b.instance.state, b.open_qty) == ("closed", 0.0)
