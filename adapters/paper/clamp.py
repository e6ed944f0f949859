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
    if type(x) is not float:
        x = float(x)
    grid = _GRIDS.get(inc)
    inc, p, q, bound = _grid(inc) if grid is None else grid
    n = None
    r = x / inc if inc else math.nan
    if r - r == 0.0:  # finite
        # The nearest integer as a float. Where a tie or the sum's rounding picks the other
        # neighbour, both lie ~0.5 away: far outside the band, so the rule decides the same.
        n = (r + 0.5) // 1.0
        off = r - n if r >= n else n - r
        err = (r if r >= 0.0 else -r) * 4e-15 + 1e-15  # bounds |r - the decimal ratio|
        if off + err >= 1e-9:  # off the grid: floor or ceiling, unless an integer may lie between
            n = None if off - err < 1e-9 else r // 1.0 + 1.0 if up else r // 1.0  # r and the ratio
    if n is None:
        return float(_decimal_index(x, inc, up) * _decimal(inc))
    if -bound < n < bound:
        # n x inc as the exact fraction n*p/q in floats: n*p is exact below 2**53 and so is q, so
        # the one division rounds correctly, as float(Decimal) does: the same float as the Decimal
        # product below at a fraction of the cost. n is never -0.0 (no signed zero leaks).
        return n * p / q
    if -_EXACT < n < _EXACT:  # the same fraction in ints, whose true division rounds correctly too
        p, q = _ratio(inc)
        return int(n) * p / q
    return float(int(n) * _decimal(inc))


def exit_on_grid(price: float, tick: float, side: Side) -> float:
    """An exit leg's price (a stop or a target) of a `side` position on the grid, as conform puts
    it: a long's exits sell, so up; a short's buy, so down. A stop thus moves toward the market and
    a target away from it: neither becomes more aggressive. Unchanged where the tick is not positive."""
    return snap(price, tick, up=side is Side.BUY) if tick > 0 else price


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


_GRIDS: dict[float, tuple[float, float, float, float]] = {}  # _grid's answers for usable increments


@functools.lru_cache(maxsize=64)
def _grid(inc: float) -> tuple[float, float, float, float]:
    """(inc, p, q, bound) for an increment whose decimal is p/q: |n| < bound keeps n*p/q exact in
    floats (p and q exact in floats, n*p below 2**53) and inside Decimal's 28 digits (below 10**15).
    A bound of 0 (a non-positive or odd increment) leaves every grid point to the int fraction."""
    inc = float(inc)
    if not 0 < inc < math.inf:
        return inc, 0.0, 0.0, 0.0
    p, q = _ratio(inc)
    if not (p <= 2 ** 53 and q <= 2 ** 53):
        return inc, 0.0, 0.0, 0.0
    grid = _GRIDS[inc] = (inc, float(p), float(q), float(min(_EXACT, (2 ** 53 - 1) // p)))
    return grid


_EXACT = 10 ** 15  # below this, n x the digits of an increment stay well inside Decimal's 28 digits


class Clamped(NamedTuple):  # a tuple: built for every order, read once by the venue
    request: OrderRequest | None  # None when refused
    event: VenueEvent | None  # CLAMP event when anything changed or the order was refused
    reason: str = ""


def conform(req: OrderRequest, inst: Instrument, ref_price: float, ts: float, held: float = 0.0) -> Clamped:
    """ref_price prices market orders for the notional check (the quote's ask for a buy, bid for a sell).
    `held`: the signed position; a reduce-only order that closes all of it is exempt from the
    minimum notional (a whole position closes whatever it is worth; part of one is held to the
    minimum as any order is), or a remnant under the minimum could never be closed.
    Stricter than the crypto derivatives venues: Binance USD-M exempts every reduce-only order
    (error -4164 "Order's notional must be no smaller than 5 (unless you choose reduce only)",
    github.com/sammchardy/python-binance/issues/947, hummingbot/hummingbot#7094) and Bybit every
    closing order ("Derivatives Trading Rules", 3. Minimum Notional Value/Order Size: closing orders
    are exempt from the notional value, not from the minimum size). Here part of a netted position
    (two brackets on a symbol) is held to the minimum, so the bracket spec must survive a refused
    close: its flatten keeps the stop until the position is flat (specs/orders/bracket.yaml)."""
    if req.qty <= 0 or (req.price is not None and req.price <= 0):
        return Clamped(None, None, f"qty and price must be positive (qty={req.qty}, price={req.price})")
    if req.type is not _MARKET and req.price is None:
        return Clamped(None, None, f"a {req.type.value} order needs a price")
    if req.type is _MARKET and req.price is not None:  # its margin and notional would be judged at it
        return Clamped(None, None, f"a market order takes no price (it fills at the market), not {req.price:g}")
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
    elif notional < inst.min_notional and not (req.reduce_only and held * req.side.sign < 0
                                               and qty >= abs(held) - inst.step / 2):
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
