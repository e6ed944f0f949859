"""Builds IR machines in Python for the runtime tests (no YAML needed), and a
registry whose `log` action appends to the host list so tests can see the order."""
from __future__ import annotations

from typing import Any

from engine.diagnostics import Pos
from engine.runtime import ListSink, Registry, ReplayClock, Interpreter
from engine.spec.ir import ActionRef, ContextVar, Event, Expr, Input, Machine, Param, State, Timer, Transition

P = Pos("test.yaml", 1, 1)


def ref(a: Any) -> ActionRef:
    """"name" | {"assign": {k: expr}} | {"raise": "ev"} | {"name": {arg: expr}}"""
    if isinstance(a, str):
        return ActionRef(a, P)
    (name, args), = a.items()
    if name == "raise":
        return ActionRef("raise", P, {"event": Expr(args, P)})
    return ActionRef(name, P, {k: Expr(v, P) for k, v in args.items()})


def log(tag: str) -> dict:
    return {"log": {"tag": repr(tag)}}


def _states(spec: dict, parent: str | None, out: dict) -> None:
    for name, s in spec.items():
        kids = s.get("states", {})
        timers = tuple(Timer(ev, str(d), P, d if isinstance(d, (int, float)) else None)
                       for d, ev in s.get("after", ()))
        out[name] = State(name, P, parent=parent, children=tuple(kids), initial=s.get("initial", False),
                          final=s.get("final", False), entry=tuple(ref(a) for a in s.get("entry", ())),
                          exit=tuple(ref(a) for a in s.get("exit", ())), timers=timers,
                          tags=frozenset(s.get("tags", ())))
        _states(kids, name, out)


def build(states: dict, transitions: list[dict], *, events: dict | None = None, params: dict | None = None,
          context: dict | None = None, inputs: dict | None = None, name: str = "m",
          spec_hash: str = "hash1") -> Machine:
    flat: dict[str, State] = {}
    _states(states, None, flat)
    ts = []
    for i, t in enumerate(transitions):
        src = t["source"]
        ts.append(Transition(i, t["event"], tuple(src) if isinstance(src, list) else (src,), t.get("target"), P,
                             Expr(t["guard"], P) if "guard" in t else None,
                             tuple(ref(a) for a in t.get("actions", ())), t.get("priority")))
    names = {t.event for t in ts} | {tm.event for s in flat.values() for tm in s.timers} | set(events or {})
    evs = {n: Event(n, P, payload=(events or {}).get(n, {})) for n in sorted(names)}
    ps = {k: Param(k, typ, d, P) for k, (typ, d) in (params or {}).items()}
    cx = {k: ContextVar(k, type(v).__name__, v, P) for k, v in (context or {}).items()}
    ins = {k: Input(k, f, P) for k, f in (inputs or {}).items()}
    return Machine("kill", name, 1, "", "test.yaml", spec_hash, P, params=ps, context=cx, inputs=ins,
                   events=evs, states=flat, transitions=tuple(ts))


def registry() -> Registry:
    reg = Registry()

    @reg.action("log")
    def _log(ctx, tag: str) -> None:
        ctx.host.append(tag)

    @reg.action("boom")
    def _boom(ctx) -> None:
        raise RuntimeError("exchange down")

    @reg.action("emit")
    def _emit(ctx, event: str) -> None:
        ctx.raise_event(event)

    @reg.guard("positive")
    def _positive(x: float) -> bool:
        return x > 0

    @reg.guard("explode")
    def _explode(x: float) -> bool:
        raise ZeroDivisionError("division by zero")

    return reg


def interp(start: float = 1000.0) -> tuple[Interpreter, ReplayClock, ListSink]:
    clock, sink = ReplayClock(start), ListSink()
    return Interpreter(clock, sink), clock, sink


def trail(records) -> list[tuple]:
    return [(r.kind, r.source, r.target, r.event) for r in records]
