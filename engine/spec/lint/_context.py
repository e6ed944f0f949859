"""What a lint run shares across rules: the spec set, source text, and each
machine's index and analysed expressions (both computed once, on first use)."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Iterator

from engine.diagnostics import Pos
from engine.spec.expr import Problem, Scope, analyse, parse
from engine.spec.ir import ActionRef, Expr, Machine, SpecSet, Transition
from engine.spec.lint._base import Sources
from engine.spec.lint._index import MachineIndex
from engine.spec.lint.inference import Inferred, declared_types, infer

if TYPE_CHECKING:
    from engine.contracts import Checked

BUILTIN_ACTIONS = ("assign", "raise")


@dataclass(frozen=True)
class Site:
    """One expression in a machine, with what it may see and what analysis found."""

    expr: Expr
    where: str  # "guard of transition #3", for messages
    problems: tuple[Problem, ...]
    reads: tuple[str, ...]
    event: str | None = None  # the transition's event (whose payload `event.X` reads)
    guard: bool = False

    @property
    def tree(self) -> ast.Expression | None:
        """The parsed expression (parsed on demand: only conflict analysis needs it)."""
        if any(p.code == "EXPR_PARSE" for p in self.problems):
            return None
        return parsed(self.expr.source)


@dataclass
class Context:
    specset: SpecSet
    sources: Sources = field(default_factory=Sources)
    _index: dict[str, MachineIndex] = field(default_factory=dict)
    _sites: dict[str, tuple[Site, ...]] = field(default_factory=dict)
    _types: dict[tuple[str, str | None], dict[str, str]] = field(default_factory=dict)
    _inferred: dict[tuple[str, str, str | None], Inferred | None] = field(default_factory=dict)

    @property
    def guards(self) -> frozenset[str]:
        return frozenset(self.specset.catalogue.guards)

    @cached_property
    def contracts(self) -> Checked:
        """The paper venue's contract catalogue through its schema, read once for the rules that
        check it (contracts), compare it with the risk spec (rates, sectors)."""
        from engine.contracts import read
        from engine.spec import files  # its contracts_path, looked up now: tests point it elsewhere

        return read(files.contracts_path())

    @property
    def catalogue_unloaded(self) -> bool:
        """A catalogue file failed to load: any action or guard may be declared there."""
        return self.specset.may_define(("catalogue",))

    def index(self, m: Machine) -> MachineIndex:
        if m.name not in self._index:
            self._index[m.name] = MachineIndex(m)
        return self._index[m.name]

    def ignore_pos(self, m: Machine, holder: str | None, event: str, skip: int = 0) -> Pos:
        """Where `event` is written in the `ignores` of state `holder` (None: of the machine);
        `skip`: its occurrence after the first `skip`."""
        if holder is None:
            return self.sources.top(m.path, "ignores", event, skip)
        return self.sources.find(m.states[holder].pos, "ignores", event, skip)

    def inferred(self, m: Machine, e: Expr, event: str | None) -> Inferred | None:
        """What declarations tell about the value of `e`, read on `event` (None: in an entry or
        exit); None when it does not parse (reported already)."""
        key = (m.name, e.source, event)
        if key not in self._inferred:
            tree = parsed(e.source)
            if (m.name, event) not in self._types:
                self._types[(m.name, event)] = declared_types(m, event)
            self._inferred[key] = None if tree is None else infer(
                e.source, tree, self._types[(m.name, event)], self.guards)
        return self._inferred[key]

    def sites(self, m: Machine) -> tuple[Site, ...]:
        if m.name not in self._sites:
            self._sites[m.name] = tuple(self._analyse(m))
        return self._sites[m.name]

    def _analyse(self, m: Machine) -> Iterator[Site]:
        scopes: dict[str | None, Scope] = {}
        memo: dict[tuple[str, str | None], tuple] = {}  # specs repeat argument texts a lot

        def site(e: Expr, where: str, event: str | None, guard: bool = False) -> Site:
            if event not in scopes:
                scopes[event] = Scope(m.expr_roots(event), self.guards)
            key = (e.source, event)
            if key not in memo:
                memo[key] = _analysed(e.source, scopes[event])
            return Site(e, where, *memo[key], event=event, guard=guard)

        for t in m.transitions:
            label = transition_label(t)
            if t.guard is not None:
                yield site(t.guard, f"guard of {label}", t.event, guard=True)
            for a in t.actions:
                for k, e in action_exprs(a):
                    yield site(e, f"argument `{k}` of action `{a.name}` in {label}", t.event)
        for s in m.states.values():
            for a in s.entry + s.exit:
                for k, e in action_exprs(a):
                    yield site(e, f"argument `{k}` of action `{a.name}` in state `{s.name}`", None)


def action_exprs(a: ActionRef) -> Iterator[tuple[str, Expr]]:
    """Argument expressions of an action (`raise` takes an event name, not an expression)."""
    if a.name == "raise":
        return
    for k, v in a.args.items():
        if isinstance(v, Expr):
            yield k, v


def raised_event(a: ActionRef) -> str | None:
    return a.raised()  # as the binding reads it (engine/runtime/compiled.py): validate passes what binds


def _analysed(source: str, scope: Scope) -> tuple:
    problems, reads, _ = analyse(source, scope)
    return tuple(problems), reads


@lru_cache(maxsize=1024)
def parsed(source: str) -> ast.Expression | None:
    return parse(source)[0]


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
