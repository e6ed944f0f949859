"""What changed between two versions of a machine, for review before it goes live.

Transitions are matched by (event, sources, target); when several share that
key they are matched in document order. Everything else is matched by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from engine.spec.ir import ActionRef, Machine, Param, State, Transition


@dataclass(frozen=True, slots=True)
class Change:
    area: str  # machine | state | transition | parameter | event | check
    op: str  # added | removed | changed
    subject: str
    detail: str = ""

    def __str__(self) -> str:
        mark = {"added": "+", "removed": "-", "changed": "~"}[self.op]
        return f"{mark} {self.area} {self.subject}" + (f": {self.detail}" if self.detail else "")


def _acts(refs: tuple[ActionRef, ...]) -> str:
    return ", ".join(a.name + (f"({', '.join(f'{k}={v.source}' for k, v in a.args.items())})" if a.args else "")
                     for a in refs) or "-"


def _state_view(s: State) -> dict[str, Any]:
    return {"parent": s.parent, "initial": s.initial, "final": s.final, "tags": sorted(s.tags),
            "entry": _acts(s.entry), "exit": _acts(s.exit), "gate": s.gate, "attrs": dict(s.attrs),
            "timers": [f"after {t.delay} -> {t.event}" for t in s.timers]}


def _param_view(p: Param) -> dict[str, Any]:
    return {"type": p.type, "unit": p.unit, "default": p.default, "min": p.min, "max": p.max}


def _transition_view(t: Transition) -> dict[str, Any]:
    return {"guard": t.guard.source if t.guard else None, "actions": _acts(t.actions), "priority": t.priority}


def _named(area: str, old: Mapping[str, Any], new: Mapping[str, Any],
           view: Callable[[Any], Mapping[str, Any]]) -> Iterable[Change]:
    for name in old.keys() - new.keys():
        yield Change(area, "removed", name)
    for name in new:
        if name not in old:
            yield Change(area, "added", name)
            continue
        a, b = view(old[name]), view(new[name])
        for key in a:
            if a[key] != b[key]:
                yield Change(area, "changed", name, f"{key} {a[key]!r} -> {b[key]!r}")


def _transitions(old: tuple[Transition, ...], new: tuple[Transition, ...]) -> Iterable[Change]:
    def keyed(ts: tuple[Transition, ...]) -> dict[tuple, Transition]:
        out: dict[tuple, Transition] = {}
        for t in ts:
            base = (t.event, ",".join(t.sources), t.target or "(internal)")
            n = sum(1 for k in out if k[:3] == base)
            out[base + (n,)] = t
        return out

    def name(k: tuple) -> str:
        return f"{k[1]} --{k[0]}--> {k[2]}" + (f" #{k[3] + 1}" if k[3] else "")

    a, b = keyed(old), keyed(new)
    yield from _named("transition", {name(k): v for k, v in a.items()},
                      {name(k): v for k, v in b.items()}, _transition_view)


def diff(old: Machine, new: Machine) -> list[Change]:
    out: list[Change] = []
    for attr in ("kind", "name", "version", "description"):
        if getattr(old, attr) != getattr(new, attr):
            out.append(Change("machine", "changed", attr, f"{getattr(old, attr)!r} -> {getattr(new, attr)!r}"))
    out += _named("state", old.states, new.states, _state_view)
    out += _transitions(old.transitions, new.transitions)
    out += _named("parameter", old.params, new.params, _param_view)
    out += _named("event", old.events, new.events, lambda e: {"payload": dict(e.payload)})
    olds = {f"{c.kind}: {', '.join(c.args)}" for c in old.checks}
    news = {f"{c.kind}: {', '.join(c.args)}" for c in new.checks}
    out += [Change("check", "removed", c) for c in sorted(olds - news)]
    out += [Change("check", "added", c) for c in sorted(news - olds)]
    return out
