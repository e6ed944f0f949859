"""`engine diff OLD NEW`: what changed between two versions of a spec.

OLD and NEW are files, or `REV:path` to read a version from git
(e.g. `engine diff HEAD:specs/risk/risk.yaml specs/risk/risk.yaml`). Any spec document
can be compared: a machine on its loaded IR, every other kind (risk, overrides,
catalogue, strategies, ml, ...) key path by key path. Exit 0 once compared (with or
without changes), 1 when a side is not a valid spec, 2 when a side cannot be read.

Each side's header carries the hash a run records for it: a machine's spec_hash (of the
file's bytes, as report.json's `spec_hashes.NAME`), and for a risk document both the file's
hash and `spec_hashes.risk`, which a run takes of the validated document.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.diagnostics import Diagnostic, SpecError
from engine.spec.ir import Machine


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", help="old version: a file, or REV:path from git")
    p.add_argument("new", help="new version: a file, or REV:path from git")


@dataclass(frozen=True)
class _Side:
    label: str  # as the user named it: a path or REV:path, never a temporary file
    data: Any  # the YAML as plain data
    spec_hash: str  # of the file's bytes: a machine's spec_hash, which its run records
    machine: Machine | None
    risk_hash: str | None = None  # a risk document's `spec_hashes.risk` (of the validated document)

    def title(self) -> str:
        data = self.data if isinstance(self.data, dict) else {}
        # A document without a `name` is named by its file's stem, as the loader names it.
        what = f"{data.get('kind', '')} {data.get('name', Path(self.label).stem)}"
        version = f" v{data['version']}" if "version" in data else ""
        return f"{self.label}  {what}{version} ({self.hashes()})"

    def hashes(self) -> str:
        """The file's hash, labelled with the report.json key a run records it under (a machine's
        spec_hash is its file's); a risk document's run hash is of the validated document."""
        if self.machine is not None:
            return f"spec_hashes.{self.machine.name} {self.spec_hash}"
        risk = f", spec_hashes.risk {self.risk_hash}" if self.risk_hash is not None else ""
        return f"file {self.spec_hash}{risk}"


def _read(ref: str, folder: Path) -> tuple[Path, bytes]:
    """The file `ref` names and its bytes; a git version is written under `folder` first."""
    if Path(ref).exists() or ":" not in ref:
        path = Path(ref)
        if path.is_dir():
            raise FileNotFoundError(f"{ref}: a folder; engine diff compares two spec files, each a file or REV:path "
                                    "from git (e.g. engine diff HEAD:specs/risk/risk.yaml specs/risk/risk.yaml)")
        if not path.is_file():
            raise FileNotFoundError(f"{ref}: no such file")
        return path, path.read_bytes()
    rev, _, rel = ref.partition(":")
    kind = subprocess.run(["git", "cat-file", "-t", f"{rev}:{rel}"], capture_output=True)
    if kind.returncode == 0 and kind.stdout.strip() != b"blob":  # `git show` would list a folder's entries
        raise FileNotFoundError(f"{ref}: a folder in git; engine diff compares two spec files (e.g. engine diff "
                                "HEAD:specs/risk/risk.yaml specs/risk/risk.yaml)")
    done = subprocess.run(["git", "show", f"{rev}:{rel}"], capture_output=True)
    if done.returncode != 0:
        raise FileNotFoundError(f"{ref}: {done.stderr.decode(errors='replace').strip() or 'not found in git'}")
    # Keep the specs/<kind>/ folders so the loader's kind-folder rule holds.
    path = folder.joinpath(*(p for p in Path(rel).parts if p not in ("/", "..")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(done.stdout)  # bytes as committed: the spec hash is over them
    return path, done.stdout


def _relabel(d: Diagnostic, file: str, label: str) -> Diagnostic:
    """`d` as the user should read it: the temporary copy of a git version named as they named it."""
    pos = dataclasses.replace(d.pos, file=label) if d.pos.file == file else d.pos
    hint = d.hint.replace(file, label) if d.hint else d.hint
    return dataclasses.replace(d, pos=pos, message=d.message.replace(file, label), hint=hint)


def _load(ref: str, folder: Path) -> _Side:
    from engine.diagnostics import Severity
    from engine.spec.validation import check_file
    from engine.spec.yamlio import decode, parse_yaml

    path, raw = _read(ref, folder)
    specs, diags = check_file(path)  # loads and lints any kind; a side with errors is not compared
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        raise SpecError([_relabel(d, str(path), ref) for d in errors])
    text, _ = decode(raw, ref)
    doc, _ = parse_yaml(text or "", ref)
    machine = next(iter(specs.machines.values()), None)
    spec_hash = machine.spec_hash if machine else hashlib.sha256(raw).hexdigest()[:16]
    risk = [v for n, v in specs.extra.items() if specs.extra_kinds.get(n) == "risk"]
    return _Side(ref, doc.data if doc else None, spec_hash, machine, risk[0].run_hash() if risk else None)


def _changes(old: _Side, new: _Side) -> tuple[list[Any], str]:
    """The changes to list, and a note to print above them."""
    from engine.spec.diff import data_diff, diff

    if old.machine and new.machine:
        changes = diff(old.machine, new.machine)
        if changes:
            return changes, ""
        # Equal once loaded (e.g. a default spelled out): still list what the file says differently.
        changes = data_diff(old.data, new.data)
        return changes, "the loaded machines are equal; the YAML differs:" if changes else ""
    return data_diff(old.data, new.data), ""


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            old = _load(args.old, Path(tmp) / "old")
            new = _load(args.new, Path(tmp) / "new")
        except FileNotFoundError as e:
            print(f"engine diff: {e}", file=sys.stderr)
            return 2
        except SpecError as e:
            print(str(e), file=sys.stderr)
            return 1
    changes, note = _changes(old, new)
    print(f"--- {old.title()}\n+++ {new.title()}")
    if note:
        print(f"  ({note})")
    for c in changes:
        print(f"  {c}")
    if not changes:
        same = old.spec_hash == new.spec_hash
        print("  no changes" if same else "  no changes (only comments or formatting differ)")
    return 0
