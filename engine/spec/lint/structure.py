"""Initial and final states: exactly one initial state per level, and finals are final."""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import Machine
from engine.spec.lint._base import diag, file_start
from engine.spec.lint._context import Context
from engine.spec.lint._index import STAR


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    yield from _initials(cx, m)
    yield from _final_outgoing(cx, m)


def _initials(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    levels: list[tuple[str | None, tuple[str, ...]]] = [(None, m.roots)]
    levels += [(n, s.children) for n, s in m.states.items() if s.children]
    for parent, kids in levels:
        kids = tuple(k for k in kids if k in m.states)
        if not kids:
            continue
        where = "the top level" if parent is None else f"compound state `{parent}`"
        initial = [k for k in kids if m.states[k].initial]
        if not initial:
            pos = cx.sources.find(file_start(m.path), "states") if parent is None else m.states[parent].pos
            yield diag(pos, "INITIAL_MISSING", f"{where} has no initial state",
                       f"mark one of {', '.join(f'`{k}`' for k in kids[:5])} with `initial: true`")
        for extra in initial[1:]:
            yield diag(m.states[extra].pos, "INITIAL_MULTIPLE",
                       f"{where} has more than one initial state: `{initial[0]}` and `{extra}`",
                       "keep `initial: true` on one of them")


def _final_outgoing(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    for t in m.transitions:
        for s in t.sources:
            if s != STAR and s in m.states and m.states[s].final:
                yield diag(cx.sources.find(t.pos, "source", s), "FINAL_OUTGOING",
                           f"final state `{s}` is the source of a transition on `{t.event}`",
                           "a final state has no outgoing transitions: drop `final: true` or this transition")
