"""The bracket machine of specs/orders/bracket.yaml, driven directly: quantities that are
sums of fills, and a leg the venue refuses."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, strategies as st

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


def opened(bracket: BoundMachine, qty: float, side: str = "buy"):
    """Entry filled at 100, stop 5 away on the loss side, take-profit 10 away on the gain side."""
    it, _, _ = interp()
    calls: list = []
    inst = it.create(bracket, "b1", host=calls)
    sign = 1.0 if side == "buy" else -1.0
    it.send(inst, "open", {"side": side, "qty": qty, "entry_price": 100.0, "limit_price": 0.0,
                           "stop": 100.0 - 5.0 * sign, "take_profit": 100.0 + 10.0 * sign})
    it.send(inst, "entry_fill", {"qty": qty, "price": 100.0})
    assert inst.state == "protected"
    return it, inst, calls


def part_filled(bracket: BoundMachine, qty: float, filled: float):
    """A long of `qty` at 100 (stop 95, take-profit 110) whose entry filled `filled` so far."""
    it, _, _ = interp()
    calls: list = []
    inst = it.create(bracket, "b1", host=calls)
    it.send(inst, "open", {"side": "buy", "qty": qty, "entry_price": 100.0, "limit_price": 0.0,
                           "stop": 95.0, "take_profit": 110.0})
    it.send(inst, "entry_fill", {"qty": filled, "price": 100.0})
    assert inst.state == "entry_partial"
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
# 7.496 less the first six fills leaves 0.001 off by more than 1e-12 of 0.001: the last fill
# must be weighed against the position, not against a difference that lost the lots' precision.
@example(lots=[1, 1, 232, 1085, 1, 6175, 1], step=0.001)
def test_exit_fills_that_add_up_to_the_position_always_close_it(bracket: BoundMachine, lots: list[int],
                                                                step: float) -> None:
    """Protected: the fill that completes the exit starts the one-cancels-other (`exiting`)."""
    qty = round(sum(lots) * step, 9)
    it, inst, _ = opened(bracket, qty)
    for n in lots:
        it.send(inst, "leg_filled", {"leg": "stop_loss", "qty": round(n * step, 9), "price": 95.0})
    assert inst.state == "exiting"


def test_while_flattening_the_engines_sum_of_every_fill_closes_it(bracket: BoundMachine) -> None:
    """The stop kept for a close can take the whole position after the close filled part of it:
    leg fills alone never close a flattening bracket (that would drop the overfill); the engine,
    which sums every fill, answers `overfilled` or `position_closed`."""
    it, inst, calls = opened(bracket, 10.0)
    it.send(inst, "exit", {"reason": "max hold"})
    it.send(inst, "leg_filled", {"leg": "stop_loss", "qty": 10.0, "price": 95.0})
    assert inst.state == "flattening"
    it.send(inst, "overfilled", {"qty": 6.0})
    assert inst.state == "flattening" and calls[-2:][0][0] == "close_position"
    it.send(inst, "position_closed")
    assert inst.state == "closed" and calls[-1][0] == "cancel_legs"


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
    if flat_by == "leg_filled":  # the take-profit filled before its cancel did, and took it all:
        it.send(inst, "leg_filled", {"leg": "take_profit", "qty": 10.0, "price": 110.0})
        assert inst.state == "flattening" and not calls  # the engine, summing every fill, says flat
    it.send(inst, "position_closed")
    assert inst.state == "closed" and [n for n, _ in calls] == ["cancel_legs"]


# Trailing stop (default params: activation 1.5 ATR, distance 1 ATR): at ATR 2 it trails from a
# 3-point move, 2 points behind the price.
@pytest.mark.parametrize("side, first, back, trailed", [("buy", 110.0, 104.0, 108.0), ("sell", 90.0, 96.0, 92.0)])
def test_a_trailing_step_never_moves_the_stop_back(bracket: BoundMachine, side: str, first: float, back: float,
                                                   trailed: float) -> None:
    """The price runs on, then falls back part way while still past the activation: the stop the
    trail reached stays; a trail drawn from the lower price would widen it."""
    it, inst, calls = opened(bracket, 1.0, side)
    it.send(inst, "price_update", {"price": first, "atr": 2.0})
    assert inst.ctx["stop"] == pytest.approx(trailed)
    it.send(inst, "price_update", {"price": back, "atr": 2.0})
    assert inst.ctx["stop"] == pytest.approx(trailed)
    assert [kw["stop"] for n, kw in calls if n == "amend_stop"] == [pytest.approx(trailed)]


_ATR = st.one_of(st.floats(0.0, 10.0), st.just(float("nan")))


@given(side=st.sampled_from(["buy", "sell"]),
       updates=st.lists(st.tuples(st.floats(50.0, 150.0), _ATR), min_size=1, max_size=12))
def test_price_updates_only_ever_tighten_the_stop(bracket: BoundMachine, side: str,
                                                  updates: list[tuple[float, float]]) -> None:
    """Over any run of (price, ATR) bars, NaN ATR included: the stop and every amend sent only move
    towards the gain side, never past the entry's initial risk, and never past the price that moved it."""
    it, inst, calls = opened(bracket, 1.0, side)
    sign = 1.0 if side == "buy" else -1.0  # sign * stop only grows
    initial = inst.ctx["stop"]
    amended: list[float] = []
    for price, atr in updates:
        before, n_calls = inst.ctx["stop"], len(calls)
        it.send(inst, "price_update", {"price": price, "atr": atr})
        stop = inst.ctx["stop"]
        assert inst.state == "protected"
        assert sign * stop >= sign * before and sign * stop >= sign * initial
        sent = [kw["stop"] for n, kw in calls[n_calls:] if n == "amend_stop"]
        if stop != before:
            assert sent == [stop] and sign * stop <= sign * price  # the stop is not past the market
        else:
            assert sent == []
        amended += sent
    assert all(sign * b > sign * a for a, b in zip([initial, *amended], amended))


@pytest.mark.parametrize("side, price", [("buy", 101.0), ("buy", 100.0), ("sell", 99.0), ("sell", 100.0)])
def test_a_zero_atr_moves_no_stop(bracket: BoundMachine, side: str, price: float) -> None:
    """A flat window's ATR of 0 is no distance: the trail (and breakeven, at the entry price) would
    put the stop at the market, where the venue triggers it at once. Only a positive ATR moves it."""
    it, inst, calls = opened(bracket, 1.0, side)
    stop = inst.ctx["stop"]
    it.send(inst, "price_update", {"price": price, "atr": 0.0})
    assert inst.ctx["stop"] == stop and "amend_stop" not in [n for n, _ in calls]


def test_a_refused_close_of_a_late_entry_fill_while_exiting_is_re_sent_until_flat(bracket: BoundMachine) -> None:
    """The take-profit took half, the entry's rest filled in the race and the venue refused its
    close-out: the bracket closed on the stop's cancel with 0.5 open and nothing to close it."""
    it, inst, calls = part_filled(bracket, 1.0, 0.5)
    it.send(inst, "leg_filled", {"leg": "take_profit", "qty": 0.5, "price": 110.0})
    it.send(inst, "entry_fill", {"qty": 0.5, "price": 100.0})  # the rest, late: closed at market at once
    it.send(inst, "close_refused", {"reason": "below min notional"})
    it.send(inst, "leg_canceled", {"leg": "stop_loss"})  # the sibling's cancel confirms
    assert inst.state == "flattening" and not inst.done
    closes = [kw["reason"] for name, kw in calls if name == "close_position"]
    it.send(inst, "price_update", {"price": 101.0, "atr": 1.0})
    assert [kw["reason"] for name, kw in calls if name == "close_position"] == closes + ["late entry fill while exiting"]
    it.send(inst, "position_closed", {})
    assert inst.state == "closed"


@pytest.mark.parametrize("leg", ["stop_loss", "take_profit"])
def test_a_partial_exit_cancels_the_entrys_rest(bracket: BoundMachine, leg: str) -> None:
    """rev29: a stop filling in part while the entry's rest still worked left that rest buying,
    below the stop, for bars, while the stop sold: the trade is leaving, no more of it is bought."""
    it, inst, calls = part_filled(bracket, 10.0, 4.0)
    it.send(inst, "leg_filled", {"leg": leg, "qty": 1.0, "price": 95.0 if leg == "stop_loss" else 110.0})
    assert [name for name, _ in calls][-2:] == ["resize_legs", "cancel_entry"]
    it.send(inst, "entry_canceled", {})
    assert inst.state == "protected" and inst.ctx["qty"] == 4.0
