"""Graph rules over the configuration graph: unreachable states, traps, and
states from which no final state can be reached."""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context
from engine.spec.lint._index import MachineIndex


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    ix = cx.index(m)
    traps = list(_traps(ix))
    for leaf in traps:
        yield diag(m.states[leaf].pos, "TRAP_STATE",
                   f"state `{leaf}` is not final and no transition leaves it",
                   "add a transition out of it (or out of an enclosing state), or mark it `final: true`")
    if ix.initial_leaves is None:
        return  # INITIAL_MISSING says why; reachability has no starting point
    yield from _unreachable(ix)
    yield from _no_path_to_final(ix, traps)


def _traps(ix: MachineIndex) -> Iterator[str]:
    for leaf in ix.leaves:
        if ix.is_final(leaf):
            continue
        targets = [t.target for h in ix.chain(leaf) for t in ix.holders.get(h, ()) if t.target is not None]
        if any(t not in ix.m.states for t in targets):
            continue  # it tries to leave; UNRESOLVED_STATE says where to
        if not any(b != leaf for t in targets for b in ix.enter(t)):
            yield leaf


def _unreachable(ix: MachineIndex) -> Iterator[Diagnostic]:
    reached = ix.reachable_leaves
    for name, s in ix.m.states.items():
        if s.parent in ix.m.states and not ix.descendant_leaves(s.parent) & reached:
            continue  # its enclosing state is reported instead
        if not ix.descendant_leaves(name) & reached:
            yield diag(s.pos, "UNREACHABLE_STATE",
                       f"state `{name}` cannot be reached from the initial state",
                       "add a transition that targets it, or delete it")


def _no_path_to_final(ix: MachineIndex, traps: list[str]) -> Iterator[Diagnostic]:
    finals = frozenset(x for f in ix.finals for x in ix.descendant_leaves(f))
    if not finals:
        return
    ok = ix.can_reach(finals)
    for leaf in sorted(ix.reachable_leaves - ok - set(traps), key=ix.leaves.index):
        yield diag(ix.m.states[leaf].pos, "NO_PATH_TO_FINAL",
                   f"no final state can be reached from `{leaf}`", path=ix.path_to(leaf),
                   hint="a run that gets here never finishes; add a transition towards a final state")
