"""Injected clocks: the interpreter never reads the system time itself, so a
replay with a `ReplayClock` fires the same timers at the same instants."""
from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Current time in epoch seconds."""
        ...


class WallClock:
    """The system clock, for live and paper trading."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()


class ReplayClock:
    """A clock the host moves by hand (backtests, replays, tests); it never goes backwards."""

    __slots__ = ("_t",)

    def __init__(self, start: float = 0.0):
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def set(self, t: float) -> None:
        if t < self._t:
            raise ValueError(f"ReplayClock cannot go backwards: {t} < {self._t}")
        self._t = float(t)

    def advance(self, dt: float) -> None:
        if dt < 0:
            raise ValueError(f"ReplayClock cannot go backwards: advance({dt})")
        self._t += dt
