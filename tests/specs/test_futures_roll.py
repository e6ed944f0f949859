"""futures_roll: the DTE gate on opening, the TWAP roll, settlement at expiry."""
import pytest


def holding(machine, qty=4.0):
    f = machine("futures_roll")
    f.send("open_requested", qty=qty, dte=20.0)
    return f


def test_dte_gate_blocks_opening_near_expiry(machine):
    f = machine("futures_roll")
    assert f.params["open_dte_min"] == 5
    f.send("open_requested", qty=1.0, dte=4.9)
    assert f.state == "flat" and f.called("submit_entry") == []
    assert f.called("record_rejection") == [{"reason": "days to expiry below open_dte_min"}]
    f.send("open_requested", qty=1.0, dte=5.0)
    assert f.state == "holding"
    assert f.called("submit_entry") == [{"side": "buy", "qty": 1.0, "price": 0}]


def test_roll_in_twap_slices(machine):
    f = holding(machine)
    n, interval = f.params["roll_slices"], f.params["slice_interval"]
    f.send("dte_update", dte=3.0)
    assert f.state == "holding"
    f.send("dte_update", dte=2.0)
    assert f.state == "rolling" and f.ctx["slices_done"] == 1
    for _ in range(n - 2):
        f.wait(interval)
    assert f.state == "rolling" and f.ctx["slices_done"] == n - 1
    f.wait(interval)  # the last slice: the position lives in the next contract at once
    assert f.state == "holding" and f.ctx["rolls"] == 1 and f.ctx["qty"] == 4.0
    slices = f.called("roll_slice")
    assert [s["slice"] for s in slices] == list(range(1, n + 1))
    assert sum(s["qty"] for s in slices) == 4.0


def test_no_slice_before_its_interval(machine):
    f = holding(machine)
    f.send("dte_update", dte=1.0)
    f.wait(f.params["slice_interval"] - 1)
    assert len(f.called("roll_slice")) == 1


def test_settlement_at_expiry(machine):
    f = holding(machine)
    f.send("expiry_reached", settlement_price=1.0842)
    assert f.state == "settled" and f.inst.done
    assert f.called("settle_position") == [{"price": 1.0842, "qty": 4.0}]


def test_close_only_turns_a_due_roll_into_a_close(machine):
    f = holding(machine)
    f.send("kill_close_only")
    f.send("dte_update", dte=2.0)
    assert f.state == "closing" and f.called("roll_slice") == []
    f.send("position_closed")
    assert f.state == "closed"


def test_kill_during_a_roll_stops_it(machine):
    f = holding(machine)
    f.send("dte_update", dte=2.0)
    f.send("kill_halt")
    assert f.state == "closing"
    f.wait(f.params["slice_interval"] * 2)
    assert len(f.called("roll_slice")) == 1  # the slice timer died with the rolling state


def test_kill_blocks_then_resume_allows_opening(machine):
    f = machine("futures_roll")
    f.send("kill_halt")
    f.send("open_requested", qty=1.0, dte=20.0)
    assert f.state == "flat"
    f.send("kill_resume")
    f.send("open_requested", qty=1.0, dte=20.0)
    assert f.state == "holding"


def rolling(machine):
    f = holding(machine)
    f.send("dte_update", dte=1.0)
    assert f.state == "rolling"
    return f


@pytest.mark.parametrize("slices", [1, 2, 3])
def test_expiry_during_a_roll_settles_only_what_it_has_not_rolled(machine, slices):
    """Mid-roll the machine settled the whole position and ended, with the rolled lots in the next
    contract left to no machine: nothing rolled, settled or flattened them after."""
    f = rolling(machine)
    for _ in range(slices - 1):
        f.wait(f.params["slice_interval"])
    f.send("expiry_reached", settlement_price=1.0842)
    assert f.state == "holding" and not f.inst.done
    assert f.called("settle_position") == [{"price": 1.0842, "qty": 4.0 - slices}]
    assert f.ctx["qty"] == slices and f.ctx["slices_done"] == 0
    f.send("kill_flatten")
    assert f.called("close_position") == [{"reason": "kill switch flatten"}]


def test_a_roll_aborted_by_the_kill_switch_settles_only_the_front_at_expiry(machine):
    f = rolling(machine)
    f.send("kill_close_only")
    f.send("expiry_reached", settlement_price=1.0842)
    assert f.state == "closing" and f.called("settle_position") == [{"price": 1.0842, "qty": 3.0}]
    f.send("position_closed")
    assert f.state == "closed"


def test_a_one_slice_roll_is_done_once_sent(machine):
    f = machine("futures_roll", params={"roll_slices": 1})
    f.send("open_requested", qty=4.0, dte=20.0)
    f.send("dte_update", dte=2.0)
    assert f.state == "holding" and f.ctx["rolls"] == 1
    assert f.called("roll_slice") == [{"qty": 4.0, "slice": 1, "slices": 1}]


def test_a_dte_update_that_asks_nothing_is_no_fault(machine):
    """The host sends it at least daily: in every state but a due holding it was a spec gap,
    which puts a hosted run close-only."""
    f = holding(machine)
    for dte in (9.0, 2.0, 1.0):  # holding not due, then due (on to rolling), then rolling
        out = f.send("dte_update", dte=dte)
        assert all(r.kind != "unhandled" for r in out), [(r.kind, r.reason) for r in out]


def test_a_position_closed_during_a_roll_ends_it(machine):
    """futures_roll: position_closed from rolling ends the position's life (no more slices)."""
    f = rolling(machine)
    f.send("position_closed")
    assert f.state == "closed"
    f.wait(f.params["slice_interval"] * 2)
    assert len(f.called("roll_slice")) == 1


def test_close_only_during_a_roll_closes_instead(machine):
    """futures_roll: kill_close_only mid-roll aborts the roll (the rest would open risk) and closes."""
    f = rolling(machine)
    f.send("kill_close_only")
    assert f.state == "closing"
    assert f.called("close_position") == [{"reason": "kill switch during a roll"}]


def test_flatten_while_flat_blocks_opening(machine):
    """futures_roll: kill_flatten while flat blocks entries like the other kill modes."""
    f = machine("futures_roll")
    f.send("kill_flatten")
    f.send("open_requested", qty=1.0, dte=20.0)
    assert f.state == "flat" and f.called("submit_entry") == []
    assert f.called("record_rejection") == [{"reason": "entries blocked by the kill switch"}]


def test_a_close_not_filled_by_expiry_is_settled(machine):
    """expiry_reached in `closing` was unhandled: the future was never settled."""
    f = holding(machine)
    f.send("kill_flatten")
    assert f.state == "closing"
    f.send("expiry_reached", settlement_price=1.0842)
    assert f.state == "settled" and f.called("settle_position") == [{"price": 1.0842, "qty": 4.0}]


def test_a_nan_quantity_opens_nothing(machine):
    """The DTE gate reads only `dte`: a NaN qty opened a position, assigned NaN to ctx.qty and
    sent submit_entry a `sell` (NaN > 0 is false) of NaN. The request is refused now."""
    f = machine("futures_roll")
    out = f.send("open_requested", qty=float("nan"), dte=20.0)
    assert [(r.kind, r.guard_inputs) for r in out] == [("guard_error", {"event.qty": "nan"})]
    assert f.state == "flat" and f.called("submit_entry") == [] and f.ctx["qty"] == 0.0


def test_a_partial_close_is_what_rolls_and_settles(machine):
    """rev29: no event told the machine of a partial close, so a 4-lot position cut to 1 rolled
    4 lots: new risk opened in the next contract."""
    f = holding(machine)
    f.send("position_changed", qty=1.0)
    f.send("dte_update", dte=2.0)
    n = f.params["roll_slices"]
    for _ in range(n - 1):
        f.wait(f.params["slice_interval"])
    assert f.state == "holding" and sum(s["qty"] for s in f.called("roll_slice")) == 1.0


def test_a_change_mid_roll_closes_the_rest(machine):
    f = holding(machine)
    f.send("dte_update", dte=2.0)
    assert f.state == "rolling"
    f.send("position_changed", qty=2.0)
    assert f.state == "closing" and f.called("close_position")[-1]["reason"] == "position changed during a roll"
    f.wait(f.params["slice_interval"])
    assert len(f.called("roll_slice")) == 1  # no slice after it


def test_an_expiry_after_a_change_mid_roll_settles_what_the_front_contract_holds(machine):
    """rev30: the expiry settled a share of the size the roll started with (0.5 of a lot) where the
    change had said what the front contract holds."""
    f = holding(machine)
    f.send("dte_update", dte=2.0)
    f.wait(f.params["slice_interval"])  # 2 of 4 slices rolled
    f.send("position_changed", qty=1.0)
    f.send("expiry_reached", settlement_price=1.08)
    assert f.called("settle_position") == [{"price": 1.08, "qty": 1.0}]


@pytest.mark.parametrize("stop", ["kill_close_only", "kill_flatten"])
def test_a_front_contract_that_shrinks_after_a_roll_is_cut_short_settles_what_it_holds(machine, stop):
    """rev33: after a kill stopped the roll (1 of 4 slices rolled: 3 front, 1 next), the close part
    filled (position_changed: the front holds 2). The expiry settled 2 * 3/4 = 1.5, scaling the new
    front size by the slices a second time. The front's 2 settle; the next contract's 1 is closed on."""
    f = rolling(machine)
    f.send(stop)
    f.send("position_changed", qty=2.0)
    f.send("expiry_reached", settlement_price=1.08)
    assert f.called("settle_position") == [{"price": 1.08, "qty": 2.0}]
    assert f.state == "closing" and f.ctx["qty"] == 1.0 and f.ctx["rolled"] == 0.0


def test_the_next_contract_s_part_outlives_an_expiry_after_a_change_mid_roll(machine):
    """rev33: the change mid-roll forgot the slices already rolled, so the expiry settled the front and
    ended the machine (`settled`) while 2 lots still lived in the next contract, closed by nobody."""
    f = holding(machine)
    f.send("dte_update", dte=2.0)
    f.wait(f.params["slice_interval"])  # 2 of 4 slices rolled
    f.send("position_changed", qty=1.0)
    f.send("expiry_reached", settlement_price=1.08)
    assert f.state == "closing" and f.ctx["qty"] == 2.0
    f.send("position_closed")
    assert f.state == "closed"
