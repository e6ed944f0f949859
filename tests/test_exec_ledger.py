"""BufferedLedger: what a run in batch durability buffers reaches the store at the next flush,
with statuses that only move forward and fills that add up across flushes."""
from __future__ import annotations

import gc
import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.domain import Domain
from engine.exec.handles import OrderHandle
from engine.exec.ledger import BufferedLedger, StoreLedger
from state_support import fill, open_store, order


def test_statuses_move_forward_and_fills_add_up_across_flushes(tmp_path: Path) -> None:
    with open_store(tmp_path, "batch") as store:
        ledger = BufferedLedger(store, "paper", lambda: 5.0, "h")
        req = order(1, qty=2.0)
        o = OrderHandle(None, req, Domain.CRYPTO_SPOT, None, SimpleNamespace(state="NEW"))
        ledger.intent(o)
        ledger.ack(o, "accepted", "")
        ledger.fill(o, fill(req, 1, qty=0.5), 1.0)
        o.instance.state = "WORKING"
        ledger.flush([], [o])
        store.commit()
        row = store.order(req.client_order_id)
        assert (row.status, row.filled_qty, row.machine_state) == ("partially_filled", 0.5, "WORKING")
        assert ledger.state() == {req.client_order_id: {"status": "partially_filled", "filled_qty": 0.5,
                                                        "machine_state": "WORKING"}}
        o.instance.state = "FILLED"
        ledger.fill(o, fill(req, 2, qty=1.5), 1.0)
        assert ledger.state()[req.client_order_id]["status"] == "partially_filled"  # until the venue says
        ledger.ack(o, "filled", "")
        ledger.ack(o, "accepted", "late")  # a late ack does not undo the fill
        ledger.retired(o)  # execution forgets it: Execution._retire
        ledger.flush([], [])
        store.commit()
        row = store.order(req.client_order_id)
        assert (row.status, row.filled_qty, row.machine_state) == ("filled", 2.0, "FILLED")
        assert ledger.state() == {}  # final: no longer carried in checkpoints
        assert [(e.kind, e.key, e.ts) for e in store.journal_entries()] == [
            ("intent", req.client_order_id, 5.0), ("ack", req.client_order_id, 5.0),
            ("fill", f"{req.client_order_id}-1", 5.0), ("fill", f"{req.client_order_id}-2", 5.0),
            ("ack", req.client_order_id, 5.0), ("ack", req.client_order_id, 5.0)]
        assert [f.qty for f in store.fills(req.client_order_id)] == [0.5, 1.5]


def test_stored_qty_and_price_are_the_venues_before_and_after_a_flush(tmp_path: Path) -> None:
    """Snapped by the clamp before the intent is written, then amended after it: the stored
    order carries the venue's figures both times, and only the amend is journaled."""
    with open_store(tmp_path, "batch") as store:
        ledger = BufferedLedger(store, "paper", lambda: 5.0, "h")
        req = order(1, qty=2.0)
        o = OrderHandle(None, req, Domain.CRYPTO_SPOT, None, SimpleNamespace(state="NEW"))
        ledger.intent(o)
        ledger.figures(o, 1.9, 101.5)
        ledger.flush([], [o])
        store.commit()
        row = store.order(req.client_order_id)
        assert (row.qty, row.price, row.symbol) == (1.9, 101.5, req.symbol)
        ledger.amend(o, 1.5, 102.0, "amended")
        ledger.flush([], [o])
        store.commit()
        row = store.order(req.client_order_id)
        assert (row.qty, row.price) == (1.5, 102.0)
        assert [(e.kind, e.payload) for e in store.journal_entries() if e.kind == "amend"] == [
            ("amend", {"qty": 1.5, "price": 102.0})]


def _filled(ledger, req) -> OrderHandle:
    """An order of `req` booked through `ledger` as the venue answers it: intent, accepted, one
    fill of its whole quantity, filled."""
    o = OrderHandle(None, req, Domain.CRYPTO_SPOT, None, SimpleNamespace(state="NEW"))
    ledger.intent(o)
    ledger.ack(o, "accepted", "")
    ledger.fill(o, fill(req, 1), 1.0)
    ledger.ack(o, "filled", "")
    return o


@pytest.mark.parametrize("durability", ["batch", "full"])
def test_a_retired_order_is_freed_before_the_flush_and_stored_in_its_final_state(
        tmp_path: Path, durability: str) -> None:
    """Peak memory grew with the checkpoint interval: the ledger kept every handle booked since
    the last flush (and its instance, bracket and request) to read its final state there."""
    with open_store(tmp_path, durability) as store:
        ledger = (BufferedLedger(store, "paper", lambda: 5.0, "h") if durability == "batch"
                  else StoreLedger(store, "paper"))
        req = order(1, qty=2.0)
        o = _filled(ledger, req)
        o.instance.state = "FILLED"
        ledger.retired(o)
        assert [r for r in gc.get_referrers(o) if not inspect.isframe(r)] == []
        o.instance.state = "GONE"  # after retirement: not what the store keeps
        ledger.flush([], [])
        store.commit()
        row = store.order(req.client_order_id)
        assert (row.status, row.filled_qty, row.machine_state) == ("filled", 2.0, "FILLED")


def test_an_order_retired_without_an_intent_leaves_no_row(tmp_path: Path) -> None:
    """The second review: retiring a DENIED order (never sent, no intent) made an `intent` row that
    every later checkpoint carried for ever."""
    with open_store(tmp_path, "batch") as store:
        ledger = BufferedLedger(store, "paper", lambda: 5.0, "h")
        ledger.retired(OrderHandle(None, order(1, qty=2.0), Domain.CRYPTO_SPOT, None, SimpleNamespace(state="DENIED")))
        ledger.flush([], [])
        store.commit()
        assert ledger.state() == {}


def test_a_final_status_is_never_replaced_by_another(tmp_path: Path) -> None:
    """Issue 3: an order's final status is the venue's last word, as Store.record_ack keeps it: a
    cancel answered after the fill (a venue racing a cancel against the fill) leaves it filled,
    in the ledger's carried state and in the batch written at the flush (mutant: the FINAL
    check dropped from BufferedLedger._update)."""
    with open_store(tmp_path, "batch") as store:
        ledger = BufferedLedger(store, "paper", lambda: 5.0, "h")
        req = order(1)
        o = _filled(ledger, req)
        ledger.ack(o, "canceled", "late cancel")
        assert ledger.state()[req.client_order_id]["status"] == "filled"
        ledger.flush([], [o])
        store.commit()
        assert store.order(req.client_order_id).status == "filled"


def test_a_resumed_runs_repeated_intent_keeps_the_carried_status_and_fills(tmp_path: Path) -> None:
    """A resumed run re-processing its bars journals an intent the checkpoint already carries (an
    accepted order, part filled): its status only moves forward, and its fills still count."""
    with open_store(tmp_path, "batch") as store:
        ledger = BufferedLedger(store, "paper", lambda: 5.0, "h")
        req = order(1, qty=2.0)
        ledger.load({req.client_order_id: {"status": "partially_filled", "filled_qty": 0.5,
                                           "machine_state": "PARTIALLY_FILLED"}})
        o = OrderHandle(None, req, Domain.CRYPTO_SPOT, None, SimpleNamespace(state="PARTIALLY_FILLED"))
        ledger.intent(o)
        assert ledger.state()[req.client_order_id] == {"status": "partially_filled", "filled_qty": 0.5,
                                                       "machine_state": "PARTIALLY_FILLED"}
        ledger.fill(o, fill(req, 2, qty=1.5), 1.0)
        assert ledger.state()[req.client_order_id]["filled_qty"] == 2.0
