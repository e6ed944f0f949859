"""The one check of a spec set that `engine validate` prints and `engine run` refuses on, so the
two can never disagree: load, effective parameter values, lint, and the documents a run needs."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from engine.diagnostics import Diagnostic, Severity
from engine.spec.ir import SpecSet

# Documents `engine run` reads besides the machines, in a spec tree with a catalogue and a rollout:
# kind, the name it must have (None: any), and where it normally lives.
REQUIRED_DOCUMENTS: tuple[tuple[str, str | None, str], ...] = (
    ("risk", "risk", "specs/risk/risk.yaml"),
    ("strategy", None, "a strategy spec under specs/strategies/ (the run config's `strategy.spec` names it)"),
    ("environments", None, "specs/overrides/environments.yaml (the env names a run config may select)"),
)


def check_specs(paths: Sequence[str | Path], for_run: bool = False) -> tuple[SpecSet, list[Diagnostic]]:
    """The spec set under `paths` (each widened to its whole spec tree) and every diagnostic.

    `for_run`: the set is to be run, so it must meet the engine's contract even when it is
    not a whole spec tree with a rollout (which is when `engine validate` checks it)."""
    from engine.spec.files import spec_roots
    from engine.spec.lint import lint
    from engine.spec.loader import load_specs
    from engine.spec.params import check_overrides

    roots = spec_roots(paths)
    specset, diags = load_specs(roots)
    diags += check_overrides(specset) + lint(specset) + missing_documents(specset)
    diags += engine_contract(specset, roots, for_run)
    return specset, list(dict.fromkeys(diags))  # duplicates dropped


def check_file(path: str | Path) -> tuple[SpecSet, list[Diagnostic]]:
    """One spec file on its own (a side of `engine diff`, maybe a git version with no tree
    around it): loaded and linted, with what other files would define (catalogue entries,
    gates, the machines an override names) unknown rather than missing, so that only the
    file's own problems are reported."""
    from dataclasses import replace

    from engine.spec.ir import Unloaded
    from engine.spec.lint import lint
    from engine.spec.loader import load_specs
    from engine.spec.params import check_overrides

    specset, diags = load_specs([path])
    if diags:
        return specset, diags
    fragment = replace(specset, unloaded=(*specset.unloaded, Unloaded("(the rest of the spec tree)", None, None)))
    return specset, list(dict.fromkeys(check_overrides(fragment) + lint(fragment)))


def engine_contract(specset: SpecSet, roots: Sequence[str | Path], for_run: bool) -> list[Diagnostic]:
    """ENGINE_CONTRACT: what `engine run` needs of the machines (engine/spec/contract.py)."""
    from engine.diagnostics import Pos
    from engine.spec.lint import contract, safely
    from engine.spec.lint._context import Context

    if not (for_run or contract.runnable(specset)):
        return []  # a few machines (a test's, a library's): nothing runs them as a whole
    rollout = next((m for m in specset.machines.values() if m.kind == "rollout"), None)
    anchor = rollout.pos if rollout else Pos(specset.catalogue.path or (str(roots[0]) if roots else "specs"))
    return list(safely(lambda: contract.check(Context(specset), anchor), anchor, contract.check))


def missing_documents(specset: SpecSet) -> list[Diagnostic]:
    """MISSING_DOCUMENT, at the rollout, for each document a run needs that the set lacks."""
    rollout = next((m for m in specset.machines.values() if m.kind == "rollout"), None)
    if rollout is None or not (specset.catalogue.path or specset.may_define(("catalogue",))):
        return []  # not a whole spec tree (a test's few machines): nothing is run from it
    out = []
    for kind, name, where in REQUIRED_DOCUMENTS:
        present = [n for n, k in specset.extra_kinds.items() if k == kind and name in (None, n)]
        if present or specset.may_define((kind,), name):
            continue
        what = f"a `kind: {kind}` document" + (f" named `{name}`" if name else "")
        out.append(Diagnostic(rollout.pos, Severity.ERROR, "MISSING_DOCUMENT",
                              f"`engine run` of this rollout needs {what}, and the spec set has none",
                              f"restore {where}"))
    return out
