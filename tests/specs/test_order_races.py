"""order: whatever a live venue and the engine send an order, in whatever order they cross, the
spec takes it or ignores it on purpose (hypothesis over random interleavings).

The engine sends an order requests (amend, cancel, kill broadcasts) without knowing whether its
last request was answered; the venue sends reports on its own (fills, triggers, its own cancel,
expiry or refusal) and answers each request, possibly late (after the order's timeout). At run
time an event an order's state neither takes nor ignores is a fault: the whole run close-only
(engine/exec/execution.py `_check`). `engine validate` checks that statically per state and event
(ENGINE_EVENT_UNHANDLED); this walks reachable states, so it also finds a state where every guard
of the transitions that could take an event is false. Also: the order never has two amends in
flight, a cancel it was asked for is never lost (the order does not rest working after it
unless the venue refused the cancel), and an order that ended stays ended: whatever report or
late answer still arrives, a final one takes nothing and a canceled one only books a late fill.
"""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.runtime import Interpreter, ListSink, ReplayClock

T0 = 1_700_000_000.0
QTY = 10.0
ANSWERS = {"submit_order": ("accepted", "rejected"), "amend_order": ("updated", "update_rejected"),
           "cancel_order": ("canceled", "cancel_rejected")}
OWN_REPORTS = ("fill", "triggered", "canceled", "expired", "rejected")  # the venue's, whenever it likes
REQUESTS = ("amend", "cancel", "kill_close_only", "kill_flatten", "kill_halt", "kill_resume")
RESTING = {"ACCEPTED", "TRIGGERED", "PARTIALLY_FILLED"}  # working, no request in flight
LATE = tuple(dict.fromkeys(a for answers in ANSWERS.values() for a in answers))  # any answer, however late


def _fresh(h: Any, reduce_only: bool) -> Any:
    """A new order on the test's harness (one bound machine for every example)."""
    h.clock = ReplayClock(T0)
    h.sink = ListSink()
    h.interp = Interpreter(h.clock, h.sink)
    h.calls = []
    h.inst = h.interp.create(h.bound, "order-1", host=h)
    h.send("submit", qty=QTY, price=100.0, reduce_only=reduce_only)
    return h


def _payload(event: str, o: Any, draw: Any) -> dict:
    ctx = o.ctx
    if event == "fill":
        left = ctx["qty"] - ctx["filled_qty"]
        return {"qty": draw(st.sampled_from([left, left / 2])), "price": 100.0}
    if event in ("amend", "updated"):
        return {"qty": draw(st.sampled_from([ctx["qty"], ctx["qty"] + 2.0, ctx["filled_qty"]])),
                "price": draw(st.sampled_from([95.0, 96.0]))}
    if event in ("rejected", "update_rejected", "cancel_rejected"):
        return {"reason": "x"}
    if event == "reconciled":
        status = draw(st.sampled_from(["open", "filled", "canceled", "expired", "rejected", "not_found"]))
        filled = QTY if status == "filled" else 0.0 if status in ("rejected", "not_found") else ctx["filled_qty"]
        return {"status": status, "filled_qty": filled, "avg_px": 100.0, "qty": draw(st.sampled_from([0.0, ctx["qty"]]))}
    return {}


def _choices(o: Any, pending: list[str]) -> list[str]:
    if o.inst.done:  # FILLED, EXPIRED, REJECTED: whatever still arrives changes nothing
        return [*dict.fromkeys((*OWN_REPORTS, *LATE, *REQUESTS))]
    if o.inst.has_tag("terminal"):  # CANCELED: nothing works any more; a late fill can still come
        live = ("fill",) if o.ctx["qty"] > o.ctx["filled_qty"] else ()
        return [*dict.fromkeys((*live, *(e for e in OWN_REPORTS if e != "fill"), *LATE))]
    out = [e for e in OWN_REPORTS if e != "fill" or o.ctx["qty"] > o.ctx["filled_qty"]]
    out += [*REQUESTS, "wait"]
    out += [a for name in dict.fromkeys(pending) for a in ANSWERS[name]]  # late answers too
    if o.state == "UNRESOLVED":
        out.append("reconciled")
    return out


def _requests(o: Any, seen: int) -> list[str]:
    return [name for name, _ in o.calls[seen:] if name in ANSWERS]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), reduce_only=st.booleans())
def test_no_interleaving_of_venue_reports_and_engine_requests_is_dropped(machine, data, reduce_only) -> None:
    o = _fresh(_harness(machine), reduce_only)
    pending, seen, cancel_asked, flight = _requests(o, 0), len(o.calls), False, 0
    for _ in range(data.draw(st.integers(1, 14), label="steps")):
        choices = _choices(o, pending)
        if not choices:
            break
        event = data.draw(st.sampled_from(choices), label=f"event in {o.state}")
        if o.inst.done or o.inst.has_tag("terminal"):
            _check_stays_ended(o, event, data.draw)
            continue
        if event == "wait":
            records = o.wait(data.draw(st.sampled_from([11.0, 61.0])))
        else:
            payload = _payload(event, o, data.draw)
            records = o.send(event, **payload)
            for name, answers in ANSWERS.items():
                if event in answers and name in pending:
                    pending.remove(name)
            cancel_asked = cancel_asked or event == "cancel" or (
                event in ("kill_close_only", "kill_flatten", "kill_halt") and not reduce_only)
            cancel_asked = cancel_asked and event != "cancel_rejected"
        new = _requests(o, seen)
        seen = len(o.calls)
        flight = _check_flight(flight, event, new, records)
        pending += new
        _check_nothing_dropped(o, records)
        assert not (cancel_asked and o.state in RESTING and not new), (
            f"asked to cancel, the order rests in {o.state} with no cancel sent")


def _check_nothing_dropped(o: Any, records: list) -> None:
    dropped = [(r.source, r.event) for r in records if r.kind == "unhandled" and o.bound.drops(r.source, r.event)]
    assert not dropped, f"{dropped} would be a fault at run time (close-only)"


def _check_stays_ended(o: Any, event: str, draw: Any) -> None:
    """An order that ended stays ended: a final one takes nothing, a canceled one books a late
    fill (which may complete it) and ignores every other report and answer. None works again."""
    before, done = o.state, o.inst.done
    records = o.send(event, **_payload(event, o, draw))
    if done:
        assert o.state == before and o.inst.done, f"{before} left on `{event}` for {o.state}"
        return
    assert o.state == "CANCELED" or (event == "fill" and o.state == "FILLED"), (
        f"a canceled order moved to {o.state} on `{event}`")
    _check_nothing_dropped(o, records)


def _check_flight(flight: int, event: str, new: list[str], records: list) -> int:
    """Amends in flight: at most one. An answer, a timeout or a reconciliation ends the one in flight
    (after a timeout the venue's truth decides), a cancel supersedes it."""
    if event in ("updated", "update_rejected", "reconciled", "wait") or "cancel_order" in new:
        flight = 0
    if any(r.event == "ack_timeout" for r in records):
        flight = 0
    flight += new.count("amend_order")
    assert flight <= 1, f"a second amend sent while one is in flight ({event})"
    return flight


_HARNESS: dict[int, Any] = {}


def _harness(machine: Any) -> Any:
    """One harness per test run (its bound machine is the costly part); _fresh gives each example
    its own clock, interpreter and instance."""
    key = id(machine)
    if key not in _HARNESS:
        _HARNESS.clear()
        _HARNESS[key] = machine("order")
    return _HARNESS[key]
