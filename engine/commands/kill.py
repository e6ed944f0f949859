"""`engine kill --mode MODE`: ask the engine to switch its kill mode.

The modes are the `commands:` of the kill spec (specs/kill/kill_modes.yaml),
written with hyphens on the command line (`close_only` -> `close-only`). The
command is posted to the state store's control channel under the spec's
command name; the running engine takes it with `Store.take_commands()` between two
bars, within COMMAND_POLL_S (a quarter second) of wall time (with none running, the next
`engine run --stage N --resume` does) and raises the event the spec maps it to (also given
in the args). A finished run takes no command:
refused, nothing posted.

    command: "close_only"
    args: {"machine": "kill_modes", "event": "manual_close_only", "mode": "close-only",
           "reason": "operator"}
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.commands.status import (KILL_KIND, ROLLOUT_KIND, CommandError, add_db_argument, add_specs_argument,
                                    awaits_operator, command_store_url, load_machine, load_machines, load_spec_set,
                                    machine_state, open_existing_store, post_while_open, refuse_finished, refuse_untaken,
                                    resume_command, transitions_from, use_run_specs, when_applied)
from engine.suggest import Carried


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", required=True,
                        help="a command of the kill spec: flatten, close-only, halt, resume, ...")
    parser.add_argument("--reason", default="operator", help="why, for the audit journal (default: operator)")
    add_db_argument(parser)
    add_specs_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        use_run_specs(args)
        spec_set = load_spec_set(args.specs)
        machine = load_machine(args.specs, KILL_KIND, spec_set)
        rollout = load_machines(args.specs, ROLLOUT_KIND, spec_set=spec_set)[ROLLOUT_KIND]
    except CommandError as e:
        print(f"engine kill: {e}", file=sys.stderr)
        return e.code
    modes = {name.replace("_", "-"): cmd for name, cmd in machine.commands.items()}
    cmd = modes.get(args.mode.replace("_", "-"))
    if cmd is None:
        print(f"engine kill: error: unknown mode {args.mode!r}; valid modes: {', '.join(modes)}",
              file=sys.stderr)
        return 2
    try:
        url = command_store_url(args)
        carried = Carried.of(args)  # after the URL's check: it prints --db back
        with open_existing_store(url, carried) as store:
            refuse_finished(store, url, carried)
            current, _ = machine_state(store, machine.name)
            warning = _inapplicable(machine, current, cmd.event)
            stage = machine_state(store, rollout.name)[0] if rollout is not None else None
            resume = resume_command(store, args)
            refuse_untaken(url, resume, carried)
            command_id = post_while_open(store, url, carried, cmd.name, {
                "machine": machine.name, "event": cmd.event, "mode": cmd.name.replace("_", "-"),
                "reason": args.reason})
            when = when_applied(url, resume, store)
    except CommandError as e:
        print(f"engine kill: {e}", file=sys.stderr)
        return e.code
    print(f"posted #{command_id}: {cmd.name.replace('_', '-')} -> event `{cmd.event}` of `{machine.name}`"
          f" ({cmd.description})")
    print(f"kill mode now: {current or 'unknown (no snapshot yet)'}; {when} "
          f"(check with `{carried.command('status')}`)")
    if awaits_operator(rollout, stage):
        print(_rollout_waits(rollout, stage, carried))
    if warning:
        print(f"engine kill: warning: {warning}", file=sys.stderr)
    return 0


def _rollout_waits(rollout: Any, stage: str, carried: Carried) -> str:
    """Lifting the kill switch does not move the rollout: a stage the kill demoted (or one that
    waits for a promotion) stays until the operator confirms, which `resume` alone never does."""
    what = " ".join(rollout.states[stage].description.split())
    return (f"note: rollout stays `{stage}` ({what}) until the operator confirms, once the engine has applied "
            f"this command: `{carried.command('promote')}`")


def _inapplicable(machine: Any, state: str | None, event: str) -> str:
    """Why the kill spec may not apply `event` in the last saved kill mode, or "". A warning, not
    a refusal: the saved mode may be older than the running engine's (a tripwire since the last
    checkpoint), and refusing a restriction on a stale state would keep risk open. The engine
    journals whether it applied the command."""
    if state is None or state not in machine.states:
        return ""
    found = transitions_from(machine, state, event)
    if not found and machine.ignores_in(state, event):
        pos = machine.states[state].pos
        return (f"the kill spec ignores `{event}` in `{state}` (the last saved kill mode) on purpose: the mode "
                f"already restricts as much, or may not be lifted now (why: {pos.file}:{pos.line}); unless the "
                "engine's mode changed since, it will not apply this command (the journal says so)")
    if not found:
        return (f"the kill spec has no `{event}` transition from `{state}` (the last saved kill mode): unless "
                "the engine's mode changed since, it will not apply this command (the journal says so)")
    guards = [t.guard.source for t in found if t.guard is not None]
    if len(guards) == len(found):
        return f"from `{state}` the spec applies `{event}` only when {' or '.join(guards)}"
    return ""
