"""Conflicting transitions: two that may both be enabled from the same state on
the same event without an explicit `priority`, and ones an unguarded earlier
transition makes unreachable."""
from __future__ import annotations

import ast
from typing import Any, Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import Machine, Transition, selection_order
from engine.spec.lint._base import diag, seconds
from engine.spec.lint._context import Context, Site
from engine.spec.lint.intervals import atoms, witness


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    guards = {s.expr: s for s in cx.sites(m) if s.where.startswith("guard of")}
    params = _param_values(m)
    seen: set[tuple[int, int]] = set()
    shadowed: set[int] = set()
    for holder, ts in cx.index(m).holders.items():
        by_event: dict[str, list[Transition]] = {}
        for t in ts:
            by_event.setdefault(t.event, []).append(t)
        for group in by_event.values():
            order = sorted(group, key=selection_order)
            for j, b in enumerate(order):
                for a in order[:j]:
                    if b.index in shadowed or (a.index, b.index) in seen:
                        continue
                    found = _pair(m, holder, a, b, guards, params)
                    if found is not None:
                        seen.add((a.index, b.index))
                        if found.code == "SHADOWED_TRANSITION":
                            shadowed.add(b.index)
                        yield found
                        break  # one finding per transition and state is enough to act on


def _pair(m: Machine, holder: str, a: Transition, b: Transition,
          guards: dict[Any, Site], params: dict[str, Any]) -> Diagnostic | None:
    where = "every non-final state" if holder == "*" else f"`{holder}`"
    if a.guard is None:
        return diag(b.pos, "SHADOWED_TRANSITION",
                    f"this transition on `{b.event}` from {where} can never run: the unguarded "
                    f"transition at line {a.pos.line} always runs first",
                    "give the earlier transition a guard, or delete this one")
    if _distinguished(a, b):
        return None
    why = _overlap(m, b.event, a, b, guards, params)
    if why is None:
        return None
    return diag(b.pos, "NONDETERMINISTIC",
                f"this transition and the one at line {a.pos.line} both leave {where} on `{b.event}` "
                f"and can both be enabled ({why}); only document order decides",
                "make the guards exclusive, or set `priority` on both to state which runs first")


def _distinguished(a: Transition, b: Transition) -> bool:
    return a.priority != b.priority


def _overlap(m: Machine, event: str, a: Transition, b: Transition,
             guards: dict[Any, Site], params: dict[str, Any]) -> str | None:
    if b.guard is None:
        return "the second has no guard"
    sa, sb = guards.get(a.guard), guards.get(b.guard)
    if sa is None or sb is None or sa.tree is None or sb.tree is None:
        return None
    if ast.dump(sa.tree) == ast.dump(sb.tree):
        return "their guards are identical"
    conj_a, conj_b = atoms(sa.tree, params), atoms(sb.tree, params)
    if conj_a is None or conj_b is None:
        return None
    w = witness(conj_a + conj_b, _integers(m, event))
    if w is None:
        return None
    example = ", ".join(f"{k} = {v!r}" for k, v in w.items()) or "always"
    return f"both guards hold when {example}"


def _param_values(m: Machine) -> dict[str, Any]:
    out = {}
    for name, p in m.params.items():
        v = p.default
        if p.type == "duration":
            v = seconds(v)
        if v is not None:
            out[name] = v
    return out


def _integers(m: Machine, event: str) -> frozenset[str]:
    names = {f"ctx.{n}" for n, v in m.context.items() if v.type == "int"}
    names |= {f"{i.name}.{f}" for i in m.inputs.values() for f, t in i.fields.items() if t == "int"}
    ev = m.events.get(event)
    if ev:
        names |= {f"event.{f}" for f, t in ev.payload.items() if t == "int"}
    return frozenset(names)
