"""A leg resize the venue refuses (a partial exit shrinks the legs to what is left): the leg then
covers more or less than the position, so the bracket spec fails closed (`leg_resize_rejected`:
close at market, cancel the rest) instead of going on with a stop that does not match it.

On the real paper venue and the real order and bracket specs: every fill is half of what is left
(partial_fill_prob 1), so a short's take-profit, once the falling market reaches it, leaves a
remainder that halves bar by bar down to dust under XRP-PERP's minimum notional of 5. A leg that
covers the whole position is exempt from that minimum (adapters/paper/clamp.py conform, on submit
and amend alike); a second short on the symbol makes the remainder only part of it."""
from __future__ import annotations

import pytest

from adapters.paper import PaperConfig, PaperVenue
from bracket_support import XRP, execution_at, order_machines
from engine.domain import Domain, Side
from engine.exec.execution import Execution
from engine.risk.types import Intent
from engine.runtime import BoundMachine

OPEN_AT, LATER = 280, 300  # XRP-PERP falls from 1.1767 to 1.1324 meanwhile, never above 1.1768
STOP = 1.20
SMALL = (20.0, 1.16)  # qty, take-profit: reached at bar 288, then a partial exit a bar
OTHER = (10.0, 1.0)  # a second short whose take-profit the market never reaches


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def _run(machines: dict[str, BoundMachine], *shorts: tuple[float, float], check=lambda ex, b: None):
    """Shorts on XRP-PERP, one a bar (qty, take-profit), stepped to LATER; `check(ex, last)` after each bar."""
    venue, journal, ex = execution_at(machines, PaperConfig(partial_fill_prob=1.0, partial_fill_min=0.5, partial_fill_max=0.5), OPEN_AT)
    brackets = []
    for i, bar in enumerate(XRP[OPEN_AT + 1:LATER + 1]):
        if i < len(shorts):
            qty, take_profit = shorts[i]
            quote = venue.quote("XRP-PERP")
            intent = Intent("XRP-PERP", Domain.CRYPTO_PERP, Side.SELL, quote, STOP, take_profit, quote.ts, "s")
            brackets.append(ex.open_bracket(intent, qty))
        ex.clock.set(bar.ts)
        ex.on_reports(venue.on_bar(bar))
        check(ex, brackets[-1])
    return ex, brackets[-1], venue, journal


def _working(venue: PaperVenue, b, leg: str) -> float | None:
    """What the venue's working order of the leg still covers (None: none works)."""
    cid = b.legs[leg].id
    left = [o.request.qty - o.filled_qty for o in venue.open_orders() if o.request.client_order_id == cid]
    return left[0] if left else None


def test_a_refused_resize_closes_the_position_instead_of_leaving_a_leg_that_does_not_cover_it(machines) -> None:
    ex, b, venue, journal = _run(machines, OTHER, SMALL)
    why, refused_close = journal.rejections(b.id)
    assert why.startswith("venue refused to resize the stop_loss leg (amend refused: notional") and "minimum" in why
    assert refused_close.startswith("venue refused the close (notional")  # a kill flatten re-sends it
    assert b.instance.state == "flattening"
    # The dust left (2.5, under the minimum and not the whole position) cannot be closed at market
    # either: the venue refuses that close too, and the run stops opening risk and says so.
    assert b.open_qty == pytest.approx(2.5)
    [fault] = ex.faults
    assert fault.startswith("the venue refused the exit of 2.5 XRP-PERP") and "stays open" in fault
    # The stop the bracket could not replace still works until the position is flat (fail closed:
    # never remove protection you cannot replace); the take-profit, which protects nothing, is gone.
    assert _working(venue, b, "take_profit") is None
    assert (_working(venue, b, "stop_loss") or 0.0) >= b.open_qty, "a dust remainder is left with no stop at the venue"


def test_no_position_is_left_without_a_stop_while_a_refused_flatten_leaves_dust(machines) -> None:
    """After every bar: whatever the bracket still holds is covered by its working stop or its market
    close at the venue (the invariant the refused close of the dust used to break)."""

    def covered(ex: Execution, b) -> None:
        left = b.open_qty
        if left > 1e-9:
            cover = sum(o.request.qty - o.filled_qty for o in ex.venue.open_orders()
                        if o.request.client_order_id in {b.legs["stop_loss"].id, *(x.id for x in b.exits)})
            assert cover >= left - 1e-9, f"{left:g} of the position has no working stop or close ({b.instance.state})"

    ex, b, venue, journal = _run(machines, OTHER, SMALL, check=covered)
    assert b.instance.state == "flattening" and ex.faults


def test_a_dust_remainder_that_is_the_whole_position_stays_covered(machines) -> None:
    """The control: alone on the symbol, the legs follow the position down to one lot (each resize
    exempt from the minimum, as it closes the whole position), and the bracket closes normally."""
    seen: list[float] = []

    def legs_cover_the_position(ex: Execution, b) -> None:
        if b.instance.state == "protected":
            left = b.open_qty
            assert _working(ex.venue, b, "stop_loss") == pytest.approx(left)
            assert _working(ex.venue, b, "take_profit") == pytest.approx(left)
            seen.append(left)

    ex, b, venue, journal = _run(machines, SMALL, check=legs_cover_the_position)
    assert min(seen) * 1.2 < 5  # the legs covered a remainder worth less than the minimum notional
    assert b.instance.state == "closed" and journal.rejections(b.id) == [] and not ex.faults
