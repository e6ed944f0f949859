"""ACTION_KIND: an action named in a kind of machine its catalogue entry does not list in `kinds`.

A hosted action does what its host does for the instance that runs it, and the run session hosts
the rollout, the kill machine and every gate alike: `apply_stage` in a gate, or `recall_gates` in
the gate that `recall_gates` asks, binds and runs, and then applies a stage from a gate's state or
asks the asking gate again without end. The catalogue says which kinds of machine may name such
an action; an entry without `kinds` may be named anywhere.
"""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context

CODE = "ACTION_KIND"


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    actions = cx.specset.catalogue.actions
    for a in m.action_refs:
        entry = actions.get(a.name)
        if entry is None or not entry.kinds or m.kind in entry.kinds:
            continue
        kinds = ", ".join(f"`{k}`" for k in entry.kinds)
        yield diag(a.pos, CODE, f"action `{a.name}` is for machines of kind {kinds}; `{m.name}` is of kind "
                                f"`{m.kind}`", f"its catalogue entry ({entry.pos}) lists the kinds that may name it")
