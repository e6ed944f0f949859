"""DEAD_IGNORE: an `ignores` entry that never applies, so it only misleads the reader.

An entry listed twice; one on a final state (an instance there is done and takes nothing);
one where an unguarded transition takes the event in every state it covers (the transition
always wins). An entry a guarded transition shares is live: it drops the event when every
guard is false. Whether an entry is safe is IGNORED_ANSWER's (engine/spec/lint/answers.py);
whether it names an event, UNRESOLVED_EVENT's (engine/spec/lint/names.py).
"""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context
from engine.spec.lint._index import MachineIndex

CODE = "DEAD_IGNORE"


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    ix = cx.index(m)
    yield from _entries(cx, ix, None, m.ignores)
    for s in m.states.values():
        yield from _entries(cx, ix, s.name, s.ignores)


def _entries(cx: Context, ix: MachineIndex, holder: str | None,
             ignores: tuple[str, ...]) -> Iterator[Diagnostic]:
    m = ix.m
    owner = f"`{holder}`" if holder else f"`{m.name}`"
    for n, event in enumerate(ignores):
        if event in ignores[:n]:
            yield diag(cx.ignore_pos(m, holder, event, skip=ignores[:n].count(event)), CODE,
                       f"`ignores` of {owner} lists `{event}` twice", "delete the repeated entry")
            continue
        why = _dead(ix, holder, event)
        if why:
            yield diag(cx.ignore_pos(m, holder, event), CODE,
                       f"`ignores` of {owner} names `{event}`, but {why}: the entry never applies",
                       f"delete `{event}` from `ignores`")


def _dead(ix: MachineIndex, holder: str | None, event: str) -> str | None:
    """Why an entry never applies, or None when some state it covers may drop `event` by it."""
    if holder is not None and ix.is_final(holder):
        return f"`{holder}` is final (an instance there is done and takes no event)"
    under = ix.leaves_set if holder is None else ix.descendant_leaves(holder)
    live = [leaf for leaf in ix.leaves if leaf in under and not ix.is_final(leaf)]
    takers = [ix.unguarded(leaf, event) for leaf in live]
    if live and all(takers):
        line = min(t.pos.line for t in takers if t is not None)
        return f"the unguarded transition at line {line} takes it there whatever happens"
    return None
