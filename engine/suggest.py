"""The commands the engine suggests to the operator, written so that they work when pasted: the
words that start this very engine, the options that chose the store, run config and specs of the
command that suggests them (Carried), and, read from the specs, the operator commands that move a
machine on from where it is."""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENGINE = "engine"  # the console script pyproject.toml installs
CLI_MODULE = "engine.cli"  # `python -m engine.cli`


def engine_word() -> str:
    """The words that start the engine as this process was started: `engine` when that name on
    PATH is this very program; else the script's absolute path (a venv not activated:
    `.venv/bin/engine` works from any folder, `engine` does not); the absolute interpreter and
    `-m engine.cli` when run so. `engine` when the engine runs inside another program (a test)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name == CLI_MODULE:
        return f"{shlex.quote(sys.executable)} -m {CLI_MODULE}"
    script = sys.argv[0] if sys.argv else ""
    if Path(script).name != ENGINE:
        return ENGINE
    found = shutil.which(ENGINE)
    return ENGINE if found is not None and _same_file(found, script) else shlex.quote(os.path.abspath(script))


def engine_command(*words: str) -> str:
    """`engine WORDS...` with the command word that works here (engine_word)."""
    return " ".join([engine_word(), *words])


DEFAULT_SPECS = "specs"  # --specs when not given, for `engine run` and every operator command


def spec_paths(specs: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """--specs as a list of paths: a parsed command line's (one or more), or one path given as a
    string by a caller that builds its own namespace."""
    if not specs:
        return [DEFAULT_SPECS]
    return [specs] if isinstance(specs, str) else list(specs)


@dataclass(frozen=True)
class Carried:
    """The options every suggested command keeps from the command that suggests it, so that, pasted
    into the same shell and folder, it acts on the same run: `store` selects the store, run config
    and specs (`--config`, `--specs`, `--db`, as given), `routing` the routing of `engine run`
    (`--paper`, `--live`). An option not given stays out: the pasted command then finds the store
    as this one did ($ENGINE_DB_URL, the config's `db`, the default), so a store named by
    $ENGINE_DB_URL is never written out. A --db URL's password shows masked (shown_db). The
    one rule every suggested command follows; empty for an engine run inside another program."""

    store: tuple[str, ...] = ()
    routing: tuple[str, ...] = ()

    @classmethod
    def of(cls, args: argparse.Namespace) -> Carried:
        """The options of a parsed command line (`engine run`'s or an operator command's)."""
        config, db = getattr(args, "config", None), getattr(args, "db", None)
        specs = spec_paths(getattr(args, "specs", None))
        store = ([f"--config {shlex.quote(config)}"] if config is not None else []) + (
            [" ".join(["--specs", *map(shlex.quote, specs)])] if specs != [DEFAULT_SPECS] else []) + (
            [f"--db {shlex.quote(shown_db(db))}"] if db is not None else [])
        routing = "--paper" if getattr(args, "paper", False) else "--live" if getattr(args, "live", False) else ""
        return cls(tuple(store), (routing,) if routing else ())

    def command(self, *words: str) -> str:
        """An operator command (`engine promote`, `engine kill --mode M`, `engine status`...) on this store."""
        return engine_command(*words, *self.store)

    def run(self, stage: int, *words: str) -> str:
        """`engine run --stage N` with this routing, config, specs and store, then `words` (`--resume`)."""
        return engine_command("run", "--stage", str(stage), *self.routing, *self.store, *words)


def shown_db(db: str) -> str:
    """--db to print back: a URL's password masked (secrets never reach a log); the operator
    types it again, or sets ENGINE_DB_URL and leaves --db out."""
    from state.db import shown_url

    return shown_url(db) if "://" in db else db


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def commands_leaving(machine: Any, state: str) -> list[str]:
    """The spec's operator commands (`commands:`) whose event has a transition out of `state`
    into another state (a guard may still refuse it)."""
    from engine.commands.status import transitions_from

    return [name for name, cmd in machine.commands.items()
            if any(t.target not in (None, state) for t in transitions_from(machine, state, cmd.event))]


def opens_risk(machine: Any, state: str) -> bool:
    """Whether the kill switch allows entries in `state` as the run reads it (Instance.has_tag)."""
    from engine.spec.contract import OPENS_RISK_TAG

    return machine.has_tag(state, OPENS_RISK_TAG)


def kill_release(machine: Any, state: str) -> list[str]:
    """The kill spec's commands that lead from `state` into a state that allows entries (tag
    `opens_risk`): what lifts the kill switch from there. None in a state the engine itself must
    move on (a flatten working: only `flattened` leaves it)."""
    from engine.commands.status import transitions_from

    return [name for name, cmd in machine.commands.items()
            if any(t.target is not None and opens_risk(machine, t.target)
                   for t in transitions_from(machine, state, cmd.event))]


def kill_command(name: str, carried: Carried = Carried()) -> str:
    """`engine kill --mode NAME`, as `engine kill` spells a kill spec command, on `carried`'s store."""
    return carried.command("kill", "--mode", name.replace("_", "-"))


def kill_engaged(machine: Any, state: str | None, carried: Carried = Carried()) -> str:
    """Why the kill switch holds a promotion back, and what lifts it ("" when it does not: its
    state allows entries, or it is unknown), on `carried`'s store."""
    if state is None or state not in machine.states or opens_risk(machine, state):
        return ""
    release = kill_release(machine, state)
    if release:
        return (f"the kill switch is still engaged (kill mode `{state}`): "
                + " or ".join(f"`{kill_command(n, carried)}`" for n in release) + " first")
    return (f"the kill switch is still engaged (kill mode `{state}`: {machine.states[state].description.strip()}) "
            "and no operator command lifts it from there: wait until the engine moves it on")


def promote_command(name: str, carried: Carried = Carried()) -> str | None:
    """`engine promote [--decline]` for a rollout spec command, on `carried`'s store; None for one
    `engine promote` does not post."""
    from engine.commands.promote import COMMAND, DECLINE

    flags = {COMMAND: (), DECLINE: ("--decline",)}
    return carried.command("promote", *flags[name]) if name in flags else None
