"""What the strategy side wants at a bar's close, before risk sees it.

The Decider turns a series' precomputed target position into a wanted
direction, and may refuse an entry (with the rule that refused it, for the
audit trail). Refusals here are the strategy's own filters (confirmation
timeframe, no shorting spot); the engine's rules live in the risk chain and
the specs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from engine.domain import Domain
from engine.run.config import StrategyUse
from engine.run.market import Series

NO_SHORT = frozenset({Domain.CRYPTO_SPOT})  # spot cannot go short (seed 004)


@dataclass(frozen=True, slots=True)
class Want:
    direction: int  # +1 long, -1 short, 0 flat; existing positions against it are exited
    enter: bool  # open a new position in `direction` if none is open
    tags: tuple[str, ...] = ()  # carried by the bracket's orders (e.g. "exploration")
    model_version: str | None = None
    refusal: tuple[str, str] | None = None  # (rule, reason) when an entry was refused here


class Decider:
    """Edge-triggered: a new direction arms one entry; it is spent once risk has seen it.

    Holding the same direction after a stop-out does not re-enter on every bar, and a
    refusal is recorded once per signal, not once per bar.
    """

    def __init__(self, use: StrategyUse) -> None:
        self.use = use
        self.last: dict[str, int] = {}
        self.armed: dict[str, int] = {}
        self.reported: set[str] = set()

    def decide(self, s: Series, i: int, t: float) -> Want | None:
        target = s.signal[i]
        if not math.isfinite(target):
            return None
        d = 1 if target > self.use.deadband else -1 if target < -self.use.deadband else 0
        sym = s.symbol
        if d != self.last.get(sym):
            self.last[sym] = d
            self.armed[sym] = d
            self.reported.discard(sym)
        if d == 0 or self.armed.get(sym) != d:
            return Want(d, False)
        if d < 0 and s.domain in NO_SHORT:
            self.armed.pop(sym, None)
            return Want(d, False, refusal=("no_short", f"{s.domain.value} cannot go short"))
        if s.confirm[i] == -d:
            return Want(d, False, refusal=self._once(sym, ("confirmation",
                                                           "the confirmation timeframe points the other way")))
        return Want(d, True)

    def spent(self, symbol: str) -> None:
        """Risk has judged the armed entry (approved or not)."""
        self.armed.pop(symbol, None)

    def _once(self, sym: str, refusal: tuple[str, str]) -> tuple[str, str] | None:
        if sym in self.reported:
            return None
        self.reported.add(sym)
        return refusal

    def state(self) -> dict:
        return {"last": self.last, "armed": self.armed, "reported": sorted(self.reported)}

    def load(self, data: dict) -> None:
        self.last, self.armed = dict(data["last"]), dict(data["armed"])
        self.reported = set(data["reported"])
