"""UNIMPLEMENTED: a machine uses a catalogue guard or action that no code provides.

Specs name behaviour and provider packages implement it (engine/runtime/registry.py). A
catalogue entry whose provider registers no function under its name validated clean, and
`engine run` then refused with the bare name. Here it is an error at the catalogue entry and
at each use, with a did-you-mean to a name that is implemented.

`engine validate` imports the providers whose registering modules are light (LIGHT: they
import engine.runtime alone; tests/test_lint_implemented.py checks that they pull in no
heavy module). Of the others it checks, without importing anything, that the module exists:
a provider with no module (`risk` before engine/risk/actions.py is written) is reported the
same way. `engine run` imports every provider it uses anyway and reports the same
diagnostics for all of them (engine/run/session.py).
"""
from __future__ import annotations

import ast
import importlib.machinery
import sys
from typing import Iterable, Iterator, Sequence

from engine.diagnostics import Diagnostic, Pos, did_you_mean
from engine.spec.ir import CatalogueEntry, Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context, expr_pos

CODE = "UNIMPLEMENTED"
LIGHT = ("engine", "adapters", "state")


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    yield from unimplemented(cx, LIGHT)
    yield from _unfound(cx)


def unimplemented(cx: Context, providers: Iterable[str]) -> Iterator[Diagnostic]:
    """For each guard and action of these `providers` that some machine uses and no code provides:
    one diagnostic at its catalogue entry and one at each use. Imports the providers' modules."""
    from engine.runtime.registry import PROVIDER_MODULES, default_registry, import_providers

    used = _uses(cx)
    entries = _used_entries(cx, used, set(providers))
    failed = import_providers({e.provider for e in entries})
    for entry in entries:
        registry = default_registry.guards if entry.role == "guard" else default_registry.actions
        if entry.name in registry:
            continue
        module = PROVIDER_MODULES.get(entry.provider, entry.provider)
        why = f" ({failed[entry.provider]})" if entry.provider in failed else ""
        hint = (did_you_mean(entry.name, registry)
                or f"implement it in {module} (`@default_registry.{entry.role}(\"{entry.name}\")`) or stop using it")
        yield from _report(entry, used, f"has no implementation in {module}{why}", hint)


def _unfound(cx: Context) -> Iterator[Diagnostic]:
    """The providers validate does not import: each one's module must at least exist."""
    from engine.runtime.registry import PROVIDER_MODULES

    used = _uses(cx)
    others = {e.provider for table in (cx.specset.catalogue.guards, cx.specset.catalogue.actions)
              for e in table.values()} - set(LIGHT)
    for entry in _used_entries(cx, used, others):
        module = PROVIDER_MODULES.get(entry.provider)
        if module is None or _exists(module):
            continue  # an unknown provider is the catalogue schema's to report
        hint = (f"write {module} and register it there (`@default_registry.{entry.role}(\"{entry.name}\")`), "
                f"or give it a provider with code ({', '.join(LIGHT)})")
        yield from _report(entry, used, f"has no implementation (there is no module {module})", hint)


def _used_entries(cx: Context, used: dict[str, dict[str, list[Pos]]], providers: set[str]) -> list[CatalogueEntry]:
    cat = cx.specset.catalogue
    return [e for table in (cat.guards, cat.actions) for e in table.values()
            if e.provider in providers and e.name in used[e.role]]


def _report(entry: CatalogueEntry, used: dict[str, dict[str, list[Pos]]], why: str,
            hint: str) -> Iterator[Diagnostic]:
    what = f"{entry.role} `{entry.name}` of provider `{entry.provider}` {why}"
    uses = used[entry.role][entry.name]
    yield diag(entry.pos, CODE, f"{what}: `engine run` refuses to start while {len(uses)} use(s) name it", hint)
    for pos in uses:
        yield diag(pos, CODE, f"{what}: `engine run` refuses to start", hint)


def _exists(module: str) -> bool:
    """Whether `module` can be found, without running it or its packages' `__init__` (which
    importlib.util.find_spec would do for a dotted name: a heavy package would load)."""
    path = None
    parts = module.split(".")
    for n in range(1, len(parts) + 1):
        name = ".".join(parts[:n])
        loaded = sys.modules.get(name)
        spec = getattr(loaded, "__spec__", None) or _find(name, path)
        if spec is None:
            return False
        path = spec.submodule_search_locations
        if path is None and n < len(parts):
            return False  # a plain module where a package was needed
    return True


def _find(name: str, path: Sequence[str] | None) -> importlib.machinery.ModuleSpec | None:
    """What `import name` would find (every finder, an editable install's too), running nothing."""
    return next((spec for f in sys.meta_path if hasattr(f, "find_spec")
                 and (spec := f.find_spec(name, path)) is not None), None)


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

