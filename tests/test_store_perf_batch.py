"""What write_batch's statement form must keep: its multi-row INSERTs run OR FAIL (no
statement journal), so a row that fails part-way leaves the rows before it in place until
the unit's savepoint undoes them; and a batch whose intents are partly stored already (a
resumed run) inserts the new ones and gives the stored ones their latest status."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from state.batch import Batch
from state.models import json_text
from state.store import _ROWS_PER_INSERT, Store
from state_support import open_store


def _batch(prefix: str, n: int, status: str = "filled", start: int = 0) -> Batch:
    b = Batch()
    for k in range(start, start + n):
        oid = f"{prefix}-{k}"
        b.journal.append((float(k), "intent", oid, json_text({"qty": 1.0}), "h", ""))
        b.intents[oid] = (oid, "EUR/USD", "buy", 1.0, "market", None, False, "entry", None, "forex", "paper", "s", "q",
                          "[]", float(k), "")
        b.order_updates[oid] = {"status": status, "filled_qty": 1.0, "machine_state": "DONE"}
        b.fills.append((f"{oid}-1", oid, "EUR/USD", "buy", 1.0, 1.1, 0.0, float(k), "q", "taker"))
    return b


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path / "engine.db") as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("journal", "orders", "fills")}


def _write(store: Store, batch: Batch) -> None:
    with store.atomic():
        store.write_batch(batch)
    store.commit()


@pytest.mark.parametrize("table", ["journal", "orders", "fills"])
def test_a_row_failing_mid_statement_leaves_nothing_of_its_batch(tmp_path: Path, table: str) -> None:
    """The bad row comes after a full statement and inside the next one: OR FAIL keeps the rows
    before it, the unit's savepoint must undo them all (and the earlier commit stays)."""
    with open_store(tmp_path, "batch") as s:
        _write(s, _batch("a", 3))
        n = _ROWS_PER_INSERT + 5
        bad = _batch("b", n)
        k = n - 2
        if table == "journal":
            bad.journal[k] = (*bad.journal[k][:1], None, *bad.journal[k][2:])  # kind is NOT NULL
        elif table == "orders":
            oid = f"b-{k}"
            bad.intents[oid] = (oid, None, *bad.intents[oid][2:])  # symbol is NOT NULL
        else:
            bad.fills[k] = (*bad.fills[k][:2], None, *bad.fills[k][3:])
        with pytest.raises(Exception, match="NOT NULL"):
            _write(s, bad)
        s.commit()
        assert _counts(tmp_path) == {"journal": 3, "orders": 3, "fills": 3}
        _write(s, _batch("c", 2))  # the store goes on writing
    assert _counts(tmp_path) == {"journal": 5, "orders": 5, "fills": 5}


def test_intents_partly_stored_insert_the_new_and_update_the_stored(tmp_path: Path) -> None:
    with open_store(tmp_path, "batch") as s:
        _write(s, _batch("x", 4, "accepted"))
        _write(s, _batch("x", 6, "filled", start=2))  # x-2, x-3 stored already; x-4..x-7 new
        orders = {o.client_order_id: (o.id, o.status) for o in s.orders()}
    assert orders == {"x-0": (1, "accepted"), "x-1": (2, "accepted"), "x-2": (3, "filled"), "x-3": (4, "filled"),
                      "x-4": (5, "filled"), "x-5": (6, "filled"), "x-6": (7, "filled"), "x-7": (8, "filled")}
    assert _counts(tmp_path) == {"journal": 10, "orders": 8, "fills": 8}


def test_a_batch_store_keeps_a_larger_page_cache(tmp_path: Path) -> None:
    """Its checkpoints' new journal pages would push the random-keyed index pages out."""
    from state.db import BATCH_CACHE_KIB

    sizes = {}
    for durability in ("batch", "full"):
        (tmp_path / durability).mkdir()
        with open_store(tmp_path / durability, durability) as s:
            with s.engine.connect() as conn:
                sizes[durability] = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    assert sizes["batch"] == -BATCH_CACHE_KIB != sizes["full"]
