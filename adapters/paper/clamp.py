"""The exchange-conformance clamp (seed 004): snap price to tick and qty to
step, refuse below min notional, and say what changed as a CLAMP event.

Snapping never makes an order more aggressive or larger than asked: qty
rounds down; buy prices round down and sell prices up (a protective stop thus
moves toward the market, never away: a stop is never widened).
"""
from __future__ import annotations

import functools
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import NamedTuple

from adapters.base import VenueEvent
from engine.domain import Instrument, OrderRequest, OrderType, Side

_EPS = Decimal("1e-9")
_MARKET, _SELL = OrderType.MARKET, Side.SELL  # bound once: an Enum class attribute is a slow lookup


def snap(x: float, inc: float, up: bool) -> float:
    """x on the grid of `inc`, floor or ceiling; values within 1e-9 steps of a grid point stay on it.

    The rule is decimal (the repr of x and inc); float division decides it exactly whenever its
    error bound keeps the quotient clear of the 1e-9 band (nearly always, at ~5x the speed)."""
    x, inc = float(x), float(inc)
    n = None
    r = x / inc if inc else math.nan
    if math.isfinite(r):
        nearest = round(r)
        off, err = abs(r - nearest), abs(r) * 4e-15 + 1e-15  # err bounds |r - the decimal ratio|
        if off + err < 1e-9:
            n = nearest
        elif off - err >= 1e-9:  # no integer lies between r and the decimal ratio
            n = math.ceil(r) if up else math.floor(r)
    if n is None:
        n = _decimal_index(x, inc, up)
    elif -_EXACT < n < _EXACT:
        # n x inc as the exact fraction n*p/q: int division rounds correctly, as float(Decimal) does,
        # so this is the same float as the Decimal product below, at half the cost.
        p, q = _ratio(inc)
        return n * p / q
    return float(n * _decimal(inc))


def _decimal_index(x: float, inc: float, up: bool) -> Decimal:
    """The grid index by the decimal rule itself, for quotients float division cannot decide."""
    ratio = Decimal(repr(x)) / _decimal(inc)  # numpy 2 floats repr as np.float64(..): x is a float here
    nearest = ratio.to_integral_value()
    return nearest if abs(ratio - nearest) < _EPS else ratio.to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)


@functools.lru_cache(maxsize=64)
def _decimal(inc: float) -> Decimal:
    return Decimal(repr(inc))


@functools.lru_cache(maxsize=64)
def _ratio(inc: float) -> tuple[int, int]:
    return _decimal(inc).as_integer_ratio()


_EXACT = 10 ** 15  # below this, n x the digits of an increment stay well inside Decimal's 28 digits


class Clamped(NamedTuple):  # a tuple: built for every order, read once by the venue
    request: OrderRequest | None  # None when refused
    event: VenueEvent | None  # CLAMP event when anything changed or the order was refused
    reason: str = ""


def conform(req: OrderRequest, inst: Instrument, ref_price: float, ts: float) -> Clamped:
    """ref_price prices market orders for the notional check (the quote's ask for a buy, bid for a sell)."""
    if req.qty <= 0 or (req.price is not None and req.price <= 0):
        return Clamped(None, None, f"qty and price must be positive (qty={req.qty}, price={req.price})")
    if req.type is not _MARKET and req.price is None:
        return Clamped(None, None, f"a {req.type.value} order needs a price")
    qty = snap(req.qty, inst.step, up=False)
    price = None if req.price is None else snap(req.price, inst.tick, up=req.side is _SELL)
    changes = {}
    if req.qty != qty:
        changes["qty"] = {"from": req.qty, "to": qty}
    if req.price != price:
        changes["price"] = {"from": req.price, "to": price}
    notional = qty * (price if price is not None else ref_price) * inst.multiplier
    reason = ""
    if qty <= 0:
        reason = f"qty {req.qty:g} is below the step {inst.step:g} of {inst.symbol}"
    elif notional < inst.min_notional:
        reason = (f"notional {notional:g} is below the minimum {inst.min_notional:g} of {inst.symbol} "
                  f"(qty {qty:g} x price {price if price is not None else ref_price:g})")
    event = None
    if changes or reason:
        detail = {"client_order_id": req.client_order_id, "changes": changes, "tick": inst.tick,
                  "step": inst.step, "min_notional": inst.min_notional, "notional": notional}
        if reason:
            detail["rejected"] = reason
        event = VenueEvent("CLAMP", ts, inst.symbol, detail)
    if reason:
        return Clamped(None, event, reason)
    return Clamped(req if _same(req, qty, price) else _on_grid(req, qty, price), event)


def _on_grid(req: OrderRequest, qty: float, price: float | None) -> OrderRequest:
    """dataclasses.replace(req, qty=qty, price=price) without its per-field introspection (half
    the cost); tests/test_paper_venue.py holds the two equal over every field."""
    return OrderRequest(req.client_order_id, req.symbol, req.side, qty, req.type, req.role, req.quote_id, req.ts,
                        price, req.reduce_only, req.strategy, req.parent_id, req.tags)


def _same(req: OrderRequest, qty: float, price: float | None) -> bool:
    """Already on the grid, as floats: the request itself is the conformed one (a copy costs
    more than the rest of conform). Exact types, since an int qty still becomes a float."""
    return (type(req.qty) is float and req.qty == qty
            and (price is None if req.price is None else type(req.price) is float and req.price == price))
