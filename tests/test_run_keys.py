"""A run's kv row names are defined in one place, engine/run/keys.py, below the commands: engine/run
reads them from there, never from the CLI layer (engine/commands)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"
KEYS = ENGINE / "run" / "keys.py"
ROW = re.compile(r"run/[a-z_]+")


def _trees(root: Path) -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(root.rglob("*.py"))]


def test_every_run_row_name_is_defined_in_keys_only() -> None:
    elsewhere = [f"{p.relative_to(ENGINE)}:{n.lineno}: {n.value}" for p, tree in _trees(ENGINE) if p != KEYS
                 for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                 and ROW.fullmatch(n.value)]
    assert elsewhere == []


def test_engine_run_takes_no_row_name_from_the_commands() -> None:
    upward = [f"{p.relative_to(ENGINE)}:{n.lineno}" for p, tree in _trees(ENGINE / "run")
              for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
              and (n.module or "").startswith("engine.commands") and any(a.name.endswith("_KEY") for a in n.names)]
    assert upward == []


def test_engine_run_imports_nothing_from_the_commands() -> None:
    """engine/run sits below the CLI layer: what both need (the console, the row names) lives under
    engine/run or engine/, never in engine/commands, lazy imports inside functions included."""
    def upward(n: ast.AST) -> bool:
        if isinstance(n, ast.ImportFrom):  # `from engine import commands` too
            names = [n.module or "", *(f"{n.module}.{a.name}" for a in n.names)]
        else:
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else []
        return any(m == "engine.commands" or m.startswith("engine.commands.") for m in names)

    found = [f"{p.relative_to(ENGINE)}:{n.lineno}" for p, tree in _trees(ENGINE / "run") for n in ast.walk(tree)
             if upward(n)]
    assert found == []
