"""DataError: a market-data file that cannot be used, reported as `file:row: what`.

It is a SpecError so every command that already prints diagnostics prints this
too; `row` is the 1-based data row (the header, when there is one, is row 0).
"""
from __future__ import annotations

from engine.diagnostics import Diagnostic, Pos, Severity, SpecError


class DataError(SpecError):
    def __init__(self, file: str, row: int, message: str, hint: str | None = None,
                 code: str = "DATA"):
        self.file, self.row, self.message, self.hint = str(file), row, message, hint
        super().__init__([Diagnostic(Pos(str(file), row, 0), Severity.ERROR, code, message, hint)])

    def __str__(self) -> str:
        s = f"{self.file}:{self.row}: {self.message}"
        return s + (f"\n    hint: {self.hint}" if self.hint else "")


def data_warning(file: str, row: int, message: str, code: str = "DATA_GAP") -> Diagnostic:
    return Diagnostic(Pos(str(file), row, 0), Severity.WARNING, code, message)
