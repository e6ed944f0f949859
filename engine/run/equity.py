"""Equity points as columns: a replay records one point per booked bar (a million in the
bench). A curve keeps two arrays of C doubles (8 bytes a point each, where a list of floats
holds a pointer and a float object: 32), with nothing for the cyclic collector to walk and
no tuple built per bar; they read back as the same floats.
"""
from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat


@dataclass(slots=True)
class EquityCurve(Sequence):
    """One domain's (ts, equity) points in time order; reads as a sequence of pairs."""

    ts: array = field(default_factory=lambda: array("d"))
    eq: array = field(default_factory=lambda: array("d"))

    def append(self, t: float, e: float) -> None:
        self.ts.append(t)
        self.eq.append(e)

    def extend(self, ts: Iterable[float], eq: Iterable[float]) -> None:
        self.ts.extend(ts)
        self.eq.extend(eq)

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return list(zip(self.ts[i], self.eq[i]))
        return self.ts[i], self.eq[i]

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return zip(self.ts, self.eq)


@dataclass(slots=True)
class PointLog:
    """Points of every domain in the order they were recorded, not yet journaled."""

    domain: list[str] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    eq: list[float] = field(default_factory=list)

    def append(self, domain: str, t: float, e: float) -> None:
        self.domain.append(domain)
        self.ts.append(t)
        self.eq.append(e)

    def extend(self, domain: str, ts: Sequence[float], eq: Sequence[float]) -> None:
        self.domain.extend(repeat(domain, len(ts)))
        self.ts.extend(ts)
        self.eq.extend(eq)

    def triples(self) -> list[tuple[str, float, float]]:
        """(domain, ts, equity) per point: the journal's payload form."""
        return list(zip(self.domain, self.ts, self.eq))

    def clear(self) -> None:
        self.domain.clear()
        self.ts.clear()
        self.eq.clear()
