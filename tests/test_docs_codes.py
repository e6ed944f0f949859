"""Every diagnostic code the product can print is documented (QA D7: ACTIVE_SET, DATA_CROSSED,
ENV_FILE_SYNTAX and others were in no doc). The linter's codes have a section each in
docs/lint-rules.md (tests/test_lint_broken_specs.py); every other code is a row of that page's
table "Codes outside the linter". A code is found as any upper-case string literal with an
underscore in the product's source (or a `code` parameter's default): a new one fails here until
it is documented, or named below as no code at all."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from engine.spec.lint.codes import ALL_CODES

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "strategies", "adapters", "state", "rl")
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
NOT_CODES = {  # upper-case strings that are names of something else
    "ENGINE_DB_URL", "ENGINE_CACHE_DIR", "ENABLE_LIVE_TRADING", "PYTHON_DOTENV_DISABLED",  # environment
    "PYDANTIC_DISABLE_PLUGINS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
    "PROVIDER_MODULES", "ASK_FILE",  # a module's table, an argument's metavar
    "TREND_UP", "TREND_DOWN", "HIGH_VOL", "ANY_STATE",  # regime labels, the spec's `*` source
}


def _source_codes() -> set[str]:
    found: set[str] = set()
    for pkg in PACKAGES:
        for src in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(src.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.fullmatch(node.value):
                    found.add(node.value)
                elif isinstance(node, ast.arguments):  # `code: str = "DATA"`: a code without an underscore
                    named = [*node.posonlyargs, *node.args][-len(node.defaults):] if node.defaults else []
                    found |= {d.value for a, d in zip(named, node.defaults)
                              if a.arg == "code" and isinstance(d, ast.Constant)}
    return found


def _outside_table() -> set[str]:
    doc = (ROOT / "docs" / "lint-rules.md").read_text()
    section = doc.split("## Codes outside the linter", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, flags=re.M))


def test_every_code_in_the_source_is_documented() -> None:
    assert _source_codes() - NOT_CODES - set(ALL_CODES) - _outside_table() == set()


def test_the_table_documents_only_codes_the_source_has_and_the_linter_does_not() -> None:
    table = _outside_table()
    assert table - _source_codes() == set() and table & set(ALL_CODES) == set()
