"""A close the venue refused during a flatten is re-sent by the kill switch's next flatten
(specs/orders/bracket.yaml, `kill_flatten` from `flattening`): the kill machine re-broadcasts
`kill_flatten` every flatten_retry until the venues report flat, and a bracket already flattening
used to take it as "already flattening" even with no close working, so a refused dust close was
never sent again and the flatten stayed overdue for good. A close still working is left alone.

The refused close is test_bracket_resize_refused's: a dust remainder under XRP-PERP's minimum
notional that is only part of the symbol's position (a second short holds the rest), on the real
paper venue and the real order and bracket specs."""
from __future__ import annotations

import pytest

from bracket_support import XRP, order_machines
from engine.runtime import BoundMachine
from test_bracket_resize_refused import LATER, OTHER, SMALL, _run
from test_exec_flatten_stop import _flattening


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def _kill_flatten_each_bar(ex, venue, bars: int) -> None:
    """What the kill machine's overdue flatten does: kill_flatten to every bracket, once a bar."""
    for bar in XRP[LATER + 1:LATER + 1 + bars]:
        ex.broadcast("kill_flatten")
        ex.clock.set(bar.ts)
        ex.on_reports(venue.on_bar(bar))


def test_a_refused_close_is_re_sent_by_the_next_kill_flatten_and_recorded_once(machines) -> None:
    ex, dust, venue, journal = _run(machines, OTHER, SMALL)
    assert dust.instance.state == "flattening" and len(dust.exits) == 1
    faults = list(ex.faults)
    ex.broadcast("kill_flatten")
    # Re-sent, and refused again: the other short still holds the rest of the symbol's position.
    assert len(dust.exits) == 2, "the kill flatten did not re-send the refused close"
    assert dust.instance.ctx["close_refusals"] == 2 and dust.instance.ctx["close_refused"]
    notices = [r for r in journal.rejections(dust.id) if r.startswith("venue refused the close")]
    assert len(notices) == 1 and "re-sends the close" in notices[0]
    assert ex.faults == faults, "the re-sent close's refusal raised a second fault"


def test_the_re_sent_close_flattens_the_dust_once_it_is_the_whole_position(machines) -> None:
    ex, dust, venue, _ = _run(machines, OTHER, SMALL)
    other = next(b for b in ex.brackets.values() if b is not dust)
    # A market close fills whole (the venue's partial fills are for entries and legs): the other
    # short's close takes a bar, and the dust's re-sent close the next.
    _kill_flatten_each_bar(ex, venue, 14)
    assert other.instance.state == "closed"
    # Once the other short closed the dust is the whole position: its close is exempt from the
    # minimum notional, and the re-sent one fills. One refusal, one fault, however many re-sends.
    assert dust.instance.state == "closed" and dust.open_qty == 0.0, "the dust stays open, the flatten overdue for good"
    assert not [o for o in venue.open_orders() if o.request.symbol == "XRP-PERP"], "an order outlived the flatten"
    assert len(dust.exits) > 1 and len(ex.faults) == 1


def test_a_kill_flatten_leaves_a_working_close_alone(machines) -> None:
    ex, b, venue, _, close = _flattening(machines)
    sent = len(venue.sent)
    ex.broadcast("kill_flatten")
    assert len(venue.sent) == sent and [o.id for o in b.exits] == [close], "a second close while one works"
