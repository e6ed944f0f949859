"""Quotes and fill prices from bar data. Harsh by design (seed 004): every
fill is a taker fill, slippage always goes against the trader, a market order
pays the worse of its snapshot and the price once latency has passed, resting
limits fill only when price trades through, stops fill at the worse of their
trigger and the bar's open."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.paper.clamp import snap
from engine.domain import Bar, Instrument, Quote, Side

_BUY, _SELL = Side.BUY, Side.SELL  # bound once: an Enum class attribute is a slow lookup


def snapshot_id(symbol: str, ts: float) -> str:
    """Deterministic: the same bar always yields the same id, across restarts and replays."""
    return f"q:{symbol}:{int(round(ts * 1000))}"


def half_spread(bar: Bar, price: float, spread_bps: float) -> float:
    if bar.bid is not None and bar.ask is not None:
        return (bar.ask - bar.bid) / 2.0
    return price * spread_bps / 2e4


def make_quote(bar: Bar, inst: Instrument, spread_bps: float) -> Quote:
    if bar.bid is not None and bar.ask is not None:
        bid, ask = bar.bid, bar.ask
    else:  # modelled spread, widened outward onto the tick grid
        h = half_spread(bar, bar.close, spread_bps)
        bid, ask = snap(bar.close - h, inst.tick, up=False), snap(bar.close + h, inst.tick, up=True)
        if ask <= bid:
            ask = bid + inst.tick
    return Quote(snapshot_id(bar.symbol, bar.ts), bar.symbol, bar.ts, bid, ask, bar.close)


# The touch rules, shared by the per-bar fill (scalars) and the quiet-bar screen (arrays),
# so that "no order can act on these bars" is exactly "_work would do nothing there".
def stop_hit(side: Side, trigger: float, low: Any, high: Any) -> Any:
    """A sell stop triggers when low <= stop, a buy stop when high >= stop."""
    return low <= trigger if side is _SELL else high >= trigger


def limit_through(side: Side, limit: float, low: Any, high: Any) -> Any:
    """A resting limit fills only when price trades through it."""
    return low < limit if side is _BUY else high > limit


@dataclass(frozen=True, slots=True)
class Pricer:
    inst: Instrument
    spread_bps: float
    slippage_bps: float

    def side_price(self, bar: Bar, price: float, side: Side) -> float:
        """The price a taker meets at `price` (a mid/trade price): ask for a buy, bid for a sell."""
        return price + side.sign * half_spread(bar, price, self.spread_bps)

    def taker(self, base: float, side: Side) -> float:
        """base moved against the trader by slippage, onto the tick grid (also against the trader)."""
        return snap(base * (1 + side.sign * self.slippage_bps / 1e4), self.inst.tick, up=side is _BUY)

    def worse(self, a: float, b: float, side: Side) -> float:
        return max(a, b) if side is _BUY else min(a, b)

    def market(self, bar: Bar, side: Side, snapshot: Quote | None) -> float:
        base = self.side_price(bar, bar.open, side)
        if snapshot is not None:
            base = self.worse(base, snapshot.ask if side is _BUY else snapshot.bid, side)
        return self.taker(base, side)

    def stop_trigger(self, bar: Bar, side: Side, trigger: float) -> float | None:
        """Fill price when the stop triggers in this bar, else None. A sell stop triggers when low <= stop."""
        if not stop_hit(side, trigger, bar.low, bar.high):
            return None
        base = self.worse(trigger, bar.open, side)  # a gap through the stop fills at the open
        return self.taker(self.side_price(bar, base, side), side)

    def limit(self, bar: Bar, side: Side, limit: float, first_bar: bool) -> float | None:
        """Fill price of a limit in this bar, else None. Never better than the limit for the venue."""
        if first_bar:  # marketable on arrival: a taker fill, capped at the limit
            arrival = self.taker(self.side_price(bar, bar.open, side), side)
            if (arrival <= limit) if side is _BUY else (arrival >= limit):
                return arrival
        return limit if limit_through(side, limit, bar.low, bar.high) else None
