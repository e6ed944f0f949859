"""`engine status`: stage, kill mode, wallets, open positions and their stops, pending operator commands, KPIs.

Reads the state store the running engine writes, read-only: never waiting on the
engine's write lock (SQLite in WAL mode), never creating a store (with none yet it
says how to start a run). It finds the store `engine run` used, given the same `--db`,
ENGINE_DB_URL and `--config` (state.db.store_url: one rule for every command). The helpers
here (`add_db_argument`, `command_store_url`, `open_existing_store`, `machine_state`,
`load_machine`, `when_applied`, `refuse_finished`, `settle_finished`, `open_brackets`) are shared by
`engine kill`, `engine promote`, `engine degrade`, `engine move-stop`, `engine select` and `engine run`.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from engine.commands.paths import named
from engine.run.finished import run_dir_of
from engine.run.keys import CHECKPOINT_KEY, CLOSING_KEY, CONFIG_FILE_KEY, ENGINE_KEY, FINISHED_KEY, ROUTING_KEY
from engine.spec.contract import AWAITING_TAG  # states tagged so wait for `engine promote`
from engine.suggest import DEFAULT_SPECS, Carried, spec_paths  # the options a suggested command keeps

ROLLOUT_KIND, KILL_KIND, GATE_KIND = "rollout", "kill", "gates"  # spec document kinds; machine names come from the specs
DEFAULT_NAMES = {ROLLOUT_KIND: "rollout", KILL_KIND: "kill_modes"}  # when the specs do not load
BRACKET_MACHINE = "bracket"  # the machine `engine run` hosts every position in (engine/spec/contract.py)
FLAT = 1e-12
WRITE_WAIT_S = 10.0  # how long kill/promote wait for the engine's write lock before saying so


REFUSED, USAGE = 1, 2  # exit codes, as engine/cli.py's table says


class CommandError(Exception):
    """A clear, expected refusal, printed as one message: exit `code`, REFUSED (1) unless the
    command line names something unusable (USAGE, 2: a missing file, a bad URL, no database)."""

    def __init__(self, message: str, code: int = REFUSED) -> None:
        super().__init__(message)
        self.code = code


def no_run(carried: Carried) -> str:
    """What a store with no run says, with the command that starts one there (as it works when pasted here)."""
    return f"no run yet: start one with `{carried.run(1)}`"


def archived_run(url: str) -> str:
    """For a store that holds no run: where its last unfinished run is, when a fresh start moved it
    to the store's archive and did not get through to put it back (killed while starting), and how
    to restore it; "" when the newest archive holds no unfinished run (a server store has none)."""
    from state.runlock import run_files

    parsed = parse_store_url(url)
    if parsed.get_backend_name() != "sqlite":
        return ""
    file = Path(parsed.database).resolve()
    local = run_files(url)
    kept = sorted((d for d in local.archive.glob("*") if (d / file.name).is_file()), key=lambda d: d.name)
    if not kept or not _unfinished(kept[-1] / file.name):
        return ""
    newest, folder = kept[-1], shlex.quote(str(file.parent))
    left = [f.name for base in (file, local.venue) for f in (base, Path(f"{base}-wal"), Path(f"{base}-shm"))
            if f.is_file()]
    aside = f"move the files a start left there ({', '.join(left)}) aside, then " if left else ""
    return (f"the store's last run, unfinished, is in its archive {newest} (a fresh start moves it there and "
            f"was stopped before it put it back): to continue that run, {aside}put it back with "
            f"`mv {shlex.quote(str(newest))}/* {folder}/` and resume")


def _no_store_at(database: str) -> str:
    """A relative path is read from the current folder: said, since a run started in another
    folder with the same --config keeps its store there (a command typed elsewhere misses it)."""
    if os.path.isabs(database):
        return f"no store at {database}"
    return (f"no store at {os.path.abspath(database)}, which `{database}` names from the current folder; a run "
            "started in another folder keeps its store there: give the command there, or the store's absolute path")


def _check_store_path(database: str) -> None:
    """CommandError (USAGE) for a SQLite path no store can be at: a folder, or one below a file
    (no run could start there either, so not "no run yet: start one")."""
    if Path(database).is_dir():
        raise CommandError(f"{database} is a folder, not a state store: name the store's file (default var/engine.db)",
                           USAGE)
    for parent in Path(database).parents:
        if parent.exists():
            if not parent.is_dir():
                raise CommandError(f"no store can be at {database}: {parent} is a file, not a folder; give --db a file "
                                   "in a folder (default var/engine.db)", USAGE)
            return


def _no_store(why: str, url: str, carried: Carried) -> str:
    """What a command finding no run's tables says: an engine that holds the run lock is still
    starting (archiving the last run, loading data) and makes them soon; else no run yet."""
    engine = running_engine(url)
    if engine is not None:
        return (f"an engine ({engine}) is starting a run on this store and has not made its tables yet ({why}): "
                "give the command again in a moment")
    return _with_archived(f"{no_run(carried)} ({why})", url)


def _with_archived(what: str, url: str) -> str:
    """`what` a store without a run says, and where its last run went, if a fresh start archived it."""
    return "; ".join(x for x in (what, archived_run(url)) if x)


def _unfinished(file: Path) -> bool:
    """Whether the SQLite store `file` holds a run that checkpointed and did not finish."""
    from state.store import Store

    try:
        with Store.open_readonly(f"sqlite:///{file}") as store:
            return store.get_json(CHECKPOINT_KEY) is not None and store.get_json(FINISHED_KEY) is None
    except Exception:  # noqa: BLE001 - an archived file SQLite cannot read restores nothing
        return False


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH|URL",
                        help="the engine's store: a SQLite file or a database URL (default: $ENGINE_DB_URL, "
                             "else the --config's db, else var/engine.db)")
    parser.add_argument("--config", metavar="FILE", type=named,
                        help="the run config `engine run` was given: its `db` names the store when neither "
                             "--db nor $ENGINE_DB_URL does")


def add_specs_argument(parser: argparse.ArgumentParser) -> None:
    """--specs, one definition for `engine run` and every operator command: a command the run
    suggests carries the run's folders (engine/suggest.py Carried), and pasted it must take them."""
    parser.add_argument("--specs", nargs="+", default=[DEFAULT_SPECS], metavar="DIR", type=named,
                        help="spec folders (or files) loaded as one set, a later folder adding the machines and "
                             "overrides the earlier ones lack; an operator command takes those its run was given "
                             f"(default: {DEFAULT_SPECS}; for an operator command in a folder without one, those "
                             "the store's run was started with)")


def command_store_url(args: argparse.Namespace) -> str:
    """The store `engine run` acts on given the same --db, $ENGINE_DB_URL and --config;
    CommandError (usage) for a value that names no store."""
    return checked_store_url(args.db, _config_db(args.config))


def checked_store_url(db: str | None, config_db: str | None) -> str:
    """state.db.store_url of --db and the run config's `db`; CommandError (usage) for a value that
    names no store. `engine run`, which has its config loaded, asks this too."""
    from state.db import BadStoreUrl, store_url

    try:
        return store_url(db, config_db)
    except BadStoreUrl as e:
        raise CommandError(str(e), USAGE) from None


def _config_db(path: str | None) -> str | None:
    """The run config's `db` (None without a config: the default applies, as for `engine run`). A
    config with errors raises them (SpecError: file:line:col, as `engine run` prints them)."""
    from engine.run.config import load_config

    if path is None:
        return None
    if not Path(path).is_file():
        what = "a directory" if Path(path).is_dir() else "no such file"
        raise CommandError(f"--config {path}: {what}; pass the run config file `engine run` was given", USAGE)
    try:
        return load_config(path, strategy=False).db
    except OSError as e:
        raise CommandError(f"--config {path}: cannot read it ({e})", USAGE) from None


def parse_store_url(url: str) -> Any:
    """The parsed URL (state.db.parse_url), or CommandError (usage) saying it names no store or
    no lasting one (in-memory SQLite). Every command reads its store's URL through here."""
    from state.db import BadStoreUrl, MemoryStore, check_persistent, parse_url

    try:
        check_persistent(url)
        return parse_url(url)
    except (BadStoreUrl, MemoryStore) as e:
        raise CommandError(str(e), USAGE) from None


def driver_error(url: Any, e: BaseException, *, reading: bool = False) -> CommandError:
    """One line for a store that cannot be opened or read: the URL as shown to people
    (state.db.shown_url) and the driver's own message, without SQLAlchemy's statement and help
    link, and without the URL's secrets should the driver echo them (state.db.scrubbed).
    `reading`: the command only reads (its wait is a reader's, and `engine status` is no way out)."""
    from state.db import scrubbed, shown_url
    from state.store import READ_WAIT_S

    if _busy(e) and reading:
        return CommandError(f"the state store {shown_url(url)} is busy: a lock on it was held for over "
                            f"{READ_WAIT_S:g} s (by the engine, or another session); try again in a moment")
    if _busy(e):
        return CommandError(f"the state store {shown_url(url)} is busy: the engine has "
                            f"held its write lock for over {WRITE_WAIT_S:g} s (a long checkpoint?); try again "
                            "(`engine status` reads without waiting)")
    cause = getattr(e, "orig", None) or e
    if url.get_backend_name() == "sqlite" and url.database and isinstance(cause, sqlite3.Error):
        return CommandError(sqlite_problem(Path(url.database), cause), USAGE)
    hint = (f"; the driver {cause.name} is not installed: install it, or name an installed one in the URL "
            "(e.g. postgresql+psycopg2://)" if isinstance(cause, ModuleNotFoundError) else
            "; the store's role may not make the engine's tables there: give it a database it owns "
            "(CREATE DATABASE engine OWNER role), or a schema it may create in"
            if getattr(cause, "pgcode", None) == INSUFFICIENT_PRIVILEGE else "")
    said = scrubbed(str(cause).splitlines()[0] if str(cause) else "", url)
    return CommandError(f"cannot open the state store {shown_url(url)}: {type(cause).__name__}: {said}{hint}", USAGE)


SIDE_FILES = ("-wal", "-shm")  # SQLite's write-ahead log and its index, beside the store in WAL mode


def sqlite_problem(file: Path, cause: Exception) -> str:
    """One line for a SQLite store that cannot be used: the file at fault (the store, or a side
    file SQLite keeps beside it), what is wrong with it, and what to do."""
    said = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    for side in (Path(f"{file}{s}") for s in SIDE_FILES):
        if side.exists() and not side.is_file():
            return (f"the state store {file} cannot be opened: its side file {side} is a folder, not a file "
                    f"(SQLite: {said}); remove that folder (SQLite makes the file again) and run the command again")
        if side.is_file() and not os.access(side, os.R_OK | os.W_OK):
            return (f"the state store {file} cannot be opened: its side file {side} cannot be read and written "
                    f"by this user (SQLite: {said}); give this user access to it (do not delete it: it may "
                    "hold committed state not yet in the store file) and run the command again")
    if "not a database" in said or "malformed" in said:
        return (f"{file} is not a usable SQLite store (SQLite: {said}): point --db at the engine's store "
                "(default var/engine.db), or move this file away to start a fresh run there")
    return (f"the state store {file} cannot be opened (SQLite: {said}): check that it, its folder and its "
            f"side files {file}-wal and {file}-shm (if present) are files this user can read and write")


INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE: CREATE on a schema the role may not create in
PG_TIMEOUTS = ("55P03", "57014")  # lock_not_available (lock_timeout), query_canceled (statement_timeout)


def _busy(e: BaseException) -> bool:
    """A wait for the engine's locks ran out: SQLite's busy timeout, PostgreSQL's lock or
    statement timeout."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(e, DBAPIError):
        return False
    return "locked" in str(e.orig) or getattr(e.orig, "pgcode", None) in PG_TIMEOUTS


@contextmanager
def open_existing_store(url: str, carried: Carried, *, readonly: bool = False) -> Iterator[Any]:
    """The Store at `url` (command_store_url); CommandError when no run created it yet (suggesting
    the run that starts one, with the command's `carried` options), or when it cannot be used. `readonly` never waits on the engine's write lock (status); otherwise
    no wait is over WRITE_WAIT_S (kill, promote), and no DDL queues behind the engine."""
    from state.store import NoStore, Store

    parsed = parse_store_url(url)
    settle_archive(url)
    if parsed.get_backend_name() == "sqlite":
        _check_store_path(parsed.database)
        if not Path(parsed.database).is_file():
            raise CommandError(_no_store(_no_store_at(parsed.database), url, carried))

    def opened() -> Any:
        try:
            return Store.open_readonly(url) if readonly else Store.open_existing(url, wait_s=WRITE_WAIT_S)
        except NoStore as e:
            raise CommandError(_no_store(str(e), url, carried)) from None
    with driver_guarded(parsed, opened, reading=readonly) as store:
        yield store


@contextmanager
def driver_guarded(parsed: Any, opened: Callable[[], Any], *, reading: bool = False) -> Iterator[Any]:
    """The store `opened` returns, used in the block and closed after it; a driver error opening
    or using it is one line (driver_error; `reading`: the command only reads), a CommandError
    passes as it is."""
    from sqlalchemy.exc import DBAPIError

    try:
        store = opened()
    except CommandError:
        raise
    except Exception as e:  # noqa: BLE001 - a driver error becomes one line, not a traceback
        raise driver_error(parsed, e, reading=reading) from None
    try:
        with store:
            yield store
    except DBAPIError as e:
        raise driver_error(parsed, e, reading=reading) from None


def settle_archive(url: str) -> None:
    """A start killed while it moved the store's files into the archive: undone before the store is
    read (engine/run/store_archive.py), saying so on stderr (stdout may be --json)."""
    from engine.run.store_archive import UnsettledArchive, settle

    try:
        note = settle(url)
    except UnsettledArchive as e:
        raise CommandError(str(e)) from None
    if note:
        print(f"note: {note}", file=sys.stderr)


def complete_finished(store: Any, url: str) -> None:
    """A finished run whose run directory a kill left a step behind (engine/run/finished.py):
    brought level, saying so on stderr."""
    from engine.run.finished import complete

    parsed = parse_store_url(url)
    note = complete(store, Path(parsed.database).resolve() if parsed.get_backend_name() == "sqlite" else None)
    if note:
        print(f"note: {note}", file=sys.stderr)


def settle_finished(store: Any, url: str) -> str | None:
    """The store's run directory put right before a command reads or refuses the run: a move into
    its archive a kill cut short undone (settle_run_dir), then, for a finished run no engine holds,
    the steps its finish missed done (complete_finished). Every command that opens a store calls
    this, so none refuses a finished run and leaves its directory behind. Returns
    settle_run_dir's warning (the directory is then left as it is)."""
    split = settle_run_dir(store, url)  # first: a finished run's directory is completed once its files are together
    if split is None and store.get_json(FINISHED_KEY) is not None and running_engine(url) is None:
        complete_finished(store, url)
    return split


def settle_run_dir(store: Any, url: str) -> str | None:
    """A start killed while it moved a run directory's files into its archive (engine/run/report.py
    settle_run_files): undone, saying so on stderr, so that the run status shows has its report and
    audit trail together. The directory is the store's run's; for a store with no run yet (what a
    fresh start killed while archiving leaves), that of the last run, in the store's archive: the
    one the start was moving. A move that cannot be undone is printed as a warning and returned:
    the store is whole (it was settled first), so status still shows it."""
    from engine.run.report import settle_run_files
    from engine.run.store_archive import UnsettledArchive
    from state.db import shown_url

    run_dir = run_dir_of(store) or _archived_run_dir(url)
    if run_dir is None:
        return None
    parsed = parse_store_url(url)
    try:
        note = settle_run_files(run_dir, str(Path(parsed.database).resolve()) if parsed.get_backend_name() == "sqlite"
                                else shown_url(parsed))
    except UnsettledArchive as e:
        print(f"warning: {e}", file=sys.stderr)
        return str(e)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return None


def _archived_run_dir(url: str) -> Path | None:
    """The run directory of the last run a fresh start moved into the SQLite store's archive (its
    newest folder holding the store); None for a server store, or none there."""
    from state.runlock import run_files
    from state.store import Store

    parsed = parse_store_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = Path(parsed.database).name
    kept = sorted((d for d in run_files(url).archive.glob("*") if (d / name).is_file()), key=lambda d: d.name)
    if not kept:
        return None
    try:
        with Store.open_readonly(f"sqlite:///{kept[-1] / name}") as archived:
            return run_dir_of(archived)
    except Exception:  # noqa: BLE001 - an archived file SQLite cannot read names no directory
        return None


def running_engine(url: str) -> Any:
    """The engine running on the store at `url` (its pid and start, from the run lock), or None."""
    from state.runlock import RunLock

    return RunLock.holder(url)


def run_closing(store: Any, url: str) -> bool:
    """The store's run is past its last poll: it set CLOSING_KEY and still runs, or has finished
    since. A mark left by a run killed after setting it is not: `--resume` re-opens that run (it
    clears the mark) and its first poll takes what was posted meanwhile. The engine is asked
    before FINISHED_KEY is read, as a run marks itself finished before it lets go of the store."""
    if store.get_json(CLOSING_KEY) is None:
        return False
    return running_engine(url) is not None or store.get_json(FINISHED_KEY) is not None


def refuse_finished(store: Any, url: str, carried: Carried) -> None:
    """CommandError when the store's run finished (finished_run): no engine would ever take a
    command posted to it (`engine run --resume` refuses a finished run, and a fresh run archives
    the store). Its run directory is put right first (settle_finished), as `engine status` would."""
    finished = store.get_json(FINISHED_KEY)
    if finished is None and run_closing(store, url):
        raise CommandError("the run on this store processed its last bar and is writing its report: no engine will "
                           "take a command posted to it, so nothing was posted. Give the command to the next run "
                           f"once it is running (`{carried.command('status')}` shows it)")
    if finished is not None:
        settle_finished(store, url)
        raise CommandError(f"the run on this store finished (its report is in {finished.get('run_dir', '?')}): "
                           "no engine will take a command posted to it, so nothing was posted. Give the command "
                           f"to the next run once it is running (`{carried.command('status')}` shows it)")


def post_while_open(store: Any, url: str, carried: Carried, name: str, args: dict[str, Any]) -> int:
    """Post an operator command to a run that will take it. A run that finishes sets CLOSING_KEY
    before its last poll, so checking after the post settles a race with it: either that poll
    takes the command, or it is withdrawn here and refused (it was accepted, then never applied)."""
    refuse_finished(store, url, carried)
    command_id = store.post_command(name, args)
    if run_closing(store, url) and store.withdraw_command(command_id):
        raise CommandError("the run finished its last bar as the command was posted: it takes no more commands, "
                           f"so the command was withdrawn (#{command_id}) and nothing applies it. Give it to the "
                           f"next run once it is running (`{carried.command('status')}` shows it)")
    return command_id


def refuse_untaken(url: str, resume: str | None, carried: Carried) -> None:
    """Refuse a command nothing would take: no engine runs on the store and no run checkpointed
    there (`resume` None), so no resume can apply it and a fresh run archives the store first."""
    if resume is None and running_engine(url) is None:
        raise CommandError("no engine is running and no run has checkpointed on this store, so no engine would "
                           "take the command (a fresh `engine run` archives this store first): nothing was posted. "
                           f"Give the command once the run is running (`{carried.command('status')}` shows it)")


def when_applied(url: str, resume: str | None, store: Any) -> str:
    """What happens to a posted command: the running engine takes it, or it waits for `resume`
    (resume_command's; refuse_untaken has refused one with neither)."""
    holder = running_engine(url)
    if holder is not None:
        return f"the running engine ({holder}) acts on it within a quarter second, between two bars (a replay may run through many bars first)"
    said = other_build_said(store)
    return f"no engine is running: the command is queued and is applied by `{resume}`{f'; but {said}' if said else ''}"


def other_build_said(store: Any) -> str | None:
    """None, or why the suggested resume may be refused: another build of the engine last started
    or resumed the run (engine/run/build.py), and this one may read its config or specs otherwise."""
    from engine.run.build import OTHER_BUILD, other_build

    if not other_build(store.get_json(ENGINE_KEY)):
        return None
    return f"{OTHER_BUILD}: if this one refuses the resume, resume it with that engine"


def resume_command(store: Any, args: argparse.Namespace) -> str | None:
    """The `engine run` command that continues the run saved in `store`, ready to paste in any
    folder: `cd` to the folder the run ran in (its relative paths are read from there:
    run.started_with), then the stage, routing (--paper, --live), --config and --specs the run
    started with, as the store holds them (a resume given another config or edited specs is
    refused), and the --db that names this store from there (the run folder needs none: a resume
    finds its own in the store). None before a checkpoint."""
    from engine.commands.run import add_arguments, resume_command_of

    stage = (store.get_json(CHECKPOINT_KEY) or {}).get("stage")
    if stage is None:
        return None
    routing = store.get_json(ROUTING_KEY) or {}
    started = store.get_json(CONFIG_FILE_KEY) or {}  # {}: a run saved before it was stored
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run_args = parser.parse_args(["--stage", str(stage)])
    run_args.paper, run_args.live = bool(routing.get("paper")), bool(routing.get("live"))
    run_args.config = started["path"] if "path" in started else args.config
    folder = started.get("cwd")
    run_args.db = _resume_db(store, args, run_args.config, folder)
    run_args.specs = started.get("specs") or spec_paths(args.specs)  # a run saved before they were stored: ours
    command = resume_command_of(run_args)
    return f"cd {shlex.quote(folder)} && {command}" if folder else command


def _resume_db(store: Any, args: argparse.Namespace, config: str | None, folder: str | None) -> str | None:
    """--db for a resume run in `folder`: the one given here, a SQLite file's made absolute (it was
    read from this folder); none when the shell's $ENGINE_DB_URL names the store (the pasted
    command gets it too), or when what a run in `folder` reads (its `.env`'s ENGINE_DB_URL, else
    its config) names this very store; else the store itself (the run's own --db had overridden
    its config, or this command found the store through another config, folder or `.env`)."""
    from engine import envfile
    from engine.diagnostics import SpecError
    from state.db import ENV_VAR, BadStoreUrl, store_url

    if args.db is not None:
        return _anywhere(args.db)
    if os.environ.get(ENV_VAR) and not envfile.from_file(ENV_VAR):
        return None
    there = folder or os.getcwd()
    folder_env = envfile.value_in(Path(there), ENV_VAR)
    try:
        named = _located(store_url(None, _config_db(config and os.path.join(there, config)),
                                   environ={ENV_VAR: folder_env} if folder_env else {}), there)
    except (CommandError, BadStoreUrl, SpecError):  # the run's config or .env is gone or broken: name the store outright
        named = None
    # The URL this command opened, not store.url: that one is shown to people, its password masked.
    return None if named == _located(command_store_url(args), os.getcwd()) else _anywhere(store.url)


def _located(url: str, folder: str) -> str:
    """A store URL as read in `folder`: a SQLite file's absolute path, a server's URL as it is."""
    parsed = parse_store_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    return os.path.normpath(os.path.join(folder, parsed.database))


def _anywhere(db: str) -> str:
    """`db` (--db: a SQLite file or a URL) naming the same store from any folder: a SQLite file's
    path made absolute; a server's URL as it is."""
    from state.db import store_url

    parsed = parse_store_url(store_url(db))
    return os.path.abspath(parsed.database) if parsed.get_backend_name() == "sqlite" else db


def use_run_specs(args: argparse.Namespace) -> None:
    """--specs left at its default in a folder that has no `specs`: the spec folders the store's
    run was started with (kv run/config_file), when they are all there. So `engine kill` works
    from any folder, on the machines the engine itself reads; anything else is left as it is, for
    missing_specs to refuse. A store no run made is said as such, not as a missing --specs: that
    is the news, and the run it suggests there needs --specs (hint)."""
    if spec_paths(args.specs) != [DEFAULT_SPECS] or Path(DEFAULT_SPECS).exists():
        return
    from state.store import NoStore, Store

    try:
        url = command_store_url(args)
        parsed = parse_store_url(url)
    except CommandError:
        raise  # a --db that names no store is the news, not a missing --specs (rev34)
    except Exception:  # noqa: BLE001 - a run config with errors: the command's own read says where
        return
    if parsed.get_backend_name() == "sqlite":
        _check_store_path(parsed.database)  # before a missing --specs: no folder has what this path lacks
    try:
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database).is_file():
            raise NoStore(_no_store_at(parsed.database))
        with Store.open_readonly(url) as store:
            recorded = (store.get_json(CONFIG_FILE_KEY) or {}).get("specs")
    except NoStore as e:
        raise CommandError(_no_store(str(e), url, Carried.of(args)) + _specs_hint(args.specs)) from None
    except Exception as e:  # noqa: BLE001 - a store that cannot be opened is that, not a missing --specs
        raise driver_error(parsed, e, reading=True) from None
    if recorded and all(Path(p).exists() for p in recorded):
        args.specs = list(recorded)


def _specs_hint(specs: list[str]) -> str:
    """A hint line for spec paths that name the engine's own elsewhere ("" when none does)."""
    from engine.spec.shipped import elsewhere

    hint = "; ".join(filter(None, map(elsewhere, spec_paths(specs))))
    return f"\n    hint: {hint}" if hint else ""


def missing_specs(specs: str | list[str]) -> str:
    """What is wrong with --specs when a path names nothing ("" when each exists): one rule for
    `engine run` and every operator command."""
    missing = [p for p in spec_paths(specs) if not Path(p).exists()]
    if not missing:
        return ""
    return (f"--specs {shown_specs(missing)}: no such file or folder; pass the spec folders the run was given "
            f"(default: {DEFAULT_SPECS})" + _specs_hint(missing))


def shown_specs(specs: str | list[str]) -> str:
    """--specs as the user would type it again (each path quoted for the shell)."""
    return " ".join(map(shlex.quote, spec_paths(specs)))


def load_spec_set(specs: str | list[str]) -> Any:
    """The spec set `engine run --specs` loads from the same paths: all of them, each widened to
    its whole spec tree (engine.spec.validation.check_specs), so a machine only a later folder
    holds (a kill spec in an overlay) is the one read; CommandError (usage) for a path that names
    nothing."""
    from engine.spec.files import spec_roots
    from engine.spec.loader import load_specs

    problem = missing_specs(specs)
    if problem:
        raise CommandError(problem, USAGE)
    return load_specs(spec_roots(spec_paths(specs)))[0]


def load_machines(specs: str | list[str], *kinds: str, spec_set: Any = None) -> dict[str, Any]:
    """{kind: the one machine of that document kind under `specs`, or None}; CommandError without specs."""
    machines = (spec_set or load_spec_set(specs)).machines.values()
    found = {kind: [m for m in machines if m.kind == kind] for kind in kinds}
    return {kind: ms[0] if len(ms) == 1 else None for kind, ms in found.items()}


def load_machine(specs: str | list[str], kind: str, spec_set: Any = None) -> Any:
    """The one machine of document `kind` under `specs` (its commands, states, tags)."""
    machine = load_machines(specs, kind, spec_set=spec_set)[kind]
    if machine is None:
        shown = shown_specs(specs)
        raise CommandError(f"expected one `{kind}` machine under {shown}; run `engine validate {shown}`")
    return machine


def latest_snapshot(store: Any, machine: str) -> dict[str, Any] | None:
    """The most recently saved snapshot data of `machine`, or None before any."""
    snaps = store.load_snapshots(machine)
    if not snaps:
        return None
    return max(snaps.values(), key=lambda s: (s.updated_ts, s.instance_id)).data


def state_timers(data: dict[str, Any] | None) -> list[float]:
    """The deadlines of the timers a saved snapshot's state armed on entry: together with the
    state, they tell one stay in it from a later one (a confirmation that lapsed and came back)."""
    if not data:
        return []
    return sorted(float(t["deadline"]) for t in data.get("timers") or () if t.get("state") == data.get("state"))


def machine_state(store: Any, machine: str) -> tuple[str | None, dict[str, Any]]:
    """(state, ctx) of the most recently saved snapshot of `machine`, or (None, {}) before any."""
    data = latest_snapshot(store, machine)
    if data is None:
        return None, {}
    return data.get("state"), dict(data.get("ctx") or {})


def no_snapshot(store: Any, machine: str) -> str:
    """Why `machine` has no saved state: no stage has run, or, when a checkpoint is saved (every
    checkpoint saves every machine's snapshot with it), a store that lost rows, which SQLite may
    read from a damaged page without raising: said as such, not as a run that never started."""
    if store.get_json(CHECKPOINT_KEY) is None:
        return f"no `{machine}` snapshot in the store yet: the engine has not run a stage"
    return (f"the store has a checkpoint but no `{machine}` snapshot, which every checkpoint saves: it is "
            f"damaged or was changed by hand; check it (SQLite: `PRAGMA integrity_check`) or restore a backup")


def open_brackets(store: Any) -> list[dict[str, Any]]:
    """The brackets open at the engine's last checkpoint, oldest first: each one's id, domain,
    symbol, side, machine state, and stop and take-profit as its bracket machine holds them
    (tightened since the entry by breakeven, trailing or `engine move-stop`), and its saved
    snapshot (`snapshot`). What `engine status` shows and `engine move-stop` names."""
    saved = (store.get_json(CHECKPOINT_KEY) or {}).get("brackets") or []
    snaps = store.load_snapshots(BRACKET_MACHINE, [d["id"] for d in saved]) if saved else {}
    out = []
    for d in saved:
        snap = snaps.get(d["id"])
        data = snap.data if snap is not None else {}
        ctx = data.get("ctx") or {}
        out.append({"bracket": d["id"], "domain": d["domain"], "symbol": d["symbol"], "side": d["side"],
                    "state": data.get("state"), "stop": ctx.get("stop"), "take_profit": ctx.get("take_profit"),
                    "snapshot": data})
    return out


def transitions_from(machine: Any, state: str, event: str) -> list[Any]:
    """The spec's `event` transitions that can fire from `state` (its own, its parents', `*`)."""
    config = set(machine.ancestors(state))
    return [t for t in machine.transitions if t.event == event and ("*" in t.sources or config & set(t.sources))]


def awaits_operator(machine: Any, state: str | None) -> bool:
    """Whether `state` waits for an operator confirmation: the spec tags it, or a state enclosing
    it, `awaiting_operator` (as the run reads it: Instance.has_tag)."""
    return state is not None and state in machine.states and machine.has_tag(state, AWAITING_TAG)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    add_specs_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def run(args: argparse.Namespace) -> int:
    try:
        use_run_specs(args)
        problem = missing_specs(args.specs)  # as `engine kill` refuses it: else "model gates: none", exit 0
        if problem:
            raise CommandError(problem, USAGE)
        url = command_store_url(args)
        carried = Carried.of(args)  # after the URL's check: it prints --db back
        with open_existing_store(url, carried, readonly=True) as store:
            data = collect(store, _machines(args.specs))
            data["engine"] = engine_state(store, url, args)
    except CommandError as e:
        print(f"engine status: {e}", file=sys.stderr)
        return e.code
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        render(data, carried)
    return 0


def engine_state(store: Any, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Whether an engine runs on the store, how current the figures shown are (a store holds the
    engine's state as of its last checkpoint: with batch durability, up to `checkpoint_every`
    bars behind a running engine), and the command that continues a stopped run."""
    holder = running_engine(url)
    finished = store.get_json(FINISHED_KEY)
    split = settle_finished(store, url)
    saved = store.get_json(CHECKPOINT_KEY) or {}
    state = "running" if holder is not None else "finished" if finished is not None else (
        "stopped" if saved else "never checkpointed")
    return {"state": state, "holder": str(holder) if holder is not None else None,
            "run_dir": (finished or {}).get("run_dir"),
            "as_of": {"bar": saved.get("cursor"), "time": saved.get("clock")} if saved else None,
            "resume": resume_command(store, args) if state == "stopped" else None,
            "other_build": other_build_said(store) if state == "stopped" else None,
            "archived": archived_run(url) if state == "never checkpointed" else "",
            "warnings": [split] if split else []}


def _machines(specs: list[str]) -> dict[str, Any]:
    """The rollout and kill machines (None for one the specs do not provide: status still shows the
    store), and the gate machines (a list). A folder that names nothing was refused up front (run)."""
    spec_set = load_spec_set(specs)
    gates = [m for m in spec_set.machines.values() if m.kind == GATE_KIND]  # a rollout state may name its own
    return {**load_machines(specs, ROLLOUT_KIND, KILL_KIND, spec_set=spec_set), GATE_KIND: gates}


def collect(store: Any, machines: dict[str, Any]) -> dict[str, Any]:
    """Everything `engine status` shows, as JSON-able data. A finished run awaits no confirmation,
    whatever state it ended in: no engine takes a command posted to it (refuse_finished)."""
    open_run = store.get_json(FINISHED_KEY) is None
    rollout, kill = machines.get(ROLLOUT_KIND), machines.get(KILL_KIND)
    stage_state, stage_ctx = machine_state(store, rollout.name if rollout else DEFAULT_NAMES[ROLLOUT_KIND])
    kill_state, kill_ctx = machine_state(store, kill.name if kill else DEFAULT_NAMES[KILL_KIND])
    latest_kpis: dict[tuple[str, str], Any] = {}
    for k in store.kpis():  # oldest first: the last one per domain and mode wins
        latest_kpis[(k.domain, k.mode)] = k
    positions = store.positions()
    quotes = _quotes(positions)
    funded = _funded(store)
    saved = _saved_qty(store)
    return {
        "db": store.url,
        "stage": {"state": stage_state, "stage": stage_ctx.get("stage"),
                  # None: the rollout spec did not load, so nobody can tell
                  "awaiting_confirmation": open_run and awaits_operator(rollout, stage_state) if rollout else None},
        "kill": {"mode": kill_state, "tripped_by": kill_ctx.get("tripped_by") or None},
        "gates": [{"gate": iid, "machine": m.name, "state": snap.data.get("state"),
                   "awaiting_confirmation": open_run and awaits_operator(m, snap.data.get("state"))}
                  for m in machines.get(GATE_KIND) or () for iid, snap in sorted(store.load_snapshots(m.name).items())],
        "wallets": [{"domain": w.domain, "mode": w.mode, "balance": w.balance, "start_balance": w.start_balance,
                     "realized_pnl": w.realized_pnl,
                     **funded.get(f"{w.domain}/{w.mode}", {"quote": quotes.get(w.domain), "usd_rate": None})}
                    for w in store.wallets()],
        "positions": [{"domain": p.domain, "mode": p.mode, "symbol": p.symbol, "qty": p.qty,
                       "avg_price": p.avg_price, "realized_pnl": p.realized_pnl, "opened_ts": p.opened_ts,
                       "after_checkpoint": saved is not None
                       and abs(p.qty - saved.get((p.domain, p.mode, p.symbol), 0.0)) > FLAT}
                      for p in positions if abs(p.qty) > FLAT],
        "brackets": [{k: v for k, v in b.items() if k != "snapshot"} for b in open_brackets(store)],
        "pending_commands": pending_commands(store),
        "kpis": [{"domain": k.domain, "mode": k.mode, "stage": k.stage, "ts": k.ts, "trades": k.trades,
                  "win_rate": k.win_rate, "sharpe": k.sharpe, "sortino": k.sortino, "max_dd": k.max_dd,
                  "profit_factor": k.profit_factor, "expectancy": k.expectancy}
                 for k in latest_kpis.values()],
    }


def pending_commands(store: Any) -> list[dict[str, Any]]:
    """The operator's commands no run has applied: those claimed in the last checkpoint by a run
    that stopped before applying them (a crash between its two checkpoints: a resume applies them
    first; `claimed`), then those no run has taken yet. Each `id`, `ts`, `command`, `args`, `claimed`."""
    saved = store.get_json(CHECKPOINT_KEY) or {}
    claimed = [{"id": c["id"], "ts": c["ts"], "command": c["command"], "args": c["args"], "claimed": True}
               for c in saved.get("commands", ())]
    return claimed + [{"id": c.id, "ts": c.ts, "command": c.command, "args": c.args, "claimed": False}
                      for c in store.commands() if c.consumed_ts is None]


def _saved_qty(store: Any) -> dict[tuple[str, str, str], float] | None:
    """(domain, mode, symbol) -> the position's quantity at the last checkpoint (None without one).
    With durability "full" the store's position rows are committed with each fill, so they can run
    ahead of the checkpoint the brackets, the kill mode and the KPIs shown come from."""
    saved = store.get_json(CHECKPOINT_KEY)
    if saved is None or "books" not in saved:
        return None
    return {(b["domain"], b["mode"], s): p["qty"] for b in saved["books"] for s, p in b["positions"].items()}


def _funded(store: Any) -> dict[str, dict[str, Any]]:
    """"domain/mode" -> the currency its wallet counts in and the USD rate it was funded at, as
    the engine journaled them when it opened the wallet (`wallet_open`)."""
    out = {}
    for row in store.journal_entries(kind="wallet_open"):
        if "currency" in row.payload:  # a wallet opened before the engine journaled its currency has none
            out[row.key] = {"quote": row.payload["currency"], "usd_rate": row.payload.get("usd_rate")}
    return out


def _quotes(positions: list[Any]) -> dict[str, str | None]:
    """For a wallet whose currency was not journaled (an earlier version's run): the currency it
    counts in, as the run report names it: the quote of the symbols it traded (flat positions too;
    "mixed" when they differ). A domain that never traded has none here: it shows as unknown."""
    from adapters.paper.catalogue import Catalogue
    from engine.run.report import _quote

    symbols: dict[str, set[str]] = {}
    for p in positions:
        symbols.setdefault(p.domain, set()).add(p.symbol)
    cat = Catalogue.load()
    return {d: _quote(syms, cat) for d, syms in symbols.items()}


def render(data: dict[str, Any], carried: Carried) -> None:
    """The tables of `collect`'s data; the commands it names keep the `carried` options."""
    from rich.markup import escape
    from rich.table import Table

    from engine.console import console as make_console
    from engine.run.report import money

    console = make_console()
    stage, kill = data["stage"], data["kill"]
    awaiting = (f"  [yellow]awaiting operator confirmation: `{escape(carried.command('promote'))}`[/]"
                if stage["awaiting_confirmation"] else "")
    console.print(f"store: {data['db']}", highlight=False)
    engine = data.get("engine")
    if engine is not None:
        console.print(_engine_line(engine), highlight=False, soft_wrap=True)
    console.print(f"stage: [bold]{stage['state'] or 'unknown (no rollout snapshot yet)'}[/]{awaiting}",
                  soft_wrap=True)
    tripped = f" (tripped by {kill['tripped_by']})" if kill["tripped_by"] else ""
    console.print(f"kill mode: [bold]{kill['mode'] or 'unknown (no kill snapshot yet)'}[/]{tripped}")
    for g in data["gates"]:
        if g["awaiting_confirmation"]:  # a model waits for its canary: real money needs the operator
            domain = g["gate"].split(":", 1)[-1]
            console.print(f"[yellow]{g['gate']} ({g['machine']}) awaits the operator in `{g['state']}`: "
                          f"`{escape(carried.command('promote', '--domain', domain))}` (or `--decline`)[/]",
                          highlight=False, soft_wrap=True)  # a command broken over lines does not paste
    num, pct, text = "{:.2f}".format, "{:.1%}".format, str
    _table(console, Table, "wallets", data["wallets"], (
        ("domain", "domain", text), ("mode", "mode", text), ("quote", "currency", text), ("balance", "balance", money),
        ("start_balance", "start", money), ("realized_pnl", "realised pnl", money),
        ("usd_rate", "USD rate", "{:,.6g}".format)))
    _table(console, Table, "model gates", data["gates"], (
        ("gate", "gate", text), ("machine", "machine", text), ("state", "state", text)))
    _table(console, Table, "open positions", data["positions"], (
        ("domain", "domain", text), ("mode", "mode", text), ("symbol", "symbol", text),
        ("qty", "qty", "{:g}".format), ("avg_price", "avg price", "{:,.6g}".format)))
    if moved := [p["symbol"] for p in data["positions"] if p["after_checkpoint"]]:
        console.print(f"[yellow]{', '.join(moved)}: filled after the last checkpoint (the store commits each fill "
                      f"with durability full); the brackets below are as of that checkpoint, and a resume books "
                      f"the fills and their brackets[/]", highlight=False)
    _table(console, Table, "open brackets", data["brackets"], (
        ("symbol", "symbol", text), ("domain", "domain", text), ("side", "side", text), ("state", "state", text),
        ("stop", "stop", "{:,.6g}".format), ("take_profit", "take profit", "{:,.6g}".format),
        ("bracket", "bracket", text)))
    if data["brackets"]:  # on a line of its own: a table's title would break the command over lines
        console.print(f"move a stop: `{escape(carried.command('move-stop', '--symbol S --stop PRICE'))}`",
                      highlight=False, soft_wrap=True)
    _table(console, Table, "pending operator commands", data["pending_commands"], (
        ("id", "id", text), ("command", "command", text),
        ("args", "event", _pending), ("claimed", "taken", _taken)))
    kpi_rows = [{**k, "book": f"{k['domain']}/{k['mode']}"} for k in data["kpis"]]
    # Snapshots are taken when a run stops or holds for the operator, not at each checkpoint: each says when.
    _table(console, Table, "last KPIs", kpi_rows, (
        ("book", "domain/mode", text), ("ts", "as of", _iso), ("trades", "trades", text),
        ("win_rate", "win", pct), ("sharpe", "Sharpe", num), ("sortino", "Sortino", num),
        ("max_dd", "max DD", pct), ("profit_factor", "PF", num), ("expectancy", "expect.", money)))


def _taken(claimed: bool) -> str:
    return "claimed by the stopped run: its resume applies it first" if claimed else "waiting"


def _pending(args: dict[str, Any]) -> str:
    """A pending command's event, for `engine move-stop` its symbol and stop, and for `engine select
    --state` the set it gives (`active`: no machine's event)."""
    active = args.get("active")
    if isinstance(active, dict):
        symbols = active.get("symbols")
        return f"active set -> {', '.join(map(str, symbols)) or '(none)' if isinstance(symbols, list) else '?'}"
    event = f"{args.get('machine', '?')}.{args.get('event', '?')}"
    stop = args.get("stop")
    return f"{event} {args.get('symbol', '?')} -> {stop:g}" if isinstance(stop, (int, float)) else event


def _engine_line(engine: dict[str, Any]) -> str:
    as_of = engine["as_of"]
    when = ("; figures as of its last checkpoint: bar {:,}, replay time {}".format(
        as_of["bar"], _iso(as_of["time"])) if as_of else "; no checkpoint yet: the figures below are its start")
    return {"running": f"engine: running ({engine['holder']}){when}",
            "finished": f"engine: the run finished (report in {engine['run_dir']}){when}",
            "stopped": f"engine: not running, the run did not finish (continue it with `{engine['resume'] or 'engine run --stage N --resume'}`"
                       f"{'; ' + engine['other_build'] if engine.get('other_build') else ''}){when}",
            }.get(engine["state"], f"engine: no run has checkpointed on this store yet{'; ' * bool(engine['archived'])}"
                                   f"{engine['archived']}")


def _iso(ts: float | None) -> str:
    from engine.zones import utc

    return "?" if ts is None else utc(ts).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(console: Any, table_cls: Any, title: str, rows: list[dict[str, Any]],
           cols: tuple[tuple[str, str, Callable[[Any], str]], ...]) -> None:
    if not rows:
        console.print(f"{title}: none")
        return
    from rich import box

    table = table_cls(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for key, label, _ in cols:
        numeric = isinstance(rows[0][key], (int, float)) and not isinstance(rows[0][key], bool)
        table.add_column(label, justify="right" if numeric else "left", overflow="fold")
    for r in rows:
        table.add_row(*("-" if r[key] is None else fmt(r[key]) for key, _, fmt in cols))
    console.print(table)
