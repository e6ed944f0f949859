"""A kill flatten closes every position in every domain (specs/risk/kill_modes.yaml `flatten`: "Close
every position in every domain, then halt"): the `kill_flatten` broadcast the kill machine makes on
entering it reaches the bracket of each domain, and each sends its reduce-only close at once. One
domain's brackets left out (a forex position kept open until its strategy exited) passed every
other test.

Real order and bracket machines on test_exec_overfill's scripted venue (it accepts every order)."""
from __future__ import annotations

from adapters.base import ReportStatus, VenueReport
from engine.domain import Domain, Fill, OrderType, Side
from engine.risk.types import Intent
from bracket_support import T0, execution_on
from test_exec_overfill import Journal, LateCancelVenue, machines  # noqa: F401  (a fixture)

POSITIONS = (("ETH/BTC", Domain.CRYPTO_SPOT, Side.BUY), ("XRP-PERP", Domain.CRYPTO_PERP, Side.SELL),
             ("GBP/USD", Domain.FOREX, Side.BUY))


def _entry_filled(b, n: int) -> VenueReport:
    e = b.entry.request
    fill = Fill(e.client_order_id, f"{e.client_order_id}-f", e.symbol, e.side, e.qty, 100.0, 0.0, T0 + n, "q1")
    return VenueReport(e.client_order_id, ReportStatus.FILLED, (fill,), filled_qty=e.qty)


def test_a_kill_flatten_closes_the_position_of_every_domain_at_once(machines) -> None:
    venue = LateCancelVenue()
    ex = execution_on(machines, venue, Journal())
    brackets = []
    for n, (symbol, domain, side) in enumerate(POSITIONS, 1):
        q = venue.quote(symbol)
        stop, tp = (95.0, 110.0) if side is Side.BUY else (105.0, 90.0)
        b = ex.open_bracket(Intent(symbol, domain, side, q, stop, tp, T0, "s"), 10.0)
        ex.on_reports([_entry_filled(b, n)])
        assert b.instance.state == "protected", (domain, b.instance.state)
        brackets.append(b)
    before = len(venue.sent)

    ex.broadcast("kill_flatten")

    assert {b.domain: b.instance.state for b in brackets} == {d: "flattening" for _, d, _ in POSITIONS}
    closes = {r.symbol: r for r in venue.sent[before:] if r.type is OrderType.MARKET}
    for b in brackets:
        close = closes.get(b.symbol)
        assert close is not None, f"no close sent for the {b.domain.value} position {b.symbol}"
        assert close.reduce_only and close.side is b.side.opposite and close.qty == 10.0
        assert b.exits and b.exits[-1].request is close
