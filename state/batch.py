"""A batch of facts for `Store.write_batch`: many rows, one transaction, bulk statements.

Backtests and replays in batch durability produce thousands of orders and fills;
writing each through the ORM unit of work costs ~50 µs a row. A Batch collects
journal entries, intents and fills as tuples (or lists) in the column orders below (a
tuple costs a fifth of a dict to build, and the SQLite driver binds it as it is) and the
Store writes them in bulk, inside the caller's checkpoint transaction, so a crash loses
the batch and the checkpoint together and a resumed run re-creates both. JSON columns
(a journal row's payload, an intent's tags) hold their text, state.models.json_text of
the value, encoded when the fact is recorded: the payload as it was then, and half the
rows (acks) share one text per status.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JOURNAL_COLUMNS = ("ts", "kind", "key", "payload", "spec_hash", "reason")
# Every orders column but id and the three an order update sets (ORDER_UPDATE_COLUMNS): an
# intent takes those from its entry in order_updates, or INTENT, 0.0 and "" without one.
INTENT_COLUMNS = ("client_order_id", "symbol", "side", "qty", "type", "price", "reduce_only", "role", "parent_id",
                  "domain", "mode", "strategy", "quote_id", "tags", "ts", "venue_order_id")
ORDER_UPDATE_COLUMNS = ("status", "filled_qty", "machine_state")
FILL_COLUMNS = ("fill_id", "client_order_id", "symbol", "side", "qty", "price", "fee", "ts", "quote_id", "liquidity")


@dataclass
class Batch:
    journal: list[tuple] = field(default_factory=list)  # JOURNAL_COLUMNS
    intents: dict[str, list | tuple] = field(default_factory=dict)  # client_order_id -> INTENT_COLUMNS
    order_updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> ORDER_UPDATE_COLUMNS
    fills: list[tuple] = field(default_factory=list)  # FILL_COLUMNS
    figures: dict[str, tuple[float, float | None]] = field(default_factory=dict)  # id -> (qty, price) at the venue
    positions: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (symbol, domain, mode)
    wallets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (domain, mode) -> balance, pnl
    # (qty, client_order_id, fill_id): a fill added to an order row written already, whose ledger
    # row is gone (a late fill of a retired order); added once, with its fill, by fill_id.
    late_fills: list[tuple[float, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.journal, self.intents, self.order_updates, self.fills, self.figures, self.positions,
                    self.wallets, self.late_fills))
