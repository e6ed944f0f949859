"""A fill the venue reports for an order execution has retired with its closed bracket (a fill
that raced the order's cancel, reported after the bracket's trade was recorded): it is booked
as the venue reports it, the run goes close-only, and a new bracket takes the units and closes
them at market (bracket.yaml `adopt`). Before, the report was dropped without a word: the venue
held units the engine did not know of, which nothing protected. Through the real order and
bracket machines on a scripted venue; the store's part on a real SQLite file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.base import ReportStatus, VenueReport
from bracket_support import T0, AcceptingVenue, execution_on, filled, order_machines
from engine.domain import Domain, Fill, OrderRequest, OrderType, Role, Side
from engine.exec.execution import RETIRED_KEPT
from engine.risk.types import Intent
from engine.runtime import BoundMachine

STOP, TAKE_PROFIT = 95.0, 110.0


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def _closed_by_its_stop(machines: dict[str, BoundMachine]) -> tuple[Any, Any, AcceptingVenue, list, list]:
    """A long of 10 that its stop closed; its take-profit cancelled, the bracket retired."""
    venue, closed, booked = AcceptingVenue(), [], []
    ex = execution_on(machines, venue, on_closed=closed.append)
    ex.on_fill = lambda d, f, m: booked.append(f)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), STOP, TAKE_PROFIT, T0, "s"), 10.0)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    ex.on_reports([filled(b.legs["stop_loss"].id, Side.SELL, 10.0, STOP, 2)])
    assert closed == [b] and not ex.brackets and not ex.orders, "the bracket and its orders are retired"
    return ex, b, venue, closed, booked


def _late(order: Any, qty: float, n: int, status: ReportStatus = ReportStatus.CANCELED) -> VenueReport:
    fill = Fill(order.id, f"{order.id}-late-{n}", "X", Side.SELL, qty, TAKE_PROFIT, 0.0, T0 + n, "q1")
    return VenueReport(order.id, status, (fill,), filled_qty=qty)


def test_a_late_fill_of_a_retired_order_is_booked_and_a_new_bracket_closes_it(machines) -> None:
    ex, b, venue, closed, booked = _closed_by_its_stop(machines)
    tp = b.legs["take_profit"]
    ex.on_reports([_late(tp, 4.0, 3)])  # the take-profit filled 4 before its cancel took
    assert booked[-1].fill_id == f"{tp.id}-late-3", "the fill is booked"
    [fault] = ex.faults
    assert f"the venue reports a fill of 4 X for order {tp.id}, whose bracket had closed" in fault
    [adopted] = ex.brackets.values()
    assert adopted.instance.state == "flattening" and adopted.side is Side.SELL and adopted.open_qty == 4.0
    close = venue.sent[-1]
    assert (close.side, close.qty, close.type, close.role, close.reduce_only) == (
        Side.BUY, 4.0, OrderType.MARKET, Role.EXIT, True), "the 4 units short are bought back at market"
    ex.on_reports([filled(close.client_order_id, Side.BUY, 4.0, 101.0, 4)])
    assert not ex.brackets and closed[-1] is adopted, "flat: the adopted bracket's trade is recorded"
    assert adopted.entry_fills[0].fill_id == f"{tp.id}-late-3" and adopted.exit_reason.startswith("a late fill of")


def test_the_adopted_bracket_records_why(machines) -> None:
    ex, b, venue, closed, booked = _closed_by_its_stop(machines)
    records = ex.interp.sink.records
    seen = len(records)
    ex.on_reports([_late(b.legs["take_profit"], 4.0, 3)])
    adopt = [r for r in records[seen:] if r.event == "adopt"]
    assert [(r.source, r.target) for r in adopt] == [("idle", "flattening")]


def test_a_report_without_fills_for_a_retired_order_changes_nothing(machines) -> None:
    ex, b, venue, closed, booked = _closed_by_its_stop(machines)
    ex.on_reports([VenueReport(b.legs["take_profit"].id, ReportStatus.CANCELED)])
    assert not ex.brackets and not ex.faults and len(booked) == 2


def test_only_the_last_retired_orders_are_kept(machines) -> None:
    """A bounded memory: a replay retires ~10 orders a trade; one retired further back is read from
    the store (Execution._recall)."""
    ex, b, venue, closed, booked = _closed_by_its_stop(machines)
    first = next(iter(ex.retired))
    for n in range(RETIRED_KEPT):
        nb = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), STOP, TAKE_PROFIT, T0 + n, "s"),
                             10.0)
        ex.on_reports([VenueReport(nb.entry.id, ReportStatus.CANCELED)])
    assert len(ex.retired) == RETIRED_KEPT and first not in ex.retired


# -- the store: the late fill adds to the order written with its final status ------------------
def _stopped_out_on_a_store(machines, durability: str, tmp_path: Path) -> tuple:
    """(store, venue, ledger, execution, take-profit): a long of 10 its stop closed, on a real
    SQLite store through the ledger of `durability`; nothing checkpointed yet."""
    from engine.exec.ledger import BufferedLedger, StoreLedger
    from state.store import Store

    store = Store.open(path=str(tmp_path / "engine.db"))
    store.open_wallet(Domain.FOREX, "paper", 1000.0)
    venue = AcceptingVenue()
    ledger = (BufferedLedger(store, "paper", lambda: T0, "h") if durability == "batch"
              else StoreLedger(store, "paper"))
    ex = execution_on(machines, venue, ledger=ledger)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), STOP, TAKE_PROFIT, T0, "s"), 10.0)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    tp = b.legs["take_profit"]
    ex.on_reports([filled(b.legs["stop_loss"].id, Side.SELL, 10.0, STOP, 2)])
    return store, venue, ledger, ex, tp


def _checkpoint(store: Any, ledger: Any, ex: Any) -> None:
    with store.atomic():
        ledger.flush([], ex.orders.values())
    store.commit()


@pytest.mark.parametrize("durability", ["batch", "full"])
def test_the_stored_order_takes_the_late_fill_and_keeps_its_status(machines, durability: str,
                                                                    tmp_path: Path) -> None:
    store, venue, ledger, ex, tp = _stopped_out_on_a_store(machines, durability, tmp_path)
    _checkpoint(store, ledger, ex)  # the retired take-profit is written, canceled, and forgotten
    assert (store.order(tp.id).status, store.order(tp.id).filled_qty) == ("canceled", 0.0)
    ex.on_reports([_late(tp, 4.0, 3)])
    _checkpoint(store, ledger, ex)
    row = store.order(tp.id)
    assert (row.status, row.filled_qty) == ("canceled", 4.0)
    assert [f.qty for f in store.fills(tp.id)] == [4.0]
    store.close()


@pytest.mark.parametrize("durability", ["batch", "full"])
def test_a_late_fill_of_an_order_retired_before_a_resume_is_booked_from_the_store(machines, durability: str,
                                                                                 tmp_path: Path) -> None:
    """rev34: the checkpoint keeps no retired order, so a resumed run dropped a late fill that the
    uninterrupted run booked (and faulted on). The store holds the order and its fills: the
    resumed run finds it there, books the fill once, and a repeat of it books nothing."""
    store, venue, ledger, ex, tp = _stopped_out_on_a_store(machines, durability, tmp_path)
    booked: list = []
    ex.on_reports([_late(tp, 3.0, 3)])  # booked by the first run, which retired the take-profit
    _checkpoint(store, ledger, ex)
    resumed = execution_on(machines, venue, ledger=ledger)  # what a resumed run holds: no retired order
    resumed.on_fill = lambda d, f, m: booked.append(f)
    resumed.on_reports([_late(tp, 3.0, 3), _late(tp, 4.0, 4)])  # a repeat of the stored fill, then a new one
    assert [f.fill_id for f in booked] == [f"{tp.id}-late-4"], "booked once, from the order the store holds"
    assert len(resumed.faults) == 1 and resumed.brackets, "a fault, and a new bracket closes the units"
    _checkpoint(store, ledger, resumed)
    assert sorted(f.qty for f in store.fills(tp.id)) == [3.0, 4.0]
    store.close()


def test_a_late_fill_already_stored_adds_nothing_again(tmp_path: Path) -> None:
    """Batch.late_fills is idempotent by fill_id, as Store.record_fill is."""
    from state.batch import Batch
    from state.store import Store

    store = Store.open(path=str(tmp_path / "engine.db"))
    store.record_intent(OrderRequest("o1", "X", Side.SELL, 10.0, OrderType.LIMIT, Role.TAKE_PROFIT, "q1", T0, 110.0,
                                     True), Domain.FOREX, "paper")
    store.record_ack("o1", "canceled")
    store.commit()
    row = ("f1", "o1", "X", "sell", 4.0, 110.0, 0.0, T0, "q1", "taker")
    for _ in range(2):
        with store.atomic():
            store.write_batch(Batch(fills=[row], late_fills=[(4.0, "o1", "f1")]))
        store.commit()
    assert (store.order("o1").status, store.order("o1").filled_qty) == ("canceled", 4.0)
    store.close()
