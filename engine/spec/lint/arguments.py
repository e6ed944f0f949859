"""Arguments and values match their declarations: a catalogue action gets every declared argument,
no other, each of the declared type; a catalogue guard is called with its declared arguments;
`assign`, and a variable's default, give each ctx variable a value of its declared type. Code
calls an action with its arguments as keywords, and a ctx variable of the wrong type breaks the
next expression that reads it (`'kill: ' + ctx.tripped_by` raises TypeError when
`tripped_by` holds 5), so a mismatch would otherwise surface only mid-run. A value's type is
what declarations tell (engine.spec.lint.inference): a literal's, a declared name's, or what an
expression of them yields; a value whose type they do not tell is not checked."""
from __future__ import annotations

import ast
from typing import Iterator

from engine.diagnostics import Diagnostic, closest
from engine.spec.bounds import Bounds, yaml_word
from engine.spec.durations import duration_problem
from engine.spec.expr import dotted
from engine.spec.ir import ActionRef, CatalogueEntry, Expr, Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import BUILTIN_ACTIONS, Context, expr_pos, parsed
from engine.spec.lint.inference import NUMBERS, Kind, word
from engine.spec.params import param_bounds

# Declared type -> the kinds of value it takes, and a word for messages: a float takes an int,
# none takes true/false.
_ACCEPTS: dict[str, tuple[Kind, str]] = {
    "str": (frozenset({"str"}), "a string"), "bool": (frozenset({"bool"}), "true or false"),
    "int": (frozenset({"int"}), "an integer"), "float": (NUMBERS, "a number"),
    "money": (NUMBERS, "a number"), "fraction": (NUMBERS, "a number"),
}
# How to write a value of a declared type, for hints.
_HOW = {"str": "; text is quoted inside the YAML value, e.g. \"'done'\"",
        "int": "; `//` and `round(x)` give integers", "bool": "; a comparison gives true or false, e.g. `ctx.qty > 0`"}

def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    yield from _check_defaults(cx, m)
    yield from _check_guard_calls(cx, m)
    refs = [(a, t.event) for t in m.transitions for a in t.actions]
    refs += [(a, None) for s in m.states.values() for a in s.entry + s.exit]
    for a, event in refs:
        entry = cx.specset.catalogue.actions.get(a.name)
        if a.name == "assign":
            yield from _check_assign(cx, m, a, event)
        elif entry is not None and a.name not in BUILTIN_ACTIONS:
            yield from _check(cx, m, a, entry, event)


def _declared(entry: CatalogueEntry) -> str:
    return ", ".join(f"{k}: {t}" for k, t in entry.args.items()) or "none"


def _check(cx: Context, m: Machine, a: ActionRef, entry: CatalogueEntry, event: str | None) -> Iterator[Diagnostic]:
    declared = _declared(entry)
    misspelt = set()  # declared names a misspelling stands for: reported once, as the misspelling
    for name, value in a.args.items():
        if name not in entry.args:
            meant = closest(name, [k for k in entry.args if k not in a.args])
            misspelt.add(meant)
            yield diag(cx.sources.find(a.pos, name), "ACTION_ARGS",
                       f"action `{a.name}` has no argument `{name}`",
                       f"did you mean `{meant}`?" if meant else f"its arguments ({entry.pos}): {declared}")
        elif isinstance(value, Expr) and (problem := _type_problem(cx, m, value, event, entry.args[name])):
            yield diag(expr_pos(cx.sources, value, 0), "ACTION_ARGS",
                       f"argument `{name}` of action `{a.name}` {problem}",
                       f"declared as `{entry.args[name]}` at {entry.pos}{_HOW.get(entry.args[name], '')}")
        elif isinstance(value, Expr) and name in entry.bounds:
            yield from _check_bounds(cx, m, a, entry, name, value)
    missing = [k for k in entry.args if k not in a.args and k not in misspelt]
    if missing:
        yield diag(a.pos, "ACTION_ARGS",
                   f"action `{a.name}` is missing argument{'s' * (len(missing) > 1)} "
                   + ", ".join(f"`{k}`" for k in missing),
                   f"write `{a.name}: {{{', '.join(f'{k}: ...' for k in entry.args)}}}`")


def _check_bounds(cx: Context, m: Machine, a: ActionRef, entry: CatalogueEntry, name: str,
                  value: Expr) -> Iterator[Diagnostic]:
    """ARG_BOUNDS: a literal outside the argument's declared bounds, or a bare `params.NAME`
    whose own bounds reach outside them (some value PARAM_BOUNDS lets through would be refused);
    ARG_BOUNDS_UNPROVEN: any other expression, whose values the run alone can check."""
    bounds, where = entry.bounds[name], entry.arg_pos.get(name, entry.pos)
    arg, shown, pos = f"argument `{name}` of action `{a.name}`", value.source.strip(), expr_pos(cx.sources, value, 0)
    must = f"it must be {bounds.what()}"
    tree = parsed(value.source)
    literal = _number(tree)
    ref = dotted(tree.body) if tree is not None else None
    param = m.params.get(ref.removeprefix("params.")) if ref and ref.startswith("params.") else None
    if literal is not None:
        if not bounds.contains(literal):
            yield diag(pos, "ARG_BOUNDS", f"{arg} is `{shown}`, out of its bounds: {must}",
                       f"{bounds.hint(literal)} (bounds declared at {where})")
    elif param is not None:
        own = param_bounds(param)
        if not own.empty and not _within(own, bounds):
            yield diag(pos, "ARG_BOUNDS",
                       f"{arg} is `{shown}`, which may be {own.what()} (declared at {param.pos}): {must}",
                       f"give `{m.name}.{param.name}` a `min`/`max` within the argument's bounds "
                       f"({bounds.text()}, declared at {where})")
    elif not (ref and ref.startswith("params.")):  # an unknown parameter is UNRESOLVED_PARAM's
        yield diag(pos, "ARG_BOUNDS_UNPROVEN",
                   f"{arg} is `{shown}`, which `engine validate` cannot prove lies in its bounds: {must}",
                   f"a run refuses a value outside them when the action runs (the run stops); pass a literal or "
                   f"a bare `params.NAME` with `min`/`max` within them to have it checked here "
                   f"(bounds declared at {where})")


def _number(tree: ast.Expression | None) -> float | None:
    """The value of a literal number (`0.05`, `-1`); None for anything else."""
    if tree is None or not _literal_node(tree.body):
        return None
    value = ast.literal_eval(tree.body)
    return None if isinstance(value, bool) or not isinstance(value, (int, float)) else float(value)


def _within(inner: Bounds, outer: Bounds) -> bool:
    """Every value `inner` takes lies in `outer`."""
    lo = outer.lo is None or inner.lo is not None and (
        inner.lo > outer.lo or inner.lo == outer.lo and (inner.lo_open or not outer.lo_open))
    hi = outer.hi is None or inner.hi is not None and (
        inner.hi < outer.hi or inner.hi == outer.hi and (inner.hi_open or not outer.hi_open))
    return lo and hi


def _check_assign(cx: Context, m: Machine, a: ActionRef, event: str | None) -> Iterator[Diagnostic]:
    """An undeclared variable is names.py's finding; here, a declared one gets its type."""
    for name, value in a.args.items():
        var = m.context.get(name)
        if var is None or not isinstance(value, Expr):
            continue
        # A variable declared without a default starts as None: None is one of its values.
        problem = _type_problem(cx, m, value, event, var.type, optional=var.default is None)
        if problem:
            yield diag(expr_pos(cx.sources, value, 0), "ACTION_ARGS", f"`assign` of `ctx.{name}` {problem}",
                       f"`{name}` is declared `{var.type}` at {var.pos}{_HOW.get(var.type, '')}")


def _check_guard_calls(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    """A catalogue guard called with arguments its declaration lacks raises TypeError at every
    evaluation, and a guard that raises is false and sends the run close-only."""
    guards = cx.specset.catalogue.guards
    for site in cx.sites(m):
        tree = site.tree
        for call in ast.walk(tree) if tree is not None else ():
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in guards:
                entry = guards[call.func.id]
                if problem := _call_problem(call, list(entry.args)):
                    yield diag(expr_pos(cx.sources, site.expr, call.col_offset), "GUARD_ARGS",
                               f"guard `{call.func.id}` {problem} in the {site.where}",
                               f"it is declared at {entry.pos} with arguments ({_declared(entry)})")


def _call_problem(call: ast.Call, declared: list[str]) -> str | None:
    """How a call's arguments miss the declared ones (Python's own binding rules); None if they fit."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return "is called with `*` or `**`, whose arguments cannot be checked"
    if len(call.args) > len(declared):
        return f"takes {len(declared)} argument(s) but is given {len(call.args)}"
    bound = declared[:len(call.args)]
    for k in call.keywords:
        if k.arg not in declared:
            meant = closest(k.arg, [d for d in declared if d not in bound])
            return f"has no argument `{k.arg}`" + (f" (did you mean `{meant}`?)" if meant else "")
        if k.arg in bound:
            return f"is given argument `{k.arg}` twice"
        bound.append(k.arg)
    missing = [d for d in declared if d not in bound]
    return f"is missing argument(s) {', '.join(f'`{d}`' for d in missing)}" if missing else None


# A context type -> the Python types its default may have (a duration's is checked by duration_problem).
_DEFAULT_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "bool": (bool,), "int": (int,), "float": (int, float), "money": (int, float),
    "fraction": (int, float), "timestamp": (int, float), "list": (list,), "map": (dict,)}


def _check_defaults(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    """A default is the value every instance starts with, so one of the wrong type fails the first
    guard that reads it (`ctx.losses + 1` with `default: "0"`), on every event, for the whole run."""
    for var in m.context.values():
        value = var.default
        if value is None:
            continue  # declared without a default: the variable starts as None, which assign may replace
        if var.type == "duration":
            bad = duration_problem(value)
        elif isinstance(value, bool) and var.type != "bool" or not isinstance(value, _DEFAULT_TYPES[var.type]):
            want = _ACCEPTS[var.type][1] if var.type in _ACCEPTS else f"a {var.type}"
            bad = (f"must be {want}, not {yaml_word(value)}", f"write {_EXAMPLE.get(var.type, want)}")
        else:
            bad = None
        if bad:
            yield diag(cx.sources.value_pos(var.pos, "default"), "CONTEXT_DEFAULT",
                       f"the default of context variable `{var.name}` (declared `{var.type}`) {bad[0]}", bad[1])


_EXAMPLE = {"int": "a whole number without quotes, e.g. `default: 0`", "bool": "`default: false`",
            "str": "text, e.g. `default: \"\"`", "list": "`default: []`", "map": "`default: {}`"}


def _type_problem(cx: Context, m: Machine, value: Expr, event: str | None, type_name: str,
                  optional: bool = False) -> str | None:
    """Why `value` cannot be of the declared type; None when it can, or when the declarations
    do not tell its type (or the type has no check)."""
    inferred = cx.inferred(m, value, event)
    if inferred is None or inferred.kind is None or type_name not in _ACCEPTS:
        return None
    accepts, want = _ACCEPTS[type_name]
    kind = inferred.kind - {"none"} if optional else inferred.kind
    # An int or a float depending on the values (`2 ** ctx.n`, `max(ctx.n, 1.5)`) may be an int.
    if kind <= accepts or "int" in accepts and "int" in kind and kind <= NUMBERS:
        return None
    shown = value.source.strip()
    return f"must be {want}, not `{shown}`" + ("" if _literal(value) else f" ({word(inferred.kind)})")


def _literal(value: Expr) -> bool:
    tree = parsed(value.source)
    return tree is not None and _literal_node(tree.body)


def _literal_node(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant)
