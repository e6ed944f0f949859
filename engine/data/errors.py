"""DataError: a market-data file (or store) that cannot be used, as a project diagnostic.

It is a SpecError so every command that already prints diagnostics prints this
too, in the one format (`file:line:col: error DATA what` + hint). `line` is where
an editor finds the bar: a CSV's line in the file (its header is line 1), or the
1-based row of a feather or parquet file, which has no lines; line 1 is also the
file as a whole (its header, its type, its columns). Mostly only a line is known, so the
column is 1; a CSV header's problem can name its column (`col`).
"""
from __future__ import annotations

from engine.diagnostics import Diagnostic, Pos, Severity, SpecError


def _pos(file: str, line: int, col: int = 1) -> Pos:
    return Pos(str(file), max(int(line), 1), max(int(col), 1))


class DataError(SpecError):
    def __init__(self, file: str, line: int, message: str, hint: str | None = None,
                 code: str = "DATA", col: int = 1):
        self.file, self.line, self.message, self.hint = str(file), max(int(line), 1), message, hint
        super().__init__([Diagnostic(_pos(file, line, col), Severity.ERROR, code, message, hint)])


def data_warning(file: str, line: int, message: str, code: str = "DATA_GAP") -> Diagnostic:
    return Diagnostic(_pos(file, line), Severity.WARNING, code, message)
