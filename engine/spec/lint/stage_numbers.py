"""STAGE_ASSIGN: a transition into rollout state `stage_N` assigns `stage` a number other than N.

The rollout's context variable `stage` picks the parameters every machine runs on (each stage's
overrides, engine/run/session.py `use_stage`), while the state's name `stage_N` picks what it
trades. A copy-paste slip (`target: stage_2` with `assign: {stage: 3}`) validated clean and ran
stage 2's domains on stage 3's parameters, dropping stage 2's own overrides without a word.
"""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.contract import stage_of, stage_state
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context

CODE = "STAGE_ASSIGN"


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    if m.kind != "rollout":
        return
    for t in m.transitions:
        stage = stage_of(t.target)
        if stage is None:
            continue
        for ref in t.actions:
            given = ref.args.get("stage") if ref.name == "assign" else None
            if given is not None and _literal(given.source) not in (None, stage):
                yield diag(given.pos, CODE, f"the transition into `{t.target}` assigns `stage: {given.source}`: "
                                            f"its stage would run on another stage's parameters",
                           f"assign `stage: {stage}`, or target `{stage_state(_literal(given.source))}`")


def _literal(source: str) -> int | None:
    """The number a literal assigns; None for an expression (its value is known only when it runs)."""
    text = source.strip()
    return int(text) if text.isascii() and text.isdigit() else None  # `²` is a digit int() cannot read
