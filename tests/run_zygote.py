"""`engine run`, started many times over without paying its imports each time (tests/test_run_crash.py).

A fresh `python -m engine.cli run` spends seconds importing pandas, scipy, sqlmodel and
matplotlib before its first bar; twenty restarts of a crash test spent most of their time
there. This process imports them once, then forks a child per request: the child is a new
process running `engine.cli.main(argv)` from a pristine copy of this one (nothing has run
here but imports), so a SIGKILL ends a real engine process wherever it happens to be.

Protocol: each stdin line is a JSON argv (after `engine`), or {"argv": ARGV, "kill": [POINT, N]}: the
child SIGKILLs itself at that point (tests/crash_points.py). For each, stdout carries the
child's `pid N`, then whatever the child prints (its heartbeat lines), then an empty line and
`exit RC` once it has ended (RC negative: the signal that ended it). The child's stderr is this process's.
Every child has tests/crash_points.py's tap on its paper venue: the submissions the venue heard.
usage: python tests/run_zygote.py  (from the repository root)
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the root, as for `python -m engine.cli` run there
# What a stage-1 replay imports lazily; a module missing here only costs its child the import.
import adapters.paper.venue  # noqa: E402,F401
import engine.commands.run  # noqa: E402
import engine.run.assemble  # noqa: E402
import engine.run.report  # noqa: E402,F401
import matplotlib.backends.backend_agg  # noqa: E402
import matplotlib.figure  # noqa: E402,F401
import pandas  # noqa: E402,F401
import scipy.stats  # noqa: E402,F401
import sqlmodel  # noqa: E402,F401
import state.store  # noqa: E402,F401
import strategies.family.trend  # noqa: E402,F401
from engine.cli import main  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent))  # tests/, after the root: crash_points
import crash_points  # noqa: E402

crash_points.install_tap()


def _child(argv: list[str] | dict) -> None:
    """Run the engine; never return into the serving loop."""
    code = 1
    try:
        print(f"pid {os.getpid()}", flush=True)
        if isinstance(argv, dict):
            crash_points.install(*argv["kill"])
            argv = argv["argv"]
        code = main(argv)
    except SystemExit as stop:  # argparse's --help and usage errors
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except BaseException:  # noqa: BLE001 - as the interpreter ends: the traceback, status 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    for line in sys.stdin:
        argv = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(argv)
        _, status = os.waitpid(pid, 0)
        # On a line of its own: a child killed mid-line must not glue its last words to this one.
        print(f"\nexit {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    serve()
