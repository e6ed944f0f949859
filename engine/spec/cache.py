"""A result cache for `engine validate`, so the edit-validate loop pays for pydantic only when
something changed (like ruff's and mypy's caches).

The key covers the name, place and bytes of every spec file and the size and mtime of every
source file of the packages whose code the lint reads (CODE): any edit, checkout or
upgrade of the validator is a miss. Entries live under var/cache/validate (or
$ENGINE_CACHE_DIR); deleting them is always safe.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from engine.diagnostics import Diagnostic, Pos, Severity
from engine.run.build import PACKAGES, code_files
from engine.spec.files import resolved

ROOT = Path(__file__).resolve().parents[2]
CODE = PACKAGES  # the lint reads the actions each provider implements


def _dir() -> Path:
    # Empty is unset: the cache is safe to drop, and `validate/` in whatever folder is current is not
    return Path(os.environ.get("ENGINE_CACHE_DIR") or ROOT / "var" / "cache") / "validate"


def key(files: list[Path], roots: list[str] | tuple[str, ...] = ()) -> str:
    """`roots`: the paths validated, as given (a path that is no spec file is reported by name)."""
    h = hashlib.sha256()
    h.update("\0".join(map(str, roots)).encode() + b"\1")
    for f in files:  # as named (what the diagnostics say) and where it is (its folder decides its kind)
        h.update(f"{f}\0{resolved(f)}\0".encode())
        h.update(_content(f))
    for src in code_files(ROOT, ("*.py",)):
        h.update(f"{src}:{_stamp(src)}\0".encode())
    return h.hexdigest()


def _stamp(src: Path) -> str:
    """Size and mtime; a source that cannot be read (a dangling link) by why: validate reports
    what the lint makes of it, never a traceback."""
    try:
        st = src.stat()
    except OSError as e:
        return f"unreadable {type(e).__name__}"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _content(f: Path) -> bytes:
    """A file's bytes; one that cannot be read (gone, a folder) is keyed by why: the checks that
    read it report it (a cached result says so again), and restoring it is a miss."""
    try:
        return f.read_bytes()
    except OSError as e:
        return f"\0unreadable: {type(e).__name__}\0".encode()


def load(k: str) -> tuple[list[Diagnostic], int] | None:
    try:
        data = json.loads((_dir() / f"{k}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    diags = [Diagnostic(Pos(**d["pos"]), Severity(d["severity"]), d["code"], d["message"], d["hint"],
                        tuple(d["path"])) for d in data["diagnostics"]]
    return diags, data["files"]


def save(k: str, diags: list[Diagnostic], n_files: int) -> None:
    import tempfile  # 3 ms of imports (random, shutil) that only a miss pays, not a cached validate

    d = _dir()
    text = json.dumps({"files": n_files, "diagnostics": [x.as_dict() for x in diags]})
    tmp = None
    try:
        d.mkdir(parents=True, exist_ok=True)
        # A name of its own: two validators saving one key at once (an editor's and a shell's, a
        # test worker and another) must not write into one temporary file, which one would then
        # move into place half written, or move from under the other.
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=d, prefix=f"{k}.", suffix=".tmp",
                                         delete=False) as f:
            tmp = Path(f.name)
            f.write(text)
        tmp.replace(d / f"{k}.json")
    except OSError:  # a read-only checkout still validates; it just does not remember
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
