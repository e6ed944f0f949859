"""bracket: legs follow the entry fills, one-cancels-other, the stop never widens."""
import pytest

LONG = dict(side="buy", qty=10.0, entry_price=100.0, limit_price=0.0, stop=95.0, take_profit=110.0)
SHORT = dict(side="sell", qty=10.0, entry_price=100.0, limit_price=0.0, stop=105.0, take_profit=90.0)


def opened(machine, spec=LONG, **kw):
    b = machine("bracket", **kw)
    b.send("open", **spec)
    return b


def test_partial_entry_fill_resizes_the_legs(machine):
    b = opened(machine, params={"two_step_placement": False})
    assert b.called("submit_entry") == [{"side": "buy", "qty": 10.0, "price": 0.0}]
    assert b.called("place_legs") == [{"qty": 10.0, "stop": 95.0, "take_profit": 110.0}]
    b.send("entry_fill", qty=4.0, price=100.0)
    assert b.state == "entry_partial" and b.called("resize_legs") == [{"qty": 4.0}]
    b.send("entry_fill", qty=6.0, price=100.5)
    assert b.state == "protected"
    assert b.called("resize_legs")[-1] == {"qty": 10.0}
    assert b.ctx["entry_px"] == pytest.approx(100.3)


def test_two_step_placement_attaches_the_legs_after_the_first_fill(machine):
    b = opened(machine, params={"two_step_placement": True})
    assert b.called("submit_entry") and b.called("place_legs") == []
    b.send("entry_fill", qty=4.0, price=100.0)
    assert b.state == "entry_partial"
    assert b.called("place_legs") == [{"qty": 4.0, "stop": 95.0, "take_profit": 110.0}]
    b.send("entry_fill", qty=6.0, price=100.0)
    assert b.state == "protected"
    assert len(b.called("place_legs")) == 1 and b.called("resize_legs") == [{"qty": 10.0}]


def test_tp_fill_cancels_the_stop(machine):
    b = opened(machine)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("leg_filled", leg="take_profit", qty=10.0, price=110.0)
    assert b.state == "exiting" and b.called("cancel_sibling") == [{"leg": "take_profit"}]
    b.send("leg_canceled", leg="stop_loss")
    assert b.state == "closed" and b.inst.done
    assert b.states() == ["idle", "entry_working", "protected", "exiting", "closed"]


def test_both_legs_filling_closes_the_overfill(machine):
    b = opened(machine)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("leg_filled", leg="stop_loss", qty=10.0, price=95.0)
    b.send("leg_filled", leg="take_profit", qty=10.0, price=110.0)
    assert b.state == "exiting" and not b.called("close_position")
    b.send("overfilled", qty=10.0)
    assert b.state == "flattening" and b.called("close_position") == [{"reason": "exits filled past flat"}]
    b.send("position_closed")
    assert b.state == "closed"


@pytest.mark.parametrize("qty", [10.0, 4.0])
def test_a_leg_filling_while_flattening_counts_toward_the_exit(machine, qty):
    """Counted, and no more: the market close may have filled part already, so only the engine's
    sum of every fill says flat (`position_closed`) or past it (`overfilled`)."""
    b = opened(machine)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("exit", reason="max hold")
    b.send("leg_filled", leg="stop_loss", qty=qty, price=95.0)
    assert b.state == "flattening" and b.ctx["exited_qty"] == qty


def test_partial_exit_shrinks_the_legs(machine):
    b = opened(machine)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("leg_filled", leg="take_profit", qty=4.0, price=110.0)
    assert b.state == "protected" and b.called("resize_legs")[-1] == {"qty": 6.0}


@pytest.mark.parametrize("spec, tighter, wider", [(LONG, 97.0, 94.0), (SHORT, 103.0, 106.0)])
def test_the_stop_may_tighten_but_never_widen(machine, spec, tighter, wider):
    b = opened(machine, spec)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("move_stop", stop=wider)
    assert b.ctx["stop"] == spec["stop"] and b.called("amend_stop") == []
    assert b.called("record_rejection") == [{"reason": "stop may not widen"}]
    b.send("move_stop", stop=tighter)
    assert b.ctx["stop"] == tighter and b.called("amend_stop") == [{"stop": tighter}]


def test_breakeven_then_trailing_only_tighten(machine):
    b = opened(machine)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("price_update", price=100.5, atr=1.0)  # not far enough
    assert b.ctx["stop"] == 95.0
    b.send("price_update", price=101.0, atr=1.0)  # 1 ATR: breakeven
    assert b.ctx["stop"] == 100.0
    b.send("price_update", price=103.0, atr=1.0)  # 3 ATR: trail at 1 ATR below
    assert b.ctx["stop"] == 102.0
    b.send("price_update", price=102.5, atr=1.0)  # pull-back: the stop stays
    assert b.ctx["stop"] == 102.0
    assert [a["stop"] for a in b.called("amend_stop")] == [100.0, 102.0]


@pytest.mark.parametrize("spec, past", [(LONG, 100.5), (SHORT, 99.5)])
def test_breakeven_at_zero_atr_waits_for_the_price_past_the_entry(machine, spec, past):
    """breakeven_atr 0 (the bound allows it) moved the stop to the entry with the price at the
    entry: a stop at the market, which a move_stop there is refused for."""
    b = opened(machine, spec, params={"breakeven_atr": 0.0})
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("price_update", price=100.0, atr=2.0)
    assert b.called("amend_stop") == [] and b.ctx["stop"] == spec["stop"]
    b.send("price_update", price=past, atr=2.0)
    assert b.called("amend_stop") == [{"stop": 100.0}]


def test_short_trailing_stop_moves_down(machine):
    b = opened(machine, SHORT)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("price_update", price=97.0, atr=1.0)
    assert b.ctx["stop"] == 98.0


def test_levels_on_the_wrong_side_are_refused(machine):
    b = machine("bracket")
    b.send("open", **{**LONG, "stop": 101.0})
    assert b.state == "closed" and b.called("submit_entry") == []


def test_kill_flatten_closes_the_position(machine):
    b = opened(machine)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("kill_close_only")  # exits pass: nothing changes
    assert b.state == "protected" and b.calls[-1][0] == "place_legs"
    b.send("kill_flatten")
    assert b.state == "flattening"
    # The stop keeps working until flat: a close the venue refuses must not leave the position bare.
    assert b.calls[-3:] == [("cancel_entry", {}), ("cancel_sibling", {"leg": "stop_loss"}),
                            ("close_position", {"reason": "kill switch flatten"})]
    b.send("position_closed")
    assert b.state == "closed" and b.calls[-1] == ("cancel_legs", {})


def test_kill_close_only_stops_a_working_entry(machine):
    b = opened(machine)
    b.send("kill_close_only")
    assert b.called("cancel_entry") == [{}]
    b.send("entry_canceled")
    assert b.state == "closed" and b.called("cancel_legs") == [{}]


def test_an_engine_exit_closes_at_market_and_cancels_the_stop_once_flat(machine):
    b = opened(machine)
    b.send("entry_fill", qty=10.0, price=100.0)
    b.send("exit", reason="signal flipped")
    assert b.state == "flattening"
    assert b.called("close_position") == [{"reason": "signal flipped"}] and b.called("cancel_legs") == []
    assert b.called("cancel_sibling") == [{"leg": "stop_loss"}]  # the target goes, the stop stays
    b.send("position_closed")
    assert b.state == "closed" and b.called("cancel_legs") == [{}]


@pytest.mark.parametrize("leg", ["stop_loss", "take_profit"])
def test_a_leg_spent_short_of_the_position_closes_the_rest(machine, leg):
    """bracket.yaml `leg_spent`: a leg filled in full while part of the position is open (an entry
    fill's resize still on its way to the venue) leaves the rest without that leg: fail closed as for
    a refused leg (close at market, the take-profit cancelled, a working stop kept until flat)."""
    b = opened(machine, params={"two_step_placement": True})
    b.send("entry_fill", qty=1.0, price=100.0)
    b.send("entry_fill", qty=9.0, price=100.0)
    b.send("leg_filled", leg=leg, qty=1.0, price=95.0 if leg == "stop_loss" else 110.0)
    assert b.state == "protected"  # a partial exit, as far as the fill tells
    b.send("leg_spent", leg=leg)
    assert b.state == "flattening" and b.called("cancel_sibling")[-1] == {"leg": "stop_loss"}
    assert b.called("close_position") == [{"reason": "bracket leg filled short of the position"}]
