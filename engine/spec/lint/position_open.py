"""POSITION_UNTAGGED: a bracket state that holds a position the engine's exit can close, untagged
`position_open`.

The engine sends a bracket its max-hold exit (risk spec `limits.max_hold`) only while the bracket
is in a state so tagged (engine/run/loop.py `_engine_exits`). The contract asks only that some
state carries the tag, so dropping it from `protected` validated clean while `entry_partial`
kept it, and positions were then held for ever past max_hold: a risk rule switched off by an
edit to another spec. A position is held from the state an entry fill enters on, through every
state an engine exit would move out of (to close it); a state where `exit` stays put (ignored,
or a transition back into itself) is already leaving, and what follows it is not asked.
"""
from __future__ import annotations

from collections import deque
from typing import Iterator

from engine.diagnostics import Diagnostic, Pos, did_you_mean
from engine.spec.contract import ENGINE_CONTRACT, ENTRY_FILL, EXIT, POSITION_OPEN_TAG
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context
from engine.spec.lint._index import MachineIndex

CODE = "POSITION_UNTAGGED"


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    needs = ENGINE_CONTRACT.get(m.name)
    if needs is None or needs.kind != m.kind or POSITION_OPEN_TAG not in needs.tags:
        return
    ix = cx.index(m)
    seen: set[Pos] = set()
    for leaf in sorted(_holding(ix), key=list(m.states).index):
        if POSITION_OPEN_TAG in ix.tags(leaf):
            continue
        # A misspelt tag is reported where it is written, on the leaf or a state enclosing it.
        near = next(((a, t) for a in ix.ancestors(leaf) for t in m.states[a].tags
                     if did_you_mean(t, [POSITION_OPEN_TAG])), None)
        at = cx.sources.find(m.states[near[0]].pos, "tags", near[1]) if near else m.states[leaf].pos
        if at in seen:  # one misspelt parent tag: one diagnostic, not one per child
            continue
        seen.add(at)
        yield diag(at, CODE,
                   f"state `{leaf}` holds a position (an `{ENTRY_FILL}` leads to it, an `{EXIT}` leaves it) but "
                   f"is not tagged `{POSITION_OPEN_TAG}`: max-hold exits (the risk spec's `limits.max_hold`) "
                   f"reach only brackets in a state so tagged, so a position held here is never closed for its age",
                   f"did you mean `{POSITION_OPEN_TAG}`?" if near else f"add `{POSITION_OPEN_TAG}` to its `tags:`")


def _holding(ix: MachineIndex) -> set[str]:
    """Leaves a position is held in: entered on an entry fill, or reached from such a leaf
    through leaves an exit moves out of. The walk stops at a leaf the exit does not move."""
    starts = {leaf for t in ix.m.transitions if t.event == ENTRY_FILL and t.target is not None
              for leaf in ix.enter(t.target)}
    out: set[str] = set()
    queue, seen = deque(sorted(starts)), set(starts)
    while queue:
        node = queue.popleft()
        if node in ix.leaves_set:
            if ix.is_final(node) or not _exits(ix, node):
                continue
            out.add(node)
        for nxt in ix.succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return out


def _exits(ix: MachineIndex, leaf: str) -> bool:
    """An engine exit moves the bracket out of `leaf`: the exit transitions that may fire there
    (the leaf's own first, then its parents' and `*`, up to the first unguarded one) include one
    to another state."""
    for holder in ix.chain(leaf):
        ts = [t for t in ix.holders.get(holder, ()) if t.event == EXIT]
        if any(t.target is not None and leaf not in ix.enter(t.target) for t in ts):
            return True
        if any(t.guard is None for t in ts):
            return False  # always fires here: the transitions further out never see the exit
    return False
