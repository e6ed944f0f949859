"""`never_widens`: a search for a transition that loosens a value the spec says only tightens.

Whether a guard lets through only tighter values is a question about guard meaning, which
no graph check answers (the stop a looser trailing guard widens passes every other rule).
So the linter searches: it draws the values the expressions read (context, payload,
parameters within their bounds, inputs), lets the interpreter's selection order pick the
transition that would run, applies its `assign`s, and asks the check's `tighter`
expression of the old and new value. A counterexample is proof; finding none is not,
so the draws favour boundaries (ties, values a hair apart, zero). The seed is fixed:
the same specs give the same verdict.
"""
from __future__ import annotations

import ast
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from engine.spec.expr import BUILTINS, Scope, analyse, compile_expr, ns
from engine.spec.ir import NUMBER_TYPES, ActionRef, Check, Expr, Machine, Transition
from engine.spec.lint._base import diag
from engine.spec.lint._context import parsed

if TYPE_CHECKING:
    from engine.diagnostics import Diagnostic
    from engine.spec.lint._context import Context
    from engine.spec.lint._index import MachineIndex

# checks._can_run: the transitions that may run on an event in a leaf, each with the actions it runs
CanRun = Callable[["MachineIndex", str, str], Iterator[tuple[Transition, tuple[ActionRef, ...]]]]
Candidate = tuple[Transition, tuple[ActionRef, ...]]  # a transition and the assigns it runs
DRAWS = 400  # per state and event; a loosened guard is found in the first few dozen
_SEED = 20260101


@dataclass(frozen=True)
class _Run:
    """What one event does in one state: the transitions the interpreter may select, in its order,
    each with the `assign`s it runs (the states' it leaves, its own, the states' it enters)."""

    event: str
    leaf: str
    candidates: tuple[Candidate, ...]


def check(cx: Context, ix: MachineIndex, c: Check, can_run: CanRun) -> Iterator[Diagnostic]:
    """`can_run(ix, leaf, event)` is the checks module's selection order and the actions each
    transition runs, shared with must_act."""
    m, (name,) = ix.m, c.args
    states = [s for s in c.source if s in m.states]
    if name not in m.context:
        yield diag(cx.sources.find(c.pos, "field", name), "CHECK_NEVER_WIDENS",
                   f"`never_widens` names `{name}`, which is not declared under `context`",
                   "name the context variable the transitions `assign`, e.g. `field: stop`")
        return
    if c.tighter is None or len(states) < len(c.source):
        return  # UNRESOLVED_STATE
    tighter = _compile_tighter(m, c, cx.guards)
    if isinstance(tighter, str):
        yield diag(c.tighter.pos, "CHECK_NEVER_WIDENS", f"the check's `tighter` cannot be evaluated: {tighter}",
                   "write it over `old`, `new`, `ctx.NAME` and `params.NAME`, e.g. "
                   "`new >= old if ctx.side == 'buy' else new <= old`")
        return
    rng, seen, reported = random.Random(_SEED), set(), set()
    strings, tighter_reads = _strings([c.tighter]), _attr_reads(c.tighter.source)
    for run in _runs(ix, c, states, can_run):
        key = tuple((t.index, tuple(map(id, assigns))) for t, assigns in run.candidates)
        if key in seen:
            continue
        seen.add(key)
        try:
            found = _search(m, run, name, (tighter, tighter_reads), cx.guards, strings, rng)
        except _TighterFailed as e:
            yield diag(c.tighter.pos, "CHECK_NEVER_WIDENS", f"the check's `tighter` cannot be evaluated: {e}",
                       "it must give true or false for every value the field and context can take: guard "
                       "what it cannot take (a zero divisor, a type) inside the expression")
            return
        if found is not None and found[0].index not in reported:
            t, shown, new = found
            reported.add(t.index)
            where = t.guard.pos if t.guard is not None else t.pos
            yield diag(where, "CHECK_NEVER_WIDENS",
                       f"transition #{t.index} on `{run.event}` in `{run.leaf}` can widen `{name}`: with {shown} "
                       f"it sets {name} to {_num(new)} (the check's `{c.tighter.source}` is false)",
                       f"tighten its guard to let through only values that keep `{c.tighter.source}` true, or "
                       f"put a transition that refuses a widening ahead of it (a lower priority); an event that "
                       f"sets `{name}` to what the venue holds belongs in the check's `exempt`",
                       path=ix.path_to(run.leaf))


def _compile_tighter(m: Machine, c: Check, guards: frozenset[str]) -> Any:
    """The compiled `tighter`, or why it cannot be evaluated."""
    machine = m.expr_roots(None)
    scope = Scope({"old": None, "new": None, "params": machine["params"], "ctx": machine["ctx"]}, guards)
    problems, _, _ = analyse(c.tighter.source, scope)
    return problems[0].message if problems else compile_expr(c.tighter.source, scope)


def _runs(ix: MachineIndex, c: Check, states: list[str], can_run: CanRun) -> Iterator[_Run]:
    leaves = sorted(frozenset().union(*(ix.descendant_leaves(s) for s in states)), key=ix.leaves.index)
    field = c.args[0]
    for leaf in leaves:
        if ix.is_final(leaf):
            continue
        for event in ix.m.events:
            if event in c.exempt:
                continue
            cands = tuple((t, tuple(a for a in runs if a.name == "assign")) for t, runs in can_run(ix, leaf, event))
            if any(field in a.args for _, assigns in cands for a in assigns):
                yield _Run(event, leaf, cands)


class _TighterFailed(Exception):
    """The check's `tighter` raised on a draw: it proves nothing there, and says so."""


def _search(m: Machine, run: _Run, field: str, check: tuple[Any, set[str]], guards: frozenset[str],
            strings: tuple[str, ...], rng: random.Random) -> tuple[Transition, str, Any] | None:
    """The first draw under which the selected transition widens `field`: it, the values its
    expressions and the tighter read, and the value it sets. `check`: the tighter and the context
    it reads, drawn too (a side-blind guard on `ctx.side`, which only the tighter reads, was tried
    on its default alone); `strings`: the tighter's own string literals."""
    tighter, tighter_reads = check
    roots = m.expr_roots(run.event)
    scope = Scope(roots, guards)
    exprs = [e for cand in run.candidates for e in _exprs(cand)]
    if any(analyse(e.source, scope)[0] for e in exprs):
        return None  # nothing to prove until the expressions are right (lint EXPR_* says what is wrong)
    reads = _reads(exprs, scope) | tighter_reads
    codes = {id(e): compile_expr(e.source, scope) for e in exprs}
    found = {*_strings(exprs), *strings}
    strings = tuple(sorted(found if len(found) > 1 else found | {_OTHER}))
    stubs = {g: (lambda *a, **k: rng.random() < 0.5) for g in guards}
    for _ in range(DRAWS):
        values = _draw(m, roots, reads | {f"ctx.{field}"}, strings, rng)
        env = {**BUILTINS, **stubs, **{root: ns(v) for root, v in values.items()}}
        chosen = _selected(run, codes, env)
        if chosen is None:
            continue
        t, assigns = chosen
        new = _applied(assigns, codes, env, dict(values["ctx"]), field)
        if new is _UNSET:
            continue
        try:
            verdict = tighter({**BUILTINS, **stubs, "old": values["ctx"][field], "new": new,
                               "ctx": ns(values["ctx"]), "params": ns(values["params"])})
        except Exception as e:  # noqa: BLE001 - reported: a check that cannot judge a draw must say so
            shown = _shown(values, _reads(_exprs(chosen), scope) | tighter_reads | {f"ctx.{field}"})
            raise _TighterFailed(f"{type(e).__name__}: {e} (with {shown}, new={_num(new)})") from None
        if not verdict:
            return t, _shown(values, _reads(_exprs(chosen), scope) | tighter_reads | {f"ctx.{field}"}), new
    return None


_UNSET = object()


def _exprs(cand: Candidate) -> list[Expr]:
    """A transition's guard and the right-hand sides of its assigns."""
    t, assigns = cand
    return ([t.guard] if t.guard else []) + [v for a in assigns for v in a.args.values()]


def _selected(run: _Run, codes: Mapping[int, Any], env: dict[str, Any]) -> Candidate | None:
    """The transition the interpreter runs on this draw: the first whose guard holds."""
    for t, assigns in run.candidates:
        if t.guard is None or _eval(codes[id(t.guard)], env):
            return t, assigns
    return None


def _applied(assigns: tuple[ActionRef, ...], codes: Mapping[int, Any], env: dict[str, Any],
             ctx: dict[str, Any], field: str) -> Any:
    """`field` after the assigns (each sees ctx as its action began), or _UNSET."""
    if not any(field in a.args for a in assigns):
        return _UNSET
    for a in assigns:
        new = {k: _eval(codes[id(v)], env) for k, v in a.args.items()}
        if any(v is None for v in new.values()):
            return _UNSET  # an expression that cannot be evaluated on this draw
        ctx.update(new)
        env = {**env, "ctx": ns(ctx)}
    return ctx[field]


def _eval(code: Any, env: Mapping[str, Any]) -> Any:
    try:
        return code(env)
    except Exception:  # noqa: BLE001 - a draw the expression cannot take (a type it refuses) proves nothing
        return None


def _reads(exprs: list[Expr], scope: Scope) -> set[str]:
    return {r for e in exprs for r in analyse(e.source, scope)[1]}


# A `str` value no expression names, drawn where they name one value or none: the `else` of
# `ctx.side == 'buy'` must be tried too (a short's branch written only as that else). Where they
# name two or more, each is the others' else.
_OTHER = "(another value)"


def _attr_reads(source: str) -> set[str]:
    """The `ctx.x` and `params.x` a tighter reads (it is evaluated with old, new, ctx and params)."""
    tree = parsed(source)
    return set() if tree is None else {f"{n.value.id}.{n.attr}" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                                      and isinstance(n.value, ast.Name) and n.value.id in ("ctx", "params")}


def _strings(exprs: list[Expr]) -> tuple[str, ...]:
    """The string literals the expressions compare with: the values a `str` field is drawn from."""
    trees = [t for e in exprs if (t := parsed(e.source)) is not None]  # (all parse: _search checked them)
    return tuple(n.value for t in trees for n in ast.walk(t) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _draw(m: Machine, roots: Mapping[str, Any], reads: set[str], strings: tuple[str, ...],
          rng: random.Random) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {"ctx": {v.name: v.default for v in m.context.values()},
                                         "params": {p.name: p.default for p in m.params.values()}}
    pool: list[float] = []
    for path in sorted(reads):
        root, _, rest = path.partition(".")
        name = rest.split(".")[0]
        if not name or roots.get(root) is None:
            continue
        kind = roots[root].get(name)
        param = m.params.get(name) if root == "params" else None
        values.setdefault(root, {})[name] = _value(kind, param, strings, pool, rng)
    return values


def _value(kind: str | None, param: Any, strings: tuple[str, ...], pool: list[float], rng: random.Random) -> Any:
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "str":
        return rng.choice(strings)
    if kind not in NUMBER_TYPES:
        return param.default if param is not None else None
    if param is not None and (kind == "duration" or rng.random() < 0.5):
        return param.default
    x = _number(param, pool, rng)
    if kind == "int":
        x = float(round(x))
    pool.append(x)
    return int(x) if kind == "int" else x


def _number(param: Any, pool: list[float], rng: random.Random) -> float:
    """A value near the others drawn (a tie, a hair either side) or a fresh one; a parameter's
    within its bounds."""
    if param is not None:
        lo = param.min if param.min is not None else 0.0
        hi = param.max if param.max is not None else max(lo + 10.0, 3.0 * float(param.default or 0.0))
        return rng.choice((lo, hi, rng.uniform(lo, hi)))
    roll = rng.random()
    if pool and roll < 0.3:
        return rng.choice(pool)
    if pool and roll < 0.5:
        return rng.choice(pool) + rng.choice((-1.0, 1.0)) * 10.0 ** rng.randint(-6, 0)
    if roll < 0.55:
        return 0.0
    return round(rng.uniform(0.0, 100.0), 2)


def _shown(values: Mapping[str, Mapping[str, Any]], used: set[str]) -> str:
    parts = []
    for path in sorted(used):
        root, _, name = path.partition(".")
        v = values.get(root, {}).get(name.split(".")[0])
        parts.append(f"{root}.{name}={_num(v)}")
    return ", ".join(parts)


def _num(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.10g}"
    return repr(v)
