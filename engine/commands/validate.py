"""`engine validate [PATH...]`: load and lint specs, print every problem as `file:line:col`.

Exit 0 when clean, 1 when there are errors (or warnings with --strict), 2 on
usage errors such as a path that does not exist or a folder with no spec files. Imports only the spec front
end and the linter: no pandas, sqlmodel, torch or xgboost, so it starts fast.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.commands.paths import named
from engine.diagnostics import Diagnostic, Severity, render
from engine.spec.shipped import elsewhere


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", default=["specs"], metavar="PATH", type=named,
                        help="spec files or folders (default: specs/)")
    parser.add_argument("--format", choices=("text", "json", "github"), default="text",
                        help="text (file:line:col, default), json, or GitHub annotations")
    parser.add_argument("--strict", action="store_true",
                        help="fail on warnings too (the shipped specs give none, so CI can use it)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the result cache ($ENGINE_CACHE_DIR/validate, default "
                             "var/cache/validate in the engine's checkout, not the current folder); a result "
                             "is reused only while no spec, contract catalogue or engine source file changed")


def run(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not Path(p).exists()]
    empty = [p for p in args.paths if Path(p).is_dir() and not _holds_specs(p)]
    for p in missing:
        hint = elsewhere(p)
        print(f"engine validate: no such file or directory: {p}" + (f"\n    hint: {hint}" if hint else ""),
              file=sys.stderr)
    for p in empty:  # a wrong folder must not read as a clean one ("0 errors in 0 files")
        print(f"engine validate: {p} holds no spec files (*.yaml, *.yml)\n"
              "    hint: name the spec folder or a spec file, e.g. `engine validate specs`", file=sys.stderr)
    if missing or empty:
        return 2
    diags, n_files = validate(args.paths, use_cache=not args.no_cache)
    errors = sum(d.severity is Severity.ERROR for d in diags)
    warnings = len(diags) - errors
    summary = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} in {n_files} file{'s' * (n_files != 1)}"
    body = render(diags, args.format)
    code = 1 if errors or (args.strict and warnings) else 0
    try:
        if args.format == "json":
            print(body, flush=True)
            print(summary, file=sys.stderr)
        else:
            print(*([body] if body else []), summary, sep="\n", flush=True)
    except BrokenPipeError:  # `engine validate | head -2`: the reader has enough; the verdict stands
        from engine.cli import silence_stdout

        silence_stdout()
    return code


def _holds_specs(folder: str) -> bool:
    from engine.spec.files import spec_files

    return bool(spec_files([folder])[0])


def validate(paths: list[str], use_cache: bool = False) -> tuple[list[Diagnostic], int]:
    """Every diagnostic for the specs under `paths` and the file count. A path inside a spec
    tree (a folder holding catalogue.yaml) stands for the whole tree: its references resolve
    there, and an edit to one file can break another (an override of a removed parameter)."""
    # Only light modules before the lookup: a hit must not pay for pydantic, the models or the linter.
    from engine.spec import cache, files as spec_paths, shipped

    roots = spec_paths.spec_roots(paths)
    files = spec_paths.spec_files(roots)[0]
    # The paper venue's contract catalogue is linted too (CONTRACT_NO_RATE), and a missing key's
    # hint quotes the shipped specs: an edit to either is a miss.
    k = cache.key([*files, spec_paths.contracts_path(), *shipped.files()], roots) if use_cache else ""
    hit = cache.load(k) if use_cache else None
    if hit is not None:
        return hit
    from engine.spec.validation import check_specs

    diags = check_specs(roots)[1]
    if use_cache:
        cache.save(k, diags, len(files))
    return diags, len(files)
