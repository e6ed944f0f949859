"""Guards over many samples at once: which of the next N bars could fire a transition.

A host that re-sends a measurement on every bar (the book's P&L to the kill
machine, the mark price to each bracket) may skip the bars on which no guard
could pass. `VectorGuard` evaluates one guard over numpy arrays of the event's
payload and inputs, with the instance's ctx and the machine's params as
scalars. It is conservative by construction: anything it cannot evaluate
exactly (a registered guard function, `in`, a floating-point error, a
non-boolean operand of `and`) answers "maybe" for every sample, so the host
steps those bars one by one and the scalar guard decides. It never answers
"no" where the scalar guard would fire or raise.
"""
from __future__ import annotations

import ast
from typing import Any, Callable, Mapping

import numpy as np

from engine.runtime.compiled import Candidate, Fields


class Unvectorizable(Exception):
    """The expression (or these operands) cannot be evaluated exactly over arrays."""


def _truth(x: Any) -> Any:
    """A bool array, or a Python bool for a scalar."""
    if isinstance(x, np.ndarray):
        if x.dtype == bool:
            return x
        if x.dtype.kind in "iuf":
            return x != 0  # NaN is truthy, as bool(float("nan")) is
        raise Unvectorizable(f"truth value of a {x.dtype} array")
    return bool(x)


def _and(first: Any, *rest: Callable[[], Any]) -> Any:
    """Operands after the first come as thunks: a scalar False ends it, as in Python (later
    operands are not evaluated, so cannot raise); a scalar True leaves the rest as it is."""
    out = _truth(first)
    for thunk in rest:
        if out is False:
            return False
        nxt = _truth(thunk())
        if nxt is False:
            return False
        if nxt is not True:
            out = nxt if out is True else np.logical_and(out, nxt)
    return out


def _or(first: Any, *rest: Callable[[], Any]) -> Any:
    out = _truth(first)
    for thunk in rest:
        if out is True:
            return True
        nxt = _truth(thunk())
        if nxt is True:
            return True
        if nxt is not False:
            out = nxt if out is False else np.logical_or(out, nxt)
    return out


def _not(x: Any) -> Any:
    t = _truth(x)
    return np.logical_not(t) if isinstance(t, np.ndarray) else not t


def _scalar_only(op: str):
    def check(a: Any, b: Any) -> Any:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            raise Unvectorizable(f"`{op}` over arrays")
        return {"in": lambda: a in b, "not in": lambda: a not in b,
                "is": lambda: a is b, "is not": lambda: a is not b}[op]()
    return check


def _where(c: Any, a: Any, b: Any) -> Any:
    return np.where(_truth(c), a, b)


def _min(*xs: Any) -> Any:
    """Python's min, elementwise: the first operand unless a later one is smaller (NaN included)."""
    if len(xs) < 2:
        raise Unvectorizable("min() of one iterable")
    out = xs[0]
    for x in xs[1:]:
        out = np.where(x < out, x, out)
    return out


def _max(*xs: Any) -> Any:
    if len(xs) < 2:
        raise Unvectorizable("max() of one iterable")
    out = xs[0]
    for x in xs[1:]:
        out = np.where(x > out, x, out)
    return out


_HELPERS: dict[str, Any] = {"__builtins__": {}, "_and": _and, "_or": _or, "_not": _not, "_where": _where,
                            "_in": _scalar_only("in"), "_not_in": _scalar_only("not in"),
                            "_is": _scalar_only("is"), "_is_not": _scalar_only("is not"),
                            "abs": np.abs, "min": _min, "max": _max}
_CMP = {ast.In: "_in", ast.NotIn: "_not_in", ast.Is: "_is", ast.IsNot: "_is_not"}


class _Rewrite(ast.NodeTransformer):
    """Python's short-circuit and truthiness -> elementwise helpers."""

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        first, *rest = node.values
        return _call("_and" if isinstance(node.op, ast.And) else "_or", [first, *map(_thunk, rest)])

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        return _call("_not", [node.operand]) if isinstance(node.op, ast.Not) else node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        return _call("_where", [node.test, node.body, node.orelse])

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators):
            helper = _CMP.get(type(op))
            parts.append(_call(helper, [left, right]) if helper else ast.Compare(left, [op], [right]))
            left = right
        return parts[0] if len(parts) == 1 else _call("_and", [parts[0], *map(_thunk, parts[1:])])

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not (isinstance(node.func, ast.Name) and node.func.id in ("abs", "min", "max")) or node.keywords:
            raise Unvectorizable(f"call to `{ast.unparse(node.func)}`")
        self.generic_visit(node)
        return node


def _thunk(node: ast.expr) -> ast.Lambda:
    args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
    return ast.Lambda(args, node)


def _call(name: str, args: list[ast.expr]) -> ast.Call:
    return ast.Call(ast.Name(name, ast.Load()), list(args), [])


def _check_boolean_context(tree: ast.Expression) -> None:
    """`and`/`or`/`not` yield booleans here, operands in Python: only allow them where that is the same."""
    parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    for node in ast.walk(tree):
        boolean = isinstance(node, ast.BoolOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))
        if boolean and not _in_boolean_slot(node, parents.get(node)):
            raise Unvectorizable("`and`/`or`/`not` used as a value")


def _in_boolean_slot(node: ast.AST, parent: ast.AST | None) -> bool:
    if isinstance(parent, (ast.Expression, ast.BoolOp)):
        return True
    if isinstance(parent, ast.UnaryOp):
        return isinstance(parent.op, ast.Not)
    return isinstance(parent, ast.IfExp) and parent.test is node


class VectorGuard:
    """One candidate's guard, compiled once for array evaluation (`None`: always maybe)."""

    __slots__ = ("source", "code")

    def __init__(self, source: str):
        self.source = source
        try:
            tree = ast.parse(source.strip(), mode="eval")
            _check_boolean_context(tree)
            tree = ast.fix_missing_locations(_Rewrite().visit(tree))
            self.code = compile(tree, f"<vector {source!r}>", "eval")
        except (Unvectorizable, SyntaxError):
            self.code = None

    def maybe(self, n: int, params: Any, ctx: Mapping[str, Any], payload: Mapping[str, Any],
              inputs: Mapping[str, Any]) -> np.ndarray:
        """Per sample: could the scalar guard be true (or raise) there? Arrays in payload/inputs have length n."""
        with np.errstate(all="raise"):
            out = self.truth(guard_env(params, ctx, payload, inputs))
        if isinstance(out, np.ndarray):
            if out.shape == (n,):
                return out
            if out.size != 1:
                return np.ones(n, dtype=bool)
        return np.ones(n, dtype=bool) if out is None else np.full(n, bool(out))

    def truth(self, env: dict[str, Any]) -> Any:
        """The guard over `guard_env`'s arrays, under the caller's `np.errstate(all="raise")`:
        a bool array, a bool for every sample, or None where it cannot tell (maybe everywhere)."""
        if self.code is None:
            return None
        try:
            return _truth(eval(self.code, env))  # noqa: S307 - rewritten from a checked AST
        except Exception:  # noqa: BLE001 - a scalar guard may raise there: let it decide bar by bar
            return None


def guard_env(params: Any, ctx: Mapping[str, Any], payload: Mapping[str, Any],
              inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What a guard reads, built once for all of an event's candidates: the thunks see it as globals."""
    env = {k: _Fields(v) if isinstance(v, Mapping) else v for k, v in inputs.items()}
    env.update(_HELPERS)
    env["params"] = params
    env["ctx"] = Fields(ctx)  # a copy: nothing assigns while a screen reads it
    env["event"] = _Fields(payload)
    return env


class _Fields:
    """A mapping's fields as attributes, arrays included (View would check each for Mapping on every read)."""

    def __init__(self, d: Mapping[str, Any]):
        self.__dict__.update({k: v if type(v) is np.ndarray else _Fields(v) if isinstance(v, Mapping) else v
                              for k, v in d.items()})

    def __getattr__(self, name: str) -> Any:  # only reached for a field the mapping lacks
        raise AttributeError(f"no field `{name}`")


class SampledEvent:
    """Screens one sampled event of one machine: the first sample at which a transition could fire."""

    def __init__(self) -> None:
        self._guards: dict[int, VectorGuard] = {}  # by id(Candidate): bound machines live for the run

    def first(self, cands: tuple[Candidate, ...], n: int, params: Any, ctx: Mapping[str, Any],
              payload: Mapping[str, Any], inputs: Mapping[str, Any]) -> int:
        """Index of the first sample where any candidate could fire; n when none can. Each
        candidate is evaluated over the samples before the earliest found so far."""
        first, env = n, None
        with np.errstate(all="raise"):
            for cand in cands:
                if cand.guard is None:
                    return 0
                vg = self._guards.get(id(cand))
                if vg is None:
                    vg = self._guards[id(cand)] = VectorGuard(cand.guard_src)
                if vg.code is None:
                    return 0
                if first < n:
                    payload, inputs, n, env = _head(payload, first), _head(inputs, first), first, None
                if env is None:
                    env = guard_env(params, ctx, payload, inputs)
                first = min(first, _first_true(vg.truth(env), n))
                if first == 0:
                    return 0
        return first


def _first_true(out: Any, n: int) -> int:
    """The first sample where `VectorGuard.truth`'s answer may hold; n when none."""
    if isinstance(out, np.ndarray):
        if out.shape != (n,):
            return 0 if out.size != 1 or out.any() else n
        k = int(out.argmax())
        return k if out[k] else n
    return n if out is False else 0


def _head(tree: Mapping[str, Any], n: int) -> dict[str, Any]:
    """The first n samples of every array in a (nested) mapping."""
    return {k: _head(v, n) if isinstance(v, Mapping) else v[:n] if isinstance(v, np.ndarray) else v
            for k, v in tree.items()}
