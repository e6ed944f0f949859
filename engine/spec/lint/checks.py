"""Declared checks (`checks:` in a machine), proved on the configuration graph;
a failure carries a counterexample path from the initial state."""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import Check, Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context
from engine.spec.lint._index import MachineIndex


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    ix = cx.index(m)
    for c in m.checks:
        if c.kind == "reachable_from_all":
            yield from _reachable_from_all(cx, ix, c)
        elif c.kind == "must_handle":
            yield from _must_handle(cx, ix, c)
        elif c.kind == "unreachable" and ix.initial_leaves is not None:
            yield from _unreachable(cx, ix, c)


def _reachable_from_all(cx: Context, ix: MachineIndex, c: Check) -> Iterator[Diagnostic]:
    starts = ix.reachable_leaves if ix.initial_leaves is not None else frozenset(ix.leaves)
    for target in c.args:
        if target not in ix.m.states:
            continue  # UNRESOLVED_STATE
        ok = ix.can_reach(ix.descendant_leaves(target))
        bad = [leaf for leaf in ix.leaves if leaf in starts and not ix.is_final(leaf) and leaf not in ok]
        if bad:
            yield diag(cx.sources.find(c.pos, c.kind, target), "CHECK_REACHABLE_FROM_ALL",
                       f"`{target}` cannot be reached from `{bad[0]}`"
                       + (f" (nor from {len(bad) - 1} other state(s))" if len(bad) > 1 else ""),
                       f"add a transition from `{bad[0]}` (or an enclosing state) that leads back to `{target}`",
                       path=ix.path_to(bad[0]))


def _must_handle(cx: Context, ix: MachineIndex, c: Check) -> Iterator[Diagnostic]:
    """An `ignores` entry counts: it is the spec saying, at the state, that dropping the event is meant."""
    for event in c.args:
        if event not in ix.m.events:
            continue  # UNRESOLVED_EVENT
        bad = [leaf for leaf in ix.leaves if not ix.is_final(leaf) and event not in ix.handled(leaf)
               and not ix.m.ignores_in(leaf, event)]
        if bad:
            yield diag(cx.sources.find(c.pos, c.kind, event), "CHECK_MUST_HANDLE",
                       f"`{event}` is not handled in `{bad[0]}`"
                       + (f" (nor in {len(bad) - 1} other state(s))" if len(bad) > 1 else ""),
                       f"add a transition on `{event}` from `{bad[0]}`, an enclosing state, or \"*\"; or list "
                       f"it under `{bad[0]}`'s `ignores:` if dropping it there is meant",
                       path=ix.path_to(bad[0]))


def _unreachable(cx: Context, ix: MachineIndex, c: Check) -> Iterator[Diagnostic]:
    for target in c.args:
        if target not in ix.m.states:
            continue
        hit = sorted(ix.descendant_leaves(target) & ix.reachable_leaves, key=lambda n: len(ix.path_to(n)))
        if hit:
            yield diag(cx.sources.find(c.pos, c.kind, target), "CHECK_UNREACHABLE",
                       f"`{target}` is declared unreachable, but a path reaches it",
                       "guard or remove a transition on the path", path=ix.path_to(hit[0]))
