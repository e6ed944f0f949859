"""What a lint run shares across rules: the spec set, source text, and each
machine's index and analysed expressions (both computed once, on first use)."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterator

from engine.diagnostics import Pos
from engine.spec.expr import Problem, Scope, analyse, parse
from engine.spec.ir import ActionRef, Expr, Machine, SpecSet, Transition
from engine.spec.lint._base import Sources
from engine.spec.lint._index import MachineIndex

BUILTIN_ACTIONS = ("assign", "raise")


@dataclass(frozen=True)
class Site:
    """One expression in a machine, with what it may see and what analysis found."""

    expr: Expr
    where: str  # "guard of transition #3", for messages
    problems: tuple[Problem, ...]
    reads: tuple[str, ...]
    tree: ast.Expression | None


@dataclass
class Context:
    specset: SpecSet
    sources: Sources = field(default_factory=Sources)
    _index: dict[str, MachineIndex] = field(default_factory=dict)
    _sites: dict[str, tuple[Site, ...]] = field(default_factory=dict)

    @property
    def guards(self) -> frozenset[str]:
        return frozenset(self.specset.catalogue.guards)

    def index(self, m: Machine) -> MachineIndex:
        if m.name not in self._index:
            self._index[m.name] = MachineIndex(m)
        return self._index[m.name]

    def sites(self, m: Machine) -> tuple[Site, ...]:
        if m.name not in self._sites:
            self._sites[m.name] = tuple(self._analyse(m))
        return self._sites[m.name]

    def _analyse(self, m: Machine) -> Iterator[Site]:
        base = {"params": frozenset(m.params), "ctx": frozenset(m.context),
                **{i.name: frozenset(i.fields) for i in m.inputs.values()}}
        no_event = Scope({**base, "event": frozenset()}, self.guards)
        for t in m.transitions:
            ev = m.events.get(t.event)
            scope = Scope({**base, "event": frozenset(ev.payload) if ev else None}, self.guards)
            label = transition_label(t)
            if t.guard is not None:
                yield _site(t.guard, f"guard of {label}", scope)
            yield from _action_sites(t.actions, label, scope)
        for s in m.states.values():
            yield from _action_sites(s.entry + s.exit, f"state `{s.name}`", no_event)


def action_exprs(a: ActionRef) -> Iterator[tuple[str, Expr]]:
    """Argument expressions of an action (`raise` takes an event name, not an expression)."""
    if a.name == "raise":
        return
    for k, v in a.args.items():
        if isinstance(v, Expr):
            yield k, v


def raised_event(a: ActionRef) -> str | None:
    if a.name != "raise" or not a.args:
        return None
    v = a.args.get("event", next(iter(a.args.values())))
    text = v.source if isinstance(v, Expr) else str(v)
    return text.strip().strip("'\"")


def _action_sites(actions: tuple[ActionRef, ...], label: str, scope: Scope) -> Iterator[Site]:
    for a in actions:
        for key, e in action_exprs(a):
            yield _site(e, f"argument `{key}` of action `{a.name}` in {label}", scope)


def _site(e: Expr, where: str, scope: Scope) -> Site:
    problems, reads, _ = analyse(e.source, scope)
    tree, _ = parse(e.source) if not any(p.code == "EXPR_PARSE" for p in problems) else (None, None)
    return Site(e, where, tuple(problems), reads, tree)


def transition_label(t: Transition) -> str:
    return f"the `{t.event}` transition at line {t.pos.line}"


def expr_pos(sources: Sources, e: Expr, col: int) -> Pos:
    """Where 0-based column `col` of the (stripped) expression text lies in the file.

    The loader positions an Expr where its text starts (past an opening quote).
    """
    if sources.char_at(e.pos) in ("|", ">"):
        return e.pos  # block scalar: the text starts on a later line; point at the indicator
    lead = len(e.source) - len(e.source.lstrip())
    return Pos(e.pos.file, e.pos.line, e.pos.col + lead + col)
