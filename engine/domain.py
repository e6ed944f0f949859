"""Strict domain types shared by strategies, risk, venues and the state store.

Values are immutable; money and prices are floats in the quote currency of
the instrument (see README's notes for operators). Times are UTC epoch seconds
(float), so a replay clock and a wall clock produce the same types.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from operator import attrgetter
from typing import TypeVar

_T = TypeVar("_T")


class _Factory:
    """The default of a field with a default_factory: call the factory (dataclasses' own marker is private)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def slot_init(cls: type[_T]) -> type[_T]:
    """Give a frozen, slotted dataclass an __init__ that stores each field through its slot's own
    descriptor. The frozen __init__ dataclasses generates calls object.__setattr__ per field, which
    looks the name up along the MRO every time: twice the cost for the types the venue and the
    engine build on every bar and order. Same signature, defaults and values; the class stays
    frozen (its __setattr__ still refuses) with the dataclass's own eq, hash and repr."""
    if "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        raise TypeError(f"slot_init needs a slotted dataclass without __post_init__: {cls.__name__}")
    names = {"_FACTORY": _FACTORY}
    params, body = [], []
    for f in fields(cls):
        if not f.init or f.kw_only:
            raise TypeError(f"slot_init supports positional init fields only: {cls.__name__}.{f.name}")
        names[f"_set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's member descriptor
        value = f.name
        if f.default is not MISSING:
            names[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            value = f"_factory_{f.name}() if {f.name} is _FACTORY else {f.name}"
        else:
            params.append(f.name)
        body.append(f"    _set_{f.name}(self, {value})")
    source = "\n".join([f"def __init__(self, {', '.join(params)}):", *(body or ["    pass"])])
    # The source is built above from the dataclass's own field names, never from input.
    exec(compile(source, f"<{cls.__name__}.__init__>", "exec"), names)  # noqa: S102
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = cls.__init__.__annotations__
    cls.__init__ = init
    return cls


class _Enum(str, Enum):
    """A str-valued enum whose `value` is read by a C-level property: Enum's own runs two
    Python calls per read (~0.35 us), and the ledger and the loop read it for every order,
    fill, journal row and equity point. Same member values, same `value`."""

    value = property(attrgetter("_value_"))  # type: ignore[assignment]


class Side(_Enum):
    BUY = "buy"
    SELL = "sell"

    def __init__(self, value: str) -> None:
        self.sign = 1 if value == "buy" else -1  # +1 buy, -1 sell: a plain attribute, read on every fill

    @property
    def opposite(self) -> "Side":
        return _SELL if self is _BUY else _BUY


# A class attribute of an Enum goes through EnumType.__getattr__'s slow lookup (~250 ns against
# ~30 ns for a global): hot code compares against members bound once, like these.
_BUY, _SELL = Side.BUY, Side.SELL


class Domain(_Enum):
    """Capital is segregated per domain: no cross-funding (seed 001)."""

    CRYPTO_SPOT = "crypto_spot"
    CRYPTO_PERP = "crypto_perp"
    FOREX = "forex"
    FOREX_OPTIONS = "forex_options"


# Domains whose markets sell only what is held (spot): no venue lets an entry there go short.
SELLS_ONLY_HELD: frozenset[Domain] = frozenset({Domain.CRYPTO_SPOT})


class Mode(_Enum):
    OFF = "off"
    PAPER = "paper"
    LIVE = "live"


class OrderType(_Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class Role(_Enum):
    """What an order is for: entries open risk; exits (TP, SL, flatten) always pass close-only."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    EXIT = "exit"

    @property
    def opens_risk(self) -> bool:
        return self is _ENTRY


_ENTRY = Role.ENTRY


@slot_init
@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    ts: float  # bar close time, epoch seconds UTC
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    bid: float | None = None  # real quotes when the data has them (forex bid/ask files)
    ask: float | None = None


@slot_init
@dataclass(frozen=True, slots=True)
class Quote:
    """A priced snapshot; every order carries the id of the one it was priced from."""

    snapshot_id: str
    symbol: str
    ts: float
    bid: float
    ask: float
    last: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> float:
        return self.ask - self.bid


@slot_init
@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    domain: Domain
    tick: float
    step: float
    min_notional: float
    multiplier: float = 1.0
    kind: str = "spot"  # spot | perp | future | option | fx
    expiry: float | None = None  # epoch seconds for futures and options
    strike: float | None = None
    option_right: str | None = None  # call | put
    underlying: str | None = None
    quote: str | None = None  # the currency its prices and P&L are in (catalogue's `quote`)


_EXACT_INT = 2.0 ** 53  # below it, a whole step times an int is an exact whole float


# What a closing fill leaves, as a share of the position it closed, that is float noise, not a
# position (10839.7 + 3722.2 - 14561.9 = 1.8e-12): no lot is a billionth of a position.
DUST = 1e-9


def on_lot_grid(qty: float, step: float, whole: bool, down: bool = False) -> float:
    """`qty` in whole lots of `step` (`whole`: the step is an integer): down for a new entry, which
    must not grow, else to the nearest lot, so a sum of partial fills (161234.62399999998) is
    not cut a lot short. The sizing chain and the orders it leads to use this one rule."""
    n = qty / step
    v = (math.floor(n + 1e-9) if down else round(n)) * step
    if whole and -_EXACT_INT < v < _EXACT_INT:
        return v  # a whole number already has no decimals for round() to cut (its dtoa round trip ~1 us)
    return round(v, 12)


@slot_init
@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    type: OrderType
    role: Role
    quote_id: str
    ts: float
    price: float | None = None  # limit price, or trigger for stops
    reduce_only: bool = False
    strategy: str = ""
    parent_id: str | None = None  # entry order id for bracket legs
    tags: tuple[str, ...] = ()


@slot_init
@dataclass(frozen=True, slots=True)
class Fill:
    client_order_id: str
    fill_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    ts: float
    quote_id: str
    liquidity: str = "taker"


@dataclass(slots=True)
class Position:
    symbol: str
    domain: Domain
    qty: float = 0.0  # signed: >0 long, <0 short
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    opened_ts: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return abs(self.qty) > 1e-12


def client_order_id(strategy: str, symbol: str, ts: float, nonce: int | str) -> str:
    """Idempotent id = hash(strategy, symbol, ts, nonce) (seed 004): a replayed intent gets the same id."""
    return order_id(order_id_prefix(strategy, symbol, ts), nonce)


def order_id_prefix(strategy: str, symbol: str, ts: float) -> "hashlib._Hash":
    """The hash state of (strategy, symbol, ts): the ids of one intent's orders differ only by nonce."""
    return hashlib.sha256(f"{strategy}|{symbol}|{ts:.6f}|".encode())


def order_id(prefix: "hashlib._Hash", nonce: int | str) -> str:
    h = prefix.copy()
    h.update(f"{nonce}".encode())
    return "sc-" + h.hexdigest()[:24]
