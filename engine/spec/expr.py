"""Sandboxed guard and argument expressions.

An expression is a Python expression restricted to a whitelist of AST nodes,
over declared root names only (`params`, `ctx`, `event`, declared inputs such
as `kpi`) and calls to declared functions only. It is checked once, compiled
once to a code object, and then evaluated with no builtins. We check the AST
ourselves instead of using simpleeval because the linter needs the static
facts (names read, calls made, comparisons) and the interpreter needs compiled
speed: simpleeval re-walks the tree on every call.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from types import CodeType, SimpleNamespace
from typing import Any, Callable

from engine.diagnostics import did_you_mean

# Functions every expression may call; pure and total on numbers.
BUILTINS: Mapping[str, Callable[..., Any]] = {"abs": abs, "min": min, "max": max, "round": round}

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv, ast.Pow,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.IfExp, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Call,
    ast.Tuple, ast.List, ast.keyword,
)
MAX_LEN = 2000  # a guard longer than this is a smell, and bounds compile time
# `**` only with a literal exponent up to this, on a base without `**`: with MAX_LEN that bounds
# every value a guard computes (`9 ** 9 ** 9 ** 9` would never finish evaluating).
MAX_EXPONENT = 10
_SEQUENCE = (ast.List, ast.Tuple)


@dataclass(frozen=True, slots=True)
class Problem:
    """A static problem in an expression; `col` is 0-based within the source text."""

    code: str  # EXPR_PARSE | EXPR_NAME | EXPR_FORBIDDEN
    message: str
    col: int = 0
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """What an expression may see: root -> declared field -> type name (None: any public field).
    Only a `map` field has fields of its own, so `ctx.streak.count` on an `int` is unknown."""

    roots: Mapping[str, Mapping[str, str] | None]
    functions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Compiled:
    source: str
    code: CodeType
    reads: tuple[str, ...]  # dotted paths read, e.g. ("kpi.sharpe", "params.min_sharpe")
    calls: frozenset[str]

    def __call__(self, env: Mapping[str, Any]) -> Any:
        return eval(self.code, {"__builtins__": {}}, env)  # noqa: S307 - AST-whitelisted above


def parse(source: str) -> tuple[ast.Expression | None, Problem | None]:
    if len(source) > MAX_LEN:
        return None, Problem("EXPR_PARSE", f"expression longer than {MAX_LEN} characters")
    try:
        return ast.parse(source.strip(), mode="eval"), None
    except SyntaxError as e:
        col = max((e.offset or 1) - 1, 0)
        return None, Problem("EXPR_PARSE", f"cannot parse expression: {e.msg}", col,
                             "guards are Python expressions, e.g. `kpi.trades >= params.min_trades`")


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of attribute accesses on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def analyse(source: str, scope: Scope) -> tuple[list[Problem], tuple[str, ...], frozenset[str]]:
    """Static check: returns problems, the dotted paths read, and the functions called."""
    tree, err = parse(source)
    if err:
        return [err], (), frozenset()
    problems: list[Problem] = []
    calls: set[str] = set()
    callable_names = scope.functions | frozenset(BUILTINS)
    nodes = list(ast.walk(tree))
    parents = {child: node for node in nodes for child in ast.iter_child_nodes(node)}
    for node in nodes:
        col = getattr(node, "col_offset", 0)
        if not isinstance(node, _ALLOWED):
            problems.append(Problem("EXPR_FORBIDDEN", f"`{type(node).__name__}` is not allowed in an expression", col,
                                    "use comparisons, and/or/not, arithmetic and declared functions"))
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            problems.append(Problem("EXPR_FORBIDDEN", f"private attribute `{node.attr}` is not accessible", col))
        elif isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            if fname is None or fname not in callable_names:
                shown = fname or ast.unparse(node.func)
                problems.append(Problem("EXPR_FORBIDDEN", f"call to undeclared function `{shown}`", col,
                                        did_you_mean(shown, callable_names) or "declare it in specs/catalogue.yaml"))
            else:
                calls.add(fname)
        elif isinstance(node, ast.BinOp) and not _inside_pow(node, parents) and (problem := _unbounded(node)):
            problems.append(problem)
    reads = _reads(nodes, parents, scope, problems)
    return problems, tuple(dict.fromkeys(reads)), frozenset(calls)


def _inside_pow(node: ast.BinOp, parents: dict[ast.AST, ast.AST]) -> bool:
    """A power inside another is reported once, at the outer one."""
    parent = parents.get(node)
    return isinstance(node.op, ast.Pow) and isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow)


def _unbounded(node: ast.BinOp) -> Problem | None:
    """An operation whose result can be too large to compute: a power with a large or
    non-literal exponent, or a repeated (or %-formatted) string or list."""
    col = node.col_offset
    if isinstance(node.op, ast.Pow):
        exp = node.right.operand if isinstance(node.right, ast.UnaryOp) else node.right
        literal = isinstance(exp, ast.Constant) and type(exp.value) in (int, float)
        if not literal or abs(exp.value) > MAX_EXPONENT or any(
                isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node.left)):
            return Problem("EXPR_FORBIDDEN", f"`**` needs a literal exponent of at most {MAX_EXPONENT} "
                           "and a base without `**`", col,
                           "write the power out, e.g. `x ** 2`; a guard's values must stay small")
    elif isinstance(node.op, (ast.Mult, ast.Mod)) and any(
            isinstance(n, _SEQUENCE) or isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes))
            for n in (node.left, node.right)):
        what = "repetition" if isinstance(node.op, ast.Mult) else "%-formatting"
        return Problem("EXPR_FORBIDDEN", f"string or list {what} is not allowed", col,
                       "expressions compare numbers; build text with `+`")
    return None


def _reads(nodes: list[ast.AST], parents: dict[ast.AST, ast.AST], scope: Scope, problems: list[Problem]) -> list[str]:
    """The longest dotted path read at every name (one parent map: linear in the expression)."""
    reads = []
    for node in nodes:
        if not isinstance(node, ast.Name):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Call) and parent.func is node:
            continue
        top: ast.AST = node
        while isinstance(parents.get(top), ast.Attribute) and parents[top].value is top:
            top = parents[top]
        path = dotted(top) or node.id
        problem = _check_path(path, scope, getattr(node, "col_offset", 0))
        if problem:
            problems.append(problem)
        else:
            reads.append(path)
    return reads


def _check_path(path: str, scope: Scope, col: int) -> Problem | None:
    root, _, rest = path.partition(".")
    if root in ("True", "False", "None"):
        return None
    if root not in scope.roots:
        return Problem("EXPR_NAME", f"unknown name `{root}`", col,
                       did_you_mean(root, scope.roots) or f"known names: {', '.join(sorted(scope.roots))}")
    fields = scope.roots[root]
    if fields is None:
        return None
    field = rest.split(".")[0] if rest else ""
    if not field:
        return Problem("EXPR_NAME", f"`{root}` must be followed by a field, e.g. `{root}.x`", col)
    if field not in fields:
        return Problem("EXPR_NAME", f"unknown name `{root}.{field}`", col,
                       did_you_mean(field, fields, prefix=f"{root}."))
    deeper = rest.split(".")[1:]
    if deeper and fields[field] != "map":
        return Problem("EXPR_NAME", f"unknown name `{root}.{field}.{deeper[0]}` (`{root}.{field}` is "
                       f"declared `{fields[field]}`, which has no fields)", col,
                       f"read `{root}.{field}` itself, or declare it `map`")
    return None


def compile_expr(source: str, scope: Scope) -> Compiled:
    """Compile a checked expression; raises ValueError listing problems (callers lint first)."""
    problems, reads, calls = analyse(source, scope)
    if problems:
        raise ValueError("; ".join(p.message for p in problems))
    code = compile(ast.parse(source.strip(), mode="eval"), f"<expr {source!r}>", "eval")
    return Compiled(source, code, reads, calls)


def ns(value: Any) -> Any:
    """Plain data to attribute-access form (mappings become namespaces), for evaluation envs."""
    if isinstance(value, Mapping):
        return SimpleNamespace(**{k: ns(v) for k, v in value.items()})
    return value
