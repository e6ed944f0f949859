"""Bars that carry each side of the book's own open, high and low (data with bid and ask
OHLC, such as the bundled forex bid/ask files), beside the closing bid/ask every quoted
bar has. Within a bar the spread moves (it widens at news and at rollover), so the bid's
low is not the mid's low less half the closing spread: the paper venue reads these.

The names of the frame columns, shared by the loader, the store, resampling and the run.
This module imports nothing heavy: the venue imports it.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.domain import Bar

# Frame columns beside `bid`/`ask` (each side's close), in the order QuotedBar takes them.
SIDE_OHLC = ("bid_open", "bid_high", "bid_low", "ask_open", "ask_high", "ask_low")
# How resampling builds each from finer bars.
SIDE_AGG = {"bid_open": "first", "bid_high": "max", "bid_low": "min",
            "ask_open": "first", "ask_high": "max", "ask_low": "min"}


# A subclass, not six more fields on Bar: a bar without them (most data) costs nothing more.
# Keyword-only: required, though Bar's own last fields have defaults.
@dataclass(frozen=True, slots=True, kw_only=True)
class QuotedBar(Bar):
    """A Bar (mid OHLC, closing bid/ask) with the bid's and the ask's own open, high, low."""

    bid_open: float
    bid_high: float
    bid_low: float
    ask_open: float
    ask_high: float
    ask_low: float


def load_bar(d: dict) -> Bar:
    """A bar from its dumped fields (adapters.paper.model.dump), of the class they name."""
    return QuotedBar(**d) if "bid_low" in d else Bar(**d)
