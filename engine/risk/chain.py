"""The guard chain, bound once from the risk spec: size, then every guard in spec order."""
from __future__ import annotations

from dataclasses import dataclass

from engine.domain import Instrument
from engine.risk.config import RiskConfig
from engine.risk.guards import GUARDS, Guard
from engine.risk.sizing import size
from engine.risk.types import Book, Context, Intent, Rejection, Sized


@dataclass(frozen=True, slots=True)
class Decision:
    sized: Sized
    rejection: Rejection | None

    @property
    def approved(self) -> bool:
        return self.rejection is None


class RiskChain:
    def __init__(self, config: RiskConfig):
        missing = [g for g in config.guards if g not in GUARDS]
        if missing:  # unreachable while config.GuardName and GUARDS agree; guards the guard
            raise ValueError(f"risk guards without implementation: {', '.join(missing)}")
        self.config = config
        self._chain: tuple[tuple[str, Guard], ...] = tuple((g, GUARDS[g]) for g in config.guards)

    def evaluate(self, intent: Intent, book: Book, instrument: Instrument, *, kill_mode: str,
                 entries_allowed: bool, active_symbols: frozenset[str] | None) -> Decision:
        sized = size(intent, book, self.config.sizing)
        ctx = Context(intent, sized, book, instrument, kill_mode, entries_allowed, active_symbols,
                      intent.domain.value)
        limits = self.config.limits
        for _, fn in self._chain:
            rejection = fn(ctx, limits)
            if rejection is not None:
                return Decision(sized, rejection)
        return Decision(sized, None)
