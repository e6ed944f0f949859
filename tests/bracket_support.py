"""What the bracket tests on the real paper venue share: XRP-PERP's bundled bars, the real order
and bracket machines, and a journal that keeps the ledger's calls."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.data import bundled
from engine.data.bars import iter_bars
from engine.runtime import BoundMachine, default_registry, missing_implementations
from engine.spec.loader import load_specs

SPECS = Path(__file__).resolve().parents[1] / "specs"
XRP = list(iter_bars(bundled.load("crypto_perp/XRP-PERP-5m")))


class UnitCatalogue:
    """A test venue's catalogue: every symbol trades in whole units, multiplier 1."""

    def get(self, symbol: str) -> Any:
        return type("Inst", (), {"step": 1.0, "multiplier": 1.0, "min_notional": 0.0})()


class AcceptingVenue:
    """A scripted test venue: accepts every order and cancel, keeps each request it was sent, and
    quotes 99.9/100.0 at T0 (subclasses script refusals and late answers)."""

    def __init__(self) -> None:
        self.catalogue = UnitCatalogue()
        self.sent: list = []

    def quote(self, symbol: str) -> Any:
        from engine.domain import Quote

        return Quote("q1", symbol, T0, 99.9, 100.0, 100.0)

    def submit(self, req: Any) -> Any:
        from adapters.base import ReportStatus, VenueReport

        self.sent.append(req)
        return VenueReport(req.client_order_id, ReportStatus.ACCEPTED, qty=req.qty, price=req.price)

    def cancel(self, client_order_id: str) -> Any:
        from adapters.base import ReportStatus, VenueReport

        return VenueReport(client_order_id, ReportStatus.CANCELED)


class Journal:
    """The ledger's calls, kept (the store is not what these tests are about)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str):
        return lambda *args, **kw: self.rows.append((name, args, kw))

    def rejections(self, key: str) -> list[str]:
        return [kw["reason"] for name, args, kw in self.rows if name == "journal" and args[:2] == ("rejection", key)]


def order_machines(params: dict[str, dict] | None = None) -> dict[str, BoundMachine]:
    """The shipped order and bracket machines, bound with the providers' code (`params`: a
    machine's parameter values, by machine, over its spec's defaults)."""
    specset, _ = load_specs([SPECS / "orders", SPECS / "catalogue.yaml"])
    missing_implementations(specset)  # imports the providers that register the actions
    return {n: BoundMachine.build(specset.machines[n], default_registry, (params or {}).get(n))
            for n in ("order", "bracket")}


T0 = 1_700_000_000.0  # the clock of the fake venues' executions (`execution_on`)
BAND = 0.10  # the shipped risk spec's limits.fill_price_band


def filled(order_id: str, side: Any, qty: float, price: float, n: int) -> Any:
    """A fake venue's FILLED report of one fill of symbol X, `n` seconds after T0."""
    from adapters.base import ReportStatus, VenueReport
    from engine.domain import Fill

    fill = Fill(order_id, f"{order_id}-{n}", "X", side, qty, price, 0.0, T0 + n, "q1")
    return VenueReport(order_id, ReportStatus.FILLED, (fill,), filled_qty=qty)


class NullLedger:
    """A ledger that keeps nothing (the store is not what these tests are about)."""

    def __getattr__(self, name: str):
        return lambda *args, **kw: None


def execution_on(machines: dict[str, BoundMachine], venue: Any, ledger: Any = None,
                 on_closed: Any = lambda b: None) -> Any:
    """An Execution on a test's fake `venue` at T0 (ledger: a NullLedger unless given), its records
    in `execution.interp.sink`."""
    from engine.exec.execution import Execution
    from engine.runtime import Interpreter, ListSink, ReplayClock

    interp = Interpreter(ReplayClock(T0), ListSink())
    return Execution(interp, machines["order"], machines["bracket"], venue, ledger or NullLedger(), interp.clock,
                     multiplier=lambda s: 1.0, on_closed=on_closed, fill_price_band=BAND)


def execution_at(machines: dict[str, BoundMachine], config: Any, start: int) -> tuple[Any, Journal, Any]:
    """(venue, journal, execution) on a paper venue with `config`, at XRP-PERP's bar `start`."""
    from adapters.paper import PaperVenue
    from engine.exec.execution import Execution
    from engine.runtime import Interpreter, ListSink, ReplayClock

    venue, journal = PaperVenue(config), Journal()
    interp = Interpreter(ReplayClock(XRP[start].ts), ListSink())
    ex = Execution(interp, machines["order"], machines["bracket"], venue, journal, interp.clock,
                   multiplier=lambda s: 1.0, on_closed=lambda b: None, fill_price_band=BAND)
    venue.on_bar(XRP[start])
    return venue, journal, ex
