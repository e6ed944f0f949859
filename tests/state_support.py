"""Builders shared by the tests/test_state_*.py files."""
from __future__ import annotations

from pathlib import Path

from engine.domain import Domain, Fill, OrderRequest, OrderType, Position, Role, Side, client_order_id
from state.models import PositionRow
from state.store import Store


class Clock:
    """An injected clock that ticks one second per reading."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def open_store(tmp_path: Path, durability: str = "full", **kw) -> Store:
    return Store.open(path=str(tmp_path / "engine.db"), durability=durability, clock=Clock(), **kw)


def order(nonce: int = 0, side: Side = Side.BUY, qty: float = 1.0, symbol: str = "BTCUSDT",
          strategy: str = "s1") -> OrderRequest:
    ts = 1_700_000_000.0 + nonce
    return OrderRequest(client_order_id(strategy, symbol, ts, nonce), symbol, side, qty,
                        OrderType.MARKET, Role.ENTRY, f"q{nonce}", ts, strategy=strategy)


def fill(req: OrderRequest, k: int = 0, qty: float | None = None, price: float = 100.0,
         fee: float = 0.0) -> Fill:
    return Fill(req.client_order_id, f"{req.client_order_id}-{k}", req.symbol, req.side,
                req.qty if qty is None else qty, price, fee, req.ts + k, req.quote_id)


def put_position(store: Store, position: Position, mode: str = "paper") -> None:
    """Set a position outright, as a test's starting point: the engine moves positions by fills
    only (Store.record_fill)."""
    key = (position.symbol, Domain(position.domain).value, mode)
    with store._unit():
        row = store._session.get(PositionRow, key) or PositionRow(symbol=key[0], domain=key[1], mode=key[2])
        row.qty, row.avg_price = position.qty, position.avg_price
        row.realized_pnl, row.opened_ts = position.realized_pnl, position.opened_ts
        row.extra = dict(position.extra)
        store._session.add(row)
