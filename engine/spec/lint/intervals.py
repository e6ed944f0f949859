"""Can two guards hold at once? A small abstract interpretation for NONDETERMINISTIC.

A guard that is a conjunction of comparisons between a name and a literal (or a
parameter's default) constrains each name to an interval, an equality or a set
of excluded values. Two such guards overlap when every name's combined
constraint is satisfiable: names are independent inputs, so the conjunction
then has a witness. Anything else (or, calls, arithmetic on names) is
"unknown": the linter only claims an overlap it can prove.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.spec.expr import dotted

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_NOT_CONST = object()


@dataclass(frozen=True, slots=True)
class Atom:
    name: str
    op: str
    value: Any


def atoms(tree: ast.Expression | None, params: Mapping[str, Any]) -> list[Atom] | None:
    """The guard as a conjunction of atoms, or None when it is not of that shape."""
    if tree is None:
        return None
    out: list[Atom] = []
    return out if _collect(tree.body, params, out) else None


def _collect(node: ast.AST, params: Mapping[str, Any], out: list[Atom]) -> bool:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return all(_collect(v, params, out) for v in node.values)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        if not node.value:
            out.append(Atom("", "==", _NOT_CONST))  # `False`: never holds
        return True
    name = _name(node)
    if name:
        out.append(Atom(name, "==", True))
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and _name(node.operand):
        out.append(Atom(_name(node.operand) or "", "==", False))
        return True
    if isinstance(node, ast.Compare):
        return _compare(node, params, out)
    return False


def _compare(node: ast.Compare, params: Mapping[str, Any], out: list[Atom]) -> bool:
    left = node.left
    for op, right in zip(node.ops, node.comparators, strict=True):
        sym = _OPS.get(type(op))
        if sym is None:
            return False
        ln, rn = _name(left), _name(right)
        lv, rv = _value(left, params), _value(right, params)
        if ln and rv is not _NOT_CONST:
            out.append(Atom(ln, sym, rv))
        elif rn and lv is not _NOT_CONST:
            out.append(Atom(rn, _FLIP[sym], lv))
        else:
            return False
        left = right
    return True


def _name(node: ast.AST) -> str | None:
    path = dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
    return path if path and not path.startswith("params.") and path not in ("True", "False", "None") else None


def _value(node: ast.AST, params: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _value(node.operand, params)
        return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else _NOT_CONST
    path = dotted(node) if isinstance(node, ast.Attribute) else None
    if path and path.startswith("params.") and path.count(".") == 1:
        return params.get(path.split(".")[1], _NOT_CONST)
    return _NOT_CONST


@dataclass
class _Range:
    lo: float = -math.inf
    lo_in: bool = False
    hi: float = math.inf
    hi_in: bool = False
    eq: list[Any] = field(default_factory=list)
    ne: list[Any] = field(default_factory=list)


def witness(conj: list[Atom], integers: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """A value per name satisfying every atom, or None when there is none (or it is unknowable)."""
    ranges: dict[str, _Range] = {}
    for a in conj:
        if a.value is _NOT_CONST:
            return None
        r = ranges.setdefault(a.name, _Range())
        if not _narrow(r, a):
            return None
    out: dict[str, Any] = {}
    for name, r in ranges.items():
        v = _pick(r, name in integers)
        if v is _NOT_CONST:
            return None
        out[name] = v
    return out


def _narrow(r: _Range, a: Atom) -> bool:
    if a.op == "==":
        r.eq.append(a.value)
    elif a.op == "!=":
        r.ne.append(a.value)
    elif not _number(a.value):
        return False
    elif a.op in (">", ">="):
        if a.value > r.lo or (a.value == r.lo and a.op == ">"):
            r.lo, r.lo_in = float(a.value), a.op == ">="
    elif a.value < r.hi or (a.value == r.hi and a.op == "<"):
        r.hi, r.hi_in = float(a.value), a.op == "<="
    return True


def _pick(r: _Range, integer: bool) -> Any:
    if r.eq:
        v = r.eq[0]
        if any(not _same(v, e) for e in r.eq[1:]) or any(_same(v, n) for n in r.ne):
            return _NOT_CONST
        if (r.lo != -math.inf or r.hi != math.inf) and not (_number(v) and _inside(r, float(v))):
            return _NOT_CONST
        return v
    lo, hi = (_int_bounds(r) if integer else (r.lo, r.hi))
    if lo > hi or (not integer and lo == hi and not (r.lo_in and r.hi_in)):
        return _NOT_CONST
    tries = len(r.ne) + 1  # n excluded values cannot rule out n + 1 distinct candidates
    if math.isfinite(lo) and math.isfinite(hi):
        start, step = (lo, 1.0) if integer else ((lo + hi) / 2, (hi - lo) / (2 * tries + 2))
    elif math.isfinite(lo):
        start, step = (lo if integer or r.lo_in else lo + 1), 1.0
    elif math.isfinite(hi):
        start, step = (hi if integer or r.hi_in else hi - 1), -1.0
    else:
        start, step = 0.0, 1.0
    for k in range(tries):
        c = start + k * step
        if lo <= c <= hi and (integer or _inside(r, c)) and not any(_same(c, n) for n in r.ne):
            return int(c) if integer else c
    return _NOT_CONST


def _int_bounds(r: _Range) -> tuple[float, float]:
    lo = r.lo if not math.isfinite(r.lo) else math.ceil(r.lo) + (1 if math.ceil(r.lo) == r.lo and not r.lo_in else 0)
    hi = r.hi if not math.isfinite(r.hi) else math.floor(r.hi) - (1 if math.floor(r.hi) == r.hi and not r.hi_in else 0)
    return lo, hi


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _inside(r: _Range, v: float) -> bool:
    above = v > r.lo or (v == r.lo and r.lo_in)
    below = v < r.hi or (v == r.hi and r.hi_in)
    return above and below


def _same(a: Any, b: Any) -> bool:
    if _number(a) and _number(b):
        return float(a) == float(b)
    return type(a) is type(b) and a == b
