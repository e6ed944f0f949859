"""Guards over many samples at once: which of the next N bars could fire a transition.

A host that re-sends a measurement on every bar (the book's P&L to the kill
machine, the mark price to each bracket) may skip the bars on which no guard
could pass. `VectorGuard` evaluates one guard over numpy arrays of the event's
payload and inputs, with the instance's ctx and the machine's params as
scalars. It is conservative by construction: anything it cannot evaluate
exactly (a registered guard function, `in`, a floating-point error where
Python's float would raise, a non-boolean operand of `and`) answers "maybe"
for every sample, so the host steps those bars one by one and the scalar guard
decides. It never answers "no" where the scalar guard would fire or raise.

A guard whose truth only rises with the fields that vary (`pnl.drawdown >=
params.max_drawdown`) can also be checked once, with scalars, at upper bounds
of those fields (`SampledEvent.none_below`): false there, it is false at every
sample below them, and the host needs no per-sample arrays at all. A point
proven so is kept: while nothing fixed the guards read moves, bounds under it
need no evaluation.

Any vectorizable guard can be checked on intervals too (`SampledEvent.none_within`):
the same rewritten code runs once over `_Interval`s [min, max] of each varying
field, with three-valued comparisons. Rounding to nearest is monotone, so the
endpoints, computed with the very float operations a sample would use, bound
every sample's value; a guard false on the intervals is false at every sample.
Only +, -, * (which never raise on floats), abs, min, max and comparisons take
an interval, and only finite ends are kept (a sample at inf could make NaN of
inf - inf, which the ends would not show); anything else answers "cannot tell".
"""
from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any, Callable

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


def _fold(short: bool, combine: Callable[[Any, Any], Any], first: Any, rest: tuple[Callable[[], Any], ...]) -> Any:
    """Python's `and` (short=False) or `or` (short=True) over arrays. Operands after the first
    come as thunks: a scalar `short` ends it, as in Python (later operands are not evaluated, so
    cannot raise); the other scalar leaves the rest as it is."""
    out = _truth(first)
    for thunk in rest:
        if out is short:
            return short
        nxt = _truth(thunk())
        if nxt is short:
            return short
        if nxt is not (not short):
            out = nxt if out is (not short) else combine(out, nxt)
    return out


def _and(first: Any, *rest: Callable[[], Any]) -> Any:
    return _fold(False, np.logical_and, first, rest)


def _or(first: Any, *rest: Callable[[], Any]) -> Any:
    return _fold(True, np.logical_or, first, rest)


def _not(x: Any) -> Any:
    t = _truth(x)
    return np.logical_not(t) if isinstance(t, np.ndarray) else not t


def _scalar_only(op: str) -> Callable[[Any, Any], Any]:
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


def _all(*xs: Any) -> bool:
    """`and` with every operand evaluated (see _Eager); scalars only."""
    return all([_scalar_truth(x) for x in xs])


def _any(*xs: Any) -> bool:
    return any([_scalar_truth(x) for x in xs])


def _scalar_truth(x: Any) -> bool:
    if isinstance(x, np.ndarray) and x.size != 1:
        raise Unvectorizable("an array where a bound check needs a scalar")
    return bool(_truth(x))


# Guards run as if in this module (their globals' __name__), so that one filter keeps numpy's
# warnings about inf and NaN in arithmetic, which Python's floats give silently, off stderr.
_GUARDS = __name__ + ".guards"
warnings.filterwarnings("ignore", category=RuntimeWarning, module=re.escape(_GUARDS) + "$")

def _nonzero(divisor: Any) -> Any:
    """The divisor, unless some sample's is zero: Python's x / 0, x // 0 and x % 0 raise
    whatever x is, while numpy's NaN / 0 sets no flag np.errstate could turn into an error."""
    if type(divisor) is np.ndarray:
        zero = bool((divisor == 0).any())
    elif isinstance(divisor, _NUMBER):
        zero = divisor == 0
    else:
        raise Unvectorizable(f"a division by a {type(divisor).__name__}")
    if zero:
        raise ZeroDivisionError("division by zero at some sample")
    return divisor


_HELPERS: dict[str, Any] = {"__builtins__": {}, "__name__": _GUARDS, "_nonzero": _nonzero,
                            "_and": _and, "_or": _or, "_not": _not, "_where": _where, "_all": _all, "_any": _any,
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
        for op, right in zip(node.ops, node.comparators, strict=True):
            helper = _CMP.get(type(op))
            parts.append(_call(helper, [left, right]) if helper else ast.Compare(left, [op], [right]))
            left = right
        return parts[0] if len(parts) == 1 else _call("_and", [parts[0], *map(_thunk, parts[1:])])

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, _BY_ZERO):
            node.right = _call("_nonzero", [node.right])
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not (isinstance(node.func, ast.Name) and node.func.id in ("abs", "min", "max")) or node.keywords:
            raise Unvectorizable(f"call to `{ast.unparse(node.func)}`")
        self.generic_visit(node)
        return node


class _Eager(_Rewrite):
    """For `VectorGuard.false_below`: an `and`/`or` over fields that vary evaluates every
    operand, so that a clean answer at the bounds means every operand a sample could
    evaluate has been evaluated (the fixed ones to the same values) without raising."""

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        if not _varies(node):
            return super().visit_BoolOp(node)
        self.generic_visit(node)
        return _call("_all" if isinstance(node.op, ast.And) else "_any", node.values)


_FIXED = frozenset({"params", "ctx"})  # the same for every sample; the event's and the inputs' fields vary


def _varies(node: ast.AST) -> bool:
    funcs = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return any(isinstance(n, ast.Name) and n.id not in _FIXED and id(n) not in funcs for n in ast.walk(node))


def _rising(node: ast.AST) -> bool:
    """Does the truth only rise with every field that varies: `and`/`or` over `field >= fixed`
    (`>`, or mirrored) and fixed expressions? Then false at upper bounds of the fields, it is
    false at every sample below them."""
    if not _varies(node):
        return True
    if isinstance(node, ast.BoolOp):
        return all(_rising(v) for v in node.values)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if isinstance(op, (ast.Gt, ast.GtE)):
            return _is_field(left) and not _varies(right)
        if isinstance(op, (ast.Lt, ast.LtE)):
            return _is_field(right) and not _varies(left)
    return False


def _ctx_reads(tree: ast.AST) -> tuple[str, ...] | None:
    """The names of `ctx.NAME` the expression reads; None if it reads ctx otherwise, or
    compares identities (`is`: equal values need not be the same object)."""
    nodes = list(ast.walk(tree))
    if any(isinstance(n, (ast.Is, ast.IsNot)) for n in nodes):
        return None
    fields = {id(n.value): n.attr for n in nodes if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    names = set()
    for n in nodes:
        if isinstance(n, ast.Name) and n.id == "ctx":
            if id(n) not in fields:
                return None
            names.add(fields[id(n)])
    return tuple(sorted(names))


def _is_field(node: ast.AST) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


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


# Operators whose Python float form raises (ZeroDivisionError, OverflowError): over arrays they
# run under np.errstate(all="raise"), so that numpy raises too. The others (+, -, *, comparisons,
# abs, min, max) give numpy what Python gives, inf and NaN included, and run without errstate:
# ufuncs under any errstate context cost about twice as much (numpy 2).
_RAISING = (ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_BY_ZERO = (ast.Div, ast.FloorDiv, ast.Mod)  # their divisor also goes through _nonzero (NaN / 0)


class VectorGuard:
    """One candidate's guard, compiled once for array evaluation (`code` None: always maybe),
    and once more for checks at upper bounds (`bound_code` None: the guard is not `_rising`).
    `strict`: it must run under np.errstate(all="raise") (see _RAISING)."""

    __slots__ = ("source", "code", "bound_code", "strict", "ctx_reads")

    def __init__(self, source: str):
        self.source = source
        self.code = self.bound_code = None
        self.strict = True
        self.ctx_reads: tuple[str, ...] | None = None  # the ctx fields it reads (None: not only fields)
        try:
            tree = ast.parse(source.strip(), mode="eval")
            self.ctx_reads = _ctx_reads(tree)
            _check_boolean_context(tree)
            rising = _rising(tree.body)
            self.strict = any(isinstance(n, ast.BinOp) and isinstance(n.op, _RAISING) for n in ast.walk(tree))
            self.code = compile(ast.fix_missing_locations(_Rewrite().visit(tree)), f"<vector {source!r}>", "eval")
            if rising:
                tree = ast.fix_missing_locations(_Eager().visit(ast.parse(source.strip(), mode="eval")))
                self.bound_code = compile(tree, f"<bound {source!r}>", "eval")
        except (Unvectorizable, SyntaxError):
            pass

    def false_below(self, env: dict[str, Any]) -> bool:
        """Is the guard false at every sample whose varying fields are at most env's (scalars)?
        Only a rising guard that evaluates there cleanly to False says so."""
        if self.bound_code is None:
            return False
        try:
            return _scalar_truth(eval(self.bound_code, env)) is False  # noqa: S307 - from a checked AST
        except Exception:  # noqa: BLE001 - it cannot tell
            return False

    def maybe(self, n: int, params: Any, ctx: Mapping[str, Any], payload: Mapping[str, Any],
              inputs: Mapping[str, Any]) -> np.ndarray:
        """Per sample: could the scalar guard be true (or raise) there? Arrays in payload/inputs have length n."""
        with np.errstate(all="raise") if self.strict else nullcontext():
            out = self.truth(guard_env(params, ctx, payload, inputs))
        if isinstance(out, np.ndarray):
            if out.shape == (n,):
                return out
            if out.size != 1:
                return np.ones(n, dtype=bool)
        return np.ones(n, dtype=bool) if out is None else np.full(n, bool(out))

    def truth(self, env: dict[str, Any]) -> Any:
        """The guard over `guard_env`'s arrays (under np.errstate(all="raise") if `strict`): a
        bool array, a bool for every sample, or None where it cannot tell (maybe everywhere)."""
        if self.code is None:
            return None
        try:
            return _truth(eval(self.code, env))  # noqa: S307 - rewritten from a checked AST
        except Exception:  # noqa: BLE001 - a scalar guard may raise there: let it decide bar by bar
            return None


def guard_env(params: Any, ctx: Mapping[str, Any], payload: Mapping[str, Any],
              inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What a guard reads, built once for all of an event's candidates: the thunks see it as globals."""
    env = {k: _Fields(v) if type(v) is dict or isinstance(v, Mapping) else v for k, v in inputs.items()}
    env.update(_HELPERS)
    env["params"] = params
    env["ctx"] = Fields(ctx)  # a copy: nothing assigns while a screen reads it
    env["event"] = _Fields(payload)
    return env


_PLAIN = frozenset({float, int, bool, str, type(None), np.ndarray, np.float64})


class _Fields:
    """A mapping's fields as attributes, arrays included (View would check each for Mapping on every read)."""

    def __init__(self, d: Mapping[str, Any]):
        self.__dict__.update(d)
        if not _PLAIN.issuperset(map(type, d.values())):  # nested mappings: fields too
            self.__dict__.update({k: _Fields(v) for k, v in d.items() if isinstance(v, Mapping)})

    def __getattr__(self, name: str) -> Any:  # only reached for a field the mapping lacks
        raise AttributeError(f"no field `{name}`")


class SampledEvent:
    """Screens one sampled event of one machine: the first sample at which a transition could fire."""

    def __init__(self) -> None:
        self._guards: dict[int, tuple[Candidate, VectorGuard]] = {}
        self._by_cands: dict[int, tuple[tuple, tuple[VectorGuard, ...] | None]] = {}  # a dispatch table entry's
        # per dispatch table entry: (cands, params, the ctx fields its guards read, a point none_below proved)
        self._proven: dict[int, tuple[tuple, Any, tuple, Mapping[str, Any]]] = {}
        self._interval_env = dict(_INTERVAL_HELPERS)

    def first(self, cands: tuple[Candidate, ...], n: int, params: Any, ctx: Mapping[str, Any],
              payload: Mapping[str, Any], inputs: Mapping[str, Any]) -> int:
        """Index of the first sample where any candidate could fire; n when none can. Each
        candidate is evaluated over the samples before the earliest found so far."""
        guards = self._vectors(cands)
        if guards is None:
            return 0
        if any(vg.strict for vg in guards):
            with np.errstate(all="raise"):
                return _first(guards, n, params, ctx, payload, inputs)
        return _first(guards, n, params, ctx, payload, inputs)

    def _vectors(self, cands: tuple[Candidate, ...]) -> tuple[VectorGuard, ...] | None:
        """The candidates' guards for arrays; None when one has none or cannot be vectorized."""
        got = self._by_cands.get(id(cands))
        if got is None or got[0] is not cands:  # kept alive by the entry, so the id is not reused
            guards = tuple(self._guard(c) for c in cands)
            ok = all(c.guard is not None for c in cands) and all(vg.code is not None for vg in guards)
            got = self._by_cands[id(cands)] = (cands, guards if ok else None)
        return got[1]

    def _guard(self, cand: Candidate) -> VectorGuard:
        got = self._guards.get(id(cand))
        if got is None or got[0] is not cand:
            got = self._guards[id(cand)] = (cand, VectorGuard(cand.guard_src))
        return got[1]

    def none_below(self, cands: tuple[Candidate, ...], params: Any, ctx: Mapping[str, Any],
                   payload: Mapping[str, Any], upper: Mapping[str, Any]) -> bool:
        """True when no candidate can fire at any sample whose event and input fields are at
        most `upper`'s (the same tree, with scalars): one scalar evaluation per guard, where
        `first` needs arrays. False when it cannot tell.

        Params never change once bound; with no payload and the same values of the ctx fields
        the guards read, a point proven before covers every bound under it. A bound above it
        is first tried joined with it (the largest of each field), so that few screens evaluate."""
        got = self._proven.get(id(cands))  # (cands, params, ctx fields read, their values, point)
        if got is not None and got[0] is cands and got[1] is params and not payload:
            key = _ctx_key(got[2], ctx)
            if key is not None and key == got[3]:
                if _under(upper, got[4]):
                    return True
                joined = _join(upper, got[4])
                if joined is not None and self._false_below(cands, params, ctx, payload, joined):
                    self._proven[id(cands)] = (*got[:4], joined)
                    return True
                return self._false_below(cands, params, ctx, payload, upper)
        if any(c.guard is None for c in cands):
            return False
        ok = self._false_below(cands, params, ctx, payload, upper)
        if ok and not payload:
            reads = _reads(tuple(self._guard(c) for c in cands))
            key = None if reads is None else _ctx_key(reads, ctx)
            if key is not None:
                self._proven[id(cands)] = (cands, params, reads, key, upper)
        return ok

    def _false_below(self, cands: tuple[Candidate, ...], params: Any, ctx: Mapping[str, Any],
                     payload: Mapping[str, Any], upper: Mapping[str, Any]) -> bool:
        env = guard_env(params, ctx, payload, upper)
        return all(self._guard(c).false_below(env) for c in cands)

    def none_within(self, cands: tuple[Candidate, ...], params: Any, ctx: Mapping[str, Any],
                    bounds: Mapping[str, tuple[float, float]]) -> bool:
        """True when no candidate can fire (or raise) at any sample whose event fields lie
        within `bounds` (the lowest and highest sample of each, no inputs): one scalar
        evaluation per guard over intervals. False when it cannot tell; `first` then decides."""
        guards = self._vectors(cands)
        if guards is None:
            return False
        env = self._interval_env  # the guards' globals: only this call reads them
        try:
            env["params"], env["ctx"] = params, Fields(ctx)
            env["event"] = _Event({k: _Interval(lo, hi) for k, (lo, hi) in bounds.items()})
            for vg in guards:
                if eval(vg.code, env) is not False:  # noqa: S307 - from a checked AST
                    return False
            return True
        except Exception:  # noqa: BLE001 - it cannot tell
            return False


def _first(guards: tuple[VectorGuard, ...], n: int, params: Any, ctx: Mapping[str, Any],
           payload: Mapping[str, Any], inputs: Mapping[str, Any]) -> int:
    first, env = n, None
    for vg in guards:
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


_KEYABLE = frozenset({int, float, str, bool, type(None)})  # immutable: equal now means equal later


def _reads(guards: tuple[VectorGuard, ...]) -> tuple[str, ...] | None:
    """The ctx fields the guards read (None: not only fields)."""
    names: list[str] = []
    for vg in guards:
        if vg.ctx_reads is None:
            return None
        names += vg.ctx_reads
    return tuple(dict.fromkeys(names))


def _ctx_key(reads: tuple[str, ...], ctx: Mapping[str, Any]) -> tuple | None:
    """The values of those ctx fields (None: one is not safe to keep: mutable)."""
    values = []
    for name in reads:
        v = ctx.get(name, _Fields)  # a missing field: a marker no ctx holds
        if type(v) not in _KEYABLE and v is not _Fields:
            return None
        values.append((type(v), v))  # 1 == 1.0 == True, yet `in` or `min` may tell them apart
    return tuple(values)


def _under(upper: Mapping[str, Any], point: Mapping[str, Any]) -> bool:
    """Is every number of `upper` at most the same field's in `point` (the same tree)?"""
    if len(upper) != len(point):
        return False
    for k, v in upper.items():
        p = point.get(k, point)  # (a missing key: point itself, which no number is)
        if type(v) in _SCALAR:
            if not (type(p) in _SCALAR and v <= p):  # NaN never passes
                return False
        elif not (_is_mapping(v) and _is_mapping(p) and _under(v, p)):
            return False
    return True


def _is_mapping(x: Any) -> bool:
    return type(x) is dict or isinstance(x, Mapping)  # (the ABC check costs more than the rest)


def _join(upper: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, Any] | None:
    """The largest of each field of two trees of numbers (None: they differ, or hold NaN)."""
    if upper.keys() != point.keys():
        return None
    out = {}
    for k, v in upper.items():
        p = point[k]
        if isinstance(v, Mapping):
            if not isinstance(p, Mapping) or (j := _join(v, p)) is None:
                return None
            out[k] = j
        elif type(v) in (int, float) and type(p) in (int, float) and v == v and p == p:
            out[k] = p if v <= p else v
        else:
            return None
    return out


# -- intervals -------------------------------------------------------------------------
def span(x: np.ndarray) -> tuple[float, float]:
    """The lowest and highest of a float array; NaN ends when it holds a NaN (an interval
    refuses NaN and infinite ends: "cannot tell")."""
    if len(x) > 64:
        return float(np.minimum.reduce(x)), float(np.maximum.reduce(x))
    xs = x.tolist()  # a short one: Python's min and max skip numpy's per-call cost
    total = sum(xs)
    if total != total:  # NaN (or inf - inf: a NaN end either way says "cannot tell")
        return math.nan, math.nan
    return min(xs), max(xs)


class _Event:
    """The event's fields as attributes (no nested mappings here)."""

    def __init__(self, d: Mapping[str, Any]):
        self.__dict__.update(d)

    def __getattr__(self, name: str) -> Any:  # only reached for a field the mapping lacks
        raise AttributeError(f"no field `{name}`")


class _Maybe:
    """A comparison that holds at some samples of its intervals and fails at others."""

    def __bool__(self) -> bool:
        raise Unvectorizable("the truth of a comparison over intervals")

    def __repr__(self) -> str:
        return "maybe"


MAYBE = _Maybe()
_INF = math.inf
_NUMBER = (int, float)  # bool is an int, np.float64 a float: Python's arithmetic either way
_SCALAR = frozenset({float, int})  # exact types: _Interval's short ways (a bool takes the long one)


def _ends(x: Any) -> tuple[Any, Any]:
    if type(x) is _Interval:
        return x.lo, x.hi
    if isinstance(x, _NUMBER):
        return x, x
    raise Unvectorizable(f"a {type(x).__name__} with an interval")


class _Interval:
    """Every value a varying field takes over the samples: [lo, hi], both finite. Each
    operation applies the sample's own float operation to the ends (see the module doc);
    a float or int operand, the usual one, takes the short way."""

    __slots__ = ("lo", "hi")
    __array_ufunc__ = None  # numpy scalars defer to the reflected operations below
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, lo: Any, hi: Any):
        # Finite ends only: then no sample between them is inf, so none is inf - inf or 0 * inf
        # (NaN, which no comparison of the ends would foresee). NaN fails the test too.
        if not -_INF < lo <= hi < _INF:
            raise Unvectorizable("an interval with an infinite or NaN end")
        self.lo, self.hi = lo, hi

    def __add__(self, o: Any) -> "_Interval":
        if type(o) in _SCALAR:
            return _Interval(self.lo + o, self.hi + o)
        a, b = _ends(o)
        return _Interval(self.lo + a, self.hi + b)

    def __radd__(self, o: Any) -> "_Interval":
        a, b = _ends(o)
        return _Interval(a + self.lo, b + self.hi)

    def __sub__(self, o: Any) -> "_Interval":
        if type(o) in _SCALAR:
            return _Interval(self.lo - o, self.hi - o)
        a, b = _ends(o)
        return _Interval(self.lo - b, self.hi - a)

    def __rsub__(self, o: Any) -> "_Interval":
        if type(o) in _SCALAR:
            return _Interval(o - self.hi, o - self.lo)
        a, b = _ends(o)
        return _Interval(a - self.hi, b - self.lo)

    def __mul__(self, o: Any) -> "_Interval":
        if type(o) in _SCALAR:  # a NaN o takes the second way, and its NaN ends raise
            return _Interval(self.lo * o, self.hi * o) if o >= 0 else _Interval(self.hi * o, self.lo * o)
        a, b = _ends(o)
        return _hull(self.lo * a, self.lo * b, self.hi * a, self.hi * b)

    def __rmul__(self, o: Any) -> "_Interval":
        if type(o) in _SCALAR:
            return _Interval(o * self.lo, o * self.hi) if o >= 0 else _Interval(o * self.hi, o * self.lo)
        a, b = _ends(o)
        return _hull(a * self.lo, b * self.lo, a * self.hi, b * self.hi)

    def __neg__(self) -> "_Interval":
        return _Interval(-self.hi, -self.lo)

    def __pos__(self) -> "_Interval":
        return self

    def __ge__(self, o: Any) -> Any:
        a, b = (o, o) if type(o) in _SCALAR else _ends(o)
        return True if self.lo >= b else False if self.hi < a else MAYBE

    def __gt__(self, o: Any) -> Any:
        a, b = (o, o) if type(o) in _SCALAR else _ends(o)
        return True if self.lo > b else False if self.hi <= a else MAYBE

    def __le__(self, o: Any) -> Any:
        a, b = (o, o) if type(o) in _SCALAR else _ends(o)
        return True if self.hi <= a else False if self.lo > b else MAYBE

    def __lt__(self, o: Any) -> Any:
        a, b = (o, o) if type(o) in _SCALAR else _ends(o)
        return True if self.hi < a else False if self.lo >= b else MAYBE

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        a, b = _ends(o)
        return True if self.lo == self.hi == a == b else False if self.hi < a or self.lo > b else MAYBE

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        return _inot(self.__eq__(o))

    def __bool__(self) -> bool:
        raise Unvectorizable("the truth of an interval")


def _hull(a: Any, b: Any, c: Any, d: Any) -> _Interval:
    if not (a == a and b == b and c == c and d == d):  # min() and max() would skip a NaN
        raise Unvectorizable("an interval with a NaN end")
    return _Interval(min(a, b, c, d), max(a, b, c, d))


def _known(x: Any) -> Any:
    """True, False or MAYBE: a truth over every sample."""
    if x is MAYBE:
        return x
    if type(x) is _Interval:
        raise Unvectorizable("the truth of an interval")
    return bool(x)


def _ifold(short: bool, first: Any, rest: tuple[Callable[[], Any], ...]) -> Any:
    """`and` (short=False) or `or` (short=True) over truths that may be MAYBE: an operand at
    `short` decides it for every sample; one at MAYBE leaves later ones to evaluate."""
    out = first if first is MAYBE or first is short or first is (not short) else _known(first)
    for thunk in rest:
        if out is short:
            return short
        nxt = thunk()
        if nxt is not MAYBE:
            nxt = nxt if nxt is True or nxt is False else _known(nxt)
            if nxt is short:
                return short
        else:
            out = MAYBE
    return out


def _iand(first: Any, *rest: Callable[[], Any]) -> Any:
    return _ifold(False, first, rest)


def _ior(first: Any, *rest: Callable[[], Any]) -> Any:
    return _ifold(True, first, rest)


def _inot(x: Any) -> Any:
    t = _known(x)
    return t if t is MAYBE else not t


def _iwhere(c: Any, a: Any, b: Any) -> Any:
    t = _known(c)
    if t is not MAYBE:
        return a if t else b
    if type(a) is _Interval or type(b) is _Interval:
        (a0, a1), (b0, b1) = _ends(a), _ends(b)
        return _hull(a0, a1, b0, b1)
    raise Unvectorizable("either branch of an `if`")


def _iabs(x: Any) -> Any:
    if type(x) is not _Interval:
        return abs(x)
    if x.lo >= 0:
        return x
    return -x if x.hi <= 0 else _Interval(0.0, max(-x.lo, x.hi))


def _iextreme(pick: Callable[..., Any], xs: tuple) -> Any:
    if len(xs) < 2:
        raise Unvectorizable("min()/max() of one iterable")
    if not any(type(x) is _Interval for x in xs):
        return pick(*xs)
    ends = [_ends(x) for x in xs]
    return _Interval(pick(e[0] for e in ends), pick(e[1] for e in ends))


def _fixed_only(op: str) -> Callable[[Any, Any], Any]:
    check = _scalar_only(op)

    def run(a: Any, b: Any) -> Any:
        if type(a) is _Interval or type(b) is _Interval:
            raise Unvectorizable(f"`{op}` over an interval")
        return check(a, b)
    return run


_INTERVAL_HELPERS: dict[str, Any] = {
    "__builtins__": {}, "__name__": _GUARDS, "_nonzero": _nonzero,
    "_and": _iand, "_or": _ior, "_not": _inot, "_where": _iwhere, "_all": _all, "_any": _any,
    "_in": _fixed_only("in"), "_not_in": _fixed_only("not in"), "_is": _fixed_only("is"),
    "_is_not": _fixed_only("is not"),
    "abs": _iabs, "min": lambda *xs: _iextreme(min, xs), "max": lambda *xs: _iextreme(max, xs)}
