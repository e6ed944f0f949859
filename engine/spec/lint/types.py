"""Expression types, as far as declarations tell them: a guard must be a condition, not a
constant, and a declared number is not compared with (or a declared string repeated by)
something of the other kind. Python would evaluate `pnl.drawdown >= 'abc'` only to raise
TypeError on the first bar; `guard: 42` would always pass."""
from __future__ import annotations

import ast
from typing import Iterator, Mapping

from engine.diagnostics import Diagnostic
from engine.spec.expr import dotted
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context, Site, expr_pos

NUMERIC = frozenset({"int", "float", "money", "fraction", "duration"})


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
        types = _declared(m, site)
        for node in ast.walk(tree):
            found = _mismatch(node, types)
            if found:
                yield diag(expr_pos(cx.sources, site.expr, node.col_offset), "EXPR_TYPE",
                           f"{found[0]} in the {site.where}", found[1])


def _declared(m: Machine, site: Site) -> dict[str, str]:
    """Dotted name -> declared type, for every name the expression may read."""
    out = {f"params.{n}": p.type for n, p in m.params.items()}
    out.update((f"ctx.{n}", c.type) for n, c in m.context.items())
    for i in m.inputs.values():
        out.update((f"{i.name}.{f}", t) for f, t in i.fields.items())
    ev = m.events.get(site.event) if site.event else None
    out.update((f"event.{f}", t) for f, t in (ev.payload if ev else {}).items())
    return out


def _kind(node: ast.AST, types: Mapping[str, str]) -> tuple[str, str] | None:
    """("number" | "text", how to show it) for a literal or a declared name, else None."""
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        if isinstance(node.value, str):
            return "text", repr(node.value)
        if isinstance(node.value, (int, float)):
            return "number", repr(node.value)
        return None
    name = dotted(node)
    t = types.get(name or "")
    if t in NUMERIC:
        return "number", f"`{name}` ({t})"
    if t == "str":
        return "text", f"`{name}` (str)"
    return None


def _mismatch(node: ast.AST, types: Mapping[str, str]) -> tuple[str, str] | None:
    """(message, hint) for a comparison across kinds or a repeated declared string."""
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for op, a, b in zip(node.ops, operands, operands[1:]):
            ka, kb = _kind(a, types), _kind(b, types)
            if isinstance(op, (ast.In, ast.NotIn)) or not ka or not kb or ka[0] == kb[0]:
                continue
            return f"{ka[1]} is compared with {kb[1]}", "compare numbers with numbers and text with text"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Mod)):
        sign = "*" if isinstance(node.op, ast.Mult) else "%"
        for operand in (node.left, node.right):
            k = _kind(operand, types)
            if k and k[0] == "text":
                return f"text {k[1]} is used with `{sign}`", "repeating or formatting text is not allowed; use `+`"
    return None
