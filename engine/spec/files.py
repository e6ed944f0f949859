"""Which files a spec path names, and the paper venue's contract catalogue the linter reads
beside them: light (pathlib only), so `engine validate` can key its cache before importing the
loader or the linter."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

from engine.diagnostics import Diagnostic, Pos, Severity


def spec_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Files named directly, and *.yaml/*.yml under directories (recursively, sorted)."""
    out: dict[Path, Path] = {}
    diags: list[Diagnostic] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and _a_spec_or_broken(f)
                     and not any(part.startswith(".") for part in f.relative_to(p).parts)]
            for f in sorted(found):
                out.setdefault(resolved(f), f)
        elif p.is_file():
            out.setdefault(p.resolve(), p)
        else:
            diags.append(Diagnostic(Pos(str(p), 1, 1), Severity.ERROR, "INTERNAL", f"no such file or directory: {p}",
                                    "pass spec files or folders, e.g. `engine validate specs/`"))
    return list(out.values()), diags


def _a_spec_or_broken(f: Path) -> bool:
    """A spec file, or what stands in the place of one and cannot be read (a dangling link, a link
    loop, a folder named like a file): left out silently, its rules would silently not apply.
    The loader reports it as a file it cannot read."""
    return f.is_file() or f.is_dir() or (f.is_symlink() and not f.exists())


def resolved(f: Path) -> Path:
    """Where `f` leads; a link loop stands for itself (its readers report it)."""
    try:
        return f.resolve()
    except (OSError, RuntimeError):  # Python 3.11 raises RuntimeError on a loop, 3.13 OSError
        return f


CATALOGUE = "catalogue.yaml"  # marks the root of a spec tree (specs/catalogue.yaml)


def spec_roots(paths: Sequence[str | Path]) -> list[Path]:
    """What to load for `paths`: a file or folder inside a spec tree stands for the whole tree,
    because its references (actions, gates, the machines an override names) resolve there."""
    return list(dict.fromkeys(_tree_of(Path(p)) or Path(p) for p in paths))


def _tree_of(path: Path) -> Path | None:
    """The nearest folder at or above `path` that holds catalogue.yaml, spelt relative to
    `path` (so diagnostics keep the user's relative file names), or None."""
    start = path if path.is_dir() else path.parent
    for up, d in enumerate((start.resolve(), *start.resolve().parents)):
        if (d / CATALOGUE).is_file():
            return Path(os.path.normpath(start.joinpath(*[".."] * up)))
    return None


CONTRACTS = "contracts.yaml"  # the name of adapters/paper/catalogue.py's DEFAULT_PATH, beside it


def contracts_path() -> Path:
    """The paper venue's contract catalogue (CONTRACT_NO_RATE and the contract checks read it),
    found without running the package's heavy __init__."""
    spec = importlib.util.find_spec("adapters.paper")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("adapters.paper is not importable: no contract catalogue to check")
    return Path(spec.origin).with_name(CONTRACTS)
