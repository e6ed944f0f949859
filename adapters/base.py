"""The one venue interface every adapter implements, and what it reports.

A VenueReport's status maps 1:1 onto an order-lifecycle event of the orders
spec (accepted -> order_accepted, ...), so the engine forwards reports to the
state machine without interpreting them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Protocol, runtime_checkable

from engine.domain import Bar, Domain, Fill, Instrument, OrderRequest, Position, Quote, slot_init


class ReportStatus(str, Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    TRIGGERED = "triggered"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in _FINAL  # a set bound once: the members as class attributes cost ~250 ns each


_FINAL = frozenset({ReportStatus.REJECTED, ReportStatus.FILLED, ReportStatus.CANCELED, ReportStatus.EXPIRED})


@slot_init
@dataclass(frozen=True, slots=True)
class VenueEvent:
    """Something the venue did besides an order transition: CLAMP, FUNDING."""

    kind: str
    ts: float
    symbol: str
    detail: dict[str, Any] = field(default_factory=dict)


@slot_init
@dataclass(frozen=True, slots=True)
class VenueReport:
    client_order_id: str
    status: ReportStatus
    fills: tuple[Fill, ...] = ()
    reason: str = ""
    ts: float = 0.0
    clamp: VenueEvent | None = None  # set when the conformance clamp changed or refused the order
    filled_qty: float = 0.0  # cumulative over the order's life
    remaining_qty: float = 0.0
    refused: bool = False  # a cancel or amend the venue declined: the order is as it was
    qty: float = 0.0  # the order's qty as the venue holds it (conformed; an amend may have changed it)
    price: float | None = None  # its limit or stop price as the venue holds it (None: a market order)


@slot_init
@dataclass(frozen=True, slots=True)
class OpenOrder:
    request: OrderRequest  # as conformed (clamped) by the venue
    status: ReportStatus
    filled_qty: float
    active_at: float  # sim/wall time from which the venue works the order (latency)


EventHook = Callable[[VenueEvent], None]


class Contracts(Protocol):
    """What the venue trades, by engine symbol (adapters/paper/catalogue.Catalogue for paper)."""

    def get(self, symbol: str) -> Instrument: ...


@runtime_checkable
class Venue(Protocol):
    name: str
    is_live: bool
    # The engine sizes on the venue's own lot grid and books funding to the symbol's domain, so
    # the venue's contracts are part of its interface, not the paper venue's alone.
    catalogue: Contracts

    def quote(self, symbol: str) -> Quote: ...

    def submit(self, req: OrderRequest) -> VenueReport: ...

    def cancel(self, client_order_id: str) -> VenueReport: ...

    def amend(self, client_order_id: str, price: float | None = None,
              qty: float | None = None) -> VenueReport: ...

    def open_bar(self, bar: Bar) -> list[VenueReport]:
        """Paper: advance the simulation to a new bar and work what fills at its open (market
        orders); the engine answers those fills (a bracket's entry fill resizes its stop) before
        `on_bar` works the rest of the bar. Live adapters stream and return []."""
        ...

    def works_at_open(self, symbol: str) -> bool:
        """Paper: whether `open_bar` of the symbol's next bar may fill anything (a market order
        works on it); where not, the engine calls `on_bar` alone. A function of what the engine
        has done, so a resumed engine makes the same calls. Live: False."""
        ...

    def on_bar(self, bar: Bar) -> list[VenueReport]:
        """Paper: work the rest of the bar `open_bar` opened (resting stops and limits), or, of
        a bar not opened, the whole bar. Live adapters stream and return []."""
        ...

    def quiet_bars(self, first: Bar, ts: Any, high: Any, low: Any, sides: Any = None) -> int:
        """Paper: how many of the coming bars (`first`, then arrays from it on) provably change
        nothing at the venue, so the engine may pass them with one `skip_bars`. `sides`: for
        bars with bid/ask OHLC, their side rows (engine.data.quoted.SIDE_OHLC), since a resting
        order trades on its own side of the book. Live: 0."""
        ...

    def skip_bars(self, bar: Bar, n: int) -> None:
        """Paper: pass n quiet bars ending with `bar`, as n quiet `on_bar` calls would."""
        ...

    def open_orders(self) -> list[OpenOrder]: ...

    def positions(self) -> list[Position]: ...

    def balances(self) -> dict[Domain, float]: ...

    def order_status(self, client_order_id: str) -> VenueReport | None:
        """The venue's truth about one order, for reconciliation after a restart."""
        ...

    def close(self) -> None: ...


class VenueError(Exception):
    """The venue cannot answer (e.g. no market data yet for a symbol): fail closed."""


class VenueFileError(VenueError):
    """The paper venue's own file cannot be read: what SQLite said."""
