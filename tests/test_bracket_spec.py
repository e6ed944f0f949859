"""The bracket machine of specs/orders/bracket.yaml, driven directly: quantities that are
sums of fills, and a leg the venue refuses."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from engine.actions import covers
from engine.runtime import BoundMachine, Registry
from engine.spec.loader import load_specs
from runtime_support import interp

SPECS = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture(scope="module")
def bracket() -> BoundMachine:
    specset, _ = load_specs([SPECS])
    m = specset.machines["bracket"]
    reg = Registry()
    reg.guard("covers")(covers)
    for name in specset.catalogue.actions:  # each call is recorded on the host list
        reg.action(name)(lambda ctx, _name=name, **kw: ctx.host.append((_name, kw)))
    return BoundMachine.build(m, reg)


def opened(bracket: BoundMachine, qty: float):
    it, _, _ = interp()
    calls: list = []
    inst = it.create(bracket, "b1", host=calls)
    it.send(inst, "open", {"side": "buy", "qty": qty, "entry_price": 100.0, "limit_price": 0.0,
                           "stop": 95.0, "take_profit": 110.0})
    it.send(inst, "entry_fill", {"qty": qty, "price": 100.0})
    assert inst.state == "protected"
    return it, inst, calls


def test_two_legs_that_fill_the_position_between_them_close_it(bracket: BoundMachine) -> None:
    # 1240.69 - 631.42 is 609.2700000000001 in floats: the stop's 609.27 must still close it.
    it, inst, calls = opened(bracket, 1240.69)
    it.send(inst, "leg_filled", {"leg": "take_profit", "qty": 631.42, "price": 110.0})
    assert inst.state == "protected"
    it.send(inst, "leg_filled", {"leg": "stop_loss", "qty": 609.27, "price": 95.0})
    assert inst.state == "exiting"
    assert [kw["qty"] for name, kw in calls if name == "resize_legs"] == [pytest.approx(609.27)]


@given(lots=st.lists(st.integers(1, 10_000), min_size=1, max_size=8), step=st.sampled_from([0.001, 0.01, 1.0]))
def test_exit_fills_that_add_up_to_the_position_always_close_it(bracket: BoundMachine, lots: list[int],
                                                                step: float) -> None:
    qty = round(sum(lots) * step, 9)
    it, inst, _ = opened(bracket, qty)
    for n in lots:
        it.send(inst, "leg_filled", {"leg": "stop_loss", "qty": round(n * step, 9), "price": 95.0})
    assert inst.state == "exiting"


def test_a_refused_leg_closes_the_position_at_once(bracket: BoundMachine) -> None:
    it, inst, calls = opened(bracket, 10.0)
    it.send(inst, "leg_rejected", {"leg": "stop_loss", "reason": "reduce-only: no position"})
    assert inst.state == "flattening"
    names = [name for name, _ in calls]
    assert names[-4:] == ["record_rejection", "cancel_entry", "cancel_sibling", "close_position"]
    assert "stop_loss" in calls[-4][1]["reason"]


_FLATTENS = [("leg_rejected", {"leg": "take_profit", "reason": "refused"}),
             ("leg_resize_rejected", {"leg": "stop_loss", "reason": "amend refused: notional under the minimum"}),
             ("exit", {"reason": "max hold"}), ("kill_flatten", {})]


@pytest.mark.parametrize("event, payload", _FLATTENS, ids=[e for e, _ in _FLATTENS])
@pytest.mark.parametrize("flat_by", ["position_closed", "leg_filled"])
def test_a_flatten_keeps_the_stop_until_the_position_is_flat(bracket: BoundMachine, event: str, payload: dict,
                                                             flat_by: str) -> None:
    """The venue may refuse the market close (dust under its minimum notional): the stop, which the
    bracket could not replace, goes only once the position is flat, never on the way into flattening."""
    it, inst, calls = opened(bracket, 10.0)
    del calls[:]
    it.send(inst, event, payload)
    assert inst.state == "flattening"
    assert "cancel_legs" not in [n for n, _ in calls]
    assert [kw["leg"] for n, kw in calls if n == "cancel_sibling"] == ["stop_loss"]  # all but the stop
    del calls[:]
    if flat_by == "leg_filled":  # the take-profit filled before its cancel did, and took it all
        it.send(inst, "leg_filled", {"leg": "take_profit", "qty": 10.0, "price": 110.0})
    else:
        it.send(inst, "position_closed")
    assert inst.state == "closed" and [n for n, _ in calls] == ["cancel_legs"]
