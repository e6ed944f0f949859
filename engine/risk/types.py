"""What the risk chain reads and returns: plain, immutable data."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from engine.domain import Domain, Instrument, Quote, Side

_BUY = Side.BUY  # bound once: an Enum class attribute is a slow lookup


@dataclass(frozen=True, slots=True)
class Book:
    """One domain's wallet and open risk, as the engine sees it when a signal arrives."""

    domain: Domain
    equity: float  # wallet balance plus unrealised P&L
    available: float  # cash not tied up as margin
    peak_equity: float
    trades_closed: int
    days_active: float  # since the stage activated this domain
    pnl_window: float  # realised P&L over the ladder window
    win_rate: float | None = None
    payoff_ratio: float | None = None  # average win / average loss
    open_positions: int = 0
    open_notional: Mapping[str, float] = field(default_factory=dict)  # symbol -> |notional|

    @property
    def drawdown(self) -> float:
        return 0.0 if self.peak_equity <= 0 else max(0.0, 1.0 - self.equity / self.peak_equity)


@dataclass(frozen=True, slots=True)
class Intent:
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

    @property
    def entry(self) -> float:
        return self.quote.ask if self.side is _BUY else self.quote.bid

    @property
    def stop_distance(self) -> float:
        return abs(self.entry - self.stop)


@dataclass(frozen=True, slots=True)
class Sized:
    qty: float
    notional: float
    risk_at_stop: float
    factors: Mapping[str, float]  # canary, ladder, recovery, kelly, ... for the audit record


@dataclass(frozen=True, slots=True)
class Rejection:
    rule: str
    message: str
    numbers: Mapping[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a guard may read."""

    intent: Intent
    sized: Sized
    book: Book
    instrument: Instrument
    kill_mode: str
    entries_allowed: bool  # from the kill spec: the active kill state carries `opens_risk`
    active_symbols: frozenset[str] | None  # None: no selection made, every symbol active
    domain: str  # intent.domain.value, the key of every per-domain limit (read once: Enum.value is slow)
