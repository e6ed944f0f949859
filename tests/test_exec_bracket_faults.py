"""A bracket whose position the venue will not let out fails closed: execution raises a fault
(the run sends it to the kill machine, which goes close-only) instead of waiting for ever."""
from __future__ import annotations

from types import SimpleNamespace

from adapters.base import ReportStatus
from engine.domain import Domain, Fill, Side, on_lot_grid
from engine.exec.handles import BracketHandle


class Recorder:
    """Execution's side of a bracket, as far as a refused exit reaches: lot grid, outbox, faults."""

    def __init__(self) -> None:
        self.posted: list[str] = []
        self.faults: list[str] = []

    def on_step(self, symbol: str, qty: float, down: bool = False) -> float:
        return on_lot_grid(qty, 0.1, False, down)

    def post(self, instance, event: str, payload=None) -> None:
        self.posted.append(event)

    def fault(self, reason: str) -> None:
        self.faults.append(reason)


def _bracket(ex: Recorder, exit_qty: float) -> tuple[BracketHandle, object]:
    b = BracketHandle(ex, "b1", "XRP-PERP", Domain.CRYPTO_PERP, Side.SELL, "s", 0.0)
    b.entry_fills = [Fill("e", "f1", "XRP-PERP", Side.SELL, 10839.7, 1.0, 0.0, 0.0, "q"),
                     Fill("e", "f2", "XRP-PERP", Side.SELL, 3722.2, 1.0, 0.0, 0.0, "q")]
    b.exit_fills = [Fill("x", "f3", "XRP-PERP", Side.BUY, exit_qty, 1.0, 0.0, 1.0, "q")]
    order = SimpleNamespace(id="x2")
    b.exits = [order]
    return b, order


def test_a_refused_exit_with_units_left_is_a_fault() -> None:
    ex = Recorder()
    b, order = _bracket(ex, 10000.0)
    b.instance = SimpleNamespace(done=False)
    b.on_order_done(order, ReportStatus.REJECTED, "notional below the minimum")
    assert ex.faults and "4561.9 XRP-PERP" in ex.faults[0] and ex.posted == ["close_refused"]
    # A kill flatten's re-send refused again: the bracket hears it, the kill machine heard it once.
    b.on_order_done(order, ReportStatus.REJECTED, "notional below the minimum")
    assert len(ex.faults) == 1 and ex.posted == ["close_refused"] * 2


def test_float_dust_is_no_open_position() -> None:
    """The fills sum to 14561.900000000001; the exit of 14561.9 leaves the bracket flat."""
    ex = Recorder()
    b, order = _bracket(ex, 14561.9)
    assert b.open_qty == 0.0
    b.on_order_done(order, ReportStatus.REJECTED, "nothing to reduce")
    assert ex.posted == ["position_closed"] and not ex.faults
