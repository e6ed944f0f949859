"""UNIMPLEMENTED: a machine uses a catalogue guard or action that no code provides.

Specs name behaviour and provider packages implement it (engine/runtime/registry.py). A
catalogue entry whose provider registers no function under its name validated clean, and
`engine run` then refused with the bare name. Here it is an error at the catalogue entry and
at each use, with a did-you-mean to a name that is implemented.

`engine validate` checks the providers whose registering modules are light (LIGHT: they
import engine.runtime alone; tests/test_lint_implemented.py checks that they pull in no
heavy module). `engine run` imports every provider it uses anyway and reports the same
diagnostics for all of them (engine/run/session.py).
"""
from __future__ import annotations

import ast
from typing import Iterable, Iterator

from engine.diagnostics import Diagnostic, Pos, did_you_mean
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context, expr_pos

CODE = "UNIMPLEMENTED"
LIGHT = ("engine", "adapters", "state")


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    return unimplemented(cx, LIGHT)


def unimplemented(cx: Context, providers: Iterable[str]) -> Iterator[Diagnostic]:
    """For each guard and action of these `providers` that some machine uses and no code provides:
    one diagnostic at its catalogue entry and one at each use. Imports the providers' modules."""
    from engine.runtime.registry import PROVIDER_MODULES, default_registry, import_providers

    cat, providers = cx.specset.catalogue, set(providers)
    used = _uses(cx)
    entries = [(e, default_registry.guards if e.role == "guard" else default_registry.actions)
               for table in (cat.guards, cat.actions) for e in table.values()
               if e.provider in providers and e.name in used[e.role]]
    failed = import_providers({e.provider for e, _ in entries})
    for entry, implemented in entries:
        if entry.name in implemented:
            continue
        module = PROVIDER_MODULES.get(entry.provider, entry.provider)
        why = f" ({failed[entry.provider]})" if entry.provider in failed else ""
        hint = (did_you_mean(entry.name, implemented)
                or f"implement it in {module} (`@default_registry.{entry.role}(\"{entry.name}\")`) or stop using it")
        what = f"{entry.role} `{entry.name}` of provider `{entry.provider}` has no implementation in {module}{why}"
        uses = used[entry.role][entry.name]
        yield diag(entry.pos, CODE, f"{what}: `engine run` refuses to start while {len(uses)} use(s) name it", hint)
        for pos in uses:
            yield diag(pos, CODE, f"{what}: `engine run` refuses to start", hint)


def _uses(cx: Context) -> dict[str, dict[str, list[Pos]]]:
    """role -> name -> where machines use it (guards: each call in an expression)."""
    out: dict[str, dict[str, list[Pos]]] = {"guard": {}, "action": {}}
    for m in cx.specset.machines.values():
        for name, pos in _actions(m):
            out["action"].setdefault(name, []).append(pos)
        for site in cx.sites(m):
            for call in _calls(site.tree):
                at = expr_pos(cx.sources, site.expr, call.col_offset) if call.lineno == 1 else site.expr.pos
                out["guard"].setdefault(call.func.id, []).append(at)  # type: ignore[attr-defined]
    return out


def _actions(m: Machine) -> Iterator[tuple[str, Pos]]:
    for t in m.transitions:
        yield from ((a.name, a.pos) for a in t.actions)
    for s in m.states.values():
        yield from ((a.name, a.pos) for a in (*s.entry, *s.exit))


def _calls(tree: ast.Expression | None) -> Iterator[ast.Call]:
    if tree is not None:
        yield from (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))

