"""Run `engine ARGS` in-process, SIGKILLing itself at a chosen point: a real SIGKILL, placed exactly
(nothing of the engine's own runs after it: no finally, no atexit), without sleeps or timing.

usage: python tests/kill_at.py POINT N -- ARGS...
POINT: checkpoint (after the Nth checkpoint the run commits), archive-rename (after the Nth rename
of a store file into its archive folder), run-dir-rename (after the Nth rename of a run directory's
file into its archive folder), mark-finished (after run/finished is committed, before
the run directory's owner file and journal export say so; N unused), built (a fresh start's last
step before its build returns, both archives done: its data journaled; N unused)."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the root, as for `python -m engine.cli` run there


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after_nth(owner: object, name: str, n: int, counts=lambda *a: True) -> None:
    original, seen = getattr(owner, name), [0]

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        if counts(*args):
            seen[0] += 1
            if seen[0] == n:
                _die()
        return result

    setattr(owner, name, wrapped)


def main(argv: list[str]) -> int:
    point, n, args = argv[0], int(argv[1]), argv[argv.index("--") + 1:]
    if point == "checkpoint":
        from engine.run.loop import Runner
        _after_nth(Runner, "checkpoint", n)
    elif point == "archive-rename":
        _after_nth(Path, "rename", n, lambda src, dest: Path(dest).parent.parent.name.endswith("archive"))
    elif point == "run-dir-rename":
        from engine.run.report import RUN_FILES
        _after_nth(Path, "rename", n, lambda src, dest: Path(dest).parent.parent.name == "archive"
                   and Path(src).name in RUN_FILES)
    elif point == "mark-finished":
        import engine.run.owner as owner
        owner.mark_finished = lambda *a, **k: _die()
    elif point == "built":
        import engine.run.assemble as assemble
        journal_data = assemble._journal_data
        assemble._journal_data = lambda runner: (journal_data(runner), _die())
    else:
        raise SystemExit(f"unknown point {point}")
    from engine.cli import main as engine
    return engine(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
