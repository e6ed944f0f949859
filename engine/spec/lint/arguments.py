"""Action arguments match the catalogue: every declared argument given, no other, and a
literal of the declared type. Code calls the action with these as keywords, so a mismatch
would otherwise surface only as a TypeError in the middle of a run."""
from __future__ import annotations

import ast
from typing import Iterator

from engine.diagnostics import Diagnostic, closest
from engine.spec.ir import ActionRef, CatalogueEntry, Expr, Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import BUILTIN_ACTIONS, Context, parsed, expr_pos

_NUMBER = (int, float)
# Catalogue type -> the Python types a literal of it may have, and a word for messages.
_LITERAL_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "str": ((str,), "a string"), "bool": ((bool,), "true or false"), "int": ((int,), "an integer"),
    "float": (_NUMBER, "a number"), "money": (_NUMBER, "a number"), "fraction": (_NUMBER, "a number"),
}


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    refs = [a for t in m.transitions for a in t.actions]
    refs += [a for s in m.states.values() for a in s.entry + s.exit]
    for a in refs:
        entry = cx.specset.catalogue.actions.get(a.name)
        if entry is not None and a.name not in BUILTIN_ACTIONS:
            yield from _check(cx, a, entry)


def _check(cx: Context, a: ActionRef, entry: CatalogueEntry) -> Iterator[Diagnostic]:
    declared = ", ".join(f"{k}: {t}" for k, t in entry.args.items()) or "none"
    misspelt = set()  # declared names a misspelling stands for: reported once, as the misspelling
    for name, value in a.args.items():
        if name not in entry.args:
            meant = closest(name, [k for k in entry.args if k not in a.args])
            misspelt.add(meant)
            yield diag(cx.sources.find(a.pos, name), "ACTION_ARGS",
                       f"action `{a.name}` has no argument `{name}`",
                       f"did you mean `{meant}`?" if meant else f"its arguments ({entry.pos}): {declared}")
        elif isinstance(value, Expr) and (problem := _literal_problem(value, entry.args[name])):
            yield diag(expr_pos(cx.sources, value, 0), "ACTION_ARGS",
                       f"argument `{name}` of action `{a.name}` {problem}",
                       f"declared as `{entry.args[name]}` at {entry.pos}")
    missing = [k for k in entry.args if k not in a.args and k not in misspelt]
    if missing:
        yield diag(a.pos, "ACTION_ARGS",
                   f"action `{a.name}` is missing argument{'s' * (len(missing) > 1)} "
                   + ", ".join(f"`{k}`" for k in missing),
                   f"write `{a.name}: {{{', '.join(f'{k}: ...' for k in entry.args)}}}`")


def _literal_problem(value: Expr, type_name: str) -> str | None:
    """Why a literal argument cannot have the declared type; None for non-literals (their
    type is known only at run time) and for types without a literal check."""
    tree = parsed(value.source)
    node = tree.body if tree is not None else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    if not isinstance(node, ast.Constant) or type_name not in _LITERAL_TYPES:
        return None
    allowed, word = _LITERAL_TYPES[type_name]
    v = node.value
    if isinstance(v, bool) and bool not in allowed or not isinstance(v, allowed):
        return f"must be {word}, not `{value.source.strip()}`"
    return None
