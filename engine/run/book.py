"""The run's in-memory view of each domain's wallet and positions.

The store is the durable record (every fill and credit goes there first); this
mirror exists so that marking to market and sizing on every bar costs no query.
Position arithmetic is the store's own (state.ledger.apply_fill).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Iterable, Mapping

from engine.domain import Domain, Fill
from engine.risk.types import _NONE, Book
from state.ledger import FLAT_EPS, Book as Position, apply_fill


_PNL = itemgetter(1)  # of a (ts, pnl) entry of `recent`


def _unrealized(positions: dict[str, Position], marks: dict[str, float], multipliers: dict[str, float]) -> float:
    # A loop, not sum() over a generator: equity is read several times a stepped bar, mostly over
    # one position (the additions are sum()'s own, in its order).
    total = 0
    for s, p in positions.items():
        if abs(p.qty) > FLAT_EPS:
            total += p.qty * (marks.get(s, p.avg_price) - p.avg_price) * multipliers.get(s, 1.0)
    return total


@dataclass(slots=True)
class DomainBook:
    """One domain's wallet, in its own currency: its daily loss, drawdown and canary clock are
    its own (seed 000's limits are per account, seed 001's domains independent wallets)."""

    domain: Domain
    mode: str
    start_balance: float
    balance: float
    # When the stage activated the domain, moved on to the domain's first bar (Runner.step):
    # in replay each domain's data starts at its own date, and its canary days count from there.
    # Moved again when the domain turns live (restart_canary).
    activated_ts: float
    peak_equity: float  # the highest equity the loop has marked (Runner.pnl_inputs, Runner._record_equity)
    day_start_equity: float  # the equity at the day roll (Runner._day_roll)
    day_risk: float = 0.0  # the risk at the stop of the entries sent since the day roll (the daily risk budget)
    positions: dict[str, Position] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    multipliers: dict[str, float] = field(default_factory=dict)
    trades: int = 0  # closed trades, and their wins and losses: running sums keep sizing O(1)
    wins: int = 0
    win_sum: float = 0.0
    losses: int = 0
    loss_sum: float = 0.0  # positive amount
    recent: deque = field(default_factory=deque)  # (ts, pnl) inside the ladder window
    # When the domain last had a bar (its last mark; None: none yet): a trading day gives its gate a
    # daily close only if it had one (Runner._day_roll), as the report's curve has points only then.
    marked_ts: float | None = None
    # Closed exploitation trades: the canary's count. Exploration trades are measured apart (seed
    # 001; the gate's canary_trades counts none either), so a stream of them cannot end the canary
    # of a model that has closed no trade of its own.
    exploited: int = 0
    canary_from: int = 0  # `exploited` when the canary clock last started

    def restart_canary(self, now: float) -> bool:
        """Start the canary clock again at `now`; False when it has just started (nothing to redo)."""
        if self.exploited == self.canary_from and self.activated_ts >= now:
            return False
        self.activated_ts, self.canary_from = now, self.exploited
        return True

    def apply(self, fill: Fill, multiplier: float) -> float:
        pos = self.positions.get(fill.symbol)
        if pos is None:
            pos = Position()
        new, pnl = apply_fill(pos, fill.side, fill.qty, fill.price, fill.fee, fill.ts, multiplier)
        self.positions[fill.symbol] = new
        self.multipliers[fill.symbol] = multiplier
        self.balance += pnl
        return pnl

    def pay_funding(self, symbol: str, paid: float) -> None:
        """A perp funding payment (negative: received): out of the balance and into the
        position's realized P&L, as the venue's ledger books it."""
        self.balance -= paid
        pos = self.positions.get(symbol)
        if pos is not None:
            self.positions[symbol] = Position(pos.qty, pos.avg_price, pos.realized_pnl - paid, pos.opened_ts)

    def mark(self, symbol: str, price: float) -> None:
        self.marks[symbol] = price

    @property
    def equity(self) -> float:
        return self.balance + _unrealized(self.positions, self.marks, self.multipliers)

    @property
    def held(self) -> int:
        """How many symbols the domain holds: one position each, whatever brackets make it up."""
        return sum(1 for p in self.positions.values() if abs(p.qty) > FLAT_EPS)

    def open_notional(self) -> dict[str, float]:
        return {s: abs(p.qty) * self.marks.get(s, p.avg_price) * self.multipliers.get(s, 1.0)
                for s, p in self.positions.items() if abs(p.qty) > FLAT_EPS}

    def _entry_notional(self) -> float:
        """Open positions' notional at their average entry price: the margin base the venue keeps."""
        return sum(abs(p.qty) * p.avg_price * self.multipliers.get(s, 1.0)
                   for s, p in self.positions.items() if abs(p.qty) > FLAT_EPS)

    def trade_closed(self, ts: float, pnl: float, window: float, exploration: bool = False) -> None:
        self.trades += 1
        self.exploited += not exploration
        if pnl > 0:
            self.wins, self.win_sum = self.wins + 1, self.win_sum + pnl
        elif pnl < 0:
            self.losses, self.loss_sum = self.losses + 1, self.loss_sum - pnl
        self.recent.append((ts, pnl))
        self._trim(ts - window)

    def _trim(self, since: float) -> None:
        recent = self.recent
        while recent and recent[0][0] < since:
            recent.popleft()

    def risk_view(self, now: float, leverage: float, window: float,
                  working: Iterable[tuple[str, float]] = (), open_risk: Mapping[str, float] = _NONE) -> Book:
        """The book the risk chain judges an entry against at `now`: P&L of the trades closed
        within `window` of now (not of the last close), and each working entry in `working`
        (symbol, unfilled notional) counted as the position it will become, so that entries sent
        on the same bar, or before the last one filled, cannot pass the caps together.
        `open_risk`: symbol -> the risk at the stop of its open brackets (the sector cap's)."""
        eq = self.equity
        payoff = (self.win_sum / self.wins) / (self.loss_sum / self.losses) if self.wins and self.losses else None
        notional = self.open_notional()
        held = sum(notional.values())
        for symbol, pending in working:
            notional[symbol] = notional.get(symbol, 0.0) + pending
        # Available as the venue counts free funds: cash (an unrealised gain is no cash; a loss
        # is owed) less the margin its positions locked at entry and its working entries hold.
        margin = (self._entry_notional() + sum(notional.values()) - held) / leverage
        self._trim(now - window)
        return Book(self.domain, eq, min(self.balance, eq) - margin, self.peak_equity, self.trades,
                    (now - self.activated_ts) / 86400, sum(map(_PNL, self.recent)),
                    self.wins / self.trades if self.trades else None, payoff, len(notional), notional,
                    self.day_start_equity, self.day_risk, open_risk, self.exploited - self.canary_from)
