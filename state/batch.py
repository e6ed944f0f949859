"""A batch of facts for `Store.write_batch`: many rows, one transaction, bulk statements.

Backtests and replays in batch durability produce thousands of orders and fills;
writing each through the ORM unit of work costs ~50 µs a row. A Batch collects
the rows as plain tuples (journal, ~13 rows a trade) and dicts and the Store writes
them with executemany, inside the
caller's checkpoint transaction, so a crash loses the batch and the checkpoint
together and a resumed run re-creates both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Batch:
    journal: list[tuple] = field(default_factory=list)  # (ts, kind, key, payload, spec_hash, reason)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)  # client_order_id -> full order row
    order_updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> status, filled_qty, machine_state
    fills: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (symbol, domain, mode)
    wallets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (domain, mode) -> balance, pnl

    def __bool__(self) -> bool:
        return any((self.journal, self.intents, self.order_updates, self.fills, self.positions, self.wallets))
