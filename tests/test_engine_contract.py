"""engine/spec/contract.py lists every name the engine relies on: a scan of engine/ and adapters/
for the literal names it sends to, reads of or asks of a machine finds none missing there.

What the scan reads as such a name: the event of `.send(instance, "e")`, `.post(instance, "e")`,
`.raise_event("e")`, a value of a `*_EVENTS` dict, and `refused="e"` (argument or default); the tag of
`.has_tag("t")` and of a `*_TAG = "t"` constant; the variable of `.ctx.get("v")` and `.ctx["v"]`;
`COMMAND = "c"` (a command name). A new name in the engine without its contract entry fails here.
"""
from __future__ import annotations

import ast
from pathlib import Path

from engine.spec.contract import ENGINE_CONTRACT

ROOT = Path(__file__).parents[1]


def _str(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _str(node.body) + _str(node.orelse)
    return []


def _call(n: ast.Call) -> list[tuple[str, str]]:
    refused = [("event", s) for k in n.keywords if k.arg == "refused" for s in _str(k.value)]
    if refused or not isinstance(n.func, ast.Attribute):
        return refused
    attr, owner = n.func.attr, n.func.value
    if attr in ("send", "post") and len(n.args) > 1:
        return [("event", s) for s in _str(n.args[1])]
    if attr in ("raise_event", "has_tag") and n.args:
        return [("event" if attr == "raise_event" else "tag", s) for s in _str(n.args[0])]
    if attr == "get" and isinstance(owner, ast.Attribute) and owner.attr == "ctx" and n.args:
        return [("context", s) for s in _str(n.args[0])]
    return []


def _assign(n: ast.Assign) -> list[tuple[str, str]]:
    names = [t.id for t in n.targets if isinstance(t, ast.Name)]
    out = []
    for name in names:
        if name.endswith("_EVENTS") and isinstance(n.value, ast.Dict):
            out += [("event", s) for v in n.value.values for s in _str(v)]
        elif name.endswith("_TAG"):
            out += [("tag", s) for s in _str(n.value)]
        elif name == "COMMAND":
            out += [("command", s) for s in _str(n.value)]
    return out


def _names(tree: ast.AST) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            out += _call(n)
        elif isinstance(n, ast.Assign):
            out += _assign(n)
        elif isinstance(n, ast.Subscript) and isinstance(n.value, ast.Attribute) and n.value.attr == "ctx":
            out += [("context", s) for s in _str(n.slice)]
        elif isinstance(n, ast.FunctionDef):
            args = n.args.args[len(n.args.args) - len(n.args.defaults):]
            out += [("event", s) for a, d in zip(args, n.args.defaults) if a.arg == "refused" for s in _str(d)]
    return out


def used_by_engine() -> set[tuple[str, str, str]]:
    """(what, name, file) for every name the engine's code relies on."""
    files = [f for d in ("engine", "adapters") for f in (ROOT / d).rglob("*.py") if "engine/spec/" not in f.as_posix()]
    return {(what, name, f.relative_to(ROOT).as_posix())
            for f in files for what, name in _names(ast.parse(f.read_text()))}


def declared() -> dict[str, set[str]]:
    needs = ENGINE_CONTRACT.values()
    return {"event": {e for n in needs for e in (*n.events, *n.optional_events)}, "tag": {t for n in needs for t in n.tags}
            | {t for n in needs for t in n.classified_by}, "context": {c for n in needs for c in n.context},
            "command": {c for n in needs for c in n.commands}}


def test_every_name_the_engine_relies_on_is_in_the_contract():
    have = declared()
    assert sorted((what, name, f) for what, name, f in used_by_engine() if name not in have[what]) == []


def test_the_scan_finds_what_the_qa_report_named():
    """The scan must be able to fail: it sees the names the engine really depends on."""
    found = {(what, name) for what, name, _ in used_by_engine()}
    assert {("event", "fault"), ("event", "cancel_rejected"),
            ("event", "activate"), ("context", "stop"), ("command", "promote")} <= found
    # awaiting_operator, opens_risk and position_open are no literals outside the contract any more:
    # the code reads AWAITING_TAG, OPENS_RISK_TAG and POSITION_OPEN_TAG
