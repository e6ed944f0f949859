"""Declared checks (`checks:` in a machine), proved on the configuration graph;
a failure carries a counterexample path from the initial state."""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import ActionRef, Check, Machine, Transition, selection_order
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context
from engine.spec.lint._index import STAR, MachineIndex
from engine.spec.lint import widening


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    ix = cx.index(m)
    for c in m.checks:
        if c.kind == "reachable_from_all":
            yield from _reachable_from_all(cx, ix, c)
        elif c.kind == "must_handle":
            yield from _must_handle(cx, ix, c)
        elif c.kind == "unreachable" and ix.initial_leaves is not None:
            yield from _unreachable(cx, ix, c)
        elif c.kind == "must_act":
            yield from _must_act(cx, ix, c)
        elif c.kind == "never_widens":
            yield from widening.check(cx, ix, c, _can_run)


def _nor(bad: list[str], word: str) -> str:
    """How many failing states the message names besides the first: ` (nor in 2 other state(s))`."""
    return f" (nor {word} {len(bad) - 1} other state(s))" if len(bad) > 1 else ""


def _reachable_from_all(cx: Context, ix: MachineIndex, c: Check) -> Iterator[Diagnostic]:
    starts = ix.reachable_leaves if ix.initial_leaves is not None else frozenset(ix.leaves)
    for target in c.args:
        if target not in ix.m.states:
            continue  # UNRESOLVED_STATE
        ok = ix.can_reach(ix.descendant_leaves(target))
        bad = [leaf for leaf in ix.leaves if leaf in starts and not ix.is_final(leaf) and leaf not in ok]
        if bad:
            yield diag(cx.sources.find(c.pos, c.kind, target), "CHECK_REACHABLE_FROM_ALL",
                       f"`{target}` cannot be reached from `{bad[0]}`" + _nor(bad, "from"),
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
                       f"`{event}` is not handled in `{bad[0]}`" + _nor(bad, "in"),
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


def _must_act(cx: Context, ix: MachineIndex, c: Check) -> Iterator[Diagnostic]:
    """Taking the event is not enough (must_handle proves that): a `"*"` no-op takes it too.
    Some transition that can run in each state must do what the check names."""
    (event,) = c.args
    names = [s for s in c.source if s in ix.m.states]
    if event not in ix.m.events or len(names) < len(c.source) or (c.target and c.target not in ix.m.states):
        return  # UNRESOLVED_EVENT, UNRESOLVED_STATE
    leaves = sorted(frozenset().union(*(ix.descendant_leaves(s) for s in names)), key=ix.leaves.index)
    bad = [leaf for leaf in leaves if not ix.is_final(leaf)
           and not any(_does(ix, t, runs, c) for t, runs in _can_run(ix, leaf, event))]
    if bad:
        listed = next(s for s in names if bad[0] in ix.descendant_leaves(s))
        what = c.demand("`")
        yield diag(cx.sources.find(c.pos, "source", listed), "CHECK_MUST_ACT",
                   f"no transition on `{event}` that can run in `{bad[0]}` {what}" + _nor(bad, "in"),
                   f"give `{bad[0]}` (or an enclosing state) a transition on `{event}` that {what}, ahead of "
                   f"any unguarded one that takes the event first; or take it out of the check's `source`",
                   path=ix.path_to(bad[0]))


def _can_run(ix: MachineIndex, leaf: str, event: str) -> Iterator[tuple[Transition, tuple[ActionRef, ...]]]:
    """The transitions on `event` the interpreter may select in `leaf`, in its order: the
    innermost state's first, then each enclosing state's, then `"*"`'s, each by priority and
    document order, up to the first unguarded one, which always runs. Each with the actions
    it runs there, in order (_runs)."""
    for holder in ix.chain(leaf):
        for t in sorted((t for t in ix.holders.get(holder, ()) if t.event == event), key=selection_order):
            yield t, _runs(ix, leaf, leaf if holder == STAR else holder, t)
            if t.guard is None:
                return


def _does(ix: MachineIndex, t: Transition, runs: tuple[ActionRef, ...], c: Check) -> bool:
    entered = ix.enter(t.target) if t.target is not None else frozenset()
    if c.target is not None and not (entered and entered <= ix.descendant_leaves(c.target)):
        return False
    return c.action is None or any(a.name == c.action for a in runs)


def _runs(ix: MachineIndex, leaf: str, source: str, t: Transition) -> tuple[ActionRef, ...]:
    """What `t`, held by `source`, runs when it fires in `leaf`: the exit actions of the states it
    leaves (innermost first), its own, then the entry actions of the states it enters (outermost
    first, down to each leaf the target may start in), on the interpreter's path (Machine.external_path)."""
    if t.target is None or t.target not in ix.m.states:
        return t.actions
    states = ix.m.states
    left, entered = ix.m.external_path(leaf, source, t.target)
    below = [s for start in ix.enter(t.target) for s in reversed(_below(ix, start, t.target))]
    return (*(a for s in left for a in states[s].exit), *t.actions,
            *(a for s in (*entered, *below) for a in states[s].entry))


def _below(ix: MachineIndex, start: str, target: str) -> tuple[str, ...]:
    """The states under `target` down to `start`, a leaf it starts in (innermost first)."""
    chain = ix.ancestors(start)
    return chain[:chain.index(target)] if target in chain else ()
