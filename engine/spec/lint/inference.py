"""The kind of value an expression yields, as far as declarations tell, and the operations
Python would refuse with TypeError on values of the declared kinds.

Every name an expression reads is declared with a type (a parameter, a ctx variable, an input
or payload field) and literals carry theirs, so the kind of each sub-expression follows
bottom-up: `pnl.drawdown + 'x'` adds text to a number, `-ctx.reason` negates text, `None < 1`
orders None. A kind the declarations do not tell (a catalogue guard's result, a list, a
timestamp) is unknown, and an operation on it is reported only where it fails whatever the
unknown value is (`x - 'a'`, `None + x`): no finding without a TypeError to back it, but
for text compared equal to a number, which never raises yet is always false.

A value of an `if`/`else`, an `and` or an `or` may be of several kinds (`ctx.s if ctx.b else 1`): an
operation is reported when one of them would raise, since a guard that raises on some values
fails on them.

The walk is iterative (children before parents), so a long chain `a + a + ... + a` within
the expression length limit cannot exhaust the interpreter's recursion limit.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from engine.spec.expr import dotted
from engine.spec.ir import Machine

# A kind: the set of Python types a value may have, by name: "int", "float", "bool", "str",
# "none"; None when the declarations do not tell.
Kind = frozenset[str]
INT, FLOAT, BOOL, STR, NONE = (frozenset({k}) for k in ("int", "float", "bool", "str", "none"))
NUMBERS: Kind = frozenset({"int", "float"})
ARITHMETIC: Kind = NUMBERS | BOOL  # True + 1 is 2: bools take part in arithmetic and ordering
# Declared type -> the kind of its values (duration parameters are bound as seconds).
DECLARED: Mapping[str, Kind] = {
    "int": INT, "float": FLOAT, "money": FLOAT, "fraction": FLOAT, "duration": FLOAT, "bool": BOOL, "str": STR,
}
_WORDS = {"int": "an integer", "float": "a number", "bool": "true/false", "str": "text", "none": "None"}
_SIGNS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
          ast.Pow: "**", ast.USub: "-", ast.UAdd: "+"}
_NUMERIC_ONLY = (ast.Sub, ast.Div, ast.FloorDiv, ast.Pow)  # fail on text whatever the other operand
_ARITY = {"abs": (1, 1), "round": (1, 2), "min": (1, None), "max": (1, None)}
_SHOWN_MAX = 40


@dataclass(frozen=True, slots=True)
class Finding:
    """An operation that raises TypeError; `col` is the offending operand's, 0-based."""

    col: int
    message: str
    hint: str


@dataclass
class Inferred:
    kind: Kind | None  # of the whole expression; None when unknown (or it cannot be evaluated)
    findings: list[Finding] = field(default_factory=list)


def declared_types(m: Machine, event: str | None) -> dict[str, str]:
    """Dotted name -> declared type, for every name an expression in `m` may read (`event.X`
    only with the payload of `event`)."""
    out = {f"params.{n}": p.type for n, p in m.params.items()}
    out.update((f"ctx.{n}", c.type) for n, c in m.context.items())
    for i in m.inputs.values():
        out.update((f"{i.name}.{f}", t) for f, t in i.fields.items())
    ev = m.events.get(event) if event else None
    out.update((f"event.{f}", t) for f, t in (ev.payload if ev else {}).items())
    return out


def infer(source: str, tree: ast.Expression, types: Mapping[str, str],
          functions: Iterable[str] = ()) -> Inferred:
    """The kind of `tree` (parsed from `source`, stripped) and every TypeError it would raise;
    `functions`: catalogue guards, which shadow the built-ins of the same name."""
    walk = _Walk(source.strip(), types, frozenset(functions))
    for node in reversed(list(ast.walk(tree))):  # breadth-first reversed: children first
        kind = walk.visit(node)
        if kind:
            walk.kinds[node] = kind
    return Inferred(walk.kinds.get(tree.body), sorted(walk.findings, key=lambda f: f.col))


def union(kinds: Iterable[Kind | None]) -> Kind | None:
    """The kind of a value that is one of values of `kinds` (`a if c else b`, `a or b`)."""
    out: set[str] = set()
    for k in kinds:
        if k is None:
            return None
        out |= k
    return frozenset(out) or None


def word(kind: Kind) -> str:
    return " or ".join(_WORDS[k] for k in sorted(kind, key=list(_WORDS).index))


@dataclass
class _Walk:
    source: str
    types: Mapping[str, str]
    functions: frozenset[str]
    kinds: dict[ast.AST, Kind] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def visit(self, node: ast.AST) -> Kind | None:
        method = getattr(self, f"_{type(node).__name__}", None)
        return method(node) if method else None

    def kind(self, node: ast.AST) -> Kind | None:
        return self.kinds.get(node)

    def show(self, node: ast.AST) -> str:
        """A sub-expression for a message: a literal as written, a name with its declared type,
        anything else with its kind."""
        if isinstance(node, ast.Constant):
            return repr(node.value)
        name = dotted(node)
        if name in self.types:
            return f"`{name}` ({self.types[name]})"
        text = " ".join((ast.get_source_segment(self.source, node) or "").split())
        if len(text) > _SHOWN_MAX:
            text = text[: _SHOWN_MAX - 3] + "..."
        kind = self.kind(node)
        return f"`{text}`" + (f" ({word(kind)})" if kind else "")

    def fail(self, node: ast.AST, message: str, hint: str) -> None:
        self.findings.append(Finding(getattr(node, "col_offset", 0), message, hint))

    # --- leaves ----------------------------------------------------------------
    def _Constant(self, node: ast.Constant) -> Kind | None:
        v = node.value
        if isinstance(v, bool):
            return BOOL
        if v is None:
            return NONE
        return {int: INT, float: FLOAT, str: STR}.get(type(v))

    def _Attribute(self, node: ast.Attribute) -> Kind | None:
        return DECLARED.get(self.types.get(dotted(node) or "", ""))

    _Name = _Attribute

    # --- operators -------------------------------------------------------------
    def _UnaryOp(self, node: ast.UnaryOp) -> Kind | None:
        if isinstance(node.op, ast.Not):
            return BOOL
        k = self.kind(node.operand)
        if k is not None and k & (STR | NONE):
            sign = _SIGNS[type(node.op)]
            return self.fail(node.operand, f"`{sign}` is applied to {self.show(node.operand)}",
                             f"`{sign}` works on numbers only")
        return None if k is None else frozenset("int" if t == "bool" else t for t in k)

    def _BinOp(self, node: ast.BinOp) -> Kind | None:
        sign = _SIGNS[type(node.op)]
        sides = ((node.left, self.kind(node.left)), (node.right, self.kind(node.right)))
        for side, k in sides:
            if k is not None and "none" in k:
                return self.fail(side, f"{self.show(side)} is used with `{sign}`" if k != NONE else
                                 f"None is used with `{sign}`",
                                 "None takes part in no arithmetic; give the value a default")
        text = next((side for side, k in sides if k is not None and "str" in k), None)
        if text is not None and isinstance(node.op, (ast.Mult, ast.Mod)):
            return self.fail(text, f"text {self.show(text)} is used with `{sign}`",
                             "repeating or formatting text is not allowed; use `+`")
        if text is not None and isinstance(node.op, _NUMERIC_ONLY):
            return self.fail(text, f"text {self.show(text)} is used with `{sign}`", f"`{sign}` works on numbers only")
        (left, a), (right, b) = sides
        if a is None or b is None:
            return None
        if isinstance(node.op, ast.Add) and "str" in a | b:
            if a == b == STR:
                return STR
            return self.fail(_culprit(left, right), f"{self.show(left)} + {self.show(right)} adds text and a number",
                             "`+` adds numbers or joins text, not one to the other; compare the number "
                             "itself, e.g. `pnl.drawdown > 0.1`")
        return union(_arithmetic(node.op, x, y) for x in a for y in b)

    def _Compare(self, node: ast.Compare) -> Kind | None:
        operands = [node.left, *node.comparators]
        for op, x, y in zip(node.ops, operands, operands[1:], strict=False):
            kx, ky = self.kind(x), self.kind(y)
            if isinstance(op, (ast.Is, ast.IsNot)):
                continue
            if isinstance(op, (ast.In, ast.NotIn)):
                self._membership(x, kx, y, ky)
            elif kx is not None and ky is not None:
                self._comparison(op, x, kx, y, ky)
        return BOOL

    def _membership(self, x: ast.AST, kx: Kind | None, y: ast.AST, ky: Kind | None) -> None:
        if ky is None:
            return
        if ky & (ARITHMETIC | NONE):
            self.fail(y, f"{self.show(x)} is looked up in {self.show(y)}, which holds nothing",
                      "`in` looks up in a list such as `('a', 'b')`, or text in text")
        elif kx is not None and kx != STR:
            self.fail(x, f"{self.show(x)} is looked up in text {self.show(y)}", "only text can be found in text")

    def _comparison(self, op: ast.cmpop, x: ast.AST, kx: Kind, y: ast.AST, ky: Kind) -> None:
        if isinstance(op, (ast.Eq, ast.NotEq)):
            # Never raises, but text never equals a number or true/false: the test is constant.
            if kx == STR and ky <= ARITHMETIC or ky == STR and kx <= ARITHMETIC:
                self.fail(_culprit(x, y), f"{self.show(x)} is compared with {self.show(y)}",
                          "compare numbers with numbers and text with text")
            return
        if "none" in kx | ky:
            self.fail(x if "none" in kx else y, f"{self.show(x)} is ordered against {self.show(y)}",
                      "None has no order; test `is None` first, or give the value a default")
        elif "str" in kx | ky and kx | ky != STR:
            self.fail(_culprit(x, y), f"{self.show(x)} is compared with {self.show(y)}",
                      "compare numbers with numbers and text with text")

    def _BoolOp(self, node: ast.BoolOp) -> Kind | None:
        return union(self.kind(v) for v in node.values)  # `a or b` is a or b itself

    def _IfExp(self, node: ast.IfExp) -> Kind | None:
        return union((self.kind(node.body), self.kind(node.orelse)))

    # --- built-in functions ----------------------------------------------------
    def _Call(self, node: ast.Call) -> Kind | None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _ARITY or name in self.functions or node.keywords:
            return None
        least, most = _ARITY[name]
        n = len(node.args)
        if n < least or most is not None and n > most:
            count = f"{least}" if least == most else f"{least} to {most}" if most else f"at least {least}"
            return self.fail(node, f"`{name}` takes {count} argument{'s' * (most != 1)}, not {n}",
                             f"e.g. `{name}(event.qty)`" if name != "round" else "e.g. `round(event.qty, 2)`")
        return getattr(self, f"_{name}")(node.args)

    def _numeric_arg(self, name: str, arg: ast.AST) -> Kind | None:
        k = self.kind(arg)
        if k is not None and k & (STR | NONE):
            return self.fail(arg, f"`{name}` is given {self.show(arg)}", f"`{name}` takes a number")
        return None if k is None else frozenset("int" if t == "bool" else t for t in k)

    def _abs(self, args: list[ast.expr]) -> Kind | None:
        return self._numeric_arg("abs", args[0])

    def _round(self, args: list[ast.expr]) -> Kind | None:
        k = self._numeric_arg("round", args[0])
        digits = self.kind(args[1]) if len(args) > 1 else NONE
        if digits is not None and digits & (FLOAT | STR):
            return self.fail(args[1], f"`round` is given {self.show(args[1])} digits",
                             "the digits are a whole number, e.g. `round(event.price, 2)`")
        if k is None or digits is None:
            return None
        return union(INT if d == "none" else k for d in digits)  # round(x) is an int; round(x, n) x's kind

    def _min(self, args: list[ast.expr], name: str = "min") -> Kind | None:
        kinds = [self.kind(a) for a in args]
        if len(args) == 1:
            if kinds[0] is not None and kinds[0] & (ARITHMETIC | NONE):
                return self.fail(args[0], f"`{name}` of the single value {self.show(args[0])}",
                                 f"`{name}` takes two values or more, e.g. `{name}(ctx.qty, event.qty)`")
            return STR if kinds[0] == STR else None
        known = [(a, k) for a, k in zip(args, kinds, strict=True) if k is not None]
        bad = next((a for a, k in known if "none" in k), None)
        if bad is None and known:
            mixed = [a for a, k in known if "str" in k and k != STR]  # text or a number in one value
            text = known[0][1] == STR
            bad = mixed[0] if mixed else next((a for a, k in known if (k == STR) != text), None)
        if bad is not None:
            return self.fail(bad, f"`{name}` is given {self.show(bad)} among {self.show(known[0][0])}",
                             "`min` and `max` order their values: all numbers, or all text")
        return union(kinds)

    def _max(self, args: list[ast.expr]) -> Kind | None:
        return self._min(args, "max")


def _culprit(x: ast.AST, y: ast.AST) -> ast.AST:
    """The operand to point at when two do not go together: a literal against a declared
    value (the declaration is the truth), else the second."""
    return x if _literal(x) and not _literal(y) else y


def _literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant)


def _arithmetic(op: ast.operator, a: str, b: str) -> Kind | None:
    """The kind of `a op b` for numbers (bools count as 0 and 1)."""
    if isinstance(op, ast.Div):
        return FLOAT
    if isinstance(op, ast.Pow):
        if b == "float":
            return None  # (-8) ** 0.5 is complex
        return FLOAT if a == "float" else NUMBERS  # 2 ** -1 is 0.5
    return FLOAT if "float" in (a, b) else INT
