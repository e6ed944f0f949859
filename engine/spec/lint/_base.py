"""Shared plumbing for lint rules: building diagnostics, and finding the exact
column of a key or value inside a YAML node whose start the IR recorded.

The IR keeps one position per node (a transition, a timer), but a compiler-grade
message points at the offending token (`target: stage_6`, not the list item).
We recover it from the source text, lazily, only for nodes we report on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.diagnostics import Diagnostic, Pos
from engine.spec.durations import parse_duration
from engine.spec.lint.codes import LINT_CODES

MAX_TIMER_S = 30 * 86400.0
_NEGATIVE = re.compile(r"^\s*-\s*")


def diag(pos: Pos, code: str, message: str, hint: str | None = None,
         path: tuple[str, ...] = ()) -> Diagnostic:
    return Diagnostic(pos, LINT_CODES[code], code, message, hint, tuple(path))


def seconds(value: object) -> float | None:
    """Seconds in a duration literal (`15m`, `-1m`, `1h30m`) or number; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        sign = -1.0 if _NEGATIVE.match(value) else 1.0
        try:
            return sign * parse_duration(_NEGATIVE.sub("", value))
        except ValueError:
            return None
    return None


def file_start(file: str) -> Pos:
    """A position whose node is the whole file, for `Sources.find` of a top-level key."""
    return Pos(file, 1, 1)


@dataclass
class Sources:
    """Lazily read source lines, to point inside a node the IR positions only as a whole."""

    _lines: dict[str, list[str]] = field(default_factory=dict)

    def lines(self, file: str) -> list[str]:
        if file not in self._lines:
            try:
                self._lines[file] = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._lines[file] = []
        return self._lines[file]

    def char_at(self, pos: Pos) -> str:
        lines = self.lines(pos.file)
        if 0 < pos.line <= len(lines) and 0 < pos.col <= len(lines[pos.line - 1]):
            return lines[pos.line - 1][pos.col - 1]
        return ""

    def find(self, start: Pos, key: str, value: str | None = None, skip: int = 0) -> Pos:
        """Position of `value` after `key:` in the node starting at `start` (else of the key, else
        start); `skip`: of its occurrence after the first `skip` (a name listed twice)."""
        lines = self.lines(start.file)
        if not 0 < start.line <= len(lines):
            return start
        indent = _block_indent(lines[start.line - 1], start.col)
        key_re = re.compile(rf"(?<![\w.]){re.escape(key)}\s*:")
        val_re = re.compile(rf"(?<![\w.]){re.escape(value)}(?![\w])") if value else None
        key_pos: Pos | None = None
        for n in range(start.line, len(lines) + 1):
            text = _code(lines[n - 1])
            if n > start.line and text.strip() and _indent(text) < indent:
                break
            begin = start.col - 1 if n == start.line else 0
            if key_pos is None:
                k = key_re.search(text, begin)
                if not k:
                    continue
                key_pos = Pos(start.file, n, k.start() + 1)
                begin = k.end()
            if val_re is None:
                return key_pos
            for v in val_re.finditer(text, begin):
                if not skip:
                    return Pos(start.file, n, v.start() + 1)
                skip -= 1
        return key_pos or start

    def top(self, file: str, key: str, value: str | None = None, skip: int = 0) -> Pos:
        """Position of `value` after the top-level `key:` of `file` (a machine's own `ignores`,
        not a state's), else of the key, else the file's start."""
        key_re = re.compile(rf"^{re.escape(key)}\s*:")
        line = next((n for n, text in enumerate(self.lines(file), 1) if key_re.match(text)), None)
        return file_start(file) if line is None else self.find(Pos(file, line, 1), key, value, skip)

    def value_pos(self, start: Pos, key: str) -> Pos:
        """Position of the value written after `key:` on the key's line in the node at `start`
        (else of the key): where a diagnostic about that value points."""
        at = self.find(start, key)
        lines = self.lines(start.file)
        if not 0 < at.line <= len(lines):
            return at
        m = re.compile(rf"{re.escape(key)}\s*:[ \t]*(?=\S)").match(_code(lines[at.line - 1]), at.col - 1)
        return Pos(at.file, at.line, m.end() + 1) if m else at


def _code(line: str) -> str:
    """The line without a trailing comment (a `#` after whitespace, outside quotes roughly)."""
    m = re.search(r"\s#", line)
    return line[: m.start()] if m and line[: m.start()].count("'") % 2 == 0 and line[: m.start()].count('"') % 2 == 0 else line


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _block_indent(line: str, col: int) -> int:
    """The least indentation a line must have to still belong to the node starting at `col`.

    A node that opens its line (a block mapping) owns the lines indented like it;
    a key with its value below, or a node after `- ` or `key: `, owns only deeper lines.
    """
    own = _indent(line)
    at_line_start = col - 1 == own
    bare_key = re.match(r"""^\s*[\w"'.-]+\s*:\s*(#.*)?$""", line) is not None
    return own if at_line_start and not bare_key else own + 1
