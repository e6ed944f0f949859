"""The engine's own build: a digest of its code, which a run stores when it starts or resumes
(ENGINE_KEY).

A resume is refused when its config or specs read differently from the run's start. The same
files read by an upgraded engine can differ too (a key its defaults gained, a schema that now
parses a limit otherwise), and the refusal then blamed an edit nobody made. With the run's build
stored, a refusal and the operator commands that suggest a resume can say the engine changed.
"""
from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
# The packages whose code decides what a run does (and what the lint reads: engine/spec/cache.py).
PACKAGES = ("engine", "strategies", "adapters", "state", "rl")
_READ = ("*.py", "*.yaml")  # the code, and the defaults and catalogues shipped beside it


@cache
def code_digest() -> str:
    """sha256 of every code and data file of PACKAGES, by path relative to the checkout: the same
    build digests alike wherever it is installed. Hidden files are an editor's (Emacs's `.#x.py`
    lock, a dangling link), not the build's; a file that cannot be read is hashed by why, as it
    never stops the command that asks (status, kill: after the command was posted)."""
    h = hashlib.sha256()
    for f in code_files(ROOT, _READ):
        h.update(f"{f.relative_to(ROOT).as_posix()}\0".encode() + _bytes(f) + b"\0")
    return h.hexdigest()[:16]


def code_files(root: Path, patterns: tuple[str, ...]) -> Iterator[Path]:
    """The files of PACKAGES under `root` matching `patterns`, in a fixed order, less hidden ones:
    an editor's (Emacs's `.#x.py` lock is a dangling link while a buffer has unsaved edits)."""
    for pkg in PACKAGES:
        for pattern in patterns:
            yield from (f for f in sorted((root / pkg).rglob(pattern)) if not f.name.startswith("."))


def _bytes(f: Path) -> bytes:
    try:
        return f.read_bytes()
    except OSError as e:
        return f"\0unreadable: {type(e).__name__}\0".encode()


def other_build(stored: object) -> bool:
    """The store's run was last started or resumed by another build than this one (or by one from
    before builds were stored: `stored` None)."""
    return stored != code_digest()


OTHER_BUILD = ("the run was last started or resumed by another build of the engine, which may read the same files "
               "otherwise (its defaults and schemas)")
