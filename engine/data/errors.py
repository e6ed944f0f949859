"""DataError: a market-data file that cannot be used, reported as `file:line: what`.

It is a SpecError so every command that already prints diagnostics prints this
too. `line` is where an editor finds the bar: a CSV's line in the file (its header
is line 1), or the 1-based row of a feather or parquet file, which has no lines;
0 is the file as a whole (its header, its type, its columns).
"""
from __future__ import annotations

from engine.diagnostics import Diagnostic, Pos, Severity, SpecError


class DataError(SpecError):
    def __init__(self, file: str, line: int, message: str, hint: str | None = None,
                 code: str = "DATA"):
        self.file, self.line, self.message, self.hint = str(file), line, message, hint
        super().__init__([Diagnostic(Pos(str(file), line, 0), Severity.ERROR, code, message, hint)])

    def __str__(self) -> str:
        s = f"{self.file}:{self.line}: {self.message}"
        return s + (f"\n    hint: {self.hint}" if self.hint else "")


def data_warning(file: str, line: int, message: str, code: str = "DATA_GAP") -> Diagnostic:
    return Diagnostic(Pos(str(file), line, 0), Severity.WARNING, code, message)
