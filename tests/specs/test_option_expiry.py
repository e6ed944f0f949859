"""option_expiry: the DTE gate, OTM expiry, ITM exercise above the threshold, assignment."""
import math

import pytest


def holding(machine, qty=1.0):
    o = machine("option_expiry")
    o.send("open_requested", qty=qty, dte=10.0, premium=0.02)
    assert o.state == "holding"
    return o


def test_open_dte_gate(machine):
    o = machine("option_expiry")
    o.send("open_requested", qty=1.0, dte=2.9, premium=0.02)
    assert o.state == "flat" and o.called("submit_entry") == []
    o.send("open_requested", qty=1.0, dte=3.0, premium=0.02)
    assert o.state == "holding"


def test_otm_expires(machine):
    o = holding(machine)
    o.send("expiry_reached", moneyness=-0.03, settlement_price=1.05)
    assert o.state == "expired" and o.called("expire_option") == [{"qty": 1.0}]


@pytest.mark.parametrize("moneyness, exercised", [(0.005, False), (0.01, True), (0.2, True)])
def test_long_itm_exercises_from_the_threshold(machine, moneyness, exercised):
    o = holding(machine)
    o.send("expiry_reached", moneyness=moneyness, settlement_price=1.10)
    assert bool(o.called("exercise_option")) is exercised
    assert o.state == ("unwinding" if exercised else "expired")


def test_short_itm_is_assigned(machine):
    o = holding(machine, qty=-2.0)
    assert o.ctx["short"] is True
    assert o.called("submit_entry") == [{"side": "sell", "qty": 2.0, "price": 0.02}]
    o.send("expiry_reached", moneyness=0.05, settlement_price=1.10)
    assert o.state == "unwinding"
    assert o.called("assign_option") == [{"qty": 2.0, "settlement_price": 1.10}]


def test_short_otm_expires(machine):
    o = holding(machine, qty=-1.0)
    o.send("expiry_reached", moneyness=-0.01, settlement_price=1.0)
    assert o.state == "expired" and o.called("assign_option") == []


def test_kill_flatten_closes(machine):
    o = holding(machine)
    o.send("kill_flatten")
    assert o.state == "closing" and o.called("close_position")
    o.send("position_closed")
    assert o.state == "closed"


@pytest.mark.parametrize("moneyness, assigned", [(0.0, False), (0.005, True), (0.01, True), (0.2, True)])
def test_a_short_in_the_money_by_any_amount_is_assigned(machine, moneyness, assigned):
    """rev29: a short 0.9% in the money expired and kept its premium, as the holder's exercise
    threshold (this engine's own choice for its longs) was read as the counterparty's too. The
    harsh reading: a holder exercises whatever is worth it."""
    o = holding(machine, qty=-1.0)
    o.send("expiry_reached", moneyness=moneyness, settlement_price=1.10)
    assert bool(o.called("assign_option")) is assigned
    assert o.state == ("unwinding" if assigned else "expired")


def test_exercise_books_the_settlement_price(machine):
    """option_expiry: exercise_option gets the held quantity and the settlement price."""
    o = holding(machine, qty=2.0)
    o.send("expiry_reached", moneyness=0.05, settlement_price=1.10)
    assert o.called("exercise_option") == [{"qty": 2.0, "settlement_price": 1.10}]


@pytest.mark.parametrize("kill", ["kill_close_only", "kill_halt", "kill_flatten"])
def test_kill_blocks_opening_and_resume_allows_it(machine, kill):
    """option_expiry: every kill mode blocks new option positions until kill_resume."""
    o = machine("option_expiry")
    o.send(kill)
    o.send("open_requested", qty=1.0, dte=10.0, premium=0.02)
    assert o.state == "flat" and o.called("submit_entry") == []
    assert o.called("record_rejection") == [{"reason": "entries blocked by the kill switch"}]
    o.send("kill_resume")
    o.send("open_requested", qty=1.0, dte=10.0, premium=0.02)
    assert o.state == "holding"


@pytest.mark.parametrize("qty, action", [(1.0, "exercise_option"), (-1.0, "assign_option")])
@pytest.mark.parametrize("kill", [None, "kill_flatten", "kill_close_only", "kill_halt"])
def test_an_exercise_or_assignment_closes_the_underlying_it_books(machine, qty, action, kill):
    """expiry_reached in `closing` (a flatten's close not filled by expiry) was unhandled, then
    exercised or assigned into a final state: the underlying that booked stayed open, new risk
    while entries were blocked, with no machine left to flatten it. rev29: in normal mode too,
    that underlying had no stop (no bracket protects it): it is closed at once in every mode."""
    o = holding(machine, qty=qty)
    if kill:
        o.send(kill)
    o.send("expiry_reached", moneyness=0.2, settlement_price=1.2)
    assert o.state == "unwinding" and not o.inst.done
    assert o.called(action) == [{"qty": 1.0, "settlement_price": 1.2}]
    assert o.called("close_position")[-1]["reason"].endswith("the underlying has no stop")
    o.send("kill_flatten")
    o.send("position_closed")
    assert o.state == "closed"


@pytest.mark.parametrize("qty", [1.0, -1.0])
def test_a_nan_moneyness_is_refused_not_dropped(machine, qty):
    """A NaN moneyness failed all three threshold guards: the expiry was dropped as unhandled, and
    the option stayed `holding` past its expiry as if nothing had happened. It is refused as a
    guard error now, which a run turns into a fault (close-only)."""
    o = holding(machine, qty=qty)
    out = o.send("expiry_reached", moneyness=math.nan, settlement_price=1.10)
    assert [(r.kind, r.guard_inputs) for r in out] == [("guard_error", {"event.moneyness": "nan"})]
    assert o.state == "holding" and not o.inst.done


@pytest.mark.parametrize("qty, moneyness, action", [(2.0, 0.05, "exercise_option"), (-2.0, 0.05, "assign_option"),
                                                    (2.0, -0.05, "expire_option")])
def test_expiry_acts_on_what_a_partial_close_left(machine, qty, moneyness, action):
    """rev33: the spec took no size change, so a kill's close that filled 1 of 2 contracts before
    expiry still exercised (or assigned) 2: the underlying booked was twice what was held."""
    o = holding(machine, qty=qty)
    o.send("kill_flatten")
    o.send("position_changed", qty=math.copysign(1.0, qty))
    o.send("expiry_reached", moneyness=moneyness, settlement_price=1.1)
    assert [c["qty"] for c in o.called(action)] == [1.0]


@pytest.mark.parametrize("qty, now, action", [(-2.0, 1.0, "exercise_option"), (2.0, -1.0, "assign_option")])
def test_expiry_acts_on_the_side_held_now(machine, qty, now, action):
    """rev34: `short` was set only when the position opened, so a short that became long 1 (signed
    as open_requested's) was assigned as a short at expiry, and a long that became short exercised."""
    o = holding(machine, qty=qty)
    o.send("position_changed", qty=now)
    o.send("expiry_reached", moneyness=0.05, settlement_price=1.1)
    assert [c["qty"] for c in o.called(action)] == [1.0]
