"""The order spec's action arguments are what happens: `submit_order` sends the qty, price and
reduce_only the spec evaluates (not the draft request the bracket built), and `record_fill` books
the qty and price the spec evaluates. Through the real order and bracket machines, on a
scripted venue that accepts everything and keeps what it was sent."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bracket_support import SPECS, T0, AcceptingVenue, execution_on, filled, order_machines
from engine.domain import Domain, Side
from engine.risk.types import Intent
from engine.runtime import BoundMachine, default_registry, missing_implementations
from engine.spec.loader import load_specs

SUBMIT = "      - submit_order: {qty: event.qty, price: event.price, reduce_only: event.reduce_only}"
FILL = "      - record_fill: {qty: event.qty, price: event.price}"


class Ledger:
    """The ledger's calls, kept; `fills` are the fills booked."""

    def __init__(self) -> None:
        self.fills: list = []

    def fill(self, order: Any, fill: Any, mult: float) -> None:
        self.fills.append(fill)

    def __getattr__(self, name: str):
        return lambda *args, **kw: None


def machines_with(tmp_path: Path, submit: str, fill: str) -> dict[str, BoundMachine]:
    """The shipped order and bracket machines, the order spec's two action lines replaced."""
    shutil.copytree(SPECS / "orders", tmp_path / "orders")
    shutil.copy(SPECS / "catalogue.yaml", tmp_path / "catalogue.yaml")
    path = tmp_path / "orders" / "order.yaml"
    text = path.read_text()
    assert text.count(SUBMIT) == 1 and FILL in text
    path.write_text(text.replace(SUBMIT, submit).replace(FILL, fill))
    specset, _ = load_specs([tmp_path / "orders", tmp_path / "catalogue.yaml"])
    missing_implementations(specset)
    return {n: BoundMachine.build(specset.machines[n], default_registry) for n in ("order", "bracket")}


def opened(machines: dict[str, BoundMachine]) -> tuple[AcceptingVenue, Ledger, Any]:
    venue, ledger = AcceptingVenue(), Ledger()
    ex = execution_on(machines, venue, ledger)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), 95.0, 110.0, T0, "s"), 10.0)
    return venue, ledger, (ex, b)


def test_the_shipped_spec_sends_and_books_what_the_bracket_asked() -> None:
    venue, ledger, (ex, b) = opened(order_machines())
    entry = venue.sent[0]
    assert (entry.qty, entry.price, entry.reduce_only) == (10.0, None, False)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    assert [(f.qty, f.price) for f in ledger.fills] == [(10.0, 100.0)]
    legs = venue.sent[1:]
    assert [(r.qty, r.price, r.reduce_only) for r in legs] == [(10.0, 110.0, True), (10.0, 95.0, True)]


def test_submit_sends_the_qty_price_and_reduce_only_the_spec_evaluates(tmp_path: Path) -> None:
    machines = machines_with(
        tmp_path, "      - submit_order: {qty: event.qty * 2, price: event.price + 7, reduce_only: true}", FILL)
    venue, _, (ex, b) = opened(machines)
    entry = venue.sent[0]
    assert (entry.qty, entry.price, entry.reduce_only) == (20.0, 7.0, True)
    assert b.entry.request is entry  # the handle holds what was sent: the journal's intent, the reconciliation
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    assert [(r.qty, r.price, r.reduce_only) for r in venue.sent[1:]] == [(20.0, 117.0, True), (20.0, 102.0, True)]


def test_submit_off_the_lot_grid_is_sent_on_it(tmp_path: Path) -> None:
    machines = machines_with(
        tmp_path, "      - submit_order: {qty: event.qty + 0.4, price: event.price, reduce_only: event.reduce_only}",
        FILL)
    venue, _, _ = opened(machines)
    assert venue.sent[0].qty == 10.0  # the instrument's step is 1


def test_record_fill_books_the_qty_and_price_the_spec_evaluates(tmp_path: Path) -> None:
    machines = machines_with(tmp_path, SUBMIT, "      - record_fill: {qty: event.qty / 2, price: event.price - 1}")
    _, ledger, (ex, b) = opened(machines)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    booked = ledger.fills[0]
    assert (booked.qty, booked.price, booked.fill_id) == (5.0, 99.0, f"{b.entry.id}-1")
    assert b.entry_fills == [booked]  # the bracket's position is the booked fill


@pytest.mark.parametrize("reduce_only", ["false", "event.reduce_only"])
def test_a_reduce_only_the_spec_clears_reaches_the_venue(tmp_path: Path, reduce_only: str) -> None:
    machines = machines_with(
        tmp_path, f"      - submit_order: {{qty: event.qty, price: event.price, reduce_only: {reduce_only}}}", FILL)
    venue, _, (ex, b) = opened(machines)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 100.0, 1)])
    legs = venue.sent[1:]
    assert [r.reduce_only for r in legs] == ([False, False] if reduce_only == "false" else [True, True])
