"""Invariants of the Store: write-ahead intents, idempotent ids and fills,
segregated wallets, snapshots, the append-only journal, units and batches."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.domain import Domain, Fill, Position, Side
from state.store import IdCollision, InsufficientFunds, Store, StoreError, UnknownOrder, UnknownWallet
from state_support import fill, open_store, order, put_position


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path)
    yield s
    s.close()


def _committed(tmp_path: Path, sql: str) -> list[tuple]:
    """What another process would read from the file right now."""
    with sqlite3.connect(tmp_path / "engine.db") as conn:
        return conn.execute(sql).fetchall()


def test_intent_is_committed_before_returning_and_is_pending(store: Store, tmp_path: Path) -> None:
    req = order()
    row = store.record_intent(req, Domain.CRYPTO_SPOT)
    assert row.status == "intent" and row.to_request() == req
    assert _committed(tmp_path, "SELECT client_order_id, status FROM orders") == [(req.client_order_id, "intent")]
    assert _committed(tmp_path, "SELECT kind, key FROM journal") == [("intent", req.client_order_id)]
    assert store.pending_intents() == [req]
    store.record_ack(req.client_order_id, venue_order_id="v1")
    assert store.pending_intents() == []


def test_same_client_order_id_returns_the_stored_row(store: Store) -> None:
    req = order()
    first = store.record_intent(req, "crypto_spot")
    store.record_ack(req.client_order_id)
    again = store.record_intent(req, "crypto_spot")
    assert again.id == first.id and again.status == "accepted"
    assert len(store.orders()) == 1 and len(store.journal_entries(kind="intent")) == 1


def test_a_different_request_under_a_stored_id_is_refused(store: Store) -> None:
    req = order()
    store.record_intent(req, "crypto_spot")
    clash = order(qty=2.0)
    assert clash.client_order_id == req.client_order_id
    with pytest.raises(IdCollision):
        store.record_intent(clash, "crypto_spot")
    with pytest.raises(IdCollision):
        store.record_intent(req, "crypto_perp")
    assert store.orders()[0].qty == 1.0


def test_a_resumed_run_resends_a_clamped_request_without_a_collision(store: Store) -> None:
    """The row holds the venue's figures (clamp, amend); the re-processed intent after a crash is
    the request as first journaled, and must not read as a different one. Others still clash."""
    req = order()
    store.record_intent(req, "crypto_spot")
    store.record_amend(req.client_order_id, 0.999, 100.05, journal=False)
    again = store.record_intent(req, "crypto_spot")
    assert (again.qty, again.price) == (0.999, 100.05) and len(store.journal_entries(kind="intent")) == 1
    with pytest.raises(IdCollision):
        store.record_intent(order(qty=2.0), "crypto_spot")


def test_recording_a_fill_twice_changes_nothing(store: Store) -> None:
    req = order(qty=2.0)
    store.record_intent(req, "crypto_spot")
    f = fill(req, qty=1.0, price=100.0, fee=0.1)
    assert store.record_fill(f).recorded
    before = (store.orders(), store.fills(), store.positions(), len(store.journal_entries()))
    assert store.record_fill(f).recorded is False
    after = (store.orders(), store.fills(), store.positions(), len(store.journal_entries()))
    assert before == after
    assert store.orders()[0].filled_qty == 1.0 and store.orders()[0].status == "partially_filled"


def test_fills_move_the_order_and_the_position(store: Store) -> None:
    buy, sell = order(0, qty=2.0), order(1, Side.SELL, qty=2.0)
    store.record_intent(buy, "crypto_spot")
    store.record_intent(sell, "crypto_spot")
    store.record_fill(fill(buy, 0, qty=1.0, price=100.0))
    store.record_fill(fill(buy, 1, qty=1.0, price=110.0))
    assert store.position("BTCUSDT", "crypto_spot").qty == 2.0
    assert store.position("BTCUSDT", "crypto_spot").avg_price == pytest.approx(105.0)
    result = store.record_fill(fill(sell, 0, qty=2.0, price=120.0, fee=1.0))
    assert result.realized_pnl == pytest.approx(2 * 15.0 - 1.0)
    pos = store.position("BTCUSDT", "crypto_spot")
    assert not pos.is_open and pos.realized_pnl == pytest.approx(29.0)
    assert [o.status for o in store.orders()] == ["filled", "filled"]


def test_a_fill_for_an_unknown_or_mismatched_order_is_refused(store: Store) -> None:
    req = order()
    with pytest.raises(UnknownOrder):
        store.record_fill(fill(req))
    store.record_intent(req, "crypto_spot")
    with pytest.raises(StoreError):
        store.record_fill(Fill(req.client_order_id, "x", "ETHUSDT", Side.BUY, 1.0, 1.0, 0.0, 0.0, "q"))
    assert store.fills() == []


def test_statuses_only_move_forward(store: Store) -> None:
    req = order()
    store.record_intent(req, "crypto_spot")
    store.record_fill(fill(req))
    assert store.record_ack(req.client_order_id, "accepted").status == "filled"
    assert store.record_ack(req.client_order_id, "canceled").status == "filled"
    with pytest.raises(ValueError):
        store.record_ack(req.client_order_id, "teleported")


def test_wallets_never_go_negative(store: Store) -> None:
    store.open_wallet("crypto_spot", "paper", 1000.0)
    assert store.credit("crypto_spot", "paper", -999.5, "fee") == pytest.approx(0.5)
    with pytest.raises(InsufficientFunds):
        store.credit("crypto_spot", "paper", -0.51, "loss")
    assert store.wallet("crypto_spot", "paper").balance == pytest.approx(0.5)
    assert len(store.journal_entries(kind="credit")) == 1
    with pytest.raises(StoreError):
        store.credit("crypto_spot", "paper", float("nan"), "bad")
    with pytest.raises(StoreError):
        store.credit("crypto_spot", "paper", 1.0, "")


def test_wallets_are_segregated_by_domain_and_mode(store: Store) -> None:
    for dom in Domain:
        store.open_wallet(dom, "paper", 1000.0)
    store.open_wallet("crypto_spot", "live", 50.0)
    store.credit("forex", "paper", 25.0, "realized", realized=True)
    store.open_wallet("forex", "paper", 1e9)  # re-opening cannot re-fund
    balances = {(w.domain, w.mode): (w.balance, w.realized_pnl) for w in store.wallets()}
    assert balances.pop(("forex", "paper")) == (1025.0, 25.0)
    assert balances.pop(("crypto_spot", "live")) == (50.0, 0.0)
    assert set(balances.values()) == {(1000.0, 0.0)}
    with pytest.raises(UnknownWallet):
        store.credit("crypto_perp", "live", 1.0, "deposit")
    with pytest.raises(StoreError):
        store.open_wallet("forex", "off", 1.0)


def test_no_call_moves_money_between_two_wallets() -> None:
    # Every wallet write names exactly one (domain, mode): no API can be a transfer.
    import inspect

    for name, fn in inspect.getmembers(Store, inspect.isfunction):
        params = inspect.signature(fn).parameters
        assert sum("domain" in p for p in params) <= 1, name
        assert "transfer" not in name, name


def test_positions_round_trip_per_mode(store: Store) -> None:
    pos = Position("EURUSD", Domain.FOREX, qty=-2.0, avg_price=1.1, realized_pnl=3.0,
                   opened_ts=5.0, extra={"roll": 1})
    put_position(store, pos, "live")
    assert store.position("EURUSD", "forex", "live") == pos
    assert store.position("EURUSD", "forex", "paper").qty == 0.0
    assert [(p.symbol, p.mode) for p in store.positions("live")] == [("EURUSD", "live")]


def test_snapshots_round_trip(tmp_path: Path) -> None:
    data = {"state": "normal.cooldown", "ctx": {"losses": 2, "peak": 1.5}, "timers": [[10.0, "cooldown_elapsed"]]}
    with open_store(tmp_path) as s:
        s.save_snapshots([("kill_modes", "global", "abc123", {"state": "normal"})])
        s.save_snapshots([("kill_modes", "global", "abc124", data)])
        s.save_snapshots([("order_lifecycle", "sc-1", "def", {"state": "new"})])
    with open_store(tmp_path) as s:
        snaps = s.load_snapshots("kill_modes")
    assert list(snaps) == ["global"]
    assert snaps["global"].data == data and snaps["global"].spec_hash == "abc124"


def test_a_checkpoints_snapshots_are_saved_together(tmp_path: Path) -> None:
    with open_store(tmp_path, "batch") as s:
        s.save_snapshots([("order", "a", "h1", {"state": "new"})])
        s.save_snapshots([("order", "a", "h2", {"state": "filled", "px": float("nan")}),
                          ("order", "b", "h2", {"state": "new"}), ("kill_modes", "kill", "h3", {})])
        s.save_snapshots([])
    with open_store(tmp_path) as s:
        orders = s.load_snapshots("order")
        named = s.load_snapshots("order", ["b", "gone"])  # a checkpoint's open ones, not every one saved
    assert sorted(orders) == ["a", "b"] and orders["a"].spec_hash == "h2"
    assert orders["a"].data["state"] == "filled" and orders["a"].data["px"] != orders["a"].data["px"]  # NaN
    assert sorted(named) == ["b"] and named["b"].data == {"state": "new"}


def test_a_write_inside_a_transaction_is_read_back_there(tmp_path: Path) -> None:
    """Rows read earlier in the transaction are not served stale after a write."""
    with open_store(tmp_path, "batch") as s:
        s.put_json("k", 1)
        s.save_snapshots([("m", "i", "h", {"v": 1})])
        with s.atomic():
            assert s.get_json("k") == 1 and s.load_snapshots("m")["i"].data == {"v": 1}
            s.put_json("k", 2)
            s.save_snapshots([("m", "i", "h", {"v": 2})])
            assert s.get_json("k") == 2 and s.load_snapshots("m")["i"].data == {"v": 2}
        assert [e.payload for e in s.journal_entries("kv")] == [{"value": 1}, {"value": 2}]


def test_kv_and_kpis_round_trip(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        s.put_json("active_symbols", ["BTCUSDT", "ETHUSDT"])
        s.put_json("active_symbols", ["XRPUSDT"])
        s.put_kpis(stage=1, domain="crypto_spot", mode="paper", trades=120, win_rate=0.55,
                   sharpe=1.2, sortino=1.5, max_dd=0.07, profit_factor=1.4, expectancy=0.8)
    with open_store(tmp_path) as s:
        assert s.get_json("active_symbols") == ["XRPUSDT"]
        assert s.get_json("missing", default={}) == {}
        [k] = s.kpis(stage=1, domain="crypto_spot")
        assert (k.trades, k.sharpe, k.mode) == (120, 1.2, "paper")


def test_journal_is_append_only(store: Store, tmp_path: Path) -> None:
    seqs = [store.journal("decision", "k", {"i": i}, spec_hash="h", reason="why") for i in range(3)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    e = store.journal_entries(kind="decision")[1]
    assert (e.payload, e.spec_hash, e.reason) == ({"i": 1}, "h", "why")
    with sqlite3.connect(tmp_path / "engine.db") as conn:
        replace = (f"INSERT OR REPLACE INTO journal (seq, ts, kind, key, payload, spec_hash, reason) "
                   f"VALUES ({seqs[1]}, 0, 'decision', 'k', '{{}}', 'h', 'rewritten')")
        for sql in ("UPDATE journal SET reason = 'rewritten'", "DELETE FROM journal", replace,
                    replace.replace("INSERT OR REPLACE", "REPLACE")):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
    with pytest.raises(DBAPIError):
        with store.engine.begin() as conn:  # a second connection, bypassing the Store
            conn.execute(text("DELETE FROM journal"))
    assert [e.reason for e in store.journal_entries()] == ["why"] * 3


def test_batch_mode_commits_every_n_units_or_on_commit(tmp_path: Path) -> None:
    s = open_store(tmp_path, "batch", batch_size=3)
    count = lambda: _committed(tmp_path, "SELECT count(*) FROM journal")[0][0]
    s.journal("a", "", {})
    s.journal("a", "", {})
    assert count() == 0 and len(s.journal_entries()) == 2  # the store reads its own batch
    s.journal("a", "", {})
    assert count() == 3
    s.journal("a", "", {})
    s.commit()
    assert count() == 4
    s.close()


def test_a_failed_unit_leaves_the_batch_intact(tmp_path: Path) -> None:
    s = open_store(tmp_path, "batch", batch_size=100)
    s.open_wallet("forex", "paper", 10.0)
    with pytest.raises(InsufficientFunds):
        with s.atomic():
            s.credit("forex", "paper", 5.0, "first half")
            s.credit("forex", "paper", -20.0, "too much")
    s.commit()
    assert s.wallet("forex", "paper").balance == 10.0  # the whole atomic block undone
    assert [e.kind for e in s.journal_entries()] == ["wallet_open"]
    s.close()


def test_rows_returned_are_snapshots(store: Store) -> None:
    store.open_wallet("forex", "paper", 10.0)
    w = store.wallet("forex", "paper")
    w.balance = 1e6
    store.credit("forex", "paper", 1.0, "interest")
    assert store.wallet("forex", "paper").balance == 11.0


def test_a_file_from_an_earlier_version_opens_without_its_unused_indexes(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        s.record_intent(order(1), "crypto_spot")
        s.journal("decision", "k", {"i": 1})
    old = {"ix_journal_ts": "journal (ts)", "ix_journal_kind": "journal (kind)", "ix_journal_key": 'journal ("key")',
           "ix_orders_symbol": "orders (symbol)", "ix_orders_parent_id": "orders (parent_id)",
           "ix_fills_client_order_id": "fills (client_order_id)"}
    with sqlite3.connect(tmp_path / "engine.db") as conn:  # the indexes an earlier version made
        for name, on in old.items():
            conn.execute(f"CREATE INDEX {name} ON {on}")
    with open_store(tmp_path) as s:
        assert [(e.kind, e.key) for e in s.journal_entries(kind="decision", key="k")] == [("decision", "k")]
        assert [r.client_order_id for r in s.pending_intents()] == [order(1).client_order_id]
    indexes = {r[0] for r in _committed(tmp_path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not indexes & old.keys()
    # what queries and conflict clauses need stays
    assert {"ix_orders_client_order_id", "ix_orders_status", "ix_fills_fill_id"} <= indexes


def test_a_kpi_that_does_not_exist_is_stored_as_none_not_zero(tmp_path: Path) -> None:
    """No trade has no win rate; no losing trade has no profit factor: 0.0 would be a lie."""
    with open_store(tmp_path) as s:
        s.put_kpis(stage=3, domain="crypto_perp", mode="paper", trades=0, win_rate=None, sharpe=None,
                   sortino=None, max_dd=0.0, profit_factor=None, expectancy=None)
    with open_store(tmp_path) as s:
        [k] = s.kpis(stage=3, domain="crypto_perp")
        assert (k.trades, k.win_rate, k.profit_factor, k.expectancy, k.max_dd) == (0, None, None, None, 0.0)


def test_a_store_with_strict_kpi_columns_takes_a_missing_figure_and_keeps_its_rows(tmp_path: Path) -> None:
    """An earlier version made the KPI columns NOT NULL; opening such a file relaxes them."""
    with sqlite3.connect(tmp_path / "engine.db") as db:
        db.execute("CREATE TABLE kpi_snapshots (id INTEGER NOT NULL PRIMARY KEY, ts FLOAT NOT NULL, "
                   "stage INTEGER NOT NULL, domain VARCHAR NOT NULL, mode VARCHAR NOT NULL, trades INTEGER NOT NULL, "
                   "win_rate FLOAT NOT NULL, sharpe FLOAT NOT NULL, sortino FLOAT NOT NULL, max_dd FLOAT NOT NULL, "
                   "profit_factor FLOAT NOT NULL, expectancy FLOAT NOT NULL)")
        db.execute("CREATE INDEX ix_kpi_snapshots_ts ON kpi_snapshots (ts)")
        db.execute("INSERT INTO kpi_snapshots VALUES "
                   "(1, 5.0, 1, 'crypto_spot', 'paper', 4, 0.5, 1.0, 1.2, 0.1, 2.0, 3.0)")
    with open_store(tmp_path) as s:
        s.put_kpis(stage=1, domain="crypto_spot", mode="paper", trades=0, win_rate=None, sharpe=None,
                   sortino=None, max_dd=0.0, profit_factor=None, expectancy=None, ts=6.0)
    with open_store(tmp_path) as s:  # a second open finds nothing left to relax
        old, new = s.kpis(stage=1)
        assert (old.trades, old.profit_factor, old.expectancy) == (4, 2.0, 3.0)
        assert (new.trades, new.win_rate, new.profit_factor) == (0, None, None)
    with sqlite3.connect(tmp_path / "engine.db") as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'kpi_snapshots%'")] \
            == ["kpi_snapshots"]
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'ix_kpi_snapshots_ts'").fetchone()


def test_the_journal_pages_through_in_seq_order(tmp_path) -> None:
    from state.store import Store

    with Store.open(path=str(tmp_path / "j.db")) as store:
        for i in range(25):
            store.journal("note", f"k{i}", {"i": i})
        store.commit()
        assert [e.payload["i"] for e in store.iter_journal(page=7)] == list(range(25))
        assert [e.seq for e in store.iter_journal(page=7)] == [e.seq for e in store.journal_entries()]


def test_a_unit_that_failed_on_a_lost_connection_raises_its_own_error(store: Store, monkeypatch) -> None:
    """rev29: with the server gone, the commit that ends a failed unit raised PendingRollbackError,
    which hid the driver's error: `engine run` then printed a traceback instead of its one line."""
    from sqlalchemy.exc import OperationalError, PendingRollbackError

    def gone() -> None:
        raise PendingRollbackError("Can't reconnect until invalid transaction is rolled back")

    lost = OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))
    monkeypatch.setattr(store._session, "commit", gone)
    with pytest.raises(OperationalError) as e, store.atomic():
        raise lost
    assert e.value is lost
