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
    assert names[-4:] == ["record_rejection", "cancel_entry", "cancel_legs", "close_position"]
    assert "stop_loss" in calls[-4][1]["reason"]
