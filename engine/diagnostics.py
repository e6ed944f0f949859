"""Diagnostics: what `engine validate` (and every bad-input path) reports.

A diagnostic is plain data with a source position, so the same object can be
printed as text, JSON or GitHub annotations, and compared exactly in tests.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Iterable, Sequence


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Pos:
    """1-based line and column of a YAML node (0 when unknown, e.g. a missing key)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    pos: Pos
    severity: Severity
    code: str
    message: str
    hint: str | None = None
    # A counterexample path for declared checks, e.g. ["halted", "normal"].
    path: tuple[str, ...] = field(default=())

    def text(self) -> str:
        s = f"{self.pos}: {self.severity.value} {self.code} {self.message}"
        if self.path:
            s += f" (path: {' -> '.join(self.path)})"
        if self.hint:
            s += f"\n    hint: {self.hint}"
        return s

    def github(self) -> str:
        level = "error" if self.severity is Severity.ERROR else "warning"
        msg = self.message + (f" -- hint: {self.hint}" if self.hint else "")
        return (f"::{level} file={_gh_property(self.pos.file)},line={self.pos.line},col={self.pos.col},"
                f"title={_gh_property(self.code)}::{_gh_data(msg)}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["path"] = list(self.path)
        return d


class SpecError(Exception):
    """Raised when input cannot be used; carries diagnostics instead of a traceback."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.text() for d in self.diagnostics))


def _gh_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does: a line break in a key's
    name must not start a command of its own (`::error file=...::forged`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def closest(name: str, candidates: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def did_you_mean(name: str, candidates: Iterable[str], prefix: str = "") -> str | None:
    """A compiler-style suggestion for a misspelt name, or None."""
    match = closest(name, candidates)
    return f"did you mean `{prefix}{match}`?" if match else None


def sort_key(d: Diagnostic) -> tuple:
    return (d.pos.file, d.pos.line, d.pos.col, d.code, d.message)


def render(diags: Sequence[Diagnostic], fmt: str = "text") -> str:
    diags = sorted(diags, key=sort_key)
    if fmt == "json":
        return json.dumps([d.as_dict() for d in diags], indent=2)
    if fmt == "github":
        return "\n".join(d.github() for d in diags)
    return "\n".join(d.text() for d in diags)
