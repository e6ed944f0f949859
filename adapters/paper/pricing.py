"""Quotes and fill prices from bar data. Harsh by design (seed 004): every
fill is a taker fill, slippage always goes against the trader, a market order
pays the worse of its snapshot and the price once latency has passed.

A bar's OHLC are mid prices; an order trades against one side of the book, so
every touch rule reads that side. Where the data has each side's own open, high
and low (a QuotedBar: forex bid and ask files) the rules read them: a sell stop
triggers when the bid's low reaches it, and so on. Otherwise the bid is the mid
less the half spread (the bar's real closing bid/ask where the data has them,
the modelled spread_bps otherwise), the ask the mid plus it. A resting sell
limit fills only when the bid trades through it, a buy limit when the ask does,
at the limit. A sell stop triggers when the bid reaches it, a buy stop when the
ask does, and fills at the worse of its trigger and that side's open, moved by
slippage. A market order, and a limit marketable on arrival, meet that side's
open; a market order sent after the bar opened (a decision on another series' row inside
it: a flatten across domains) meets its close instead, the first price after it, and so
does a limit arriving inside the bar (a latency longer than part of a bar)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.paper.clamp import snap
from engine.data.quoted import QuotedBar
from engine.domain import Bar, Instrument, Quote, Side

_BUY, _SELL = Side.BUY, Side.SELL  # bound once: an Enum class attribute is a slow lookup
# What a fill's price came from, besides a market order's own snapshot (its id): the quote at
# the bar's open, or the bar's quote (its close), which also names the bar whose range a stop
# or limit filled in at its own price. The venue issues and stores the quote a fill names.
OPEN, BAR = "open", "bar"


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
# `half`: the half spread between the mid and the side the order trades against.
def stop_hit(side: Side, trigger: float, low: Any, high: Any, half: Any) -> Any:
    """A sell stop triggers when the bid's low (low - half) <= stop, a buy stop when the ask's high >= stop."""
    return low - half <= trigger if side is _SELL else high + half >= trigger


def limit_through(side: Side, limit: float, low: Any, high: Any, half: Any) -> Any:
    """A resting limit fills only when its side trades through it: a buy when the ask's low
    (low + half) < limit, a sell when the bid's high (high - half) > limit."""
    return low + half < limit if side is _BUY else high - half > limit


@dataclass(frozen=True, slots=True)
class Pricer:
    inst: Instrument
    spread_bps: float
    slippage_bps: float

    def side_price(self, bar: Bar, price: float, side: Side) -> float:
        """The price a taker meets at `price` (a mid/trade price): ask for a buy, bid for a sell."""
        return price + side.sign * half_spread(bar, price, self.spread_bps)

    def side_open(self, bar: Bar, side: Side) -> float:
        """The price a taker meets at the bar's open: that side's own open where the bar has it."""
        if bar.__class__ is QuotedBar:
            return bar.ask_open if side is _BUY else bar.bid_open
        return self.side_price(bar, bar.open, side)

    def open_quote(self, bar: Bar, opened: float) -> Quote:
        """The quote a taker met at the bar's open (side_open's prices), stamped `opened`, when the
        bar opened; its id is the bar's with `:open`."""
        return Quote(f"{snapshot_id(bar.symbol, bar.ts)}:open", bar.symbol, opened, self.side_open(bar, _SELL),
                     self.side_open(bar, _BUY), bar.open)

    def taker(self, base: float, side: Side) -> float:
        """base moved against the trader by slippage, onto the tick grid (also against the trader)."""
        return snap(base * (1 + side.sign * self.slippage_bps / 1e4), self.inst.tick, up=side is _BUY)

    def worse(self, a: float, b: float, side: Side) -> float:
        return max(a, b) if side is _BUY else min(a, b)

    def market(self, bar: Bar, side: Side, snapshot: Quote | None, sent_after_open: bool = False) -> tuple[float, str]:
        """The fill price and what it came from (the snapshot's id, OPEN or BAR): the snapshot where its side is
        the worse (the order pays it), else this bar's. An order sent after the bar opened (decided
        on another series' row inside it), or arriving after it opened (a latency longer than a
        bar), cannot meet its open, a price from before it reached the venue: it meets the bar's
        close, the first price known to come after it."""
        base = self.side_price(bar, bar.close, side) if sent_after_open else self.side_open(bar, side)
        if snapshot is not None:
            quoted = snapshot.ask if side is _BUY else snapshot.bid
            if self.worse(base, quoted, side) == quoted:
                return self.taker(quoted, side), snapshot.snapshot_id
        return self.taker(base, side), BAR if sent_after_open else OPEN

    def stop_trigger(self, bar: Bar, side: Side, trigger: float, late: bool = False) -> tuple[float, str] | None:
        """Fill price when the stop triggers in this bar, and what it came from (the trigger
        touched in the bar, or the side's open past it: BAR or OPEN), else None (see stop_hit).
        `late`: on its first bar, it arrived after the bar opened (as `limit`'s): only the bar's
        close is known to come after it, so the stop triggers there if the close is past it, and
        fills at that close; the range and the open, which may lie before it, trigger nothing."""
        if late:
            close = self.side_price(bar, bar.close, side)
            return (self.taker(close, side), BAR) if self.worse(close, trigger, side) == close else None
        if bar.__class__ is QuotedBar:  # the bid's own low, the ask's own high
            hit = stop_hit(side, trigger, bar.bid_low, bar.ask_high, 0.0)
        else:
            hit = stop_hit(side, trigger, bar.low, bar.high, half_spread(bar, trigger, self.spread_bps))
        if not hit:
            return None
        # The side reached the trigger: it fills there, or at the side's open after a gap through it.
        opened = self.side_open(bar, side)
        if self.worse(trigger, opened, side) == trigger:
            return self.taker(trigger, side), BAR
        return self.taker(opened, side), OPEN

    def limit(self, bar: Bar, side: Side, limit: float, first_bar: bool, late: bool = False) -> tuple[float, str] | None:
        """Fill price of a limit in this bar and what it came from (OPEN or BAR), else None. Never
        better than the limit for the venue.
        `late`: on its first bar, it arrived after the bar opened (as `market`'s sent_after_open):
        it meets the close, and the bar's range, which may lie before its arrival, fills nothing."""
        if first_bar:  # marketable on arrival: a taker fill, capped at the limit
            base = self.side_price(bar, bar.close, side) if late else self.side_open(bar, side)
            arrival = self.taker(base, side)
            if (arrival <= limit) if side is _BUY else (arrival >= limit):
                return arrival, BAR if late else OPEN
            if late:
                return None
        if bar.__class__ is QuotedBar:  # the ask's own low, the bid's own high
            through = limit_through(side, limit, bar.ask_low, bar.bid_high, 0.0)
        else:
            through = limit_through(side, limit, bar.low, bar.high, half_spread(bar, limit, self.spread_bps))
        return (limit, BAR) if through else None
