"""Which files a spec path names: light (pathlib only), so `engine validate` can key its
cache before importing the loader."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from engine.diagnostics import Diagnostic, Pos, Severity


def spec_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Files named directly, and *.yaml/*.yml under directories (recursively, sorted)."""
    out: dict[Path, Path] = {}
    diags: list[Diagnostic] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file()
                     and not any(part.startswith(".") for part in f.relative_to(p).parts)]
            for f in sorted(found):
                out.setdefault(f.resolve(), f)
        elif p.is_file():
            out.setdefault(p.resolve(), p)
        else:
            diags.append(Diagnostic(Pos(str(p), 1, 1), Severity.ERROR, "INTERNAL", f"no such file or directory: {p}",
                                    "pass spec files or folders, e.g. `engine validate specs/`"))
    return list(out.values()), diags
