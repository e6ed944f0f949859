"""`engine docs`: generate docs/specs from the specs; `--check` fails when they are stale.

Pages always render from the whole spec tree a path lies in (the folder holding catalogue.yaml),
so a page shows the overrides in specs/overrides whichever path was given. A path inside the
tree writes (or checks) only the pages of the machines under it; only a whole tree given as a
folder rewrites the index and removes the pages of deleted specs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.commands.paths import existing, named
from engine.diagnostics import Severity, render
from engine.words import counted

USAGE = 2  # a path that names nothing usable (engine/cli.py's exit codes)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", type=existing, default=["specs"],
                   help="spec files or folders (default: specs). A path inside a spec tree renders from the "
                        "whole tree (overrides included) but writes or checks only the pages of its machines; "
                        "the index and removing the pages of deleted specs need the whole tree")
    p.add_argument("--out", default="docs/specs", type=named, help="output folder (default: docs/specs)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the pages of the given paths are stale")
    p.add_argument("--svg", action="store_true", help="also write SVG diagrams (needs graphviz `dot`)")


def run(args: argparse.Namespace) -> int:
    from engine.docs import render as pages_mod
    from engine.spec.files import spec_roots
    from engine.spec.loader import MACHINE_KINDS
    from engine.spec.validation import check_specs

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"engine docs: --out {out} is a file, not a folder; name the folder the pages go in "
              "(default docs/specs)", file=sys.stderr)
        return USAGE
    roots = spec_roots(args.paths)
    # What validate refuses, never a page: a reviewer would approve a diagram of a spec that cannot run
    # (a misspelt target draws a state of its own).
    specs, diags = check_specs(args.paths)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        print(render(errors), file=sys.stderr)
        print("engine docs: fix the spec errors above first (engine validate)", file=sys.stderr)
        return 1
    machines = {p: _machines_under(specs, p) for p in args.paths}
    empty = [p for p, ms in machines.items() if not ms]
    if empty:
        print(f"engine docs: {', '.join(empty)}: no machine spec there (kinds {', '.join(MACHINE_KINDS)}), so "
              "no page to write; give a spec folder or machine file, e.g. `engine docs specs`", file=sys.stderr)
        return USAGE
    given = {Path(p).resolve() for p in args.paths}
    whole = all(r.is_dir() and r.resolve() in given for r in roots)  # only then is every page known
    every = pages_mod.pages(specs)
    chosen = list({m.name: m for ms in machines.values() for m in ms}.values())  # paths may overlap
    generated = every if whole else {pages_mod.page_of(m): every[pages_mod.page_of(m)] for m in chosen}
    drawn = {pages_mod.page_of(m): m for m in (specs.machines.values() if whole else chosen)}
    try:
        code = _check(out, generated, drawn, whole) if args.check else _write(args, generated, drawn, whole)
    except OSError as e:  # a folder that cannot be made (/proc/x), no permission, a full disk
        print(f"engine docs: cannot write to --out {out}: {e.strerror or e} ({e.filename or out}); name a "
              "folder you can create and write to (default docs/specs)", file=sys.stderr)
        return 1
    if not whole:
        _note_rest(Path(args.out), every, generated)
    return code


def _machines_under(specs: Any, path: str) -> list[Any]:
    """The machines defined in `path` (a file) or in a file under it (a folder)."""
    where = Path(path).resolve()
    return [m for m in specs.machines.values()
            if (file := Path(m.path).resolve()) == where or where in file.parents]


def _check(out: Path, generated: dict[str, str], drawn: dict[str, Any], whole: bool) -> int:
    from engine.docs.dot import stale_svgs
    from engine.docs.render import stale

    problems = stale(out, generated, prune=whole) + stale_svgs(out, drawn, prune=whole)
    for p in problems:
        print(f"{out / p.split(':')[0]}: stale: {p.split(': ', 1)[1]}", file=sys.stderr)
    if problems:
        print("engine docs: generated docs are stale; run `engine docs` and commit", file=sys.stderr)
        return 1
    print(f"docs up to date ({counted(len(generated), 'page')})")
    return 0


def _write(args: argparse.Namespace, generated: dict[str, str], drawn: dict[str, Any], whole: bool) -> int:
    from engine.docs import dot
    from engine.docs.render import write

    out = Path(args.out)
    changed = write(out, generated, prune=whole)
    if whole:
        dot.prune_svgs(out, drawn)
    failed = _draw(out, drawn) if args.svg else ""
    if failed or not args.svg:
        for problem in dot.stale_svgs(out, drawn, prune=False):
            print(f"note: {out / problem.split(':')[0]} is stale: `engine docs --svg` redraws it, or delete it",
                  file=sys.stderr)
    print(f"wrote {counted(len(generated), 'page')} to {out} ({len(changed)} changed)")
    if failed:  # the pages are written; the SVGs asked for are not, which CI's --check would find
        print(f"engine docs: {failed}", file=sys.stderr)
        return 1
    return 0


def _draw(out: Path, drawn: dict[str, Any]) -> str:
    """Write each machine's SVG; why they could not all be drawn, or ""."""
    from engine.docs import dot

    for page, m in drawn.items():
        try:
            svg = dot.svg(m)
        except dot.DotFailed as e:
            return f"{e}; no SVG written for it or after it"
        if svg is None:
            return ("graphviz `dot` not found: no SVG written (install graphviz, e.g. `apt install graphviz` or "
                    "`brew install graphviz`, or run `engine docs` without --svg)")
        (out / dot.svg_of(page)).write_text(svg, encoding="utf-8")
    return ""


def _note_rest(out: Path, every: dict[str, str], generated: dict[str, str]) -> None:
    """A part of the tree was given: say when the pages outside it (the index, another machine's,
    one of a deleted spec) are stale too, as `engine docs --check` in CI will."""
    from engine.docs.render import stale

    rest = [p.split(":")[0] for p in stale(out, every) if p.split(":")[0] not in generated]
    if rest:
        print(f"note: {len(rest)} other page(s) in {out} are stale too ({', '.join(rest)}): `engine docs` "
              "regenerates every page", file=sys.stderr)
