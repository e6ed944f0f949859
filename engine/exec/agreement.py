"""Whether the engine's positions are the venue's: its books against venue truth.

Every fill reaches the books through a venue report. One the engine never booked (a report
lost, or one for an order it had already forgotten) leaves the venue holding units the engine
does not know of, which no stop protects and no flatten closes; one booked twice, the reverse.
Neither shows anywhere else, so the run compares the two at each checkpoint, a point where
the venue has answered everything the engine asked (the paper venue answers at once; an
adapter whose reports arrive on their own must hand over those it holds first).
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

from engine.domain import Domain, Position

Key = tuple[str, str]  # (domain, symbol)


def disagreements(books: Mapping[Domain, Mapping[str, float]], venue: Iterable[Position],
                  on_step: Callable[[str, float], float]) -> dict[Key, str]:
    """Each (domain, symbol) whose signed qty the engine and the venue hold differently, on the
    instrument's lot grid (`on_step`: a real difference is a lot or more; float dust of
    lot-sized fills is none), with what to tell the operator."""
    held: dict[Key, float] = {}
    for p in venue:
        held[(p.domain.value, p.symbol)] = held.get((p.domain.value, p.symbol), 0.0) + p.qty
    ours = {(d.value, s): q for d, positions in books.items() for s, q in positions.items()}
    out: dict[Key, str] = {}
    for key in sorted(held.keys() | ours.keys()):
        engine, at_venue = on_step(key[1], ours.get(key, 0.0)), on_step(key[1], held.get(key, 0.0))
        if engine != at_venue:
            out[key] = (f"the venue holds {at_venue:g} {key[1]} in {key[0]} where the engine's book holds "
                        f"{engine:g}: a fill one side has and the other has not; no order of the engine "
                        f"protects or closes the difference until an operator reconciles them")
    return out
