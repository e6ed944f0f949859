"""Build IR machines from compact Python dicts, for linter unit tests that must not
depend on the YAML loader. Each node gets a distinct synthetic line number."""
from __future__ import annotations

import itertools
from typing import Any

from engine.diagnostics import Pos
from engine.spec.ir import (ActionRef, Catalogue, CatalogueEntry, Check, Command, ContextVar, Event, Expr,
                            Input, Machine, Param, SpecSet, State, Timer, Transition, frozen_map)

FILE = "m.yaml"


class _Lines:
    def __init__(self) -> None:
        self._n = itertools.count(1)

    def pos(self) -> Pos:
        return Pos(FILE, next(self._n), 3)


def _action(spec: Any, lines: _Lines) -> ActionRef:
    if isinstance(spec, str):
        return ActionRef(spec, lines.pos())
    (name, args), = spec.items()
    if name == "raise":
        return ActionRef("raise", lines.pos(), frozen_map({"event": Expr(args, lines.pos())}))
    return ActionRef(name, lines.pos(), frozen_map({k: Expr(v, lines.pos()) for k, v in args.items()}))


def _states(tree: dict, parent: str | None, lines: _Lines, out: dict[str, State]) -> None:
    for name, spec in tree.items():
        spec = spec or {}
        pos = lines.pos()
        kids = spec.get("states", {})
        timers = spec.get("after", [])
        timers = [timers] if isinstance(timers, dict) else timers
        out[name] = State(
            name, pos, parent=parent, children=tuple(kids), initial=spec.get("initial", False),
            final=spec.get("final", False),
            entry=tuple(_action(a, lines) for a in spec.get("entry", ())),
            exit=tuple(_action(a, lines) for a in spec.get("exit", ())),
            timers=tuple(Timer(t["event"], str(t["delay"]), lines.pos()) for t in timers),
            gate=spec.get("gate"), ignores=tuple(spec.get("ignores", ())),
        )
        _states(kids, name, lines, out)


def machine(states: dict, transitions: list[dict] = (), *, name: str = "m", kind: str = "orders",
            events: Any = None, params: dict | None = None, context: dict | None = None,
            inputs: dict | None = None, checks: list[dict] = (), commands: dict | None = None,
            broadcasts: tuple[str, ...] = (), ignores: tuple[str, ...] = ()) -> Machine:
    lines = _Lines()
    flat: dict[str, State] = {}
    _states(states, None, lines, flat)
    if events is None:
        events = sorted({t["event"] for t in transitions})
    if not isinstance(events, dict):
        events = {e: {} for e in events}
    ts = []
    for i, t in enumerate(transitions):
        src = t["source"]
        ts.append(Transition(
            i, t["event"], tuple([src] if isinstance(src, str) else src), t.get("target"), lines.pos(),
            guard=Expr(t["guard"], lines.pos()) if "guard" in t else None,
            actions=tuple(_action(a, lines) for a in t.get("actions", ())), priority=t.get("priority")))
    return Machine(
        kind=kind, name=name, version=1, description="", path=FILE, spec_hash="0" * 16, pos=Pos(FILE, 1, 1),
        params=frozen_map({k: Param(k, v.get("type", "float"), v.get("default"), lines.pos())
                           for k, v in (params or {}).items()}),
        context=frozen_map({k: ContextVar(k, v.get("type", "int"), v.get("default", 0), lines.pos())
                            for k, v in (context or {}).items()}),
        inputs=frozen_map({k: Input(k, frozen_map(v), lines.pos()) for k, v in (inputs or {}).items()}),
        events=frozen_map({k: Event(k, lines.pos(), payload=frozen_map(v.get("payload", {})))
                           for k, v in events.items()}),
        states=frozen_map(flat), transitions=tuple(ts),
        checks=tuple(_check(k, v, lines) for c in checks for k, v in c.items()),
        commands=frozen_map({k: Command(k, v, lines.pos()) for k, v in (commands or {}).items()}),
        broadcasts=tuple(broadcasts), ignores=tuple(ignores),
    )


def _check(kind: str, v: Any, lines: _Lines) -> Check:
    if kind == "must_act":  # {event, source, action and/or target}
        src = v["source"]
        return Check(kind, (v["event"],), lines.pos(), tuple([src] if isinstance(src, str) else src),
                     v.get("action"), v.get("target"))
    if kind == "never_widens":  # {field, source, tighter, exempt}
        src = v["source"]
        return Check(kind, (v["field"],), lines.pos(), tuple([src] if isinstance(src, str) else src),
                     tighter=Expr(v["tighter"], lines.pos()), exempt=tuple(v.get("exempt", ())))
    return Check(kind, tuple([v] if isinstance(v, str) else v), lines.pos())


def specset(*machines: Machine, guards: tuple[str, ...] = (), actions: tuple[str, ...] = ()) -> SpecSet:
    cat = Catalogue(
        guards=frozen_map({g: CatalogueEntry(g, "guard", "risk", Pos("catalogue.yaml", 1, 1)) for g in guards}),
        actions=frozen_map({a: CatalogueEntry(a, "action", "engine", Pos("catalogue.yaml", 1, 1)) for a in actions}))
    return SpecSet(machines=frozen_map({m.name: m for m in machines}), catalogue=cat)


def codes(diags) -> list[str]:
    return [d.code for d in diags]


def only(diags, code: str) -> list:
    return [d for d in diags if d.code == code]


def test_builder_nests_states_and_positions_are_distinct():
    m = machine({"a": {"initial": True, "states": {"b": {"initial": True}}}})
    assert m.states["b"].parent == "a" and m.states["a"].children == ("b",)
    assert m.states["a"].pos != m.states["b"].pos
