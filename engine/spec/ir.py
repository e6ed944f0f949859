"""The immutable intermediate model (IR) of a spec.

The loader builds it from YAML (via pydantic), and everything downstream
consumes only this: the linter, the interpreter, the docs renderer and
`engine diff`. It is inert data (Sismic's "model" layer): no callables, no I/O.
Every node keeps the source position of the YAML it came from so that any
later stage can report `file:line:col`.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Literal, Mapping

from engine.diagnostics import Pos
from engine.spec.bounds import Bounds

Kind = Literal["rollout", "orders", "gates", "kill"]
KINDS: tuple[str, ...] = ("rollout", "orders", "gates", "kill")
ParamType = Literal["float", "int", "bool", "str", "duration", "money", "fraction"]
# Field types whose values are numbers: the interpreter refuses an event whose payload has one NaN or infinite.
NUMBER_TYPES = frozenset({"float", "int", "duration", "money", "fraction", "timestamp"})
CheckKind = Literal["reachable_from_all", "must_handle", "unreachable", "must_act", "never_widens"]



class _Empty(Mapping[str, Any]):
    """The immutable empty mapping used as a field default. Not a mappingproxy: before
    Python 3.12 that is unhashable, and dataclasses reject unhashable defaults as mutable."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def get(self, key: str, default: Any = None) -> Any:
        # Mapping.get raises and catches a KeyError: ~2 us on every lookup of a hot path's default.
        return default

    def __contains__(self, key: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


EMPTY: Mapping[str, Any] = _Empty()


def frozen_map(d: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True, slots=True)
class Expr:
    """A guard or argument expression, kept as source text; compiled by engine.spec.expr."""

    source: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: ParamType
    default: Any
    pos: Pos
    unit: str | None = None
    description: str = ""
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class ContextVar:
    """A per-instance variable (XState's context); actions `assign` it, guards read `ctx.NAME`."""

    name: str
    type: str
    default: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class Input:
    """A host-supplied read-only value tree visible to guards as a root name, e.g. `kpi.sharpe`."""

    name: str
    fields: Mapping[str, str]  # field -> type name
    pos: Pos
    description: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    pos: Pos
    description: str = ""
    payload: Mapping[str, str] = EMPTY  # field -> type name, visible to guards as `event.FIELD`
    sampled: bool = False  # a measurement re-sent every bar: a sample that fires nothing is not recorded


@dataclass(frozen=True, slots=True)
class ActionRef:
    """A named action, or the built-ins `assign` and `raise`; args are expressions."""

    name: str
    pos: Pos
    args: Mapping[str, Expr] = EMPTY

    def raised(self) -> str | None:
        """The event a `raise` names, read one way for the lint and the binding: `{event: NAME}`
        or `{name: NAME}` (bare, or quoted as a Python string literal), or `{NAME: ...}`."""
        if self.name != "raise":
            return None
        expr = self.args.get("event") or self.args.get("name")
        if expr is not None:
            text = expr.source.strip()
            try:
                text = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                pass
            return text if isinstance(text, str) else None
        return next(iter(self.args)) if len(self.args) == 1 else None


@dataclass(frozen=True, slots=True)
class Timer:
    """`after: 15m` on a state: raise `event` once the state has been active for `delay`."""

    event: str
    delay: str  # literal duration ("15m") or an expression naming a duration parameter
    pos: Pos
    delay_s: float | None = None  # resolved seconds when known at load time


@dataclass(frozen=True, slots=True)
class State:
    name: str
    pos: Pos
    description: str = ""
    parent: str | None = None
    children: tuple[str, ...] = ()
    initial: bool = False
    final: bool = False
    entry: tuple[ActionRef, ...] = ()
    exit: tuple[ActionRef, ...] = ()
    timers: tuple[Timer, ...] = ()
    tags: frozenset[str] = frozenset()
    ignores: tuple[str, ...] = ()  # events it (and every state inside it) deliberately drops unhandled
    gate: str | None = None  # rollout: the gates/ machine that governs promotion out of here
    attrs: Mapping[str, Any] = EMPTY  # kind-specific data, e.g. rollout `domains`

    @property
    def compound(self) -> bool:
        return bool(self.children)


@dataclass(frozen=True, slots=True)
class Transition:
    index: int  # document order: SCXML priority among siblings
    event: str
    sources: tuple[str, ...]  # as written; ("*",) means every non-final state
    target: str | None  # None: targetless (actions only, no exit/entry)
    pos: Pos
    guard: Expr | None = None
    actions: tuple[ActionRef, ...] = ()
    priority: int | None = None  # explicit tie-break; lower runs first
    description: str = ""


def selection_order(t: Transition) -> tuple[bool, int, int]:
    """Among one state's transitions on one event: explicit priority first (lower first), unset
    after any set one, then document order (SCXML's)."""
    return (t.priority is None, t.priority or 0, t.index)


@dataclass(frozen=True, slots=True)
class Check:
    kind: CheckKind
    args: tuple[str, ...]  # the states or events it names (must_act: its one event; never_widens: its field)
    pos: Pos
    # must_act: the states it holds in, and what a transition on the event must do there
    source: tuple[str, ...] = ()
    action: str | None = None
    target: str | None = None
    # never_widens: what a new value must satisfy against the old one, and the events exempt
    tighter: Expr | None = None
    exempt: tuple[str, ...] = ()

    def describe(self) -> str:
        """What it names, as `engine diff` and the docs print it."""
        if self.kind == "never_widens" and self.tighter is not None:
            return (f"{self.args[0]} in {', '.join(self.source)}: {self.tighter.source}"
                    + (f" (except on {', '.join(self.exempt)})" if self.exempt else ""))
        if self.kind != "must_act":
            return ", ".join(self.args)
        return f"{self.args[0]} in {', '.join(self.source)} {self.demand()}"

    def demand(self, quote: str = "") -> str:
        """must_act: what a transition must do, `runs close_position and goes to closing`."""
        q = quote
        return " and ".join(([f"runs {q}{self.action}{q}"] if self.action else [])
                            + ([f"goes to {q}{self.target}{q}"] if self.target else []))


@dataclass(frozen=True, slots=True)
class Command:
    """An operator command (`engine kill --mode flatten`) mapped to the event it raises."""

    name: str
    event: str
    pos: Pos
    description: str = ""


@dataclass(frozen=True, slots=True)
class Machine:
    kind: str
    name: str
    version: int
    description: str
    path: str
    spec_hash: str  # sha256 of the file bytes, first 16 hex digits
    pos: Pos
    params: Mapping[str, Param] = EMPTY
    context: Mapping[str, ContextVar] = EMPTY
    inputs: Mapping[str, Input] = EMPTY
    events: Mapping[str, Event] = EMPTY
    states: Mapping[str, State] = EMPTY  # every state, flat, in document order
    transitions: tuple[Transition, ...] = ()
    checks: tuple[Check, ...] = ()
    commands: Mapping[str, Command] = EMPTY
    broadcasts: tuple[str, ...] = ()  # events every other machine must handle (kill spec)
    ignores: tuple[str, ...] = ()  # events this machine deliberately drops in every state (kill broadcasts)

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.states.items() if s.parent is None)

    @property
    def action_refs(self) -> tuple[ActionRef, ...]:
        """Every action the machine names: on its transitions, then in its states' entries and exits."""
        return (*(a for t in self.transitions for a in t.actions),
                *(a for s in self.states.values() for a in s.entry + s.exit))

    def expr_roots(self, event: str | None) -> dict[str, Mapping[str, str] | None]:
        """The names an expression read on `event` may use, each with its declared fields and their
        types (None: an event the machine does not declare, reported elsewhere)."""
        roots: dict[str, Mapping[str, str] | None] = {name: i.fields for name, i in self.inputs.items()}
        roots["params"] = {n: p.type for n, p in self.params.items()}
        roots["ctx"] = {n: v.type for n, v in self.context.items()}
        ev = self.events.get(event) if event else None
        roots["event"] = ev.payload if ev is not None else (None if event else EMPTY)
        return roots

    def initial_child(self, parent: str | None) -> str | None:
        kids = self.roots if parent is None else self.states[parent].children
        return next((k for k in kids if self.states[k].initial), None)

    def ancestors(self, name: str) -> tuple[str, ...]:
        """`name` and its ancestors, innermost first."""
        out = []
        cur: str | None = name
        while cur is not None:
            out.append(cur)
            cur = self.states[cur].parent
        return tuple(out)

    def external_path(self, leaf: str, source: str, target: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The states a transition held by `source` leaves when it fires in `leaf` (innermost
        first) and those it enters down to `target` (outermost first). SCXML's external
        transition: everything below the innermost proper ancestor of both source and target is
        left, and entered again down to the target. The interpreter (engine/runtime/compiled.py)
        and the linter's declared checks read it here."""
        target_up = self.ancestors(target)
        domain = next((a for a in self.ancestors(source)[1:] if a in target_up[1:]), None)
        exits = []
        for s in self.ancestors(leaf):
            if s == domain:
                break
            exits.append(s)
        return tuple(exits), tuple(reversed(target_up[:target_up.index(domain)] if domain else target_up))

    def has_tag(self, state: str, tag: str) -> bool:
        """An instance entering `state` would carry `tag` (Instance.has_tag): the leaf it enters
        (down its initial children) or a state enclosing that leaf carries it."""
        while self.states[state].children and self.initial_child(state) is not None:
            state = self.initial_child(state)
        return any(tag in self.states[a].tags for a in self.ancestors(state))

    def ignores_in(self, state: str, event: str) -> bool:
        """The spec drops `event` in `state` on purpose: the machine's `ignores` lists it, or the
        `ignores` of the state or of a state enclosing it does."""
        return event in self.ignores or any(event in self.states[a].ignores for a in self.ancestors(state))


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """A guard function, action or command that code must provide under this name."""

    name: str
    role: Literal["guard", "action"]
    provider: str  # engine | strategies | risk | adapters | rl | state
    pos: Pos
    description: str = ""
    args: Mapping[str, str] = EMPTY  # arg -> type name
    # arg -> the range its values must lie in (a declared `min`/`max`, a fraction's 0..1)
    bounds: Mapping[str, Bounds] = EMPTY
    arg_pos: Mapping[str, Pos] = EMPTY  # arg -> where the catalogue declares it
    kinds: tuple[Kind, ...] = ()  # the kinds of machine that may name it; empty: any


@dataclass(frozen=True, slots=True)
class Catalogue:
    guards: Mapping[str, CatalogueEntry] = EMPTY
    actions: Mapping[str, CatalogueEntry] = EMPTY
    path: str = ""


@dataclass(frozen=True, slots=True)
class Overrides:
    """Parameter overrides per stage or environment, applied without editing the machine."""

    scope: Literal["stage", "env"]
    key: str  # "2" for stage 2, "prod" for an environment
    values: Mapping[str, Mapping[str, Any]]  # machine name -> param -> value
    pos: Pos
    path: str = ""
    # Where each name under `values` is written: "machine" and "machine.param" -> Pos.
    positions: Mapping[str, Pos] = EMPTY
    key_pos: Pos | None = None  # where `key:` is written


@dataclass(frozen=True, slots=True)
class Unloaded:
    """A spec file that failed to load, and what it would have defined as far as its text
    tells: other files' references to it are unknown, not wrong, until it loads."""

    path: str
    kind: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class SpecSet:
    """Everything under specs/: the unit that cross-spec references resolve within."""

    machines: Mapping[str, Machine] = EMPTY
    catalogue: Catalogue = field(default_factory=Catalogue)
    overrides: tuple[Overrides, ...] = ()
    extra: Mapping[str, Any] = EMPTY  # other validated documents (risk, strategies), by name
    extra_kinds: Mapping[str, str] = EMPTY  # name -> kind of each document in `extra`
    extra_pos: Mapping[str, Pos] = EMPTY  # name -> where each document in `extra` is (its file, for hints)
    unloaded: tuple[Unloaded, ...] = ()

    def may_define(self, kinds: tuple[str, ...], name: str | None = None) -> bool:
        """Whether a file that failed to load may define a document of one of `kinds` (named
        `name`, when given); a file whose kind or name cannot be read may be of any kind or name."""
        return any((u.kind is None or u.kind in kinds) and (name is None or u.name in (None, name))
                   for u in self.unloaded)
