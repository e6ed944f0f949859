"""Store.write_batch and the JSON text the SQLite path writes: the driver-bound path stores
what SQLAlchemy Core stores, re-writing a batch doubles nothing, and JSON values (NaN and
infinities included) read back as json.dumps's text does."""
from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from state.batch import FILL_COLUMNS, INTENT_COLUMNS, JOURNAL_COLUMNS, ORDER_UPDATE_COLUMNS, Batch
from state.models import FillRow, JournalEntry, OrderRow
from state.models import json_text
from state.store import _ROWS_PER_INSERT, Store, _write_core, _write_sqlite
from state_support import open_store

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


def _same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN (json.dumps writes both the same)."""
    return json.dumps(a) == json.dumps(b)


@given(_json_values)
def test_json_text_reads_back_as_json_dumps_text_does(value: object) -> None:
    assert _same(json.loads(json_text(value)), json.loads(json.dumps(value)))


def test_json_text_keeps_non_finite_floats_and_what_orjson_refuses() -> None:
    value = {"a": [1.0, float("nan")], "b": None, "c": -math.inf}
    assert json_text(value) == json.dumps(value)  # not null: NaN reads back as NaN
    assert json_text({"k": None, "x": 1.5}) != json.dumps({"k": None, "x": 1.5})  # the fast text
    assert json_text({1: np.float64(0.5)}) == json.dumps({1: np.float64(0.5)})

    @dataclasses.dataclass
    class Row:
        x: int

    for bad in (Row(1), object()):
        with pytest.raises(TypeError):
            json_text(bad)


def _batch(prefix: str, n: int, status: str = "filled") -> Batch:
    b = Batch()
    for k in range(n):
        oid = f"{prefix}-{k}"
        b.journal.append((float(k), "intent", oid, json_text({"qty": 1.0, "px": math.nan}), "h", ""))
        b.intents[oid] = (oid, "EUR/USD", "buy", 1.0, "market", None, k % 2 == 1, "entry", None, "forex", "paper", "s", "q",
                          json_text(["t", k]), float(k), "")
        b.order_updates[oid] = {"status": status, "filled_qty": 1.0, "machine_state": "DONE"}
        b.fills.append((f"{oid}-1", oid, "EUR/USD", "buy", 1.0, 1.1, 0.0, float(k), "q", "taker"))
    b.positions[("EUR/USD", "forex", "paper")] = {"symbol": "EUR/USD", "domain": "forex", "mode": "paper",
                                                  "qty": float(n), "avg_price": 1.1, "realized_pnl": 0.0,
                                                  "opened_ts": 0.0, "extra": {}}
    return b


def test_the_row_layouts_name_every_column_once() -> None:
    orders = INTENT_COLUMNS + ORDER_UPDATE_COLUMNS
    for layout, row, key in ((JOURNAL_COLUMNS, JournalEntry, "seq"), (orders, OrderRow, "id"),
                             (FILL_COLUMNS, FillRow, "id")):
        assert sorted((key, *layout)) == sorted(c.name for c in row.__table__.columns)


def _stored(tmp_path: Path) -> dict[str, list]:
    """Every row as stored, JSON columns decoded (their spacing may differ)."""
    with sqlite3.connect(tmp_path / "engine.db") as conn:
        conn.row_factory = sqlite3.Row
        return {t: [{k: json.loads(r[k]) if k in ("tags", "payload", "extra") else r[k] for k in r.keys()}
                    for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
                for t in ("orders", "fills", "positions", "journal")}


def _write(store: Store, batch: Batch, path) -> None:
    with store.atomic():
        store.write_batch(batch) if path is None else path(store._session.connection(), batch)
    store.commit()


def test_the_sqlite_path_stores_what_sqlalchemy_core_stores(tmp_path: Path) -> None:
    partial = _batch("p", 2)
    partial.order_updates.pop("p-1")  # an intent with no update yet: inserted as it is
    partial.order_updates["x-0"] = {"status": "canceled", "filled_qty": 0.0, "machine_state": "GONE"}
    # A late fill of the canceled order, written twice (its fill_id makes it once).
    late = Batch(fills=[("x-0-late", "x-0", "EUR/USD", "buy", 0.5, 1.1, 0.0, 9.0, "q", "taker")],
                 late_fills=[(0.5, "x-0", "x-0-late")])
    stored = []
    for name, path in (("core", _write_core), ("sqlite", _write_sqlite)):
        (tmp_path / name).mkdir()
        with open_store(tmp_path / name, "batch") as s:
            for b in (_batch("x", 3, "accepted"), _batch("y", 2), partial, late, late):
                _write(s, b, path)
        stored.append(_stored(tmp_path / name))
    assert _same(stored[0], stored[1])
    status = {r["client_order_id"]: r["status"] for r in stored[1]["orders"]}
    assert (status["x-0"], status["p-1"], status["p-0"]) == ("canceled", "intent", "filled")
    assert {r["client_order_id"]: r["filled_qty"] for r in stored[1]["orders"]}["x-0"] == 0.5
    assert math.isnan(stored[1]["journal"][0]["payload"]["px"]) and stored[1]["orders"][1]["tags"] == ["t", 1]


def test_a_batch_larger_than_one_statement_is_stored_whole_and_in_order(tmp_path: Path) -> None:
    """Rows go in several multi-row statements, the last one shorter: none lost, none reordered."""
    n = 2 * _ROWS_PER_INSERT + 7
    stored = []
    for name, path in (("core", _write_core), ("sqlite", _write_sqlite)):
        (tmp_path / name).mkdir()
        with open_store(tmp_path / name, "batch") as s:
            _write(s, _batch("z", n), path)
            assert [o.reduce_only for o in s.orders()] == [k % 2 == 1 for k in range(n)]
        stored.append(_stored(tmp_path / name))
    assert _same(stored[0], stored[1])
    assert [r["key"] for r in stored[1]["journal"]] == [f"z-{k}" for k in range(n)]
    assert [r["client_order_id"] for r in stored[1]["orders"]] == [f"z-{k}" for k in range(n)]
    assert len(stored[1]["fills"]) == n


def test_rewriting_a_batch_doubles_nothing_and_applies_its_statuses(tmp_path: Path) -> None:
    """A resumed run re-creates the facts after its checkpoint: ids already stored stay one row."""
    with open_store(tmp_path, "batch") as s:
        _write(s, _batch("x", 3, "accepted"), None)
        first = _stored(tmp_path)
        _write(s, _batch("x", 3, "filled"), None)
        again = _stored(tmp_path)
    assert len(again["orders"]) == 3 and again["fills"] == first["fills"]
    assert [r["id"] for r in again["orders"]] == [r["id"] for r in first["orders"]]
    assert [r["status"] for r in first["orders"]] == ["accepted"] * 3
    assert [r["status"] for r in again["orders"]] == ["filled"] * 3
    assert len(again["journal"]) == 6  # the journal is a log: both writes are in it


def test_a_journaled_non_finite_float_reads_back_as_itself(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        seq = s.journal("equity", "points", {"points": [["forex", 1.0, math.inf], ["forex", 2.0, math.nan]]})
        [e] = s.journal_entries("equity")
    assert e.seq == seq and e.payload["points"][0][2] == math.inf and math.isnan(e.payload["points"][1][2])
