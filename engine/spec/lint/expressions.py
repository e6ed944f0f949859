"""Expression problems, pointed at the offending token inside the expression.

`engine.spec.expr.analyse` finds them; here we sort them into codes (an unknown
`params.X` is UNRESOLVED_PARAM, an undeclared plain function call is
UNRESOLVED_GUARD) and map their column into the file.
"""
from __future__ import annotations

import re
from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.expr import Problem
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context, expr_pos

_QUOTED = re.compile(r"`([^`]*)`")


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    for site in cx.sites(m):
        forbidden = {p.col for p in site.problems if p.code == "EXPR_FORBIDDEN"}
        for p in site.problems:
            if p.code == "EXPR_NAME" and p.col in forbidden:
                continue  # `kpi._secret` is one problem, not also an unknown name
            code = _code(p)
            if code == "UNRESOLVED_GUARD" and cx.catalogue_unloaded:
                continue  # the guard may be declared in the catalogue that failed to load
            yield diag(expr_pos(cx.sources, site.expr, p.col), code, f"{p.message} in the {site.where}",
                       p.hint or _default_hint(code))


def _code(p: Problem) -> str:
    m = _QUOTED.search(p.message)
    name = m.group(1) if m else ""
    if p.code == "EXPR_NAME" and name.startswith("params."):
        return "UNRESOLVED_PARAM"
    if p.code == "EXPR_FORBIDDEN" and p.message.startswith("call to undeclared function") and name.isidentifier():
        return "UNRESOLVED_GUARD"
    return p.code


def _default_hint(code: str) -> str | None:
    return {
        "UNRESOLVED_PARAM": "declare it under `parameters`",
        "UNRESOLVED_GUARD": "declare it under `guards` in specs/catalogue.yaml",
    }.get(code)
