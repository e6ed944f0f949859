"""`engine run --stage N`: the stage's machines trading bundled real data on the paper venue."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from engine.diagnostics import SpecError, render


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", type=int, required=True, choices=range(1, 6), metavar="N",
                   help="rollout stage 1-5, as specs/rollout/rollout.yaml defines it")
    p.add_argument("--config", help="run config YAML merged over the embedded defaults")
    p.add_argument("--live", action="store_true", help="opt in to live legs (also needs config and env)")
    p.add_argument("--paper", action="store_true", help="route the stage's live legs to the paper venue")
    p.add_argument("--specs", nargs="*", default=["specs"], help="spec folders (default: specs)")
    p.add_argument("--db", help="state database file (default from config: var/engine.db)")
    p.add_argument("--run-dir", help="where to write the run's outputs (default: runs/<stage>-<time>)")
    p.add_argument("--max-bars", type=int, help="stop after this many bars (smoke runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in the state database (after a crash or a kill -9)")
    p.add_argument("--heartbeat", action="store_true", help=argparse.SUPPRESS)  # a line per bar, for crash tests


def run(args: argparse.Namespace) -> int:
    from engine.run.optin import OptInError, route
    from engine.run.config import load_config
    from engine.run.session import RefusedToStart, load_specset

    try:
        cfg = load_config(args.config)
        if args.db:
            cfg = cfg.model_copy(update={"db": args.db})
        specs = load_specset(args.specs)
        modes = dict(specs.machines["rollout"].states[f"stage_{args.stage}"].attrs.get("domains", {}))
        routing = route(args.stage, modes, config_enabled=cfg.execution.trading_enabled, live_flag=args.live,
                        paper_flag=args.paper, paper_command=_paper_command(args))
    except SpecError as e:
        print(render(e.diagnostics), file=sys.stderr)
        return 1
    except (OptInError, RefusedToStart) as e:
        print(f"engine run: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"engine run: {e}", file=sys.stderr)
        return 2
    if routing.live_domains:
        print(f"engine run: live trading in {', '.join(routing.live_domains)} needs a live venue adapter "
              "(Bybit, IBKR, MT5), and none is connected in this build; refusing rather than guessing. "
              f"Use `{_paper_command(args)}`.", file=sys.stderr)
        return 1
    db = Path(cfg.db)
    venue_path = db.parent / "paper-venue.db"
    if not args.resume:
        moved = _archive(db, venue_path)
        if moved:
            print(f"previous run's state moved to {moved} (use --resume to continue a run instead)")
    run_dir = Path(args.run_dir or _saved_run_dir(cfg, args.resume) or Path(cfg.runs_dir) /
                   f"stage{args.stage}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}")
    try:
        return _execute(args, cfg, specs, routing, run_dir, venue_path)
    except FileNotFoundError as e:
        print(f"engine run: {e}", file=sys.stderr)
        return 2


def _paper_command(args: argparse.Namespace) -> str:
    """The user's command with --paper instead of --live, to suggest: a resumed run must stay
    resumed, and its config, database and specs stay the same."""
    words = ["engine run", f"--stage {args.stage}", "--paper"]
    words += [f"--{k} {shlex.quote(str(getattr(args, k)))}" for k in ("config", "db") if getattr(args, k)]
    if args.specs != ["specs"]:
        words.append("--specs " + " ".join(map(shlex.quote, args.specs)))
    return " ".join(words + (["--resume"] if args.resume else []))


def _archive(db: Path, venue: Path) -> Path | None:
    """A fresh run starts from empty state; the last run's files are kept, never deleted."""
    files = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), venue, Path(f"{venue}-wal"), Path(f"{venue}-shm"))
             if p.exists()]
    if not files or os.environ.get("ENGINE_DB_URL"):
        return None
    dest = db.parent / "archive" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    dest.mkdir(parents=True, exist_ok=True)
    for p in files:
        p.rename(dest / p.name)
    return dest


def _saved_run_dir(cfg, resume: bool) -> str | None:
    if not resume or not Path(cfg.db).exists():
        return None
    from state.store import Store

    with Store.open(url=os.environ.get("ENGINE_DB_URL"), path=cfg.db) as store:
        return store.get_json("run/dir")


def _execute(args, cfg, specs, routing, run_dir: Path, venue_path: Path) -> int:
    from engine.commands.console import console as make_console
    from engine.run.assemble import assemble
    from engine.run.progress import RunProgress
    from engine.run.report import print_kpi_table, write_run_dir

    console = make_console()
    started = time.time()
    runner = assemble(cfg, specs, args.stage, routing, run_dir, venue_path=venue_path, resume=args.resume)
    runner.session.store.put_json("run/dir", str(run_dir))
    runner.heartbeat = args.heartbeat
    for note in runner.session.notes:
        console.print(f"note: {note}")
    total = sum(len(s) - s.start for s in runner.series)
    if args.max_bars:
        total = min(total, args.max_bars)
    try:
        with RunProgress(total, enabled=not (args.no_progress or args.heartbeat), console=console) as progress:
            progress.advance(runner.bars)
            runner.run(progress, limit=args.max_bars)
    finally:  # the audit lines gathered since the last checkpoint reach the file, error or not
        runner.session.interp.sink.flush()
    result = runner.result(started)
    files = write_run_dir(result, runner.session.store.journal_entries())
    print_kpi_table(result, console)
    console.print(f"run directory: {run_dir}  ({', '.join(sorted(files))})")
    return 0
