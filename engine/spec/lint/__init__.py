"""The spec linter: every problem in a SpecSet, in one pass, as Diagnostics.

`lint(specset)` runs each rule area (one module each) over every machine, then
the cross-machine rules. It never raises: a rule that crashes on malformed
input is reported as an INTERNAL diagnostic at the machine, so `engine
validate` still prints every other problem.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Iterable, Iterator

from engine.diagnostics import Diagnostic, Pos, Severity, sort_key
from engine.spec.ir import Machine, SpecSet
from engine.spec.lint import (arguments, checks, conflicts, events, expressions, graph, names, rates, rollout,
                              structure, types)
from engine.spec.lint._context import Context
from engine.spec.lint import implemented, risk  # apart: other rule areas edit the import above
from engine.spec.lint import answers, senders  # apart, likewise: the engine's events (ENGINE_CONTRACT)
from engine.spec.lint import ignores
from engine.spec.lint import ml  # apart, likewise: names in the ML specs
from engine.spec.lint import sectors  # apart, likewise: the risk spec's sector map
from engine.spec.lint import contracts  # apart, likewise: the paper venue's contract catalogue
from engine.spec.lint import scope  # apart, likewise: where each hosted action may be named
from engine.spec.lint import awaiting, stage_numbers  # apart, likewise: the rollout's names the engine reads
from engine.spec.lint import position_open  # apart, likewise: the bracket's tag the engine reads

MachineRule = Callable[[Context, Machine], Iterable[Diagnostic]]
MACHINE_RULES: tuple[MachineRule, ...] = (
    names.check, arguments.check, structure.check, expressions.check, types.check, conflicts.check,
    graph.check, events.check, checks.check, rollout.check, answers.check, ignores.check, scope.check,
    stage_numbers.check, awaiting.check, position_open.check,
)
SPECSET_RULES: tuple[Callable[[Context], Iterable[Diagnostic]], ...] = (
    events.check_specset, rates.check_specset, risk.check_specset, implemented.check_specset,
    senders.check_specset, ml.check_specset, sectors.check_specset, contracts.check_specset)

__all__ = ["lint", "safely"]


def lint(specset: SpecSet) -> list[Diagnostic]:
    cx = Context(specset)
    out: list[Diagnostic] = []
    for m in specset.machines.values():
        for rule in MACHINE_RULES:
            out.extend(safely(partial(rule, cx, m), m.pos, rule))
    for srule in SPECSET_RULES:
        out.extend(safely(partial(srule, cx), None, srule))
    return sorted(dict.fromkeys(out), key=sort_key)


def safely(run: Callable[[], Iterable[Diagnostic]], pos: Pos | None, rule: Callable) -> Iterator[Diagnostic]:
    try:
        yield from list(run())
    except Exception as e:  # noqa: BLE001 - a linter bug must not hide every other finding
        yield Diagnostic(pos or Pos("specs"), Severity.ERROR, "INTERNAL",
                         f"lint rule {rule.__module__}.{rule.__name__} failed: {type(e).__name__}: {e}",
                         "this is a bug in the linter; please report it with the spec")
