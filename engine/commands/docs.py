"""`engine docs`: generate docs/specs from the specs; `--check` fails when they are stale."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.commands.paths import existing
from engine.diagnostics import Severity, render


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", type=existing, default=["specs"], help="spec files or folders (default: specs)")
    p.add_argument("--out", default="docs/specs", help="output folder (default: docs/specs)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the docs are stale")
    p.add_argument("--svg", action="store_true", help="also write SVG diagrams (needs graphviz `dot`)")


def run(args: argparse.Namespace) -> int:
    from engine.docs import dot, render as pages_mod
    from engine.spec.loader import load_specs

    specs, diags = load_specs(args.paths)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        print(render(errors), file=sys.stderr)
        print("engine docs: fix the spec errors above first (engine validate)", file=sys.stderr)
        return 1
    out = Path(args.out)
    generated = pages_mod.pages(specs)
    if args.check:
        problems = pages_mod.stale(out, generated)
        for p in problems:
            print(f"{out / p.split(':')[0]}: stale: {p.split(': ', 1)[1]}", file=sys.stderr)
        if problems:
            print("engine docs: generated docs are stale; run `engine docs` and commit", file=sys.stderr)
            return 1
        print(f"docs up to date ({len(generated)} pages)")
        return 0
    changed = pages_mod.write(out, generated)
    if args.svg:
        for m in specs.machines.values():
            svg = dot.svg(m)
            if svg is None:
                print("graphviz `dot` not found: skipped SVG", file=sys.stderr)
                break
            (out / m.kind / f"{m.name}.svg").write_text(svg, encoding="utf-8")
    print(f"wrote {len(generated)} pages to {out} ({len(changed)} changed)")
    return 0
