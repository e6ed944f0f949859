"""The venue's mutable order record and JSON (de)serialisation of domain types."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from adapters.base import OpenOrder, ReportStatus, VenueEvent, VenueReport
from engine.domain import Domain, Fill, OrderRequest, OrderType, Position, Quote, Role, Side

WORKING = (ReportStatus.ACCEPTED, ReportStatus.PARTIALLY_FILLED, ReportStatus.TRIGGERED)


@dataclass(slots=True)  # slots: the venue reads and writes these fields on every bar it works an order
class WorkingOrder:
    req: OrderRequest
    seq: int
    status: ReportStatus
    active_at: float
    reason: str = ""
    filled_qty: float = 0.0
    bars_worked: int = 0
    triggered: bool = False
    updated_ts: float = 0.0
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> float:
        return max(self.req.qty - self.filled_qty, 0.0)

    @property
    def working(self) -> bool:
        return self.status in WORKING

    def report(self, status: ReportStatus | None = None, fills: tuple[Fill, ...] = (),
               reason: str | None = None, clamp: VenueEvent | None = None, refused: bool = False) -> VenueReport:
        req, filled = self.req, self.filled_qty
        remaining = req.qty - filled
        return VenueReport(req.client_order_id, status or self.status, fills,
                           self.reason if reason is None else reason, self.updated_ts, clamp,
                           filled, 0.0 if remaining < 0.0 else remaining, refused,  # max(.., 0.0), inline
                           req.qty, req.price)

    def view(self) -> OpenOrder:
        return OpenOrder(self.req, self.status, self.filled_qty, self.active_at)

    def to_row(self) -> dict[str, Any]:
        return {"client_order_id": self.req.client_order_id, "seq": self.seq, "status": self.status.value,
                "active_at": self.active_at, "reason": self.reason, "filled_qty": self.filled_qty,
                "bars_worked": self.bars_worked, "triggered": int(self.triggered),
                "updated_ts": self.updated_ts, "request": dump(self.req)}


_SCALARS = frozenset({float, int, str, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}


class OpenOrders(dict):
    """The venue's working orders by client order id, with how many of them are market orders
    on each symbol: the engine asks that on every bar (`PaperVenue.works_at_open`) to call
    `open_bar` only where it can fill something, so it is kept here, O(1), not scanned for.
    Written only by item assignment and `pop` (the venue uses no other mutator)."""

    __slots__ = ("markets",)

    def __init__(self) -> None:
        super().__init__()
        self.markets: dict[str, int] = {}  # symbol -> its working market orders (0s kept)

    def __setitem__(self, coid: str, o: WorkingOrder) -> None:
        old = self.get(coid)
        if old is not None:
            self._count(old, -1)
        super().__setitem__(coid, o)
        self._count(o, 1)

    def pop(self, coid: str, default: Any = None) -> Any:
        if coid not in self:
            return default
        o = super().pop(coid)
        self._count(o, -1)
        return o

    def _count(self, o: WorkingOrder, n: int) -> None:
        req = o.req
        if req.type is OrderType.MARKET:
            self.markets[req.symbol] = self.markets.get(req.symbol, 0) + n


def dump(obj: Any) -> dict[str, Any]:
    """A domain value as JSON-ready data: enum members as their values, tuples as lists.

    Field by field when every field is a scalar, an enum member or a tuple of scalars (a bar,
    quote, fill or request: what a durable venue writes on every commit); dataclasses.asdict,
    whose recursive deep copy costs ~10x as much, only for anything nested."""
    names = _FIELDS.get(type(obj))
    if names is None:
        names = _FIELDS[type(obj)] = tuple(f.name for f in fields(obj))
    out = {}
    for name in names:
        v = getattr(obj, name)
        if type(v) in _SCALARS:
            out[name] = v
        elif hasattr(v, "value"):
            out[name] = v.value
        elif type(v) is tuple and all(type(x) in _SCALARS for x in v):
            out[name] = list(v)
        else:
            return _dump_nested(obj)
    return out


def _dump_nested(obj: Any) -> dict[str, Any]:
    d = asdict(obj)
    return {k: (v.value if hasattr(v, "value") else list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def load_request(d: dict[str, Any]) -> OrderRequest:
    return OrderRequest(**{**d, "side": Side(d["side"]), "type": OrderType(d["type"]), "role": Role(d["role"]),
                           "tags": tuple(d.get("tags", ()))})


def load_fill(d: dict[str, Any]) -> Fill:
    return Fill(**{**d, "side": Side(d["side"])})


def load_position(d: dict[str, Any]) -> Position:
    return Position(**{**d, "domain": Domain(d["domain"])})


def load_quote(d: dict[str, Any]) -> Quote:
    return Quote(**d)
