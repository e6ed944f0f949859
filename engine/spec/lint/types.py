"""Expression types, as far as declarations tell them: a guard must be a condition, not a
constant, and no operation may mix kinds Python refuses to mix. `pnl.drawdown + 'x' > 1`
would raise TypeError at its first evaluation, mid-run (a guard that raises is false and the
machine goes close-only, so the rule it guards could never fire); `guard: 42` would always pass.
engine.spec.lint.inference tells the kinds."""
from __future__ import annotations

import ast
from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context, expr_pos


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    for site in cx.sites(m):
        tree = site.tree
        if tree is None or site.problems:
            continue  # unparsable or naming unknown things: reported already
        if site.guard and isinstance(tree.body, ast.Constant) and not isinstance(tree.body.value, bool):
            yield diag(expr_pos(cx.sources, site.expr, 0), "EXPR_TYPE",
                       f"the {site.where} is the constant `{site.expr.source.strip()}`, not a condition",
                       "compare something, e.g. `kpi.trades >= params.min_trades`, or write true/false")
            continue
        inferred = cx.inferred(m, site.expr, site.event)
        for f in inferred.findings if inferred else ():
            yield diag(expr_pos(cx.sources, site.expr, f.col), "EXPR_TYPE", f"{f.message} in the {site.where}", f.hint)
