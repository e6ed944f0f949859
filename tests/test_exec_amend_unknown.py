"""An amend of an order the venue does not know (the paper venue answers status UNKNOWN, `refused`
unset): it was taken as `updated` with qty 0, so the order spec booked a leg of nothing and the
bracket went on believing a stop the venue does not hold. Now it is the order spec's ambiguous
outcome (`ack_timeout`: UNRESOLVED, which reconciles at once), and the run stops opening risk
(an execution fault) since it cannot tell what the venue did with the order.

On the real paper venue and the real specs: the venue the legs were placed on is replaced by
one that never had them (a venue restarted without its book)."""
from __future__ import annotations

from adapters.paper import PaperConfig, PaperVenue
from engine.spec.contract import MOVE_STOP
from test_bracket_stop_amend import LATER, XRP, _shorts, machines  # noqa: F401 (machines: the fixture)


def test_an_amend_the_venue_cannot_place_is_unresolved_and_fails_closed(machines) -> None:
    ex, [b], venue, journal = _shorts(machines, 10.0)
    forgot = PaperVenue(PaperConfig(partial_fill_prob=0.0))
    forgot.on_bar(XRP[LATER])
    ex.venue = forgot
    stop = b.legs["stop_loss"]
    assert stop.instance.ctx["qty"] == 10.0
    ex.operator_event(b, MOVE_STOP, {"stop": 1.15, "price": XRP[LATER].close}, "operator")
    assert not [r for r in journal.rows if r[0] == "amend"], "an unknown answer was booked as an applied amend"
    assert stop.instance.ctx["qty"] == 10.0  # not `updated` to a leg of nothing
    states = [r.target for r in ex.interp.sink.records if r.instance_id == stop.id and r.kind == "transition"]
    assert states[-3:] == ["PENDING_UPDATE", "UNRESOLVED", "REJECTED"]  # reconciled: the venue does not have it
    assert ex.faults[0].startswith(f"the venue does not know order {stop.id} it was asked to amend")
    # A stop-loss leg the venue does not hold protects nothing: the bracket closes the position.
    assert b.instance.state == "flattening"
    assert any(w.startswith("venue refused the stop_loss leg: the venue does not know") for w in journal.rejections(b.id))
