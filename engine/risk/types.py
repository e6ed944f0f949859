"""What the risk chain reads and returns: plain, immutable data.

Named tuples rather than frozen dataclasses: each entry builds an Intent, a Book, a Context,
a Sized and a Decision, and a frozen dataclass's __init__ sets every field through
object.__setattr__ (Intent: ~1.7 us against ~0.3 us for the tuple).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, NamedTuple

from engine.domain import Domain, Instrument, Quote, Side

_BUY = Side.BUY  # bound once: an Enum class attribute is a slow lookup
_NONE: Mapping = MappingProxyType({})  # a default no one can mutate, shared by every tuple


class Book(NamedTuple):
    """One domain's wallet and open risk, as the engine sees it when a signal arrives."""

    domain: Domain
    equity: float  # wallet balance plus unrealised P&L
    available: float  # cash (less any unrealised loss) not tied up as margin by positions or working entries
    peak_equity: float
    trades_closed: int  # all of the domain's closed trades (half-Kelly reads its whole record)
    days_active: float  # since the domain's canary clock started: its activation, or its turning live
    pnl_window: float  # realised P&L over the ladder window
    win_rate: float | None = None
    payoff_ratio: float | None = None  # average win / average loss
    open_positions: int = 0
    open_notional: Mapping[str, float] = _NONE  # symbol -> |notional|
    # The daily risk budget's figures: the equity at the day roll (None: the day starts now, at
    # `equity`) and the risk at the stop of the entries opened since (Sized.risk_at_stop).
    day_start_equity: float | None = None
    day_risk: float = 0.0
    # symbol -> the risk at the stop its open brackets were sized at (positions and working entries)
    open_risk: Mapping[str, float] = _NONE
    canary_trades: int | None = None  # closed trades since the canary clock started (None: trades_closed)

    @property
    def drawdown(self) -> float:
        return 0.0 if self.peak_equity <= 0 else max(0.0, 1.0 - self.equity / self.peak_equity)


class Intent(NamedTuple):
    """An entry the strategy wants, priced from one quote snapshot, with its bracket."""

    symbol: str
    domain: Domain
    side: Side
    quote: Quote
    stop: float
    take_profit: float
    ts: float
    strategy: str
    exploration: bool = False
    fill_s: float = 0.0  # the length of the bar its market order fills in, the next one (0: at ts itself)

    @property
    def entry(self) -> float:
        return self.quote.ask if self.side is _BUY else self.quote.bid

    @property
    def stop_distance(self) -> float:
        return abs(self.entry - self.stop)


class Costs(NamedTuple):
    """What a taker fill costs at the venue, as fractions of its price: the fee on each fill's
    notional and the slippage each fill is moved against the trader (the paper venue's
    taker_fee_bps and slippage_bps / 1e4; see engine.risk.sizing.loss_at_stop)."""

    fee: float = 0.0
    slippage: float = 0.0


class StopLoss(NamedTuple):
    """The worst loss of one unit (price units, before the contract multiplier) stopped out at
    its stop, by cause; `total` is what the per-trade risk cap bounds."""

    stop: float  # |entry - stop|, entry at the quote's touch
    spread: float  # the exit's half spread: a stop triggers at a price and fills on the far side
    slippage: float  # both fills moved against the trader
    ticks: float  # both fills put on the tick grid against the trader
    fees: float  # the taker fee on both fills

    @property
    def total(self) -> float:
        return self.stop + self.spread + self.slippage + self.ticks + self.fees


class Sized(NamedTuple):
    qty: float
    notional: float
    risk_at_stop: float  # the worst loss at the stop of qty, fees, spread and slippage included
    # The factors behind qty, read only for a rejection's journal row or a test: kept as numbers
    # and made a mapping on request.
    canary: bool
    size_pct: float
    ladder: float
    recovery: float
    kelly: float
    risk_cap: float
    per_unit: StopLoss | None = None  # risk_at_stop's causes per unit (None: nothing to stop out)
    # qty at the highest price the venue's cost model fills the entry at (sizing.highest_fill):
    # what the exposure, leverage and margin caps judge (None: the notional)
    fill_notional: float | None = None

    @property
    def exposure(self) -> float:
        """The most the entry adds to exposure once filled as the venue's cost model fills it."""
        return self.notional if self.fill_notional is None else self.fill_notional

    def stop_loss(self, multiplier: float) -> dict[str, float]:
        """risk_at_stop by cause, in money: the audit record of what the risk cap bounded."""
        if self.per_unit is None:
            return {}
        k = self.qty * multiplier
        return {**{name: v * k for name, v in self.per_unit._asdict().items()}, "total": self.risk_at_stop}

    @property
    def factors(self) -> dict[str, float]:
        """canary, size_pct, ladder, recovery, kelly, risk_cap: for the audit record."""
        return {"canary": float(self.canary), "size_pct": self.size_pct, "ladder": self.ladder,
                "recovery": self.recovery, "kelly": self.kelly, "risk_cap": self.risk_cap}


class Rejection(NamedTuple):
    rule: str
    message: str
    numbers: Mapping[str, float | str] = _NONE


class Context(NamedTuple):
    """Everything a guard may read."""

    intent: Intent
    sized: Sized
    book: Book
    instrument: Instrument
    kill_mode: str
    entries_allowed: bool  # from the kill spec: the active kill state carries `opens_risk`
    active_symbols: frozenset[str] | None  # None: no selection made, every symbol active
    domain: str  # intent.domain.value, the key of every per-domain limit (read once: Enum.value is slow)
