"""Names and references: every state, event, gate and action a machine names exists, and every
phase a gate's state `measures` is one of its states' or shared with another state."""
from __future__ import annotations

from typing import Iterator, Mapping

from engine.diagnostics import Diagnostic, Pos, did_you_mean
from engine.spec.ir import ActionRef, Machine
from engine.spec.lint._base import diag, file_start
from engine.spec.lint._context import BUILTIN_ACTIONS, Context, raised_event
from engine.spec.lint._index import STAR


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    yield from _states(cx, m)
    yield from _events(cx, m)
    yield from _actions(cx, m)
    yield from _gates(cx, m)
    yield from _phases(cx, m)


def _unresolved_state(m: Machine, name: str, pos: Pos, what: str) -> Diagnostic:
    return diag(pos, "UNRESOLVED_STATE", f"{what} `{name}` is not a state of `{m.name}`",
                did_you_mean(name, m.states) or f"states: {', '.join(m.states) or '(none)'}")


def _unresolved_event(m: Machine, name: str, pos: Pos, what: str) -> Diagnostic:
    """`what` names the event: "`ignores` of `exiting` names"."""
    return diag(pos, "UNRESOLVED_EVENT", f"{what} `{name}`, which is not declared under `events`",
                did_you_mean(name, m.events) or f"declare it: `events: {{{name}: {{}}}}`")


def _states(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    for t in m.transitions:
        for s in t.sources:
            if s != STAR and s not in m.states:
                yield _unresolved_state(m, s, cx.sources.find(t.pos, "source", s), "source")
        if t.target is not None and t.target not in m.states:
            yield _unresolved_state(m, t.target, cx.sources.find(t.pos, "target", t.target), "target")
    for c in m.checks:
        if c.kind in ("reachable_from_all", "unreachable"):
            for s in c.args:
                if s not in m.states:
                    yield _unresolved_state(m, s, cx.sources.find(c.pos, c.kind, s), f"`{c.kind}` names")
        for key, names in (("source", c.source), ("target", (c.target,) if c.target else ())):
            for s in names:
                if s not in m.states:
                    yield _unresolved_state(m, s, cx.sources.find(c.pos, key, s), f"`{c.kind}`'s `{key}`")


def _events(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    ev = m.events
    for t in m.transitions:
        if t.event not in ev:
            yield _unresolved_event(m, t.event, cx.sources.find(t.pos, "event", t.event), "a transition takes")
        for a in t.actions:
            yield from _raise(cx, m, a)
    for s in m.states.values():
        for timer in s.timers:
            if timer.event not in ev:
                yield _unresolved_event(m, timer.event, cx.sources.find(timer.pos, "event", timer.event),
                                        f"timer of `{s.name}` raises")
        for a in s.entry + s.exit:
            yield from _raise(cx, m, a)
        for e in s.ignores:
            if e not in ev:
                yield _unresolved_event(m, e, cx.ignore_pos(m, s.name, e), f"`ignores` of `{s.name}` names")
    for c in m.commands.values():
        if c.event not in ev:
            yield _unresolved_event(m, c.event, cx.sources.find(c.pos, "event", c.event),
                                    f"command `{c.name}` raises")
    for c in m.checks:
        if c.kind == "must_handle":
            for e in c.args:
                if e not in ev:
                    yield _unresolved_event(m, e, cx.sources.find(c.pos, c.kind, e), "`must_handle` names")
        elif c.kind == "must_act" and c.args[0] not in ev:
            yield _unresolved_event(m, c.args[0], cx.sources.find(c.pos, "event", c.args[0]), "`must_act` names")
        for e in c.exempt:
            if e not in ev:
                yield _unresolved_event(m, e, cx.sources.find(c.pos, "exempt", e), f"`{c.kind}`'s `exempt` names")
    for e in m.broadcasts:
        if e not in ev:
            yield _unresolved_event(m, e, cx.sources.find(file_start(m.path), "broadcasts", e), "`broadcasts` names")
    yield from _machine_ignores(cx, m)


def _machine_ignores(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    """The machine's own `ignores`: its events, or what the kill spec broadcasts to every machine
    (a machine need not declare a broadcast it drops everywhere)."""
    relayed = [e for k in cx.specset.machines.values() for e in k.broadcasts]
    if cx.specset.may_define(("kill",)):
        return  # the kill spec did not load: any name may be one of its broadcasts
    for e in m.ignores:
        if e not in m.events and e not in relayed:
            yield diag(cx.ignore_pos(m, None, e), "UNRESOLVED_EVENT",
                       f"`ignores` of `{m.name}` names `{e}`, which is neither declared under `events` "
                       f"nor broadcast by the kill spec",
                       did_you_mean(e, [*m.events, *relayed])
                       or f"declare it (`events: {{{e}: {{}}}}`), or delete it from `ignores`")


def _raise(cx: Context, m: Machine, a: ActionRef) -> Iterator[Diagnostic]:
    e = raised_event(a)
    if a.name == "raise" and e is not None and e not in m.events:
        yield _unresolved_event(m, e, cx.sources.find(a.pos, "raise", e), "`raise` names")


def _actions(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    known = cx.specset.catalogue.actions
    for a in m.action_refs:
        if a.name == "assign":
            for var in a.args:
                if var not in m.context:
                    yield diag(cx.sources.find(a.pos, var), "UNRESOLVED_ACTION",
                               f"`assign` writes `{var}`, which is not declared under `context`",
                               did_you_mean(var, m.context) or f"declare it: `context: {{{var}: {{type: ..., default: ...}}}}`")
        elif a.name not in known and a.name not in BUILTIN_ACTIONS and not cx.catalogue_unloaded:
            yield _unknown_action(a.name, a.pos, known)
    for c in m.checks:
        if c.action is not None and c.action not in known and c.action not in BUILTIN_ACTIONS \
                and not cx.catalogue_unloaded:
            yield _unknown_action(c.action, cx.sources.find(c.pos, "action", c.action), known)


def _unknown_action(name: str, pos: Pos, known: Mapping[str, object]) -> Diagnostic:
    return diag(pos, "UNRESOLVED_ACTION", f"action `{name}` is not in the catalogue",
                did_you_mean(name, [*known, *BUILTIN_ACTIONS]) or "declare it under `actions` in specs/catalogue.yaml")


def _gates(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    gates = [g.name for g in cx.specset.machines.values() if g.kind == "gates"]
    for s in m.states.values():
        if s.gate is not None and s.gate not in gates and not cx.specset.may_define(("gates",), s.gate):
            yield diag(cx.sources.find(s.pos, "gate", s.gate), "UNRESOLVED_GATE",
                       f"state `{s.name}` names gate `{s.gate}`, which is no machine under specs/gates/",
                       did_you_mean(s.gate, gates) or f"gate machines: {', '.join(gates) or '(none)'}")


def _phases(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    """A phase is a state's name unless `measures` names another. One that is neither a state nor
    any other state's phase measures its own state alone, as no `measures` would: the mark of a
    misspelling (`shadw`), which restarted the gate's KPIs where the spec meant to keep them."""
    named = [phase for s in m.states.values() if (phase := s.attrs.get("measures"))]
    for s in m.states.values():
        phase = s.attrs.get("measures")
        if phase and phase not in m.states and named.count(phase) == 1:
            yield diag(cx.sources.find(s.pos, "measures", phase), "UNRESOLVED_PHASE",
                       f"state `{s.name}` measures `{phase}`, which is no state of `{m.name}` and no other "
                       f"state's phase: the gate would restart its KPIs here for a phase of this state alone",
                       did_you_mean(phase, m.states) or "name a state whose KPIs this one reads, or drop `measures`")
