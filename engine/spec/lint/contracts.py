"""The paper venue's contract catalogue (adapters/paper/contracts.yaml) against its schema
(engine/contracts.py): the YAML_* and SCHEMA_* errors of a spec file, at the catalogue's lines.

The catalogue is no spec, but error hints tell users to add contracts to it, and every run and
data import loads it: a mistake there (`tick: -0.000001`, `domain: crypto_spt`, a symbol written
twice) is found here, as the run would refuse it, not first by `engine run` when it starts.
"""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.lint._context import Context


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    yield from cx.contracts.problems
