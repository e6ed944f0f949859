"""`engine diff OLD NEW`: what changed between two versions of a spec.

OLD and NEW are files, or `REV:path` to read a version from git
(e.g. `engine diff HEAD:specs/kill/kill_modes.yaml specs/kill/kill_modes.yaml`).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from engine.diagnostics import SpecError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", help="old version: a file, or REV:path from git")
    p.add_argument("new", help="new version: a file, or REV:path from git")


def _materialise(ref: str, tmp: Path) -> Path:
    if Path(ref).exists() or ":" not in ref:
        return Path(ref)
    rev, _, rel = ref.partition(":")
    text = subprocess.run(["git", "show", f"{rev}:{rel}"], capture_output=True, text=True)
    if text.returncode != 0:
        raise FileNotFoundError(f"{ref}: {text.stderr.strip() or 'not found in git'}")
    # Keep the specs/<kind>/ folder so the loader's kind-folder rule holds.
    path = tmp / rev.replace("/", "_") / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.stdout, encoding="utf-8")
    return path


def run(args: argparse.Namespace) -> int:
    from engine.spec.diff import diff
    from engine.spec.loader import load_machine

    with tempfile.TemporaryDirectory() as tmp:
        try:
            old = load_machine(_materialise(args.old, Path(tmp)))
            new = load_machine(_materialise(args.new, Path(tmp)))
        except FileNotFoundError as e:
            print(f"engine diff: {e}", file=sys.stderr)
            return 2
        except SpecError as e:
            print(str(e), file=sys.stderr)
            return 1
    changes = diff(old, new)
    print(f"{old.name} v{old.version} ({old.spec_hash}) -> {new.name} v{new.version} ({new.spec_hash})")
    for c in changes:
        print(f"  {c}")
    if not changes:
        print("  no changes")
    return 0
