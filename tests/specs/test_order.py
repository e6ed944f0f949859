"""order: the NautilusTrader lifecycle, timeouts into UNRESOLVED, reconciliation, late fills."""
import pytest


def submitted(machine, qty=10.0, price=100.0, reduce_only=False, **kw):
    o = machine("order", **kw)
    o.send("submit", qty=qty, price=price, reduce_only=reduce_only)
    return o


def test_submit_accept_partial_then_filled(machine):
    o = submitted(machine)
    assert o.called("submit_order") == [{"qty": 10.0, "price": 100.0, "reduce_only": False}]
    o.send("accepted")
    o.send("fill", qty=4.0, price=100.0)
    assert (o.state, o.ctx["filled_qty"]) == ("PARTIALLY_FILLED", 4.0)
    o.send("fill", qty=6.0, price=105.0)
    assert o.state == "FILLED" and o.inst.done
    assert o.ctx["filled_qty"] == 10.0
    assert o.ctx["avg_px"] == pytest.approx(103.0)
    assert o.states() == ["INITIALIZED", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED"]
    assert [a["qty"] for a in o.called("record_fill")] == [4.0, 6.0]


def test_cancel(machine):
    o = submitted(machine)
    o.send("accepted")
    o.send("cancel")
    assert o.state == "PENDING_CANCEL" and o.called("cancel_order") == [{}]
    o.send("canceled")
    assert o.state == "CANCELED" and o.inst.has_tag("terminal")


def test_cancel_refused_returns_to_the_working_state(machine):
    o = submitted(machine)
    o.send("accepted")
    o.send("fill", qty=2.0, price=100.0)
    o.send("cancel")
    o.send("cancel_rejected", reason="too late")
    assert o.state == "PARTIALLY_FILLED"


def test_reject(machine):
    o = submitted(machine)
    o.send("rejected", reason="insufficient margin")
    assert o.state == "REJECTED" and o.inst.done
    assert o.called("record_rejection") == [{"reason": "insufficient margin"}]
    # DENIED: an entry submitted while the kill switch blocks entries (test_kill_denies_new_entries_but_exits_pass);
    # the risk chain's refusals come before any order exists (journal `signal_rejected`)


def test_submit_timeout_goes_unresolved_and_only_reconciliation_leaves(machine):
    o = submitted(machine)
    o.wait(o.params["submit_timeout"])
    assert o.state == "UNRESOLVED"
    assert o.called("request_reconciliation") == [{}]
    for event in ("accepted", "canceled", "rejected", "expired"):
        o.send(event, reason="x") if event == "rejected" else o.send(event)
        assert o.state == "UNRESOLVED", event
    o.wait(o.params["reconcile_overdue"])  # overdue: asks again and alerts, still unresolved
    assert o.state == "UNRESOLVED" and len(o.called("request_reconciliation")) == 2
    o.send("reconciled", status="open", filled_qty=3.0, avg_px=99.5, qty=0.0)
    assert o.state == "PARTIALLY_FILLED"
    assert (o.ctx["filled_qty"], o.ctx["avg_px"]) == (3.0, 99.5)


@pytest.mark.parametrize("status, filled, final", [
    ("filled", 10.0, "FILLED"), ("canceled", 0.0, "CANCELED"), ("expired", 0.0, "EXPIRED"),
    ("not_found", 0.0, "REJECTED"), ("open", 0.0, "ACCEPTED"),
])
def test_reconciliation_adopts_the_venue_truth(machine, status, filled, final):
    o = submitted(machine)
    o.wait(o.params["submit_timeout"])
    o.send("reconciled", status=status, filled_qty=filled, avg_px=100.0, qty=0.0)
    assert o.state == final


def test_a_reconciliation_that_finds_the_rest_refused_after_fills_ends_the_order_canceled(machine):
    """The venue's truth for an unresolved order: `rejected` with 4 of 10 filled (Bybit's Rejected
    with cumExecQty > 0). It ends the order as the report would (CANCELED, the fills stand),
    instead of being dropped (a fault) and the order asking again for ever."""
    o = submitted(machine)
    o.wait(o.params["submit_timeout"])
    records = o.send("reconciled", status="rejected", filled_qty=4.0, avg_px=100.0, qty=0.0)
    assert (o.state, o.ctx["filled_qty"]) == ("CANCELED", 4.0)
    assert not [r for r in records if r.kind == "unhandled"]


def test_an_unknown_reconciliation_status_stays_unresolved(machine):
    o = submitted(machine)
    o.wait(o.params["submit_timeout"])
    o.send("reconciled", status="garbled", filled_qty=0.0, avg_px=0.0, qty=0.0)
    assert o.state == "UNRESOLVED"


def test_cancel_timeout_goes_unresolved(machine):
    o = submitted(machine)
    o.send("accepted")
    o.send("cancel")
    o.wait(o.params["ack_timeout"])
    assert o.state == "UNRESOLVED"


def test_paper_env_override_shortens_the_submit_timeout(machine):
    o = submitted(machine, env="paper")
    assert o.params["submit_timeout"] == 2.0
    o.wait(2.0)
    assert o.state == "UNRESOLVED"


def test_late_fill_on_a_canceled_order_is_booked(machine):
    o = submitted(machine)
    o.send("accepted")
    o.send("cancel")
    o.send("canceled")
    o.send("fill", qty=3.0, price=101.0)
    assert o.state == "CANCELED"
    assert (o.ctx["filled_qty"], o.ctx["late_fills"]) == (3.0, 1)
    assert o.called("record_fill") == [{"qty": 3.0, "price": 101.0}]
    assert any("late fill" in a["text"] for a in o.called("notify"))
    o.send("fill", qty=7.0, price=101.0)  # the rest arrives too: the order did fill
    assert o.state == "FILLED" and o.ctx["late_fills"] == 2


def test_amend_round_trip_and_refused_amend(machine):
    o = submitted(machine)
    o.send("accepted")
    o.send("amend", qty=12.0, price=99.0)
    assert o.state == "PENDING_UPDATE"
    o.send("updated", qty=12.0, price=99.0)
    assert (o.state, o.ctx["qty"]) == ("ACCEPTED", 12.0)
    o.send("fill", qty=5.0, price=99.0)
    o.send("amend", qty=5.0, price=99.0)  # not above what already filled
    assert o.state == "PARTIALLY_FILLED"
    assert o.called("record_rejection") == [{"reason": "amend below the filled quantity"}]


def test_kill_denies_new_entries_but_exits_pass(machine):
    entry = machine("order")
    entry.send("kill_close_only")
    entry.send("submit", qty=1.0, price=0.0, reduce_only=False)
    assert entry.state == "DENIED" and entry.called("submit_order") == []
    exit_ = machine("order")
    exit_.send("kill_halt")
    exit_.send("submit", qty=1.0, price=0.0, reduce_only=True)
    assert exit_.state == "SUBMITTED"


def test_kill_cancels_a_working_entry_and_leaves_a_working_exit(machine):
    entry = submitted(machine)
    entry.send("accepted")
    entry.send("kill_flatten")
    assert entry.state == "PENDING_CANCEL" and entry.called("cancel_order") == [{}]
    exit_ = submitted(machine, reduce_only=True)
    exit_.send("accepted")
    records = exit_.send("kill_flatten")
    assert exit_.state == "ACCEPTED" and records[-1].kind == "transition"


def accepted(machine, **kw):
    o = submitted(machine, **kw)
    o.send("accepted")
    return o


def test_a_fill_that_completes_the_order_while_a_cancel_is_in_flight_fills_it(machine):
    """order.yaml fills: the FILLED transition takes PENDING_CANCEL too (a cancel can lose the race)."""
    o = accepted(machine)
    o.send("fill", qty=4.0, price=100.0)
    o.send("cancel")
    o.send("fill", qty=6.0, price=100.0)
    assert o.state == "FILLED" and o.ctx["filled_qty"] == 10.0


def test_late_fills_on_a_canceled_order_average_their_prices(machine):
    """order.yaml &late_fill: avg_px is the size-weighted average over every fill, late ones included."""
    o = accepted(machine)
    o.send("cancel")
    o.send("canceled")
    o.send("fill", qty=4.0, price=100.0)
    o.send("fill", qty=6.0, price=110.0)
    assert o.state == "FILLED" and o.ctx["avg_px"] == pytest.approx(106.0)


def test_cancel_while_an_amend_is_pending_is_sent(machine):
    """order.yaml cancel: PENDING_UPDATE is a working state, so a cancel there goes to the venue."""
    o = accepted(machine)
    o.send("amend", qty=12.0, price=99.0)
    o.send("cancel")
    assert o.state == "PENDING_CANCEL" and o.called("cancel_order") == [{}]


def test_expiry_while_a_cancel_is_pending_ends_the_order(machine):
    """order.yaml expired: the time in force can run out before the cancel's answer comes."""
    o = accepted(machine)
    o.send("cancel")
    o.send("expired")
    assert o.state == "EXPIRED" and o.inst.done


@pytest.mark.parametrize("answer", ["updated", "update_rejected"])
def test_an_amend_answer_returns_a_triggered_stop_to_triggered(machine, answer):
    """order.yaml: `triggered` is remembered (ctx.triggered), and an amend's answer, applied or
    refused, puts the order back in TRIGGERED, not ACCEPTED."""
    o = accepted(machine)
    o.send("triggered")
    assert o.ctx["triggered"] is True
    o.send("amend", qty=12.0, price=99.0)
    o.send(answer, **({"qty": 12.0, "price": 99.0} if answer == "updated" else {"reason": "x"}))
    assert o.state == "TRIGGERED"


@pytest.mark.parametrize("ask, answer", [("amend", "updated"), ("amend", "update_rejected"),
                                         ("cancel", "cancel_rejected")])
def test_a_trigger_that_crosses_an_amend_or_cancel_in_flight_is_remembered(machine, ask, answer):
    """order.yaml: a live venue's trigger report can cross the engine's amend or cancel; it is
    taken in the pending state (not dropped: at run time that is a fault, close-only) and the
    answer returns the order to TRIGGERED, not ACCEPTED."""
    o = accepted(machine)
    o.send(ask, **({"qty": 12.0, "price": 99.0} if ask == "amend" else {}))
    pending = o.state
    o.send("triggered")
    assert (o.state, o.ctx["triggered"], o.bound.drops(pending, "triggered")) == (pending, True, 0)
    o.send(answer, **({"qty": 12.0, "price": 99.0} if answer == "updated" else {"reason": "x"}))
    assert o.state == "TRIGGERED"


@pytest.mark.parametrize("report, state", [("canceled", "CANCELED"), ("expired", "EXPIRED"),
                                           ("triggered", "TRIGGERED")])
def test_a_venue_report_before_the_acknowledgement_is_taken(machine, report, state):
    """order.yaml: the venue's own cancel, expiry or trigger can reach the engine before its
    acknowledgement of the order; SUBMITTED takes each (lint ENGINE_EVENT_UNHANDLED, `anytime`)."""
    o = submitted(machine)
    o.send(report)
    assert o.state == state


@pytest.mark.parametrize("report, payload", [
    ("canceled", {}), ("expired", {}), ("triggered", {}), ("accepted", {}), ("rejected", {"reason": "x"}),
    ("updated", {"qty": 10.0, "price": 99.0}), ("update_rejected", {"reason": "x"}),
    ("cancel_rejected", {"reason": "x"})])
def test_an_unresolved_order_ignores_venue_reports_until_reconciled(machine, report, payload):
    """order.yaml: UNRESOLVED waits for the reconciliation it asked for; a report that crossed it,
    or the late answer to the request that timed out, is ignored on purpose (not a fault: a slow
    venue's acknowledgement would otherwise put the whole run close-only), and the reconciliation
    still decides."""
    o = submitted(machine)
    o.wait(o.params["submit_timeout"])
    o.send(report, **payload)
    assert (o.state, o.bound.drops("UNRESOLVED", report)) == ("UNRESOLVED", 0)
    o.send("reconciled", status="canceled", filled_qty=0.0, avg_px=0.0, qty=0.0)
    assert o.state == "CANCELED"


@pytest.mark.parametrize("answer", ["updated", "update_rejected", "cancel_rejected"])
def test_an_answer_after_a_partial_fill_returns_to_partially_filled(machine, answer):
    """order.yaml: amend/cancel answers on a part-filled order go back to PARTIALLY_FILLED."""
    o = accepted(machine)
    o.send("fill", qty=4.0, price=100.0)
    if answer == "cancel_rejected":
        o.send("cancel")
        o.send(answer, reason="x")
    else:
        o.send("amend", qty=12.0, price=99.0)
        o.send(answer, **({"qty": 12.0, "price": 99.0} if answer == "updated" else {"reason": "x"}))
    assert o.state == "PARTIALLY_FILLED"


def test_kill_resume_before_submit_lets_an_entry_through(machine):
    """order.yaml kill switch: kill_resume lifts entries_blocked in INITIALIZED."""
    o = machine("order")
    o.send("kill_halt")
    o.send("kill_resume")
    o.send("submit", qty=1.0, price=0.0, reduce_only=False)
    assert o.state == "SUBMITTED"


@pytest.mark.parametrize("kill", ["kill_close_only", "kill_flatten", "kill_halt"])
def test_every_kill_broadcast_cancels_a_working_entry_and_spares_an_exit(machine, kill):
    """order.yaml kill switch: each broadcast cancels entries only; reduce-only exits always pass."""
    entry = accepted(machine)
    entry.send(kill)
    assert entry.state == "PENDING_CANCEL" and entry.called("cancel_order") == [{}]
    exit_ = accepted(machine, reduce_only=True)
    exit_.send(kill)
    assert exit_.state == "ACCEPTED" and exit_.called("cancel_order") == []


@pytest.mark.parametrize("then", [[], ["canceled"]])
def test_a_second_cancel_is_dropped_by_the_spec_not_a_gap(machine, then):
    """order.yaml `ignores: [cancel]` in PENDING_CANCEL and CANCELED: a kill broadcast and a bracket's
    cancel_entry both cancel one entry; the second is a deliberate drop, not a gap the run
    faults on (docs/spec-format.md, Semantics step 3)."""
    o = accepted(machine)
    o.send("cancel")
    for event in then:
        o.send(event)
    [r] = o.send("cancel")
    assert r.kind == "unhandled" and "by the spec (`ignores`)" in r.reason
    assert o.called("cancel_order") == [{}]


def test_a_fill_while_unresolved_is_booked(machine):
    """order.yaml: a fill arriving in UNRESOLVED is booked (qty, price) before reconciliation."""
    o = accepted(machine)
    o.send("cancel")
    o.wait(o.params["ack_timeout"])
    o.send("fill", qty=4.0, price=101.0)
    assert o.state == "UNRESOLVED"
    assert (o.ctx["filled_qty"], o.ctx["avg_px"]) == (4.0, 101.0)
    assert o.called("record_fill") == [{"qty": 4.0, "price": 101.0}]


@pytest.mark.parametrize("status", ["not_found"])
def test_a_refusal_with_fills_does_not_close_the_order_as_rejected(machine, status):
    """order.yaml reconciliation: not_found leaves UNRESOLVED only when nothing filled; a venue
    answer that contradicts our fills stays unresolved (fail closed). (`rejected` with fills does
    not contradict them: the venue refused the rest, and the order ends CANCELED, as its report
    would: test_a_reconciliation_that_finds_the_rest_refused_after_fills_ends_the_order_canceled.)"""
    o = accepted(machine)
    o.send("fill", qty=4.0, price=100.0)
    o.send("cancel")
    o.wait(o.params["ack_timeout"])
    o.send("reconciled", status=status, filled_qty=4.0, avg_px=100.0, qty=0.0)
    assert o.state == "UNRESOLVED"
    o.send("reconciled", status=status, filled_qty=0.0, avg_px=0.0, qty=0.0)
    assert o.state == "REJECTED"


def _unresolved(machine, **kw):
    o = submitted(machine, **kw)
    o.wait(o.params["submit_timeout"])
    assert o.state == "UNRESOLVED"
    return o


@pytest.mark.parametrize("truth, state, cancels", [("open", "PENDING_CANCEL", 1), ("canceled", "CANCELED", 0),
                                                   ("filled", "FILLED", 0)])
def test_a_cancel_while_unresolved_waits_for_the_reconciliation(machine, truth, state, cancels):
    """order.yaml: a cancel that reaches an unresolved order (a leg whose sibling filled) is kept,
    not dropped (a fault at run time: close-only, and the leg would work on once reconciled), and
    goes to the venue once the reconciliation says the order still works."""
    o = _unresolved(machine)
    o.send("cancel")
    assert (o.state, o.called("cancel_order"), o.bound.drops("UNRESOLVED", "cancel")) == ("UNRESOLVED", [], 0)
    o.send("reconciled", status=truth, filled_qty=10.0 if truth == "filled" else 0.0, avg_px=100.0, qty=0.0)
    assert (o.state, len(o.called("cancel_order"))) == (state, cancels)


@pytest.mark.parametrize("kill", ["kill_close_only", "kill_flatten", "kill_halt"])
@pytest.mark.parametrize("reduce_only, state", [(False, "PENDING_CANCEL"), (True, "ACCEPTED")])
def test_a_kill_while_an_entry_is_unresolved_cancels_it_once_reconciled(machine, kill, reduce_only, state):
    """order.yaml kill switch: an unresolved entry may still work at the venue, so a kill broadcast
    that would cancel a working entry is kept and acted on once the venue says it works (close-only
    never opens); an exit passes, as in every other state."""
    o = _unresolved(machine, reduce_only=reduce_only)
    o.send(kill)
    o.send("reconciled", status="open", filled_qty=0.0, avg_px=0.0, qty=0.0)
    assert o.state == state
    assert len(o.called("cancel_order")) == (state == "PENDING_CANCEL")


def test_an_amend_before_the_acknowledgement_goes_out_with_it_the_latest_winning(machine):
    """order.yaml: a leg resized (the entry's next fill) or moved before the venue acknowledged it
    keeps the latest amend and sends it with the acknowledgement (dropped, it was a fault at run
    time, and the leg would cover less than the position)."""
    o = submitted(machine, reduce_only=True)
    o.send("amend", qty=12.0, price=95.0)
    o.send("amend", qty=14.0, price=96.0)
    assert (o.state, o.called("amend_order")) == ("SUBMITTED", [])
    o.send("accepted")
    assert (o.state, o.called("amend_order")) == ("PENDING_UPDATE", [{"qty": 14.0, "price": 96.0}])
    o.send("updated", qty=14.0, price=96.0)
    assert (o.state, o.ctx["amend_wanted"], o.ctx["qty"]) == ("ACCEPTED", False, 14.0)


@pytest.mark.parametrize("report, payload, state", [("triggered", {}, "TRIGGERED"),
                                                    ("fill", {"qty": 4.0, "price": 100.0}, "PARTIALLY_FILLED")])
def test_an_amend_waiting_for_the_acknowledgement_goes_out_on_a_trigger_or_fill_that_came_first(
        machine, report, payload, state):
    """order.yaml: the venue's trigger or part fill can come before its acknowledgement; the amend
    that waited goes out then, and its answer puts the order where the report left it."""
    o = submitted(machine, reduce_only=True)
    o.send("amend", qty=12.0, price=95.0)
    o.send(report, **payload)
    assert (o.state, o.called("amend_order")) == ("PENDING_UPDATE", [{"qty": 12.0, "price": 95.0}])
    o.send("updated", qty=12.0, price=95.0)
    assert o.state == state


@pytest.mark.parametrize("answer, payload", [("updated", {"qty": 10.0, "price": 95.0}),
                                             ("update_rejected", {"reason": "x"})])
def test_a_second_amend_while_one_is_in_flight_goes_out_with_its_answer(machine, answer, payload):
    """order.yaml: a trailing stop moves every bar, faster than a slow venue answers: the move
    made while an amend is in flight waits (the latest wins) and goes out with the answer."""
    o = accepted(machine)
    o.send("amend", qty=10.0, price=95.0)
    o.send("amend", qty=10.0, price=96.0)
    o.send("amend", qty=10.0, price=97.0)
    assert (o.state, len(o.called("amend_order"))) == ("PENDING_UPDATE", 1)
    o.send(answer, **payload)
    assert (o.state, o.called("amend_order")[1:]) == ("PENDING_UPDATE", [{"qty": 10.0, "price": 97.0}])
    o.send("updated", qty=10.0, price=97.0)
    assert (o.state, o.ctx["price"]) == ("ACCEPTED", 97.0)


def test_an_amend_while_unresolved_goes_out_once_the_order_is_known_to_work(machine):
    """order.yaml: an amend of an unresolved leg waits for the reconciliation, then goes out."""
    o = _unresolved(machine, reduce_only=True)
    o.send("amend", qty=12.0, price=95.0)
    assert (o.state, o.called("amend_order")) == ("UNRESOLVED", [])
    o.send("reconciled", status="open", filled_qty=2.0, avg_px=100.0, qty=0.0)
    assert (o.state, o.called("amend_order"), o.ctx["filled_qty"]) == (
        "PENDING_UPDATE", [{"qty": 12.0, "price": 95.0}], 2.0)


def test_an_amend_of_an_order_being_canceled_is_dropped_by_the_spec(machine):
    """order.yaml PENDING_CANCEL `ignores: [amend]`: the cancel's answer decides; the amend is moot."""
    o = accepted(machine)
    o.send("cancel")
    o.send("amend", qty=12.0, price=95.0)
    assert (o.state, o.called("amend_order"), o.bound.drops("PENDING_CANCEL", "amend")) == ("PENDING_CANCEL", [], 0)


@pytest.mark.parametrize("before", [[], ["triggered"], ["amend"], ["cancel"]])
@pytest.mark.parametrize("filled, state", [(0.0, "REJECTED"), (4.0, "CANCELED")])
def test_a_venue_refusal_after_the_acknowledgement_ends_the_order(machine, before, filled, state):
    """order.yaml `rejected` in the acknowledged states: a venue can refuse an order it acknowledged
    (a stop refused at its trigger; the rest of a part-filled order, Bybit's Rejected with
    cumExecQty > 0). Unfilled it is REJECTED; part filled, the rest is gone and the fills stand, as
    for a cancel (CANCELED: a late fill is still booked). Dropped, as it was, it was a fault."""
    o = accepted(machine)
    if filled:
        o.send("fill", qty=filled, price=100.0)
    for event in before:
        o.send(event, **({"qty": 10.0, "price": 99.0} if event == "amend" else {}))
    o.send("rejected", reason="insufficient balance")
    assert o.state == state
    assert o.called("record_rejection")[-1]["reason"].endswith("insufficient balance")


@pytest.mark.parametrize("ask, payload, action, state", [
    ("cancel", {}, "cancel_order", "PENDING_CANCEL"),
    ("amend", {"qty": 12.0, "price": 95.0}, "amend_order", "PENDING_UPDATE")])
def test_a_request_whose_answer_timed_out_is_sent_again_if_the_order_still_works(machine, ask, payload, action, state):
    """order.yaml ack_timeout from PENDING_CANCEL / PENDING_UPDATE: an unanswered cancel or amend may
    have been lost; when the reconciliation finds the order still working it is sent again (an amend
    with the same figures: asking what is already applied changes nothing). Without this the order
    rested working after the engine asked to cancel it (found by tests/specs/test_order_races.py)."""
    o = accepted(machine)
    o.send(ask, **payload)
    o.wait(o.params["ack_timeout"])
    assert o.state == "UNRESOLVED"
    o.send("reconciled", status="open", filled_qty=0.0, avg_px=0.0, qty=0.0)
    assert o.state == state and o.called(action) == [payload, payload]


def test_an_amend_kept_by_a_timeout_is_sent_again_once(machine):
    """order.yaml ack_timeout from PENDING_UPDATE, `amend_resent`: the re-sent amend unanswered too
    is not kept again, so a venue that never answers amends is not asked for ever (with a venue
    that answers the amend `unknown` at once and its status `open`, that loop ran inside one step)."""
    o = accepted(machine)
    o.send("amend", qty=10.0, price=95.0)
    for _ in range(2):
        o.wait(o.params["ack_timeout"])
        o.send("reconciled", status="open", filled_qty=0.0, avg_px=0.0, qty=0.0)
    assert o.state == "ACCEPTED" and len(o.called("amend_order")) == 2 and not o.ctx["amend_resent"]


@pytest.mark.parametrize("told, qty", [(12.0, 12.0), (0.0, 10.0)])
def test_a_reconciliation_adopts_the_venues_qty_when_it_says(machine, told, qty):
    """order.yaml `reconciled` qty: an amend whose answer was lost may have resized the order at the
    venue; the order takes the venue's qty (0: the venue does not say, the order keeps its own), so
    its fills are judged against what the venue holds (a leg of 12 is not FILLED after 10)."""
    o = accepted(machine)
    o.send("amend", qty=12.0, price=99.0)
    o.wait(o.params["ack_timeout"])
    o.send("reconciled", status="open", filled_qty=0.0, avg_px=0.0, qty=told)
    assert o.ctx["qty"] == qty


@pytest.mark.parametrize("acked, state", [(False, "SUBMITTED"), (True, "ACCEPTED")])
def test_a_cancel_refused_before_the_acknowledgement_does_not_make_the_order_working(machine, acked, state):
    """order.yaml cancel_rejected, ctx.acked: a cancel sent before the venue acknowledged the order,
    refused (the venue may not hold it: a submit lost on its way), went back to ACCEPTED: an order
    the venue never said it holds counted as working (a stop leg believed to protect). It waits for
    the acknowledgement again, its timeout reconciling; one acknowledged meanwhile works on."""
    o = submitted(machine, reduce_only=True)
    o.send("cancel")
    if acked:
        o.send("accepted")
    o.send("cancel_rejected", reason="order not found")
    assert o.state == state
    if not acked:
        o.wait(o.params["submit_timeout"])
        assert o.state == "UNRESOLVED"


@pytest.mark.parametrize("first", [[], ["cancel"]])
def test_a_fill_for_an_order_never_sent_is_reconciled_not_booked_as_filled(machine, first):
    """Canceled before its submit, the order had qty 0, so any fill `covers` it: FILLED, with no
    reconciliation, where one for an order never sent parks it in UNRESOLVED."""
    o = machine("order")
    for event in first:
        o.send(event)
    o.send("fill", qty=1.0, price=100.0)
    assert o.state == "UNRESOLVED" and o.called("request_reconciliation") and not o.inst.done
    assert o.called("record_fill") == [{"qty": 1.0, "price": 100.0}]
