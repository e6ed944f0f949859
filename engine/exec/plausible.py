"""Is a venue's fill believable? A fill is the venue's word on money that moved, so the books
take it as reported, with two exceptions decided here: figures that cannot be booked at all
(a NaN would poison the wallet and every guard that compares it), and a price so far outside
the bar it was reported in that the report, or the data, is wrong. Either way the run stops
opening risk and says why (fail closed); neither is guessed at."""
from __future__ import annotations

import math

from engine.domain import Bar, Fill


def unbookable(fill: Fill) -> str | None:
    """Why the fill's figures cannot be booked, or None."""
    if fill.qty > 0 and fill.price > 0 and math.isfinite(fill.qty + fill.price + fill.fee):
        return None
    return f"qty {fill.qty:g}, price {fill.price:g} and fee {fill.fee:g} (a fill needs a positive qty and price, " \
           "and a finite fee)"


def outside_bar(fill: Fill, bar: Bar | None, band: float) -> str | None:
    """Why the fill's price is implausible for the bar it was reported in (more than `band`,
    a fraction, beyond the bar's range), or None; None too for a fill of another symbol, or
    one reported outside a bar (a reconciliation), which has nothing to be judged against."""
    if bar is None or bar.symbol != fill.symbol:
        return None
    low, high = bar.low, bar.high
    if bar.bid is not None and bar.ask is not None:  # a side's fill is at its own quote
        low, high = min(low, bar.bid), max(high, bar.ask)
    if low * (1.0 - band) <= fill.price <= high * (1.0 + band):
        return None
    return (f"price {fill.price:g} is more than {_percent(band)} outside the bar's range [{low:g}, {high:g}] "
            "(risk spec: limits.fill_price_band)")


def _percent(share: float) -> str:
    """A share as a plain percentage to 10 places, trailing zeros cut: 0.1 -> "10%", 1e-07 ->
    "0.00001%" (`:g` writes 1e-05, `:.0%` rounds a narrow band to 0%)."""
    return f"{share * 100:.10f}".rstrip("0").rstrip(".") + "%"
