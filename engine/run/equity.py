"""Equity points as columns: a replay records one point per booked bar (a million in the
bench). A curve keeps two arrays of C doubles (8 bytes a point each, where a list of floats
holds a pointer and a float object: 32), with nothing for the cyclic collector to walk and
no tuple built per bar; they read back as the same floats.

Each point also has the exploration trades' share of its equity (Runner._explored: the pnl of
those closed and the value of those open; seed 001 measures them apart). That column stays
empty while every share is 0.0 (a run without exploration: the bench) and is filled out with
zeros once one is not, so a run without exploration keeps no third column and journals none.
"""
from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any


@dataclass(slots=True)
class EquityCurve(Sequence):
    """One domain's (ts, equity) points in time order; reads as a sequence of pairs."""

    ts: array = field(default_factory=lambda: array("d"))
    eq: array = field(default_factory=lambda: array("d"))
    explored: array = field(default_factory=lambda: array("d"))  # per point, or empty: all 0.0

    def append(self, t: float, e: float, x: float = 0.0) -> None:
        _put(self.explored, len(self.ts), x)
        self.ts.append(t)
        self.eq.append(e)

    def extend(self, ts: Sequence[float], eq: Iterable[float], explored: Sequence[float] | None = None) -> None:
        _put_all(self.explored, len(self.ts), len(ts), explored)
        self.ts.extend(ts)
        self.eq.extend(eq)

    def shares(self) -> array | None:
        """Each point's exploration share; None when every one is 0.0."""
        return self.explored if self.explored else None

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, i: int | slice) -> Any:  # type: ignore[override]
        if isinstance(i, slice):
            return list(zip(self.ts[i], self.eq[i], strict=True))
        return self.ts[i], self.eq[i]

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return zip(self.ts, self.eq, strict=True)


@dataclass(slots=True)
class PointLog:
    """Points of every domain in the order they were recorded, not yet journaled."""

    domain: list[str] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    eq: list[float] = field(default_factory=list)
    explored: list[float] = field(default_factory=list)  # per point, or empty: all 0.0

    def append(self, domain: str, t: float, e: float, x: float = 0.0) -> None:
        _put(self.explored, len(self.ts), x)
        self.domain.append(domain)
        self.ts.append(t)
        self.eq.append(e)

    def extend(self, domain: str, ts: Sequence[float], eq: Sequence[float],
               explored: Sequence[float] | None = None) -> None:
        _put_all(self.explored, len(self.ts), len(ts), explored)
        self.domain.extend(repeat(domain, len(ts)))
        self.ts.extend(ts)
        self.eq.extend(eq)

    def payload(self) -> dict[str, list]:
        """The journal's payload: `points`, (domain, ts, equity) per point, and `explored`, each
        point's exploration share, only when one is not 0.0 (a run without exploration journals
        what it did before the column existed)."""
        points = {"points": list(zip(self.domain, self.ts, self.eq, strict=True))}
        return {**points, "explored": list(self.explored)} if self.explored else points

    def clear(self) -> None:
        self.domain.clear()
        self.ts.clear()
        self.eq.clear()
        self.explored.clear()


def _put(col: MutableSequence[float], n: int, x: float) -> None:
    """Append `x` to a share column of `n` points that stays empty while every share is 0.0."""
    if col:
        col.append(x)
    elif x:
        col.extend(repeat(0.0, n))
        col.append(x)


def _put_all(col: MutableSequence[float], n: int, k: int, xs: Sequence[float] | None) -> None:
    """Append `k` shares (`xs`; None: all 0.0) to a share column of `n` points, as `_put` would."""
    if xs is None:
        if col:
            col.extend(repeat(0.0, k))
    elif col or any(xs):
        if not col:
            col.extend(repeat(0.0, n))
        col.extend(xs)
