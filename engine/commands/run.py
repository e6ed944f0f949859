"""`engine run --stage N`: the stage's machines trading bundled real data on the paper venue.

Everything bad input can refuse (config, specs, opt-in, the store's URL, data, the venue's
settings, a resume that does not fit its saved run) is checked before anything is written.
Only then does a fresh run archive the previous run's files, under the run lock that keeps
a second engine off the same store.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.commands.paths import named
from engine.diagnostics import SpecError, render
from engine.run import interrupt
from engine.run.keys import (CHECKPOINT_KEY, CONFIG_DIGEST_KEY, CONFIG_FILE_KEY, DATA_KEY, DIR_KEY, ENGINE_KEY,
                              FINISHED_KEY, ROUTING_KEY, RUN_ID_KEY, SPECS_KEY)
from engine.run.owner import Owner
from engine.spec.contract import stage_state, stages_of
from engine.words import counted

if TYPE_CHECKING:
    from engine.run.config import RunConfig
    from engine.run.optin import Routing
    from engine.spec.ir import SpecSet
    from state.runlock import RunLock

INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports a process the signal ended (SIGTERM: 143)
NOT_CARRIED = ("stage", "live", "paper", "resume")  # what a suggested command sets itself
CARRIED = ("config", "specs", "db")  # written by engine/suggest.py Carried, as every suggested command has them


class Refused(Exception):
    """A run that cannot start or go on: one message, and the exit status (engine/cli.py's table:
    1 refused or failed, 2 usage, 130 interrupted, 143 stopped by SIGTERM)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class OtherBuildSpecError(Exception):
    """A resume's config or specs this engine refuses, of a run another build of it last started or
    resumed: the files may be as the run left them, and only the engine changed."""

    def __init__(self, diagnostics: list, note: str) -> None:
        super().__init__(note)
        self.diagnostics, self.note = diagnostics, note


@dataclass(frozen=True)
class SavedRun:
    """What the store holds of an earlier run, read before anything is written."""
    checkpoint: dict | None
    config: dict[str, str] | None  # checkpoint.config_digest of the config it started with
    finished: dict | None
    run_dir: str | None
    spec_hashes: dict[str, set[str]] = field(default_factory=dict)  # machine -> its snapshots' spec hashes
    specs: dict[str, str] | None = None  # SPECS_KEY; None: a run saved before it was stored
    config_file: dict | None = None  # CONFIG_FILE_KEY; None: a run saved before it was stored
    run_id: str | None = None  # RUN_ID_KEY; None: a run started before runs had an id
    data: dict[str, dict] | None = None  # DATA_KEY; None: a run saved before it was stored
    untaken: list[dict] = field(default_factory=list)  # operator commands posted that no engine took yet
    engine: str | None = None  # ENGINE_KEY: the build that last ran it; None: a run saved before it was stored

    @property
    def exists(self) -> bool:
        return self.checkpoint is not None or self.config is not None


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.commands.status import add_specs_argument

    p.add_argument("--stage", type=stage_number, required=True, metavar="N",
                   help="a rollout stage: 1-5, or another stage_N state the rollout spec defines")
    p.add_argument("--config", type=named, help="run config YAML merged over the embedded defaults")
    p.add_argument("--live", action="store_true", help="opt in to live legs (also needs config and env)")
    p.add_argument("--paper", action="store_true", help="route the stage's live legs to the paper venue")
    add_specs_argument(p)  # as every operator command takes it: a suggested command carries the run's
    p.add_argument("--db", help="state database: a SQLite file or a database URL (default: $ENGINE_DB_URL, "
                                "else the config's db, var/engine.db)")
    p.add_argument("--run-dir", type=named, help="where to write the run's outputs (default: "
                   "<runs_dir>/stage<N>-<UTC time>, e.g. runs/stage1-20260102T030405Z; runs_dir is set in the run config)")
    p.add_argument("--max-bars", type=_bar_count, help="stop after this many bars (smoke runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in the state database (after a crash or a kill -9)")
    p.add_argument("--heartbeat", action="store_true", help=argparse.SUPPRESS)  # a line per bar, for crash tests


def _bar_count(text: str) -> int:
    """--max-bars: a whole number of bars, at least 1 (0 or less would run nothing, silently)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bars; e.g. --max-bars 500") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} bars: give at least 1 (leave --max-bars out to run every bar)")
    return n


def run(args: argparse.Namespace) -> int:
    from engine.threads import pin_threads

    pin_threads()  # before numpy and xgboost load: the ML filter predicts on every entry's bar
    with interrupt.deferred():  # SIGTERM as Ctrl-C; one a finalizer swallowed is raised again at interrupt.check()
        try:
            return _run(args)
        except SpecError as e:
            print(render(e.diagnostics), file=sys.stderr)
            return 1
        except OtherBuildSpecError as e:
            print(render(e.diagnostics), file=sys.stderr)
            print(f"engine run: note: {e.note}", file=sys.stderr)
            return 1
        except Refused as e:
            print(f"engine run: {e}", file=sys.stderr)
            return e.code
        except KeyboardInterrupt as e:  # before the first bar: a fresh run put the last run's files back
            print(f"engine run: {interrupt.stopped(e)} while starting, before the first bar; run the same command "
                  "again", file=sys.stderr)
            return interrupt.exit_code(e)


def _run(args: argparse.Namespace) -> int:
    from adapters.base import VenueError
    from engine.run.owner import new_run_id, owner_of
    from engine.suggest import Carried
    from state.db import shown_url
    from state.runlock import run_files

    cfg, url, specs, routing, warnings = _inputs(args)
    parsed = _parse_url(url)
    _settle_archive(url)
    file = _sqlite_file(parsed)
    _check_store_file(args, url, file)
    _check_reachable(parsed)
    with _store_lost(parsed, args), _run_lock(url, parsed) as lock:
        saved = _saved_run(parsed, specs)
        if saved is not None and saved.finished is not None:  # before a refused resume, or the archiving
            _complete_finished(parsed)
        _check_saved(args, cfg, specs, parsed, saved)
        start, notes = time.time(), []
        series = _checked_series(cfg, specs, routing, notes)
        bars = sum(len(s) - s.start for s in series)
        if not args.resume and not bars:
            raise Refused(_nothing_to_trade(args.stage, notes), 1)
        _check_bars_left(args, saved, bars)
        if args.resume:
            _check_data(args, parsed, saved, series)
        if not args.resume:  # a resume keeps the set its run started with, in the store
            _check_active_set(cfg, specs, args.config, series, notes)
        made: list[Path] = []  # the folders this start makes, the only ones a failed start removes
        run_dir = _run_dir(args, cfg, saved, made)
        _settle_run_files(run_dir, str(file or shown_url(parsed)))
        if args.resume:
            _check_trail(args, parsed, run_dir, saved)
        local = run_files(url)
        run_id = saved.run_id if args.resume and saved is not None else new_run_id()
        me = owner_of(str(file or shown_url(parsed)), file, None if file else local.folder.name, args.stage, run_id)
        with _claimed(run_dir, me, made, _afresh(args, parsed) if args.resume else None):
            interrupt.check()  # a Ctrl-C lost while loading: stop before anything is archived
            if not args.resume and file is None and saved is not None and saved.checkpoint is None:
                _set_aside_start(url)
            runner = _assemble(args, cfg, specs, routing, run_dir, series, notes, parsed, local, me)
            if not args.resume and saved is not None:
                _drop_untaken(saved.untaken, runner.session.store)
            runner.lock_lost = lock.lost
            runner.carried = Carried.of(args)  # what the commands it suggests keep: its store, config, specs
            try:
                return _execute(args, runner, run_dir, start, run_warnings(warnings, series), me)
            except FileNotFoundError as e:
                raise Refused(str(e), 2) from None
            except VenueError as e:  # a resume's catch-up replay that the venue's log does not match
                raise _venue_mismatch(e, local.venue) from None
            except KeyboardInterrupt as e:
                raise Refused(_interrupted(args, parsed, specs, len(runner.timeline), e),
                              interrupt.exit_code(e)) from None


def _set_aside_start(url: str) -> None:
    """A server store holding what a start stopped before its first checkpoint wrote (Ctrl-C, a
    kill): no resume can continue it, so its tables move into a schema of their own, journal and
    all (state/set_aside.py), and the run starts on empty ones. Under the run lock: no engine
    writes there meanwhile."""
    from state.set_aside import set_aside

    moved = set_aside(url)
    if moved is not None:
        print(f"the store held a start that never checkpointed: its tables ({moved[1]} rows) were moved to "
              f"schema {moved[0]}")


def _check_store_file(args: argparse.Namespace, url: str, file: Path | None) -> None:
    if file is not None and file.exists() and not file.is_file():  # a fresh run would archive it whole
        raise Refused(f"the store {file} is not a file (a folder or a device): name a SQLite file, "
                      "e.g. --db var/engine.db", 2)
    if args.resume and file is not None and not file.is_file():  # and make no empty store, nor its folder
        raise Refused(f"nothing to resume: no store at {file}{_or_archived(url)} start a run without --resume", 1)


def _run_lock(url: str, parsed: Any) -> RunLock:
    """The store's run lock, taken; one engine per store."""
    from sqlalchemy.exc import DBAPIError

    from engine.commands.status import driver_error
    from state.db import shown_url
    from state.runlock import EngineRunning, RunLock

    try:
        return RunLock.acquire(url)
    except EngineRunning as e:
        raise Refused(f"{e}: one engine per store ({shown_url(parsed)}); stop it or let it finish first", 1) from None
    except DBAPIError as e:  # a server store whose role may not make the engine's tables there
        said = driver_error(parsed, e)
        raise Refused(str(said), said.code) from None
    except OSError as e:  # the store's folder is read-only, full, or no folder at all (/proc)
        raise Refused(f"cannot make the store's run lock {e.filename or ''}: {e.strerror or e}; a run keeps its "
                      "lock, paper venue file and archive beside a SQLite store, so give --db a file in a writable "
                      "folder, e.g. --db var/engine.db", 2) from None


def _settle_archive(url: str) -> None:
    """A start killed while it moved the store's files into the archive: undone first, so that the
    store this run reads (to resume, or to archive) is whole (engine/run/store_archive.py)."""
    from engine.commands.status import CommandError, settle_archive

    try:
        settle_archive(url)
    except CommandError as e:
        raise Refused(str(e), e.code) from None


def _settle_run_files(run_dir: Path, store: str) -> None:
    """A start killed while it moved the run directory's files into its archive: undone before the
    directory is checked, resumed or archived, so its files are the last run's, together
    (engine/run/report.py settle_run_files)."""
    from engine.run.report import settle_run_files
    from engine.run.store_archive import UnsettledArchive

    try:
        note = settle_run_files(run_dir, store)
    except UnsettledArchive as e:
        raise Refused(str(e), 1) from None
    if note:
        print(f"note: {note}", file=sys.stderr)


def _complete_finished(parsed: Any) -> None:
    """The finished run's directory brought level with its store (engine/run/finished.py)."""
    from engine.commands.status import complete_finished
    from state.store import Store

    url = parsed.render_as_string(hide_password=False)
    with Store.open_readonly(url) as store:
        complete_finished(store, url)


def _run_dir(args: argparse.Namespace, cfg: Any, saved: SavedRun | None, made: list[Path] | None = None) -> Path:
    """Where the run writes: a resume's own directory (its audit trail goes on there; another
    --run-dir is refused before anything is written), --run-dir, or a new one under runs_dir (its
    folders added to `made`)."""
    if args.resume and saved is not None and saved.run_dir is not None:
        own = saved.run_dir
        if args.run_dir is not None and Path(args.run_dir).resolve() != _saved_dir(saved, own):
            raise Refused(f"this run's directory is {own}, not {args.run_dir}: a resume continues its audit trail "
                          f"there; drop --run-dir or name it (--run-dir {shlex.quote(own)}). Nothing was written", 2)
        return _saved_dir(saved, own)  # from here, a relative one would be another folder than the run's
    return Path(args.run_dir or _new_run_dir(Path(cfg.runs_dir), args.stage, made))


def _saved_dir(saved: SavedRun, run_dir: str) -> Path:
    """A directory the saved run recorded, absolute: a relative one is read from the folder the run ran in."""
    cwd = (saved.config_file or {}).get("cwd") or os.getcwd()
    return (Path(cwd) / run_dir).resolve()


def _check_trail(args: argparse.Namespace, parsed: Any, run_dir: Path, saved: SavedRun | None) -> None:
    """A resume cuts the audit trail back to its checkpoint's mark: one shorter than that lost
    records the store's checkpoint covers, refused before anything is written."""
    from engine.run.report import AUDIT
    from engine.runtime.audit import trail_gap

    offset = ((saved.checkpoint or {}) if saved is not None else {}).get("audit_offset")
    if offset is not None and (gap := trail_gap(run_dir / AUDIT, offset)):
        raise Refused(f"{gap}; put the run's own {AUDIT} back and resume, or {_afresh(args, parsed)}. "
                      "Nothing was written", 1)


@contextmanager
def _claimed(run_dir: Path, me: Owner, made: list[Path], afresh: str | None) -> Iterator[None]:
    """The run directory, writable and this run's alone for the block: checked, and locked, before
    a fresh run archives the last run's files (and held by no stopped run of another store), or
    before a resume (`afresh`: how to start again instead) cuts its trail back (and still its own);
    the folders a start refused or interrupted made (`made`, and those made here) go, if empty."""
    from state.runlock import RunDirInUse, RunDirLock

    resume = afresh is not None
    try:
        _check_writable(run_dir, resume, made)
        try:
            lock = RunDirLock.acquire(run_dir, me.store)  # the store, as people name it
        except RunDirInUse as e:
            raise Refused(f"{e}: one run per run directory, so give this run another --run-dir, or let that run "
                          "finish first. Nothing was moved or written", 1) from None
        with lock:
            if afresh is not None:  # its trail's length checked (_check_trail); is it still its trail?
                _check_still_own(run_dir, me, afresh)
            else:
                _check_owner(run_dir, me)
            yield
    except BaseException:  # any start-up failure: a refusal, Ctrl-C, a bad input found late, a bug
        for folder in sorted(made, key=lambda p: len(p.parts), reverse=True):  # a user's own folders stay
            with suppress(OSError):
                folder.rmdir()  # only if nothing is in it
        raise


def _check_still_own(run_dir: Path, me: Owner, afresh: str) -> None:
    """A resume cuts the audit trail in `run_dir` back to its checkpoint's mark: refused when the
    owner file names another run, one that took the directory after this one stopped (its owner
    file deleted to give this run up, or this store archived by a fresh run and put back), whose
    trail the cut would destroy; or when it cannot be read. The run is told by its id, which a
    store copied or moved keeps (Owner.same_run); an owner file from before runs had an id, by its
    store's path, and one naming another store is refused with the way on for a copy. No owner
    file: a run from before runs left one, or a trail no other run wrote."""
    from engine.run.owner import OWNER_FILE

    owner = _read_owner(run_dir, f"the audit trail in {run_dir} is still this run's",
                        "a resume cuts the trail back to its checkpoint. If it is this run's, delete that file and "
                        f"resume again; else {afresh}. Nothing was written")
    if owner is None or owner.same_run(me):
        return
    if owner.run_id is None:  # whose run it is was written as a store's path, and this store has another
        raise Refused(f"cannot tell whether the audit trail in {run_dir} is still this run's: its owner file "
                      f"{run_dir / OWNER_FILE}, written before runs had an id, names another store, {owner.store} "
                      f"(since {owner.since}), and a resume cuts the trail back to its checkpoint. If this store is "
                      f"that one copied or moved, delete that file and resume again; else {afresh}. Nothing was "
                      "written", 1)
    mine = f"run id {me.run_id}" if me.run_id else "started before runs had an id"
    raise Refused(f"the run directory {run_dir} was taken by another run, of the store {owner.store} (run id "
                  f"{owner.run_id}, since {owner.since}), after this run ({mine}) stopped: a resume would cut that "
                  f"run's audit trail back to this run's checkpoint. This run can no longer resume there; {afresh}. "
                  "Nothing was written", 1)


def _check_owner(run_dir: Path, me: Owner) -> None:
    """A fresh run would archive the files in `run_dir`: refused when they are the audit trail of
    a stopped, unfinished run of another store (its resume goes on writing there, and would find
    its trail gone), or when whose they are cannot be told. The run that wrote them named its
    store in the owner file (engine/run/owner.py); that store says whether its run is still
    unfinished there. No owner file (a directory no run wrote since runs left one), a finished
    run, or this store's own stopped run (a fresh run on a store archives its run, store and
    files alike) leave the directory to this run."""
    owner = _read_owner(run_dir, f"the run directory {run_dir} holds a stopped run of another store",
                        f"give this run another --run-dir, or, {_give_up(run_dir, 'no stopped run needs it')}")
    if owner is None or owner.finished or owner.same_store(me):
        return
    give_up = _give_up(run_dir, "that run is to be given up")
    stopped = _stopped_run(owner, run_dir, give_up)
    if stopped is not None:
        point, resume = stopped
        raise Refused(f"the run directory {run_dir} holds the audit trail of a stopped run of another store, "
                      f"{owner.store} (stage {point.get('stage', '?')}, saved at bar {point.get('cursor', 0):,}; "
                      "it did not finish): a fresh run here would archive that trail, and the stopped run could "
                      f"not resume. Continue it with `{resume}`, give this run another --run-dir, or, {give_up}", 1)


def _read_owner(run_dir: Path, unknown: str, way_on: str) -> Owner | None:
    """The owner file in `run_dir` (None: none); one that cannot be read is refused: whether
    `unknown` cannot be told, and `way_on`, the refusal's way past it."""
    from engine.run.owner import OWNER_FILE, UnreadableOwner, read_owner

    try:
        return read_owner(run_dir)
    except UnreadableOwner as e:
        raise Refused(f"cannot tell whether {unknown}: its owner file {run_dir / OWNER_FILE} {e}; {way_on}",
                      1) from None


def _give_up(run_dir: Path, when: str) -> str:
    """The deliberate way past _check_owner, the end of its refusals: without the owner file a fresh
    run archives the directory's files (into its archive/, kept), and the stopped run's resume
    would find its trail gone."""
    from engine.run.owner import OWNER_FILE

    return (f"if {when}, delete {run_dir / OWNER_FILE} and run this command again (the run's files then move "
            f"to {run_dir / 'archive'}/). Nothing was moved or written")


def _stopped_run(owner: Owner, run_dir: Path, give_up: str) -> tuple[dict, str] | None:
    """The owner's unfinished run in `run_dir`, as its store holds it: its checkpoint and the
    command that resumes it; None when the store holds no such run (no store at that path any
    more, no checkpoint, a finished run, or a later run of that store that writes elsewhere).
    A store that cannot be read, or a server store (its URL, password and all, is not kept in the
    run directory), is refused: whose the directory is cannot be told."""
    from engine.commands.status import driver_error, resume_command
    from state.db import parse_url
    from state.store import NoStore, Store

    unknown = f"cannot tell whether the run directory {run_dir} holds a stopped run of another store, {owner.store}"
    if owner.sqlite is None:
        raise Refused(f"{unknown}: its run did not mark the directory finished, and a server store is not read "
                      f"from here. If it stopped, continue it with `engine run --resume` on that store (`engine "
                      f"status` on it gives the command); else give this run another --run-dir, or, {give_up}", 1)
    if not Path(owner.sqlite).is_file():
        return None  # no store there: no run can resume from it
    url = f"sqlite:///{owner.sqlite}"
    try:
        with Store.open_readonly(url) as store:
            saved = SavedRun(store.get_json(CHECKPOINT_KEY), None, store.get_json(FINISHED_KEY),
                             store.get_json(DIR_KEY), config_file=store.get_json(CONFIG_FILE_KEY))
            if (saved.checkpoint is None or saved.finished is not None or saved.run_dir is None
                    or _saved_dir(saved, saved.run_dir) != run_dir.resolve()):
                return None
            resume = resume_command(store, argparse.Namespace(db=owner.sqlite, config=None, specs="specs"))
    except NoStore:  # a file a killed start left without tables: no run
        return None
    except Exception as e:  # noqa: BLE001 - fail closed: an unreadable store may hold the run
        raise Refused(f"{unknown}: that store cannot be read ({driver_error(parse_url(url), e)}); make it readable, "
                      f"give this run another --run-dir, or, {give_up}", 1) from None
    return saved.checkpoint, str(resume)  # a checkpoint names its stage: resume_command has the command


def _new_run_dir(runs: Path, stage: int, made: list[Path] | None = None) -> Path:
    """A run directory of this run's own, claimed by making it: two runs started in the same
    second (on two stores) must not write one audit trail. The folders it makes go into `made`."""
    base = runs / f"stage{stage}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    made = [] if made is None else made
    try:
        _make_dir(runs, made)
        for n in range(1, 1000):
            path = base if n == 1 else base.with_name(f"{base.name}-{n}")
            try:
                path.mkdir()
                made.append(path)
                return path
            except FileExistsError:
                continue
    except OSError as e:
        raise Refused(f"cannot make a run directory under {runs} (the config's runs_dir): {e.strerror or e}; "
                      "point runs_dir or --run-dir at a writable folder", 2) from None
    raise Refused(f"no free run directory name under {runs} for {base.name}", 1)


def _make_dir(folder: Path, made: list[Path]) -> None:
    """`folder` and its missing parents made, those this call made added to `made`."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    made.extend(missing)


def _check_writable(run_dir: Path, resume: bool, made: list[Path]) -> None:
    """The run can write its files into `run_dir` (made if missing, the folders it made added to
    `made`): refused before the last run's files are archived or its audit trail opened, not
    halfway through starting."""
    from engine.run.report import AUDIT

    try:
        _make_dir(run_dir, made)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
        if (run_dir / AUDIT).exists():  # a resume appends to its trail
            with open(run_dir / AUDIT, "ab"):
                pass
    except OSError as e:
        way = ("make it writable again: a resume continues the audit trail there" if resume
               else "name a writable folder with --run-dir")
        raise Refused(f"cannot write into the run directory {run_dir} ({e.strerror or e}): {way}. Nothing was "
                      "moved or written", 2) from None


def _paper_command(args: argparse.Namespace) -> str:
    """The user's command with --paper instead of --live, to suggest: a resumed run must stay
    resumed, and every other option the user gave stays as given."""
    return _command(args, "--paper", resume=args.resume)


def resume_command_of(args: argparse.Namespace) -> str:
    """The command that continues this run: the user's, with --resume (also `engine status`'s)."""
    routing = "--paper" if args.paper else "--live" if args.live else ""
    return _command(args, routing, resume=True)


def _command(args: argparse.Namespace, routing: str, *, resume: bool) -> str:
    """The user's command line rebuilt from its parsed options, so that it can be pasted: the
    command word that started this engine, the config, specs and store as every suggested command
    carries them (engine/suggest.py Carried), every other option given (one not at its default),
    with `routing` and `resume` in place of the user's."""
    from engine.suggest import Carried

    p = argparse.ArgumentParser()
    add_arguments(p)
    defaults = vars(p.parse_args(["--stage", str(args.stage)]))
    carried = replace(Carried.of(args), routing=(routing,) if routing else ())
    words = []
    for dest, value in vars(args).items():
        if dest in NOT_CARRIED or dest in CARRIED or dest not in defaults or value == defaults[dest]:
            continue
        flag = "--" + dest.replace("_", "-")
        if value is True:
            words.append(flag)
        elif isinstance(value, list):
            words.append(" ".join([flag, *map(shlex.quote, value)]))
        else:
            words.append(f"{flag} {shlex.quote(str(value))}")
    return carried.run(args.stage, *words, *(["--resume"] if resume else []))


def _interrupted(args: argparse.Namespace, parsed: Any, specs: Any, bars: int, e: KeyboardInterrupt) -> str:
    """What a Ctrl-C (or SIGTERM) left, and the command that goes on: the store holds the run as of
    its last checkpoint (a checkpoint commits whole or not at all), and a resume replays from there."""
    saved = _saved_run(parsed, specs)
    point = (saved.checkpoint or {}) if saved is not None else {}
    stopped = interrupt.stopped(e)
    if saved is not None and saved.finished is not None:  # its report was written: nothing to resume
        return f"{stopped} after the run finished; its report is in {saved.finished['run_dir']}"
    if "cursor" not in point:
        return (f"{stopped} before the run's first checkpoint, so there is nothing to resume: run the same "
                "command again (it starts afresh)")
    if point["cursor"] >= bars:
        return (f"{stopped} after the run's last bar (bar {point['cursor']:,}) was checkpointed; write its "
                f"report with `{resume_command_of(args)}`")
    if args.max_bars is not None and point["cursor"] >= args.max_bars:  # _check_bars_left refuses that resume
        more = argparse.Namespace(**{**vars(args), "max_bars": None})
        return (f"{stopped} after bar {point['cursor']:,} (--max-bars) was checkpointed, before the report: "
                f"continue with `{resume_command_of(more)}` (or a larger --max-bars; {bars:,} bars in all)")
    return (f"{stopped}; the store holds the run up to its last checkpoint (bar {point['cursor']:,} of "
            f"{bars:,}): continue with `{resume_command_of(args)}`")


# -- checks before anything is written ---------------------------------------------------
def _inputs(args: argparse.Namespace) -> tuple[Any, str, Any, Any, list]:
    """Config, the store's URL, specs, the stage's routing and the specs' warnings (what `engine
    validate` warns of); Refused, SpecError or OtherBuildSpecError otherwise."""
    # first: each misfit would otherwise surface as a config or opt-in error
    other = _check_resumable(args) if args.resume else False
    try:
        return _read_inputs(args)
    except SpecError as e:
        if not other:
            raise
        from engine.run.build import OTHER_BUILD

        raise OtherBuildSpecError(e.diagnostics, f"{OTHER_BUILD}: if the config and specs are the ones it started "
                                                 "with, resume the run with that engine") from None


def _read_inputs(args: argparse.Namespace) -> tuple[Any, str, Any, Any, list]:
    from engine.run.config import check_allowlist, with_specs
    from engine.run.optin import Misused, OptInError, route
    from engine.run.session import RefusedToStart, allowlist_names, check_specset

    cfg = _config(args.config)
    url = _store_url(args.db, cfg.db)  # checked before a suggested command prints --db back
    _check_specs(args.specs)
    try:
        specs, warnings = check_specset(args.specs)
        check_allowlist(cfg, args.config, allowlist_names(specs))  # the spec set's, once it is checked
        cfg = with_specs(cfg, args.config, specs)  # the set's strategy and registry, unless the config names its own
        modes = dict(_stage_of_spec(specs, args.stage).attrs.get("domains", {}))
        routing = route(args.stage, modes, config_enabled=cfg.execution.trading_enabled, live_flag=args.live,
                        paper_flag=args.paper, paper_command=_paper_command(args))
    except Misused as e:  # --live with --paper, or for a stage with no live leg: a usage error
        raise Refused(str(e), 2) from None
    except (OptInError, RefusedToStart) as e:
        raise Refused(str(e), 1) from None
    except FileNotFoundError as e:
        raise Refused(str(e), 2) from None
    _check_env(cfg.env, specs, args.config)
    if routing.live_domains:
        raise Refused(f"live trading in {', '.join(routing.live_domains)} needs a live venue adapter "
                      "(Bybit, IBKR, MT5), and none is connected in this build; refusing rather than guessing. "
                      f"Use `{_paper_command(args)}`.", 1)
    return cfg, url, specs, routing, warnings


def stage_number(text: str) -> int:
    """A stage is a positive whole number; which stages exist is the rollout spec's to say."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a stage: give a stage number (1 or more), e.g. --stage 1")
    return int(digits)


def _stage_of_spec(specs: Any, stage: int) -> Any:
    """The rollout state of `stage`; a usage error naming the stages the spec defines when it has
    none (ENGINE_CONTRACT made sure of stages 1-5 and that `activate` enters every stage_N)."""
    rollout = specs.machines["rollout"]
    state = rollout.states.get(stage_state(stage))
    if state is None:
        have = ", ".join(map(str, stages_of(rollout)))
        raise Refused(f"stage {stage} is not a stage of the rollout in {rollout.path} (it defines stages {have}): "
                      f"run one of those, or add a `{stage_state(stage)}` state to the spec", 2)
    return state


def _check_specs(paths: list[str]) -> None:
    """Every --specs path exists: a missing one is a usage error, as for --config (and for the
    operator commands: one rule)."""
    from engine.commands.status import missing_specs

    problem = missing_specs(paths)
    if problem:
        raise Refused(problem, 2)


def _check_env(env: str, specs: Any, config: str | None) -> None:
    """The config's `env:` must be a declared environment: under any other name no env override
    would apply, silently."""
    from engine.diagnostics import Diagnostic, Severity
    from engine.spec.params import declared_envs, unknown_env_hint

    if env not in declared_envs(specs):
        raise SpecError([Diagnostic(_env_pos(config), Severity.ERROR, "CONFIG_ENV",
                                    f"env `{env}` is not a declared environment", unknown_env_hint(specs, env))])


def _env_pos(config: str | None) -> Any:
    """Where `env:` is set: the user's config file when it sets it, else the embedded defaults."""
    from engine.run.config import setting_pos

    return setting_pos(config, ("env",))


def _config(path: str | None) -> Any:
    from engine.run.config import load_config

    if path is not None and not Path(path).is_file():
        what = "a directory" if Path(path).is_dir() else "not a file" if Path(path).exists() else "missing"
        raise Refused(f"--config {path}: {what}; pass a YAML run config file (keys as engine/run/defaults.yaml)", 2)
    try:
        return load_config(path)
    except OSError as e:
        raise Refused(f"--config {path}: cannot read it ({e})", 2) from None


def _store_url(db: str | None, config_db: str) -> str:
    from engine.commands.status import checked_store_url

    return _as_refused(checked_store_url, db, config_db)


def _parse_url(url: str) -> Any:
    from engine.commands.status import parse_store_url

    return _as_refused(parse_store_url, url)


def _as_refused(check: Callable[..., Any], *args: Any) -> Any:
    """The store checks the operator commands make, as `engine run` refuses: the same message,
    a usage error (exit 2)."""
    from engine.commands.status import CommandError

    try:
        return check(*args)
    except CommandError as e:
        raise Refused(str(e), 2) from None


def _check_reachable(parsed: Any) -> None:
    """The store's dialect and driver load, and a server store answers, before the run lock's file
    is made: a bad URL leaves nothing behind. (The saved run is read under the lock.)"""
    from sqlalchemy import create_engine

    from engine.commands.status import driver_error
    from state.db import with_driver

    try:
        engine = create_engine(with_driver(parsed))  # imports the dialect and its driver
        try:
            if parsed.get_backend_name() != "sqlite":  # a SQLite file is made, or read, under the lock
                engine.connect().close()
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - a driver error becomes one line, not a traceback
        raise Refused(str(driver_error(parsed, e)), 2) from None


def _sqlite_file(parsed: Any) -> Path | None:
    name = parsed.database if parsed.get_backend_name() == "sqlite" else None
    return Path(name).resolve() if name and name != ":memory:" else None  # a symlink: the store it names


def _saved_run(parsed: Any, specs: Any) -> SavedRun | None:
    """The earlier run in the store, read without writing (None: no store file yet), with the spec
    hashes of every machine a run of `specs` hosts. A store that cannot be opened (bad driver,
    refused connection) is one line, password masked."""
    from engine.commands.status import driver_error, pending_commands
    from engine.run.session import hosted_machines
    from state.store import NoStore, Store

    file = _sqlite_file(parsed)
    if file is not None and not file.is_file():
        return None
    url = parsed.render_as_string(hide_password=False)
    try:
        with Store.open_readonly(url) if file is not None else Store.open(url=url) as store:
            return SavedRun(store.get_json(CHECKPOINT_KEY), store.get_json(CONFIG_DIGEST_KEY),
                            store.get_json(FINISHED_KEY), store.get_json(DIR_KEY),
                            {m: {r.spec_hash for r in store.load_snapshots(m).values()}
                             for m in hosted_machines(specs)}, store.get_json(SPECS_KEY),
                            store.get_json(CONFIG_FILE_KEY), store.get_json(RUN_ID_KEY), store.get_json(DATA_KEY),
                            [{"id": c["id"], "command": c["command"], "posted": c["ts"],
                              "reason": c["args"].get("reason")} for c in pending_commands(store)],
                            store.get_json(ENGINE_KEY))
    except NoStore:  # a file a run killed while starting left without tables: no run, as kill and status say
        return None
    except Exception as e:  # noqa: BLE001 - a driver error becomes one line, not a traceback
        raise Refused(str(driver_error(parsed, e)), 2) from None


def _drop_untaken(untaken: list[dict], store: Any) -> None:
    """Say (stderr, and the new run's journal: kind `command`, key `not_taken`) which operator
    commands the archived run never applied (never took, or claimed and stopped before applying:
    status.pending_commands): a fresh run starts from the spec's initial kill mode,
    so a flatten or halt posted for the old run does not apply to it unless posted again."""
    if not untaken:
        return
    listed = ", ".join(f"#{c['id']} {c['command']}" + (f" ({c['reason']})" if c.get("reason") else "")
                       for c in untaken)
    text = (f"the store's last run never applied {counted(len(untaken), 'operator command')} posted to it ({listed}); "
            "this fresh run archived that run with them and does not apply them: post again what still applies "
            "(`engine kill --mode ...`)")
    print(f"engine run: warning: {text}", file=sys.stderr)
    store.journal("command", "not_taken", {"commands": untaken}, reason=text)


def _check_saved(args: argparse.Namespace, cfg: Any, specs: Any, parsed: Any, saved: SavedRun | None) -> None:
    """A resume must continue an unfinished run under the same config and specs; a fresh run on a
    server database (nothing to archive) must find no run there that checkpointed or finished (what
    a start stopped before its first checkpoint left is set aside: _set_aside_start)."""
    from engine.run import checkpoint
    from state.db import shown_url

    where = shown_url(parsed)
    afresh = _afresh(args, parsed)
    if not args.resume:
        if _sqlite_file(parsed) is None and saved is not None and (saved.checkpoint is not None or saved.finished):
            stage = (saved.checkpoint or {}).get("stage", "?")
            way = "" if saved.finished else "continue that run with `--resume`, or "
            raise Refused(f"the store {where} already holds a {'finished ' if saved.finished else ''}run "
                          f"(stage {stage}), and a database server's state cannot be archived: {way}point "
                          f"{_db_option(args)} at an empty database", 1)
        return
    if saved is None or saved.checkpoint is None:
        raise Refused(f"nothing to resume in {where}: no run has checkpointed there"
                      f"{_or_archived(parsed.render_as_string(hide_password=False))} start a run without --resume", 1)
    if saved.finished is not None:
        raise Refused(f"the run in {where} already finished; {_report_of(saved, args)}. To run again, {afresh}", 1)
    changed = checkpoint.config_changes(saved.config, cfg) if saved.config is not None else []
    if changed:
        spec = ("; a config without ml.registry reads it from the ML spec's registry_root, so put that back too"
                if "ml.registry" in changed else "")
        raise Refused(f"the run config differs from the one the saved run started with ({', '.join(changed)})"
                      f"{_build_said(saved, 'it') or ':'} resume with that config{_started_with(saved)}{spec}, "
                      f"or {afresh}", 1)
    edited = _edited_specs(saved, cfg, specs)
    if edited:
        raise Refused(f"{'; '.join(edited)} changed since the saved run's last checkpoint"
                      f"{_build_said(saved, 'them') or ', and a resume replays under the specs it started with:'} "
                      f"put the spec{'s' * (len(edited) > 1)} back and resume, or {afresh}", 1)


def _build_said(saved: SavedRun, it: str) -> str:
    """Why a config or spec nobody edited can read otherwise now: the engine changed since the run
    last started or resumed ("" when it did not)."""
    from engine.run.build import OTHER_BUILD, other_build

    if not other_build(saved.engine):
        return ""
    return f" as this engine reads {it}, and {OTHER_BUILD}: if you changed nothing, resume the run with that engine; else"


def _fingerprints(series: list) -> dict[str, dict]:
    from engine.run.market import fingerprint

    return {f"{s.domain.value}/{s.symbol}": fingerprint(s) for s in series}


def _check_data(args: argparse.Namespace, parsed: Any, saved: SavedRun | None, series: list) -> None:
    """A resume replays the bars its run started with: the strategy was fitted on a share of them
    and the checkpoint's cursor counts rows of their timeline. Other bars (a store series that a
    daily import lengthened, another data set) would go on silently from a state they never made."""
    if saved is None or saved.data is None:
        return
    now = _fingerprints(series)
    changed = sorted(k for k in saved.data.keys() | now.keys() if saved.data.get(k) != now.get(k))
    if not changed:
        return
    what = "; ".join(f"{k}: {_bars_said(saved.data.get(k))} then, {_bars_said(now.get(k))} now" for k in changed)
    raise Refused(f"the run's data changed since it started ({what}), and a resume replays the bars the run "
                  f"started with: put that data back (the config's datasets, the store's series) and resume, "
                  f"or {_afresh(args, parsed)}", 1)


def _bars_said(p: dict | None) -> str:
    if p is None:
        return "no series"
    return f"{p['bars']} bars {p['first']} .. {p['last']} (hash {p['hash']})"


def _check_resumable(args: argparse.Namespace) -> bool:
    """A resume fits the stopped run its store holds, checked before the config, specs and opt-ins
    are read, as each would blame a misfit on something else: the folder the run ran in (from
    another, the default relative --specs names nothing), its stage (a stage with
    live legs asked for opt-ins) and its routing. The store is only read; a running engine, no
    store, no checkpoint, a finished run or a store that cannot be read is left to _check_saved
    and the run lock. True: another build of the engine last started or resumed the stopped run."""
    from engine.commands.status import CommandError, command_store_url, open_existing_store
    from engine.diagnostics import SpecError
    from engine.run.build import other_build
    from engine.suggest import Carried

    from state.runlock import RunLock

    try:
        url = command_store_url(args)
    except (CommandError, SpecError):  # a config this build refuses: its diagnostics follow, and say if another build ran it
        return _other_build_of(args)
    except Exception:  # noqa: BLE001 - a server that cannot be reached: the start says so in one line
        return False
    try:
        if RunLock.holder(url) is not None:  # refused under the run lock; reading would leave a -wal, -shm
            return False
    except Exception:  # noqa: BLE001 - as above
        return False
    try:
        with open_existing_store(url, Carried.of(args), readonly=True) as store:
            point, routing = store.get_json(CHECKPOINT_KEY), store.get_json(ROUTING_KEY)
            if point is None or store.get_json(FINISHED_KEY) is not None:
                return False
            _check_folder(args, store)
            other = other_build(store.get_json(ENGINE_KEY))
    except CommandError:
        return False
    _check_stage(args, point, routing)
    _check_routing(args, routing, _parse_url(url))
    return other


def _other_build_of(args: argparse.Namespace) -> bool:
    """Whether another build ran the stopped run of the store a config that does not validate names
    (its `db` as written): a key that build wrote or this one dropped is the upgrade case the
    refusal's note is for. Only read; False when that cannot be told."""
    from engine.commands.status import checked_store_url
    from engine.run.build import other_build
    from engine.spec.yamlio import parse_yaml
    from state.store import Store

    try:
        doc, _ = parse_yaml(Path(args.config).read_text(encoding="utf-8"), args.config)
        db = doc.data.get("db") if doc is not None and isinstance(doc.data, dict) else None
        url = checked_store_url(args.db, db if isinstance(db, str) else None)
        file = _sqlite_file(_parse_url(url))
        if file is None or not file.is_file():
            return False
        with Store.open_readonly(url) as store:
            stopped = store.get_json(CHECKPOINT_KEY) is not None and store.get_json(FINISHED_KEY) is None
            return stopped and other_build(store.get_json(ENGINE_KEY))
    except Exception:  # noqa: BLE001 - only a note hangs on it; the config's own errors are what is reported
        return False


def _check_folder(args: argparse.Namespace, store: Any) -> None:
    """A resume runs in the folder its run ran in (started_with), while that folder is there: a
    run reads its relative paths from it. Refused elsewhere, with `engine status`'s command."""
    from engine.commands.status import resume_command

    folder = (store.get_json(CONFIG_FILE_KEY) or {}).get("cwd")  # none: a run saved before it was stored
    if folder is None or not os.path.isdir(folder) or os.path.samefile(folder, os.getcwd()):
        return
    raise Refused(f"the run was started in {folder}, not here ({os.getcwd()}), and a resume reads the run's "
                  "relative paths (its --specs, data and runs_dir) from the folder it runs in, as "
                  f"the run did: resume it from there, `{resume_command(store, args)}`. Nothing was written", 2)


def _check_stage(args: argparse.Namespace, checkpoint: dict, routing: dict | None) -> None:
    """A resume continues the stage the run was started in (a usage error otherwise): the refusal
    suggests the user's own command with that stage and the run's routing, every other option kept."""
    stage = checkpoint.get("stage", args.stage)
    if stage != args.stage:
        resume = resume_command_of(_as_saved(args, stage, routing))
        raise Refused(f"the saved run is stage {stage}, not stage {args.stage}: resume it with `{resume}`, or start "
                      f"stage {args.stage} afresh without --resume", 2)


def _check_routing(args: argparse.Namespace, routing: dict | None, parsed: Any) -> None:
    """A resume routes as its run started (ROUTING_KEY): --paper sends the live legs of the
    start stage and of any stage the run is promoted to to the paper venue, and `engine promote`
    checks a promotion against it. Added or dropped on a resume it would change that halfway,
    silently: refused (a usage error), with the run's own flags. A run stored before its routing
    was is resumed as given."""
    if routing is None:
        return
    saved = _as_saved(args, args.stage, routing)
    if (args.paper, args.live) == (saved.paper, saved.live):
        return
    raise Refused(f"the saved run was started {_routing_given(saved)}, and a resume keeps the routing its run started with (where "
                  "the live legs of its stage, and of any stage it is promoted to, go): resume it with "
                  f"`{resume_command_of(saved)}`, or, to run {_routing_given(args)}, {_afresh(args, parsed)}. "
                  "Nothing was written", 2)


def _routing_given(args: argparse.Namespace) -> str:
    return "with --paper" if args.paper else "with --live" if args.live else "without --paper or --live"


def _as_saved(args: argparse.Namespace, stage: int, routing: dict | None) -> argparse.Namespace:
    """The user's options at `stage`, with the stored routing's --paper and --live (the user's own
    for a run stored before its routing was)."""
    flags = {} if routing is None else {"paper": bool(routing.get("paper")), "live": bool(routing.get("live"))}
    return argparse.Namespace(**{**vars(args), "stage": stage, **flags})


def _afresh(args: argparse.Namespace, parsed: Any) -> str:
    """How to run again instead of resuming: a SQLite store is archived, a server database's cannot be."""
    if _sqlite_file(parsed) is None:
        return f"start afresh with {_db_option(args)} on an empty database"
    return "start afresh without --resume (archives the saved run)"


def _db_option(args: argparse.Namespace) -> str:
    """What named the store: --db, else ENGINE_DB_URL (a server store is never the config's default)."""
    return "--db" if args.db else "ENGINE_DB_URL"


def _or_archived(url: str) -> str:
    """The end of a "nothing to resume": where the store's last run went, if a fresh start archived it."""
    from engine.commands.status import archived_run

    hint = archived_run(url)
    return f"; {hint}; else" if hint else ";"


def _report_of(saved: SavedRun, args: argparse.Namespace) -> str:
    """Where a finished run's report is, or that it is gone (deleted since: a finished run is not
    replayed again, so no engine command writes it anew) and what shows the store's state."""
    from engine.run.report import REPORT
    from engine.suggest import Carried

    run_dir = Path(str(saved.finished["run_dir"]))
    if (_saved_dir(saved, str(run_dir)) / REPORT).is_file():
        return f"its report is in {run_dir}"
    return (f"its report ({run_dir / REPORT}) is gone: a finished run is not replayed again to rewrite it, and the "
            f"store keeps its journal and end state (`{Carried.of(args).command('status')}`)")


def _started_with(saved: SavedRun) -> str:
    """The config file the saved run was given, in words ("" for a run saved before it was stored)."""
    if saved.config_file is None:
        return ""
    path = saved.config_file.get("path")
    return f" (--config {shlex.quote(path)})" if path else " (it was given no --config: the embedded defaults)"


# What a part of session.spec_hashes is, to name it; any other part is a machine's spec.
_PARTS = {"risk": "the risk spec (risk/risk.yaml)",
          "overrides": "the overrides (overrides/: the env's, or a stage's)",
          "strategy": "the strategy (the strategy spec the config's strategy section names)",
          "contracts": "the contract catalogue (adapters/paper/contracts.yaml)"}


def _edited_specs(saved: SavedRun, cfg: Any, specs: Any) -> list[str]:
    """What of the specs differs from the saved run's, in words (none: nothing): every part of
    session.spec_hashes the run stored when it started; a run saved before they were stored has
    only its machines' snapshots to compare."""
    from engine.run.session import RUN_ML_KINDS, spec_hashes

    if saved.specs is None:
        machines = [m for m, hashes in saved.spec_hashes.items() if hashes - {specs.machines[m].spec_hash}]
        parts = []
    else:
        now = spec_hashes(specs, cfg)
        named = {**_PARTS, **{kind: f"the {kind} spec (ml/{kind}.yaml)" for kind in RUN_ML_KINDS}}
        changed = [k for k in saved.specs.keys() | now.keys() if saved.specs.get(k) != now.get(k)
                   and (k in saved.specs or k != "contracts")]  # a run saved before the catalogue was hashed
        machines = [k for k in changed if k not in named]
        parts = [named[k] for k in sorted(changed) if k in named]
    named = [f"the spec of {', '.join(f'`{m}`' for m in sorted(machines))}"] if machines else []
    return named + parts


def _nothing_to_trade(stage: int, notes: list[str]) -> str:
    """Why a fresh run has no bar to trade (every series left out, or none routed), refused before
    anything is written: a run of no bars would archive the last run and report nothing."""
    why = "; ".join(notes) or f"stage {stage}'s rollout state routes no domain with data to trade"
    return (f"nothing to trade: no series of stage {stage} has a bar to trade ({why}); nothing was written. "
            "Give the run data it can trade: longer data sets (the run config's data.<domain>.datasets), "
            "strategy windows that fit them (the strategy file's params), or a stage that trades a domain with data")


def run_warnings(warnings: list, series: list) -> list:
    """The specs' warnings that concern this run: all but a contract's missing USD rate
    (CONTRACT_NO_RATE) for a contract the run does not trade, which `engine validate` warns of
    for any run that might, and which would otherwise show on every run."""
    from engine.spec.lint.rates import CODE, about

    traded = {s.symbol for s in series}
    return [d for d in warnings if d.code != CODE or about(d, traded)]


def _check_bars_left(args: argparse.Namespace, saved: SavedRun | None, total: int) -> None:
    """A resume whose saved run is already at --max-bars replays nothing: refused before
    anything is written (a checkpoint of no bars would still journal a row)."""
    cursor = ((saved.checkpoint or {}) if saved is not None else {}).get("cursor", 0)
    if args.resume and args.max_bars is not None and args.max_bars <= cursor < total:
        raise Refused(f"the saved run is at bar {cursor:,} already, and --max-bars {args.max_bars} asks for no "
                      f"more: give a larger --max-bars (the run has {total:,} bars), or leave it out to run them "
                      "all; nothing was written", 2)


def _checked_series(cfg: Any, specs: Any, routing: Any, notes: list[str]) -> list:
    """The stage's market series, after the venue settings checked out (load_config checked the
    data set names)."""
    from pydantic import ValidationError

    from engine.run.assemble import paper_config, stage_series

    risk = specs.extra["risk"]
    try:  # the venue's settings alone (the rollout's apply_stage funds each account)
        paper_config(cfg, dict(risk.limits.leverage_caps))
    except ValidationError as e:
        raise Refused("venue: " + "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()),
                      2) from None
    try:
        return stage_series(cfg, routing, risk.brackets.atr_window, notes)
    except FileNotFoundError as e:
        raise Refused(str(e), 2) from None


# -- starting ------------------------------------------------------------------------------
def _assemble(args: argparse.Namespace, cfg: RunConfig, specs: SpecSet, routing: Routing, run_dir: Path,
              series: list, notes: list[str], parsed: Any, local: Any, me: Owner) -> Any:
    """The Runner, resumed or fresh; what assemble refuses becomes one message."""
    from sqlalchemy.exc import DBAPIError

    from adapters.base import VenueError, VenueFileError
    from engine.commands.status import driver_error
    from engine.run.assemble import assemble
    from engine.run.session import RefusedToStart
    from engine.runtime.interpreter import ActionError

    build = partial(assemble, cfg, specs, args.stage, routing, run_dir, venue_path=local.venue, series=series,
                    notes=notes, url=parsed.render_as_string(hide_password=False), owner=me, config=args.config)
    try:
        return build(resume=True) if args.resume else _fresh(build, _local_files(parsed, local.venue), local)
    except FileNotFoundError as e:
        raise Refused(str(e), 2) from None
    except RefusedToStart as e:
        raise Refused(str(e), 1) from None
    except ActionError as e:  # an action's write refused while starting (the stage's wallets at the venue)
        if not isinstance(e.__cause__, sqlite3.Error):
            raise
        raise Refused(f"cannot write the paper venue's file {local.venue} ({type(e.__cause__).__name__}: "
                      f"{e.__cause__}); the run did not start, and the store and the last run's files are as they "
                      "were: free space (or make the file writable) and run the same command again", 1) from None
    except VenueFileError as e:
        raise Refused(f"the paper venue's file {local.venue} cannot be used ({e}): it is damaged, or a side file "
                      f"({local.venue.name}-wal, -shm) is not a file this user can read and write. A resume needs the "
                      "run's own venue file: put it back and resume, or start afresh without --resume", 1) from None
    except VenueError as e:
        raise _venue_mismatch(e, local.venue) from None
    except DBAPIError as e:  # the store opens read-only but not for writing (a side file it cannot make)
        raise Refused(str(driver_error(parsed, e)), 2) from None
    except OSError as e:  # a full disk while starting (a resume setting its audit trail's tail aside)
        raise Refused(f"cannot write {e.filename or run_dir}: {e.strerror or e}; the run did not start, and the "
                      "store and the last run's files are as they were: free space (or make it writable) and "
                      "run the same command again", 1) from None


def _check_active_set(cfg: Any, specs: Any, config: str | None, series: list, notes: list[str]) -> None:
    """The active set a fresh run would limit entries to (engine/run/signals.py load_active_set):
    a missing named file, a bad one, or one naming no symbol the run trades refused before
    anything is archived or written; one naming some it does not trade is a note."""
    from engine.run.session import RefusedToStart
    from engine.run.signals import check_active_set_traded

    try:
        warning = check_active_set_traded(cfg, specs, {s.symbol for s in series}, config)
    except RefusedToStart as e:  # the spec set has no selection spec
        raise Refused(str(e), 1) from None
    if warning:
        notes.append(warning)


def _venue_mismatch(e: Exception, venue: Path) -> Refused:
    """The paper venue's file and the store disagree about the run: one line and the ways out."""
    return Refused(f"the paper venue's file {venue} does not fit the store's saved run ({e}): was it replaced, "
                   "or the store moved without it? Put the run's own venue file back and resume, or start "
                   "afresh without --resume (the saved run is archived)", 1)


def _fresh(build: Callable[[], Any], files: list[Path], local: Any) -> Any:
    """A fresh run archives the last run's files first, and puts them back whenever the start
    does not get through: the config refused once the store is open (ML models, active set:
    assemble closed the store then), a store that cannot be written, Ctrl-C (or SIGTERM), and
    any other error, so that no failed start leaves the last run in the archive. The files move
    all or none, back as well as away: a signal meanwhile waits for the moves to end, and a
    SIGKILL, which cannot wait, leaves the move's record, from which the next command undoes it
    (engine/run/store_archive.py). The record goes as the start gets through, with the run
    directory's (assemble's `on_started`, signals held): its store and audit trail are the run's,
    and a kill from there on is a kill of the new run, which `engine status` explains."""
    from engine.run.store_archive import archive, settled

    moved, archived, started = None, False, False

    def on_started() -> None:  # with the run directory's record, signals held (assemble)
        nonlocal started
        settled(local.moving)
        started = True

    try:  # opened first: a signal the moment held() ends is raised in here, where the files go back
        with interrupt.held():
            moved = archive(files, local.archive, local.moving)
            archived = True  # else the files are the last run's, where they were: put_back would delete them
        interrupt.check()  # a signal while the files moved
        runner = build(on_started=on_started)
    except BaseException:  # whatever stopped the start: _assemble and run() say what
        if archived and not started:  # once started, store and trail are the new run's: nothing to undo
            with interrupt.held():
                _put_back(moved, files, local.moving)
        raise
    if moved:
        print(f"previous run's state moved to {moved.dest} (use --resume to continue a run instead)")
    return runner


def _local_files(parsed: Any, venue: Path) -> list[Path]:
    """The files a run keeps beside the store: the SQLite store (if it is one) and the paper venue."""
    bases = [p for p in (_sqlite_file(parsed), venue) if p is not None]
    return [Path(f"{b}{suffix}") for b in bases for suffix in ("", "-wal", "-shm")]


def _put_back(moved: Any, files: list[Path], record: Path) -> None:
    """Undo the archiving after a refused start: what the refused start made goes, the last run's
    files (if any) come back (assemble closed its store before refusing)."""
    from engine.run.store_archive import put_back

    if moved is not None:
        put_back(moved, record)
        return
    for p in files:
        if p.is_file():  # a folder in a side file's place was never archived, nor made by the start
            p.unlink()


def started_with(args: argparse.Namespace) -> dict[str, Any]:
    """CONFIG_FILE_KEY's value: what a resume suggested from any folder needs. A run reads its
    relative paths (--db, --specs, the config's data and runs_dir, its run directory, a server
    store's files under var/) from the folder it runs in, so a resume must run there too: the folder,
    and --config and --specs made absolute, as the message naming them may be read elsewhere."""
    return {"path": os.path.abspath(args.config) if args.config is not None else None,
            "specs": [os.path.abspath(s) for s in args.specs], "cwd": os.getcwd()}


def _lost(e: BaseException) -> bool:
    """Whether `e` is the store failing (its server gone, its file refused), not a fault of the
    engine: a driver's error, or the session one left broken."""
    from sqlalchemy.exc import DBAPIError, PendingRollbackError

    return isinstance(e, (DBAPIError, PendingRollbackError))


@contextmanager
def _store_lost(parsed: Any, args: argparse.Namespace) -> Iterator[None]:
    """The store failing where no step of the run says so itself (its server gone while the run
    starts, or as it winds up): one line, its secrets scrubbed, not a traceback."""
    from state.db import shown_url

    try:
        yield
    except Exception as e:
        if not _lost(_root_cause(e)):
            raise
        raise _stopped(f"lost the state store {shown_url(parsed)}", _root_cause(e), parsed, args) from None


FILE_FIX = "Free space (or make the file writable), then"


def _stopped(lead: str, e: BaseException, url: Any, args: argparse.Namespace, fix: str | None = None) -> Refused:
    """One line for a run a store or file stopped: what failed, the driver's word (the URL's
    secrets scrubbed), and the resume once it is put right (`fix`; default: by where the store
    at `url` lives)."""
    from state.db import scrubbed

    cause = getattr(e, "orig", None) or e
    said = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    fix = fix or ("Once its server answers again," if url.get_backend_name() != "sqlite" else FILE_FIX)
    return Refused(f"{lead} ({type(cause).__name__}: {scrubbed(said, url)}). The run stopped; its state is intact "
                   f"up to the last checkpoint. {fix} continue with `{resume_command_of(args)}`", 1)


def _file_failed(e: Exception, args: argparse.Namespace, runner: Any) -> Refused:
    """A write the state store (SQLAlchemy's DBAPIError) or the paper venue's file (sqlite3) refused
    mid-run: a full disk, a file made read-only. The store commits a checkpoint whole or not at all,
    and the venue's file its changes, so a resume goes on from the last checkpoint."""
    store = runner.session.store
    if isinstance(e, sqlite3.Error):  # the venue's file is written through sqlite3, the store through SQLAlchemy
        return _stopped(f"cannot write the paper venue's file {runner.session.venue.file}", e, store.engine.url, args,
                        FILE_FIX)
    return _stopped(f"cannot write the state store {store.url}", e, store.engine.url, args)


def _root_cause(e: BaseException) -> BaseException:
    """What an action raised, under the interpreter's ActionErrors (an action's event may run
    another instance's action, which wraps it again)."""
    from engine.runtime.interpreter import ActionError

    while isinstance(e, ActionError) and e.__cause__ is not None:
        e = e.__cause__
    return e


def _write_failed(e: OSError, args: argparse.Namespace, run_dir: Path) -> Refused:
    """A run stopped by a write that failed: a checkpoint commits only after the audit trail is
    on disk, so the store holds the last one whole, and a resume cuts the trail back to it."""
    where = e.filename or f"into {run_dir}"
    return Refused(f"cannot write {where}: {e.strerror or e}. The run stopped; its state in the store is intact "
                   f"up to the last checkpoint. Free space (or make {run_dir} writable) and continue with "
                   f"`{resume_command_of(args)}`", 1)


def _execute(args: argparse.Namespace, runner: Any, run_dir: Path, started: float, warnings: list,
             me: Owner) -> int:
    from sqlalchemy.exc import DBAPIError

    from engine.console import console as make_console
    from engine.run import checkpoint
    from engine.run.build import code_digest
    from engine.run.held import FileReplaced
    from engine.runtime.interpreter import ActionError
    from engine.run.report import print_kpi_table, run_setting, write_run_dir

    console = make_console()
    store = runner.session.store
    store.put_json(DIR_KEY, str(run_dir))

    store.put_json(CONFIG_FILE_KEY, started_with(args))
    store.put_json(ENGINE_KEY, code_digest())  # a resume's checks passed: this build reads the run's files alike
    if not args.resume:  # a resume must find the config it started with (checked before it starts)
        store.put_json(RUN_ID_KEY, me.run_id)
        store.put_json(CONFIG_DIGEST_KEY, checkpoint.config_digest(runner.session.cfg))
        store.put_json(SPECS_KEY, runner.session.spec_hashes())
        store.put_json(DATA_KEY, _fingerprints(runner.series))
    runner.heartbeat = args.heartbeat
    _show_warnings(warnings, store, console)
    for note in runner.session.notes:
        console.print(f"note: {note}")
    for u in runner.session.untradable:  # the run goes on: the risk chain refuses their entries by its rules
        console.print(f"warning: {u.message}", markup=False, highlight=False, soft_wrap=True)
    try:
        replay_s = None
        if _bars_left(runner):
            replay_s = _replay(args, runner, console)
        else:  # the last bar was checkpointed before its report was written: no second checkpoint
            console.print("note: the saved run had processed its last bar already; writing its report")
        interrupt.check()  # one lost after the replay's last poll: no report of a run the user stopped
        result = runner.result(started)
        result.replay_s = replay_s
        setting = replace(run_setting(runner.session, runner.series, args.config),
                          spec_warnings=tuple(d.as_dict() for d in warnings))
        files = write_run_dir(result, store.iter_journal(), setting)
    except FileNotFoundError:  # a missing input, not a failed write: _run says so
        raise
    except OSError as e:  # a full disk, a folder made read-only: the store holds the last checkpoint
        raise _write_failed(e, args, run_dir) from None
    except (DBAPIError, sqlite3.Error) as e:  # the store's or the venue's file refused a write mid-run
        raise _file_failed(e, args, runner) from None
    except FileReplaced as e:
        raise Refused(str(e), 1) from None
    except ActionError as e:  # the same refusals, met inside a spec's action (the venue's file, on a submit)
        cause = _root_cause(e)
        if _lost(cause) or isinstance(cause, sqlite3.Error):
            raise _file_failed(cause, args, runner) from None
        if isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError):
            raise _write_failed(cause, args, run_dir) from None
        raise
    if runner.bars >= len(runner.timeline):  # every bar done (not a --max-bars stop): nothing left to resume
        _mark_finished(store, run_dir, files["journal"], me)
    print_kpi_table(result, console, setting)
    _show_decay(result.model_decay, console, runner.session)
    console.print(f"run directory: {run_dir}  ({', '.join(sorted(files))})")
    return 0


def _show_decay(decay: dict[str, dict], console: Any, session: Any) -> None:
    """One line per model: a warning with the command to retrain one whose live figures decayed,
    as the run's config and specs would load it."""
    from engine.run.signals import train_command

    train = partial(train_command, session.cfg, session.specs)
    for name, d in decay.items():
        if d["retrain"]:
            symbol, tf, _ = name.rsplit(":", 2)
            console.print(f"warning: model {name} has decayed ({d['reason']}; {d['samples']} resolved predictions): "
                          f"retrain it (`{train(symbol, tf, activate=True)}`)",
                          markup=False, highlight=False, soft_wrap=True)
        else:
            console.print(f"model {name}: {d['reason']} ({d['samples']} resolved predictions after its "
                          "training data)", markup=False, highlight=False, soft_wrap=True)


def _show_warnings(warnings: list, store: Any, console: Any) -> None:
    """The specs' warnings, as `engine validate` prints them, once before the first bar, and in the
    journal (kind `spec`, key `warnings`): what the run was started with, whether or not it is read."""
    if not warnings:
        return
    text = render(warnings)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    store.journal("spec", "warnings", {"warnings": [d.as_dict() for d in warnings]},
                  reason=f"{len(warnings)} spec warning{'s' * (len(warnings) > 1)} (engine validate)")


def _mark_finished(store: Any, run_dir: Path, journal: Path, me: Owner) -> None:
    """Mark the run finished, once its files are written, and end the journal's export with that row
    too: the export then holds every row of the store."""
    from engine.run.owner import UnreadableOwner, mark_finished
    from engine.run.report import append_journal

    store.put_json(FINISHED_KEY, {"run_dir": str(run_dir)})
    store.commit()
    with suppress(OSError, UnreadableOwner):  # left unfinished, a SQLite store still says it finished
        mark_finished(run_dir, me)
    try:
        append_journal(store.journal_entries(key=FINISHED_KEY), journal)
    except OSError as e:
        raise Refused(f"cannot write {journal}: {e.strerror or e}. The run finished and its report is written; "
                      "only the journal export lacks the store's last row (run/finished)", 1) from None


def _bars_left(runner: Any) -> bool:
    """Anything for a run to do: bars, or operator commands its last checkpoint claimed."""
    return runner.bars < len(runner.timeline) or bool(runner.taken)


def _replay(args: argparse.Namespace, runner: Any, console: Any) -> float:
    """The bars, with a progress bar; the audit lines gathered since the last checkpoint reach
    the file, error or not. Returns the replay loop's seconds, as the progress line said them."""
    from engine.run.progress import RunProgress

    total = sum(len(s) - s.start for s in runner.series)
    if args.max_bars:
        total = min(total, args.max_bars)
    try:
        with RunProgress(total, enabled=not (args.no_progress or args.heartbeat), console=console,
                         start=runner.bars) as progress:
            runner.run(progress, limit=args.max_bars)
    finally:
        runner.session.interp.sink.flush()
    return progress.elapsed
