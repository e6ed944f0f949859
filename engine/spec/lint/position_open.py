"""POSITION_UNTAGGED: a bracket state that holds a position the engine's exit can close, untagged
`position_open`.

The engine sends a bracket its max-hold exit (risk spec `limits.max_hold`) only while the bracket
is in a state so tagged (engine/run/loop.py `_engine_exits`). The contract asks only that some
state carries the tag, so dropping it from `protected` validated clean while `entry_partial`
kept it, and positions were then held for ever past max_hold: a risk rule switched off by an
edit to another spec. A state an entry fill enters, and that an engine exit moves on from, holds
a position the exit is for.
"""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic, did_you_mean
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
    filled = {leaf for t in m.transitions if t.event == ENTRY_FILL and t.target is not None
              for leaf in ix.enter(t.target)}
    for leaf in sorted(filled, key=list(m.states).index):
        if ix.is_final(leaf) or POSITION_OPEN_TAG in ix.tags(leaf) or not _exits(ix, leaf):
            continue
        state = m.states[leaf]
        near = next((tag for tag in state.tags if did_you_mean(tag, [POSITION_OPEN_TAG])), None)
        at = cx.sources.find(state.pos, "tags", near) if near else state.pos
        yield diag(at, CODE,
                   f"state `{leaf}` holds a position (an `{ENTRY_FILL}` enters it, an `{EXIT}` leaves it) but is "
                   f"not tagged `{POSITION_OPEN_TAG}`: max-hold exits (the risk spec's `limits.max_hold`) reach "
                   f"only brackets in a state so tagged, so a position held here is never closed for its age",
                   f"did you mean `{POSITION_OPEN_TAG}`?" if near else f"add `{POSITION_OPEN_TAG}` to its `tags:`")


def _exits(ix: MachineIndex, leaf: str) -> bool:
    """An engine exit moves the bracket on from `leaf` (not one it ignores there: already leaving)."""
    return any(t.event == EXIT and t.target is not None for h in ix.chain(leaf) for t in ix.holders.get(h, ()))
