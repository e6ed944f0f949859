"""What a run produced, as plain data: the loop fills these in, the report reads them.

Money is in the quote currency (USD), times are UTC epoch seconds, as in engine.domain.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip, entry to exit. `pnl` is net of `fees` and perp `funding` (what the wallet
    was credited)."""

    domain: str
    mode: str
    symbol: str
    side: str  # side of the entry: buy (long) or sell (short)
    qty: float
    entry_ts: float
    entry_price: float
    exit_ts: float
    exit_price: float
    pnl: float
    fees: float
    # Every exit that took part of it, in fill order, joined by `+`: a leg (take_profit, stop_loss), an
    # engine exit (signal, max_hold, weekend), a bracket spec's close-out reason (kill switch flatten, ...),
    # a close-out after the bracket closed; all listed in docs/run-report.md.
    exit_reason: str
    strategy: str
    exploration: bool = False  # seed 001: exploration trades are measured apart
    model_version: str | None = None
    client_order_id: str = ""  # the entry order's id, to find it in the audit journal
    funding: float = 0.0  # perp funding paid while open (received: negative)
    stage: int | None = None  # the rollout stage whose rules opened it (None: journaled before stages were kept)

    def as_dict(self) -> dict:
        """Flat fields (dataclasses.asdict deep-copies through recursion: 23 us against 2 us)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class DomainResult:
    domain: str
    mode: str  # paper | live, as the stage ran it
    start_balance: float
    end_balance: float
    open_positions: int  # still open when the run ended (they stay managed on restart)


@dataclass(slots=True)
class RunResult:
    stage: int
    run_dir: Path
    started: float  # wall clock, epoch seconds: this process's start-up begins
    finished: float  # the result is taken (its files are written after)
    bars: int
    domains: dict[str, DomainResult]
    trades: list[ClosedTrade] = field(default_factory=list)
    equity: dict[str, Sequence[tuple[float, float]]] = field(default_factory=dict)  # domain -> (ts, equity) points
    gate_decisions: list[dict[str, Any]] = field(default_factory=list)
    kill_events: list[dict[str, Any]] = field(default_factory=list)
    rejections: dict[str, int] = field(default_factory=dict)  # rule -> entries refused (risk chain, rollout, ...)
    venue_rejections: int = 0  # orders the venue refused after the risk chain let them through
    spec_hashes: dict[str, str] = field(default_factory=dict)  # machine -> spec hash
    final_kill_mode: str = ""
    final_stage_state: str = ""
    stage_log: list[tuple[float, int, str | None]] = field(default_factory=list)  # (from, stage, rollout state)
    resumed_at_bar: int = 0  # `bars` of the saved run when this process resumed it (0: a fresh run)
    replay_s: float | None = None  # of finished - started, the replay loop's (RunProgress); None: no replay
    model_decay: dict[str, dict] = field(default_factory=dict)  # model name -> its decay status (report.json)

    def domain_trades(self, domain: str) -> list[ClosedTrade]:
        return [t for t in self.trades if t.domain == domain]
