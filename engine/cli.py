"""The `engine` console script.

The command table is static so that `engine --help` lists every command
without importing any of them; a command's module (engine/commands/NAME.py)
is imported only when it runs (a hyphen in its name is an underscore in the module's). That keeps `engine --help` and `engine validate`
free of pandas, sqlmodel, torch and xgboost.

A command runs with the settings of `.env` in the current directory (engine/envfile.py), the
real environment winning over them; `engine --help` reads none.

Each command module provides:
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int
Exit codes, the same for every command (docs/engine-run.md "Exit codes"):
    0    success
    1    refused or failed: problems found in a spec, config or data file (file:line:col), a
         refusal (no opt-in, a finished run, another engine on the store, nothing to resume)
         or a failure while running
    2    usage: an unknown option or value, or a path or URL that names nothing usable (missing,
         a folder for a file, not a database, an unwritable folder)
    130  interrupted (Ctrl-C)
    143  stopped by SIGTERM (engine run handles it as Ctrl-C)
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# pydantic scans installed plugins on first use (30-90 ms); the engine uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

COMMANDS: dict[str, str] = {
    "validate": "lint specs: every problem as file:line:col",
    "schema": "print the JSON Schema of spec files (for editor autocomplete)",
    "docs": "generate state-diagram docs under docs/specs (--check: fail when stale)",
    "diff": "show what changed between two versions of a spec",
    "run": "run a rollout stage on bundled market data (paper venue by default)",
    "status": "show stage, kill mode, wallets and open positions",
    "kill": "switch the running engine's kill mode: a command of the kill spec (shipped: flatten, close-only, halt, resume, disaster)",
    "promote": "confirm a gated promotion to the next stage",
    "degrade": "send a domain's model back to paper trading (the gate spec's degrade command)",
    "move-stop": "move the stop of the positions open on a symbol (the bracket spec decides)",
    "data": "import market data into the day-partitioned parquet store",
    "train": "train a model (ml: the XGBoost signal filter)",
    "select": "rank symbols and write the top-K active set (to a file, or to a run with --state)",
    "tune": "choose strategy parameters by block cross-validation on the bars a run fits on "
            "(--write: set them in the spec)",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="engine",
        description="Stagecraft: a trading engine whose rules are YAML state machines.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _parser()
        if not argv:
            parser.print_help()
            return 2
        parser.parse_args(argv)  # prints help or a usage error and exits
        return 2
    name, rest = argv[0], argv[1:]
    from engine import envfile
    from engine.diagnostics import SpecError, render

    try:  # before the command's module is imported: none of it may see the environment without .env
        warnings = envfile.load()
    except SpecError as e:
        print(render(e.diagnostics), file=sys.stderr)
        return 1
    if warnings:
        print(render(warnings), file=sys.stderr)
    module = importlib.import_module(f"engine.commands.{name.replace('-', '_')}")
    parser = argparse.ArgumentParser(prog=f"engine {name}", description=COMMANDS[name])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except SpecError as e:  # bad input from any command: file:line:col diagnostics, never a traceback
        print(render(e.diagnostics), file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        from engine.run.interrupt import exit_code

        return exit_code(e)
    except BrokenPipeError:  # `engine status --json | head`; a command whose verdict matters
        silence_stdout()      # (validate) catches this itself and returns its real exit code
        return 0
    except OSError as e:  # a path the file system refuses (a name too long...): one line, not a traceback
        if e.filename is None:
            raise
        print(f"engine {name}: cannot use {e.filename}: {e.strerror or e}; name another path", file=sys.stderr)
        return 1


def silence_stdout() -> None:
    """Point stdout at /dev/null after the reader of a pipe went away, so that the
    interpreter's flush at exit does not raise BrokenPipeError a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
