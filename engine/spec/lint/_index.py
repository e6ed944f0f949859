"""Per-machine facts every rule needs, computed once: the state hierarchy, which
transitions each state holds, and the configuration graph.

The graph is over states, not over (leaf x transition) pairs, so it stays linear
in the spec's size: a leaf has an edge up to its parent (a compound's transitions
apply to all its descendants) and one to the `*` pseudo-state (every non-final
state); each holder has an edge per targeted transition to the leaves entering
the target reaches (a compound is entered through its initial child, down to a
leaf). Only leaves are configurations; compounds and `*` are pass-through nodes.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable

from engine.spec.ir import Machine, Transition

STAR = "*"


@dataclass
class MachineIndex:
    m: Machine
    _enter: dict[str, frozenset[str]] = field(default_factory=dict)
    _desc: dict[str, frozenset[str]] = field(default_factory=dict)

    # --- hierarchy -------------------------------------------------------
    @cached_property
    def leaves(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.m.states.items() if not self._children(n))

    def _children(self, name: str) -> tuple[str, ...]:
        return tuple(c for c in self.m.states[name].children if c in self.m.states)

    @cached_property
    def finals(self) -> frozenset[str]:
        return frozenset(n for n, s in self.m.states.items() if s.final)

    def is_final(self, leaf: str) -> bool:
        return any(a in self.finals for a in self.ancestors(leaf))

    def ancestors(self, name: str) -> tuple[str, ...]:
        """`name` and its ancestors, innermost first; stops on a parent cycle or dangling parent."""
        out: list[str] = []
        cur: str | None = name
        while cur is not None and cur in self.m.states and cur not in out:
            out.append(cur)
            cur = self.m.states[cur].parent
        return tuple(out)

    def chain(self, leaf: str) -> tuple[str, ...]:
        """The holders whose transitions apply in `leaf`, in selection order."""
        return self.ancestors(leaf) + (() if self.is_final(leaf) else (STAR,))

    def unguarded(self, leaf: str, event: str) -> Any:
        """The first unguarded transition that takes `event` in `leaf` (it always fires, so an
        `ignores` of the event there never applies), or None."""
        return next((t for h in self.chain(leaf) for t in self.holders.get(h, ())
                     if t.event == event and t.guard is None), None)

    def enter(self, name: str) -> frozenset[str]:
        """Leaves a transition targeting `name` may end in (every child when no initial is marked)."""
        if name in self._enter:
            return self._enter[name]
        self._enter[name] = frozenset()  # guards against malformed cyclic hierarchies
        kids = self._children(name) if name in self.m.states else ()
        if name not in self.m.states:
            result: frozenset[str] = frozenset()
        elif not kids:
            result = frozenset({name})
        else:
            initial = [k for k in kids if self.m.states[k].initial]
            result = frozenset().union(*(self.enter(k) for k in (initial[:1] or kids)))
        self._enter[name] = result
        return result

    def descendant_leaves(self, name: str) -> frozenset[str]:
        if name not in self._desc:
            self._desc[name] = frozenset()  # guards against malformed cyclic hierarchies
            kids = self._children(name)
            self._desc[name] = (frozenset().union(*(self.descendant_leaves(k) for k in kids))
                                if kids else frozenset({name}))
        return self._desc[name]

    def stays_in(self, sources: tuple[str, ...]) -> frozenset[str]:
        """The leaves a targetless transition stays in: its sources' (every non-final one for `*`)."""
        if STAR in sources:
            return frozenset(leaf for leaf in self.leaves if not self.is_final(leaf))
        return frozenset().union(*(self.descendant_leaves(s) for s in sources if s in self.m.states))

    @cached_property
    def initial_leaves(self) -> frozenset[str] | None:
        """The initial configuration, or None when the top level has no initial state."""
        roots = [n for n, s in self.m.states.items() if s.parent is None]
        initial = [r for r in roots if self.m.states[r].initial]
        return self.enter(initial[0]) if initial else None

    # --- transitions -----------------------------------------------------
    @cached_property
    def holders(self) -> dict[str, tuple[Transition, ...]]:
        """State name (or `*`) -> transitions whose source names it, in document order."""
        out: dict[str, list[Transition]] = {}
        for t in self.m.transitions:
            for s in dict.fromkeys(t.sources):
                if s == STAR or s in self.m.states:
                    out.setdefault(s, []).append(t)
        return {k: tuple(v) for k, v in out.items()}

    def tags(self, leaf: str) -> frozenset[str]:
        """The tags `leaf` carries: its own and every enclosing state's."""
        return frozenset(t for a in self.ancestors(leaf) for t in self.m.states[a].tags)

    def handled(self, leaf: str) -> frozenset[str]:
        """Events some transition could take in `leaf` (own, an ancestor's, or `*`)."""
        return frozenset(t.event for h in self.chain(leaf) for t in self.holders.get(h, ()))

    # --- graph -----------------------------------------------------------
    @cached_property
    def succ(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for name, s in self.m.states.items():
            edges = out.setdefault(name, [])
            if s.parent in self.m.states:
                edges.append(s.parent)
            if not self._children(name) and not self.is_final(name):
                edges.append(STAR)
        for holder, ts in self.holders.items():
            edges = out.setdefault(holder, [])
            for t in ts:
                if t.target is not None:
                    edges.extend(sorted(self.enter(t.target)))
        return {k: tuple(dict.fromkeys(v)) for k, v in out.items()}

    @cached_property
    def pred(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for a, bs in self.succ.items():
            for b in bs:
                out.setdefault(b, []).append(a)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def reach_parent(self) -> dict[str, str | None]:
        """BFS tree from the initial configuration: node -> predecessor (empty when no initial)."""
        return bfs(self.initial_leaves or (), self.succ)

    @cached_property
    def reachable_leaves(self) -> frozenset[str]:
        return frozenset(n for n in self.reach_parent if n in self.m.states and n in self.leaves_set)

    @cached_property
    def leaves_set(self) -> frozenset[str]:
        return frozenset(self.leaves)

    def can_reach(self, targets: Iterable[str]) -> frozenset[str]:
        """Leaves from which some leaf in `targets` is reachable (including the targets)."""
        return frozenset(n for n in bfs(targets, self.pred) if n in self.leaves_set)

    def path_to(self, node: str) -> tuple[str, ...]:
        """Shortest path of configurations from the initial one to `node` (just `node` if unreachable)."""
        if node not in self.reach_parent:
            return (node,)
        out: list[str] = []
        cur: str | None = node
        while cur is not None:
            if cur in self.leaves_set:
                out.append(cur)
            cur = self.reach_parent[cur]
        return tuple(reversed(out))


def bfs(starts: Iterable[str], edges: dict[str, tuple[str, ...]]) -> dict[str, str | None]:
    parent: dict[str, str | None] = {s: None for s in sorted(starts)}
    queue = deque(parent)
    while queue:
        a = queue.popleft()
        for b in edges.get(a, ()):
            if b not in parent:
                parent[b] = a
                queue.append(b)
    return parent
