"""A stop amend the venue refuses: the bracket spec had already assigned the stop it asked for, so
the leg's order reports the refusal (`stop_amend_rejected`) and the bracket takes back the stop the
venue still works. On the real paper venue and the real order and bracket specs: the venue refuses
an amend whose notional falls under the instrument's minimum (adapters/paper/clamp.py conform), as
a short's stop tightened towards a falling market does when the position is near that minimum and
the leg is not the whole position (a second short on the symbol). A leg that covers the whole
position is exempt, on amend as on submit: a small position's stop can still be tightened."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st

from adapters.paper import PaperConfig, PaperVenue
from bracket_support import SPECS, XRP, Journal, execution_at, order_machines
from engine.actions import covers
from engine.domain import Domain, Side
from engine.exec.execution import Execution
from engine.risk.types import Intent
from engine.runtime import BoundMachine, Registry
from engine.spec.contract import MOVE_STOP
from engine.spec.loader import load_specs
from runtime_support import interp as scratch

OPEN_AT, LATER = 280, 300  # XRP-PERP falls from 1.1767 to 1.1324 meanwhile, never above 1.1768
QTY, STOP, TAKE_PROFIT = 4.3, 1.20, 1.0  # 4.3 x 1.1767 = 5.06: just over XRP-PERP's minimum notional of 5
TIGHTER = 1.15  # above the market at LATER, below the stop, but 4.3 x 1.15 = 4.945: under the minimum


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def _shorts(machines: dict[str, BoundMachine], *qtys: float) -> tuple[Execution, list, PaperVenue, Journal]:
    """Shorts of these qtys on XRP-PERP, in turn, protected (both legs working), the market fallen since
    their entry. Each one's legs go on as its entry fills: the first's cover the whole position then."""
    venue, journal, ex = execution_at(machines, PaperConfig(partial_fill_prob=0.0), OPEN_AT)
    brackets = []
    for i, bar in enumerate(XRP[OPEN_AT + 1:LATER + 1]):
        if i < len(qtys):  # one a bar: the next bar fills it
            quote = venue.quote("XRP-PERP")
            intent = Intent("XRP-PERP", Domain.CRYPTO_PERP, Side.SELL, quote, STOP, TAKE_PROFIT, quote.ts, "s")
            brackets.append(ex.open_bracket(intent, qtys[i]))
        ex.clock.set(bar.ts)
        ex.on_reports(venue.on_bar(bar))
    assert all(b.instance.state == "protected" and b.instance.ctx["stop"] == STOP for b in brackets)
    assert venue.ledger.qty("XRP-PERP") == pytest.approx(-sum(qtys))
    assert XRP[LATER].close < TIGHTER < STOP
    return ex, brackets, venue, journal


@pytest.fixture
def short(machines) -> tuple[Execution, Any, PaperVenue, Journal]:
    """The first of two shorts on XRP-PERP: its legs cover part of the position, so the venue holds an
    amend of them to the minimum notional (the second's take-profit is worth more than that)."""
    ex, (b, _), venue, journal = _shorts(machines, QTY, 10.0)
    return ex, b, venue, journal


def _venue_stop(venue: PaperVenue, b) -> float:
    [leg] = [o.request for o in venue.open_orders() if o.request.client_order_id == b.legs["stop_loss"].id]
    return leg.price


def test_a_stop_move_the_venue_refuses_leaves_the_stop_where_the_venue_holds_it(short) -> None:
    ex, b, venue, journal = short
    own, refused = ex.operator_event(b, MOVE_STOP, {"stop": TIGHTER, "price": XRP[LATER].close}, "operator")
    assert any(r.kind == "transition" for r in own)  # the spec took it as tighter, and asked the venue
    assert _venue_stop(venue, b) == STOP  # which refused: notional under the minimum
    assert b.instance.ctx["stop"] == STOP, "the bracket believes a stop the venue does not hold"
    [why] = journal.rejections(b.id)
    assert why.startswith("venue refused the stop amend (amend refused: notional") and "minimum" in why
    assert refused == [f"{b.id}: {why}"]  # what `engine move-stop`'s journal row says it did not apply
    assert b.legs["stop_loss"].instance.state == "ACCEPTED" and not ex.faults


def test_a_trailing_step_the_venue_refuses_leaves_the_stop_where_the_venue_holds_it(short) -> None:
    ex, b, venue, journal = short
    entry, price = b.instance.ctx["entry_px"], XRP[LATER].close
    atr = (entry - price) / 2  # a move of 2 ATR: the trail (1.5 ATR) is active, 1 ATR above the price
    ex.post(b.instance, "price_update", {"price": price, "atr": atr})
    ex.pump()
    assert _venue_stop(venue, b) == STOP and b.instance.ctx["stop"] == STOP
    assert [w.split(":")[0] for w in journal.rejections(b.id)] == ["venue refused the stop amend (amend refused"]
    assert not ex.faults


def test_a_stop_amend_the_venue_takes_still_moves_the_stop(short) -> None:
    """The control: a stop whose notional stays over the minimum is amended at the venue."""
    ex, b, venue, journal = short
    tighter = 1.17  # 4.3 x 1.17 = 5.03
    own, refused = ex.operator_event(b, MOVE_STOP, {"stop": tighter, "price": XRP[LATER].close}, "operator")
    assert refused == [] and b.instance.ctx["stop"] == tighter and _venue_stop(venue, b) == tighter


def test_a_stop_that_covers_the_whole_position_is_amended_however_small(machines) -> None:
    """The venue exempts a reduce-only order that closes the whole position from the minimum
    notional on submit; an amend of the same leg is exempt too (it was refused: 4.945 < 5)."""
    ex, [b], venue, journal = _shorts(machines, QTY)
    own, refused = ex.operator_event(b, MOVE_STOP, {"stop": TIGHTER, "price": XRP[LATER].close}, "operator")
    assert refused == [] and b.instance.ctx["stop"] == TIGHTER and _venue_stop(venue, b) == TIGHTER
    assert b.legs["stop_loss"].instance.state == "ACCEPTED" and not ex.faults


# -- the spec alone: a moved stop is never at or beyond the market ----------------------------------
@pytest.fixture(scope="module")
def recorded() -> BoundMachine:
    """The bracket spec with every action recorded on the instance's host list."""
    specset, _ = load_specs([SPECS])
    reg = Registry()
    reg.guard("covers")(covers)
    for name in specset.catalogue.actions:
        reg.action(name)(lambda ctx, _name=name, **kw: ctx.host.append((_name, kw)))
    return BoundMachine.build(specset.machines["bracket"], reg)


@given(side=st.sampled_from([Side.BUY, Side.SELL]), stop=st.floats(80.0, 120.0), price=st.floats(80.0, 120.0))
def test_a_moved_stop_is_tighter_and_short_of_the_market(recorded: BoundMachine, side: Side, stop: float,
                                                         price: float) -> None:
    it, _, _ = scratch()
    calls: list = []
    inst = it.create(recorded, "b1", host=calls)
    was = 100.0 - side.sign * 5.0
    it.send(inst, "open", {"side": side.value, "qty": 1.0, "entry_price": 100.0, "limit_price": 0.0,
                           "stop": was, "take_profit": 100.0 + side.sign * 10.0})
    it.send(inst, "entry_fill", {"qty": 1.0, "price": 100.0})
    del calls[:]
    it.send(inst, MOVE_STOP, {"stop": stop, "price": price})
    amended = [kw["stop"] for name, kw in calls if name == "amend_stop"]
    if side.sign * (price - stop) > 0 and side.sign * (stop - was) >= 0:  # tighter, and short of the market
        assert amended == [stop] and inst.ctx["stop"] == stop
    else:
        assert amended == [] and inst.ctx["stop"] == was and [n for n, _ in calls] == ["record_rejection"]


def test_the_brackets_stop_is_the_one_the_venue_put_on_its_grid(machines) -> None:
    """rev29: the venue worked the stop at 0.091623 (its tick), the bracket kept 0.0916223: status
    showed a stop the venue did not hold, and a move to 0.0916226 was journaled as moved while
    nothing changed at the venue. The venue's price reaches the bracket (`stop_conformed`), on
    placement and on an amend, and a move weighs against it."""
    venue, _, ex = execution_at(machines, PaperConfig(partial_fill_prob=0.0), OPEN_AT)
    tick = venue.catalogue.get("XRP-PERP").tick
    quote = venue.quote("XRP-PERP")
    off = STOP + tick / 3  # a short's stop (a buy stop): the venue rounds it down, towards the market
    b = ex.open_bracket(Intent("XRP-PERP", Domain.CRYPTO_PERP, Side.SELL, quote, off, TAKE_PROFIT, quote.ts, "s"),
                        10.0)
    bar = XRP[OPEN_AT + 1]
    ex.clock.set(bar.ts)
    ex.on_reports(venue.on_bar(bar))
    held = venue._orders[b.legs["stop_loss"].id].req.price
    assert held == pytest.approx(STOP) and b.instance.ctx["stop"] == held
    ex.operator_event(b, MOVE_STOP, {"stop": STOP - tick / 3, "price": bar.close}, "operator")
    held = venue._orders[b.legs["stop_loss"].id].req.price
    assert held == pytest.approx(STOP - tick) and b.instance.ctx["stop"] == held
    ex.operator_event(b, MOVE_STOP, {"stop": held + tick / 3, "price": bar.close}, "operator")
    assert b.instance.ctx["stop"] == held  # the venue's stop: that move would widen it
